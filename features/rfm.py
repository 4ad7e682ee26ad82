"""RFM and BTYD summary features from transactions.

Conventions (see also :mod:`features.context`):

* a *purchase day* is a calendar day with at least one transaction of amount > 0; an *order* is
  one transaction row with amount > 0; refunds (amount < 0) never make a purchase day;
* the value of a purchase day is the net amount of all that day's rows (same-day returns net);
* ``monetary_total`` is net spend over all visible rows, including returns on other days.

Customers known at the cutoff without any purchase (only signup/events, or only returns) get
``orders_total = frequency = btyd_x = 0``, ``monetary_total`` = their net spend (0 without
transactions) and null for everything measured from a purchase (recency, tenure, first/last
value, means, inter-purchase gaps, BTYD t_x/T/monetary value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.context import exact
from features.registry import Family, FeatureSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context


def daily_transactions(ctx: Context) -> ir.Table:
    """One row per customer and calendar day with transactions visible at the cutoff.

    Columns: ``customer_id, day, net`` (sum of amounts), ``orders`` (rows with amount > 0),
    ``purchase`` (orders > 0), ``age_days`` (cutoff - day), and, ordered within the customer's
    purchase days (or within the other days), ``gap_days`` (days since the previous one; null
    on the first) and ``is_last`` (no later one).
    """
    import ibis

    tx = ctx.transactions
    daily = tx.group_by("customer_id", "day").aggregate(
        net=exact(tx.amount).sum(),  # exact decimal; floats only in the results
        orders=(tx.amount > 0).cast("int64").sum(),
    )
    purchase = daily.orders > 0
    by_kind = ibis.window(group_by=[daily.customer_id, purchase], order_by=daily.day)
    return daily.mutate(
        purchase=purchase,
        age_days=ctx.age_days(daily.day),
        gap_days=daily.day.delta(daily.day.lag().over(by_kind), unit="day"),
        is_last=daily.day.lead().over(by_kind).isnull(),
    )


def _aggregates(d: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
    p = d.purchase
    gap = d.gap_days.cast("int64")
    first = p & d.gap_days.isnull()  # the first purchase day has no previous one
    return {
        "_purchase_days": p.cast("int64").sum(),
        "_repeat_net": d.net.sum(where=p & ~first).cast("float64"),
        # integer sums of the gaps (exact, so the std is the same on every run and backend)
        "_gaps_n": gap.count(where=p),
        "_gaps_sum": gap.sum(where=p),
        "_gaps_sum_sq": (gap * gap).sum(where=p),
        "orders_total": d.orders.sum(),
        "recency_days": d.age_days.min(where=p).cast("float64"),
        "tenure_days": d.age_days.max(where=p).cast("float64"),
        "monetary_total": d.net.sum().cast("float64"),
        "first_purchase_value": d.net.sum(where=first).cast("float64"),
        "last_purchase_value": d.net.sum(where=p & d.is_last).cast("float64"),
    }


def _finalize(t: ir.Table) -> Mapping[str, ir.Value]:
    import ibis

    n_days = t._purchase_days
    x = ibis.greatest(n_days - 1, 0)
    t_x = t.tenure_days - t.recency_days
    n, g, g2 = t._gaps_n, t._gaps_sum, t._gaps_sum_sq
    # sample variance from exact integers: (n * sum g^2 - (sum g)^2) / (n (n - 1)); null if n < 2
    # (denominators go through nullif(0): a null result, never a division-by-zero error)
    variance = (n * g2 - g * g).cast("float64") / (n * (n - 1)).nullif(0)
    return {
        "frequency": x,
        "monetary_mean": t.monetary_total / n_days.nullif(0),
        "interpurchase_days_mean": t_x / x.nullif(0),
        "interpurchase_days_std": variance.sqrt(),
        "btyd_x": x,
        "btyd_t_x": t_x,
        "btyd_T": t.tenure_days,
        "btyd_monetary_value": ibis.cases(
            (n_days == 0, ibis.null("float64")),
            (x == 0, ibis.literal(0.0)),
            else_=t._repeat_net / x.nullif(0),
        ),
    }


SPECS = (
    FeatureSpec(
        "recency_days",
        "days from the last purchase day to the cutoff day (0 = bought on the cutoff day)",
        "days",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "frequency",
        "repeat purchase days: distinct purchase days minus one (BTYD x)",
        "count",
        "all history",
        "int64",
        fill=0,
        missing="0",
    ),
    FeatureSpec(
        "orders_total",
        "orders: transaction rows with amount > 0",
        "count",
        "all history",
        "int64",
        fill=0,
        missing="0",
    ),
    FeatureSpec(
        "monetary_total",
        "net spend: sum of all amounts, refunds netted",
        "currency",
        "all history",
        "float64",
        fill=0.0,
        missing="0",
    ),
    FeatureSpec(
        "monetary_mean",
        "net spend per purchase day: monetary_total / (frequency + 1)",
        "currency",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "tenure_days",
        "days from the first purchase day to the cutoff day (BTYD T)",
        "days",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "first_purchase_value",
        "net amount of the first purchase day",
        "currency",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "last_purchase_value",
        "net amount of the last purchase day",
        "currency",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "interpurchase_days_mean",
        "mean days between consecutive purchase days: btyd_t_x / frequency",
        "days",
        "all history",
        "float64",
        missing="null when frequency = 0",
    ),
    FeatureSpec(
        "interpurchase_days_std",
        "sample standard deviation (ddof=1) of days between consecutive purchase days",
        "days",
        "all history",
        "float64",
        missing="null when frequency < 2",
    ),
    FeatureSpec(
        "btyd_x",
        "BTYD x: repeat purchase days (same as frequency)",
        "count",
        "all history",
        "int64",
        fill=0,
        missing="0",
    ),
    FeatureSpec(
        "btyd_t_x",
        "BTYD t_x: days between the first and the last purchase day",
        "days",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "btyd_T",
        "BTYD T: days between the first purchase day and the cutoff day",
        "days",
        "all history",
        "float64",
        missing="null when no purchase",
    ),
    FeatureSpec(
        "btyd_monetary_value",
        "BTYD monetary value: mean net amount of the repeat purchase days (first one excluded)",
        "currency",
        "all history",
        "float64",
        missing="0 when frequency = 0; null when no purchase",
    ),
)

FAMILY = Family(
    name="rfm",
    description="Recency, frequency, monetary value and BTYD summary (lifetimes convention, "
    "freq='D') from transactions.",
    requires=("transactions",),
    source=daily_transactions,
    aggregates=_aggregates,
    finalize=_finalize,
    specs=SPECS,
)


HAS_PAID_PURCHASE_SQL = "recency_days IS NOT NULL"
""":func:`has_paid_purchase` as a filter for feature frames that stay on Spark."""


def has_paid_purchase(features: pd.DataFrame) -> np.ndarray:
    """Who the models learn from and score: customers with a paid purchase by the cutoff
    (``recency_days`` known). The others (a signup, events or $0 orders only) get the
    no-purchase segment and no scores."""
    if "recency_days" not in features:
        return np.zeros(len(features), dtype=bool)
    return features["recency_days"].notna().to_numpy()
