"""The one scoring function: feature frame -> scores, tiers, segment, reasons, action.

Batch scoring, the API and Spark (``mapInPandas``) all call :func:`score_customers`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.settings import SegmentSettings
from features.rfm import has_paid_purchase
from features.subscriptions import uses_subscriptions
from model.btyd import REASON_COLUMNS
from model.bundle import ModelBundle
from serving.reasons import ReasonContext, top_reasons
from serving.segments import (
    assign_risk_tier,
    assign_segments,
    assign_value_tier,
    lowest_risk_tier,
)

SCORE_COLUMNS = [
    "customer_id",
    "churn_probability",
    "expected_revenue",
    "clv",
    "clv_low",
    "clv_high",
    "value_if_retained",
    "value_at_risk",
    "risk_tier",
    "value_tier",
    "segment",
    "reasons",
    "preferred_channel",
    "action",
    "churn_model_version",
    "clv_model_version",
    "scoring_date",
]
SUBSCRIPTION_COLUMNS = ["next_renewal_date", "monthly_recurring_revenue", "mrr_at_risk"]
"""Added after ``value_at_risk`` for a model trained with subscriptions: the day of the next
renewal (so a campaign can time the contact), the monthly recurring revenue and the part of it
at risk (churn probability x monthly recurring revenue); empty for customers without an active
subscription."""


def score_columns(subscriptions: bool) -> list[str]:
    """The score columns, with :data:`SUBSCRIPTION_COLUMNS` when ``subscriptions``."""
    at = SCORE_COLUMNS.index("value_at_risk") + 1
    extra = SUBSCRIPTION_COLUMNS if subscriptions else []
    return [*SCORE_COLUMNS[:at], *extra, *SCORE_COLUMNS[at:]]


def next_renewal_date(features: pd.DataFrame, scoring_date: dt.date) -> np.ndarray:
    """The first renewal day after the scoring date: the whole days of ``days_to_renewal``
    (a 30.4-day period renews on the day it falls in), NaT without an active subscription."""
    days = np.floor(features["days_to_renewal"].to_numpy(dtype=float))
    period = features["billing_period_days"].to_numpy(dtype=float)
    days = np.where(days < 1, np.floor(days + period), days)  # it fell on the scoring date
    return (pd.Timestamp(scoring_date) + pd.to_timedelta(days, unit="D")).to_numpy()


def score_customers(
    features: pd.DataFrame,
    bundle: ModelBundle,
    segments: SegmentSettings,
    *,
    scoring_date: dt.date,
    model_versions: dict[str, str] | None = None,
    with_reasons: bool = True,
    currency: str | None = None,
) -> pd.DataFrame:
    """Score a feature frame (one row per customer) with a model bundle.

    Value tiers rank the value if retained (what the customer brings over the CLV horizon if
    they stay, :func:`model.clv.value_if_retained`; CLV already discounts the chance of
    churning, so a customer at high risk could never have high CLV); their cut-points are
    fitted in training (never on the batch being scored), so one customer scored alone gets
    the same tier as in a batch. ``value_at_risk`` = P(churn) x value if retained.

    ``reasons`` holds up to three phrases behind the churn score (LightGBM's exact TreeSHAP
    values, :meth:`ModelBundle.churn_contributions`, when LightGBM takes part in the served churn head, else what moves the
    BG/NBD score): what makes the customer risky, or, in the lowest risk tier, what keeps them
    safe (:mod:`serving.reasons`); amounts in them carry ``currency``.
    """
    versions = model_versions or {}
    frame = bundle.model_frame(features)  # features + the BTYD posteriors the models use
    rows = bundle.model_rows(frame) if bundle.uses_lightgbm else None  # for models and reasons
    pred = bundle.predict(features, scoring_date, frame=frame, rows=rows)
    # customers without a paid purchase yet (signup, events or $0 orders only) get a row in
    # their own segment with no churn probability or value: nothing to estimate them from
    newcomer = ~has_paid_purchase(features)
    pred.loc[newcomer, :] = np.nan
    churn, clv = pred["churn_probability"].to_numpy(), pred["clv"].to_numpy()
    retained = pred["value_if_retained"].to_numpy()
    risk = assign_risk_tier(churn, segments)
    value = assign_value_tier(retained, bundle.value_cutpoints)
    cells = assign_segments(risk, value, segments)
    if with_reasons and len(features):
        context = ReasonContext(
            bundle.typical, currency, bundle.label_horizon_days, bundle.directions
        )
        safe = risk == lowest_risk_tier(segments)  # explained by what keeps them safe
        if bundle.churn_head.lightgbm:  # LightGBM takes part in the churn score: its TreeSHAP
            contrib, values = bundle.churn_contributions(rows), rows
            columns = bundle.spec.columns
        else:  # BG/NBD alone serves: what moves its score (see BTYDModel.churn_contributions)
            contrib = bundle.btyd.churn_contributions(features, bundle.label_horizon_days)
            columns, values = list(REASON_COLUMNS), None
        reasons = top_reasons(contrib, frame, columns, safe=safe, context=context, values=values)
    else:
        reasons = [[] for _ in range(len(features))]
    if newcomer.any():
        risk, value = risk.astype(object), value.astype(object)
        risk[newcomer] = value[newcomer] = None
        cells.loc[newcomer, "segment"] = segments.no_purchase_segment
        cells.loc[newcomer, "action"] = segments.no_purchase_action
        for i in np.flatnonzero(newcomer):
            reasons[i] = ["no paid purchase yet"]
    channel = (
        features["preferred_channel"].to_numpy(dtype=object)
        if "preferred_channel" in features
        else np.full(len(features), None, dtype=object)
    )
    subscriptions = uses_subscriptions(bundle.spec.columns)
    extra = {}
    if subscriptions:
        mrr = features["monthly_recurring_revenue"].to_numpy(dtype=float)
        extra = {
            "next_renewal_date": next_renewal_date(features, scoring_date),
            "monthly_recurring_revenue": mrr,
            "mrr_at_risk": churn * mrr,
        }
    return pd.DataFrame(
        {
            **extra,
            "customer_id": features["customer_id"].astype("str").to_numpy(),
            "churn_probability": churn,
            "expected_revenue": pred["expected_revenue"].to_numpy(),
            "clv": clv,
            "clv_low": pred["clv_low"].to_numpy(),
            "clv_high": pred["clv_high"].to_numpy(),
            "value_if_retained": retained,
            "value_at_risk": churn * retained,  # what is lost if they churn
            "risk_tier": risk,
            "value_tier": value,
            "segment": cells["segment"].to_numpy(),
            "reasons": reasons,
            "preferred_channel": channel,
            "action": cells["action"].to_numpy(),
            "churn_model_version": versions.get("churn_model"),
            "clv_model_version": versions.get("clv_model"),
            "scoring_date": pd.Timestamp(scoring_date),
        },
        columns=score_columns(subscriptions),
    )
