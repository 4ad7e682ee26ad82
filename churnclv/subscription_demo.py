"""Synthetic subscription business: the ``subscription`` demo-data scenario.

A streaming-style app sells a subscription on four offers and some one-off extras. Time in
days; the history is the ``round(3 x 365.25) = 1096`` days ending with ``end_date`` (day ``c``
below); the same process continues afterwards to give the truth. Vectorised numpy: the Python
loops step through the renewal dates (about 50), all customers at once.

* **Signups** grow linearly from 1x to 3x over the history (as the retailer's); ids are
  zero-padded numbers in signup order. Every customer starts a subscription on the signup day
  (id ``S<customer id>``, one per customer) and pays the first period then (that payment never
  fails).
* **Offers** (:data:`OFFERS`): monthly basic 45% at 9.99, monthly pro 30% at 19.99 (billing
  period 30 days), annual basic 15% at 99, annual pro 10% at 199 (365 days): 75% monthly.
  Renewals fall on the lattice signup day + k periods (pauses and plan changes keep it).
* **Latent churn**: each customer's per-renewal churn probability theta ~ Beta(a, b) by the
  offer: monthly basic Beta(1.5, 34) (mean 4.2% a renewal, 36% a year by the sBG), monthly pro
  Beta(1.5, 40) (3.6%, 32% a year), annual basic Beta(2.5, 7.5) (25%), annual pro
  Beta(2.5, 9.5) (21%). At each renewal the customer leaves voluntarily with probability
  odds(theta) x drivers: acquisition channel (organic_search 40% x1, paid_social 30% x1.5,
  referral 15% x0.65, partner 15% x1.2), auto-renew off (12% of monthly, 20% of annual
  customers: x3 monthly, x2 annual), a plan change (x0.6 after an upgrade, x1.4 after a
  downgrade) and the price increase (below: x2.5). Measured on 200k customers, the first year
  of a subscription ends (any cause, pauses aside) for 48% of monthly basic, 44% of monthly
  pro, 36% of annual basic and 25% of annual pro subscribers (6.5 points of the monthly ones
  involuntary).
* **Cancellation**: with auto-renew on the customer asks to cancel 1-21 days (monthly) or
  1-60 days (annual, uniform) before the renewal: ``cancel_date``; service runs to the
  period's end, ``end_date`` = the renewal date that did not happen. With auto-renew off the
  subscription simply expires at the period's end (no cancel date).
* **Payment failures** (auto-renew on only): each customer has a failure probability per
  renewal charge, q ~ Beta(1, 60) (85%, mean 1.6%) or Beta(2, 10) (15% "fragile cards", mean
  17%). A failed charge is retried 3 and 7 days later, each retry succeeding with probability
  0.5; the period is paid on the day a charge succeeds. After three failures the
  subscription ends involuntarily 7 days after the renewal date (the grace week is service).
  Every failed charge is an event ``payment_failed`` (value = attempt 1-3).
* **Price increase**: on :func:`price_increase_date` (the first of the month 8 months before
  the month after ``end_date``: 2026-02-01 by default) basic goes up, monthly 9.99 -> 11.99,
  annual 99 -> 119, from the first renewal on or after that day (a new row, same
  subscription id, status ``repriced``). Customers who signed up before it are 2.5x as likely
  (odds) to leave at their first 2 monthly / first annual renewal at the new price.
* **Plan changes** take effect at a renewal (a new row, same subscription id): basic -> pro
  1.5% of monthly / 5% of annual renewals, pro -> basic 1% / 4%. **Pauses** (monthly only):
  0.8% of renewals pause for one or two periods (the row ends at the renewal, a new row
  resumes on the lattice 30 or 60 days later with a payment that never fails).
* **One-off purchases**: 13% of basic and 27% of pro customers (19% overall; 16% of all
  customers have one in the history) buy add-ons (60%: 4.99, 9.99 or 14.99, category
  ``add_on``, channel app) and merchandise (40%: Gamma(3, mean 30), at least 5, category
  ``merchandise``, channel web) at rate Gamma(2, mean 1/40 days) while subscribed, a tenth of
  that while paused or after the end. Every charge is a transaction too (category and channel
  ``subscription``, amount = the row's price).
* **Usage** (events ``app_session``, channel app, and ``login``, channel web; 60% of customers
  app-first with 80% of their sessions in the app, the others 80% web): a Poisson process while
  subscribed at rate Gamma(2, mean 0.15/day) x (theta / offer mean)^-0.4 (clipped to
  0.3-3x): heavy users churn less. Before a voluntary departure (the cancel date, or the
  expiry without auto-renew) usage fades linearly over U(14, 45) days to 20% of normal and
  runs at 10% from the cancellation to the end. **Support tickets** (channel chat/email/phone,
  CSAT ``value`` 1-5) come at 1 in 250 days while subscribed, 4x as often and mostly 1-2 during
  that fade, and with probability 0.25 within two days of a first failed charge.

Input rows are point in time (as :func:`features.context.subscriptions_at` reads them): no
row, payment, event or signup after ``end_date``; a subscription row is in the extract if it
started by ``end_date``, with its ``end_date`` / ``cancel_date`` only when they fall on or
before it (a cancellation requested by then whose service runs on past the extract keeps its
cancel date, an empty end date and ``status`` ``cancelling``); ``status`` is as of the extract:
``active``, ``cancelling``, ``past_due`` (a charge failed and is being retried), or for ended
rows ``cancelled``, ``expired``, ``unpaid`` (involuntary), ``paused``, ``upgraded``,
``downgraded``, ``repriced`` (the row was replaced by the next one). Decisions up to
:data:`_HISTORY_REACH` days after the end (whose cancellations and fading usage reach into the
history) are drawn before the truth horizons matter, so the input tables do not depend on them.

Truth (one row per customer; ``h`` the churn and ``C`` the CLV horizon, windows
``(end_date, end_date + H days]``): ``subscriber_at_end`` (a row active on ``end_date``, the
grace week of a failing charge included); ``churned_{h}d``: for subscribers no row active on
day ``end_date + h``, for everyone else (ended or paused; everyone paid at signup) no purchase
with amount > 0 in the window; ``future_orders_{H}d`` / ``future_spend_{H}d`` (transactions in
the window, all positive, and their sum), ``future_renewal_revenue_{H}d`` (the charges among
them) for H = h and C; ``true_churn_probability_{h}d`` and ``expected_renewal_revenue_{H}d``:
exact, given the latent state (theta, q, the drivers, a pause's length) and what shows at the
end (a requested cancellation, a charge being retried and its failures so far, no
cancellation yet where auto-renew would show one) but not a decision that does not show yet
(:func:`_expected_future`; for a paused customer 0 if the resume is in the window, for ended
ones and otherwise paused ones exp(-0.1 x one-off rate x h)); plus ``status_at_end``,
``offer``, ``plan_at_end``, ``auto_renew``, ``renewal_churn_probability`` (theta),
``payment_failure_probability`` (q), ``one_off_rate_per_day``, ``next_renewal_date`` and
``service_end_date`` (subscribers: the first day after the end without service; NaT if none
within the simulation).

Nothing is generated at import time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnclv.demo_data import (
    _CSAT_NORMAL,
    _CSAT_UNHAPPY,
    DemoData,
    _choice_rows,
    _codes_to_str,
    _padded,
    _str_series,
    _to_timestamp,
)

__all__ = [
    "OFFERS",
    "SUBSCRIPTION_EVENT_TYPES",
    "SubscriptionWorld",
    "generate_subscription_data",
    "price_increase_date",
    "simulate_subscription_business",
]

_SECONDS_PER_DAY = 86_400
_NEVER = 1 << 40  # a day that never comes (open rows, no cancellation)

PLANS = ("basic", "pro")
PERIOD_DAYS = np.array([30, 365])  # monthly, annual
OFFERS = ("monthly basic", "monthly pro", "annual basic", "annual pro")
_OFFER_SHARE = np.array([0.45, 0.30, 0.15, 0.10])
_OFFER_PERIOD = np.array([0, 0, 1, 1])
_OFFER_PLAN = np.array([0, 1, 0, 1])
_THETA_A = np.array([1.5, 1.5, 2.5, 2.5])
_THETA_B = np.array([34.0, 40.0, 7.5, 9.5])
_PRICE = np.array([[9.99, 19.99], [99.0, 199.0]])  # [period, plan]
_NEW_PRICE = np.array([[11.99, 19.99], [119.0, 199.0]])  # from the price increase on
PRICE_INCREASE_MONTHS = 8  # before the month after end_date
_PRICE_ODDS = 2.5
_PRICE_RENEWALS = np.array([2, 1])  # renewals at the new price with the higher churn
_AUTO_RENEW_SHARE = np.array([0.88, 0.80])
_AUTO_OFF_ODDS = np.array([3.0, 2.0])
_CHANGE_ODDS = np.array([1.0, 0.6, 1.4])  # none, after an upgrade, after a downgrade
_UPGRADE = np.array([0.015, 0.05])
_DOWNGRADE = np.array([0.01, 0.04])
_PAUSE = np.array([0.008, 0.0])
_LEAD_MAX = np.array([21, 60])  # cancel 1..max days before the renewal
_RETRY_DAYS = (3, 7)
_RETRY_SUCCESS = 0.5
_FRAGILE_SHARE = 0.15

ACQUISITION_CHANNELS = ("organic_search", "paid_social", "referral", "partner")
_ACQ_SHARE = np.array([0.40, 0.30, 0.15, 0.15])
_ACQ_ODDS = np.array([1.0, 1.5, 0.65, 1.2])

_BUYER_SHARE = np.array([0.13, 0.27])  # by the first plan
_ONE_OFF_RATE = 1 / 40  # mean purchases a day of a buyer while subscribed
_LAPSED_SHARE = 0.1  # of that rate while paused or after the end
_ADD_ON_SHARE = 0.6
_ADD_ON_PRICES = np.array([4.99, 9.99, 14.99])
_MERCH_MEAN = 30.0

SUBSCRIPTION_EVENT_TYPES = ("login", "app_session", "support_ticket", "payment_failed")
_EV_LOGIN, _EV_APP, _EV_TICKET, _EV_FAILED = range(4)
EVENT_CHANNELS = ("web", "app", "chat", "email", "phone", "billing")
_CH_WEB, _CH_APP, _CH_CHAT, _CH_EMAIL, _CH_PHONE, _CH_BILLING = range(6)
_USAGE_MEAN = 0.15
_APP_FIRST_SHARE = 0.8  # of sessions in the preferred place
_FADE_MIN, _FADE_MAX, _FADE_FLOOR, _CANCELLED_USAGE = 14.0, 45.0, 0.2, 0.1
_TICKET_RATE, _TICKET_BOOST, _FAILURE_TICKET = 1 / 250, 4.0, 0.25
_HISTORY_REACH = 110  # days after the end whose decisions show in the history (60 + 45 + 5)

# why a row ended: 0 open
STATUSES = (
    "active",
    "cancelled",
    "expired",
    "unpaid",
    "paused",
    "upgraded",
    "downgraded",
    "repriced",
    "cancelling",
    "past_due",
)
_OPEN, _CANCELLED, _EXPIRED, _UNPAID, _PAUSED, _UPGRADED, _DOWNGRADED, _REPRICED = range(8)
_CANCELLING, _PAST_DUE = 8, 9


def price_increase_date(end_date: datetime.date) -> datetime.date:
    """The day basic prices go up: the first of the month 8 months before the month after
    ``end_date`` (2026-02-01 for 2026-09-30)."""
    stop = pd.Timestamp(end_date) + pd.Timedelta(days=1)
    return (stop - pd.DateOffset(months=PRICE_INCREASE_MONTHS)).replace(day=1).date()


@dataclass
class _Latent:
    """Per-customer latent state (days since the start of the history)."""

    t0: np.ndarray  # signup time
    s0: np.ndarray  # signup day (int): the first row's start, the renewal lattice's origin
    period: np.ndarray  # 0 monthly, 1 annual
    plan0: np.ndarray  # first plan: 0 basic, 1 pro
    offer: np.ndarray
    acq: np.ndarray
    theta: np.ndarray  # per-renewal churn probability before the drivers
    auto: np.ndarray  # auto-renew on
    q: np.ndarray  # payment failure probability per charge
    rate: np.ndarray  # one-off purchases a day while subscribed (0 for non-buyers)
    usage: np.ndarray  # usage events a day while subscribed
    app_first: np.ndarray
    fade: np.ndarray  # days of fading usage before a voluntary departure


def _draw_latent(rng: np.random.Generator, n: int, hist_days: int) -> _Latent:
    growth = 2.0  # the last day gets 3x the signups of the first
    f = rng.random(n)
    u = (np.sqrt(1.0 + 2.0 * growth * f * (1.0 + growth / 2.0)) - 1.0) / growth
    t0 = np.sort(np.minimum(u * hist_days, np.nextafter(float(hist_days), 0.0)))
    offer = rng.choice(len(OFFERS), size=n, p=_OFFER_SHARE)
    acq = rng.choice(len(ACQUISITION_CHANNELS), size=n, p=_ACQ_SHARE)
    theta = rng.beta(_THETA_A[offer], _THETA_B[offer])
    period = _OFFER_PERIOD[offer]
    auto = rng.random(n) < _AUTO_RENEW_SHARE[period]
    fragile = rng.random(n) < _FRAGILE_SHARE
    q = np.where(fragile, rng.beta(2.0, 10.0, n), rng.beta(1.0, 60.0, n))
    plan0 = _OFFER_PLAN[offer]
    buyer = rng.random(n) < _BUYER_SHARE[plan0]
    rate = np.where(buyer, rng.gamma(2.0, _ONE_OFF_RATE / 2.0, n), 0.0)
    mean_theta = _THETA_A / (_THETA_A + _THETA_B)
    heavy = np.clip((theta / mean_theta[offer]) ** -0.4, 0.3, 3.0)
    usage = rng.gamma(2.0, _USAGE_MEAN / 2.0, n) * heavy
    app_first = rng.random(n) < 0.6
    fade = rng.uniform(_FADE_MIN, _FADE_MAX, n)
    s0 = np.floor(t0).astype(np.int64)
    return _Latent(t0, s0, period, plan0, offer, acq, theta, auto, q, rate, usage, app_first, fade)


def _price_at(period: np.ndarray, plan: np.ndarray, day: np.ndarray, price_day: int) -> np.ndarray:
    """The price of a billing period starting on ``day``."""
    return np.where(day >= price_day, _NEW_PRICE[period, plan], _PRICE[period, plan])


def _renewal_churn_probability(
    theta: np.ndarray,
    acq: np.ndarray,
    auto: np.ndarray,
    period: np.ndarray,
    plan: np.ndarray,
    chg: np.ndarray,
    day: np.ndarray,
    s0: np.ndarray,
    price_day: int,
) -> np.ndarray:
    """P(leaving voluntarily at the renewal on ``day``): theta's odds times the drivers."""
    boost = (
        (plan == 0)
        & (s0 < price_day)
        & (day >= price_day)
        & (day < price_day + _PRICE_RENEWALS[period] * PERIOD_DAYS[period])
    )
    odds = (
        theta
        / (1.0 - theta)
        * _ACQ_ODDS[acq]
        * np.where(auto, 1.0, _AUTO_OFF_ODDS[period])
        * _CHANGE_ODDS[chg]
        * np.where(boost, _PRICE_ODDS, 1.0)
    )
    return odds / (1.0 + odds)


def _pay_time(auto: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Time of day of a charge: the billing run 02:24-06:00, a manual renewal 08:24-21:36."""
    return np.where(auto, 0.1 + 0.15 * u, 0.35 + 0.55 * u)


@dataclass
class _Books:
    """The simulation's records, appended step by step (lists of arrays)."""

    rows: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {
            k: [] for k in ("cust", "start", "end", "cancel", "plan", "chg", "price", "reason")
        }
    )
    resume: list[np.ndarray] = field(default_factory=list)
    pays: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in ("cust", "t", "amount", "anchor")}
    )
    fails: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in ("cust", "t", "attempt", "anchor")}
    )

    def pay(self, cust: np.ndarray, t: np.ndarray, amount: np.ndarray, anchor: np.ndarray) -> None:
        for k, v in zip(("cust", "t", "amount", "anchor"), (cust, t, amount, anchor), strict=True):
            self.pays[k].append(v)

    def fail(self, cust: np.ndarray, t: np.ndarray, attempt: int, anchor: np.ndarray) -> None:
        self.fails["cust"].append(cust)
        self.fails["t"].append(t)
        self.fails["attempt"].append(np.full(cust.size, attempt, dtype=np.int64))
        self.fails["anchor"].append(anchor)

    def close(
        self,
        st: _State,
        cust: np.ndarray,
        end: np.ndarray,
        reason: np.ndarray | int,
        cancel: np.ndarray | None = None,
        resume: np.ndarray | None = None,
    ) -> None:
        """Record the current rows of ``cust`` as ended on ``end``."""
        never = np.full(cust.size, _NEVER, dtype=np.int64)
        values = (
            cust,
            st.row_start[cust],
            end,
            never if cancel is None else cancel,
            st.plan[cust],
            st.chg[cust],
            st.row_price[cust],
            np.broadcast_to(np.asarray(reason, dtype=np.int64), cust.shape),
        )
        for k, v in zip(self.rows, values, strict=True):
            self.rows[k].append(np.asarray(v))
        self.resume.append(never if resume is None else resume)


@dataclass
class _State:
    """Each customer's subscription between renewal dates."""

    next_r: np.ndarray  # next renewal lattice day
    mode: np.ndarray  # 0 subscribed, 1/2 paused (lattice days to the resume), -1 ended
    plan: np.ndarray
    chg: np.ndarray  # 0 no plan change yet, 1 last change an upgrade, 2 a downgrade
    row_start: np.ndarray
    row_price: np.ndarray


def _renewals(
    rng: np.random.Generator,
    lat: _Latent,
    st: _State,
    books: _Books,
    price_day: int,
    limit: int,
) -> None:
    """Process every renewal date up to ``limit`` (inclusive), in order, all customers at once.

    At a renewal of a subscribed customer, in this order: leave voluntarily (probability
    :func:`_renewal_churn_probability`), else pause (monthly), else maybe change plan; then the
    charge (auto-renew: fails with probability q, retried twice). A paused customer resumes on
    the lattice with a charge that never fails.
    """
    while True:
        live = np.flatnonzero((st.mode >= 0) & (st.next_r <= limit))
        if live.size == 0:
            return
        r = st.next_r[live]
        per = lat.period[live]
        u = rng.random((live.size, 9))
        mode = st.mode[live]
        # paused: count down, resume on the lattice with a new row and a charge
        st.mode[live[mode == 2]] = 1
        res = mode == 1
        i, ri = live[res], r[res]
        st.row_start[i] = ri
        st.row_price[i] = _price_at(per[res], st.plan[i], ri, price_day)
        st.mode[i] = 0
        books.pay(i, ri + _pay_time(lat.auto[i], u[res, 8]), st.row_price[i], ri)
        # subscribed: leave, pause or change plan; then the charge
        act = mode == 0
        i, ra, pa, ua = live[act], r[act], per[act], u[act]
        auto = lat.auto[i]
        p = _renewal_churn_probability(
            lat.theta[i], lat.acq[i], auto, pa, st.plan[i], st.chg[i], ra, lat.s0[i], price_day
        )
        vol = ua[:, 0] < p
        lead = 1 + np.floor(ua[:, 7] * _LEAD_MAX[pa]).astype(np.int64)
        cancel = np.where(auto, ra - lead, _NEVER)
        books.close(st, i[vol], ra[vol], np.where(auto, _CANCELLED, _EXPIRED)[vol], cancel[vol])
        st.mode[i[vol]] = -1
        pause = ~vol & (ua[:, 1] < _PAUSE[pa])
        m = 1 + (ua[:, 2] < 0.5).astype(np.int64)
        books.close(st, i[pause], ra[pause], _PAUSED, resume=(ra + m * PERIOD_DAYS[pa])[pause])
        st.mode[i[pause]] = m[pause].astype(np.int8)
        stay = ~vol & ~pause
        plan, chg = st.plan[i], st.chg[i]
        up = plan == 0
        change = stay & (ua[:, 3] < np.where(up, _UPGRADE[pa], _DOWNGRADE[pa]))
        new_plan = np.where(change, 1 - plan, plan).astype(np.int8)
        new_chg = np.where(change, np.where(up, 1, 2), chg).astype(np.int8)
        price = _price_at(pa, new_plan, ra, price_day)
        split = stay & (change | (price != st.row_price[i]))
        why = np.where(change, np.where(up, _UPGRADED, _DOWNGRADED), _REPRICED)
        books.close(st, i[split], ra[split], why[split])
        k = i[split]
        st.row_start[k], st.row_price[k] = ra[split], price[split]
        st.plan[k], st.chg[k] = new_plan[split], new_chg[split]
        # the charge: at the renewal, or on a retry 3 / 7 days later, or never (unpaid)
        fail = stay & auto & (ua[:, 4] < lat.q[i])
        ok1 = fail & (ua[:, 5] < _RETRY_SUCCESS)
        ok2 = fail & ~ok1 & (ua[:, 6] < _RETRY_SUCCESS)
        unpaid = fail & ~ok1 & ~ok2
        tod = _pay_time(auto, ua[:, 8])
        delay = np.where(ok1, _RETRY_DAYS[0], np.where(ok2, _RETRY_DAYS[1], 0))
        paid = stay & ~unpaid
        books.pay(i[paid], (ra + delay + tod)[paid], price[paid], ra[paid])
        books.fail(i[fail], (ra + tod)[fail], 1, ra[fail])
        second = fail & ~ok1
        books.fail(i[second], (ra + _RETRY_DAYS[0] + tod)[second], 2, ra[second])
        books.fail(i[unpaid], (ra + _RETRY_DAYS[1] + tod)[unpaid], 3, ra[unpaid])
        books.close(st, i[unpaid], ra[unpaid] + _RETRY_DAYS[1], _UNPAID)
        st.mode[i[unpaid]] = -1
        st.next_r[live] += PERIOD_DAYS[per]


def _cat(parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate(v) for k, v in parts.items()}


def _simulate(
    lat: _Latent, rng: np.random.Generator, price_day: int, c: int, last_day: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Rows (sorted by customer and start), charges and failed charges up to ``last_day``."""
    n = lat.t0.size
    plan = lat.plan0.astype(np.int8)
    price = _price_at(lat.period, plan, lat.s0, price_day)
    st = _State(
        next_r=lat.s0 + PERIOD_DAYS[lat.period],
        mode=np.zeros(n, dtype=np.int8),
        plan=plan,
        chg=np.zeros(n, dtype=np.int8),
        row_start=lat.s0.copy(),
        row_price=price.copy(),
    )
    books = _Books()
    custs = np.arange(n)
    books.pay(custs, lat.t0, price, lat.s0)
    _renewals(rng, lat, st, books, price_day, c + _HISTORY_REACH)  # what shows in the history
    _renewals(rng, lat, st, books, price_day, last_day)
    open_ = np.flatnonzero(st.mode == 0)
    books.close(st, open_, np.full(open_.size, _NEVER, dtype=np.int64), _OPEN)
    rows = _cat(books.rows)
    rows["resume"] = np.concatenate(books.resume)
    order = np.lexsort((rows["start"], rows["cust"]))
    rows = {k: v[order] for k, v in rows.items()}
    pays, fails = _cat(books.pays), _cat(books.fails)
    return rows, pays, fails


def _last_row(rows: dict[str, np.ndarray], day: np.ndarray | int, n: int) -> np.ndarray:
    """Index of each customer's last row started on or before ``day`` (per customer or one
    day for all); every customer has one when ``day`` is on or after the signup."""
    d = np.broadcast_to(np.asarray(day, dtype=np.int64), (n,))
    key = rows["cust"] * (1 << 32) + rows["start"]
    return np.searchsorted(key, np.arange(n, dtype=np.int64) * (1 << 32) + d, side="right") - 1


def _active_on(rows: dict[str, np.ndarray], t: np.ndarray, cust: np.ndarray) -> np.ndarray:
    """Whether ``cust`` has a row active at time ``t`` (days, start <= t < end)."""
    key = rows["cust"] * (1 << 32) + rows["start"]
    idx = np.searchsorted(key, cust * (1 << 32) + np.floor(t).astype(np.int64), side="right") - 1
    ok = idx >= 0
    idx = np.maximum(idx, 0)
    return ok & (rows["cust"][idx] == cust) & (t < rows["end"][idx])


def _poisson_on(
    rng: np.random.Generator, cust: np.ndarray, lo: np.ndarray, hi: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A Poisson process at ``rate`` a day on each [lo, hi): (customer, time) arrays."""
    length = np.clip(hi - lo, 0.0, None)
    counts = rng.poisson(rate * length)
    k = np.repeat(np.arange(cust.size, dtype=np.int32), counts)
    return cust[k], lo[k] + rng.random(k.size) * length[k]


def _one_offs(
    rng: np.random.Generator, lat: _Latent, rows: dict[str, np.ndarray], lo: float, hi: float
) -> dict[str, np.ndarray]:
    """One-off purchases on [lo, hi): full rate while subscribed, a tenth otherwise."""
    n = lat.t0.size
    start = np.maximum(lat.t0, lo)
    cust, t = _poisson_on(rng, np.arange(n), start, np.full(n, hi), lat.rate)
    keep = _active_on(rows, t, cust) | (rng.random(t.size) < _LAPSED_SHARE)
    cust, t = cust[keep], t[keep]
    add_on = rng.random(t.size) < _ADD_ON_SHARE
    add_price = _ADD_ON_PRICES[rng.integers(0, _ADD_ON_PRICES.size, t.size)]
    merch = np.maximum(np.round(rng.gamma(3.0, _MERCH_MEAN / 3.0, t.size), 2), 5.0)
    quantity = np.where(add_on, 1.0, 1.0 + rng.poisson(0.3, t.size))
    return {
        "cust": cust,
        "t": t,
        "amount": np.where(add_on, add_price, merch),
        "quantity": quantity,
        "add_on": add_on,
    }


def _departure(lat: _Latent, rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's voluntary decision day (the cancel date, or the expiry without
    auto-renew) and service end; +inf for customers who do not leave voluntarily."""
    n = lat.t0.size
    vol = (rows["reason"] == _CANCELLED) | (rows["reason"] == _EXPIRED)
    decide = np.full(n, np.inf)
    end = np.full(n, np.inf)
    c = rows["cust"][vol]
    decide[c] = np.where(rows["reason"][vol] == _CANCELLED, rows["cancel"][vol], rows["end"][vol])
    end[c] = rows["end"][vol]
    return decide, end


def _events(
    rng: np.random.Generator,
    lat: _Latent,
    rows: dict[str, np.ndarray],
    fails: dict[str, np.ndarray],
    hist: float,
) -> dict[str, np.ndarray]:
    """Usage, support tickets and failed charges before ``hist`` (the end of the history).

    Draws only for rows started and charges failed before ``hist``, so that the events do
    not depend on how far the simulation runs."""
    decide, _ = _departure(lat, rows)
    started = rows["start"] < hist
    rc = rows["cust"][started].astype(np.int32)
    lo = np.maximum(rows["start"][started].astype(np.float64), lat.t0[rc])
    hi = np.minimum(rows["end"][started].astype(np.float64), hist)
    fails = {k: v[fails["t"] < hist] for k, v in fails.items()}
    fade_start = decide - lat.fade
    parts: list[tuple[np.ndarray, ...]] = []  # customer, time, type, channel, value

    # usage: thinned by the fade before a voluntary departure
    cust, t = _poisson_on(rng, rc, lo, hi, lat.usage[rc])
    x = np.clip((t - fade_start[cust]) / lat.fade[cust], 0.0, 1.0)
    x = np.where(t >= decide[cust], _CANCELLED_USAGE, 1.0 - (1.0 - _FADE_FLOOR) * x)
    keep = rng.random(t.size) < x
    del x
    cust, t = cust[keep], t[keep]
    del keep
    app = rng.random(t.size) < _APP_FIRST_SHARE
    app = app == lat.app_first[cust]  # in the preferred place, or not
    kind = np.where(app, _EV_APP, _EV_LOGIN).astype(np.int8)
    parts.append((cust, t, kind, np.where(app, _CH_APP, _CH_WEB).astype(np.int8), None))
    del app

    # support tickets: 4x as often and unhappy from the fade on
    tc, tt = _poisson_on(rng, rc, lo, hi, np.full(rc.size, _TICKET_RATE * _TICKET_BOOST))
    unhappy = tt >= fade_start[tc]
    keep = rng.random(tt.size) < np.where(unhappy, 1.0, 1.0 / _TICKET_BOOST)
    tc, tt, unhappy = tc[keep], tt[keep], unhappy[keep]
    csat = _choice_rows(rng, np.where(unhappy[:, None], _CSAT_UNHAPPY, _CSAT_NORMAL)) + 1.0
    ch = np.array([_CH_CHAT, _CH_EMAIL, _CH_PHONE])[rng.choice(3, tt.size, p=[0.55, 0.3, 0.15])]
    parts.append((tc, tt, np.full(tt.size, _EV_TICKET), ch, csat))

    # a ticket after some first failed charges (before the end), and the failures
    first = np.flatnonzero(fails["attempt"] == 1)
    asks = first[rng.random(first.size) < _FAILURE_TICKET]
    fc, ft = fails["cust"][asks], fails["t"][asks] + rng.uniform(0.0, 2.0, asks.size)
    fcsat = _choice_rows(rng, np.broadcast_to(_CSAT_NORMAL, (ft.size, 5))) + 1.0
    ok = ft < hist
    n_ok = int(ok.sum())
    parts.append((fc[ok], ft[ok], np.full(n_ok, _EV_TICKET), np.full(n_ok, _CH_CHAT), fcsat[ok]))
    nf = fails["t"].size
    failed = (np.full(nf, _EV_FAILED), np.full(nf, _CH_BILLING), fails["attempt"] * 1.0)
    parts.append((fails["cust"], fails["t"], *failed))
    return {
        "cust": np.concatenate([p[0] for p in parts]).astype(np.int32),
        "t": np.concatenate([p[1] for p in parts]),
        "type": np.concatenate([p[2] for p in parts]).astype(np.int8),
        "channel": np.concatenate([p[3] for p in parts]).astype(np.int8),
        "value": np.concatenate(
            [np.full(p[1].size, np.nan) if p[4] is None else p[4] for p in parts]
        ),
    }


@dataclass(frozen=True)
class _AtEnd:
    """The subscription state of every customer at the end of day ``c`` (observable but for
    the pause length)."""

    subscribed: np.ndarray  # a row active on day c
    cancelling: np.ndarray  # ... whose cancellation has been requested
    paused: np.ndarray  # no active row, a resume ahead
    dunning: np.ndarray  # subscribed, the last renewal's charge failed and is being retried
    seen: np.ndarray  # failed attempts of that charge seen by day c (1 or 2)
    row: np.ndarray  # index of the last row started by day c
    r1: np.ndarray  # next renewal lattice day after c


def _state_at_end(
    lat: _Latent,
    rows: dict[str, np.ndarray],
    pays: dict[str, np.ndarray],
    fails: dict[str, np.ndarray],
    c: int,
) -> _AtEnd:
    n = lat.t0.size
    row = _last_row(rows, c, n)
    subscribed = rows["end"][row] > c
    cancelling = subscribed & (rows["cancel"][row] <= c)
    paused = ~subscribed & (rows["reason"][row] == _PAUSED)
    period = PERIOD_DAYS[lat.period]
    r0 = lat.s0 + period * ((c - lat.s0) // period)
    hist = float(c + 1)
    f = (fails["anchor"] == r0[fails["cust"]]) & (fails["t"] < hist)
    seen = np.bincount(fails["cust"][f], minlength=n)
    p = (pays["anchor"] == r0[pays["cust"]]) & (pays["t"] < hist)
    paid = np.bincount(pays["cust"][p], minlength=n)
    dunning = subscribed & (r0 > lat.s0) & (seen > 0) & (paid == 0)
    return _AtEnd(subscribed, cancelling, paused, dunning, seen, row, r0 + period)


def _expected_future(
    lat: _Latent,
    rows: dict[str, np.ndarray],
    end: _AtEnd,
    c: int,
    churn_h: int,
    horizons: tuple[int, ...],
    price_day: int,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """P(no row active on day ``c + churn_h``) for the customers subscribed at ``c``, and the
    expected subscription charges in ``(c, c + H]`` for every H in ``horizons`` (paused
    customers included), given the latent state (theta, q, the drivers, the pause length) and
    what is observable at ``c``: not conditioned on a decision that does not show yet (beyond
    the absence of a cancellation where auto-renew would show one).

    Exact: a forward recursion over the renewal lattice with the probability of each state
    (plan, last plan change, subscribed or paused with 1 or 2 lattice days to go).
    """
    n = lat.t0.size
    big_t = c + churn_h
    limit = c + max(churn_h, *horizons)
    active_t = np.zeros(n)  # P(active on day big_t), subscribers
    revenue = {h: np.zeros(n) for h in horizons}
    # cancelling: active until the row's end, no more charges
    cancel = np.flatnonzero(end.cancelling)
    active_t[cancel] = rows["end"][end.row[cancel]] > big_t
    g = np.flatnonzero((end.subscribed & ~end.cancelling) | end.paused)
    row = end.row[g]
    per = lat.period[g]
    period = PERIOD_DAYS[per]
    auto, q = lat.auto[g], lat.q[g]
    state0 = rows["plan"][row] * 3 + rows["chg"][row]
    m = g.size
    plan_s = np.repeat(np.arange(2), 3)[None, :]  # state s = plan * 3 + last change
    chg_s = np.tile(np.arange(3), 2)[None, :]
    a = np.zeros((m, 6))
    p1 = np.zeros((m, 6))
    p2 = np.zeros((m, 6))
    sub = end.subscribed[g]
    a[np.flatnonzero(sub), state0[sub]] = 1.0
    r1 = end.r1[g]
    paused = ~sub
    to_go = (rows["resume"][row] - r1) // period + 1
    p1[np.flatnonzero(paused & (to_go == 1)), state0[paused & (to_go == 1)]] = 1.0
    p2[np.flatnonzero(paused & (to_go == 2)), state0[paused & (to_go == 2)]] = 1.0

    def earn(day: np.ndarray, amount: np.ndarray) -> None:
        for h in horizons:
            revenue[h][g] += np.where((day > c) & (day <= c + h), amount, 0.0)

    # a charge being retried at c: recovered on a later retry, or the row ends (unpaid)
    dun = end.dunning[g]
    r0 = r1 - period
    once = dun & (end.seen[g] == 1)
    row_price = rows["price"][row]
    p_late = np.where(once, _RETRY_SUCCESS * (1 - _RETRY_SUCCESS), _RETRY_SUCCESS)
    earn(r0 + _RETRY_DAYS[0], np.where(once, _RETRY_SUCCESS * row_price, 0.0))
    earn(r0 + _RETRY_DAYS[1], np.where(dun, p_late * row_price, 0.0))
    lost = np.where(dun, np.where(once, (1 - _RETRY_SUCCESS) ** 2, 1 - _RETRY_SUCCESS), 0.0)
    a *= (1.0 - lost)[:, None]
    grace = np.where(r0 + _RETRY_DAYS[1] > big_t, lost, 0.0)
    # P(active on big_t) where no renewal comes before it
    act_g = np.where(r1 > big_t, a.sum(axis=1) + grace, 0.0)

    # no cancellation seen by c: a voluntary departure at r1 would have shown with P(f)
    lead_max = _LEAD_MAX[per]
    f = np.where(auto, np.clip(lead_max - (r1 - c) + 1, 0, lead_max) / lead_max, 0.0)
    up = plan_s == 0
    target = np.where(up, 3 + 1, 0 + 2)[0]  # basic -> (pro, upgraded), pro -> (basic, downgraded)
    for j in range(limit - c + 1):  # at most one renewal a day
        r = r1 + j * period
        due = r <= limit
        if not due.any():
            break
        rr = r[:, None]
        # paused: count down; resume with a charge that never fails
        price_s = _price_at(per[:, None], plan_s, rr, price_day)
        earn(r, np.where(due, (p1 * price_s).sum(axis=1), 0.0))
        resumed = p1
        p1 = np.where(due[:, None], p2, p1)
        p2 = np.where(due[:, None], 0.0, p2)
        # subscribed: leave, pause, change plan, then the charge
        p = _renewal_churn_probability(
            lat.theta[g][:, None],
            lat.acq[g][:, None],
            auto[:, None],
            per[:, None],
            plan_s,
            chg_s,
            rr,
            lat.s0[g][:, None],
            price_day,
        )
        if j == 0:
            ff = f[:, None]
            p = p * (1 - ff) / (1 - p * ff)
        rest = a * (1.0 - p)
        pause = rest * _PAUSE[per][:, None]
        p1 += np.where(due[:, None], pause * 0.5, 0.0)
        p2 += np.where(due[:, None], pause * 0.5, 0.0)
        stay = rest - pause
        pc_ = np.where(up, _UPGRADE[per][:, None], _DOWNGRADE[per][:, None])
        moved = stay * (1.0 - pc_)
        np.add.at(moved.T, target, (stay * pc_).T)
        fail = np.where(auto, q, 0.0)
        charge = (moved * price_s).sum(axis=1)
        earn(r, charge * (1.0 - fail))
        earn(r + _RETRY_DAYS[0], charge * fail * _RETRY_SUCCESS)
        earn(r + _RETRY_DAYS[1], charge * fail * (1 - _RETRY_SUCCESS) * _RETRY_SUCCESS)
        unpaid = fail * (1 - _RETRY_SUCCESS) ** 2
        new_a = moved * (1.0 - unpaid)[:, None] + resumed
        in_grace = moved.sum(axis=1) * unpaid * (r + _RETRY_DAYS[1] > big_t)
        a = np.where(due[:, None], new_a, a)
        last = due & (r <= big_t) & (big_t < r + period)
        act_g = np.where(last, a.sum(axis=1) + in_grace, act_g)
    active_t[g] = np.where(sub, act_g, 0.0)
    return active_t, revenue


@dataclass(frozen=True)
class SubscriptionWorld:
    """The scenario's data plus the whole simulation, for checking the truth.

    ``rows``: every simulated subscription row (also those starting after the end and the
    real end and cancel dates; NaT = never within the simulation), with ``reason`` (why it
    ended, or ``active``) and ``resume_date`` (pauses); ``transactions``: every simulated
    transaction (past and future) with ``kind`` (``subscription`` or ``one_off``).
    """

    data: DemoData
    rows: pd.DataFrame
    transactions: pd.DataFrame


def simulate_subscription_business(
    n_customers: int = 5000,
    seed: int = 42,
    end_date: datetime.date = datetime.date(2026, 9, 30),
    churn_horizon_days: int = 90,
    clv_horizon_days: int = 365,
    *,
    first_id: int = 1,
    id_width: int | None = None,
    order_prefix: str = "O",
) -> SubscriptionWorld:
    """Simulate the subscription business (module docstring) and its truth, and keep the
    whole simulation (:class:`SubscriptionWorld`).

    Deterministic in all arguments; the input tables do not depend on the horizons.
    ``first_id``, ``id_width``, ``order_prefix``: a shard of a larger population
    (:func:`churnclv.demo_data.write_demo_shards`).
    """
    data, rows, everything = _business(
        n_customers,
        seed,
        end_date,
        churn_horizon_days,
        clv_horizon_days,
        first_id,
        id_width,
        order_prefix,
        world=True,
    )
    assert everything is not None
    return SubscriptionWorld(data, rows, everything)


def _business(
    n_customers: int,
    seed: int,
    end_date: datetime.date,
    churn_horizon_days: int,
    clv_horizon_days: int,
    first_id: int,
    id_width: int | None,
    order_prefix: str,
    world: bool,
) -> tuple[DemoData, pd.DataFrame, pd.DataFrame | None]:
    """The tables and truth, every simulated row, and (``world``) every transaction."""
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    if churn_horizon_days < 1 or clv_horizon_days < 1:
        raise ValueError("churn_horizon_days and clv_horizon_days must be at least 1")
    n = int(n_customers)
    hist_days = round(3 * 365.25)
    c = hist_days - 1  # the end date's day
    hist = float(hist_days)
    h, big_c = int(churn_horizon_days), int(clv_horizon_days)
    horizons = tuple(dict.fromkeys((h, big_c)))
    last_day = c + max(horizons)
    stop = pd.Timestamp(end_date) + pd.Timedelta(days=1)
    start = stop - pd.Timedelta(days=hist_days)
    start_us = int(np.datetime64(start.to_datetime64(), "us").astype(np.int64))
    price_day = (pd.Timestamp(price_increase_date(end_date)) - start).days

    s_latent, s_renew, s_past, s_future, s_events = np.random.SeedSequence(seed).spawn(5)
    lat = _draw_latent(np.random.default_rng(s_latent), n, hist_days)
    rows, pays, fails = _simulate(lat, np.random.default_rng(s_renew), price_day, c, last_day)
    past = _one_offs(np.random.default_rng(s_past), lat, rows, 0.0, hist)
    future = _one_offs(np.random.default_rng(s_future), lat, rows, hist, float(last_day + 1))
    events = _events(np.random.default_rng(s_events), lat, rows, fails, hist)

    width = id_width or max(6, len(str(n)))
    ids = _padded(np.arange(first_id, first_id + n), width)

    def ids_of(cust: np.ndarray) -> pd.Series:
        return _str_series(pc.take(ids, pa.array(cust)))

    def day_ts(days: np.ndarray, known: np.ndarray) -> pd.Series:
        return _to_timestamp(start_us, np.where(known, days, 0).astype(np.float64)).where(known)

    # --- every transaction (charges and one-offs), past and future, in time order
    one = {k: np.concatenate([past[k], future[k]]) for k in past}
    cust = np.concatenate([pays["cust"], one["cust"]])
    t = np.concatenate([pays["t"], one["t"]])
    amount = np.concatenate([pays["amount"], one["amount"]])
    kind = np.concatenate([np.zeros(pays["t"].size, np.int8), np.ones(one["t"].size, np.int8)])
    quantity = np.concatenate([np.ones(pays["t"].size), one["quantity"]])
    category = np.concatenate([np.zeros(pays["t"].size, np.int8), 2 - one["add_on"]])
    perm = np.lexsort((kind, cust, np.floor(t * _SECONDS_PER_DAY)))
    cust, t, amount, kind, quantity, category = (
        x[perm] for x in (cust, t, amount, kind, quantity, category)
    )
    n_past = int(np.count_nonzero(t < hist))  # the history comes first
    order_ids = _padded(np.arange(1, t.size + 1), max(7, len(str(n_past))), order_prefix)
    channels = ("subscription", "app", "web")
    categories = ("subscription", "add_on", "merchandise")

    def tx_frame(k: slice) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": ids_of(cust[k]),
                "timestamp": _to_timestamp(start_us, t[k]),
                "amount": amount[k],
                "order_id": _str_series(order_ids[k]),
                "quantity": quantity[k],
                "channel": _codes_to_str(category[k], channels),
                "category": _codes_to_str(category[k], categories),
            }
        )

    transactions = tx_frame(slice(0, n_past))
    everything = None
    if world:
        everything = tx_frame(slice(None))
        everything["kind"] = _codes_to_str(kind, ("subscription", "one_off"))

    # --- events (history only)
    ev_perm = np.lexsort((events["type"], events["cust"], np.floor(events["t"] * _SECONDS_PER_DAY)))
    events_frame = pd.DataFrame(
        {
            "customer_id": ids_of(events.pop("cust")[ev_perm]),
            "timestamp": _to_timestamp(start_us, events.pop("t")[ev_perm]),
            "event_type": _codes_to_str(events.pop("type")[ev_perm], SUBSCRIPTION_EVENT_TYPES),
            "channel": _codes_to_str(events.pop("channel")[ev_perm], EVENT_CHANNELS),
            "value": events.pop("value")[ev_perm],
        }
    )
    del ev_perm

    # --- customers
    customers = pd.DataFrame(
        {
            "customer_id": _str_series(ids),
            "signup_date": _to_timestamp(start_us, lat.s0.astype(np.float64)),
            "acquisition_channel": _codes_to_str(lat.acq, ACQUISITION_CHANNELS),
        }
    )

    # --- subscriptions: the extract at the end of day c
    end = _state_at_end(lat, rows, pays, fails, c)
    rc = rows["cust"]
    sub_ids = _str_series(pc.binary_join_element_wise("S", pc.take(ids, pa.array(rc)), ""))
    full_rows = pd.DataFrame(
        {
            "customer_id": ids_of(rc),
            "subscription_id": sub_ids,
            "start_date": day_ts(rows["start"], np.ones(rc.size, bool)),
            "end_date": day_ts(rows["end"], rows["end"] < _NEVER),
            "cancel_date": day_ts(rows["cancel"], rows["cancel"] < _NEVER),
            "billing_period_days": PERIOD_DAYS[lat.period[rc]].astype(np.float64),
            "price": rows["price"],
            "auto_renew": pd.array(lat.auto[rc], dtype="boolean"),
            "plan": _codes_to_str(rows["plan"], PLANS),
            "reason": _codes_to_str(rows["reason"], STATUSES),
            "resume_date": day_ts(rows["resume"], rows["resume"] < _NEVER),
        }
    )
    seen = rows["start"] <= c
    ended = rows["end"] <= c
    status = np.where(ended, rows["reason"], _OPEN)
    is_current = np.zeros(rc.size, bool)
    is_current[end.row] = True
    status = np.where(is_current & end.cancelling[rc], _CANCELLING, status)
    status = np.where(is_current & end.dunning[rc], _PAST_DUE, status)
    subscriptions = pd.DataFrame(
        {
            "customer_id": full_rows["customer_id"],
            "subscription_id": full_rows["subscription_id"],
            "start_date": full_rows["start_date"],
            "end_date": full_rows["end_date"].where(ended),
            "cancel_date": full_rows["cancel_date"].where(rows["cancel"] <= c),
            "billing_period_days": full_rows["billing_period_days"],
            "price": full_rows["price"],
            "auto_renew": full_rows["auto_renew"],
            "plan": full_rows["plan"],
            "status": _codes_to_str(status, STATUSES),
        }
    )[seen].reset_index(drop=True)

    # --- truth
    active_t, expected = _expected_future(lat, rows, end, c, h, horizons, price_day)
    lapsed = np.exp(-_LAPSED_SHARE * lat.rate * h)  # P(no one-off in h days) while not subscribed
    resume_day = rows["resume"][end.row]
    p_churn = np.where(
        end.subscribed,
        1.0 - active_t,
        np.where(end.paused & (resume_day <= c + h), 0.0, lapsed),
    )
    big_t = _last_row(rows, c + h, n)
    active_h = rows["end"][big_t] > c + h
    truth = pd.DataFrame({"customer_id": _str_series(ids)})
    truth["subscriber_at_end"] = end.subscribed
    at_end = np.select(
        [end.cancelling, end.dunning, end.subscribed, end.paused],
        ["cancelling", "past_due", "active", "paused"],
        "ended",
    )
    truth["status_at_end"] = pd.Series(at_end, dtype="str")
    truth["offer"] = _codes_to_str(lat.offer, OFFERS)
    truth["plan_at_end"] = _codes_to_str(rows["plan"][end.row], PLANS).where(
        end.subscribed | end.paused
    )
    truth["auto_renew"] = lat.auto
    truth["renewal_churn_probability"] = lat.theta
    truth["payment_failure_probability"] = lat.q
    truth["one_off_rate_per_day"] = lat.rate
    truth["next_renewal_date"] = day_ts(end.r1, end.subscribed | end.paused)
    service_end = np.where(end.subscribed, _service_end(rows, end.row), _NEVER)
    truth["service_end_date"] = day_ts(service_end, service_end < _NEVER)
    paid = amount > 0
    is_charge = kind == 0
    for hz in horizons:
        win = (t >= hist) & (t < hist + hz)
        orders = np.bincount(cust[win & paid], minlength=n)
        truth[f"future_orders_{hz}d"] = orders.astype(np.int64)
        truth[f"future_spend_{hz}d"] = np.round(np.bincount(cust[win], amount[win], minlength=n), 2)
        charges = np.bincount(cust[win & is_charge], amount[win & is_charge], minlength=n)
        truth[f"future_renewal_revenue_{hz}d"] = np.round(charges, 2)
        truth[f"expected_renewal_revenue_{hz}d"] = expected[hz]
        if hz == h:
            truth[f"churned_{h}d"] = np.where(end.subscribed, ~active_h, orders == 0)
            truth[f"true_churn_probability_{h}d"] = p_churn
    data = DemoData(transactions, events_frame, customers, truth, subscriptions)
    return data, full_rows, everything


def _service_end(rows: dict[str, np.ndarray], row: np.ndarray) -> np.ndarray:
    """For customers with row ``row`` active on day ``c``: the first later day without an
    active row (_NEVER if none within the simulation). Rows of a customer follow each other
    without a gap except for pauses, which count as an end."""
    out = rows["end"][row].copy()
    nxt = row + 1
    for _ in range(256):  # plan changes and repricing chain rows end to start
        ok = (nxt < rows["cust"].size) & (out < _NEVER)
        idx = np.minimum(nxt, rows["cust"].size - 1)
        cont = ok & (rows["cust"][idx] == rows["cust"][row]) & (rows["start"][idx] == out)
        if not cont.any():
            break
        out = np.where(cont, rows["end"][idx], out)
        nxt = np.where(cont, nxt + 1, nxt)
    return out


def generate_subscription_data(
    n_customers: int = 5000,
    seed: int = 42,
    end_date: datetime.date = datetime.date(2026, 9, 30),
    churn_horizon_days: int = 90,
    clv_horizon_days: int = 365,
    **shard: object,
) -> DemoData:
    """The ``subscription`` scenario's tables and truth, as
    :func:`simulate_subscription_business` without keeping the whole simulation. ``shard``:
    ``first_id``, ``id_width``, ``order_prefix``."""
    options: dict = {"first_id": 1, "id_width": None, "order_prefix": "O", **shard}
    data, _rows, _ = _business(
        n_customers,
        seed,
        end_date,
        churn_horizon_days,
        clv_horizon_days,
        **options,
        world=False,
    )
    return data
