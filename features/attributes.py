"""Customer attributes from the customers table (dropped when there is no customers table).

Only customers who signed up at or before the cutoff are visible. The contract has one row
per customer; should a customer appear twice the values are collapsed deterministically
(earliest signup, alphabetically first channel, member if any row says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from features.context import as_day
from features.registry import Family, FeatureSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context


def customers_source(ctx: Context) -> ir.Table:
    """Customer rows with ``signup_date`` at or before the cutoff."""
    assert ctx.customers is not None
    return ctx.customers


def _aggregates(c: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
    return {
        "acquisition_channel": c.acquisition_channel.cast("string").min(),
        "loyalty_member": c.loyalty_member.cast("float64").max(),
        "signup_age_days": ctx.age_days(as_day(c.signup_date)).max().cast("float64"),
    }


FAMILY = Family(
    name="attributes",
    description="Static customer attributes; needs the customers table.",
    requires=("transactions", "customers"),
    source=customers_source,
    aggregates=_aggregates,
    specs=(
        FeatureSpec(
            "acquisition_channel",
            "how the customer was acquired",
            "category",
            "static",
            "str",
            missing="null when unknown or no customers row",
        ),
        FeatureSpec(
            "loyalty_member",
            "loyalty programme member: 1.0 yes, 0.0 no",
            "flag",
            "static",
            "float64",
            missing="null when unknown or no customers row",
        ),
        FeatureSpec(
            "signup_age_days",
            "days from the signup day to the cutoff day",
            "days",
            "at cutoff",
            "float64",
            missing="null when no customers row",
        ),
    ),
)
