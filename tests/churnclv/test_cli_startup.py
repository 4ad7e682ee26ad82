"""The CLI starts light: `churnclv --help` loads no data or model library (they load when a
command runs), so it answers in well under a second (bench/bench_cli.py measures it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "numpy", "pyarrow", "pydantic", "ibis", "duckdb", "lightgbm", "mlflow", "yaml")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import sys, churnclv.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_the_commands() -> None:
    script = Path(sys.executable).with_name("churnclv")  # the installed entry point
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for command in ("train", "score", "report", "serve"):
        assert command in out.stdout
