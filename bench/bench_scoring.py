"""Scoring speed against the raw LightGBM work it needs (target ratio <= 1.5).

    .venv/bin/python bench/bench_scoring.py --customers 1000000

Features are built first (not timed). Reference, measured in the same run on the same
customers: ``predict`` of every LightGBM model, the churn model's TreeSHAP values (reasons,
``ModelBundle.churn_contributions``) and one Parquet write of the result. Measured:
``score_customers`` plus the same Parquet write.

Reasons, on the same customers: the TreeSHAP values from ``model.treeshap`` against LightGBM's
own ``pred_contrib`` (same numbers: the largest difference is printed), and the whole reasons
step (values + phrases, ``serving.reasons.top_reasons``) in customers/s (target >= 20,000).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import demo_tables, result

from core.settings import load_settings
from features import build_features
from serving.reasons import ReasonContext, top_reasons
from serving.score import score_customers
from serving.segments import assign_risk_tier, lowest_risk_tier
from training.train import train_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    tables = demo_tables(args.customers)
    settings = load_settings(None, {"model.max_training_customers": 20_000})
    bundle = train_models(tables, settings).bundle
    cutoff = tables.transactions["timestamp"].max().date()
    feats = build_features(tables, cutoff)
    feats = feats[feats["recency_days"].notna()].reset_index(drop=True)
    out = Path(tempfile.mkdtemp()) / "scores.parquet"

    frame = bundle.model_frame(feats)
    X = bundle.spec.matrix(frame)
    bundle.churn_contributions(X.head(10))  # build the explainer (and compile) once, untimed
    context = ReasonContext(bundle.typical, "USD", bundle.label_horizon_days, bundle.directions)
    churn = bundle.predict(feats, cutoff, frame=frame)["churn_probability"].to_numpy()
    safe = assign_risk_tier(churn, settings.segments) == lowest_risk_tier(settings.segments)

    def raw() -> None:
        X = bundle.matrix(feats)
        res = {name: b.predict(X) for name, b in bundle.boosters.items()}
        res["contrib"] = bundle.churn_contributions(X)[:, :3].sum(axis=1)
        pd.DataFrame(res).to_parquet(out)

    def scored() -> None:
        score_customers(feats, bundle, settings.segments, scoring_date=cutoff).to_parquet(out)

    def reasons() -> None:
        top_reasons(
            bundle.churn_contributions(X), frame, bundle.spec.columns, safe=safe, context=context
        )

    best = {}
    steps = (
        ("raw", raw),
        ("score", scored),
        ("lightgbm_contrib", lambda: bundle.boosters["churn"].predict(X, pred_contrib=True)),
        ("treeshap", lambda: bundle.churn_contributions(X)),
        ("reasons", reasons),
    )
    for name, fn in steps:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
    n = len(feats)
    gap = np.abs(
        bundle.churn_contributions(X) - bundle.boosters["churn"].predict(X, pred_contrib=True)
    ).max()
    speedup = best["lightgbm_contrib"] / best["treeshap"]
    print(
        f"TreeSHAP values: LightGBM pred_contrib {n / best['lightgbm_contrib']:,.0f} customers/s, "
        f"model.treeshap {n / best['treeshap']:,.0f} customers/s ({speedup:.1f}x), "
        f"largest difference {gap:.1e}"
    )
    print(f"reasons (values + phrases): {n / best['reasons']:,.0f} customers/s (target >= 20,000)")
    result(
        f"reasons TreeSHAP values, {n:,} customers: model.treeshap / LightGBM pred_contrib speed",
        f"{speedup:.1f}x ({n / best['treeshap']:,.0f} vs {n / best['lightgbm_contrib']:,.0f} "
        f"customers/s; largest difference {gap:.0e})",
        "reference: pred_contrib, same run, same customers",
    )
    rate = n / best["reasons"]
    result(
        f"reasons (values + phrases), {n:,} customers",
        f"{rate:,.0f} customers/s ({'met' if rate >= 20_000 else 'MISSED'})",
        ">= 20,000 customers/s",
    )
    print(f"customers scored: {n:,} ({dt.date.today()})")
    print(f"raw LightGBM work + Parquet write: {best['raw']:.2f} s")
    print(
        f"score_customers + Parquet write:  {best['score']:.2f} s  ({n / best['score']:,.0f} customers/s)"
    )
    print(f"ratio score/raw = {best['score'] / best['raw']:.2f} (target <= 1.5)")
    result(
        f"batch scoring / raw LightGBM work, {n:,} customers",
        f"{best['score'] / best['raw']:.2f} ({n / best['score']:,.0f} customers/s)",
        "<= 1.5",
    )


if __name__ == "__main__":
    main()
