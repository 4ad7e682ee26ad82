"""Risk x value segments: tiers from fitted cut-points, cell names and actions from settings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.settings import SegmentSettings


def assign_risk_tier(probability: np.ndarray, segments: SegmentSettings) -> np.ndarray:
    """Highest tier whose ``min_probability`` the probability reaches (boundaries inclusive)."""
    tiers = sorted(segments.risk_tiers, key=lambda t: t.min_probability)
    p = np.asarray(probability, dtype=float)
    out = np.full(len(p), tiers[0].name, dtype=object)
    for tier in tiers[1:]:
        out[p >= tier.min_probability] = tier.name
    return out


def lowest_risk_tier(segments: SegmentSettings) -> str:
    """The name of the risk tier starting at probability 0 (its customers are the safe ones)."""
    return min(segments.risk_tiers, key=lambda t: t.min_probability).name


def assign_value_tier(clv: np.ndarray, cutpoints: dict[str, float]) -> np.ndarray:
    """Highest value tier whose CLV cut-point (fitted in training) the CLV reaches."""
    ordered = sorted(cutpoints.items(), key=lambda kv: kv[1])
    v = np.asarray(clv, dtype=float)
    out = np.full(len(v), ordered[0][0], dtype=object)
    for name, cut in ordered[1:]:
        out[v >= cut] = name
    return out


def assign_segments(risk: np.ndarray, value: np.ndarray, segments: SegmentSettings) -> pd.DataFrame:
    """Segment name and recommended action for each (risk tier, value tier) pair."""
    cell = {(c.risk, c.value): i for i, c in enumerate(segments.cells)}
    risk_codes, risks = pd.factorize(np.asarray(risk, dtype=object))
    value_codes, values = pd.factorize(np.asarray(value, dtype=object))
    grid = np.array([[cell.get((r, v), -1) for v in values] for r in risks], dtype=int)
    at = grid[risk_codes, value_codes] if len(risk_codes) else np.empty(0, dtype=int)
    if (at < 0).any():
        bad = dict.fromkeys(
            zip(risks[risk_codes[at < 0]], values[value_codes[at < 0]], strict=True)
        )
        raise ValueError(
            "segment grid has no cell for "
            + ", ".join(f"({r}, {v})" for r, v in bad)
            + ": the bundle's value tiers and the settings' segments disagree"
        )
    names = np.array([c.name for c in segments.cells], dtype=object)
    actions = np.array([c.action for c in segments.cells], dtype=object)
    return pd.DataFrame({"segment": names[at], "action": actions[at]})
