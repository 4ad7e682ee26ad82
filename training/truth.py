"""Compare a trained bundle with the demo generator's ground truth (demo data only)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import numpy as np
import pandas as pd
from scipy import stats

from features.rfm import has_paid_purchase
from model.bundle import ModelBundle
from training.baselines import Baselines
from training.metrics import evaluate_churn, evaluate_revenue


def truth_mismatch(truth: pd.DataFrame, horizon_days: int, source: object) -> str | None:
    """Why ``truth`` cannot be compared with models of the ``horizon_days`` churn horizon (a
    note for the user), or None when it has that horizon's outcomes."""
    if f"churned_{horizon_days}d" in truth.columns:
        return None
    days = sorted(
        int(c[len("churned_") : -1]) for c in truth.columns if re.fullmatch(r"churned_\d+d", c)
    )
    has = " and ".join(str(d) for d in days) + " days" if days else "none"
    return (
        f"The ground truth in {source} has no outcomes for the {horizon_days}-day churn horizon "
        f"(it has {has}): the models are not compared with it."
    )


def evaluate_against_truth(
    bundle: ModelBundle,
    features: pd.DataFrame,
    truth: pd.DataFrame,
    horizon_days: int,
    baselines: Baselines | None = None,
    scoring_date: dt.date | None = None,
) -> pd.DataFrame:
    """Metrics of the model's scores at the data end against what really happened next.

    ``scoring_date``: the date the features were built at (the seasonal factor needs it when
    the bundle has an index; default the training data's end recorded in the bundle).

    ``truth`` comes from the generator: ``churned_{h}d`` and ``future_spend_{h}d`` simulated
    beyond the data end, and ``true_churn_probability_{h}d`` computed from each customer's
    latent state: the best any model could do (the "oracle"). With ``baselines``, CLV is also
    compared (Spearman with the actual margin over the CLV horizon) for the model, the
    business formula and BG/NBD + Gamma-Gamma.
    """
    h = horizon_days
    if scoring_date is None and "data" in bundle.meta:
        scoring_date = dt.date.fromisoformat(str(bundle.meta["data"]["data_end"]))
    cols = [f"churned_{h}d", f"future_spend_{h}d", f"true_churn_probability_{h}d"]
    missing = [c for c in cols if c not in truth.columns]
    if missing:
        raise KeyError(f"ground truth lacks {missing} for the {h}-day horizon")
    joined = features.merge(truth[["customer_id", *cols]], on="customer_id", how="inner")
    # only customers with a purchase before the end, as in training
    joined = joined[has_paid_purchase(joined)]
    pred = bundle.predict(joined, scoring_date)
    p = pred["churn_probability"].to_numpy()
    y = joined[f"churned_{h}d"].astype(int).to_numpy()
    spend = joined[f"future_spend_{h}d"].to_numpy(dtype=float)
    oracle = joined[f"true_churn_probability_{h}d"].to_numpy(dtype=float)
    model = evaluate_churn(y, p)
    best = evaluate_churn(y, oracle)
    revenue = evaluate_revenue(spend, pred["expected_revenue"].to_numpy())
    rows = [
        {
            "measure": "churn ROC-AUC",
            "model": model["roc_auc"],
            "oracle (true latent state)": best["roc_auc"],
        },
        {
            "measure": "churn Brier",
            "model": model["brier"],
            "oracle (true latent state)": best["brier"],
        },
        {
            "measure": "churn calibration error",
            "model": model["calibration_error"],
            "oracle (true latent state)": best["calibration_error"],
        },
        {
            "measure": "revenue Spearman",
            "model": revenue["spearman"],
            "oracle (true latent state)": np.nan,
        },
        {
            "measure": "revenue total pred/actual %",
            "model": revenue["total_pred_vs_actual_pct"],
            "oracle (true latent state)": np.nan,
        },
        {
            "measure": "customers",
            "model": float(len(joined)),
            "oracle (true latent state)": float(len(joined)),
        },
    ]
    clv_col = f"future_spend_{bundle.clv_horizon_days}d"
    if baselines is not None and clv_col in truth.columns:
        actual = truth.set_index("customer_id").loc[joined["customer_id"], clv_col]
        actual = actual.to_numpy(dtype=float) * bundle.gross_margin
        clv = {"model": pred["clv"].to_numpy()}
        clv |= baselines.predict_clv(
            joined,
            bundle.btyd,
            bundle.clv_horizon_days,
            bundle.gross_margin,
            bundle.monthly_discount_rate,
        )
        for name, values in clv.items():
            rows.append(
                {
                    "measure": f"CLV Spearman vs actual {bundle.clv_horizon_days}-day margin: {name}",
                    "model": float(stats.spearmanr(actual, values).statistic),
                    "oracle (true latent state)": np.nan,
                }
            )
    if clv_col in truth.columns:
        # what CLV stands for: the revenue of the CLV horizon (margin 1, undiscounted)
        spent = truth.set_index("customer_id").loc[joined["customer_id"], clv_col]
        spent = np.clip(spent.to_numpy(dtype=float), 0, None)
        plain = dataclasses.replace(bundle, gross_margin=1.0, monthly_discount_rate=0.0)
        value = plain.predict(joined, scoring_date)
        inside = (spent >= value["clv_low"].to_numpy()) & (spent <= value["clv_high"].to_numpy())
        rows.append(
            {
                "measure": f"CLV total pred/actual % ({bundle.clv_horizon_days}-day revenue)",
                "model": float(100 * value["clv"].sum() / max(spent.sum(), 1e-9)),
                "oracle (true latent state)": np.nan,
            }
        )
        if bundle.interval is not None:
            rows.append(
                {
                    "measure": "CLV interval coverage %",
                    "model": float(100 * inside.mean()),
                    "oracle (true latent state)": np.nan,
                }
            )
    rows += _renewal_rows(bundle, joined, truth, p, scoring_date)
    return pd.DataFrame(rows)


RENEWAL_METHODS = ("churn_model", "sbg")
"""The ways a bundle can price the renewals ahead (``ModelBundle.renewal_values``)."""


def renewal_totals(
    bundle: ModelBundle,
    frame: pd.DataFrame,
    truth: pd.DataFrame,
    churn: np.ndarray,
    scoring_date: dt.date | None,
) -> dict[str, dict[str, float]] | None:
    """Subscriptions (a truth with renewal revenue, a model trained with subscriptions): the
    active subscribers' renewal revenue over the CLV horizon (margin 1, undiscounted), per way
    of pricing the renewals ahead (:data:`RENEWAL_METHODS`): ``predicted``, ``actual`` (the
    simulated one), ``expected`` (the generator's expectation from each customer's latent
    state, NaN without it) and ``subscribers``; None when there is nothing to compare.
    ``frame``: the features of the customers whose ``churn`` probabilities are given."""
    c = bundle.clv_horizon_days
    actual_col, expected_col = f"future_renewal_revenue_{c}d", f"expected_renewal_revenue_{c}d"
    if bundle.retention is None or actual_col not in truth.columns:
        return None
    plain = dataclasses.replace(bundle, gross_margin=1.0, monthly_discount_rate=0.0)
    by_id = truth.set_index("customer_id")
    out = {}
    for method in RENEWAL_METHODS:
        active, (value,) = plain.renewal_values(frame, churn, scoring_date, method)
        ids = frame.loc[active, "customer_id"]
        out[method] = {
            "predicted": float(value.revenue.sum()),
            "actual": float(by_id.loc[ids, actual_col].sum()),
            "expected": float(by_id.loc[ids, expected_col].sum())
            if expected_col in by_id
            else np.nan,
            "subscribers": float(active.sum()),
        }
    return out


def _renewal_rows(
    bundle: ModelBundle,
    joined: pd.DataFrame,
    truth: pd.DataFrame,
    churn: np.ndarray,
    scoring_date: dt.date | None,
) -> list[dict[str, object]]:
    """:func:`renewal_totals` as rows of the truth table: each way's total as a share of the
    simulated one, beside the generator's expectation's."""
    totals = renewal_totals(bundle, joined, truth, churn, scoring_date)
    rows = []
    for method, t in (totals or {}).items():
        actual = max(t["actual"], 1e-9)
        served = " (serves)" if method == (bundle.retention or {}).get("clv_method") else ""
        rows.append(
            {
                "measure": f"renewal revenue total pred/actual % ({bundle.clv_horizon_days}-day, "
                f"{int(t['subscribers']):,} subscribers): {method}{served}",
                "model": 100 * t["predicted"] / actual,
                "oracle (true latent state)": 100 * t["expected"] / actual,
            }
        )
    return rows
