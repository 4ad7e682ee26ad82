"""Training time per stage on demo data (target: 1M customers in under 5 minutes on 2 cores).

    .venv/bin/python bench/bench_training.py --customers 1000000

Reference measured in the same run: one LightGBM churn fit on the largest training frame; the
ratio says how many such fits the whole training costs (snapshots, backtest, baselines, refit).
"""

from __future__ import annotations

import argparse
import time

from common import demo_tables
from common import result as report_result

from core.settings import load_settings
from model.matrix import FeatureSpec
from training.models import fit_churn_classifier
from training.train import train_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    tables = demo_tables(args.customers)
    settings = load_settings(None)
    stages: list[tuple[str, float]] = []
    last = [time.perf_counter(), "start"]

    def step(msg: str) -> None:
        now = time.perf_counter()
        stages.append((str(last[1]), now - float(last[0])))
        last[:] = [now, msg]

    t0 = time.perf_counter()
    result = train_models(tables, settings, step=step)
    total = time.perf_counter() - t0
    stages.append((str(last[1]), time.perf_counter() - float(last[0])))
    frame = result.test_frame
    spec = FeatureSpec.fit(frame)
    r0 = time.perf_counter()
    fit_churn_classifier(
        spec.matrix(frame), frame["churned"].to_numpy(), settings.model.lightgbm, 42
    )
    ref = time.perf_counter() - r0
    print(
        f"customers {args.customers:,}, transactions {len(tables.transactions):,}, "
        f"training customers {result.data_summary['training_customers']:,}"
    )
    for name, secs in stages[1:]:
        print(f"  {name:45s} {secs:7.1f} s")
    print(f"total training: {total:.1f} s ({total / 60:.2f} min; target < 5 min)")
    print(
        f"reference: one LightGBM churn fit on {len(frame):,} rows: {ref:.1f} s; "
        f"ratio total/reference = {total / ref:.1f}"
    )
    report_result(
        f"training, {args.customers:,} customers",
        f"{total / 60:.2f} min; {total / ref:.1f}x one LightGBM fit on {len(frame):,} rows",
        "< 5 min",
    )


if __name__ == "__main__":
    main()
