"""Reason phrases: exact text for hand-picked values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving.reasons import phrases, top_reasons


def one(feature: str, value: object, **row: object) -> str:
    frame = pd.DataFrame([{feature: value, **row}])
    return phrases(feature, frame[feature], frame).iloc[0]


def test_phrases() -> None:
    assert one("recency_days", 124.0) == "no purchase for 124 days"
    assert one("recency_days", np.nan) == "no purchase yet"
    # clicks: previous 90 days had 10, the last 90 days 2: trend = (2 - 10) / 11
    assert one("email_click_trend_90d", -8 / 11, email_clicks_90d=2) == (
        "email clicks down 80% vs the previous 90 days"
    )
    assert one("orders_trend_90d", 3 / 3, orders_90d=5) == "orders up 150% vs the previous 90 days"
    assert (
        one("orders_trend_90d", 4.0, orders_90d=4) == "orders: 4 in the last 90 days, none before"
    )
    assert one("days_since_visit", 45.0) == "last website visit 45 days ago"
    assert one("days_since_email_click", np.nan) == "no email click recorded"
    assert one("support_tickets_90d", 3) == "3 support tickets in the last 90 days"
    assert one("spend_365d", 1234.4) == "spent 1,234 in the last 365 days"
    assert one("csat_mean", 2.25) == "support satisfaction 2.2 of 5"
    assert one("loyalty_member", 0.0) == "not a loyalty member"
    assert one("acquisition_channel", "paid_social") == "acquired via paid_social"
    assert one("email_click_rate", 0.05) == "clicks 5% of opened emails"


def test_counts_of_one_are_singular() -> None:
    assert one("visits_90d", 1) == "1 website visit in the last 90 days"
    assert one("visits_90d", 2) == "2 website visits in the last 90 days"
    assert one("orders_30d", 1) == "1 order in the last 30 days"
    assert one("active_days_90d", 1) == "bought on 1 day in the last 90 days"
    assert one("recency_days", 1.0) == "no purchase for 1 day"
    assert one("recency_days", 0.0) == "no purchase for 0 days"
    assert one("days_since_visit", 1.0) == "last website visit 1 day ago"
    assert one("frequency", 1) == "1 repeat purchase day so far"
    assert one("orders_total", 1) == "1 order in total"
    assert one("loyalty_member", np.nan) == "loyalty membership not known"


def test_top_reasons_take_the_largest_positive_contributions() -> None:
    frame = pd.DataFrame(
        {"recency_days": [200.0, 3.0], "csat_mean": [1.5, 4.8], "visits_30d": [0, 9]}
    )
    cols = list(frame.columns)
    contrib = np.array(
        [
            [1.2, 0.4, -0.1, 0.3],  # last column is the bias
            [-0.8, -0.1, 0.05, 0.3],
        ]
    )
    assert top_reasons(contrib, frame, cols) == [
        ["no purchase for 200 days", "support satisfaction 1.5 of 5"],
        ["9 website visits in the last 30 days"],
    ]
