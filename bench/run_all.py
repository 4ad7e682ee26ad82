"""Run every benchmark and write bench/RESULTS.md (what `make bench` runs).

    .venv/bin/python bench/run_all.py                 # all of them, about 33 min on 2 cores
    .venv/bin/python bench/run_all.py --only spark    # one of them (the table keeps the others)
    .venv/bin/python bench/run_all.py --only quality  # model vs baselines vs oracle, ~8 min

Each benchmark is a script in bench/ that prints its figures and, for the headline ones, a
``RESULT<TAB>name<TAB>value<TAB>target`` line (bench/common.py ``result``): every ratio there
is to a reference measured in the same run, because absolute times on shared machines vary.
This script runs them one after another (never in parallel: they would slow each other
down), shows their output live, and writes the RESULTS lines plus each full output, the
machine and the package versions to bench/RESULTS.md (atomically).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "RESULTS.md"
STATE = BENCH / "data" / "results.json"  # last output of each benchmark, for --only runs
LIFETIMES_PYTHON = BENCH / "data" / "lifetimes-venv" / "bin" / "python"

BENCHMARKS: dict[str, list[str]] = {
    "features": [
        "bench_features.py",
        "--transactions",
        "10000000",
        "--customers",
        "1000000",
        "--lifetimes-python",
        str(LIFETIMES_PYTHON),
    ],
    "training": ["bench_training.py", "--customers", "1000000"],
    "scoring": ["bench_scoring.py", "--customers", "100000", "--repeat", "1"],
    "service": ["bench_service.py"],
    "spark": ["bench_spark.py"],
    "quality": ["bench_quality.py"],
    "cli": ["bench_cli.py", "--repeat", "10"],
    "scale": ["bench_scale.py", "--sizes", "100000", "1000000"],
    "realtime": ["bench_realtime.py", "--repeat", "15"],
}
PACKAGES = ("duckdb", "ibis-framework", "pyspark", "lightgbm", "pandas", "bentoml", "mlflow")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kb / 2**20:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; {versions}"
    )


def run(name: str, args: list[str]) -> dict[str, object]:
    cmd = [sys.executable, *args]
    print(f"\n=== {name}: python bench/{' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=BENCH, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    code = proc.wait()
    results = [line.split("\t")[1:] for line in lines if line.startswith("RESULT\t")]
    output = [
        line
        for line in lines
        if not line.startswith("RESULT\t") and "WARN" not in line and "log4j" not in line
    ]
    return {
        "command": f"python bench/{' '.join(args)}".replace(str(ROOT) + "/", ""),
        "seconds": round(time.perf_counter() - t0, 1),
        "exit_code": code,
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "results": results,
        "output": output,
    }


def render(state: dict[str, dict], host: str) -> str:
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`bench/run_all.py`); every ratio is to a reference measured in",
        "the same run of the same script, since absolute times vary on shared machines.",
        "",
        f"Machine: {host}.",
        "",
        "| benchmark | figure | value | target / reference |",
        "|---|---|---|---|",
    ]
    for name, run_ in state.items():
        rows = run_["results"] or [["(no result line)", f"exit code {run_['exit_code']}", ""]]
        for row in rows:
            row = [*row, "", ""][:3]
            out.append(f"| {name} | {row[0]} | {row[1]} | {row[2]} |")
    out += [
        "",
        "Reading the table:",
        "",
        "- Growth lines: `x10 size -> x9.5 time` is near-linear; much less than x10 means fixed",
        "  costs (start-up, scheduling) still dominate at the smaller size.",
        "- Spark runs in local mode on this one machine (`local[2]`), against engines that already",
        "  use it fully: DuckDB is multi-threaded and LightGBM predicts on all cores, so Spark adds",
        "  its own costs (JVM, shuffles, Arrow transfers to Python workers) and no extra hardware.",
        "  Its point is data that outgrows one machine, where it adds executors; these rows show",
        "  what that costs per machine and that it grows linearly.",
        "- Scoring stops at about 1M customers: at the measured rate, 10M would take about 50",
        "  minutes per engine, too long for `make bench`; the growth from 100k to 1M is linear.",
    ]
    for name, run_ in state.items():
        out += [
            "",
            f"## {name}",
            "",
            f"`{run_['command']}`: {run_['seconds']:.0f} s, run {run_['date']}, "
            f"exit code {run_['exit_code']}.",
            "",
            "```",
            *run_["output"],
            "```",
        ]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(BENCHMARKS), action="append")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite RESULTS.md from the last outputs"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from core.files import write_text

    state: dict[str, dict] = json.loads(STATE.read_text()) if STATE.exists() else {}
    failed = []
    for name in [] if args.render else args.only or list(BENCHMARKS):
        state[name] = run(name, BENCHMARKS[name])
        if state[name]["exit_code"]:
            failed.append(name)
        STATE.parent.mkdir(parents=True, exist_ok=True)
        write_text(json.dumps(state, indent=1), STATE)
        ordered = {k: state[k] for k in BENCHMARKS if k in state}
        write_text(render(ordered, machine()), RESULTS)
    ordered = {k: state[k] for k in BENCHMARKS if k in state}
    write_text(render(ordered, machine()), RESULTS)
    print(f"\nwrote {RESULTS}")
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
