"""Demo-data scenarios: presets that stress the models beyond the friendly demo retailer.

``churnclv demo-data --scenario NAME`` writes the usual files (``transactions.*``, optionally
``events.*``, ``customers.*`` and ``subscriptions.*``, and ``truth.*``). Every truth table has
``churned_{h}d``, ``future_orders_{h}d``, ``future_spend_{h}d``,
``true_churn_probability_{h}d`` and ``future_orders_{C}d``, ``future_spend_{C}d`` for the
scenario's churn horizon ``h`` and CLV horizon ``C`` (:data:`SCENARIOS`; pass the same to
``churnclv train --churn-horizon h --clv-horizon C``).

* ``retail``: the demo retailer of :mod:`churnclv.demo_data`, unchanged (3 years, seasonal).
* ``btyd``: a pure BG/NBD + Gamma-Gamma world at known parameters (:data:`BGNBD_TRUE`,
  :data:`GAMMA_GAMMA_TRUE`), transactions only, with the Bayes-optimal oracle in the truth
  (see :func:`generate_btyd_data`). Horizons 91 / 364 days (13 / 52 weeks).
* ``short``: the retailer with :data:`SHORT_YEARS` years of history, shorter than the CLV
  horizon.
* ``launch``: the retailer in its first :data:`LAUNCH_DAYS` days, too short for any backtest:
  the label-free BG/NBD + Gamma-Gamma model serves.
* ``transactions-only``: the retailer without the events and customers tables (both are
  optional inputs); transactions and truth are those of ``retail`` with the same seed.
* ``zero-amounts``: the retailer where :data:`ZERO_CUSTOMER_SHARE` of the customers only ever
  place $0 orders and :data:`ZERO_ORDER_SHARE` of everyone else's orders are $0 (free samples,
  vouchers); truth counts paid orders only, as the labels do.
* ``trend``: the retailer without seasonality, with signups growing strongly
  (:data:`TREND_SIGNUP_GROWTH`) while every customer's purchase rate falls
  (:data:`TREND_RATE_PER_YEAR` a year): total revenue grows, revenue per customer shrinks, so
  a model fitted on older windows overestimates what each customer will buy.
* ``subscription``: a subscription business (:mod:`churnclv.subscription_demo`): monthly and
  annual plans, renewals, cancellations, payment failures, a price increase, plan changes
  and pauses, with the optional ``subscriptions`` table beside transactions (every renewal
  charge is one), events and customers. Its truth labels subscribers at the end by
  contract (``churned_{h}d``: no subscription row active on day end + h) and everyone else
  as the retailer (no purchase in the window), and adds ``subscriber_at_end``,
  ``future_renewal_revenue_{h,C}d`` and ``expected_renewal_revenue_{h,C}d``.

Pure functions of their arguments (deterministic in the seed), vectorised numpy.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from churnclv.demo_data import (
    DemoData,
    _padded,
    _str_series,
    _to_timestamp,
    generate_demo_data,
)
from churnclv.subscription_demo import generate_subscription_data
from model.btyd import BGNBD, GammaGamma

__all__ = [
    "BGNBD_TRUE",
    "BTYD_HISTORY_DAYS",
    "GAMMA_GAMMA_TRUE",
    "SCENARIOS",
    "Scenario",
    "btyd_history_summary",
    "generate_btyd_data",
    "generate_scenario",
    "scenario_settings",
]

DEFAULT_END_DATE = datetime.date(2026, 9, 30)
_SECONDS_PER_DAY = 86_400

BGNBD_TRUE = BGNBD(r=0.5, alpha=20.0, a=0.8, b=2.5)
"""True BG/NBD parameters of the ``btyd`` scenario, time in days. Purchase rate
lambda ~ Gamma(shape r=0.5, rate alpha=20 days): median 0.0114/day (one purchase every 88 days,
about 3 months), mean 0.025/day (every 40 days), 0.5% of customers above 0.2/day. Dropout
probability after each repeat purchase p ~ Beta(a=0.8, b=2.5): mean 0.24, so about 4 repeat
purchases before dropping out on average, with many loyal customers (p near 0)."""

GAMMA_GAMMA_TRUE = GammaGamma(p=6.0, q=4.0, v=25.0)
"""True Gamma-Gamma parameters of the ``btyd`` scenario (currency units): each purchase
~ Gamma(shape p=6, rate nu), nu ~ Gamma(shape q=4, rate v=25) per customer. Population mean
spend per purchase p v / (q - 1) = 50; within a customer the coefficient of variation is
1/sqrt(6) = 0.41, between customers' means 1/sqrt(q - 2) = 0.71."""

BTYD_HISTORY_DAYS = 546  # 78 weeks
SHORT_YEARS = 0.8  # 292 days of history
LAUNCH_DAYS = 75  # under the 88 days a backtest needs
ZERO_CUSTOMER_SHARE = 0.015
ZERO_ORDER_SHARE = 0.03
TREND_SIGNUP_GROWTH = 9.0  # the last day of the history gets 10x the signups of the first
TREND_RATE_PER_YEAR = -0.2  # each customer's purchase rate falls 20% a year


@dataclass(frozen=True)
class Scenario:
    """A scenario's name, a one-line description and its recommended horizons (days)."""

    name: str
    description: str
    churn_horizon_days: int
    clv_horizon_days: int


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("retail", "the demo retailer: 3 years, seasonal, events and customers", 90, 365),
        Scenario(
            "btyd",
            "pure BG/NBD + Gamma-Gamma at known parameters, 78 weeks, transactions only, "
            "with the Bayes-optimal oracle",
            91,
            364,
        ),
        Scenario("short", f"the retailer with {SHORT_YEARS:g} years of history", 90, 365),
        Scenario(
            "launch", f"the retailer's first {LAUNCH_DAYS} days: too short for a backtest", 90, 365
        ),
        Scenario("transactions-only", "the retailer without events and customers tables", 90, 365),
        Scenario(
            "zero-amounts",
            f"the retailer with {ZERO_CUSTOMER_SHARE:.1%} $0-only customers and "
            f"{ZERO_ORDER_SHARE:.0%} $0 orders",
            90,
            365,
        ),
        Scenario(
            "own-columns",
            "the retailer with three more event types (product_view, cart_add, complaint) and "
            "three more customer columns (region, age_band, store_distance_km)",
            90,
            365,
        ),
        Scenario(
            "trend",
            "no seasonality, signups growing 10x over the history, purchase rates falling "
            f"{-TREND_RATE_PER_YEAR:.0%} a year",
            90,
            365,
        ),
        Scenario(
            "subscription",
            "a subscription business: monthly/annual plans, renewals, cancellations, payment "
            "failures, a price increase; with a subscriptions table and contractual churn truth",
            90,
            365,
        ),
    )
}


def scenario_settings(name: str) -> Scenario:
    """The scenario called ``name``; ValueError naming the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise ValueError(f"unknown scenario {name!r}; choose one of: {known}") from None


def generate_scenario(
    name: str,
    n_customers: int = 5000,
    seed: int = 42,
    end_date: datetime.date = DEFAULT_END_DATE,
    churn_horizon_days: int | None = None,
    clv_horizon_days: int | None = None,
    **shard: object,
) -> DemoData:
    """Generate the scenario ``name``; horizons default to the scenario's recommended ones.
    ``shard``: ``first_id``, ``id_width``, ``order_prefix`` of one shard of a larger demo
    (:func:`churnclv.demo_data.write_demo_shards`; not for ``btyd``)."""
    sc = scenario_settings(name)
    h = sc.churn_horizon_days if churn_horizon_days is None else churn_horizon_days
    c = sc.clv_horizon_days if clv_horizon_days is None else clv_horizon_days
    if name == "btyd":
        if shard:
            raise ValueError("the btyd scenario is generated whole, not in shards")
        return generate_btyd_data(
            n_customers, seed, end_date, churn_horizon_days=h, clv_horizon_days=c
        )
    if name == "subscription":
        return generate_subscription_data(n_customers, seed, end_date, h, c, **shard)
    options: dict[str, object] = {
        "retail": {},
        "short": {"years": SHORT_YEARS},
        "launch": {"years": LAUNCH_DAYS / 365.25},
        "transactions-only": {"with_events": False, "with_customers": False},
        "own-columns": {"own_columns": True},
        "zero-amounts": {
            "zero_customer_share": ZERO_CUSTOMER_SHARE,
            "zero_order_share": ZERO_ORDER_SHARE,
        },
        "trend": {
            "seasonality": False,
            "signup_growth": TREND_SIGNUP_GROWTH,
            "rate_trend_per_year": TREND_RATE_PER_YEAR,
        },
    }[name]
    return generate_demo_data(
        n_customers=n_customers,
        seed=seed,
        end_date=end_date,
        truth_horizon_days=h,
        clv_horizon_days=c,
        **options,  # type: ignore[arg-type]
        **shard,  # type: ignore[arg-type]
    )


# --- btyd ------------------------------------------------------------------------------------


def btyd_history_summary(
    customer: np.ndarray, day: np.ndarray, cents: np.ndarray, n: int, cutoff_day: int
) -> pd.DataFrame:
    """The BTYD summary of each customer 0..n-1 exactly as ``features/rfm.py`` computes it.

    Inputs: one row per transaction visible at the cutoff with the customer's index, the
    calendar day (integer) and the amount in cents (all > 0, so every row is a purchase).
    A purchase day is a calendar day with a purchase; ``x`` = purchase days - 1, ``t_x`` =
    last - first purchase day, ``T`` = ``cutoff_day`` - first purchase day,
    ``monetary_value`` = mean net amount of the purchase days after the first (0 if none).
    Customers without a purchase get x = 0 and NaN elsewhere.
    """
    order = np.lexsort((day, customer))
    c, d, a = customer[order], day[order], cents[order].astype(np.int64)
    new_day = np.ones(c.size, dtype=bool)
    new_day[1:] = (c[1:] != c[:-1]) | (d[1:] != d[:-1])
    day_start = np.flatnonzero(new_day)
    day_cust, day_day = c[day_start], d[day_start]
    day_net = np.add.reduceat(a, day_start) if a.size else a
    n_days = np.bincount(day_cust, minlength=n)
    first_day = np.full(n, -1, dtype=np.int64)
    last_day = np.full(n, -1, dtype=np.int64)
    first_net = np.zeros(n, dtype=np.int64)
    is_first = np.ones(day_cust.size, dtype=bool)
    is_first[1:] = day_cust[1:] != day_cust[:-1]
    first_day[day_cust[is_first]] = day_day[is_first]
    first_net[day_cust[is_first]] = day_net[is_first]
    last_day[day_cust] = day_day  # sorted by day within a customer: the last write wins
    total = np.bincount(day_cust, weights=day_net, minlength=n)  # exact below 2^53 cents
    x = np.maximum(n_days - 1, 0)
    bought = n_days > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, (total - first_net) / np.maximum(x, 1) / 100.0, 0.0)
    return pd.DataFrame(
        {
            "x": x.astype(np.int64),
            "t_x": np.where(bought, last_day - first_day, np.nan),
            "T": np.where(bought, cutoff_day - first_day, np.nan),
            "monetary_value": np.where(bought, m, np.nan),
        }
    )


def generate_btyd_data(
    n_customers: int = 5000,
    seed: int = 42,
    end_date: datetime.date = DEFAULT_END_DATE,
    history_days: int = BTYD_HISTORY_DAYS,
    churn_horizon_days: int = 91,
    clv_horizon_days: int = 364,
    model: BGNBD = BGNBD_TRUE,
    spend: GammaGamma = GAMMA_GAMMA_TRUE,
) -> DemoData:
    """A pure BG/NBD + Gamma-Gamma world: transactions up to ``end_date`` and the truth.

    Each customer's first purchase time is uniform over the ``history_days`` days ending with
    ``end_date`` (cohorts); ids are zero-padded numbers in that order. From the first purchase
    on, purchases follow a Poisson process with rate lambda ~ Gamma(r, alpha) in **continuous
    time**; after each repeat purchase the customer drops out for good with probability
    p ~ Beta(a, b). Every purchase (the first included) is one transaction row with its own
    order id and amount ~ Gamma(p_GG, nu), nu ~ Gamma(q, v) per customer, rounded to cents
    (at least 0.01). Two purchases on one calendar day stay two rows, but the features (and
    BG/NBD with freq='D') count one purchase day: the summary the oracle uses collapses them
    the same way. With the default parameters about 2% of the rows share their customer and
    day with an earlier row.

    Truth (one row per customer; windows start at midnight after ``end_date``): for H = the
    churn horizon and C = the CLV horizon, ``future_orders_{H,C}d`` (purchases in the window),
    ``future_spend_{H,C}d``, ``churned_Hd`` (no purchase), ``true_churn_probability_Hd`` and
    ``oracle_revenue_{H,C}d``: the Bayes-optimal forecasts at the true parameters from the
    history summary the features see (``btyd_x, btyd_t_x, btyd_T, btyd_monetary_value``,
    :func:`btyd_history_summary`): P(no purchase in H days) and expected purchases x expected
    spend per purchase. Also the latent state: ``alive_at_end``, ``purchase_rate_per_day``,
    ``dropout_probability``, ``mean_spend`` (p_GG / nu), ``latent_churn_probability_Hd``
    (exp(-lambda H) if alive, else 1: what knowing the latent state would allow) and the
    summary itself (``x, t_x, T, monetary_value``).
    """
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    if history_days < 1:
        raise ValueError("history_days must be at least 1")
    if churn_horizon_days < 1 or clv_horizon_days < 1:
        raise ValueError("churn_horizon_days and clv_horizon_days must be at least 1")
    n, hist = int(n_customers), int(history_days)
    sim_days = hist + max(churn_horizon_days, clv_horizon_days)
    stop = pd.Timestamp(end_date) + pd.Timedelta(days=1)
    start_us = int(
        np.datetime64((stop - pd.Timedelta(days=hist)).to_datetime64(), "us").astype(np.int64)
    )

    rng = np.random.default_rng(np.random.SeedSequence(seed))
    t0 = np.sort(np.minimum(rng.random(n) * hist, np.nextafter(float(hist), 0.0)))
    lam = rng.gamma(model.r, 1.0 / model.alpha, n)
    p_drop = rng.beta(model.a, model.b, n)
    nu = rng.gamma(spend.q, 1.0 / spend.v, n)
    repeats_max = rng.geometric(p_drop)  # the K-th repeat purchase is the last one
    # repeat purchases: Poisson arrivals on [t0, sim_days), the first K kept
    length = sim_days - t0
    count = rng.poisson(lam * length)
    rows = np.repeat(np.arange(n), count)
    t = t0[rows] + rng.random(rows.size) * length[rows]
    order = np.lexsort((t, rows))
    rows, t = rows[order], t[order]
    rank = np.arange(rows.size) - np.repeat(np.cumsum(count) - count, count)
    keep = rank < repeats_max[rows]
    rows = np.concatenate([np.arange(n), rows[keep]])
    t = np.concatenate([t0, t[keep]])
    amount = np.maximum(np.round(rng.gamma(spend.p, 1.0 / nu[rows]), 2), 0.01)
    seconds = np.floor(t * _SECONDS_PER_DAY).astype(np.int64)

    # --- transactions: history only, in time order, orders numbered in that order
    past = np.flatnonzero(t < hist)
    past = past[np.lexsort((t[past], rows[past], seconds[past]))]
    width = max(6, len(str(n)))
    ids = _padded(np.arange(1, n + 1), width)
    id_width = max(7, len(str(past.size)))
    transactions = pd.DataFrame(
        {
            "customer_id": _str_series(ids.take(pa.array(rows[past]))),
            "timestamp": _to_timestamp(start_us, t[past]),
            "amount": amount[past],
            "order_id": _str_series(_padded(np.arange(1, past.size + 1), id_width, "O")),
        }
    )

    # --- truth
    summary = btyd_history_summary(
        rows[past],
        seconds[past] // _SECONDS_PER_DAY,
        np.round(amount[past] * 100).astype(np.int64),
        n,
        hist - 1,
    )
    x, t_x, big_t, m = (summary[c].to_numpy() for c in ("x", "t_x", "T", "monetary_value"))
    repeats_in_history = np.bincount(rows[past], minlength=n) - 1
    alive = repeats_in_history < repeats_max
    truth = pd.DataFrame({"customer_id": _str_series(ids)})
    truth["alive_at_end"] = alive
    truth["purchase_rate_per_day"] = lam
    truth["dropout_probability"] = p_drop
    truth["mean_spend"] = spend.p / nu
    truth = pd.concat([truth, summary], axis=1)
    expected_spend = spend.expected_spend(x, m)
    for h in dict.fromkeys((churn_horizon_days, clv_horizon_days)):
        win = (t >= hist) & (t < hist + h)
        orders = np.bincount(rows[win], minlength=n)
        truth[f"future_orders_{h}d"] = orders.astype(np.int64)
        truth[f"future_spend_{h}d"] = np.round(np.bincount(rows[win], amount[win], minlength=n), 2)
        if h == churn_horizon_days:
            truth[f"churned_{h}d"] = orders == 0
            truth[f"true_churn_probability_{h}d"] = model.p_no_purchase(h, x, t_x, big_t)
            truth[f"latent_churn_probability_{h}d"] = np.where(alive, np.exp(-lam * h), 1.0)
        truth[f"oracle_revenue_{h}d"] = model.expected_purchases(h, x, t_x, big_t) * expected_spend
    return DemoData(transactions, None, None, truth)
