"""The main job through the real CLI: demo data -> features -> train -> score -> report -> serve
-> notebook, every command with `--out out` (the run's output folder; the config's output_dir
stays untouched)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.conftest import CLI

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    return proc


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("job")
    config = work / "config.yaml"
    config.write_text(
        "data:\n  dir: data\noutput_dir: default_out\nmlflow_tracking_uri: sqlite:///mlflow.db\n"
        "gross_margin: 0.4\nmodel:\n  n_snapshots: 3\n  clv_check: false\n"
        "  lightgbm: {n_estimators: 100, learning_rate: 0.05, num_leaves: 15}\n"
    )
    steps = [
        ("demo-data", "--customers", "1500", "--seed", "3", "--out", "data"),
        ("features", "--config", "config.yaml", "--out", "out"),
        ("train", "--config", "config.yaml", "--out", "out"),
        ("score", "--config", "config.yaml", "--out", "out", "--holdout", "10", "--campaign", "spring"),
        ("report", "--config", "config.yaml", "--out", "out", "--campaign", "spring", "--since", "2026-09-01"),
    ]  # fmt: skip
    for step in steps:
        proc = run(*step, cwd=work)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])
    return work


def test_outputs_of_every_step(job: Path) -> None:
    out = job / "out"
    for name in (
        "features.parquet",
        "rejects.csv",
        "load_summary.json",
        "model_bundle/bundle.json",
        "report/training_report.html",
        "current/scores.parquet",
        "current/summary.csv",
        "current/drift.csv",
        "current/segment_movement.csv",
        "current/rejects.csv",
        "current/load_summary.json",
        "current/run.json",
        "churnclv.duckdb",
        "reports/report.html",
        "reports/retention.csv",
        "reports/cohorts.csv",
        "reports/clv_by_channel.csv",
        "reports/campaign.csv",
    ):
        assert (out / name).exists(), name
    # the data folder holds the generator's truth.csv, but the config does not name it: a file
    # is ground truth by intent (data.truth / --truth), never by its name
    assert "ground truth" not in (out / "report" / "training_report.html").read_text()
    scores = pd.read_parquet(out / "current" / "scores.parquet")
    lists = sorted((out / "current" / "segments").glob("*.csv"))
    control = pd.read_csv(out / "current" / "control.csv")
    # the campaign's lists hold the customers to contact; its control group is apart
    assert sum(len(pd.read_csv(p)) for p in lists) + len(control) == len(scores)
    assert len(control) == scores["control"].sum() and control["control"].all()
    assert scores["churn_model_version"].eq("1").all()
    assert abs(scores["control"].mean() - 0.10) < 0.03
    assert not (job / "default_out").exists()  # --out took every file


def test_the_training_run_holds_the_report_with_the_decision(job: Path) -> None:
    """MLflow keeps one training report per run: the one that names the registered versions
    and the promotion decision (logged once, after registration)."""
    from mlflow.tracking import MlflowClient

    from core.registry import CHURN_MODEL

    client = MlflowClient(f"sqlite:///{job / 'mlflow.db'}")
    run_id = client.get_model_version_by_alias(CHURN_MODEL, "champion").run_id
    files = [f.path for f in client.list_artifacts(run_id, "report")]
    assert "report/training_report.html" in files
    local = client.download_artifacts(run_id, "report/training_report.html", str(job / "dl"))
    text = Path(local).read_text()
    assert "They became the champion" in text and "Registered churn model version 1" in text


def test_scoring_in_chunks_of_customers_gives_the_same_files(job: Path) -> None:
    """``churnclv score`` builds features and scores by ranges of customers
    (chunk_customers): 200 at a time (8 chunks) gives the files of the run above byte for
    byte (scores, lists, control group, summary, drift)."""
    config = (job / "config.yaml").read_text() + "chunk_customers: 200\n"
    (job / "chunked.yaml").write_text(config)
    step = ("score", "--config", "chunked.yaml", "--out", "chunked", "--holdout", "10")
    proc = run(*step, "--campaign", "spring", cwd=job)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = next(
        d for d in (job / "out" / "runs").iterdir()
        if json.loads((d / "run.json").read_text())["campaign"] == "spring"
    )  # fmt: skip
    chunked = job / "chunked" / "current"
    names = ["scores.parquet", "summary.csv", "control.csv", "drift.csv", "rejects.csv"]
    names += [f"segments/{p.name}" for p in (first / "segments").glob("*.csv")]
    assert len(names) > 8 and sorted((chunked / "segments").iterdir()) != []
    for name in names:
        assert (first / name).read_bytes() == (chunked / name).read_bytes(), name


def test_second_score_run_reports_movement_and_keeps_champion(job: Path) -> None:
    proc = run(
        "score", "--config", "config.yaml", "--out", "out", "--cutoff", "2026-09-15", cwd=job
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    movement = pd.read_csv(job / "out" / "current" / "segment_movement.csv")
    assert len(movement) > 0 and set(movement["movement"]) <= {"new", "gone", "moved"}
    assert json.loads((job / "out" / "current" / "run.json").read_text())["cutoff"] == "2026-09-15"
    assert len(list((job / "out" / "runs").iterdir())) == 2  # the earlier run is kept


def test_serve_answers_from_the_out_folder(job: Path) -> None:
    from tests.serving.conftest import API_KEYS, running_server

    # a campaign run after the plain re-run above, then the service answers from it
    proc = run(
        "score", "--config", "config.yaml", "--out", "out", "--holdout", "10", "--campaign",
        "autumn", cwd=job,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = pd.read_parquet(job / "out" / "current" / "scores.parquet")
    one = str(scores["customer_id"].iloc[0])
    held = scores[scores["control"]]
    with (
        running_server(job, job / "serve.log", API_KEYS, "--out", "out") as server,
        server.client() as api,
    ):
        resp = api.post(
            "/score_customers", json={"customer_ids": [one, held["customer_id"].iloc[0]]}
        )
        segments = api.get("/segments").json()["segments"]
    assert resp.status_code == 200, resp.text
    item, control = resp.json()
    assert item["status"] == "ok" and item["segment"] == scores["segment"].iloc[0]
    # the campaign run's control group is marked for a campaign tool to skip
    assert control["control"] is True and control["campaign"] == held["campaign"].iloc[0]
    assert sum(s["control"] for s in segments) == len(held) > 0
    assert not (job / "default_out").exists()


def test_user_errors_exit_nonzero_with_one_clear_line(job: Path) -> None:
    proc = run("features", "--data", "missing_folder", cwd=job)
    assert proc.returncode == 1
    assert "error: data folder missing_folder does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("train", "--config", "config.yaml", "--churn-horizon", "0", cwd=job)
    assert (
        proc.returncode == 1 and "churn_horizon_days: Input should be greater than 0" in proc.stderr
    )


def test_quickstart_notebook_runs(job: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook reads this job's run (the folder the commands ran in, their --config and
    --out) with the kernel in another folder of the project, found by walking up to
    pyproject.toml."""
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    monkeypatch.delenv("CHURNCLV_ROOT", raising=False)
    monkeypatch.setenv("CHURNCLV_RUN_DIR", str(job))
    monkeypatch.setenv("CHURNCLV_CONFIG", "config.yaml")
    monkeypatch.setenv("CHURNCLV_OUTPUT", "out")
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "tests")}},
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert all(c.outputs for c in code)
    text = "".join(o.get("text", "") for o in outputs)
    assert (
        f"Reading {job / 'out'} (settings {job / 'config.yaml'}; amounts in no currency set)"
        in text
    )
    assert "1,500 customers scored at" in text
    assert "churned; ROC AUC" in text  # the demo truth of this job's data was found and compared


SPARK_CONFIG = """\
engine: spark
spark:
  master: local[1]
  conf: {spark.sql.shuffle.partitions: "2", spark.ui.enabled: "false"}
"""


@pytest.mark.spark
def test_engine_spark_gives_the_same_features_scores_and_segments(job: Path) -> None:
    """`engine: spark` (config) and the default engine agree for every demo customer: scores,
    lists, summary and reports (the features themselves: tests/features/test_spark_parity.py)."""
    pytest.importorskip("pyspark")
    (job / "spark.yaml").write_text((job / "config.yaml").read_text() + SPARK_CONFIG)
    cutoff = "2026-09-30"
    common = ("--cutoff", cutoff, "--holdout", "10", "--campaign", "spring")
    for step in (
        ("score", "--config", "config.yaml", *common, "--out", "cmp"),
        ("score", "--config", "spark.yaml", *common, "--out", "spark"),
        ("report", "--config", "config.yaml", "--out", "cmp"),
        ("report", "--config", "spark.yaml", "--out", "spark"),
    ):
        proc = run(*step, cwd=job)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])
        if step[2] == "spark.yaml" and step[0] != "report":
            assert "on Spark (local[1])" in proc.stderr

    duck = pd.read_parquet(job / "cmp" / "current" / "scores.parquet").set_index("customer_id")
    spark = pd.read_parquet(job / "spark" / "current" / "scores.parquet").set_index("customer_id")
    assert len(duck) > 1000 and sorted(spark.index) == sorted(duck.index)
    spark = spark.loc[duck.index]
    for col in duck.columns:
        if duck[col].dtype == "float64":
            np.testing.assert_allclose(spark[col], duck[col], rtol=1e-9, err_msg=col)
        else:
            assert [str(v) for v in spark[col]] == [str(v) for v in duck[col]], col
    # same lists (same customers, same order) and the same summary
    lists = sorted(p.name for p in (job / "cmp" / "current" / "segments").glob("*.csv"))
    assert lists == sorted(p.name for p in (job / "spark" / "current" / "segments").glob("*.csv"))
    for name in lists:
        a = pd.read_csv(job / "cmp" / "current" / "segments" / name, dtype={"customer_id": str})
        b = pd.read_csv(job / "spark" / "current" / "segments" / name, dtype={"customer_id": str})
        assert b["customer_id"].tolist() == a["customer_id"].tolist(), name
        for slot in ("reason_1", "reason_2", "reason_3"):
            same = b[slot].astype("object").fillna("").tolist()
            assert same == a[slot].astype("object").fillna("").tolist(), (name, slot)
        pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-9)  # same rounding
    sa = pd.read_csv(job / "cmp" / "current" / "summary.csv")
    sb = pd.read_csv(job / "spark" / "current" / "summary.csv")
    pd.testing.assert_frame_equal(sb, sa, check_exact=False, rtol=1e-9)
    for name in ("current/drift.csv", "current/segment_movement.csv", "churnclv.duckdb"):
        assert (job / "spark" / name).exists(), name
    # the run's feature frame (written once for the scoring and the drift sample) is not kept
    assert not (job / "spark" / "current" / ".features.parquet").exists()
    # the service reads Spark's scores folder like the DuckDB run's file
    from core.catalog import OutputCatalog
    from serving.latest import LatestScores

    latest = LatestScores(OutputCatalog(job / "spark"))
    assert sorted(latest.customer_ids) == sorted(duck.index)
    one = duck.index[0]
    assert latest.lookup([one])[0]["segment"] == duck.loc[one, "segment"]
    for name in ("retention.csv", "cohorts.csv", "clv_by_channel.csv"):
        a = pd.read_csv(job / "cmp" / "reports" / name)
        b = pd.read_csv(job / "spark" / "reports" / name)
        pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-12)
