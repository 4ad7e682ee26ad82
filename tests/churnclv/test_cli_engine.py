"""`--engine` on the command line: a Spark that cannot start is one clear error line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLI


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "features", "--engine", "hive"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "engine: Input should be 'duckdb' or 'spark'" in proc.stderr


@pytest.mark.spark
def test_a_spark_that_cannot_start_is_one_error_line(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    (tmp_path / "transactions.csv").write_text("customer_id,timestamp,amount\n1,2024-01-01,5\n")
    proc = subprocess.run(
        [*CLI, "features", "--data", ".", "--engine", "spark", "--spark-master", "bogus://x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "error: cannot start Spark" in proc.stderr
    assert "Traceback" not in proc.stderr
