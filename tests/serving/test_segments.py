"""Segment assignment at boundary values, with the default grid."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import SegmentSettings
from serving.segments import assign_risk_tier, assign_segments, assign_value_tier

GRID = SegmentSettings()


def test_risk_tier_boundaries_are_inclusive() -> None:
    p = np.array([0.0, 0.2999, 0.3, 0.5999, 0.6, 1.0])
    assert assign_risk_tier(p, GRID).tolist() == ["low", "low", "medium", "medium", "high", "high"]


def test_value_tier_uses_the_fitted_cutpoints() -> None:
    cuts = {"high": 200.0, "medium": 50.0, "low": 0.0}
    clv = np.array([0.0, 49.99, 50.0, 199.99, 200.0, 1e6])
    assert assign_value_tier(clv, cuts).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]


def test_cells_give_names_and_actions() -> None:
    out = assign_segments(np.array(["high", "low"]), np.array(["high", "low"]), GRID)
    assert out.to_dict("records") == [
        {"segment": "Win back VIPs", "action": "win-back: personal outreach from account manager"},
        {"segment": "Steady small", "action": "business as usual"},
    ]


def test_unknown_tier_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no cell for \(high, platinum\)"):
        assign_segments(np.array(["high"]), np.array(["platinum"]), GRID)
