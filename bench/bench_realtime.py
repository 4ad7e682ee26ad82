"""The feature step of real-time scoring (POST /score): compiled once vs built per call.

    .venv/bin/python bench/bench_realtime.py --repeat 15

For 1 and 100 customers with a year of history (24 orders, 8 visits each): the median time of
``tables_from_customers`` + :class:`features.compiled.CompiledFeatures` (what the service runs),
next to ``tables_from_customers`` + ``build_features`` (the batch path, compiling the Ibis
expressions on every call) measured in the same run, and the ratio. Both give the same frame
(tests/features/test_compiled.py). Target of issue #15: the whole /score call under 50 ms p99 for
one customer; this measures the step that dominates it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    from features import build_features
    from features.compiled import CompiledFeatures
    from serving.api_models import CustomerIn, tables_from_customers

    day = dt.date(2026, 9, 30)
    tx = [
        {"timestamp": f"2025-{m:02d}-{d:02d}T10:00:00", "amount": 10.0 + d}
        for m in range(1, 13)
        for d in (3, 17)
    ]
    ev = [{"timestamp": f"2026-0{m}-05T10:00:00", "event_type": "visit"} for m in range(1, 9)]
    compiled = CompiledFeatures()
    for n in (1, 100):
        customers = [
            CustomerIn(customer_id=f"c{i}", as_of=day, transactions=tx, events=ev) for i in range(n)
        ]
        medians = {}
        for name, build in (("build_features", build_features), ("compiled", compiled.build)):
            build(tables_from_customers(customers), day)  # warm: imports, first compile
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                build(tables_from_customers(customers), day)
                times.append(time.perf_counter() - t0)
            medians[name] = statistics.median(times)
            print(f"{n:>3} customers  {name:<15} median {1000 * medians[name]:7.1f} ms")
        ratio = medians["compiled"] / medians["build_features"]
        result(
            f"/score features, {n} customer(s)",
            f"{1000 * medians['compiled']:.0f} ms ({ratio:.2f}x build_features per call)",
            "whole /score p99 < 50 ms",
        )


if __name__ == "__main__":
    main()
