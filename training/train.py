"""Train the churn and revenue models on snapshots, evaluate against baselines, build the bundle.

Pure with respect to the outside world: no MLflow, no files. ``training/tracking.py`` logs and
registers what this returns; ``training/report.py`` renders it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.settings import Settings
from features.contract import InputTables
from features.drift import fit_drift_reference
from features.rfm import has_paid_purchase
from features.vocabulary import Vocabulary, vocabulary_at
from model.bundle import ChurnHead, ModelBundle, RevenueHead, with_btyd
from model.clv import fit_ratio_interval, season_factor
from model.matrix import FeatureSpec
from training.backtest import (
    MIN_BACKTEST_DAYS,
    MIN_BTYD_HISTORY_DAYS,
    BacktestPlan,
    InsufficientDataError,
    plan_backtest,
)
from training.baselines import Baselines, fit_retention, predict_subscription_churn
from training.clv_check import CLVCheck, check_note, interval_or, plan_clv_check, run_clv_check
from training.fold import (
    build_snapshot,
    fit_btyd,
    fit_candidates,
    fit_fold_models,
    out_of_fold_raw,
)
from training.heads import select_churn, select_revenue
from training.metrics import evaluate_churn, evaluate_revenue
from training.seasonality import fit_season_index, is_material, season_note

Step = Callable[[str], None]
CANDIDATE_LABELS = {
    "lightgbm": "LightGBM (with BTYD features)",
    "blend": "blend of LightGBM and BTYD",
    "bgnbd": "BG/NBD",
    "bgnbd_gamma_gamma": "BG/NBD + Gamma-Gamma",
}


@dataclass
class TrainingResult:
    """Everything a training run produced: plan, metrics, test predictions, production bundle."""

    plan: BacktestPlan | None  # None: no labelled window fitted, the BTYD model serves unchecked
    bundle: ModelBundle
    churn_metrics: pd.DataFrame  # one row per model/baseline
    revenue_metrics: pd.DataFrame
    test_frame: pd.DataFrame  # test snapshot: labels + every model's and baseline's prediction
    data_summary: dict[str, object]
    feature_importance: pd.DataFrame
    baselines: Baselines | None  # None without a labelled window
    clv_check: CLVCheck | None = None
    served: dict[str, str] = field(default_factory=dict)  # churn/revenue -> candidate name
    selection: dict[str, str] = field(default_factory=dict)  # churn/revenue -> why
    notes: list[str] = field(default_factory=list)

    @property
    def data_end(self) -> dt.date:
        """The last day of the data the production model saw."""
        return dt.date.fromisoformat(str(self.data_summary["data_end"]))


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
    def of_stats(cls, stats: Mapping[str, Any]) -> Population:
        """From an engine's aggregate row: ``customers``, ``transactions``, ``first``, ``last``."""
        return cls(
            customers=int(stats["customers"]),
            transactions=int(stats["transactions"]),
            first_timestamp=pd.Timestamp(stats["first"]),
            last_timestamp=pd.Timestamp(stats["last"]),
        )

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
    return InputTables(
        only(tables.transactions),
        only(tables.events),
        only(tables.customers),
        only(tables.subscriptions),
    ), note


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
    try:
        plan = plan_backtest(
            data_start,
            data_end,
            settings.churn_horizon_days,
            settings.model.n_snapshots,
            settings.model.snapshot_step_days,
        )
    except InsufficientDataError:
        if (data_end - data_start).days < MIN_BTYD_HISTORY_DAYS:
            raise
        step("no labelled window fits: fitting BG/NBD + Gamma-Gamma on all the history")
        return train_label_free(tables, settings, population, data_end, note)
    h = plan.label_horizon_days
    cutoffs = sorted(
        {*plan.fit_cutoffs, *plan.production_fit_cutoffs, plan.test_cutoff}
        | ({plan.calibration_cutoff} if plan.calibration_cutoff else set())
    )
    # the data's own event types and attributes: chosen on what is visible at the test cutoff
    # (its label window unseen), used by the backtest and the production models alike
    vocabulary = vocabulary_at(tables, plan.test_cutoff, **settings.model.vocabulary_limits)
    frames: dict[dt.date, pd.DataFrame] = {}
    for c in cutoffs:
        step(f"snapshot at {c}")
        frames[c] = build_snapshot(tables, c, h, vocabulary)
    # seasonal index (model.seasonal_adjustment, "auto" by default): for the backtest from data
    # up to the test cutoff only, so its label window stays unseen; for production from all data
    mode = settings.model.seasonal_adjustment
    index_at_end = fit_season_index(tx, data_end)
    fitted_index = index_at_end if mode else None
    use_index = is_material(fitted_index) if mode == "auto" else fitted_index is not None
    production_index = fitted_index if use_index else None
    backtest_index = fit_season_index(tx, plan.test_cutoff) if use_index else None

    fit = _subset(frames, plan.fit_cutoffs)
    cross_fitted = plan.calibration_cutoff is None
    cal = fit if cross_fitted else frames[plan.calibration_cutoff]
    test = frames[plan.test_cutoff].copy()
    for what, frame in (
        ("training cutoffs", fit),
        ("calibration cutoff", cal),
        ("test cutoff", test),
    ):
        _check_enough(frame, what, settings)

    step("backtest: fit models")
    spec = FeatureSpec.fit(fit)
    fitted = fit_fold_models(fit, spec, settings, backtest_index, h)
    oof = out_of_fold_raw(fit, spec, settings, backtest_index, h) if cross_fitted else None
    churn_heads, revenue_heads = fit_candidates(fitted, cal, raw=oof)
    # evaluated on the label horizon itself, so no extrapolation here
    raw = fitted.raw(test)
    test_factor = season_factor(backtest_index, plan.test_cutoff, h)
    for name, head in churn_heads.items():
        test[f"pred_churn_{name}"] = head.apply(raw["lightgbm_logit"], raw["btyd_silent"])
    for name, head in revenue_heads.items():
        revenue_label = head.apply(raw["lightgbm_revenue"], raw["btyd_revenue"])
        test[f"pred_revenue_{name}"] = revenue_label * test_factor

    step("backtest: fit baselines")
    base = Baselines.fit(fit if cross_fitted else pd.concat([fit, cal], ignore_index=True), h)
    preds = base.predict(test)
    retention = fit_retention(tables.subscriptions, plan.test_cutoff)
    if retention is not None:  # subscriptions: sBG and Kaplan-Meier, fitted on the history
        preds["churn"] |= predict_subscription_churn(retention, test, plan.test_cutoff, h)
    for name, p in preds["churn"].items():
        test[f"pred_churn_{name}"] = p
    for name, p in preds["revenue"].items():
        test[f"pred_revenue_{name}"] = p

    y, rev = test["churned"].to_numpy(), test["future_revenue"].to_numpy()
    churn_rows = {n: evaluate_churn(y, test[f"pred_churn_{n}"].to_numpy()) for n in churn_heads}
    churn_rows |= {
        n: evaluate_churn(y, p) for n, p in preds["churn"].items() if n not in churn_rows
    }
    revenue_rows = {
        n: evaluate_revenue(rev, test[f"pred_revenue_{n}"].to_numpy()) for n in revenue_heads
    }
    revenue_rows |= {
        n: evaluate_revenue(rev, p) for n, p in preds["revenue"].items() if n not in revenue_rows
    }
    served, selection = {}, {}
    served["churn"], selection["churn"] = select_churn(churn_rows)
    served["revenue"], selection["revenue"] = select_revenue(revenue_rows)
    test["pred_churn_model"] = test[f"pred_churn_{served['churn']}"]
    test["pred_revenue_model"] = test[f"pred_revenue_{served['revenue']}"]
    # the CLV interval: spread of actual / predicted revenue on the test cutoff, by bin of the
    # prediction (coverage measured by cross-fitting; see model.clv.RatioInterval)
    interval = fit_ratio_interval(
        test["pred_revenue_model"].to_numpy() / test_factor,
        test["pred_revenue_model"].to_numpy(),
        rev,
        horizon_days=h,
        seed=settings.model.seed,
    )

    check_plan = plan_clv_check(
        data_start,
        data_end,
        h,
        settings.clv_horizon_days,
        settings.model.n_snapshots,
        settings.model.snapshot_step_days,
    )
    clv_check = None
    if settings.model.clv_check and check_plan is not None and check_plan.fit_cutoffs:
        step(f"CLV check: {check_plan.horizon_days} days from {check_plan.cutoff}")
        try:
            clv_check = run_clv_check(
                tables,
                check_plan,
                frames,
                spec,
                served["revenue"],
                settings,
                h,
                production_index,
                vocabulary,
            )
        except InsufficientDataError:
            check_plan = None
    clv_note = (
        check_note(
            check_plan if clv_check else None,
            settings.clv_horizon_days,
            (data_end - data_start).days,
        )
        if settings.model.clv_check
        else "CLV not checked over the CLV horizon (model.clv_check: false); the CLV "
        "interval's coverage is measured over the churn horizon."
    )
    interval = interval_or(clv_check, interval)

    seasonal = season_note(index_at_end, plan.test_cutoff, data_end, h, use_index)
    if mode is True and fitted_index is None:
        seasonal = "No seasonal index: model.seasonal_adjustment needs 24 complete months of data."
    step("production refit on the newest cutoffs")
    from features import build_features

    prod_fit = _subset(frames, plan.production_fit_cutoffs)
    prod = fit_fold_models(prod_fit, spec, settings, production_index, h)
    if cross_fitted:  # the test cutoff is among the production fit cutoffs: out of fold
        oof = out_of_fold_raw(prod_fit, spec, settings, production_index, h)
        heads = fit_candidates(prod, prod_fit, only=served, raw=oof)
    else:
        heads = fit_candidates(prod, test, only=served)
    churn_head, revenue_head = (next(iter(d.values())) for d in heads)
    latest = build_features(tables, data_end, vocabulary=vocabulary)
    latest = latest[has_paid_purchase(latest)].reset_index(drop=True)
    bundle = ModelBundle(
        spec=spec,
        vocabulary=vocabulary.to_dict(),
        boosters={"churn": prod.churn, "revenue": prod.revenue},
        btyd=fit_btyd(latest, f"data end {data_end}"),
        churn_head=churn_head,
        revenue_head=revenue_head,
        churn_horizon_days=plan.horizon_days,
        label_horizon_days=plan.label_horizon_days,
        clv_horizon_days=settings.clv_horizon_days,
        gross_margin=settings.gross_margin,
        monthly_discount_rate=settings.monthly_discount_rate,
        season_index=production_index,
        interval=interval,
    )
    retention_at_end = fit_retention(tables.subscriptions, data_end)
    if retention_at_end is not None:
        bundle.retention = {"sbg": retention_at_end.to_dict(), "clv_method": "churn_model"}
    bundle.value_cutpoints = _value_cutpoints(bundle, latest, data_end, settings)
    bundle.typical = spec.typical(bundle.model_frame(latest))
    bundle.directions = fit_directions(fit, vocabulary)
    importance = pd.DataFrame(
        {
            "feature": spec.columns,
            "churn_gain": prod.churn.feature_importance("gain"),
            "revenue_gain": prod.revenue.feature_importance("gain"),
        }
    ).sort_values("churn_gain", ascending=False, ignore_index=True)
    summary = {
        "transactions": population.transactions,
        "customers": population.customers,
        "training_customers": int(tx["customer_id"].nunique()),
        "data_start": str(data_start),
        "data_end": str(data_end),
        "test_cutoff": str(plan.test_cutoff),
        "calibration_cutoff": str(plan.calibration_cutoff or "out of fold"),
        "fit_cutoffs": [str(c) for c in plan.fit_cutoffs],
        "production_fit_cutoffs": [str(c) for c in plan.production_fit_cutoffs],
        "label_horizon_days": h,
        "training_rows": int(len(fit)),
        "test_rows": int(len(test)),
        "test_churn_rate": float(y.mean()),
    }
    churn_table, revenue_table = _metrics_table(churn_rows), _metrics_table(revenue_rows)
    bundle.meta.update(
        {
            "data": summary,
            "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
            # scoring compares its batch with the newest labelled snapshot (PSI)
            "drift_reference": fit_drift_reference(frames[plan.test_cutoff], spec.columns),
            "served": {
                kind: {"candidate": served[kind], "why": selection[kind]} for kind in served
            },
            "clv_interval": {
                "level": interval.level,
                "coverage": interval.coverage,
                "horizon_days": interval.horizon_days,
            },
            "backtest": {
                "churn": churn_table.set_index("model").to_dict("index"),
                "revenue": revenue_table.set_index("model").to_dict("index"),
            },
            "clv_check": None
            if clv_check is None
            else {
                "cutoff": str(clv_check.plan.cutoff),
                "horizon_days": clv_check.plan.horizon_days,
                "customers": clv_check.customers,
                "metrics": clv_check.metrics.set_index("model").to_dict("index"),
            },
        }
    )
    return TrainingResult(
        plan=plan,
        bundle=bundle,
        churn_metrics=churn_table,
        revenue_metrics=revenue_table,
        test_frame=test,
        data_summary=summary,
        feature_importance=importance,
        baselines=base,
        clv_check=clv_check,
        served=served,
        selection=selection,
        notes=[
            *plan.notes,
            *(n for n in (note, seasonal, clv_note, clv_check and clv_check.note) if n),
            *([own] if (own := vocabulary.describe()) else []),
        ],
    )


def train_label_free(
    tables: InputTables,
    settings: Settings,
    population: Population,
    data_end: dt.date,
    sample: str | None = None,
) -> TrainingResult:
    """The fallback when no labelled window fits in the history: BG/NBD + Gamma-Gamma, which
    need no outcome to learn from, are fitted on all the history and serve churn, revenue and
    CLV over the configured horizons directly (no label horizon to extrapolate from). Nothing
    is backtested, so the metric tables are empty and the notes say so."""
    from features import build_features

    span = (data_end - population.first_timestamp.date()).days
    latest = build_features(tables, data_end)
    latest = latest[has_paid_purchase(latest)].reset_index(drop=True)
    m = settings.model
    if len(latest) < m.min_customers:
        raise InsufficientDataError(
            f"{len(latest)} customers with a purchase by {data_end}; even the label-free BG/NBD "
            f"model needs at least {m.min_customers} (setting model.min_customers). "
            "No model was trained."
        )
    btyd = fit_btyd(latest, f"data end {data_end}")
    h = settings.churn_horizon_days
    frame = with_btyd(latest, btyd, h)
    spec = FeatureSpec.fit(frame)
    bundle = ModelBundle(
        spec=spec,
        boosters={},
        btyd=btyd,
        churn_head=ChurnHead("bgnbd", intercept=0.0, lightgbm=0.0, btyd=1.0),
        revenue_head=RevenueHead("bgnbd_gamma_gamma", lightgbm=0.0, btyd=1.0),
        churn_horizon_days=h,
        label_horizon_days=h,
        clv_horizon_days=settings.clv_horizon_days,
        gross_margin=settings.gross_margin,
        monthly_discount_rate=settings.monthly_discount_rate,
    )
    bundle.value_cutpoints = _value_cutpoints(bundle, latest, data_end, settings)
    bundle.typical = spec.typical(bundle.model_frame(latest))
    served = {"churn": "bgnbd", "revenue": "bgnbd_gamma_gamma"}
    reason = (
        f"no labelled window fits in {span} days of history, so no model could learn from "
        "outcomes or be tested; BG/NBD + Gamma-Gamma learn from purchase histories alone"
    )
    selection = {"churn": reason, "revenue": reason}
    summary = {
        "transactions": population.transactions,
        "customers": population.customers,
        "training_customers": int(tables.transactions["customer_id"].nunique()),
        "data_start": str(population.first_timestamp.date()),
        "data_end": str(data_end),
        "label_horizon_days": None,
        "backtest": "none: no labelled window fits",
    }
    bundle.meta.update(
        {
            "data": summary,
            "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
            "drift_reference": fit_drift_reference(frame, spec.columns),
            "served": {kind: {"candidate": served[kind], "why": reason} for kind in served},
            "clv_interval": None,
            "backtest": None,
            "clv_check": None,
        }
    )
    empty = pd.DataFrame({"model": pd.Series(dtype=str)})
    note = (
        f"Short history: {span} days of data are too short for a time-based backtest (it needs "
        f"{MIN_BACKTEST_DAYS} days), so no model could learn from outcomes. "
        "BG/NBD + Gamma-Gamma, fitted on all the history, serve the churn scores, revenue and "
        "CLV: they need no outcomes to learn from, but their accuracy on this data is not "
        "measured and CLV has no range. Retrain when the history is long enough for a backtest."
    )
    return TrainingResult(
        plan=None,
        bundle=bundle,
        churn_metrics=empty,
        revenue_metrics=empty.copy(),
        test_frame=frame,
        data_summary=summary,
        feature_importance=pd.DataFrame(columns=["feature", "churn_gain", "revenue_gain"]),
        baselines=None,
        served=served,
        selection=selection,
        notes=[note, *([sample] if sample else [])],
    )


MIN_DIRECTION_CORRELATION = 0.02
"""Below this absolute rank correlation with churn a feature gets no direction."""


def fit_directions(fit: pd.DataFrame, vocabulary: Vocabulary) -> dict[str, int]:
    """+1 / -1 per numeric feature of the data's own columns: the sign of its Spearman
    correlation with ``churned`` on the training cutoffs (none when under
    :data:`MIN_DIRECTION_CORRELATION` or constant), so reasons can tell "few product views"
    from "many" as they do for the catalogue's features."""
    columns = [
        s.name
        for f in vocabulary.families
        for s in f.specs
        if s.dtype != "str" and s.name in fit.columns
    ]
    out = {}
    churned = fit["churned"].astype(float)
    for col in columns:
        x = fit[col].astype(float)
        if x.nunique() < 2:  # constant: nothing to learn
            continue
        rho = x.corr(churned, method="spearman")
        if pd.notna(rho) and abs(rho) >= MIN_DIRECTION_CORRELATION:
            out[col] = 1 if rho > 0 else -1
    return out


def _value_cutpoints(
    bundle: ModelBundle, latest: pd.DataFrame, data_end: dt.date, settings: Settings
) -> dict[str, float]:
    """Cut-points of the value tiers on the value if retained, from the customers at the data
    end (see :func:`serving.score.score_customers`)."""
    value = bundle.predict(latest, data_end)["value_if_retained"].to_numpy()
    return {
        t.name: float(np.quantile(value, t.min_percentile)) if t.min_percentile > 0 else 0.0
        for t in settings.segments.value_tiers
    }
