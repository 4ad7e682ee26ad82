"""Fault injection: runs killed at each write step, a full disk, a read-only file system, a
damaged model store, two runs at once. After each, readers still see the previous complete set,
the error is one line, and the next run works (marker ``faults``).

The faults are set off at exact steps through ``CHURNCLV_FAULT`` (:mod:`core.faults`), not by
timing. Every test works on its own copy of the served world (demo data, trained models, one
score run), so the shared world stays as it was.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from core.catalog import OutputCatalog
from core.runs import current_run_id
from serving.batch import recorded_runs
from serving.latest import LatestScores
from tests.conftest import one_error_line, paused_score, shared_folder
from tests.serving.conftest import CLI, build_world

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_folder(tmp_path_factory, "served", build_world)


@pytest.fixture
def work(world: Path, tmp_path: Path) -> Path:
    """A private copy of the world to break."""
    copy = tmp_path / "w"
    shutil.copytree(
        world, copy, symlinks=True, ignore=shutil.ignore_patterns("bentoml", "*.log", ".lock")
    )
    return copy


def cli(work: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CHURNCLV_FAULT"}
    if fault:
        env["CHURNCLV_FAULT"] = fault
    return subprocess.run(
        [*CLI, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )


def score(work: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    return cli(work, "score", "--config", "config.yaml", fault=fault)


def served_set(work: Path) -> tuple[str | None, pd.DataFrame]:
    """What a reader sees: the current run's id and its scores, checked to be one whole set
    (every list and the summary agree with the scores)."""
    catalog = OutputCatalog(work / "out")
    run = catalog.pinned()
    scores = pd.read_parquet(run.scores)
    lists = sum(len(pd.read_csv(p)) for p in run.segments.glob("*.csv"))
    summary = pd.read_csv(run.summary)
    total = summary.loc[summary["segment"] == "All customers", "customers"].iloc[0]
    assert lists == len(scores) == total
    assert LatestScores(catalog).customer_ids  # the service would load it
    return current_run_id(catalog), scores


def test_a_score_run_killed_at_any_step_leaves_the_previous_set(work: Path) -> None:
    before, scores = served_set(work)
    for point in ("score:scores-written", "score:lists-written", "score:staged"):
        proc = score(work, fault=f"{point}:kill")
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr[-2000:])
        after, same = served_set(work)
        assert after == before, point
        pd.testing.assert_frame_equal(same, scores)
    # each run clears what the one before left: only the last kill's staging folder is there
    assert len(list((work / "out" / "runs").glob(".staging-*"))) == 1
    proc = score(work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    new, _ = served_set(work)
    assert new != before
    assert not list((work / "out" / "runs").glob(".staging-*"))  # cleared by the next run
    assert {before, new} <= recorded_runs(work / "out" / "churnclv.duckdb")


def test_a_run_killed_after_its_switch_is_recorded_by_the_next_command(work: Path) -> None:
    proc = score(work, fault="score:switched:kill")
    assert proc.returncode == -signal.SIGKILL
    switched, _ = served_set(work)  # the new set is whole and served
    history = work / "out" / "churnclv.duckdb"
    assert switched not in recorded_runs(history)
    proc = cli(work, "report", "--config", "config.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert switched in recorded_runs(history)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("score:lists-written:disk-full", "No space left on device"),
        ("score:staged:read-only", "Read-only file system"),
    ],
)
def test_a_full_disk_or_read_only_folder_is_one_line_and_changes_nothing(
    work: Path, fault: str, says: str
) -> None:
    before, scores = served_set(work)
    line = one_error_line(score(work, fault=fault))
    assert says in line and "out/runs/.staging-" in line
    after, same = served_set(work)
    assert after == before
    pd.testing.assert_frame_equal(same, scores)


def test_an_output_folder_that_is_a_file_is_one_line(work: Path) -> None:
    (work / "taken").write_text("not a folder")
    line = one_error_line(cli(work, "features", "--config", "config.yaml", "--out", "taken"))
    assert "taken" in line


def test_a_damaged_model_store_is_one_line_for_score_and_train(work: Path) -> None:
    before, _ = served_set(work)
    db = work / "mlflow.db"
    db.write_bytes(db.read_bytes()[:4096])  # truncated
    line = one_error_line(score(work))
    assert "the MLflow store sqlite:///mlflow.db cannot be read" in line
    line = one_error_line(cli(work, "train", "--config", "config.yaml"))
    assert "cannot be read" in line
    assert served_set(work)[0] == before


def test_a_second_run_meets_the_first_and_a_killed_ones_lock_is_not_stale(work: Path) -> None:
    first = paused_score(work, "score:staged", "segment_movement.csv")
    try:
        line = one_error_line(score(work))  # the first one is paused at "staged"
        assert f"in use by churnclv score (process {first.pid}" in line
        assert "--out" in line
    finally:
        first.kill()
        first.wait()
    proc = score(work)  # the kernel dropped the killed run's lock
    assert proc.returncode == 0, proc.stderr[-3000:]
    served_set(work)


def test_training_killed_between_its_two_aliases_leaves_a_usable_champion(work: Path) -> None:
    # gate tolerances wide enough that the new pair is promoted, so the champion aliases move
    config = work / "config.yaml"
    text = config.read_text()
    assert "model: {" in text
    config.write_text(
        text.replace("model: {", "model: {gate_tolerance_auc: 1.0, gate_tolerance_spearman: 2.0, ")
    )
    proc = cli(work, "train", "--config", "config.yaml", fault="train:champion-alias-set:kill")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    proc = score(work)  # the champion pair recorded last is used, not a mixed pair
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, scores = served_set(work)
    assert scores["churn_model_version"].nunique() == 1
    assert scores["churn_model_version"].iloc[0] == scores["clv_model_version"].iloc[0]


def test_verbose_adds_the_traceback(work: Path) -> None:
    (work / "mlflow.db").write_bytes(b"garbage")
    proc = cli(work, "--verbose", "score", "--config", "config.yaml")
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert "error: the MLflow store" in proc.stderr


def test_sigterm_unwinds_a_run_and_removes_duckdbs_spill_files(work: Path) -> None:
    """A scheduler ends a run with SIGTERM while DuckDB has spilled to disk (more customers
    than a small memory limit holds; the run paused just after writing its scores): the run
    stops in order, exit 143 and one line, no spill file is left, nothing is published, and
    the next run works."""
    before, scores = served_set(work)
    demo = ("demo-data", "--customers", "12000", "--seed", "4", "--scenario", "own-columns")
    proc = cli(work, *demo, "--out", "data")
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = work / "config.yaml"
    config.write_text(config.read_text() + "duckdb_memory_limit: 64MB\n")
    run = paused_score(work, "score:scores-written", "scores.parquet")
    try:
        spilled = list((work / ".tmp").glob("duckdb_temp_*"))
        assert spilled  # DuckDB holds spill files while the run is paused
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Traceback" not in stderr
    assert [ln for ln in stderr.splitlines() if ln.startswith("error:")] == [
        "error: stopped by SIGTERM: temporary files removed; outputs switch as a whole or not "
        "at all"
    ]
    assert not any(p.exists() for p in spilled)
    after, same = served_set(work)
    assert after == before
    pd.testing.assert_frame_equal(same, scores)
    proc = score(work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert served_set(work)[0] != before


def test_duckdb_out_of_its_memory_limit_is_one_line(work: Path) -> None:
    config = work / "config.yaml"
    config.write_text(config.read_text() + "duckdb_memory_limit: 2MB\n")
    line = one_error_line(score(work))
    assert "Out of Memory" in line and "raise duckdb_memory_limit" in line
