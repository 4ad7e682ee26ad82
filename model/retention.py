"""Contractual retention baselines fitted on subscription lifetimes: a shifted-beta-geometric
per start-year cohort (Fader & Hardie 2007, :mod:`model.sbg`) and a Kaplan-Meier curve, each
per billing period (a monthly and an annual period are different clocks: never pooled).

Both read a subscriber as "has completed ``n`` renewals" and say the chance of keeping the next
``k`` ones, ``S(n + k) / S(n)``: the churn baseline over a horizon holding ``k`` renewals is one
minus that, and the renewals ahead of a subscriber are priced with it (:mod:`model.renewals`).
The lifetimes come from ``features.subscriptions.subscription_lifetimes`` at a cutoff (the
history only, no label window), as BG/NBD is fitted on the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.sbg import (
    CohortFits,
    KaplanMeier,
    SBGFitError,
    ShiftedBetaGeometric,
    fit_sbg_by_cohort,
    kaplan_meier,
)

MIN_CUSTOMERS = 100
"""Subscriptions a billing period (and a cohort within it) needs for its own fit."""


def period_key(period_days: np.ndarray) -> np.ndarray:
    """Billing periods as whole days (30.4375 and 30 are one monthly clock); -1 where
    unknown (not a subscriber)."""
    days = np.asarray(period_days, dtype=float)
    return np.where(np.isfinite(days), np.rint(np.nan_to_num(days)), -1).astype(np.int64)


@dataclass(frozen=True)
class SubscriptionRetention:
    """sBG (by start-year cohort, pooled per period as fallback) and Kaplan-Meier, per billing
    period in whole days."""

    sbg: dict[int, CohortFits] = field(default_factory=dict)
    km: dict[int, KaplanMeier] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        period_days: np.ndarray,
        start_year: np.ndarray,
        periods: np.ndarray,
        ended: np.ndarray,
        min_customers: int = MIN_CUSTOMERS,
    ) -> SubscriptionRetention:
        """Fit every billing period with enough subscriptions (the others get no model)."""
        keys = period_key(period_days)
        periods = np.asarray(periods, dtype=np.int64)
        ended = np.asarray(ended, dtype=bool)
        years = np.asarray(start_year)
        sbg, km = {}, {}
        for key in np.unique(keys):
            rows = keys == key
            if rows.sum() < min_customers:
                continue
            km[int(key)] = kaplan_meier(periods[rows], ended[rows])
            # churned in period t >= 1; active ones have lasted longer than their renewals
            t = np.where(ended[rows], np.maximum(periods[rows], 1), periods[rows])
            try:
                sbg[int(key)] = fit_sbg_by_cohort(
                    years[rows], t, ended[rows], min_customers=min_customers
                )
            except SBGFitError:
                continue
        return cls(sbg, km)

    def keeps(
        self,
        method: str,
        period_days: np.ndarray,
        start_year: np.ndarray,
        renewals_done: np.ndarray,
        ahead: np.ndarray | int,
    ) -> np.ndarray:
        """P(keeping the next ``ahead`` renewals | ``renewals_done``) per subscriber by
        ``method`` (``sbg`` or ``kaplan_meier``); NaN for a billing period without a model."""
        keys = period_key(period_days)
        n = np.nan_to_num(np.asarray(renewals_done, dtype=float)).astype(np.int64)
        k = np.broadcast_to(np.asarray(ahead, dtype=np.int64), n.shape)
        years = np.asarray(start_year)
        out = np.full(n.shape, np.nan)
        for key in np.unique(keys):
            rows = keys == key
            if method == "sbg" and int(key) in self.sbg:
                fits = self.sbg[int(key)]
                for year in np.unique(years[rows]):
                    sub = rows & (years == year)
                    model: ShiftedBetaGeometric = fits.model(_label(year))
                    out[sub] = model.renewal_probability(n[sub], k[sub])
            elif method == "kaplan_meier" and int(key) in self.km:
                curve = self.km[int(key)]
                before, after = curve.survival(n[rows]), curve.survival(n[rows] + k[rows])
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[rows] = np.where(before > 0, after / before, 0.0)
        return out

    def churn_probability(
        self,
        method: str,
        period_days: np.ndarray,
        start_year: np.ndarray,
        renewals_done: np.ndarray,
        ahead: np.ndarray,
    ) -> np.ndarray:
        """1 - :meth:`keeps`: the chance of leaving at one of the next ``ahead`` renewals."""
        return 1.0 - self.keeps(method, period_days, start_year, renewals_done, ahead)

    def to_dict(self) -> dict[str, object]:
        """The sBG parameters for bundle.json (the Kaplan-Meier curves are the backtest's)."""
        return {
            str(key): {
                "pooled": _params(fits.pooled),
                "by_cohort": {str(c): _params(m) for c, m in fits.by_cohort.items()},
            }
            for key, fits in self.sbg.items()
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> SubscriptionRetention:
        sbg = {}
        for key, fits in (data or {}).items():
            sbg[int(key)] = CohortFits(
                ShiftedBetaGeometric(**fits["pooled"]),
                {_label(c): ShiftedBetaGeometric(**m) for c, m in fits["by_cohort"].items()},
            )
        return cls(sbg)


def subscription_start_year(frame: pd.DataFrame, cutoff: dt.date) -> np.ndarray:
    """The year each customer first subscribed (their sBG cohort): the cutoff minus their
    ``subscription_tenure_days``."""
    days = frame["subscription_tenure_days"].fillna(0).to_numpy(float)
    start = pd.Timestamp(cutoff) - pd.to_timedelta(days, unit="D")
    return np.asarray(start.year)


def _label(year: object) -> object:
    """A cohort label as stored (years as ints, whether read from numpy or JSON)."""
    try:
        return int(year)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return year


def _params(model: ShiftedBetaGeometric) -> dict[str, float]:
    return {"alpha": float(model.alpha), "beta": float(model.beta)}
