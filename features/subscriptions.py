"""Subscription features from the subscriptions table (left out when there is none).

What a subscription business knows of a customer at the cutoff (see
:func:`features.context.subscriptions_at`: starts up to the cutoff, ends and cancellation
requests only once they have happened, never the extract's ``status``):

* the subscription rows *active* at the cutoff (started, not ended): how many, the monthly
  recurring revenue they bring (``monthly_recurring_revenue``: price x 30.4375 / billing period days, summed), and of
  the *main* one (the latest started, then the dearest, then the lowest id) its plan, price
  and billing period;
* where the customer is in the billing cycle: completed renewals of the subscription (from the
  first start of its ``subscription_id``, so a plan change keeps the count) and the days to
  the next renewal of the row's own schedule (``start + k x period``, in ``(0, period]``);
* whether it renews by itself (``auto_renew``) and whether a cancellation was asked for;
* the history: plan changes up (a higher price per day than the row before it in the same
  subscription) and down, restarts after a gap, and subscriptions that stopped (an end not
  followed on the same day by the next row of the same subscription).

Payment failures and usage come from the events table as the data's own event types
(:mod:`features.vocabulary`: ``payment_failed``, ``login``... get counts, days since and a
trend). Money is summed as exact decimals, as everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from features.context import exact
from features.registry import Family, FeatureSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context

DAYS_PER_MONTH = 30.4375
"""Days of an average month (365.25 / 12): a billing period's price per month."""


def subscription_rows(ctx: Context) -> ir.Table:
    """The subscription rows known at the cutoff, each with its place in its subscription and
    in the customer's history: ``main`` (the main active row), ``first_start_day`` (of its
    subscription id), ``prev_daily_price`` (of the row before it in the same subscription),
    ``next_start_day`` (of the row after it in the same subscription) and ``prev_end_day``
    (of the customer's row started before it)."""
    import ibis

    assert ctx.subscriptions is not None
    s = ctx.subscriptions
    daily_price = s.price / s.billing_period_days
    per_subscription = ibis.window(
        group_by=[s.customer_id, s.subscription_id], order_by=[s.start_date]
    )
    per_customer = ibis.window(group_by=s.customer_id, order_by=[s.start_date, s.subscription_id])
    main_first = ibis.window(
        group_by=[s.customer_id, s.active],
        order_by=[ibis.desc(s.start_date), ibis.desc(s.price), s.subscription_id],
    )
    return s.mutate(
        daily_price=daily_price,
        main=s.active & (ibis.row_number().over(main_first) == 0),
        first_start_day=s.start_day.min().over(
            ibis.window(group_by=[s.customer_id, s.subscription_id])
        ),
        prev_daily_price=daily_price.lag().over(per_subscription),
        next_start_day=s.start_day.lead().over(per_subscription),
        prev_end_day=s.end_day.lag().over(per_customer),
    )


def _aggregates(s: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
    active, period = s.active, s.billing_period_days
    since_start = ctx.age_days(s.start_day).cast("float64")
    into_period = since_start - (since_start / period).floor() * period
    renewals = (ctx.age_days(s.first_start_day).cast("float64") / period).floor()
    stopped = s.end_day.notnull() & (s.next_start_day.isnull() | (s.next_start_day > s.end_day))
    asked = active & s.cancel_date.notnull()
    return {
        "active_subscriptions_count": active.cast("int64").sum(),
        "subscription_tenure_days": ctx.age_days(s.start_day).max().cast("float64"),
        "subscription_renewals_count": renewals.max(where=active),
        "days_to_renewal": (period - into_period).min(where=active),
        "billing_period_days": period.max(where=s.main),
        "price_per_period": s.price.max(where=s.main),
        "monthly_recurring_revenue": exact(s.price * DAYS_PER_MONTH / period)
        .sum(where=active)
        .cast("float64"),
        "subscription_plan": s.plan.min(where=s.main),
        "auto_renew": s.auto_renew.cast("float64").min(where=active),
        "cancel_requested": asked.cast("float64").max(where=active),
        "days_since_cancel_request": ctx.age_days(s.cancel_date.date())
        .min(where=asked)
        .cast("float64"),
        "plan_upgrades_total": s.count(where=s.daily_price > s.prev_daily_price),
        "plan_downgrades_total": s.count(where=s.daily_price < s.prev_daily_price),
        "subscription_restarts_total": s.count(where=s.start_day > s.prev_end_day),
        "subscriptions_stopped_total": s.count(where=stopped),
        "days_since_subscription_stop": ctx.age_days(s.end_day).min(where=stopped).cast("float64"),
    }


_NO_ACTIVE = "null when no subscription is active"

FAMILY = Family(
    name="subscriptions",
    description="Contract, billing cycle and plan history of a subscription business; needs "
    "the subscriptions table.",
    requires=("transactions", "subscriptions"),
    source=subscription_rows,
    aggregates=_aggregates,
    specs=(
        FeatureSpec(
            "active_subscriptions_count",
            "subscription rows active at the cutoff",
            "count",
            "at cutoff",
            "int64",
            0,
            "0",
        ),
        FeatureSpec(
            "subscription_tenure_days",
            "days from the first subscription's start to the cutoff",
            "days",
            "all history",
            "float64",
            missing="null when never subscribed",
        ),
        FeatureSpec(
            "subscription_renewals_count",
            "completed billing periods of the active subscription (a plan change keeps counting)",
            "periods",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE,
        ),
        FeatureSpec(
            "days_to_renewal",
            "days from the cutoff to the next renewal (1 = the day after)",
            "days",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE,
        ),
        FeatureSpec(
            "billing_period_days",
            "billing period of the main active subscription",
            "days",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE,
        ),
        FeatureSpec(
            "price_per_period",
            "price of one billing period of the main active subscription",
            "currency",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE + " or no price",
        ),
        FeatureSpec(
            "monthly_recurring_revenue",
            "monthly recurring revenue: active prices x 30.4375 / billing period days",
            "currency per month",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE + " or no price",
        ),
        FeatureSpec(
            "subscription_plan",
            "plan of the main active subscription",
            "category",
            "at cutoff",
            "str",
            missing=_NO_ACTIVE + " or no plan",
        ),
        FeatureSpec(
            "auto_renew",
            "every active subscription renews by itself: 1.0 yes, 0.0 no",
            "flag",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE + " or unknown",
        ),
        FeatureSpec(
            "cancel_requested",
            "a cancellation was asked for an active subscription: 1.0 yes",
            "flag",
            "at cutoff",
            "float64",
            missing=_NO_ACTIVE,
        ),
        FeatureSpec(
            "days_since_cancel_request",
            "days from the latest cancellation request to the cutoff",
            "days",
            "at cutoff",
            "float64",
            missing="null when none was asked",
        ),
        FeatureSpec(
            "plan_upgrades_total",
            "plan changes to a higher price per day",
            "count",
            "all history",
            "int64",
            0,
            "0",
        ),
        FeatureSpec(
            "plan_downgrades_total",
            "plan changes to a lower price per day",
            "count",
            "all history",
            "int64",
            0,
            "0",
        ),
        FeatureSpec(
            "subscription_restarts_total",
            "subscription rows started after a gap without service",
            "count",
            "all history",
            "int64",
            0,
            "0",
        ),
        FeatureSpec(
            "subscriptions_stopped_total",
            "times a subscription ended (not a plan change)",
            "count",
            "all history",
            "int64",
            0,
            "0",
        ),
        FeatureSpec(
            "days_since_subscription_stop",
            "days from the latest subscription end to the cutoff",
            "days",
            "all history",
            "float64",
            missing="null when none ended",
        ),
    ),  # fmt: skip
)


def uses_subscriptions(columns: list[str]) -> bool:
    """True when a model's input ``columns`` hold subscription features (it was trained with
    a subscriptions table)."""
    return any(c in FAMILY.columns for c in columns)


def subscription_lifetimes(subscriptions: ir.Table, cutoff: dt.date) -> ir.Table:
    """Every subscription (a ``subscription_id`` of a customer, its plan changes included) as
    known at the end of ``cutoff``, as the retention models read it: ``billing_period_days``
    (of its latest row), ``start_year``, ``ended`` and ``periods``: the billing periods it was
    paid for when it ended (``ceil(days served / period)``, at least 1: it churned in that
    period), else the renewals it has completed (``floor(days since start / period)``: it
    lasts longer than that). Point in time like the features
    (:func:`features.context.subscriptions_at`)."""
    import ibis

    from features.context import subscriptions_at

    s = subscriptions_at(subscriptions, cutoff)
    per = s.group_by(["customer_id", "subscription_id"]).aggregate(
        first_day=s.start_day.min(),
        running=s.active.cast("int64").max(),
        last_end=s.end_day.max(),
        period=s.billing_period_days.argmax(s.start_date),
    )
    served = per.last_end.delta(per.first_day, unit="day").cast("float64")
    elapsed = ibis.date(cutoff).delta(per.first_day, unit="day").cast("float64")
    ended = per.running == 0
    return per.select(
        "customer_id",
        "subscription_id",
        billing_period_days=per.period,
        start_year=per.first_day.year(),
        ended=ended,
        periods=ibis.ifelse(
            ended,
            ibis.greatest((served / per.period).ceil(), 1.0),
            (elapsed / per.period).floor(),
        ).cast("int64"),
    )
