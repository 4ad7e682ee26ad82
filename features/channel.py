"""Preferred channel: the channel a customer used most over transactions and events.

Every visible transaction row and event row with a non-null ``channel`` counts once; the
channel with the most rows wins, ties go to the alphabetically first channel name. Null when
the customer has no row with a channel. Uses events when that table is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from features.registry import Family, FeatureSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context


def channel_ranking(ctx: Context) -> ir.Table:
    """One row per customer: the most used channel (``customer_id, channel, n``)."""
    import ibis

    parts = []
    for t in (ctx.transactions, ctx.events):
        if t is not None and "channel" in t.columns:
            parts.append(t.select("customer_id", channel=t.channel.cast("string")))
    if not parts:  # no channel column anywhere: an empty ranking
        t = ctx.transactions
        return t.filter(ibis.literal(False)).select(
            "customer_id", channel=ibis.null("string"), n=ibis.literal(0, "int64")
        )
    rows = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    rows = rows.filter(rows.channel.notnull())
    counts = rows.group_by("customer_id", "channel").aggregate(n=rows.count())
    best_first = ibis.window(
        group_by=counts.customer_id, order_by=[ibis.desc(counts.n), counts.channel]
    )
    ranked = counts.mutate(rank=ibis.row_number().over(best_first))
    return ranked.filter(ranked["rank"] == 0).drop("rank")


def _aggregates(r: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
    return {"preferred_channel": r.channel.max()}


FAMILY = Family(
    name="channel",
    description="Most used channel over transactions and events (ties: alphabetical).",
    requires=("transactions",),
    source=channel_ranking,
    aggregates=_aggregates,
    specs=(
        FeatureSpec(
            "preferred_channel",
            "channel with the most transaction + event rows; ties: alphabetically first",
            "category",
            "all history",
            "str",
            missing="null when no channel recorded",
        ),
    ),
)
