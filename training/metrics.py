"""Evaluation metrics for churn scores and revenue predictions (pure functions on arrays)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def _top_share(score: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask of the top ``share`` of rows by score (ties broken by position, stable)."""
    n = len(score)
    k = max(1, int(round(n * share)))
    order = np.argsort(-score, kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Mean |observed rate - mean predicted| over equal-width probability bins, weighted by size."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.sum() * abs(y[m].mean() - p[m].mean())
    return float(total / len(y))


def evaluate_churn(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log-loss, calibration error, lift and capture at top 10% / 20%."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    base = y.mean()
    out = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "calibration_error": expected_calibration_error(y, np.clip(p, 0, 1)),
        "base_rate": float(base),
    }
    for share in (0.1, 0.2):
        top = _top_share(p, share)
        rate = y[top].mean()
        tag = f"{int(share * 100)}"
        out[f"lift_top{tag}"] = float(rate / base) if base > 0 else float("nan")
        out[f"capture_top{tag}"] = float(y[top].sum() / max(y.sum(), 1))
    return out


def normalized_gini(actual: np.ndarray, pred: np.ndarray) -> float:
    """Gini of the prediction's ordering of actual values, divided by the best possible Gini."""

    def gini(a: np.ndarray, p: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(p)), -p))
        cum = np.cumsum(a[order]) / a.sum()
        return float(cum.sum() / len(a) - (len(a) + 1) / (2 * len(a)))

    actual = np.asarray(actual, dtype=float)
    pred = np.asarray(pred, dtype=float)
    if actual.sum() == 0:
        return float("nan")
    return gini(actual, pred) / gini(actual, actual)


def evaluate_revenue(actual: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, Spearman, normalised Gini, top-10/20% revenue capture, total pred/actual %."""
    actual = np.asarray(actual, dtype=float)
    pred = np.asarray(pred, dtype=float)
    total = actual.sum()
    out = {
        "rmse": float(np.sqrt(np.mean((actual - pred) ** 2))),
        "mae": float(np.mean(np.abs(actual - pred))),
        "spearman": float(stats.spearmanr(actual, pred).statistic),
        "normalized_gini": normalized_gini(actual, pred),
        "total_pred_vs_actual_pct": float(100 * pred.sum() / total) if total else float("nan"),
    }
    for share in (0.1, 0.2):
        top = _top_share(pred, share)
        out[f"revenue_capture_top{int(share * 100)}"] = (
            float(actual[top].sum() / total) if total else float("nan")
        )
    return out


def decile_table(actual: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """Customers ranked by prediction into 10 equal groups: mean predicted vs actual revenue."""
    actual = np.asarray(actual, dtype=float)
    pred = np.asarray(pred, dtype=float)
    order = np.argsort(-pred, kind="stable")
    decile = np.empty(len(pred), dtype=int)
    decile[order] = np.arange(len(pred)) * 10 // len(pred) + 1
    frame = pd.DataFrame({"decile": decile, "predicted": pred, "actual": actual})
    table = frame.groupby("decile").agg(
        customers=("actual", "size"),
        predicted_mean=("predicted", "mean"),
        actual_mean=("actual", "mean"),
        actual_total=("actual", "sum"),
    )
    table["actual_share"] = table["actual_total"] / max(actual.sum(), 1e-12)
    return table.reset_index()


def calibration_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed churn rate per predicted-probability bin (for the calibration plot)."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0, 1)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "p": p, "y": y})
    return (
        frame.groupby("bin")
        .agg(customers=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index()
    )
