"""`churnclv features` and `churnclv train` with `engine: spark`, through the real CLI.

Apart from tests/test_end_to_end.py (whose Spark test scores with its trained model) so that
the two files run on different workers of ``make test``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.test_end_to_end import SPARK_CONFIG, run

pytestmark = [pytest.mark.slow, pytest.mark.spark]
BASE = (
    "data: {dir: data}\ngross_margin: 0.4\n"
    "model: {n_snapshots: 3, clv_check: false, max_training_customers: 600, "
    "lightgbm: {n_estimators: 60, learning_rate: 0.05, num_leaves: 15}}\n"
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pyspark")
    work = tmp_path_factory.mktemp("spark_job")
    proc = run("demo-data", "--customers", "1500", "--seed", "3", "--out", "data", cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (work / "duck.yaml").write_text(
        BASE + "output_dir: duck\nmlflow_tracking_uri: sqlite:///duck.db\n"
    )
    (work / "spark.yaml").write_text(
        BASE + "output_dir: spark\nmlflow_tracking_uri: sqlite:///spark.db\n" + SPARK_CONFIG
    )
    return work


def test_engine_spark_writes_the_same_features(work: Path) -> None:
    from features.build import conform_dtypes

    for config in ("duck.yaml", "spark.yaml"):
        proc = run("features", "--config", config, "--cutoff", "2026-09-30", cwd=work)
        assert proc.returncode == 0, (config, proc.stdout[-3000:], proc.stderr[-3000:])
    assert "on Spark (local[1])" in proc.stderr
    assert (work / "spark" / "features.parquet").is_dir()  # written by Spark as a directory
    duck = pd.read_parquet(work / "duck" / "features.parquet")
    spark = conform_dtypes(pd.read_parquet(work / "spark" / "features.parquet"))
    spark = spark.sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(spark, duck, check_exact=False, rtol=1e-9, atol=1e-9)


def test_engine_spark_trains_on_the_same_sample_and_gets_the_same_model(work: Path) -> None:
    """Training with `engine: spark` samples on Spark with the pandas path's rule: the same
    customers, the same snapshots, byte-identical LightGBM models."""
    for config in ("duck.yaml", "spark.yaml"):
        proc = run("train", "--config", config, cwd=work)
        assert proc.returncode == 0, (config, proc.stdout[-3000:], proc.stderr[-3000:])
        assert "sample of 600 of" in proc.stderr
    for name in ("churn.txt", "revenue.txt"):
        duck = (work / "duck" / "model_bundle" / name).read_bytes()
        assert (work / "spark" / "model_bundle" / name).read_bytes() == duck, name


def test_sigterm_stops_a_spark_run_while_a_job_runs(work: Path) -> None:
    """A scheduler ends a Spark run with SIGTERM while the driver waits on a job (a scoring
    task is paused): the job is cancelled, the command stops with exit 143 and one line, and
    nothing is published."""
    import signal
    import time

    from tests.conftest import paused_score

    if not (work / "spark" / "model_bundle").exists():  # this test run on its own
        assert run("train", "--config", "spark.yaml", cwd=work).returncode == 0
    # the features are written just before the scoring job starts
    proc = paused_score(
        work, "spark:scoring-batch", ".features.parquet/_SUCCESS", config="spark.yaml", out="spark"
    )
    try:
        time.sleep(3)  # the scoring job's task is now paused, the driver waiting on it
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 30  # not the pause's 60 s: the job was cancelled
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    assert [ln for ln in stderr.splitlines() if ln.startswith("error:")] == [
        "error: stopped by SIGTERM: temporary files removed; outputs switch as a whole or not "
        "at all"
    ]
    assert not (work / "spark" / "current").exists()  # this folder's first score run
