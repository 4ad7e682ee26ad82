"""Baselines every model is compared with, in the same backtest.

Business-literature rules (what users compute in a spreadsheet):
- churn rate = 100 - retention rate, retention rate = (E - N) / S x 100 (features/retention.py);
- CLV = average yearly revenue x margin / yearly churn rate;
- revenue over a horizon = average monthly spend x months x retention rate.
Probabilistic buy-till-you-die models: BG/NBD + Gamma-Gamma (``churnclv/btyd.py``).
Each baseline is fitted on the training snapshots only and applied to the test snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnclv.bundle import DAYS_PER_MONTH
from churnclv.btyd import BGNBD, GammaGamma, btyd_discounted_value


def formula_clv(yearly_revenue: np.ndarray, gross_margin: float, yearly_churn: float) -> np.ndarray:
    """CLV = yearly revenue x gross margin / yearly churn rate (churn as a fraction)."""
    if not 0 < yearly_churn <= 1:
        raise ValueError(f"yearly churn must be in (0, 1], got {yearly_churn}")
    return np.asarray(yearly_revenue, dtype=float) * gross_margin / yearly_churn


def _btyd_columns(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(
        frame[c].fillna(0.0).to_numpy(dtype=float)
        for c in ("btyd_x", "btyd_t_x", "btyd_T", "btyd_monetary_value")
    )


@dataclass
class Baselines:
    """All baselines fitted on training rows; ``predict`` gives churn and revenue per baseline."""

    horizon_days: int
    churn_rate: float
    rfm_rates: pd.Series
    rfm_edges: dict[str, np.ndarray]
    bgnbd: BGNBD
    gamma_gamma: GammaGamma

    @classmethod
    def fit(cls, train: pd.DataFrame, horizon_days: int) -> Baselines:
        """Fit on training snapshots (features + ``churned`` label)."""
        edges = {
            col: np.unique(np.nanquantile(train[col].to_numpy(dtype=float), [0.2, 0.4, 0.6, 0.8]))
            for col in ("recency_days", "frequency")
        }
        cells = cls._cells(train, edges)
        rates = train["churned"].groupby(cells).mean()
        x, t_x, T, m = _btyd_columns(train)
        return cls(
            horizon_days=horizon_days,
            churn_rate=float(train["churned"].mean()),
            rfm_rates=rates,
            rfm_edges=edges,
            bgnbd=BGNBD.fit(x, t_x, T),
            gamma_gamma=GammaGamma.fit(x, m),
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
        x, t_x, T, m = _btyd_columns(frame)
        tenure_months = np.maximum(
            frame["tenure_days"].fillna(0).to_numpy(float) / DAYS_PER_MONTH, 1.0
        )
        monthly_spend = frame["monetary_total"].fillna(0).to_numpy(float) / tenure_months
        retention = 1.0 - self.churn_rate
        return {
            "churn": {
                "churn_rate_formula": np.full(len(frame), self.churn_rate),
                "rfm_cells": rfm,
                "bgnbd": self.bgnbd.p_no_purchase(h, x, t_x, T),
            },
            "revenue": {
                "monthly_spend_x_retention": monthly_spend * (h / DAYS_PER_MONTH) * retention,
                "last_year_run_rate": frame["spend_365d"].fillna(0).to_numpy(float) * h / 365.0,
                "bgnbd_gamma_gamma": self.bgnbd.expected_purchases(h, x, t_x, T)
                * self.gamma_gamma.expected_spend(x, m),
            },
        }

    @property
    def yearly_churn_rate(self) -> float:
        """The horizon's churn rate turned into a yearly one: 1 - (1 - churn)^(365 / h)."""
        return 1.0 - (1.0 - self.churn_rate) ** (365.0 / self.horizon_days)

    def predict_clv(
        self,
        frame: pd.DataFrame,
        clv_horizon_days: int,
        gross_margin: float,
        monthly_discount_rate: float,
    ) -> dict[str, np.ndarray]:
        """CLV by the business formula and by BG/NBD + Gamma-Gamma for each customer.

        formula: yearly revenue (last 365 days) x margin / yearly churn rate (an open-ended
        lifetime value, as the textbook defines it); BTYD: discounted expected purchases x
        expected spend over the CLV horizon.
        """
        x, t_x, T, m = _btyd_columns(frame)
        yearly = frame["spend_365d"].fillna(0).clip(lower=0).to_numpy(float)
        return {
            "clv_formula": formula_clv(yearly, gross_margin, self.yearly_churn_rate),
            "bgnbd_gamma_gamma": btyd_discounted_value(
                self.bgnbd,
                self.gamma_gamma,
                x,
                t_x,
                T,
                m,
                horizon_days=clv_horizon_days,
                monthly_discount_rate=monthly_discount_rate,
                margin=gross_margin,
            ),
        }
