"""Baselines every model is compared with, in the same backtest.

Business-literature rules (what users compute in a spreadsheet):
- churn rate = 100 - retention rate, retention rate = (E - N) / S x 100 (reports/retention.py);
- CLV = average yearly revenue x margin / yearly churn rate;
- revenue over a horizon = average monthly spend x months x retention rate.
Probabilistic buy-till-you-die models: BG/NBD + Gamma-Gamma (``model/btyd.py``), fitted on the
history up to each cutoff as their users do (no labels needed); every snapshot carries their
posteriors (``btyd_p_silent``, ``btyd_revenue``), so here they are read, not refitted.
With a subscriptions table, the contractual models: shifted-beta-geometric per start-year cohort
and Kaplan-Meier (``model/retention.py``), fitted on the subscription lifetimes up to the cutoff.
The other baselines are fitted on the training snapshots only and applied to the test snapshot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.btyd import BTYDModel
from model.clv import (
    DAYS_PER_MONTH,
    clv_from_revenue,
    discount_factors,
    horizon_weights,
    period_edges,
)
from model.retention import SubscriptionRetention, subscription_start_year


def formula_clv(yearly_revenue: np.ndarray, gross_margin: float, yearly_churn: float) -> np.ndarray:
    """CLV = yearly revenue x gross margin / yearly churn rate (churn as a fraction)."""
    if not 0 < yearly_churn <= 1:
        raise ValueError(f"yearly churn must be in (0, 1], got {yearly_churn}")
    return np.asarray(yearly_revenue, dtype=float) * gross_margin / yearly_churn


@dataclass
class Baselines:
    """All baselines fitted on training rows; ``predict`` gives churn and revenue per baseline."""

    horizon_days: int
    churn_rate: float
    rfm_rates: pd.Series
    rfm_edges: dict[str, np.ndarray]

    @classmethod
    def fit(cls, train: pd.DataFrame, horizon_days: int) -> Baselines:
        """Fit on training snapshots (features + ``churned`` label)."""
        edges = {
            col: np.unique(np.nanquantile(train[col].to_numpy(dtype=float), [0.2, 0.4, 0.6, 0.8]))
            for col in ("recency_days", "frequency")
        }
        cells = cls._cells(train, edges)
        rates = train["churned"].groupby(cells).mean()
        return cls(
            horizon_days=horizon_days,
            churn_rate=float(train["churned"].mean()),
            rfm_rates=rates,
            rfm_edges=edges,
        )

    @staticmethod
    def _cells(frame: pd.DataFrame, edges: dict[str, np.ndarray]) -> pd.Series:
        r = np.searchsorted(edges["recency_days"], frame["recency_days"].to_numpy(dtype=float))
        f = np.searchsorted(edges["frequency"], frame["frequency"].to_numpy(dtype=float))
        return pd.Series(r * 10 + f, index=frame.index)

    def predict(self, frame: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
        """{'churn': {name: probability}, 'revenue': {name: expected revenue}} for ``frame``."""
        h = self.horizon_days
        cells = self._cells(frame, self.rfm_edges)
        rfm = cells.map(self.rfm_rates).fillna(self.churn_rate).to_numpy(dtype=float)
        tenure_months = np.maximum(
            frame["tenure_days"].fillna(0).to_numpy(float) / DAYS_PER_MONTH, 1.0
        )
        monthly_spend = frame["monetary_total"].fillna(0).to_numpy(float) / tenure_months
        retention = 1.0 - self.churn_rate
        return {
            "churn": {
                "churn_rate_formula": np.full(len(frame), self.churn_rate),
                "rfm_cells": rfm,
                "bgnbd": frame["btyd_p_silent"].to_numpy(float),
            },
            "revenue": {
                "monthly_spend_x_retention": monthly_spend * (h / DAYS_PER_MONTH) * retention,
                "last_year_run_rate": frame["spend_365d"].fillna(0).to_numpy(float) * h / 365.0,
                "bgnbd_gamma_gamma": frame["btyd_revenue"].to_numpy(float),
            },
        }

    @property
    def yearly_churn_rate(self) -> float:
        """The horizon's churn rate turned into a yearly one: 1 - (1 - churn)^(365 / h)."""
        return 1.0 - (1.0 - self.churn_rate) ** (365.0 / self.horizon_days)

    def predict_clv(
        self,
        frame: pd.DataFrame,
        btyd: BTYDModel,
        clv_horizon_days: int,
        gross_margin: float,
        monthly_discount_rate: float,
    ) -> dict[str, np.ndarray]:
        """CLV by the business formula and by BG/NBD + Gamma-Gamma for each customer.

        formula: yearly revenue (last 365 days) x margin / yearly churn rate (an open-ended
        lifetime value, as the textbook defines it); BTYD: expected purchases x expected spend
        in each month of the CLV horizon, discounted (the same CLV module as the models, with
        the BTYD revenue as the prediction).
        """
        yearly = frame["spend_365d"].fillna(0).clip(lower=0).to_numpy(float)
        edges = period_edges(clv_horizon_days)
        cum = btyd.cumulative_purchases(frame, [self.horizon_days, *edges[1:]])
        weights = horizon_weights(cum[:, 1:], cum[:, 0])
        revenue = btyd.posteriors(frame, self.horizon_days)["btyd_revenue"].to_numpy()
        return {
            "clv_formula": formula_clv(yearly, gross_margin, self.yearly_churn_rate),
            "bgnbd_gamma_gamma": clv_from_revenue(
                revenue, weights, discount_factors(edges, monthly_discount_rate), gross_margin
            ),
        }


SUBSCRIPTION_BASELINES = ("sbg", "kaplan_meier")
"""Contractual churn baselines (model.retention): for subscribers the chance of leaving at one
of the renewals inside the horizon; for everyone else BG/NBD's chance of no purchase."""


def fit_retention(
    subscriptions: pd.DataFrame | None, cutoff: dt.date
) -> SubscriptionRetention | None:
    """sBG and Kaplan-Meier fitted on the subscription lifetimes known at ``cutoff`` (the
    history only, as BG/NBD is); None without a subscriptions table. ``subscriptions``: the
    contract table (pandas); only it is handed to DuckDB."""
    from features.engine import default_backend, register_frame
    from features.subscriptions import subscription_lifetimes

    if subscriptions is None:
        return None
    con = default_backend()
    try:
        table = register_frame(subscriptions, "subscriptions", con)
        life = con.to_pyarrow(subscription_lifetimes(table, cutoff)).to_pandas()
    finally:
        con.disconnect()
    return SubscriptionRetention.fit(
        life["billing_period_days"].to_numpy(float),
        life["start_year"].to_numpy(),
        life["periods"].to_numpy(),
        life["ended"].to_numpy(bool),
    )


def predict_subscription_churn(
    retention: SubscriptionRetention, frame: pd.DataFrame, cutoff: dt.date, horizon_days: int
) -> dict[str, np.ndarray]:
    """{name: churn probability} of :data:`SUBSCRIPTION_BASELINES` for a snapshot at
    ``cutoff``: active subscribers by the retention curve over the renewals inside the horizon
    (none inside: they keep their subscription), the others (and billing periods without a
    curve) by BG/NBD."""
    from model.renewals import renewals_within

    subscriber = frame["active_subscriptions_count"].fillna(0).to_numpy() > 0
    period = frame["billing_period_days"].to_numpy(float)
    ahead = renewals_within(frame["days_to_renewal"].to_numpy(float), period, horizon_days)
    bgnbd = frame["btyd_p_silent"].to_numpy(float)
    out = {}
    for name in SUBSCRIPTION_BASELINES:
        p = retention.churn_probability(
            name,
            period,
            subscription_start_year(frame, cutoff),
            frame["subscription_renewals_count"].to_numpy(float),
            ahead,
        )
        out[name] = np.where(subscriber & np.isfinite(p), p, bgnbd)
    return out
