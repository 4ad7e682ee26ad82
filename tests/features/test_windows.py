"""Window counts, spend and trends: hand-computed values on the tiny tables."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.features.helpers import assert_row


def windows(values: dict[int, tuple[int, float, int]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for w, (orders, spend, days) in values.items():
        out |= {f"orders_{w}d": orders, f"spend_{w}d": spend, f"active_days_{w}d": days}
    return out


EXPECTED = {
    # ages: 01-01 = 30 (outside 30d), 01-11 = 20, return 01-12 = 19; nothing 90..179 days ago
    "00042": windows({30: (1, 15.0, 1), 90: (2, 25.0, 2), 180: (2, 25.0, 2), 365: (2, 25.0, 2)})
    | {"orders_trend_90d": 2.0, "spend_trend_90d": 25.0},
    # ages 230, 143 (previous 90d: 1 order, 50.0), 42 (2 orders), 1 (order + refund)
    "00007": windows({30: (1, 30.0, 1), 90: (3, 80.0, 2), 180: (4, 130.0, 3), 365: (5, 230.0, 4)})
    | {"orders_trend_90d": (3 - 1) / (1 + 1), "spend_trend_90d": (80.0 - 50.0) / (50.0 + 1)},
    "11": windows({w: (1, 12.0, 1) for w in (30, 90, 180, 365)})
    | {"orders_trend_90d": 1.0, "spend_trend_90d": 12.0},
    # a refund is spend but neither an order nor an active day
    "3": windows({w: (0, -15.0, 0) for w in (30, 90, 180, 365)})
    | {"orders_trend_90d": 0.0, "spend_trend_90d": -15.0},
    "9": windows({w: (0, 0.0, 0) for w in (30, 90, 180, 365)})
    | {"orders_trend_90d": 0.0, "spend_trend_90d": 0.0},
}


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_windows_hand_computed(tiny_features: pd.DataFrame, customer_id: str) -> None:
    assert_row(tiny_features, customer_id, EXPECTED[customer_id])


def test_windows_are_nested(tiny_features: pd.DataFrame) -> None:
    for a, b in [(30, 90), (90, 180), (180, 365)]:
        assert (tiny_features[f"orders_{a}d"] <= tiny_features[f"orders_{b}d"]).all()
        assert (tiny_features[f"active_days_{a}d"] <= tiny_features[f"active_days_{b}d"]).all()
    assert (tiny_features.orders_365d <= tiny_features.orders_total).all()
