"""Where loading one large input table goes: ``load_table_on`` on a kept scale folder.

    .venv/bin/python bench/bench_load.py bench/data/scale/10000000 transactions
    .venv/bin/python bench/bench_load.py bench/data/scale/10000000 transactions --part-rows 40e6

The folder is one ``bench_scale.py --keep`` left (its ``config.yaml`` and data). The table is
loaded and checked as ``churnclv score`` does (the config's DuckDB memory limit, its temporary
folder ``.tmp``). Printed: every engine call of 0.5 s or more (the id sample, the part files'
write, each part's checked and clean table), the total and the peak size of ``.tmp`` (polled
every 2 s). ``--part-rows`` / ``--split-rows`` replace :data:`features.engine.PART_ROWS` /
``SPLIT_ROWS`` for the run, to compare part sizes on the same data. A diagnostic, not part of
``make bench``: one table at 10M customers takes 2-5 minutes.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

import features.engine as engine
from core.settings import load_settings
from features.loader import load_table_on
from features.sources import resolve_sources

SLOW_CALL_S = 0.5


def timed_calls(con: Any) -> None:
    """Print each of ``con``'s engine calls that takes :data:`SLOW_CALL_S` or more."""
    for name in ("raw_sql", "execute", "create_table", "to_pyarrow"):
        call = getattr(con, name)

        def wrapper(*args: Any, _call: Any = call, _name: str = name, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = _call(*args, **kwargs)
            seconds = time.perf_counter() - t0
            if seconds >= SLOW_CALL_S:
                named = _name in ("raw_sql", "create_table")  # SQL text, table name
                what = str(args[0])[:80].replace("\n", " ") if named else ""
                print(f"  {seconds:7.1f} s  {_name} {what}", flush=True)
            return out

        setattr(con, name, wrapper)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="a folder kept by bench_scale.py --keep")
    parser.add_argument("table", choices=["transactions", "events", "customers"])
    parser.add_argument("--part-rows", type=float, help="rows per part (features.engine)")
    parser.add_argument("--split-rows", type=float, help="tables longer than this are split")
    args = parser.parse_args()
    if args.part_rows:
        engine.PART_ROWS = int(args.part_rows)
    if args.split_rows:
        engine.SPLIT_ROWS = int(args.split_rows)
    os.chdir(args.folder)
    settings = load_settings(Path("config.yaml"))
    con = engine.default_backend(settings.duckdb_memory_limit)
    timed_calls(con)
    spill, peak, done = Path(".tmp"), [0], threading.Event()

    def poll() -> None:
        while not done.wait(2):
            peak[0] = max(peak[0], folder_size(spill))

    threading.Thread(target=poll, daemon=True).start()
    print(f"{args.table}: parts of {engine.PART_ROWS:,} rows past {engine.SPLIT_ROWS:,} rows")
    t0 = time.perf_counter()
    src = resolve_sources(settings.data)[args.table]
    _, _, report = load_table_on(
        src, args.table, con, pd.Timestamp.now(), settings.data.earliest_date, engine.IdSample()
    )
    done.set()
    print(
        f"{args.table}: {time.perf_counter() - t0:.1f} s, {report.rows_read:,} rows read, "
        f"{report.rows_kept:,} kept; spill peak {peak[0] / 1e9:.1f} GB"
    )
    con.disconnect()


if __name__ == "__main__":
    main()
