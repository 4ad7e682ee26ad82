"""Scoring speed against the raw LightGBM work it needs (target ratio <= 1.5).

    .venv/bin/python bench/bench_scoring.py --customers 1000000

Features are built first (not timed). Reference, measured in the same run on the same
customers: ``predict`` of the churn and revenue models (and the two CLV-interval quantile
models), ``pred_contrib`` of the churn model (reasons), and one Parquet write of the result.
Measured: ``score_customers`` plus the same Parquet write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import demo_tables, result

from core.settings import load_settings
from features import build_features
from serving.score import score_customers
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

    def raw() -> None:
        X = bundle.matrix(feats)
        res = {name: b.predict(X) for name, b in bundle.boosters.items()}
        res["contrib"] = bundle.boosters["churn"].predict(X, pred_contrib=True)[:, :3].sum(axis=1)
        pd.DataFrame(res).to_parquet(out)

    def scored() -> None:
        score_customers(feats, bundle, settings.segments, scoring_date=cutoff).to_parquet(out)

    best = {}
    for name, fn in (("raw", raw), ("score", scored)):
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times)
    n = len(feats)
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
