"""Train the churn and revenue models on snapshots, evaluate against baselines, build the bundle.

Pure with respect to the outside world: no MLflow, no files. ``training/tracking.py`` logs and
registers what this returns; ``training/report.py`` renders it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnclv.bundle import ModelBundle
from churnclv.settings import Settings
from features.contract import InputTables
from features.drift import fit_drift_reference
from features.matrix import FeatureSpec
from training.backtest import BacktestPlan, InsufficientDataError, plan_backtest
from training.baselines import Baselines
from training.metrics import evaluate_churn, evaluate_revenue
from training.models import (
    fit_calibration,
    fit_churn_classifier,
    fit_revenue_quantile,
    fit_revenue_regressor,
)
from training.seasonality import fit_season_index, season_note

Step = Callable[[str], None]
INTERVAL_QUANTILES = {"revenue_q10": 0.1, "revenue_q90": 0.9}


@dataclass
class TrainingResult:
    """Everything a training run produced: plan, metrics, test predictions, production bundle."""

    plan: BacktestPlan
    bundle: ModelBundle
    churn_metrics: pd.DataFrame  # one row per model/baseline
    revenue_metrics: pd.DataFrame
    test_frame: pd.DataFrame  # test snapshot: labels + every model's and baseline's prediction
    data_summary: dict[str, object]
    feature_importance: pd.DataFrame
    baselines: Baselines
    notes: list[str] = field(default_factory=list)


def build_snapshot(tables: InputTables, cutoff: dt.date, horizon_days: int) -> pd.DataFrame:
    """Features at ``cutoff`` joined with labels over the following ``horizon_days``."""
    from features import build_features, build_labels

    feats = build_features(tables, cutoff)
    labels = build_labels(tables, cutoff, horizon_days)
    frame = feats.merge(labels, on="customer_id", how="inner")
    frame.insert(1, "cutoff", pd.Timestamp(cutoff))
    return frame


def sample_keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """The sampling key of each customer id: a seeded 64-bit hash as an order-preserving int64.

    The customers with the smallest keys form the training sample, so any engine that computes
    these keys (pandas here, Spark in :mod:`training.spark_sample`) draws the same sample.
    """
    key = pd.util.hash_array(np.asarray(ids, dtype=object), hash_key=f"{seed:016d}"[:16])
    return (key ^ np.uint64(1 << 63)).view(np.int64)  # uint64 order as signed int64 order


@dataclass(frozen=True)
class Population:
    """The data training tables were sampled from, when the sampling happened elsewhere."""

    customers: int
    transactions: int
    first_timestamp: pd.Timestamp
    last_timestamp: pd.Timestamp

    @classmethod
    def of(cls, transactions: pd.DataFrame) -> Population:
        """The population of a transactions table."""
        return cls(
            customers=int(transactions["customer_id"].nunique()),
            transactions=len(transactions),
            first_timestamp=transactions["timestamp"].min(),
            last_timestamp=transactions["timestamp"].max(),
        )


def sample_note(kept: int, population: int) -> str:
    """The note the report and the console show when training used a sample."""
    return (
        f"Large data: training used a reproducible random sample of {kept:,} of "
        f"{population:,} customers (setting model.max_training_customers); scoring covers everyone."
    )


def sample_customers(
    tables: InputTables, max_customers: int, seed: int
) -> tuple[InputTables, str | None]:
    """Keep a reproducible random subset of customers (hash of id and seed) when there are more
    than ``max_customers``; returns the tables and a note saying so (None when unchanged)."""
    ids = pd.Index(tables.transactions["customer_id"].unique())
    if len(ids) <= max_customers:
        return tables, None
    key = sample_keys(ids.to_numpy(), seed)
    keep = set(ids[np.argsort(key, kind="stable")[:max_customers]])

    def only(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return (
            None if frame is None else frame[frame["customer_id"].isin(keep)].reset_index(drop=True)
        )

    note = sample_note(max_customers, len(ids))
    return InputTables(only(tables.transactions), only(tables.events), only(tables.customers)), note


def _check_enough(frame: pd.DataFrame, what: str, settings: Settings) -> None:
    m = settings.model
    n = frame["customer_id"].nunique()
    churners = int(frame["churned"].sum())
    stayers = int(len(frame) - churners)
    if n < m.min_customers or churners < m.min_class_count or stayers < m.min_class_count:
        raise InsufficientDataError(
            f"{what}: {n} customers, {churners} churners, {stayers} non-churners; training "
            f"needs at least {m.min_customers} customers and {m.min_class_count} of each outcome "
            "(settings model.min_customers, model.min_class_count). No model was trained."
        )


def _subset(frames: dict[dt.date, pd.DataFrame], cutoffs) -> pd.DataFrame:  # noqa: ANN001
    return pd.concat([frames[c] for c in cutoffs], ignore_index=True)


def _fit_pair(
    fit: pd.DataFrame,
    cal: pd.DataFrame,
    spec: FeatureSpec,
    settings: Settings,
    season: ModelBundle,
) -> tuple[dict, list[float], list[float]]:
    """Churn model + calibration; revenue models on revenue / its label window's season factor
    (the factor is 1 without a seasonal index)."""
    params, seed = settings.model.lightgbm, settings.model.seed
    churn = fit_churn_classifier(spec.matrix(fit), fit["churned"].to_numpy(), params, seed)
    cal_x, cal_y = fit_calibration(churn.predict(spec.matrix(cal)), cal["churned"].to_numpy())
    both = pd.concat([fit, cal], ignore_index=True)
    factors = {c: season.season_factor(c) for c in both["cutoff"].unique()}
    adjusted = both["future_revenue"] / both["cutoff"].map(factors).astype(float)
    Xb, rev = spec.matrix(both), adjusted.to_numpy()
    boosters = {"churn": churn, "revenue": fit_revenue_regressor(Xb, rev, params, seed)}
    for name, alpha in INTERVAL_QUANTILES.items():
        boosters[name] = fit_revenue_quantile(Xb, rev, alpha, params, seed)
    return boosters, cal_x, cal_y


def _metrics_table(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table.reset_index()


def train_models(
    tables: InputTables,
    settings: Settings,
    step: Step | None = None,
    population: Population | None = None,
) -> TrainingResult:
    """Plan the backtest, build snapshots, fit and evaluate models and baselines, refit.

    ``step`` is called with a description before each stage (for a progress bar).
    ``population``: set when ``tables`` are already a sample drawn elsewhere (the Spark engine
    samples on the cluster); the data span and the report's note then describe the whole data.
    """
    step = step or (lambda _msg: None)
    if population is None:
        population = Population.of(tables.transactions)
        tables, note = sample_customers(
            tables, settings.model.max_training_customers, settings.model.seed
        )
    else:
        kept = tables.transactions["customer_id"].nunique()
        note = sample_note(kept, population.customers) if kept < population.customers else None
    tx = tables.transactions
    data_start = population.first_timestamp.date()
    data_end = settings.cutoff or population.last_timestamp.date()
    plan = plan_backtest(
        data_start,
        data_end,
        settings.churn_horizon_days,
        settings.model.n_snapshots,
        settings.model.snapshot_step_days,
    )
    h = plan.label_horizon_days
    cutoffs = sorted(
        {*plan.fit_cutoffs, *plan.production_fit_cutoffs, plan.calibration_cutoff, plan.test_cutoff}
    )
    frames: dict[dt.date, pd.DataFrame] = {}
    for c in cutoffs:
        step(f"snapshot at {c}")
        frames[c] = build_snapshot(tables, c, h)
    # seasonal index (opt-in): for the backtest from data up to the test cutoff only, so its
    # label window stays unseen; for the production models from all data
    seasonal_on = settings.model.seasonal_adjustment
    backtest_season = _season(fit_season_index(tx, plan.test_cutoff) if seasonal_on else None, h)
    production_season = _season(fit_season_index(tx, data_end) if seasonal_on else None, h)

    fit = _subset(frames, plan.fit_cutoffs)
    cal = frames[plan.calibration_cutoff]
    test = frames[plan.test_cutoff].copy()
    for what, frame in (
        ("training cutoffs", fit),
        ("calibration cutoff", cal),
        ("test cutoff", test),
    ):
        _check_enough(frame, what, settings)

    step("backtest: fit models")
    spec = FeatureSpec.fit(fit)
    boosters, cal_x, cal_y = _fit_pair(fit, cal, spec, settings, backtest_season)
    # evaluated on the label horizon itself, so no rescaling here
    Xt = spec.matrix(test)
    test["pred_churn_model"] = np.interp(boosters["churn"].predict(Xt), cal_x, cal_y)
    test["pred_revenue_model"] = np.clip(
        boosters["revenue"].predict(Xt), 0, None
    ) * backtest_season.season_factor(plan.test_cutoff)

    step("backtest: fit baselines")
    base = Baselines.fit(pd.concat([fit, cal], ignore_index=True), h)
    preds = base.predict(test)
    for name, p in preds["churn"].items():
        test[f"pred_churn_{name}"] = p
    for name, p in preds["revenue"].items():
        test[f"pred_revenue_{name}"] = p

    y, rev = test["churned"].to_numpy(), test["future_revenue"].to_numpy()
    churn_rows = {"model": evaluate_churn(y, test["pred_churn_model"].to_numpy())}
    churn_rows |= {n: evaluate_churn(y, p) for n, p in preds["churn"].items()}
    revenue_rows = {"model": evaluate_revenue(rev, test["pred_revenue_model"].to_numpy())}
    revenue_rows |= {n: evaluate_revenue(rev, p) for n, p in preds["revenue"].items()}

    seasonal = season_note(
        tx, plan.test_cutoff, data_end, h, adjusted=production_season.season_index is not None
    )
    if seasonal_on and production_season.season_index is None:
        seasonal = (seasonal or "") + (
            " No seasonal index: model.seasonal_adjustment needs 24 complete months of data."
        )
    step("production refit on the newest cutoffs")
    prod_fit = _subset(frames, plan.production_fit_cutoffs)
    boosters, cal_x, cal_y = _fit_pair(prod_fit, test, spec, settings, production_season)
    bundle = _bundle(spec, boosters, cal_x, cal_y, plan, settings)
    bundle.season_index = production_season.season_index
    Xl = spec.matrix(test)
    clv = bundle.clv(bundle.base_revenue(Xl), bundle.churn_probability(Xl), plan.test_cutoff)
    bundle.value_cutpoints = {
        t.name: float(np.quantile(clv, t.min_percentile)) if t.min_percentile > 0 else 0.0
        for t in settings.segments.value_tiers
    }
    importance = pd.DataFrame(
        {
            "feature": spec.columns,
            "churn_gain": boosters["churn"].feature_importance("gain"),
            "revenue_gain": boosters["revenue"].feature_importance("gain"),
        }
    ).sort_values("churn_gain", ascending=False, ignore_index=True)
    summary = {
        "transactions": population.transactions,
        "customers": population.customers,
        "training_customers": int(tx["customer_id"].nunique()),
        "data_start": str(data_start),
        "data_end": str(data_end),
        "test_cutoff": str(plan.test_cutoff),
        "calibration_cutoff": str(plan.calibration_cutoff),
        "fit_cutoffs": [str(c) for c in plan.fit_cutoffs],
        "production_fit_cutoffs": [str(c) for c in plan.production_fit_cutoffs],
        "label_horizon_days": h,
        "training_rows": int(len(fit)),
        "test_rows": int(len(test)),
        "test_churn_rate": float(y.mean()),
    }
    bundle.meta.update(
        {
            "data": summary,
            "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
            # scoring compares its batch with the newest labelled snapshot (PSI)
            "drift_reference": fit_drift_reference(frames[plan.test_cutoff], spec.columns),
            "backtest": {
                "churn": _metrics_table(churn_rows).set_index("model").to_dict("index"),
                "revenue": _metrics_table(revenue_rows).set_index("model").to_dict("index"),
            },
        }
    )
    return TrainingResult(
        plan=plan,
        bundle=bundle,
        churn_metrics=_metrics_table(churn_rows),
        revenue_metrics=_metrics_table(revenue_rows),
        test_frame=test,
        data_summary=summary,
        feature_importance=importance,
        baselines=base,
        notes=[*plan.notes, *(n for n in (note, seasonal) if n)],
    )


def _season(index: list[float] | None, horizon_days: int) -> ModelBundle:
    """A bundle holding only a seasonal index, to compute window factors by the bundle's rule."""
    return ModelBundle(
        spec=FeatureSpec(columns=[], categories={}),
        boosters={},
        calibration_x=[],
        calibration_y=[],
        churn_horizon_days=horizon_days,
        label_horizon_days=horizon_days,
        clv_horizon_days=horizon_days,
        gross_margin=1.0,
        monthly_discount_rate=0.0,
        season_index=index,
    )


def _bundle(spec, boosters, cal_x, cal_y, plan: BacktestPlan, settings: Settings) -> ModelBundle:  # noqa: ANN001
    return ModelBundle(
        spec=spec,
        boosters=boosters,
        calibration_x=cal_x,
        calibration_y=cal_y,
        churn_horizon_days=plan.horizon_days,
        label_horizon_days=plan.label_horizon_days,
        clv_horizon_days=settings.clv_horizon_days,
        gross_margin=settings.gross_margin,
        monthly_discount_rate=settings.monthly_discount_rate,
    )
