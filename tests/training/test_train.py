"""Training end to end on demo data: beats baselines, near the truth, gate, fresh MLflow store."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from churnclv.demo_data import generate_demo_data
from core.registry import CHURN_MODEL, CLV_MODEL
from core.settings import Settings, load_settings
from features import build_features
from features.contract import InputTables
from serving.score import score_customers
from training.backtest import InsufficientDataError
from training.report import render_report
from training.tracking import log_and_register
from training.train import TrainingResult, train_models
from training.truth import evaluate_against_truth

pytestmark = pytest.mark.slow


def _tables(demo) -> InputTables:  # noqa: ANN001
    return InputTables(demo.transactions, demo.events, demo.customers)


@pytest.fixture(scope="module")
def demo():  # noqa: ANN201
    return generate_demo_data(n_customers=3000, seed=11)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("train")
    return load_settings(
        None,
        {
            "output_dir": str(root / "out"),
            "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "model.lightgbm": {"n_estimators": 150, "learning_rate": 0.05, "num_leaves": 15},
            "model.n_snapshots": 4,
        },
    )


@pytest.fixture(scope="module")
def result(demo, settings: Settings) -> TrainingResult:  # noqa: ANN001
    return train_models(_tables(demo), settings)


def test_served_model_is_never_worse_than_a_baseline(result: TrainingResult) -> None:
    """The served candidates win the backtest: not worse than any baseline (BG/NBD included)
    on the rule's metric, and within a small tolerance on the others."""
    churn = result.churn_metrics.set_index("model")
    revenue = result.revenue_metrics.set_index("model")
    served_churn = churn.loc[result.served["churn"]]
    base_churn = churn.drop(index=["lightgbm", "blend"])
    assert set(base_churn.index) == {"bgnbd", "rfm_cells", "churn_rate_formula"}
    assert served_churn["log_loss"] <= base_churn["log_loss"].min()
    assert served_churn["roc_auc"] >= base_churn["roc_auc"].max() - 0.005
    assert served_churn["brier"] <= base_churn["brier"].min() + 0.002
    assert served_churn["calibration_error"] < 0.05
    served_revenue = revenue.loc[result.served["revenue"]]
    base_revenue = revenue.drop(index=["lightgbm", "blend"])
    assert served_revenue["spearman"] >= base_revenue["spearman"].max() - 0.005
    # probabilities a marketer can believe: no customer at exactly 0 or 1
    p = result.test_frame["pred_churn_model"]
    assert p.between(0, 1, inclusive="neither").all() and p.nunique() > 0.5 * len(p)
    assert result.bundle.meta["served"]["churn"]["candidate"] == result.served["churn"]


def test_churn_auc_is_near_what_the_true_state_allows(result: TrainingResult, demo) -> None:  # noqa: ANN001
    end = result.plan.data_end
    feats = build_features(_tables(demo), end)
    table = evaluate_against_truth(result.bundle, feats, demo.truth, 90, result.baselines)
    table = table.set_index("measure")
    model, oracle = table.loc["churn ROC-AUC", ["model", "oracle (true latent state)"]]
    assert oracle - model < 0.03, (model, oracle)
    clv = table["model"].filter(like="CLV Spearman")
    assert clv.filter(like=": model").iloc[0] > clv.filter(like="clv_formula").iloc[0], clv


def test_no_training_label_reaches_past_the_test_cutoff(result: TrainingResult) -> None:
    plan, h = result.plan, dt.timedelta(days=result.plan.label_horizon_days)
    assert max(plan.fit_cutoffs) + h <= plan.calibration_cutoff
    assert plan.calibration_cutoff + h <= plan.test_cutoff
    assert plan.test_cutoff + h <= plan.data_end


def test_same_data_config_and_seed_give_the_same_metrics(
    result: TrainingResult, demo, settings: Settings
) -> None:  # noqa: ANN001
    again = train_models(_tables(demo), settings)
    pd.testing.assert_frame_equal(result.churn_metrics, again.churn_metrics)
    pd.testing.assert_frame_equal(result.revenue_metrics, again.revenue_metrics)


def test_fresh_store_registers_champion_and_worse_model_stays_challenger(
    result: TrainingResult,
    demo,
    settings: Settings,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    bundle_dir = result.bundle.save(tmp_path / "bundle")
    first = log_and_register(result, settings, bundle_dir)
    assert first.promoted and first.reason == "no champion yet"
    client = MlflowClient(settings.mlflow_tracking_uri)
    for name in (CHURN_MODEL, CLV_MODEL):
        assert (
            str(client.get_model_version_by_alias(name, "champion").version) == first.versions[name]
        )

    # a deliberately worse model: a single shallow tree
    weak_settings = settings.model_copy(
        update={
            "model": settings.model.model_copy(
                update={"lightgbm": {"n_estimators": 1, "num_leaves": 2}}
            )
        }
    )
    weak = train_models(_tables(demo), weak_settings)
    second = log_and_register(weak, settings, weak.bundle.save(tmp_path / "weak"))
    assert not second.promoted
    assert second.reason.startswith("not promoted: churn roc_auc")
    for name in (CHURN_MODEL, CLV_MODEL):
        assert (
            str(client.get_model_version_by_alias(name, "champion").version) == first.versions[name]
        )
        challenger = client.get_model_version_by_alias(name, "challenger")
        assert str(challenger.version) == second.versions[name]
    # like with like: the champion was re-scored on the weak run's own test snapshot
    assert f"on this run's test snapshot of {weak.plan.test_cutoff}" in second.reason
    run = client.get_run(second.run_id)
    assert run.data.tags["promotion"] == second.reason
    assert run.data.tags["served.churn"] == weak.served["churn"]
    assert (
        "churn.served.roc_auc" in run.data.metrics
        and "revenue.bgnbd_gamma_gamma.spearman" in run.data.metrics
    )

    # the registered pyfunc returns probabilities, loaded from the registry alone
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{CHURN_MODEL}@champion")
    frame = result.test_frame[["customer_id", *result.bundle.spec.columns]].head(20)
    frame = frame.astype({c: "float64" for c in frame.select_dtypes("integer").columns})
    out = model.predict(frame)
    assert list(out.columns) == ["churn_probability"]
    assert out["churn_probability"].between(0, 1).all()
    pd.testing.assert_series_equal(
        out["churn_probability"], result.bundle.predict_frame(frame, "churn")["churn_probability"]
    )
    # values dated like a batch run: the scoring date is a parameter of the registered model
    clv_model = mlflow.pyfunc.load_model(f"models:/{CLV_MODEL}@champion")
    dated = clv_model.predict(frame, params={"scoring_date": "2026-11-15"})
    pd.testing.assert_frame_equal(
        dated, result.bundle.predict_frame(frame, "clv", "2026-11-15"), check_dtype=False
    )


def test_a_registration_stopped_between_the_two_aliases_leaves_the_last_pair(
    result: TrainingResult, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after churn_model's alias moved and before clv_model's: readers still get the
    last complete pair, and the next registration puts the aliases back on it."""
    from serving.model_store import load_registered
    from training.promotion import repair_pairs

    store = settings.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    )
    bundle_dir = result.bundle.save(tmp_path / "bundle")
    first = log_and_register(result, store, bundle_dir)
    assert first.promoted

    calls = []
    real = MlflowClient.set_registered_model_alias

    def killed_after_one(self, name, alias, version):  # noqa: ANN001, ANN202
        calls.append(name)
        if len(calls) > 1:
            raise KeyboardInterrupt("killed between the two alias calls")
        return real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        log_and_register(result, store, bundle_dir)
    monkeypatch.undo()
    client = MlflowClient(store.mlflow_tracking_uri)
    assert str(client.get_model_version_by_alias(CHURN_MODEL, "champion").version) == "2"  # half
    loaded = load_registered(store.mlflow_tracking_uri)
    assert loaded.versions == first.versions  # the last complete pair
    repair_pairs(client)
    for name in (CHURN_MODEL, CLV_MODEL):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"


def test_short_history_trains_on_a_shorter_horizon_and_says_so(settings: Settings) -> None:
    """274 days, a 180-day horizon: two 90-day windows fit (heads out of fold), the scores are
    carried to 180 days by each customer's BTYD curve: no purchase in 180 days is never likelier
    than in 90, and revenue over 180 days never smaller, customer by customer."""
    young = generate_demo_data(n_customers=3000, seed=5, years=0.75)
    longer = settings.model_copy(update={"churn_horizon_days": 180})
    res = train_models(_tables(young), longer)
    assert res.plan.label_horizon_days == 90 and res.plan.calibration_cutoff is None
    assert res.bundle.label_horizon_days == 90 and res.bundle.churn_horizon_days == 180
    assert any(n.startswith("Short history") for n in res.notes)
    assert any("out-of-fold" in n for n in res.notes)
    assert res.plan.test_cutoff + dt.timedelta(days=90) <= res.plan.data_end
    feats = build_features(_tables(young), res.plan.data_end)
    feats = feats[feats["recency_days"].notna()]
    long_pred = res.bundle.predict(feats, res.plan.data_end)
    import dataclasses

    short = dataclasses.replace(res.bundle, churn_horizon_days=90)
    short_pred = short.predict(feats, res.plan.data_end)
    assert (long_pred["churn_probability"] <= short_pred["churn_probability"] + 1e-12).all()
    assert (long_pred["expected_revenue"] >= short_pred["expected_revenue"] - 1e-9).all()
    assert long_pred["churn_probability"].between(0, 1, inclusive="neither").all()


def test_experiments_other_horizons_promote_and_rollback(
    result: TrainingResult, settings: Settings, tmp_path: Path
) -> None:
    """An experiment registers nothing; a run for another horizon is not compared (challenger
    with the reason); promote and roll back move the champion pair and record who and why."""
    from core.mlflow_store import open_store
    from core.registry import registered_pair
    from training.promotion import PromotionError, history, model_versions, promote, rollback

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = settings.model_copy(update={"mlflow_tracking_uri": uri})
    bundle_dir = result.bundle.save(tmp_path / "bundle")
    first = log_and_register(result, store, bundle_dir)
    client = open_store(uri, must_exist=True)

    tryout = log_and_register(result, store, bundle_dir, experiment="tryout")
    assert tryout.versions == {} and not tryout.promoted
    assert tryout.reason == "experiment 'tryout': not registered"
    assert len(client.search_model_versions(f"name='{CHURN_MODEL}'")) == 1
    assert client.get_experiment(client.get_run(tryout.run_id).info.experiment_id).name == "tryout"

    other = store.model_copy(update={"churn_horizon_days": 60})
    second = log_and_register(result, other, bundle_dir)
    assert not second.promoted
    assert second.reason == (
        "not promoted: not comparable with the champion (churn horizon 60 days, the champion's 90)"
    )
    assert registered_pair(client, "champion", uri).versions == first.versions

    change = promote(client, second.versions[CHURN_MODEL], "try 60 days", uri)
    assert registered_pair(client, "champion", uri).versions == second.versions
    assert change.why == "try 60 days" and change.by
    with pytest.raises(PromotionError, match="already the champion"):
        promote(client, second.versions[CHURN_MODEL], "again", uri)
    back = rollback(client, "", uri)
    assert back.versions == first.versions
    assert back.why == f"rolled back from {CHURN_MODEL} v{second.versions[CHURN_MODEL]}"
    assert [h.versions for h in history(client)] == [
        first.versions,
        second.versions,
        first.versions,
    ]
    rows = model_versions(client)
    assert [r["churn_model"] for r in rows] == ["2", "1"]
    assert rows[1]["aliases"] == "champion" and rows[0]["decision"] == "try 60 days"

    # a champion written by an older churnclv (another bundle format) cannot serve: scoring
    # says so in one line, and the next run replaces it whatever its figures
    from urllib.parse import urlparse

    from core.registry import ModelNotFoundError
    from serving.model_store import load_registered

    source = client.get_model_version(CLV_MODEL, first.versions[CLV_MODEL]).source
    model_id = source.rsplit("/", 1)[-1]  # models:/m-...
    location = urlparse(client.get_logged_model(model_id).artifact_location).path
    for doc in Path(location).rglob("bundle.json"):
        doc.write_text(doc.read_text().replace('"format": 3', '"format": 2'))
    with pytest.raises(ModelNotFoundError, match="older churnclv"):
        load_registered(uri, dest=tmp_path / "old")
    third = log_and_register(result, store, bundle_dir)
    assert third.promoted and "older churnclv" in third.reason


def test_no_labelled_window_serves_bgnbd_alone_and_says_so(
    settings: Settings, tmp_path: Path
) -> None:
    """73 days hold no backtest (it needs 88): BG/NBD + Gamma-Gamma, fitted on all the history,
    serve over the configured horizons, no metric is invented, the report and MLflow say so,
    and reasons explain the BG/NBD score that serves."""
    young = generate_demo_data(n_customers=1500, seed=8, years=0.2)
    settings = settings.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    )
    res = train_models(_tables(young), settings)
    assert res.plan is None and res.baselines is None
    assert res.served == {"churn": "bgnbd", "revenue": "bgnbd_gamma_gamma"}
    assert res.churn_metrics.empty and res.revenue_metrics.empty
    assert any("too short for a time-based backtest" in n for n in res.notes)
    bundle = res.bundle
    assert bundle.boosters == {} and bundle.interval is None
    assert bundle.label_horizon_days == bundle.churn_horizon_days == settings.churn_horizon_days
    feats = build_features(_tables(young), res.data_end)
    buyers = feats[feats["recency_days"].notna()].reset_index(drop=True)
    pred = bundle.predict(buyers, res.data_end)
    # exactly BG/NBD's P(no purchase in the horizon), nothing extrapolated
    post = bundle.btyd.posteriors(buyers, settings.churn_horizon_days)
    np.testing.assert_allclose(pred["churn_probability"], post["btyd_p_silent"], rtol=1e-12)
    assert pred["clv"].gt(0).all() and pred["churn_probability"].between(0, 1, "neither").all()

    scores = score_customers(feats, bundle, settings.segments, scoring_date=res.data_end)
    assert scores["segment"].notna().all()
    # BG/NBD's own reasons: the riskiest bought once (x = 0), the safest bought often
    scored = scores.dropna(subset=["churn_probability"])
    riskiest = scored.nlargest(20, "churn_probability")
    assert all(r[0] == "no repeat purchase yet" for r in riskiest["reasons"])
    safest = scored.nsmallest(20, "churn_probability")
    assert all(r[0].endswith("repeat purchases so far") for r in safest["reasons"])  # safe

    path = render_report(res, tmp_path / "report")
    text = path.read_text()
    words = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert "no backtest" in words and "not known yet" in words and "nan" not in words.lower()
    assert text.count("data:image/png;base64,") == 2
    bundle_dir = bundle.save(tmp_path / "bundle")
    reg = log_and_register(res, settings, bundle_dir)
    assert reg.promoted and reg.reason == "no champion yet (this model has no backtest)"
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(reg.run_id)
    assert (
        run.data.tags["served.churn"] == "bgnbd" and "churn.served.roc_auc" not in run.data.metrics
    )


def test_too_few_customers_stops_with_the_minimums(settings: Settings) -> None:
    tiny = generate_demo_data(n_customers=60, seed=2)
    with pytest.raises(
        InsufficientDataError, match=r"needs at least 200 customers and 30 of each outcome"
    ):
        train_models(_tables(tiny), settings)


def test_report_has_plots_and_plain_grades(result: TrainingResult, tmp_path: Path) -> None:
    path = render_report(result, tmp_path)
    text = path.read_text()
    assert text.count("data:image/png;base64,") == 6
    assert "misses" in text and "Churn: model vs baselines" in text
    assert (tmp_path / "churn_metrics.csv").exists()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "calibration.png",
        "deciles.png",
        "gains.png",
        "importance.png",
        "roc.png",
        "totals.png",
    ]


def test_seasonal_adjustment_follows_the_season_and_gets_closer_to_the_peak(
    demo, settings: Settings, result: TrainingResult
) -> None:  # noqa: ANN001
    """With model.seasonal_adjustment (auto on 3 seasonal years) the bundle carries the index;
    scoring the same
    customers ahead of the generator's Nov/Dec peak predicts more than ahead of its summer dip,
    and the total for the 90 days after the data end (Oct-Dec) is closer to the truth."""
    from serving.score import score_customers

    adjusted_run = result  # "auto": three seasonal years give a material index
    seasonal = settings
    index = adjusted_run.bundle.season_index
    assert index is not None and len(index) == 12
    assert index[11] > 1.3 > 0.9 > index[6]  # December peak, July dip (generator: 1.59, 0.74)
    end = adjusted_run.plan.data_end
    feats = build_features(_tables(demo), end)
    feats = feats[feats["recency_days"].notna()]
    at = {
        d: score_customers(feats, adjusted_run.bundle, seasonal.segments, scoring_date=d)
        for d in (end, dt.date(end.year, 6, 1))
    }
    assert (
        at[end]["expected_revenue"].sum()
        > 1.3 * at[dt.date(end.year, 6, 1)]["expected_revenue"].sum()
    )
    # the CLV covers a whole year from either date, so it moves much less than the quarter
    ratio = at[end]["clv"].sum() / at[dt.date(end.year, 6, 1)]["clv"].sum()
    assert 0.8 < ratio < 1.25
    off = settings.model_copy(
        update={"model": settings.model.model_copy(update={"seasonal_adjustment": False})}
    )
    plain_run = train_models(_tables(demo), off)
    assert plain_run.bundle.season_index is None
    plain = evaluate_against_truth(plain_run.bundle, feats, demo.truth, 90).set_index("measure")
    adjusted = evaluate_against_truth(adjusted_run.bundle, feats, demo.truth, 90).set_index(
        "measure"
    )
    total = "revenue total pred/actual %"
    assert abs(adjusted.loc[total, "model"] - 100) < abs(plain.loc[total, "model"] - 100)
