"""The CLV check: CLV over the CLV horizon against what customers really spent, in the same
time-based way as the churn backtest, beside the baselines.

Layout (H = the CLV horizon, or the longest one the history holds; h = label horizon; the
check's own models, fitted with the served revenue candidate's recipe)::

    fit cutoffs:  c - 2h - k * step          (labels end by c - h)
    head:         c - h                      (labels end at c)
    check:        c = data end - H           (predicted revenue over (c, c + H] vs actual)

No label the check's models or heads learned from reaches past ``c``. CLV is compared at
margin 1 without discounting: the revenue the CLV stands for. The interval rule (actual /
predicted by bin, :class:`model.clv.RatioInterval`) is fitted here, so its coverage is
measured over the CLV horizon itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from core.settings import Settings
from features.contract import InputTables
from features.vocabulary import Vocabulary
from model.bundle import ChurnHead, ModelBundle
from model.clv import RatioInterval, fit_ratio_interval
from model.matrix import FeatureSpec
from training.backtest import MIN_HISTORY_DAYS
from training.baselines import Baselines
from training.fold import build_snapshot, fit_btyd, fit_candidates, fit_fold_models
from training.metrics import decile_table, evaluate_revenue
from training.seasonality import fit_season_index

CHECK_SNAPSHOTS = 3
"""At most this many fit cutoffs for the check's models: a snapshot costs a feature build, and
the check measures the recipe, so it needs fewer than the production models."""


@dataclass(frozen=True)
class CLVCheckPlan:
    """Cutoffs of the CLV check."""

    cutoff: dt.date
    horizon_days: int
    requested_days: int
    head_cutoff: dt.date
    fit_cutoffs: tuple[dt.date, ...]


@dataclass
class CLVCheck:
    """What the CLV check measured."""

    plan: CLVCheckPlan
    metrics: pd.DataFrame  # one row per model / baseline (evaluate_revenue over the horizon)
    deciles: pd.DataFrame  # the served model's decile table
    interval: RatioInterval
    customers: int
    note: str | None = None


def plan_clv_check(
    data_start: dt.date,
    data_end: dt.date,
    label_days: int,
    clv_days: int,
    n_snapshots: int,
    step_days: int,
) -> CLVCheckPlan | None:
    """The longest check up to ``clv_days`` the history holds (None if not even ``label_days``)."""
    span = (data_end - data_start).days
    longest = span - MIN_HISTORY_DAYS - 2 * label_days
    horizon = min(clv_days, longest)
    if horizon < label_days:
        return None
    cutoff = data_end - dt.timedelta(days=horizon)
    head = cutoff - dt.timedelta(days=label_days)
    last_fit = head - dt.timedelta(days=label_days)
    fits = [
        last_fit - dt.timedelta(days=step_days * k)
        for k in range(min(n_snapshots, CHECK_SNAPSHOTS))
        if (last_fit - dt.timedelta(days=step_days * k) - data_start).days >= MIN_HISTORY_DAYS
    ]
    return CLVCheckPlan(cutoff, horizon, clv_days, head, tuple(sorted(fits)))


def check_note(check: CLVCheckPlan | None, clv_days: int, span_days: int) -> str | None:
    """What the report says when the history does not hold the whole CLV horizon."""
    if check is None:
        return (
            f"CLV not checked: {span_days} days of history cannot hold a {clv_days}-day CLV "
            "window after the training windows; the CLV interval's coverage is measured over "
            "the churn horizon instead."
        )
    if check.horizon_days < clv_days:
        return (
            f"CLV checked over {check.horizon_days} days, the longest the history holds, not "
            f"the whole {clv_days}-day CLV horizon."
        )
    return None


def run_clv_check(
    tables: InputTables,
    check: CLVCheckPlan,
    frames: dict[dt.date, pd.DataFrame],
    spec: FeatureSpec,
    served_revenue: str,
    settings: Settings,
    label_days: int,
    production_index: list[float] | None,
    vocabulary: Vocabulary | None = None,
) -> CLVCheck:
    """Fit the check's models, predict CLV at the check cutoff, compare with actual revenue.

    ``frames``: snapshots already built (label horizon ``label_days``), reused and extended;
    ``production_index``: the production models' seasonal index, if any. The check then fits its
    own from data up to the check cutoff; where that holds under 24 months it borrows the
    production one (12 monthly factors fitted on all data, the check window included: said in
    ``CLVCheck.note``), so that it measures the recipe that serves.
    """
    from features import build_labels

    for c in (*check.fit_cutoffs, check.head_cutoff, check.cutoff):
        if c not in frames:
            frames[c] = build_snapshot(tables, c, label_days, vocabulary)
    fit = pd.concat([frames[c] for c in check.fit_cutoffs], ignore_index=True)
    head_frame, at = frames[check.head_cutoff], frames[check.cutoff]
    index, note = None, None
    if production_index is not None:
        index = fit_season_index(tables.transactions, check.cutoff)
        if index is None:
            index = production_index
            note = (
                f"The CLV check used the monthly seasonal index fitted on all data: the "
                f"{(check.cutoff - tables.transactions['timestamp'].min().date()).days} days "
                f"before the check cutoff {check.cutoff} hold under 24 complete months."
            )
    fitted = fit_fold_models(fit, spec, settings, index, label_days, churn=False)
    _, revenue_heads = fit_candidates(fitted, head_frame, only={"revenue": served_revenue})
    bundle = ModelBundle(
        spec=spec,
        boosters={"revenue": fitted.revenue},
        btyd=fit_btyd(at, f"CLV check cutoff {check.cutoff}"),
        churn_head=ChurnHead("bgnbd", 0.0, 0.0, 1.0),  # churn is not what the check measures
        revenue_head=revenue_heads[served_revenue],
        churn_horizon_days=label_days,
        label_horizon_days=label_days,
        clv_horizon_days=check.horizon_days,
        gross_margin=1.0,
        monthly_discount_rate=0.0,
        season_index=index,
    )
    pred = bundle.predict(at, check.cutoff)
    actual_frame = build_labels(tables, check.cutoff, check.horizon_days)
    actual = (
        at[["customer_id"]]
        .merge(actual_frame[["customer_id", "future_revenue"]], on="customer_id", how="left")[
            "future_revenue"
        ]
        .fillna(0.0)
        .to_numpy(float)
    )
    base = Baselines.fit(pd.concat([fit, head_frame], ignore_index=True), label_days)
    baselines = base.predict_clv(at, bundle.btyd, check.horizon_days, 1.0, 0.0)
    spend = at["spend_365d"].fillna(0).clip(lower=0).to_numpy(float)
    predictions = {
        served_revenue: pred["clv"].to_numpy(),
        "bgnbd_gamma_gamma": baselines["bgnbd_gamma_gamma"],
        "last_year_run_rate": spend * check.horizon_days / 365.0,
        "clv_formula": baselines["clv_formula"],
    }
    rows = {name: evaluate_revenue(actual, p) for name, p in predictions.items()}
    metrics = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model").reset_index()
    interval = fit_ratio_interval(
        pred["label_revenue"].to_numpy(),
        pred["clv"].to_numpy(),
        actual,
        horizon_days=check.horizon_days,
        seed=settings.model.seed,
    )
    return CLVCheck(
        plan=check,
        metrics=metrics,
        deciles=decile_table(actual, pred["clv"].to_numpy()),
        interval=interval,
        customers=int(len(at)),
        note=note,
    )


def interval_or(check: CLVCheck | None, fallback: RatioInterval) -> RatioInterval:
    """The CLV check's interval when there was a check, else ``fallback``."""
    return fallback if check is None else check.interval
