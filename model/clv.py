"""The one CLV computation, used by training (backtest, baselines), scoring, the API, Spark and
the MLflow model: pure functions on arrays.

CLV over the CLV horizon H after the scoring date is the predicted revenue of each month of the
horizon, with margin and discounting applied per month::

    CLV_i = margin * sum_k R_i * w_ik * s_k / (1 + d) ** m_k

* ``R_i``: the predicted net revenue of customer i over the label horizon L (the days the revenue
  model was trained on, normally the churn horizon);
* ``w_ik = (E_i(b_k) - E_i(a_k)) / E_i(L)``: the customer's own expected purchases in month k =
  (a_k, b_k] relative to those in (0, L], where ``E_i(t)`` is the BG/NBD expected number of
  purchase days in (0, t] given the customer's history. It carries both the customer's purchase
  rate and their chance of still being active, so a customer who buys twice a year keeps buying
  in the later months (a quiet quarter is not read as leaving for good), while one who has
  probably left adds little;
* ``s_k``: the seasonal factor of month k (1 without a seasonal index);
* ``m_k``: months from the scoring date to the end of month k; ``d`` the monthly discount rate.

The same weights carry a prediction from the label horizon to another horizon (short histories,
where the model could only learn a shorter label): revenue by the ratio of expected purchases,
churn by shifting the log-odds by the BG/NBD model's own difference between the two horizons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 365.25 / 12
_EPS = 1e-9
Z80 = 1.2815515655446004
"""The standard normal's 90th percentile: an 80% interval spans +-Z80 standard deviations."""


def period_edges(horizon_days: float) -> np.ndarray:
    """Day offsets 0 = e_0 < e_1 < ... < e_K = horizon of the months that cover the horizon
    (the last one shorter or, by under a day, longer when the horizon is not a whole number of
    months)."""
    if horizon_days <= 0:
        raise ValueError(f"horizon must be positive, got {horizon_days}")
    inner = np.arange(1, int(np.ceil(horizon_days / DAYS_PER_MONTH))) * DAYS_PER_MONTH
    # a last piece shorter than a day joins the month before it
    return np.concatenate([[0.0], inner[inner < horizon_days - 1.0], [float(horizon_days)]])


def season_factor(index: Sequence[float] | None, start: dt.date | None, days: float) -> float:
    """Mean monthly factor of ``index`` (January first) over the days in (start, start + days];
    1.0 without an index."""
    if index is None:
        return 1.0
    if start is None:
        raise ValueError("this model adjusts revenue for the season: pass the scoring date")
    first = np.datetime64(pd.Timestamp(start).date(), "D") + 1
    span = first + np.arange(max(1, round(days)))
    month = span.astype("datetime64[M]").astype(np.int64) % 12  # 0 = January
    return float(np.asarray(index)[month].mean())


def horizon_weights(cumulative: np.ndarray, cumulative_label: np.ndarray) -> np.ndarray:
    """``w_ik``: expected purchases in each period relative to the label horizon.

    ``cumulative``: (customers, K) expected purchases up to each period end e_1..e_K;
    ``cumulative_label``: expected purchases up to the label horizon. A customer expected to
    make no purchase at all gets weight 0 (their predicted revenue is ~0 too).
    """
    cumulative = np.asarray(cumulative, dtype=float)
    inc = np.diff(cumulative, axis=1, prepend=0.0)
    label = np.asarray(cumulative_label, dtype=float)[:, None]
    return np.where(label > _EPS, np.clip(inc, 0.0, None) / np.maximum(label, _EPS), 0.0)


def discount_factors(edges: np.ndarray, monthly_discount_rate: float) -> np.ndarray:
    """1 / (1 + d) ** (months to the end of each period)."""
    months = np.asarray(edges[1:], dtype=float) / DAYS_PER_MONTH
    return 1.0 / (1.0 + monthly_discount_rate) ** months


def clv_from_revenue(
    revenue_label: np.ndarray,
    weights: np.ndarray,
    discount: np.ndarray,
    gross_margin: float,
    season: np.ndarray | None = None,
) -> np.ndarray:
    """CLV = margin * sum_k R * w_k * s_k * discount_k (see the module docstring)."""
    per_period = np.asarray(discount, dtype=float)
    if season is not None:
        per_period = per_period * np.asarray(season, dtype=float)
    return gross_margin * np.asarray(revenue_label, dtype=float) * (weights @ per_period)


RUN_RATE_MIN_DAYS = 90
"""A customer's spend rate is taken over at least this many days: a first order placed
yesterday is not annualised as if it came every day."""


def value_if_retained(
    spend_365d: np.ndarray,
    tenure_days: np.ndarray,
    edges: np.ndarray,
    discount: np.ndarray,
    gross_margin: float,
    season: np.ndarray | None = None,
) -> np.ndarray:
    """What a customer brings over the CLV horizon if they stay and keep buying as they did:
    margin * their net spend rate of the last year * the days of each month of the horizon,
    discounted (and seasonally adjusted) per month as CLV is.

    The rate is the net spend of the last 365 days over min(365, max(90, tenure + 1)) days, so
    a customer younger than a year is not undervalued and a one-week-old one is not blown up;
    net refunds count as nothing. Unlike CLV, it does not discount the chance of churning, so
    it ranks customers by what is at stake: the value tiers use it, and value at risk is
    P(churn) x this value.
    """
    window = np.clip(np.asarray(tenure_days, dtype=float) + 1.0, RUN_RATE_MIN_DAYS, 365.0)
    daily = np.clip(np.nan_to_num(np.asarray(spend_365d, dtype=float)), 0.0, None) / window
    per_period = np.diff(np.asarray(edges, dtype=float)) * np.asarray(discount, dtype=float)
    if season is not None:
        per_period = per_period * np.asarray(season, dtype=float)
    return gross_margin * daily * per_period.sum()


def extend_revenue(
    revenue_label: np.ndarray, cumulative_label: np.ndarray, cumulative_target: np.ndarray
) -> np.ndarray:
    """Revenue over another horizon: R_L * E(target) / E(L) (the customer's own curve)."""
    label = np.asarray(cumulative_label, dtype=float)
    ratio = np.where(label > _EPS, np.asarray(cumulative_target) / np.maximum(label, _EPS), 0.0)
    return np.asarray(revenue_label, dtype=float) * ratio


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept inside (1e-6, 1 - 1e-6)."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The inverse of :func:`logit`."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def extend_churn(
    p_label: np.ndarray, silent_label: np.ndarray, silent_target: np.ndarray
) -> np.ndarray:
    """P(no purchase over another horizon) from the model's P(no purchase over L): the model's
    log-odds shifted by BG/NBD's log-odds difference between the two horizons for the same
    customer (``silent_*`` = BG/NBD P(no purchase) over L and over the target horizon)."""
    return sigmoid(logit(p_label) + logit(silent_target) - logit(silent_label))


@dataclass(frozen=True)
class RatioInterval:
    """Interval of a predicted value from the spread of actual / predicted on a backtest.

    Customers are put in bins by their predicted label-horizon revenue (``edges``: inner bin
    edges); within each bin the ``low``/``high`` quantiles of actual / predicted (a split-
    conformal, Mondrian-by-bin rule) scale a customer's value into an interval. ``coverage``:
    the share of customers whose actual value fell inside, measured by cross-fitting (fitted on
    one half, checked on the other) over ``horizon_days``.
    """

    edges: list[float]
    low: list[float]
    high: list[float]
    level: float
    coverage: float
    horizon_days: int
    nominal: float | None = None
    """The quantile level the rule uses (see :func:`fit_ratio_interval`); None = ``level``."""
    total_error: float = 0.0
    """|predicted total / actual total - 1| on the same backtest: the error every customer
    shares, which does not average out over a segment (:func:`segment_interval`)."""

    def apply(self, binned_by: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) for ``value``, binned by ``binned_by`` (predicted label revenue)."""
        b = np.searchsorted(np.asarray(self.edges), np.asarray(binned_by, dtype=float), "right")
        value = np.asarray(value, dtype=float)
        return value * np.asarray(self.low)[b], value * np.asarray(self.high)[b]

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _fit_bins(
    binned_by: np.ndarray, pred: np.ndarray, actual: np.ndarray, level: float, bins: int
) -> tuple[list[float], list[float], list[float]]:
    edges = np.unique(np.quantile(binned_by, np.linspace(0, 1, bins + 1)[1:-1]))
    b = np.searchsorted(edges, binned_by, "right")
    ratio = np.clip(actual, 0.0, None) / np.maximum(pred, _EPS)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    low, high = [], []
    for k in range(len(edges) + 1):
        r = ratio[b == k]
        if len(r) == 0:
            r = ratio
        lo = float(np.quantile(r, lo_q, method="lower"))
        # revenue has a point mass at 0: when the low end sits on it, every zero is inside, so
        # the high end only needs the level's share above it (else the interval over-covers)
        below = float(np.mean(r < lo))
        hi_share = min(1.0, level + below) if lo <= 0 else hi_q
        low.append(lo)
        high.append(float(np.quantile(r, hi_share, method="higher")))
    return [float(e) for e in edges], low, high


def _cross_fitted_coverage(
    binned_by: np.ndarray,
    pred: np.ndarray,
    actual: np.ndarray,
    half: np.ndarray,
    nominal: float,
    bins: int,
) -> float:
    """Share of customers inside the interval fitted on the other half, at ``nominal``."""
    inside = 0
    for fit_part in (half, ~half):
        edges, low, high = _fit_bins(
            binned_by[fit_part], pred[fit_part], actual[fit_part], nominal, bins
        )
        rule = RatioInterval(edges, low, high, nominal, float("nan"), 0)
        lo, hi = rule.apply(binned_by[~fit_part], pred[~fit_part])
        a = np.clip(actual[~fit_part], 0.0, None)
        inside += int(np.sum((a >= lo - 1e-9) & (a <= hi + 1e-9)))
    return inside / max(len(pred), 1)


def fit_ratio_interval(
    binned_by: np.ndarray,
    pred: np.ndarray,
    actual: np.ndarray,
    horizon_days: int,
    level: float = 0.8,
    bins: int = 10,
    seed: int = 0,
) -> RatioInterval:
    """Fit :class:`RatioInterval` on backtest predictions; its coverage is measured by
    cross-fitting on two random halves (each half's coverage under the other half's rule).

    Revenue has a mass of customers who spend nothing, and every range that starts at 0 holds
    all of them, so quantiles at the stated level cover more than it says. The quantile level
    actually used (``nominal``, at most ``level``) is the one whose cross-fitted coverage comes
    nearest the stated level.
    """
    binned_by, pred, actual = (np.asarray(a, dtype=float) for a in (binned_by, pred, actual))
    half = np.random.default_rng(seed).random(len(pred)) < 0.5
    best, best_cov = level, _cross_fitted_coverage(binned_by, pred, actual, half, level, bins)
    for nominal in np.arange(level - 0.02, 0.39, -0.02):
        if best_cov <= level:
            break
        cov = _cross_fitted_coverage(binned_by, pred, actual, half, float(nominal), bins)
        if abs(cov - level) < abs(best_cov - level):
            best, best_cov = float(nominal), cov
    edges, low, high = _fit_bins(binned_by, pred, actual, best, bins)
    total = float(np.clip(actual, 0.0, None).sum())
    total_error = abs(float(pred.sum()) / total - 1.0) if total > 0 else 0.0
    return RatioInterval(edges, low, high, level, best_cov, horizon_days, best, total_error)


def customer_variance(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A customer's CLV variance read off their 80% interval: ((high - low) / (2 Z80))^2."""
    return ((np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / (2 * Z80)) ** 2


def segment_interval(
    total: np.ndarray, variance_sum: np.ndarray, total_error: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """80% interval of a segment's total CLV: customers' own spreads add up as variances (they
    largely cancel over many customers), while the backtest's error of the total is shared by
    all of them and is taken as the interval's edge on its own:
    total +- Z80 * sqrt(sum of variances + (total_error * total / Z80)^2).
    ``total_error`` None: the model has no interval (no backtest), so neither has the total."""
    total = np.asarray(total, dtype=float)
    if total_error is None:
        return np.full(total.shape, np.nan), np.full(total.shape, np.nan)
    half = Z80 * np.sqrt(np.asarray(variance_sum, dtype=float) + (total_error * total / Z80) ** 2)
    return np.clip(total - half, 0.0, None), total + half
