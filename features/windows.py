"""Windowed transaction counts, spend and trends (conditional aggregates, one pass).

A window of ``w`` days is the last ``w`` calendar days up to and including the cutoff day
(``age_days < w``); the previous 90 days are ``90 <= age_days < 180``.

Trends compare the last 90 days (``L``) with the 90 days before (``P``)::

    orders_trend_90d = (L - P) / (P + 1)          # orders
    spend_trend_90d  = (L - P) / (|P| + 1)        # net spend, |P| because refunds can make P < 0

0 means flat (also for customers with no transactions at all); positive = growing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from features.registry import Family, FeatureSpec
from features.rfm import daily_transactions

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context

WINDOWS_DAYS: tuple[int, ...] = (30, 90, 180, 365)
TREND_DAYS = 90


def _aggregates(d: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
    out: dict[str, ir.Value] = {}
    age = d.age_days
    for w in WINDOWS_DAYS:
        inside = age < w
        out[f"orders_{w}d"] = d.orders.sum(where=inside).fill_null(0)
        out[f"spend_{w}d"] = d.net.sum(where=inside).cast("float64").fill_null(0.0)
        out[f"active_days_{w}d"] = (d.purchase & inside).cast("int64").sum()
    previous = (age >= TREND_DAYS) & (age < 2 * TREND_DAYS)
    out["_orders_prev_90d"] = d.orders.sum(where=previous).fill_null(0)
    out["_spend_prev_90d"] = d.net.sum(where=previous).cast("float64").fill_null(0.0)
    return out


def _finalize(t: ir.Table) -> Mapping[str, ir.Value]:
    last_o, prev_o = t.orders_90d, t._orders_prev_90d
    last_s, prev_s = t.spend_90d, t._spend_prev_90d
    return {
        "orders_trend_90d": (last_o - prev_o).cast("float64") / (prev_o + 1),
        "spend_trend_90d": (last_s - prev_s) / (prev_s.abs() + 1),
    }


def _specs() -> tuple[FeatureSpec, ...]:
    specs: list[FeatureSpec] = []
    for w in WINDOWS_DAYS:
        window = f"last {w} days"
        specs += [
            FeatureSpec(
                f"orders_{w}d", "orders (rows with amount > 0)", "count", window, "int64", 0, "0"
            ),
            FeatureSpec(f"spend_{w}d", "net spend", "currency", window, "float64", 0.0, "0"),
            FeatureSpec(
                f"active_days_{w}d",
                "distinct purchase days",
                "count",
                window,
                "int64",
                0,
                "0",
            ),
        ]
    trend = "last 90 days vs the 90 days before"
    specs += [
        FeatureSpec(
            "orders_trend_90d",
            "(orders last 90d - orders previous 90d) / (orders previous 90d + 1)",
            "ratio",
            trend,
            "float64",
            0.0,
            "0",
        ),
        FeatureSpec(
            "spend_trend_90d",
            "(spend last 90d - spend previous 90d) / (|spend previous 90d| + 1)",
            "ratio",
            trend,
            "float64",
            0.0,
            "0",
        ),
    ]
    return tuple(specs)


FAMILY = Family(
    name="windows",
    description="Orders, net spend and purchase days in the last 30/90/180/365 days, and "
    "90-day trends, from transactions.",
    requires=("transactions",),
    source=daily_transactions,
    aggregates=_aggregates,
    finalize=_finalize,
    specs=_specs(),
)
