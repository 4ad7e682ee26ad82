"""`--out DIR` is the run's output folder for every command, in the order users run them:
features, train, score, report --campaign, serve. Everything lands in DIR (named by the output
catalog), report and serve find what score wrote there, and the config's output_dir is left
untouched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.catalog import OutputCatalog
from tests.serving.conftest import API_KEYS, run_cli, running_server

pytestmark = pytest.mark.slow

CONFIG = """\
data: {dir: data}
output_dir: default_out
mlflow_tracking_uri: sqlite:///mlflow.db
model: {n_snapshots: 3, clv_check: false, lightgbm: {n_estimators: 40, num_leaves: 15}}
"""


def test_every_command_reads_and_writes_the_out_folder(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    alt = OutputCatalog(tmp_path / "alt")
    steps = [
        ("demo-data", "--customers", "800", "--seed", "5", "--out", "data"),
        ("features", "--config", "config.yaml", "--out", "alt"),
        ("train", "--config", "config.yaml", "--out", "alt"),
        ("score", "--config", "config.yaml", "--out", "alt", "--holdout", "10", "--campaign", "x"),
        ("report", "--config", "config.yaml", "--out", "alt", "--campaign", "x", "--since", "2026-09-01"),
    ]  # fmt: skip
    for step in steps:
        proc = run_cli(*step, cwd=tmp_path)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])
    for path in (
        alt.rejects,
        alt.load_summary,
        alt.features,
        alt.bundle / "bundle.json",
        alt.training_report / "training_report.html",
        alt.scores,
        alt.summary,
        alt.drift,
        alt.movement,
        alt.history,
        alt.reports / "report.html",
        alt.reports / "campaign.csv",  # the campaign's control group, read from alt's history
        alt.reports / "clv_by_channel.csv",  # needs the scores, read from alt
    ):
        assert path.exists(), path
    assert list(alt.segments.glob("*.csv"))
    assert not (tmp_path / "default_out").exists()

    # serve --out alt answers with alt's scores
    scores = pd.read_parquet(alt.scores)
    one = str(scores["customer_id"].iloc[0])
    log = tmp_path / "server.log"
    with running_server(tmp_path, log, API_KEYS, "--out", "alt") as server, server.client() as api:
        resp = api.post("/score_customers", json={"customer_ids": [one]})
        assert resp.status_code == 200, resp.text
        (item,) = resp.json()
        assert item["status"] == "ok" and item["segment"] == scores["segment"].iloc[0]
    assert not (tmp_path / "default_out").exists()
