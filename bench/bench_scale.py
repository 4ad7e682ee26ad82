"""The whole job at scale, run as a user runs it: wall time and peak memory of each command.

    .venv/bin/python bench/bench_scale.py --sizes 100000 1000000 10000000

For each size, in a work folder: ``churnclv demo-data`` (Parquet), ``churnclv train``,
``churnclv features`` and ``churnclv score``, each as its own process; the peak resident
memory is the process's own (``wait4``). Reference for scoring, measured in the same run on the
same customers: the raw LightGBM work, ``predict`` of every model of the champion bundle over
the feature file ``churnclv features`` wrote (read in batches) plus one Parquet write of the
predictions. Targets (issue 17): 10M customers scored in under 15 minutes with a peak under
6 GB, 1M in under 90 s, x10 customers -> at most x11 time from 1M to 10M.

``--keep`` keeps each size's folder; ``--steps score`` (say) then measures again only the
commands named, on that folder's data and models (the reference needs the feature file of an
earlier ``features`` step). ``--steps score-spark`` runs ``churnclv score`` with ``engine:
spark`` (local[2], 6 GB driver, :data:`PARTITIONS_PER_MILLION` shuffle partitions) on the same
data and champion; its peak is that of the Python driver and the JVM together.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from common import growth, result

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "churnclv.cli"]
STEPS = {
    "demo-data": ["demo-data", "--customers", "{n}", "--format", "parquet", "--out", "data"],
    "train": ["train", "--config", "config.yaml"],
    "features": ["features", "--config", "config.yaml"],
    "score": ["score", "--config", "config.yaml"],
    "score-spark": ["score", "--config", "spark.yaml"],
}  # fmt: skip
CONFIG = "data:\n  dir: data\noutput_dir: out\nmlflow_tracking_uri: sqlite:///mlflow.db\n"
PARTITIONS_PER_MILLION = 8
"""Spark's shuffle partitions per million customers: bench_spark.py's 8 at 1M (306 s at stop
28), as many more for more customers so that each holds as much. A fixed 8 at 10M made cached
blocks over the 2 GB a buffer holds (stop 28: "Cannot reserve 2147483632 bytes of direct buffer
memory"); at 1M, Spark's default 200 (adaptive) took 686 s against 331 s with 8 (stop 32)."""


def spark_config(customers: int) -> str:
    """The same data and champion, scored on Spark local mode with partitions for the size."""
    return (
        CONFIG.replace("output_dir: out", "output_dir: out-spark")
        + "engine: spark\nspark:\n  master: local[2]\n  conf:\n    spark.driver.memory: 6g\n"
        + f'    spark.sql.shuffle.partitions: "{spark_partitions(customers)}"\n'
    )


def spark_partitions(customers: int) -> int:
    """Shuffle partitions for ``customers``: :data:`PARTITIONS_PER_MILLION` per million, at
    least that many."""
    return max(PARTITIONS_PER_MILLION, PARTITIONS_PER_MILLION * customers // 1_000_000)


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run a command; (wall seconds, peak resident memory in GB): the process's own peak
    (``wait4``), or the process tree's, polled twice a second, when that is larger (Spark's
    JVM is a child of the Python driver)."""
    log = cwd / "stderr.log"  # a file, not a pipe: a long run's output cannot block it
    tree_peak = [0]
    with log.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.5):
                try:
                    root = psutil.Process(proc.pid)
                    procs = [root, *root.children(recursive=True)]
                    tree_peak[0] = max(tree_peak[0], sum(_rss(p) for p in procs))
                except psutil.Error:
                    pass

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        done.set()
        watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{log.read_text()[-3000:]}")
    return seconds, max(usage.ru_maxrss * 1024, tree_peak[0]) / 1024**3  # KB -> GB


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:  # ended between the listing and the reading
        return 0


def raw_reference(work: Path) -> float:
    """Seconds of predict of every model in the champion bundle over the feature file, in
    batches, and one Parquet write of the predictions (the work scoring cannot avoid)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from model.bundle import ModelBundle

    bundle = ModelBundle.load(work / "out" / "model_bundle")
    t0 = time.perf_counter()
    parts = []
    for batch in pq.ParquetFile(work / "out" / "features.parquet").iter_batches(250_000):
        feats = batch.to_pandas()
        feats = feats[feats["recency_days"].notna()]
        X = bundle.matrix(feats)
        parts.append(pd.DataFrame({n: b.predict(X) for n, b in bundle.boosters.items()}))
    pd.concat(parts).to_parquet(work / "raw.parquet")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "data" / "scale")
    parser.add_argument("--keep", action="store_true", help="keep each size's folder")
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=list(STEPS),
        default=[s for s in STEPS if s != "score-spark"],
        help="run only these commands, in a folder kept from an earlier run (--keep); "
        "score-spark: churnclv score with engine: spark on the same data and champion",
    )
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    )
    for n in args.sizes:  # checked before the long runs, not after one of them
        features = args.work / f"{n}" / "out" / "features.parquet"
        if "score" in args.steps and not ("features" in args.steps or features.exists()):
            raise SystemExit(
                f"{features} is missing (the score's reference reads it): "
                "run with features among --steps"
            )
    score_times = []
    for n in args.sizes:
        work = args.work / f"{n}"
        if "demo-data" in args.steps:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            (work / "config.yaml").write_text(CONFIG)
        elif not (work / "data").is_dir():
            raise SystemExit(f"{work} has no demo data: run with demo-data among --steps")
        (work / "spark.yaml").write_text(spark_config(n))
        figures = {}
        for name in args.steps:
            step = [a.replace("{n}", str(n)) for a in STEPS[name]]
            figures[name] = timed([*CLI, *step], work)
            seconds, peak = figures[name]
            print(
                f"{n:>12,} customers  {name:<11} {seconds:8.1f} s  peak {peak:5.2f} GB", flush=True
            )
        if "score-spark" in figures:
            spark_s, spark_gb = figures["score-spark"]
            versus = (
                f"; {spark_s / figures['score'][0]:.2f}x DuckDB's" if "score" in figures else ""
            )
            result(
                f"scale {n:,} customers: churnclv score on Spark local[2]",
                f"{spark_s:.0f} s ({n / spark_s:,.0f} customers/s), peak {spark_gb:.2f} GB, "
                f"{spark_partitions(n)} shuffle partitions{versus}",
                "(info) same data and champion as the DuckDB engine",
            )
        if "score" not in figures:
            continue
        reference = raw_reference(work)
        seconds, peak = figures["score"]
        score_times.append(seconds)
        print(f"{n:>12,} customers  raw LightGBM predict + Parquet write {reference:.1f} s")
        result(
            f"scale {n:,} customers: churnclv score",
            f"{seconds:.0f} s ({n / seconds:,.0f} customers/s), peak {peak:.2f} GB; "
            f"{seconds / reference:.1f}x the raw predict + write ({reference:.0f} s)",
            "10M: < 15 min and < 6 GB; 1M: < 90 s",
        )
        others = ", ".join(
            f"{k} {t:.0f} s / {m:.2f} GB"
            for k, (t, m) in figures.items()
            if not k.startswith("score")
        )
        if others:
            result(f"scale {n:,} customers: other commands (time / peak)", others, "(info)")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(score_times) > 1:
        result(
            "scale: churnclv score growth", growth(args.sizes, score_times), "x10 -> at most x11"
        )


if __name__ == "__main__":
    main()
