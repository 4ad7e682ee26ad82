"""LightGBM churn classifier and revenue regressor (their heads: training/heads.py)."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

# fixed for reproducibility: same data, config and seed give the same models on any machine.
# One thread: on this 2-core machine two OpenMP threads stall whenever the other core is busy
# (measured on a 8.8k-row Tweedie fit: 64 s with 2 threads under load, 0.8 s with 1).
_FIXED = {"deterministic": True, "force_row_wise": True, "n_jobs": 1, "verbose": -1}


def _params(params: dict[str, Any], seed: int, **extra: Any) -> dict[str, Any]:
    return {**params, **_FIXED, "random_state": seed, **extra}


def fit_churn_classifier(
    X: pd.DataFrame, y: np.ndarray, params: dict[str, Any], seed: int
) -> lgb.Booster:
    """LightGBM binary classifier of churned (1) vs purchased again (0); returns the booster."""
    model = lgb.LGBMClassifier(**_params(params, seed, objective="binary"))
    model.fit(X, np.asarray(y, dtype=int))
    return model.booster_


def fit_revenue_regressor(
    X: pd.DataFrame, revenue: np.ndarray, params: dict[str, Any], seed: int
) -> lgb.Booster:
    """LightGBM Tweedie regressor of net revenue over the horizon.

    The target is zero for most customers and skewed for the rest: Tweedie (power 1.5) models
    that mass at zero. Net revenue below zero (more returns than purchases) is clipped to 0.
    """
    target = np.clip(np.asarray(revenue, dtype=float), 0.0, None)
    model = lgb.LGBMRegressor(
        **_params(params, seed, objective="tweedie", tweedie_variance_power=1.5)
    )
    model.fit(X, target)
    return model.booster_
