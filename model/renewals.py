"""Subscription value: the renewals ahead of an active subscriber, priced and discounted.

A subscriber whose next renewal is ``t_1`` days after the scoring date and who is billed every
``P`` days renews on the days ``r_j = t_1 + (j - 1) P`` (j = 1, 2, ...). Each renewal is kept
with the chance ``q_j`` of still being a customer after it (their *survival* to renewal j), and
brings one ``price``. Over a horizon of ``H`` days:

* expected renewal revenue ``= price x sum_{r_j <= H} S_j``,
* value ``= margin x price x sum_{r_j <= H} S_j / (1 + d) ** (r_j / 30.4375)`` (``d`` the
  monthly discount rate, as :mod:`model.clv` discounts),
* value if retained: the same with ``S_j = 1``.

The survival comes from a per-renewal retention ``q`` (``S_j = q ** j``): the churn model says
P(no subscription on the horizon's last day) ``= 1 - q ** k_h`` for the ``k_h`` renewals inside
the churn horizon, so ``q = (1 - p) ** (1 / k_h)`` (:func:`per_renewal_retention`); a
subscriber with no renewal inside the churn horizon (an annual plan renewing later) gets a
retention fitted in training instead. The revenue is a discrete outcome (the customer leaves at
renewal ``m`` or stays throughout), so its 80% range is read off that distribution exactly
(:func:`renewal_value`).

Pure numpy, vectorised over customers; the loop runs over renewals (at most ``H / P``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.clv import DAYS_PER_MONTH

LOW, HIGH = 0.1, 0.9
"""Quantiles of the 80% range."""


def renewals_within(
    days_to_renewal: np.ndarray, period_days: np.ndarray, horizon_days: float
) -> np.ndarray:
    """How many renewal days ``t_1 + (j - 1) P`` fall in ``(0, horizon]`` (0 when the first
    is later), as integers; 0 where the inputs are unknown."""
    t1 = np.asarray(days_to_renewal, dtype=float)
    period = np.asarray(period_days, dtype=float)
    with np.errstate(invalid="ignore"):
        k = np.floor((horizon_days - t1) / period) + 1
    k = np.where(np.isfinite(k) & (t1 <= horizon_days) & (period > 0), k, 0)
    return np.maximum(k, 0).astype(np.int64)


def per_renewal_retention(
    churn_probability: np.ndarray, renewals_in_horizon: np.ndarray, fallback: np.ndarray
) -> np.ndarray:
    """The chance of keeping each renewal, ``(1 - p) ** (1 / k_h)``, from the churn
    probability over a horizon holding ``k_h`` renewals; ``fallback`` where ``k_h`` is 0 or
    the probability unknown."""
    p = np.clip(np.asarray(churn_probability, dtype=float), 0.0, 1.0)
    k = np.asarray(renewals_in_horizon)
    fallback = np.broadcast_to(np.asarray(fallback, dtype=float), p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.power(1.0 - p, 1.0 / np.where(k > 0, k, 1))
    return np.where((k > 0) & np.isfinite(p), q, fallback)


@dataclass(frozen=True)
class RenewalValue:
    """Per customer: expected renewals and revenue over the horizon, the discounted value
    (margin applied) with its 80% range, and the value if they stay."""

    renewals: np.ndarray
    revenue: np.ndarray
    value: np.ndarray
    value_low: np.ndarray
    value_high: np.ndarray
    value_if_retained: np.ndarray


def renewal_value(
    price: np.ndarray,
    days_to_renewal: np.ndarray,
    period_days: np.ndarray,
    retention: np.ndarray | Callable[[int], np.ndarray],
    horizon_days: float,
    monthly_discount_rate: float,
    gross_margin: float = 1.0,
) -> RenewalValue:
    """The renewals ahead over ``horizon_days`` (see the module doc). ``retention``: the
    per-renewal chance ``q`` of each customer (``S_j = q ** j``), or a function giving each
    customer's survival ``S_j`` to renewal ``j`` (non-increasing in ``j``; e.g. an sBG curve
    given the renewals done). Unknown inputs give 0 renewals (and values of 0): callers apply
    it to active subscribers only."""
    price = np.nan_to_num(np.asarray(price, dtype=float))
    t1 = np.asarray(days_to_renewal, dtype=float)
    period = np.asarray(period_days, dtype=float)
    if callable(retention):
        survival_to = retention
    else:
        q = np.clip(np.nan_to_num(np.asarray(retention, dtype=float)), 0.0, 1.0)

        def survival_to(j: int) -> np.ndarray:
            return q**j

    k = renewals_within(t1, period, horizon_days)
    n = len(price)
    renewals, value, retained = np.zeros(n), np.zeros(n), np.zeros(n)
    # the outcome "leaves at renewal m" (m = 1..k) or "stays": P(M = m) = q^(m-1) (1 - q);
    # its value is the discounted renewals before m. Walking m upwards, the value grows, so the
    # quantiles are the first m at which the cumulative probability reaches LOW / HIGH.
    cum_p, cum_v = np.zeros(n), np.zeros(n)
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    survive = np.ones(n)
    daily = (1.0 + monthly_discount_rate) ** (-1.0 / DAYS_PER_MONTH)
    for j in range(1, int(k.max(initial=0)) + 1):
        live = j <= k
        after = np.clip(np.nan_to_num(survival_to(j)), 0.0, survive)  # S_j <= S_(j-1)
        leave_now = np.where(live, survive - after, 0.0)  # P(M = j)
        cum_p = cum_p + leave_now
        low = np.where(np.isnan(low) & live & (cum_p >= LOW), cum_v, low)
        high = np.where(np.isnan(high) & live & (cum_p >= HIGH), cum_v, high)
        survive = np.where(live, after, survive)
        disc = daily ** (t1 + (j - 1) * period)
        step = np.where(live, price * disc, 0.0)
        renewals += np.where(live, survive, 0.0)
        value += step * survive
        retained += step
        cum_v = cum_v + step
    # the rest of the probability is "stays throughout": the whole value
    low = np.where(np.isnan(low), cum_v, low)
    high = np.where(np.isnan(high), cum_v, high)
    revenue = price * renewals
    m = gross_margin
    return RenewalValue(renewals, revenue, m * value, m * low, m * high, m * retained)
