"""Assertion helpers for hand-computed feature values."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

NAN = float("nan")


def assert_row(frame: pd.DataFrame, customer_id: str, expected: dict[str, Any]) -> None:
    """Every expected value matches exactly (floats to 1e-12; NaN means null)."""
    row = frame.loc[customer_id]
    for name, want in expected.items():
        got = row[name]
        if want is None or (isinstance(want, float) and math.isnan(want)):
            assert pd.isna(got), f"{customer_id}.{name}: expected null, got {got!r}"
        elif isinstance(want, float):
            assert not pd.isna(got), f"{customer_id}.{name}: expected {want}, got null"
            assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12), (
                f"{customer_id}.{name}: expected {want}, got {got}"
            )
        else:
            assert got == want, f"{customer_id}.{name}: expected {want!r}, got {got!r}"
