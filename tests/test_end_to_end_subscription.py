"""A subscription business through the real CLI, as its users go over weeks: demo data ->
train -> score -> report -> a campaign run -> the service scoring a subscriber's raw history ->
the same run on Spark."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_end_to_end import SPARK_CONFIG, run

pytestmark = pytest.mark.slow
CONFIG = (
    "data: {dir: data}\noutput_dir: out\nmlflow_tracking_uri: sqlite:///mlflow.db\n"
    "gross_margin: 0.35\ncurrency: USD\n"
    "model: {n_snapshots: 3, clv_check: false, "
    "lightgbm: {n_estimators: 60, learning_rate: 0.08, num_leaves: 15}}\n"
)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("subscription_job")
    (work / "config.yaml").write_text(CONFIG)
    steps = [
        ("demo-data", "--scenario", "subscription", "--customers", "1500", "--seed", "5",
         "--out", "data"),
        ("train", "--config", "config.yaml"),
        ("score", "--config", "config.yaml"),
        ("report", "--config", "config.yaml"),
    ]  # fmt: skip
    for step in steps:
        proc = run(*step, cwd=work)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])
    return work


def test_the_backtest_compares_the_model_with_the_contractual_baselines(job: Path) -> None:
    churn = pd.read_csv(job / "out" / "report" / "churn_metrics.csv").set_index("model")
    assert {"sbg", "kaplan_meier"} <= set(churn.index)
    served = churn.loc[["lightgbm", "blend"], "roc_auc"].max()
    assert served > churn.loc["sbg", "roc_auc"] and served > churn.loc["kaplan_meier", "roc_auc"]
    bundle = json.loads((job / "out" / "model_bundle" / "bundle.json").read_text())
    assert bundle["retention"]["clv_method"] == "churn_model"
    assert set(bundle["retention"]["sbg"]) == {"30", "365"}  # monthly and yearly clocks


def test_lists_carry_the_renewal_day_and_recurring_revenue(job: Path) -> None:
    current = job / "out" / "current"
    scores = pd.read_parquet(current / "scores.parquet")
    subscribers = scores["monthly_recurring_revenue"].notna()
    assert 0.3 < subscribers.mean() < 0.9
    renewal = scores.loc[subscribers, "next_renewal_date"]
    day = pd.Timestamp(scores["scoring_date"].iloc[0])
    assert (renewal > day).all() and (renewal <= day + pd.Timedelta(days=366)).all()
    assert scores.loc[~subscribers, "next_renewal_date"].isna().all()
    at_risk = (
        scores["mrr_at_risk"] - scores["churn_probability"] * scores["monthly_recurring_revenue"]
    )
    assert np.nanmax(np.abs(at_risk.to_numpy(float))) < 1e-9
    # reasons speak of the contract for the riskiest subscribers
    risky = scores[subscribers].nlargest(50, "churn_probability")
    said = " ".join(" ".join(r) for r in risky["reasons"])
    assert "asked to cancel" in said or "renews in" in said
    summary = pd.read_csv(current / "summary.csv").set_index("segment")
    total = summary.loc["All customers"]
    assert total["mrr_at_risk"] == pytest.approx(scores["mrr_at_risk"].sum(), rel=1e-9)
    a_list = next((current / "segments").glob("*.csv"))
    header = a_list.read_text().splitlines()[0].split(",")
    assert header[header.index("value_at_risk") + 1] == "next_renewal_date"


def test_the_report_shows_subscriber_retention_and_cohorts(job: Path) -> None:
    reports = job / "out" / "reports"
    monthly = pd.read_csv(reports / "subscription_retention.csv")
    assert len(monthly) >= 12 and monthly["retention_rate_pct"].between(50, 100).all()
    plans = pd.read_csv(reports / "subscription_plans.csv").set_index("cohort")
    assert {"basic, monthly", "pro, yearly"} <= set(plans.index)
    page = (reports / "report.html").read_text()
    assert "Subscriptions: monthly retention" in page and "by their first plan" in page
    assert "a month of subscriptions at risk" in page


def test_a_campaign_run_then_the_service_scores_a_subscribers_history(job: Path) -> None:
    from tests.serving.conftest import API_KEYS, running_server

    proc = run(
        "score", "--config", "config.yaml", "--holdout", "10", "--campaign", "renewals", cwd=job
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = pd.read_parquet(job / "out" / "current" / "scores.parquet")
    assert scores["control"].any() and "mrr_at_risk" in scores
    day = dt.date(2026, 9, 30)
    history = {
        "customer_id": "web-1",
        "as_of": day.isoformat(),
        "transactions": [
            {"timestamp": f"2026-{m:02d}-03T00:00:00", "amount": 19.99} for m in range(1, 10)
        ],
        "subscriptions": [
            {"subscription_id": "w1", "start_date": "2026-01-03", "billing_period_days": 30,
             "price": 19.99, "auto_renew": True, "plan": "pro", "cancel_date": "2026-09-25"},
        ],
    }  # fmt: skip
    bad = {**history, "subscriptions": [{**history["subscriptions"][0], "price": -1}]}
    with (
        running_server(job, job / "serve.log", API_KEYS) as server,
        server.client() as api,
    ):
        resp = api.post("/score", json={"customers": [history]})
        refused = api.post("/score", json={"customers": [bad]})
        segments = api.get("/segments").json()["segments"]
    assert resp.status_code == 200, resp.text
    item = resp.json()[0]
    assert item["status"] == "ok" and item["monthly_recurring_revenue"] > 0
    assert item["next_renewal_date"] > day.isoformat()
    assert "asked to cancel" in " ".join(item["reasons"])
    assert refused.status_code == 400 and "negative price" in json.dumps(refused.json()["detail"])
    assert any(s.get("mrr_at_risk") for s in segments)


@pytest.mark.spark
def test_engine_spark_gives_the_same_subscription_scores_and_lists(job: Path) -> None:
    """The first (plain) score run of the fixture, again on Spark: same scores, lists, summary."""
    pytest.importorskip("pyspark")
    (job / "spark.yaml").write_text(
        CONFIG.replace("output_dir: out", "output_dir: spark") + SPARK_CONFIG
    )
    proc = run("score", "--config", "spark.yaml", cwd=job)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    plain = min(
        (r for r in (job / "out" / "runs").iterdir() if (r / "run.json").exists()),
        key=lambda r: json.loads((r / "run.json").read_text())["published_at"],
    )
    duck = pd.read_parquet(plain / "scores.parquet").set_index("customer_id")
    spark = pd.read_parquet(job / "spark" / "current" / "scores.parquet").set_index("customer_id")
    spark = spark.loc[duck.index, duck.columns]
    for col in duck.columns:
        if duck[col].dtype == "float64":
            np.testing.assert_allclose(spark[col], duck[col], rtol=1e-9, err_msg=col)
        else:
            assert [str(v) for v in spark[col]] == [str(v) for v in duck[col]], col
    for name in sorted(p.name for p in (plain / "segments").glob("*.csv")):
        a = pd.read_csv(plain / "segments" / name, dtype=str)
        b = pd.read_csv(job / "spark" / "current" / "segments" / name, dtype=str)
        pd.testing.assert_frame_equal(b, a)
    sa = pd.read_csv(plain / "summary.csv")
    sb = pd.read_csv(job / "spark" / "current" / "summary.csv")
    pd.testing.assert_frame_equal(sb, sa, check_exact=False, rtol=1e-9)
