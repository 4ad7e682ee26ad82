"""Shared set-up for the benchmarks: cached demo data of a given size (bench/data/, gitignored)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
sys.path.insert(0, str(ROOT))

from features.contract import InputTables  # noqa: E402


def demo_tables(customers: int, seed: int = 42) -> InputTables:
    """Demo tables for ``customers`` customers, generated once and cached as Parquet."""
    import pandas as pd

    from churnclv.demo_data import generate_demo_data, write_demo_data

    folder = DATA / f"demo_{customers}_{seed}"
    names = ("transactions", "events", "customers")
    if not all((folder / f"{n}.parquet").exists() for n in names):
        t0 = time.perf_counter()
        write_demo_data(generate_demo_data(n_customers=customers, seed=seed), folder, fmt="parquet")
        print(
            f"generated demo data for {customers:,} customers in {time.perf_counter() - t0:.1f} s"
        )
    return InputTables(*(pd.read_parquet(folder / f"{n}.parquet") for n in names))


def result(name: str, value: str, target: str = "") -> None:
    """Print one headline figure as a ``RESULT`` line; ``bench/run_all.py`` tabulates them."""
    print(f"RESULT\t{name}\t{value}\t{target}", flush=True)


def growth(sizes: list[int], seconds: list[float]) -> str:
    """How time grows with size: 'x10 size -> x9.1 time, ...' (x10 time = linear)."""
    steps = []
    for (n0, t0), (n1, t1) in zip(
        zip(sizes, seconds, strict=True), zip(sizes[1:], seconds[1:], strict=True), strict=False
    ):
        steps.append(f"x{n1 / n0:.3g} size -> x{t1 / t0:.1f} time")
    return ", ".join(steps)
