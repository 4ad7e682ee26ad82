"""Synthetic demo retailer: transactions, engagement events, customers and the ground truth.

The generator simulates a "buy till you die" world with vectorised numpy (customers are
processed in fixed-size blocks; there is no Python loop per customer or per row), so that
models can be checked against the truth that produced the data.

Generative model (time in days; the observed history is ``[start, end_date + 1 day)``, i.e. it
includes the whole of ``end_date``; the truth continues the same process afterwards):

* **Signups** are staggered over ``years`` with a linearly growing rate (the last day gets 3x
  the signups of the first day), so there are old, middle-aged and brand-new customers.
  Ids are zero-padded numbers in signup order (``"000001"``; width ``max(6, digits(n))``).
* **Acquisition channel** (organic_search, paid_social, referral, email, affiliate) multiplies
  the purchase rate, the dropout rate and the spend level: referral customers buy more, spend
  more and stay longer; paid_social and affiliate customers churn faster and spend less.
* **Purchase rate** ``lambda ~ Gamma(shape 1.3) x channel factor`` (orders/day at average
  seasonality, before the loyalty boost). Orders follow a Poisson process with rate
  ``lambda x season(month) x (1.4 if loyalty member)``; the month factor (peak Nov/Dec, dip
  Jun-Aug, mean 1) is applied exactly by thinning. 60% of customers order on signup day.
* **Dropout** (Pareto/NBD style): an unobserved lifetime that starts at signup with hazard
  ``mu ~ Gamma(shape 2) x channel factor``, halved while the customer is a loyalty member.
  After dropout there are no orders and no returns, ever.
* **Loyalty programme**: some customers join at signup (channel dependent, 6-25%), 35% of the
  others get a join date ``signup + Exp(mean 365 days)`` (effective from midnight); joining
  only happens while alive. ``loyalty_member`` is the status at ``end_date``.
* **Spend** (gamma-gamma style): customer mean order value ``m ~ Gamma(shape 3, mean 55) x
  channel factor``; each order ``~ Gamma(shape 3, mean m)``, rounded to cents (>= 1).
  Orders get a channel (web/app/store, mix driven by the customer's preferred contact
  channel), a category (half from the customer's favourite category), and a quantity.
* **Returns**: depending on the category (0.5%-6%, about 3% overall) an order is followed by
  a separate row with negative amount (1..all of its items, pro rata), negative quantity and
  order id ``<order id>-R``, 2 + Gamma(2, 2.5) days later - only if that is before dropout.
* **Engagement events** (visit, app_session, email_open, email_click, support_ticket): each
  customer has a preferred contact channel (web/app/email) that sets the mix, and an
  engagement rate (gamma, correlated with the purchase rate). Every order is preceded by a
  visit or app session with probability 0.85 (0.35 for store orders) plus a few browsing
  visits in the 3 days before. Support tickets (channel phone/chat/email) carry a CSAT
  ``value`` 1-5, mostly 4-5. **Disengagement**: in the last ``D ~ U(60, 90)`` days before the
  dropout the background engagement decays linearly to 15% of normal (reached half way),
  support tickets become 4x as likely and their CSAT is mostly 1-2. After dropout only a
  small residual of email opens remains.

Keyword options of :func:`generate_demo_data` vary this world for the scenarios of
:mod:`churnclv.scenarios` (no seasonality, another signup growth, a trend in the purchase
rate, $0 orders, no events or customers table); their defaults give the demo retailer above.

Nothing is generated at import time.
"""

from __future__ import annotations

import contextlib
import datetime
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.files import ParquetRowGroups, atomic_path
from features.engagement import EVENT_TYPES as ENGAGEMENT_EVENT_TYPES

__all__ = ["DemoData", "generate_demo_data", "write_demo_data"]

_US_PER_DAY = 86_400_000_000
_SECONDS_PER_DAY = 86_400
_BLOCK = 100_000  # customers simulated per block (fixed, so results do not depend on it)

# acquisition channel: share, purchase-rate factor, dropout-rate factor, spend factor,
# probability of joining the loyalty programme at signup
ACQUISITION_CHANNELS = ("organic_search", "paid_social", "referral", "email", "affiliate")
_ACQ_SHARE = np.array([0.35, 0.25, 0.12, 0.13, 0.15])
_ACQ_RATE = np.array([1.0, 0.85, 1.25, 1.1, 0.9])
_ACQ_DROPOUT = np.array([1.0, 1.8, 0.55, 0.9, 1.3])
_ACQ_SPEND = np.array([1.0, 0.85, 1.3, 1.0, 0.9])
_ACQ_LOYAL_AT_SIGNUP = np.array([0.12, 0.06, 0.25, 0.15, 0.08])

_BASE_RATE = 0.042  # mean orders/day (before channel/loyalty/seasonality)
_RATE_SHAPE = 1.3
_BASE_DROPOUT = 1 / 500  # mean dropout hazard per day
_DROPOUT_SHAPE = 2.0
_LOYAL_RATE = 1.4  # purchase-rate multiplier for members
_LOYAL_DROPOUT = 0.5  # dropout-hazard multiplier for members
_LATE_JOIN_PROB = 0.35
_LATE_JOIN_MEAN_DAYS = 365.0
_FIRST_ORDER_PROB = 0.6
SIGNUP_GROWTH = 2.0  # the last day of the history gets 1 + 2 = 3x the signups of the first
_SPEND_MEAN, _SPEND_SHAPE, _ORDER_SHAPE = 55.0, 3.0, 3.0

# Jan..Dec purchase-rate multipliers, normalised to mean 1
_SEASON_RAW = np.array([0.85, 0.85, 0.95, 1.0, 0.95, 0.8, 0.75, 0.85, 1.0, 1.05, 1.45, 1.6])
MONTH_SEASONALITY = _SEASON_RAW / _SEASON_RAW.mean()

ORDER_CHANNELS = ("web", "app", "store")
CATEGORIES = ("apparel", "home", "electronics", "beauty", "grocery")
_CAT_SHARE = np.array([0.3, 0.2, 0.1, 0.2, 0.2])
_CAT_UNIT_PRICE = np.array([35.0, 45.0, 120.0, 20.0, 8.0])
_CAT_RETURN_PROB = np.array([0.06, 0.025, 0.03, 0.015, 0.005])
_FAV_CAT_PROB = 0.5

PREFERRED_CONTACT = ("web", "app", "email")
_PREF_SHARE = np.array([0.45, 0.30, 0.25])
_PREF_ORDER_CHANNEL = np.array([[0.72, 0.08, 0.20], [0.15, 0.67, 0.18], [0.62, 0.13, 0.25]])
# background engagement mix per preferred channel: visit, app_session, email_open
_PREF_EVENT_MIX = np.array([[0.65, 0.10, 0.25], [0.15, 0.65, 0.20], [0.30, 0.10, 0.60]])
_PREF_CLICK_PROB = np.array([0.2, 0.2, 0.3])
# support ticket channel per preferred channel: phone, chat, email
_PREF_TICKET_CHANNEL = np.array([[0.3, 0.55, 0.15], [0.25, 0.6, 0.15], [0.25, 0.25, 0.5]])
_PREF_RESIDUAL_OPEN = np.array([0.003, 0.003, 0.008])  # email opens/day after dropout

_ENGAGE_MEAN, _ENGAGE_SHAPE = 0.09, 2.0  # background events/day while engaged
_PRE_ORDER_PROB = np.array([0.85, 0.85, 0.35])  # by order channel web/app/store
_PRE_ORDER_BROWSE = 0.3  # mean extra browsing events in the 3 days before an order
_TICKET_RATE, _TICKET_BOOST = 0.003, 4.0
_CSAT_NORMAL = np.array([0.04, 0.06, 0.15, 0.35, 0.40])
_CSAT_UNHAPPY = np.array([0.35, 0.30, 0.20, 0.10, 0.05])
_DECLINE_MIN, _DECLINE_MAX = 60.0, 90.0  # disengagement window before dropout (days)
_DECLINE_FLOOR, _DECLINE_RAMP = 0.15, 0.5

EVENT_TYPES = tuple(ENGAGEMENT_EVENT_TYPES)  # the event types the features know
_EV_VISIT, _EV_OPEN, _EV_CLICK, _EV_TICKET, _EV_APP = range(5)
EVENT_CHANNELS = ("web", "app", "email", "phone", "chat")
_CH_WEB, _CH_APP, _CH_EMAIL, _CH_PHONE, _CH_CHAT = range(5)


@dataclass(frozen=True)
class DemoData:
    """The contract tables plus one ground-truth row per customer.

    ``transactions``, ``events``, ``customers`` and ``subscriptions`` hold the contract columns
    (the ``subscription`` scenario's customers have no ``loyalty_member``); ``events``,
    ``customers`` and ``subscriptions`` are None when a scenario leaves them out (they are
    optional in the input contract; only the ``subscription`` scenario of
    :mod:`churnclv.subscription_demo` has subscriptions), and :func:`write_demo_data` then
    writes no file for them. The retailer's truth is below; the ``subscription`` scenario's has
    the same outcome columns with its own churn label (see that module).
    ``truth`` (``H`` = truth_horizon_days, ``C`` = clv_horizon_days; windows start at midnight
    after ``end_date``, i.e. ``(end_date, end_date + H days]`` in dates):

    * ``dropout_date``: the latent dropout moment; NaT if it lies beyond ``end_date + max(H, C)``.
    * ``alive_at_end``: not dropped out by the end of ``end_date``.
    * ``purchase_rate_per_day``: latent base rate lambda (orders/day at average seasonality,
      without the 1.4x loyalty boost). ``dropout_rate_per_day``: latent hazard mu as a
      non-member (halved while a member). ``mean_spend``: latent expected order value (gross).
    * ``loyalty_join_date`` (NaT if never joins while alive within the simulated horizon),
      ``preferred_contact_channel``, ``disengagement_start`` (start of the pre-dropout decline).
    * ``future_orders_Hd`` / ``future_orders_Cd``: orders (not returns) placed in the window,
      simulated by continuing the same process. ``future_spend_Hd`` / ``future_spend_Cd``: net
      sum of all transaction amounts timestamped in the window (orders minus returns, so it
      can be negative when only a return of an older order falls in it).
    * ``churned_Hd``: ``future_orders_Hd == 0``.
    * ``true_churn_probability_Hd``: P(no order in the window) given alive at the end of
      ``end_date``, lambda, mu, the loyalty join date and the seasonality, integrating over
      the remaining (memoryless) lifetime; exact (rates are constant within each day). It does
      not condition on the realised dropout date, so the pre-dropout disengagement visible in
      the events carries extra information. 1.0 for customers already dropped out.
    * ``expected_orders_Hd`` / ``expected_orders_Cd``: expected order count in the window
      under the same conditioning (0 if dropped out).
    """

    transactions: pd.DataFrame
    events: pd.DataFrame | None
    customers: pd.DataFrame | None
    truth: pd.DataFrame
    subscriptions: pd.DataFrame | None = None


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _poisson_process(
    rng: np.random.Generator, start: np.ndarray, stop: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Homogeneous Poisson process per row on ``[start, stop)``: (row index, time) arrays."""
    length = np.clip(stop - start, 0.0, None)
    length = np.where(np.isfinite(length), length, 0.0)
    counts = rng.poisson(rate * length)
    rows = np.repeat(np.arange(len(start), dtype=np.int64), counts)
    return rows, start[rows] + rng.random(rows.size) * length[rows]


@dataclass
class _Latent:
    """Per-customer latent state (times in days since the start of the history)."""

    t0: np.ndarray  # signup time
    tau: np.ndarray  # dropout time (may lie far beyond the simulated horizon)
    join: np.ndarray  # loyalty join time, inf if never (only < tau is effective)
    lam: np.ndarray  # base purchase rate
    mu0: np.ndarray  # dropout hazard as non-member
    spend: np.ndarray  # mean order value
    engage: np.ndarray  # background engagement rate
    decline: np.ndarray  # disengagement window length before dropout
    acq: np.ndarray  # acquisition channel code
    pref: np.ndarray  # preferred contact channel code
    fav: np.ndarray  # favourite category code


def _draw_latent(
    rng: np.random.Generator, n: int, hist_days: int, growth: float = SIGNUP_GROWTH
) -> _Latent:
    # the signup rate rises (falls) linearly from 1x to (1 + growth)x over the history
    f = rng.random(n)
    if growth == 0.0:
        u = f
    else:  # inverse of the CDF (u + growth u^2 / 2) / (1 + growth / 2)
        u = (np.sqrt(1.0 + 2.0 * growth * f * (1.0 + growth / 2.0)) - 1.0) / growth
    t0 = np.sort(np.minimum(u * hist_days, np.nextafter(float(hist_days), 0.0)))
    acq = rng.choice(len(ACQUISITION_CHANNELS), size=n, p=_ACQ_SHARE)
    lam = rng.gamma(_RATE_SHAPE, _BASE_RATE / _RATE_SHAPE, n) * _ACQ_RATE[acq]
    mu0 = rng.gamma(_DROPOUT_SHAPE, _BASE_DROPOUT / _DROPOUT_SHAPE, n) * _ACQ_DROPOUT[acq]
    spend = rng.gamma(_SPEND_SHAPE, _SPEND_MEAN / _SPEND_SHAPE, n) * _ACQ_SPEND[acq]
    at_signup = rng.random(n) < _ACQ_LOYAL_AT_SIGNUP[acq]
    late = rng.random(n) < _LATE_JOIN_PROB
    late_time = np.ceil(t0 + rng.exponential(_LATE_JOIN_MEAN_DAYS, n))
    join = np.where(at_signup, t0, np.where(late, late_time, np.inf))
    # lifetime by inverting the cumulative hazard mu0 before joining, mu0 * 0.5 after
    e = rng.exponential(1.0, n)
    pre = np.where(np.isfinite(join), join - t0, np.inf)
    mu1 = mu0 * _LOYAL_DROPOUT
    with np.errstate(invalid="ignore"):  # inf - inf in the unused branch
        tau = np.where(e < mu0 * pre, t0 + e / mu0, join + (e - mu0 * pre) / mu1)
    engage = (
        rng.gamma(_ENGAGE_SHAPE, _ENGAGE_MEAN / _ENGAGE_SHAPE, n)
        * (lam / (_BASE_RATE * _ACQ_RATE[acq])) ** 0.4
    )
    decline = rng.uniform(_DECLINE_MIN, _DECLINE_MAX, n)
    pref = rng.choice(len(PREFERRED_CONTACT), size=n, p=_PREF_SHARE)
    fav = rng.choice(len(CATEGORIES), size=n, p=_CAT_SHARE)
    return _Latent(t0, tau, join, lam, mu0, spend, engage, decline, acq, pref, fav)


def _decline_factor(t: np.ndarray, tau: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Engagement multiplier: 1 until ``tau - window``, then a linear fall to the floor."""
    x = np.clip((t - (tau - window)) / window, 0.0, None)
    return np.maximum(_DECLINE_FLOOR, 1.0 - (1.0 - _DECLINE_FLOOR) * x / _DECLINE_RAMP)


def _simulate_block(
    rng: np.random.Generator,
    lat: _Latent,
    lo: int,
    hi: int,
    season: np.ndarray,
    hist_days: int,
    sim_days: int,
    s_max: float,
) -> dict[str, np.ndarray]:
    """Orders, returns (whole simulated horizon) and events (history only) of customers lo..hi.

    ``season``: the purchase-rate multiplier of each simulated day; ``s_max``: an upper
    bound of it (the thinning envelope).
    """
    t0, tau, join = lat.t0[lo:hi], lat.tau[lo:hi], lat.join[lo:hi]
    lam, spend, pref = lat.lam[lo:hi], lat.spend[lo:hi], lat.pref[lo:hi]
    alive_end = np.minimum(tau, float(sim_days))

    # --- orders: Poisson process with seasonality and loyalty boost, by thinning
    joins = join < alive_end
    rate_max = lam * s_max * np.where(joins, _LOYAL_RATE, 1.0)
    rows, t = _poisson_process(rng, t0, alive_end, rate_max)
    day = np.minimum(t.astype(np.int64), sim_days - 1)
    ratio = (
        season[day]
        / s_max
        * np.where(t >= join[rows], _LOYAL_RATE, 1.0)
        / np.where(joins[rows], _LOYAL_RATE, 1.0)
    )
    keep = rng.random(rows.size) < ratio
    rows, t = rows[keep], t[keep]
    first = rng.random(hi - lo) < _FIRST_ORDER_PROB
    t_first = t0 + rng.exponential(2.0 / 24.0, hi - lo)
    first &= (t_first < tau) & (t_first < np.floor(t0) + 1.0) & (t_first < hist_days)
    rows = np.concatenate([np.flatnonzero(first), rows])
    t = np.concatenate([t_first[first], t])

    n_ord = rows.size
    amount = np.round(np.maximum(rng.gamma(_ORDER_SHAPE, spend[rows] / _ORDER_SHAPE), 1.0), 2)
    channel = _choice_rows(rng, _PREF_ORDER_CHANNEL[pref[rows]])
    cat = np.where(
        rng.random(n_ord) < _FAV_CAT_PROB,
        lat.fav[lo:hi][rows],
        rng.choice(len(CATEGORIES), size=n_ord, p=_CAT_SHARE),
    )
    expected_items = np.maximum(amount / _CAT_UNIT_PRICE[cat] - 1.0, 0.0)
    quantity = 1.0 + rng.poisson(expected_items).astype(np.float64)

    # --- returns: a later negative row for part of the order, only while the customer is alive
    ret_t = t + 2.0 + rng.gamma(2.0, 2.5, n_ord)
    is_ret = (rng.random(n_ord) < _CAT_RETURN_PROB[cat]) & (ret_t < alive_end[rows])
    parent = np.flatnonzero(is_ret)
    items = np.floor(rng.random(parent.size) * quantity[parent]) + 1.0
    ret_amount = -np.round(amount[parent] * items / quantity[parent], 2)

    # --- engagement events (history only)
    hist = float(hist_days)
    engaged_end = np.minimum(tau, hist)
    ev_rows, ev_t, ev_type, ev_ch, ev_val = [], [], [], [], []

    def add(r: np.ndarray, tt: np.ndarray, typ: np.ndarray, ch: np.ndarray, val=None) -> None:
        ok = tt < hist
        ev_rows.append(r[ok])
        ev_t.append(tt[ok])
        ev_type.append(np.broadcast_to(typ, r.shape)[ok].astype(np.int8))
        ev_ch.append(np.broadcast_to(ch, r.shape)[ok].astype(np.int8))
        v = np.full(r.size, np.nan) if val is None else val
        ev_val.append(v[ok])

    # background visits / app sessions / opens, thinned by the pre-dropout decline
    er, et = _poisson_process(rng, t0, engaged_end, lat.engage[lo:hi])
    dec = lat.decline[lo:hi]
    keep = rng.random(er.size) < _decline_factor(et, tau[er], dec[er])
    er, et = er[keep], et[keep]
    kind = _choice_rows(rng, _PREF_EVENT_MIX[pref[er]])
    typ = np.array([_EV_VISIT, _EV_APP, _EV_OPEN])[kind]
    add(er, et, typ, np.array([_CH_WEB, _CH_APP, _CH_EMAIL])[kind])
    opens = typ == _EV_OPEN
    cr, ct = er[opens], et[opens]
    clicked = rng.random(cr.size) < _PREF_CLICK_PROB[pref[cr]]
    cr, ct = cr[clicked], ct[clicked] + rng.exponential(10.0 / 1440.0, int(clicked.sum()))
    ok = ct < tau[cr]
    add(cr[ok], ct[ok], np.int8(_EV_CLICK), np.int8(_CH_EMAIL))

    # support tickets: more frequent and unhappier during the disengagement window
    tr, tt = _poisson_process(rng, t0, engaged_end, np.full(hi - lo, _TICKET_RATE * _TICKET_BOOST))
    unhappy = tt >= tau[tr] - dec[tr]
    keep = rng.random(tr.size) < np.where(unhappy, 1.0, 1.0 / _TICKET_BOOST)
    tr, tt, unhappy = tr[keep], tt[keep], unhappy[keep]
    csat_p = np.where(unhappy[:, None], _CSAT_UNHAPPY, _CSAT_NORMAL)
    csat = _choice_rows(rng, csat_p).astype(np.float64) + 1.0
    tch = np.array([_CH_PHONE, _CH_CHAT, _CH_EMAIL])[
        _choice_rows(rng, _PREF_TICKET_CHANNEL[pref[tr]])
    ]
    add(tr, tt, np.int8(_EV_TICKET), tch, csat)

    # residual email opens after dropout
    rr, rt = _poisson_process(
        rng, np.minimum(tau, hist), np.full(hi - lo, hist), _PREF_RESIDUAL_OPEN[pref]
    )
    add(rr, rt, np.int8(_EV_OPEN), np.int8(_CH_EMAIL))

    # visits / app sessions leading up to each order
    via_app = channel == 1
    pre_typ = np.where(via_app, _EV_APP, _EV_VISIT)
    pre_ch = np.where(via_app, _CH_APP, _CH_WEB)
    pre = rng.random(n_ord) < _PRE_ORDER_PROB[channel]
    pt = np.maximum(t - rng.exponential(0.1, n_ord), t0[rows])
    add(rows[pre], pt[pre], pre_typ[pre], pre_ch[pre])
    n_browse = rng.poisson(_PRE_ORDER_BROWSE, n_ord)
    br = np.repeat(np.arange(n_ord), n_browse)
    bt = np.maximum(t[br] - rng.uniform(0.0, 3.0, br.size), t0[rows[br]])
    add(rows[br], bt, pre_typ[br], pre_ch[br])

    return {
        "ord_cust": (rows + lo).astype(np.int32),
        "ord_t": t,
        "ord_amount": amount,
        "ord_quantity": quantity,
        "ord_channel": channel.astype(np.int8),
        "ord_cat": cat.astype(np.int8),
        "ret_parent": parent,  # index into this block's orders
        "ret_t": ret_t[parent],
        "ret_amount": ret_amount,
        "ret_quantity": -items,
        "ev_cust": (np.concatenate(ev_rows) + lo).astype(np.int32),
        "ev_t": np.concatenate(ev_t),
        "ev_type": np.concatenate(ev_type),
        "ev_channel": np.concatenate(ev_ch),
        "ev_value": np.concatenate(ev_val),
    }


def _future_truth(
    lat: _Latent,
    season: np.ndarray,
    hist_days: int,
    churn_h: int,
    horizons: tuple[int, ...],
    paid_share: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Exact P(no paid order in the next ``churn_h`` days) and expected paid order counts.

    Conditions on: alive at the end of the history, lambda, mu, the loyalty join date and the
    seasonality (with any trend) - not on the realised dropout time. Rates are constant
    within each day, so the day-by-day recursion below is exact. Customers already dropped
    out get 1.0 and 0 orders. ``paid_share``: per customer, the probability that an order has
    a positive amount (paid orders are then a thinned Poisson process); None = all paid.
    """
    alive = lat.tau >= hist_days
    lam, mu0, join = lat.lam[alive], lat.mu0[alive], lat.join[alive]
    if paid_share is not None:
        lam = lam * paid_share[alive]
    mu1 = mu0 * _LOYAL_DROPOUT
    no_buy = np.ones(lam.size)  # P(alive and no order yet) at the start of the day
    surv = np.ones(lam.size)  # P(alive) at the start of the day
    p_none = np.zeros(lam.size)
    exp_orders = np.zeros(lam.size)
    churn_prob = np.ones(lat.lam.size)
    expected = {h: np.zeros(lat.lam.size) for h in horizons}
    for k in range(max(churn_h, *horizons)):
        d = hist_days + k
        member = join <= d
        lam_d = lam * season[d] * np.where(member, _LOYAL_RATE, 1.0)
        mu_d = np.where(member, mu1, mu0)
        tot = lam_d + mu_d
        p_none += no_buy * mu_d / tot * -np.expm1(-tot)
        no_buy *= np.exp(-tot)
        exp_orders += lam_d * surv * -np.expm1(-mu_d) / mu_d
        surv *= np.exp(-mu_d)
        if k + 1 == churn_h:
            churn_prob[alive] = p_none + no_buy
            if paid_share is not None:  # exactly 1 for customers who never pay
                churn_prob[alive & (paid_share == 0.0)] = 1.0
        if k + 1 in expected:
            expected[k + 1][alive] = exp_orders
    return churn_prob, expected


def _zero_amounts(
    rng: np.random.Generator,
    sim: dict[str, np.ndarray],
    n: int,
    customer_share: float,
    order_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Set some orders to $0 in place (and drop their returns); return the zero-only
    customers and each customer's probability that an order is paid."""
    zero_customer = rng.random(n) < customer_share
    cust = sim["ord_cust"]
    zero = zero_customer[cust] | (rng.random(cust.size) < order_share)
    sim["ord_amount"][zero] = 0.0
    keep = ~zero[sim["ret_parent"]]
    for key in ("ret_parent", "ret_t", "ret_amount", "ret_quantity"):
        sim[key] = sim[key][keep]
    paid_share = np.where(zero_customer, 0.0, 1.0 - order_share)
    return zero_customer, paid_share


_OWN_STREAM = 7_919  # seed suffix of the own columns' random stream
OWN_EVENT_TYPES = ("product_view", "cart_add", "complaint")
REGIONS = ("north", "south", "east", "west", "central")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
OWN_ATTRIBUTES = ("region", "age_band", "store_distance_km")


def _poisson_times(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, time) of a Poisson process at ``rate`` per day on [start, end)."""
    length = np.clip(end - start, 0.0, None)
    counts = rng.poisson(rate * length)
    rows = np.repeat(np.arange(start.size), counts)
    return rows, start[rows] + rng.random(rows.size) * length[rows]


def _own_events(
    rng: np.random.Generator,
    lat: _Latent,
    hist: float,
    ids: pa.Array,
    start_us: int,
    events: pd.DataFrame,
) -> pd.DataFrame:
    """``events`` plus product views, cart adds and complaints, sorted as the others.

    Views come at 2x the customer's purchase rate while active and fall to a fifth in the
    weeks of disengagement before dropout (nothing after it); a third of views add to the
    cart; complaints come at 1 in 1,000 days while active and at 1 in 40 days while
    disengaging (a strong churn signal that no standard column carries).
    """
    end = np.minimum(lat.tau, hist)
    fade = np.clip(lat.tau - lat.decline, lat.t0, end)  # disengagement starts
    parts = []
    for kind, (before, during) in {
        "product_view": (2.0 * lat.lam, 0.4 * lat.lam),
        "complaint": (np.full(lat.lam.size, 0.001), np.full(lat.lam.size, 0.025)),
    }.items():
        for lo, hi, rate in ((lat.t0, fade, before), (fade, end, during)):
            rows, t = _poisson_times(rng, lo, hi, rate)
            parts.append((rows, t, kind))
    views = np.concatenate([p[0] for p in parts if p[2] == "product_view"])
    view_t = np.concatenate([p[1] for p in parts if p[2] == "product_view"])
    cart = rng.random(views.size) < 1 / 3
    cart_t = np.minimum(view_t[cart] + rng.random(int(cart.sum())) / 96, hist - 1e-6)
    parts.append((views[cart], cart_t, "cart_add"))
    rows = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    kinds = np.concatenate([np.full(p[0].size, p[2], dtype=object) for p in parts])
    app = rng.random(rows.size) < 0.4
    extra = pd.DataFrame(
        {
            "customer_id": _str_series(pc.take(ids, pa.array(rows))),
            "timestamp": _to_timestamp(start_us, t),
            "event_type": pd.Series(kinds, dtype="str"),
            "channel": pd.Series(np.where(app, "app", "web"), dtype="str"),
            "value": np.full(rows.size, np.nan),
        }
    )
    both = pd.concat([events, extra], ignore_index=True)
    return both.sort_values(["timestamp", "customer_id", "event_type"], kind="stable").reset_index(
        drop=True
    )


def _own_attributes(rng: np.random.Generator, lat: _Latent) -> dict[str, pd.Series]:
    """Region (no signal), age band (younger customers drop out sooner) and the distance to
    the nearest store in km (frequent buyers live closer), as a CRM export would hold them."""
    n = lat.lam.size
    region = rng.choice(len(REGIONS), size=n, p=[0.25, 0.25, 0.2, 0.2, 0.1])
    z_mu = (np.log(lat.mu0) - np.log(lat.mu0).mean()) / np.log(lat.mu0).std()
    band = np.clip(np.round(2.0 - 0.9 * z_mu + rng.normal(0.0, 0.9, n)), 0, 4).astype(int)
    z_lam = (np.log(lat.lam) - np.log(lat.lam).mean()) / np.log(lat.lam).std()
    km = np.round(np.exp(np.log(8.0) - 0.45 * z_lam + rng.normal(0.0, 0.5, n)), 1)
    values = (
        _codes_to_str(region, REGIONS),
        _codes_to_str(band, AGE_BANDS),
        pd.Series(km, dtype="float64"),
    )
    return dict(zip(OWN_ATTRIBUTES, values, strict=True))


def _events_frame(sim: dict[str, np.ndarray], ids: pa.Array, start_us: int) -> pd.DataFrame:
    ev_perm = np.lexsort((sim["ev_type"], sim["ev_cust"], np.floor(sim["ev_t"] * _SECONDS_PER_DAY)))
    return pd.DataFrame(
        {
            "customer_id": _str_series(pc.take(ids, pa.array(sim["ev_cust"][ev_perm]))),
            "timestamp": _to_timestamp(start_us, sim["ev_t"][ev_perm]),
            "event_type": _codes_to_str(sim["ev_type"][ev_perm], EVENT_TYPES),
            "channel": _codes_to_str(sim["ev_channel"][ev_perm], EVENT_CHANNELS),
            "value": sim["ev_value"][ev_perm],
        }
    )


def _str_series(values: pa.Array) -> pd.Series:
    return pd.Series(values, dtype="str")


def _codes_to_str(codes: np.ndarray, names: tuple[str, ...]) -> pd.Series:
    return _str_series(pc.take(pa.array(names), pa.array(codes.astype(np.int32))))


def _padded(numbers: np.ndarray, width: int, prefix: str = "") -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def _to_timestamp(start_us: int, t_days: np.ndarray) -> pd.Series:
    """Float days since the start -> datetime64[us], floored to whole seconds."""
    seconds = np.floor(t_days * _SECONDS_PER_DAY).astype(np.int64)
    return pd.Series((start_us + seconds * 1_000_000).view("datetime64[us]"))


def generate_demo_data(
    n_customers: int = 5000,
    seed: int = 42,
    end_date: datetime.date = datetime.date(2026, 9, 30),
    years: float = 3.0,
    truth_horizon_days: int = 90,
    clv_horizon_days: int = 365,
    *,
    seasonality: bool = True,
    signup_growth: float = SIGNUP_GROWTH,
    rate_trend_per_year: float = 0.0,
    zero_customer_share: float = 0.0,
    zero_order_share: float = 0.0,
    with_events: bool = True,
    with_customers: bool = True,
    own_columns: bool = False,
    first_id: int = 1,
    id_width: int | None = None,
    order_prefix: str = "O",
) -> DemoData:
    """Simulate a retailer's customers up to and including ``end_date``, plus the truth.

    Deterministic in all arguments. All timestamps of the three input tables fall on or
    before ``end_date``. See the module docstring for the model and :class:`DemoData` for the
    truth columns. The keyword options vary the world (their defaults give the demo retailer,
    identical to the generator without them; :mod:`churnclv.scenarios` builds presets):

    * ``seasonality``: False makes every month factor 1 (no seasonal peaks or dips);
    * ``signup_growth``: the signup rate rises linearly from 1x on the first day to
      ``1 + signup_growth`` x on the last (> -1; negative = falling signups);
    * ``rate_trend_per_year``: every customer's purchase rate is multiplied by
      ``(1 + rate_trend_per_year) ** (days since the history start / 365.25)`` (> -1;
      -0.2 = customers buy 20% less each year), continued into the truth windows;
    * ``zero_customer_share``: this share of customers (drawn at random) only ever place $0
      orders (free samples); ``zero_order_share``: each order of everyone else is $0 with this
      probability. $0 orders are never returned. Labels and truth count *paid* orders only
      (amount > 0, as the features and labels do), and ``truth.zero_amount_customer`` flags
      the zero-only customers (when ``zero_customer_share > 0``);
    * ``with_events`` / ``with_customers``: False leaves that table out (None). The simulation
      is unchanged, so transactions and truth stay the same as with the table.
    * ``own_columns``: True adds what real data holds beyond the standard columns (see
      :func:`_own_events` and :func:`_own_attributes`): three more event types and three more
      customer columns, drawn from a stream of their own (everything else, the truth included,
      is the same as without them).
    * ``first_id``, ``id_width``, ``order_prefix``: the customer ids are ``first_id`` ... in
      ``id_width`` digits (default ``max(6, digits(n))``) and the order ids start with
      ``order_prefix``: a shard of a larger population (:func:`write_demo_shards`).
    """
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    if not years > 0:
        raise ValueError("years must be positive")
    if truth_horizon_days < 1 or clv_horizon_days < 1:
        raise ValueError("truth_horizon_days and clv_horizon_days must be at least 1")
    if not signup_growth > -1.0:
        raise ValueError("signup_growth must be greater than -1")
    if not rate_trend_per_year > -1.0:
        raise ValueError("rate_trend_per_year must be greater than -1")
    if not (0.0 <= zero_customer_share <= 1.0 and 0.0 <= zero_order_share <= 1.0):
        raise ValueError("zero_customer_share and zero_order_share must lie in [0, 1]")
    n = int(n_customers)
    hist_days = max(1, round(years * 365.25))
    horizon = max(truth_horizon_days, clv_horizon_days)
    sim_days = hist_days + horizon
    stop = pd.Timestamp(end_date) + pd.Timedelta(days=1)  # exclusive end of the history
    start = stop - pd.Timedelta(days=hist_days)
    start_us = int(np.datetime64(start.to_datetime64(), "us").astype(np.int64))
    dates = pd.date_range(start, periods=sim_days, freq="D")
    months = MONTH_SEASONALITY if seasonality else np.ones(12)
    trend = (1.0 + rate_trend_per_year) ** ((np.arange(sim_days) + 0.5) / 365.25)
    season = months[np.asarray(dates.month) - 1] * trend  # rate multiplier per day
    s_max = float(months.max() * trend.max())

    seeds = np.random.SeedSequence(seed)
    lat_seed, *block_seeds = seeds.spawn(1 + (n + _BLOCK - 1) // _BLOCK)
    lat = _draw_latent(np.random.default_rng(lat_seed), n, hist_days, signup_growth)
    blocks = [
        _simulate_block(
            np.random.default_rng(s),
            lat,
            lo,
            min(lo + _BLOCK, n),
            season,
            hist_days,
            sim_days,
            s_max,
        )
        for s, lo in zip(block_seeds, range(0, n, _BLOCK), strict=True)
    ]
    offsets = np.cumsum([0] + [b["ord_t"].size for b in blocks[:-1]])
    for b, o in zip(blocks, offsets, strict=True):
        b["ret_parent"] += o
    # concatenate key by key, releasing each block's array as soon as it is copied
    sim = {k: np.concatenate([b.pop(k) for b in blocks]) for k in list(blocks[0])}
    del blocks
    zero_customer, paid_share = None, None
    if zero_customer_share > 0.0 or zero_order_share > 0.0:
        zero_customer, paid_share = _zero_amounts(
            np.random.default_rng(seeds.spawn(1)[0]), sim, n, zero_customer_share, zero_order_share
        )

    width = id_width or max(6, len(str(n)))
    ids = _padded(np.arange(first_id, first_id + n), width)

    # --- transactions (history only): orders numbered in time order, returns "<id>-R"
    hist = float(hist_days)
    ord_past = np.flatnonzero(sim["ord_t"] < hist)
    ord_past = ord_past[np.lexsort((sim["ord_cust"][ord_past], sim["ord_t"][ord_past]))]
    order_no = np.full(sim["ord_t"].size, -1, dtype=np.int64)
    order_no[ord_past] = np.arange(1, ord_past.size + 1)
    ret_past = np.flatnonzero(sim["ret_t"] < hist)
    ret_parent = sim["ret_parent"][ret_past]
    order_width = max(7, len(str(ord_past.size)))
    cust = np.concatenate([sim["ord_cust"][ord_past], sim["ord_cust"][ret_parent]])
    t = np.concatenate([sim["ord_t"][ord_past], sim["ret_t"][ret_past]])
    number = np.concatenate([order_no[ord_past], order_no[ret_parent]])
    is_ret = np.concatenate([np.zeros(ord_past.size, bool), np.ones(ret_past.size, bool)])
    order_ids = pa.concat_arrays(
        [
            _padded(order_no[ord_past], order_width, order_prefix),
            pc.binary_join_element_wise(
                _padded(order_no[ret_parent], order_width, order_prefix), "-R", ""
            ),
        ]
    )
    perm = np.lexsort((is_ret, number, cust, np.floor(t * _SECONDS_PER_DAY)))
    src_ord = np.concatenate([ord_past, ret_parent])[perm]
    transactions = pd.DataFrame(
        {
            "customer_id": _str_series(pc.take(ids, pa.array(cust[perm]))),
            "timestamp": _to_timestamp(start_us, t[perm]),
            "amount": np.concatenate([sim["ord_amount"][ord_past], sim["ret_amount"][ret_past]])[
                perm
            ],
            "order_id": _str_series(pc.take(order_ids, pa.array(perm))),
            "quantity": np.concatenate(
                [sim["ord_quantity"][ord_past], sim["ret_quantity"][ret_past]]
            )[perm],
            "channel": _codes_to_str(sim["ord_channel"][src_ord], ORDER_CHANNELS),
            "category": _codes_to_str(sim["ord_cat"][src_ord], CATEGORIES),
        }
    )

    # --- events
    events = _events_frame(sim, ids, start_us) if with_events else None
    own_rng = np.random.default_rng([seed, _OWN_STREAM])  # apart from the simulation's streams
    if own_columns and events is not None:
        events = _own_events(own_rng, lat, float(hist_days), ids, start_us, events)
    for key in ("ev_cust", "ev_t", "ev_type", "ev_channel", "ev_value"):
        del sim[key]

    # --- customers
    member_at_end = lat.join < np.minimum(lat.tau, hist)
    customers = None
    if with_customers:
        customers = pd.DataFrame(
            {
                "customer_id": _str_series(ids),
                "signup_date": _to_timestamp(start_us, np.floor(lat.t0)),
                "acquisition_channel": _codes_to_str(lat.acq, ACQUISITION_CHANNELS),
                "loyalty_member": pd.array(member_at_end, dtype="boolean"),
            }
        )
        if own_columns:
            for name, values in _own_attributes(own_rng, lat).items():
                customers[name] = values

    # --- truth: the same process continued after end_date
    truth = pd.DataFrame({"customer_id": _str_series(ids)})
    dropped = lat.tau < sim_days
    tau_ts = _to_timestamp(start_us, np.where(dropped, lat.tau, 0.0))
    truth["dropout_date"] = tau_ts.where(dropped)
    truth["alive_at_end"] = lat.tau >= hist
    truth["purchase_rate_per_day"] = lat.lam
    truth["dropout_rate_per_day"] = lat.mu0
    truth["mean_spend"] = lat.spend
    effective_join = lat.join < np.minimum(lat.tau, sim_days)
    join_ts = _to_timestamp(start_us, np.where(effective_join, lat.join, 0.0))
    truth["loyalty_join_date"] = join_ts.where(effective_join)
    truth["preferred_contact_channel"] = _codes_to_str(lat.pref, PREFERRED_CONTACT)
    truth["disengagement_start"] = _to_timestamp(
        start_us, np.where(dropped, lat.tau - lat.decline, 0.0)
    ).where(dropped)
    if zero_customer is not None:
        truth["zero_amount_customer"] = zero_customer
    churn_prob, expected = _future_truth(
        lat,
        season,
        hist_days,
        truth_horizon_days,
        (truth_horizon_days, clv_horizon_days),
        paid_share,
    )
    paid = sim["ord_amount"] > 0
    for h in dict.fromkeys((truth_horizon_days, clv_horizon_days)):
        in_win = (sim["ord_t"] >= hist) & (sim["ord_t"] < hist + h)
        ret_win = (sim["ret_t"] >= hist) & (sim["ret_t"] < hist + h)
        orders = np.bincount(sim["ord_cust"][in_win & paid], minlength=n)
        spend = np.bincount(sim["ord_cust"][in_win], sim["ord_amount"][in_win], minlength=n)
        spend += np.bincount(
            sim["ord_cust"][sim["ret_parent"][ret_win]], sim["ret_amount"][ret_win], minlength=n
        )
        truth[f"future_orders_{h}d"] = orders.astype(np.int64)
        truth[f"future_spend_{h}d"] = np.round(spend, 2)
        truth[f"expected_orders_{h}d"] = expected[h]
        if h == truth_horizon_days:
            truth[f"churned_{h}d"] = orders == 0
            truth[f"true_churn_probability_{h}d"] = churn_prob
    return DemoData(transactions, events, customers, truth)


_CSV_DATE_FORMAT = {
    "transactions": "%Y-%m-%d %H:%M:%S",
    "events": "%Y-%m-%d %H:%M:%S",
    "customers": "%Y-%m-%d",
    "subscriptions": "%Y-%m-%d",
    "truth": "%Y-%m-%d %H:%M:%S",
}
_TABLES = ("transactions", "events", "customers", "subscriptions", "truth")
_OPTIONAL_TABLES = ("events", "customers", "subscriptions")


def write_demo_data(
    data: DemoData, out_dir: pathlib.Path, fmt: Literal["csv", "parquet"] = "csv"
) -> dict[str, pathlib.Path]:
    """Write transactions/events/customers/subscriptions/truth as out_dir/<name>.<ext>; each
    file written atomically (write to a temp file in the same dir, then os.replace). Returns
    name -> path.

    A table that is None (a scenario without events, customers or subscriptions) gets no
    file; if out_dir already holds one for it (e.g. from an earlier run), the loader would
    read it with the new data, so FileExistsError is raised before anything is written.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out_dir = pathlib.Path(out_dir)
    names = [n for n in _TABLES if getattr(data, n) is not None]
    _refuse_stale(data, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, pathlib.Path] = {}
    for name in names:
        frame: pd.DataFrame = getattr(data, name)
        target = out_dir / f"{name}.{fmt}"
        with atomic_path(target) as tmp:
            if fmt == "csv":
                frame.to_csv(tmp, index=False, date_format=_CSV_DATE_FORMAT[name])
            else:
                frame.to_parquet(tmp, index=False)
        paths[name] = target
    return paths


def _refuse_stale(data: DemoData, out_dir: pathlib.Path) -> None:
    """FileExistsError when ``out_dir`` holds a file for a table this data does not have (the
    loader would read the old file with the new data)."""
    for name in _OPTIONAL_TABLES:
        if getattr(data, name) is not None:
            continue
        for stale in (f"{name}.parquet", f"{name}.csv", f"{name}.csv.gz", name):
            if (out_dir / stale).exists():
                raise FileExistsError(
                    f"{out_dir / stale} exists but this data has no {name} table; the loader "
                    "would read the old file: remove it or write to another folder"
                )


DEMO_SHARD = 1_000_000
"""Customers simulated at a time when a demo is larger (memory grows with the shard)."""


def write_demo_shards(
    make: Callable[..., DemoData],
    n_customers: int,
    seed: int,
    out_dir: pathlib.Path,
    fmt: Literal["csv", "parquet"] = "csv",
    shard: int = DEMO_SHARD,
    progress: Callable[[int], None] | None = None,
) -> dict[str, tuple[pathlib.Path, int]]:
    """A demo of ``n_customers`` simulated ``shard`` customers at a time and appended to one
    file per table, so memory holds one shard (10 million customers fit the machine).

    ``make(n, seed, first_id=, id_width=, order_prefix=)`` simulates one shard (options of
    :func:`generate_demo_data`); shard ``i`` gets the seed ``(seed, i)``, the ids after the
    previous shards' and order ids starting with ``O<i>-``. Customers are simulated independently of each other, so shards of one retailer
    are that retailer. Files are written beside their target and swapped in at the end.
    Returns name -> (path, rows).
    """

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(n_customers)))
    paths: dict[str, pathlib.Path] = {}
    tmps: dict[str, pathlib.Path] = {}
    rows: dict[str, int] = {}
    # every file written beside its target and swapped in when all shards are done (the
    # stack closes the Parquet writers before it swaps)
    with contextlib.ExitStack() as stack:
        parquet: dict[str, ParquetRowGroups] = {}
        for i, first in enumerate(range(0, n_customers, shard)):
            n = min(shard, n_customers - first)
            state = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            data = make(n, state, first_id=first + 1, id_width=width, order_prefix=f"O{i}-")
            if i == 0:
                _refuse_stale(data, out_dir)
            for name in _TABLES:
                frame = getattr(data, name)
                if frame is None:
                    continue
                if name not in paths:
                    paths[name] = out_dir / f"{name}.{fmt}"
                    tmps[name] = stack.enter_context(atomic_path(paths[name]))
                    if fmt == "parquet":
                        parquet[name] = ParquetRowGroups(tmps[name])
                        stack.callback(parquet[name].close)
                if fmt == "csv":
                    frame.to_csv(
                        tmps[name], index=False, mode="a",
                        header=name not in rows, date_format=_CSV_DATE_FORMAT[name],
                    )  # fmt: skip
                else:
                    parquet[name].add(frame)
                rows[name] = rows.get(name, 0) + len(frame)
            if progress is not None:
                progress(first + n)
    return {name: (path, rows[name]) for name, path in paths.items()}
