"""Engagement features from the events table (dropped when there is no events table).

The event types are a fixed list, so the frame has the same columns whatever the data holds.
Events of other types are not counted, but they make a customer known and start the observed
period of ``email_open_rate``. NaN values count as missing.

Definitions:

* ``{type}s_{w}d``: events of that type in the last ``w`` days (0 when none);
* ``days_since_{type}``: cutoff day minus the day of the last such event (null when never);
* ``email_click_rate``: email clicks / email opens over the last 365 days (null without opens;
  can exceed 1 when clicks were recorded without an open);
* ``email_open_rate``: email opens per 30 days over the last 365 days, counted over the part of
  that year the customer has been observed in events: ``opens_365d * 30 / min(365, days since
  the customer's first event + 1)`` (null without events);
* ``email_click_trend_90d``: ``(clicks last 90d - clicks previous 90d) / (clicks previous 90d
  + 1)``; 0 without events;
* ``csat_mean``: mean ``value`` of support tickets over all history (null when none has one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from features.context import exact
from features.registry import Family, FeatureSpec
from features.windows import TREND_DAYS, WINDOWS_DAYS

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context

# event type -> plural used in column names
EVENT_TYPES: dict[str, str] = {
    "visit": "visits",
    "email_open": "email_opens",
    "email_click": "email_clicks",
    "support_ticket": "support_tickets",
    "app_session": "app_sessions",
}
RATE_DAYS = 365


def events_source(ctx: Context) -> ir.Table:
    """Events visible at the cutoff, with ``day`` and ``age_days``."""
    assert ctx.events is not None
    return ctx.events


def _aggregates(e: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
    import ibis

    age, kind = e.age_days, e.event_type
    out: dict[str, ir.Value] = {}
    for event_type, plural in EVENT_TYPES.items():
        for w in WINDOWS_DAYS:
            out[f"{plural}_{w}d"] = e.count(where=(kind == event_type) & (age < w))
    for event_type in EVENT_TYPES:
        out[f"days_since_{event_type}"] = age.min(where=kind == event_type).cast("float64")
    clicks = kind == "email_click"
    previous = (age >= TREND_DAYS) & (age < 2 * TREND_DAYS)
    out["_email_opens_rate_window"] = e.count(where=(kind == "email_open") & (age < RATE_DAYS))
    out["_email_clicks_rate_window"] = e.count(where=clicks & (age < RATE_DAYS))
    out["_email_clicks_last_90d"] = e.count(where=clicks & (age < TREND_DAYS))
    out["_email_clicks_prev_90d"] = e.count(where=clicks & previous)
    out["_first_event_age"] = age.max()
    value = e.value.cast("float64")
    value = value.isnan().ifelse(ibis.null("float64"), value)  # NaN is missing on every backend
    # an exact (decimal) mean is the same on every run and backend
    out["csat_mean"] = exact(value).mean(where=kind == "support_ticket").cast("float64")
    return out


def _finalize(t: ir.Table) -> Mapping[str, ir.Value]:
    import ibis

    opens = t._email_opens_rate_window
    clicks = t._email_clicks_rate_window
    observed = ibis.least(t._first_event_age + 1, RATE_DAYS)
    last, prev = t._email_clicks_last_90d, t._email_clicks_prev_90d
    return {
        "email_open_rate": opens.cast("float64") * 30 / observed,
        "email_click_rate": clicks.cast("float64") / opens.nullif(0),
        "email_click_trend_90d": (last - prev).cast("float64") / (prev + 1),
    }


def _specs() -> tuple[FeatureSpec, ...]:
    specs: list[FeatureSpec] = []
    for event_type, plural in EVENT_TYPES.items():
        for w in WINDOWS_DAYS:
            specs.append(
                FeatureSpec(
                    f"{plural}_{w}d",
                    f"{event_type} events",
                    "count",
                    f"last {w} days",
                    "int64",
                    0,
                    "0",
                )
            )
    for event_type in EVENT_TYPES:
        specs.append(
            FeatureSpec(
                f"days_since_{event_type}",
                f"days from the last {event_type} event to the cutoff day",
                "days",
                "all history",
                "float64",
                missing="null when never",
            )
        )
    specs += [
        FeatureSpec(
            "email_open_rate",
            "email opens per 30 days: opens_365d * 30 / min(365, days since first event + 1)",
            "opens per 30 days",
            "last 365 days",
            "float64",
            missing="null when no events",
        ),
        FeatureSpec(
            "email_click_rate",
            "email clicks per email open",
            "ratio",
            "last 365 days",
            "float64",
            missing="null when no opens in 365 days",
        ),
        FeatureSpec(
            "email_click_trend_90d",
            "(clicks last 90d - clicks previous 90d) / (clicks previous 90d + 1)",
            "ratio",
            "last 90 days vs the 90 days before",
            "float64",
            0.0,
            "0",
        ),
        FeatureSpec(
            "csat_mean",
            "mean value (CSAT score) of support tickets",
            "score",
            "all history",
            "float64",
            missing="null when no scored ticket",
        ),
    ]
    return tuple(specs)


FAMILY = Family(
    name="engagement",
    description="Event counts per type and window, days since each event type, email rates "
    "and trend, support satisfaction; needs the events table.",
    requires=("transactions", "events"),
    source=events_source,
    aggregates=_aggregates,
    finalize=_finalize,
    specs=_specs(),
)
