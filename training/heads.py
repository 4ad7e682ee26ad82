"""Candidates for the served churn and revenue predictions, fitted on a later fold than the
models, and the rule that picks the one to serve from the backtest.

Churn candidates (P(no purchase in the label horizon)):

* ``lightgbm``: LightGBM with the BTYD posteriors among its features, Platt-calibrated (a
  logistic regression on its log-odds): smooth, never exactly 0 or 1, unlike isotonic steps;
* ``bgnbd``: BG/NBD's own P(no purchase), as it is (the baseline itself);
* ``blend``: a logistic regression on both log-odds (stacking).

Revenue candidates (net revenue over the label horizon):

* ``lightgbm``: the LightGBM Tweedie regressor times a level factor;
* ``bgnbd_gamma_gamma``: BG/NBD expected purchases x Gamma-Gamma spend, as it is;
* ``blend``: non-negative weights on both (least squares), times a level factor.

The level factor makes the predicted total equal the actual total on the calibration fold.

Rule (``select_*``): churn by log-loss on the test cutoff (it rewards ranking and calibration
together); revenue by Spearman on the test cutoff, a candidate within 0.005 of the best winning
when its total is closer to the actual. Since the BTYD baselines are candidates, the served
prediction is never worse than them on the rule's own metric.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from sklearn.linear_model import LogisticRegression

from model.bundle import ChurnHead, RevenueHead
from model.clv import logit

CHURN_CANDIDATES = ("lightgbm", "bgnbd", "blend")
REVENUE_CANDIDATES = ("lightgbm", "bgnbd_gamma_gamma", "blend")
SPEARMAN_TIE = 0.005


def fit_churn_head(
    candidate: str, lightgbm_logit: np.ndarray, btyd_silent: np.ndarray, churned: np.ndarray
) -> ChurnHead:
    """Fit a churn candidate's weights on calibration-fold predictions and outcomes."""
    if candidate == "bgnbd":
        return ChurnHead("bgnbd", 0.0, 0.0, 1.0)
    columns = [np.asarray(lightgbm_logit, dtype=float)]
    if candidate == "blend":
        columns.append(logit(btyd_silent))
    elif candidate != "lightgbm":
        raise ValueError(f"unknown churn candidate {candidate!r}")
    y = np.asarray(churned, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError("the calibration fold needs both churners and non-churners")
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.column_stack(columns), y)
    coef = [float(c) for c in lr.coef_[0]]
    return ChurnHead(
        candidate, float(lr.intercept_[0]), coef[0], coef[1] if candidate == "blend" else 0.0
    )


def _level(pred: np.ndarray, actual: np.ndarray) -> float:
    total = float(np.sum(pred))
    return float(np.sum(np.clip(actual, 0, None))) / total if total > 0 else 1.0


def fit_revenue_head(
    candidate: str, lightgbm_revenue: np.ndarray, btyd_revenue: np.ndarray, actual: np.ndarray
) -> RevenueHead:
    """Fit a revenue candidate's weights and level on calibration-fold predictions."""
    lgbm = np.clip(np.asarray(lightgbm_revenue, dtype=float), 0, None)
    btyd = np.asarray(btyd_revenue, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if candidate == "bgnbd_gamma_gamma":
        return RevenueHead(candidate, 0.0, 1.0, 1.0)
    if candidate == "lightgbm":
        return RevenueHead(candidate, 1.0, 0.0, _level(lgbm, actual))
    if candidate != "blend":
        raise ValueError(f"unknown revenue candidate {candidate!r}")
    weights, _ = optimize.nnls(np.column_stack([lgbm, btyd]), np.clip(actual, 0, None))
    if weights.sum() <= 0:
        weights = np.array([1.0, 0.0])
    u, v = weights / weights.sum()
    return RevenueHead(candidate, float(u), float(v), _level(u * lgbm + v * btyd, actual))


def select_churn(metrics: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The candidate with the lowest test log-loss, and a sentence saying why."""
    best = min(CHURN_CANDIDATES, key=lambda c: metrics[c]["log_loss"])
    others = ", ".join(f"{c} {metrics[c]['log_loss']:.4f}" for c in CHURN_CANDIDATES if c != best)
    return best, f"lowest backtest log-loss {metrics[best]['log_loss']:.4f} (vs {others})"


def select_revenue(metrics: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The candidate with the highest test Spearman; within :data:`SPEARMAN_TIE` of it, the one
    whose predicted total is closest to the actual total."""
    top = max(metrics[c]["spearman"] for c in REVENUE_CANDIDATES)
    close = [c for c in REVENUE_CANDIDATES if metrics[c]["spearman"] >= top - SPEARMAN_TIE]
    best = min(close, key=lambda c: abs(metrics[c]["total_pred_vs_actual_pct"] - 100))
    others = ", ".join(f"{c} {metrics[c]['spearman']:.4f}" for c in REVENUE_CANDIDATES if c != best)
    return best, (
        f"backtest Spearman {metrics[best]['spearman']:.4f} (vs {others}), total "
        f"{metrics[best]['total_pred_vs_actual_pct']:.0f}% of actual"
    )
