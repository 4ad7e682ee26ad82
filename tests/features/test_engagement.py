"""Engagement from events: hand-computed values on the tiny tables."""

from __future__ import annotations

import pandas as pd
import pytest

from features.engagement import EVENT_TYPES
from tests.features.helpers import NAN, assert_row


def counts(plural: str, values: tuple[int, int, int, int]) -> dict[str, int]:
    return {f"{plural}_{w}d": v for w, v in zip((30, 90, 180, 365), values, strict=True)}


EXPECTED = {
    # opens at ages 11 and 122, clicks at 10, 121, 120, a visit at 0, an app session at 364
    "00042": counts("visits", (1, 1, 1, 1))
    | counts("email_opens", (1, 1, 2, 2))
    | counts("email_clicks", (1, 1, 3, 3))
    | counts("support_tickets", (0, 0, 0, 0))
    | counts("app_sessions", (0, 0, 0, 1))
    | {
        "days_since_visit": 0.0,
        "days_since_email_open": 11.0,
        "days_since_email_click": 10.0,
        "days_since_support_ticket": NAN,
        "days_since_app_session": 364.0,
        "email_open_rate": 2 * 30 / 365,  # observed since age 364: min(365, 365) days
        "email_click_rate": 3 / 2,
        "email_click_trend_90d": (1 - 2) / (2 + 1),
        "csat_mean": NAN,
    },
    # tickets at ages 29 (CSAT 4), 91 (no score), 336 (CSAT 2)
    "9": counts("support_tickets", (1, 1, 2, 3))
    | counts("visits", (0, 0, 0, 0))
    | {
        "days_since_support_ticket": 29.0,
        "days_since_visit": NAN,
        "email_open_rate": 0.0,
        "email_click_rate": NAN,
        "email_click_trend_90d": 0.0,
        "csat_mean": 3.0,
    },
}


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_engagement_hand_computed(tiny_features: pd.DataFrame, customer_id: str) -> None:
    assert_row(tiny_features, customer_id, EXPECTED[customer_id])


@pytest.mark.parametrize("customer_id", ["00007", "11", "3", "8"])
def test_customer_without_events_gets_zeros_and_nulls(
    tiny_features: pd.DataFrame, customer_id: str
) -> None:
    expected: dict[str, object] = {}
    for event_type, plural in EVENT_TYPES.items():
        expected |= counts(plural, (0, 0, 0, 0))
        expected[f"days_since_{event_type}"] = NAN
    expected |= {
        "email_open_rate": NAN,
        "email_click_rate": NAN,
        "email_click_trend_90d": 0.0,
        "csat_mean": NAN,
    }
    assert_row(tiny_features, customer_id, expected)


def test_stable_schema_whatever_event_types_occur(tiny_features: pd.DataFrame) -> None:
    for event_type, plural in EVENT_TYPES.items():
        assert f"days_since_{event_type}" in tiny_features
        for w in (30, 90, 180, 365):
            assert tiny_features[f"{plural}_{w}d"].dtype == "int64"
