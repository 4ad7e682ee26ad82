"""How long `churnclv --help` takes as a whole process, next to a bare Python start.

    .venv/bin/python bench/bench_cli.py --repeat 10

Runs the installed ``churnclv`` script with ``--help`` (and ``score --help``) ``--repeat`` times
and a ``python -c pass`` of the same interpreter as the reference, in the same run; prints the
median wall time of each and the ratio. Target: ``churnclv --help`` under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import result  # noqa: E402

SCRIPT = Path(sys.executable).with_name("churnclv")


def wall(cmd: list[str], repeat: int) -> float:
    """Median wall time in seconds of ``repeat`` runs of ``cmd`` (output discarded)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    python = wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"python -c pass          {python * 1000:7.0f} ms (reference)")
    for cmd in (["--help"], ["score", "--help"]):
        took = wall([str(SCRIPT), *cmd], args.repeat)
        name = " ".join(["churnclv", *cmd])
        print(f"{name:<23} {took * 1000:7.0f} ms = {took / python:.1f}x python start")
        result(name, f"{took:.2f} s ({took / python:.1f}x python start)", "< 1 s")


if __name__ == "__main__":
    main()
