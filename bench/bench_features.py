"""Benchmark the feature engine on synthetic Parquet data (a script, not a test).

    .venv/bin/python bench/bench_features.py                       # 1M transactions, 100k customers
    .venv/bin/python bench/bench_features.py --transactions 10000000 --customers 1000000

Measures, in one run on the same Parquet file (bench/data/, gitignored):

(a) one hand-written DuckDB GROUP BY of recency / frequency / monetary value;
(b) the full ``build_features`` snapshot from Parquet on DuckDB (transactions + customers, and
    events too when ``--events`` > 0);
(c) ``lifetimes.utils.summary_data_from_transaction_data`` on the first 2M transactions, and
    ``build_features`` on the same 2M rows;
(d) ``churnclv features`` (the CLI, a subprocess) on the same Parquet folder: reading and
    checking every row with the one loader (duplicates, reject rules, row numbers), the
    features and writing them; compared with (b), which reads the Parquet straight.

``lifetimes`` (0.11.3, archived) is not a project dependency, so (c) runs it as a subprocess in
a virtualenv of its own (``--lifetimes-python``, default bench/data/lifetimes-venv/bin/python,
which ``make bench-deps`` creates with ``pip install lifetimes==0.11.3 pyarrow``; checked: it
installs there beside pandas 3.1 / numpy 2.4 and its summary function runs). Only the summary
call is timed there, not the Parquet read. Ratios printed: features/groupby (target <= 3),
lifetimes/features on 2M (target >= 20) and CLI/build_features (target <= 1.5).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import result  # noqa: E402

START = dt.datetime(2022, 1, 1)
DAYS = 3 * 365
CUTOFF = dt.date(2024, 12, 31)
CHANNELS = np.array(["app", "store", "web"])
EVENT_TYPES = np.array(["visit", "email_open", "email_click", "support_ticket", "app_session"])

LIFETIMES_SNIPPET = r"""
import json, sys, time
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
df = pd.read_parquet(sys.argv[1], columns=["customer_id", "timestamp", "amount"])
runs = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    summary = summary_data_from_transaction_data(
        df, "customer_id", "timestamp", monetary_value_col="amount",
        observation_period_end=sys.argv[2], freq="D",
    )
    runs.append(time.perf_counter() - t0)
print(json.dumps({"seconds": min(runs), "rows": len(summary)}))
"""


def _ids(n: int) -> pa.Array:
    width = len(str(n - 1))
    return pa.array([f"C{i:0{width}d}" for i in range(n)], pa.string())


def generate(out: Path, n_tx: int, n_customers: int, n_events: int, seed: int = 7) -> None:
    """Write transactions/customers(/events) Parquet files in contract form (fast numpy)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = _ids(n_customers)
    # skewed activity: some customers buy much more often than others
    weights = rng.gamma(0.7, 1.0, n_customers)
    weights /= weights.sum()

    def customer_column(n: int) -> pa.Array:
        idx = rng.choice(n_customers, size=n, p=weights).astype(np.int32)
        return pa.DictionaryArray.from_arrays(pa.array(idx), ids)

    def timestamps(n: int) -> pa.Array:
        micros = rng.integers(0, DAYS * 86_400, size=n, dtype=np.int64) * 1_000_000
        base = int(START.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)
        return pa.array(micros + base, pa.timestamp("us"))

    def strings(values: np.ndarray, n: int, p: list[float] | None = None) -> pa.Array:
        idx = rng.choice(len(values), size=n, p=p).astype(np.int32)
        return pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(values.tolist()))

    amount = np.round(rng.lognormal(3.5, 0.8, n_tx), 2)
    amount[rng.random(n_tx) < 0.05] *= -1.0
    tx = pa.table(
        {
            "customer_id": customer_column(n_tx),
            "timestamp": timestamps(n_tx),
            "amount": pa.array(amount),
            "channel": strings(CHANNELS, n_tx),
        }
    )
    pq.write_table(tx, out / "transactions.parquet", row_group_size=1_000_000)
    signup = rng.integers(-365, DAYS, size=n_customers, dtype=np.int64) * 86_400_000_000
    customers = pa.table(
        {
            "customer_id": ids,
            "signup_date": pa.array(
                signup + int(START.replace(tzinfo=dt.UTC).timestamp() * 1e6), pa.timestamp("us")
            ),
            "acquisition_channel": strings(np.array(["ads", "organic", "referral"]), n_customers),
            "loyalty_member": pa.array(rng.random(n_customers) < 0.3),
        }
    )
    pq.write_table(customers, out / "customers.parquet")
    if n_events:
        ev = pa.table(
            {
                "customer_id": customer_column(n_events),
                "timestamp": timestamps(n_events),
                "event_type": strings(EVENT_TYPES, n_events, [0.4, 0.3, 0.1, 0.05, 0.15]),
                "channel": strings(np.array(["app", "email", "web"]), n_events),
                "value": pa.array(np.round(rng.uniform(1, 5, n_events))),
            }
        )
        pq.write_table(ev, out / "events.parquet", row_group_size=1_000_000)


def hand_groupby(path: Path) -> tuple[float, int]:
    """(a) One hand-written DuckDB GROUP BY for recency, frequency, monetary; into pandas."""
    import duckdb

    con = duckdb.connect()
    end = CUTOFF + dt.timedelta(days=1)
    sql = f"""
        SELECT customer_id,
               date_diff('day', max(CAST(timestamp AS DATE)) FILTER (WHERE amount > 0),
                         DATE '{CUTOFF}') AS recency_days,
               count(DISTINCT CAST(timestamp AS DATE)) FILTER (WHERE amount > 0) - 1
                   AS frequency,
               sum(amount) AS monetary_total
        FROM read_parquet('{path}')
        WHERE timestamp < TIMESTAMP '{end}'
        GROUP BY customer_id
    """
    t0 = time.perf_counter()
    frame = con.sql(sql).df()
    return time.perf_counter() - t0, len(frame)


def features_on(paths: dict[str, Path | None]) -> tuple[float, int, int]:
    """(b) build_features from Parquet on a fresh DuckDB connection."""
    from features.build import build_features
    from features.engine import tables_from_parquet

    t0 = time.perf_counter()
    tables = tables_from_parquet(**paths)
    frame = build_features(tables, CUTOFF)
    return time.perf_counter() - t0, len(frame), frame.shape[1]


def cli_features(folder: Path) -> float:
    """(d) ``churnclv features`` on the folder's Parquet files, wall-clock seconds."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(
            f"data:\n  dir: {folder}\noutput_dir: {Path(tmp) / 'out'}\ncutoff: {CUTOFF}\n"
        )
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "churnclv.cli", "features", "--config", str(config)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        return time.perf_counter() - t0


def lifetimes_summary(path: Path, python: str, repeat: int) -> float | None:
    """(c) lifetimes' summary in its own virtualenv; seconds, or None when unavailable."""
    if not Path(python).exists():
        print(f"  lifetimes: {python} not found; skipped (see the module docstring)")
        return None
    proc = subprocess.run(
        [python, "-c", LIFETIMES_SNIPPET, str(path), str(CUTOFF), str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print("  lifetimes failed:\n" + proc.stderr[-2000:])
        return None
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  lifetimes summary rows: {result['rows']:,}")
    return float(result["seconds"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=0, help="also generate N events")
    parser.add_argument("--lifetimes-rows", type=int, default=2_000_000)
    parser.add_argument(
        "--lifetimes-python",
        default=str(ROOT / "bench" / "data" / "lifetimes-venv" / "bin" / "python"),
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "data")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    args = parser.parse_args(argv)

    out = args.data_dir / f"tx{args.transactions}_c{args.customers}_e{args.events}"
    t0 = time.perf_counter()
    if not (out / "transactions.parquet").exists():
        generate(out, args.transactions, args.customers, args.events)
    print(f"data: {out} ({time.perf_counter() - t0:.1f}s to prepare)")
    tx_path = out / "transactions.parquet"

    main_paths = {"transactions": tx_path, "customers": out / "customers.parquet"}
    all_paths = {**main_paths, "events": out / "events.parquet"} if args.events else None
    # (a) and (b) alternate, best of --repeat each, so that load from other processes on a
    # shared machine hits both alike
    groupby_runs, feature_runs, all_runs = [], [], []
    for _ in range(args.repeat):
        groupby_runs.append(hand_groupby(tx_path))
        feature_runs.append(features_on(main_paths))
        if all_paths:
            all_runs.append(features_on(all_paths))
    t_group, n = min(groupby_runs)
    print(f"(a) hand-written DuckDB GROUP BY on {args.transactions:,} transactions")
    print(
        f"  {t_group:.2f}s (runs: {', '.join(f'{r[0]:.2f}' for r in groupby_runs)}), {n:,} customers"
    )
    t_feat, n, k = min(feature_runs)
    print("(b) build_features from Parquet on DuckDB (transactions + customers)")
    print(
        f"  {t_feat:.2f}s (runs: {', '.join(f'{r[0]:.2f}' for r in feature_runs)}), "
        f"{n:,} customers x {k} columns"
    )
    if all_runs:
        t_all, n, k = min(all_runs)
        print(f"  with {args.events:,} events: {t_all:.2f}s, {n:,} customers x {k} columns")

    rows = min(args.lifetimes_rows, args.transactions)
    small = out / f"transactions_first{rows}.parquet"
    if not small.exists():
        pq.write_table(pq.read_table(tx_path).slice(0, rows), small)
    print(f"(c) on the first {rows:,} transactions")
    t_small, n, k = min(features_on({"transactions": small}) for _ in range(args.repeat))
    print(f"  build_features (transactions only): {t_small:.2f}s, {n:,} customers")
    t_lt = lifetimes_summary(small, args.lifetimes_python, args.repeat)
    if t_lt is not None:
        print(f"  lifetimes summary_data_from_transaction_data (separate venv): {t_lt:.2f}s")

    cli_runs = [cli_features(out) for _ in range(args.repeat)]
    t_cli = min(cli_runs)
    print("(d) churnclv features (CLI subprocess) on the same Parquet folder")
    print(f"  {t_cli:.2f}s (runs: {', '.join(f'{r:.2f}' for r in cli_runs)})")

    print("ratios")
    print(f"  features / groupby           = {t_feat / t_group:.2f}  (target <= 3)")
    size = f"{args.transactions / 1e6:g}M tx / {args.customers / 1e6:g}M customers"
    result(f"features / hand GROUP BY, {size}", f"{t_feat / t_group:.2f}", "<= 3")
    print(f"  CLI / build_features        = {t_cli / t_feat:.2f}  (target <= 1.5)")
    result(f"CLI features / build_features, {size}", f"{t_cli / t_feat:.2f}", "<= 1.5")
    if t_lt is not None:
        print(f"  lifetimes / features on {rows / 1e6:g}M = {t_lt / t_small:.1f}  (target >= 20)")
        result(
            f"lifetimes summary / features, {rows / 1e6:g}M tx",
            f"{t_lt / t_small:.1f} ({t_lt:.1f} s vs {t_small:.1f} s)",
            ">= 20",
        )


if __name__ == "__main__":
    main()
