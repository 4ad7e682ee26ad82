"""The seasonality warning: hand-computed windows and ratios."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from training.seasonality import fit_season_index, is_material, season_note

PATTERN = np.array([0.8, 0.8, 0.9, 1.0, 1.0, 0.8, 0.7, 0.8, 1.0, 1.1, 1.4, 1.7])
INDEX = list(PATTERN / PATTERN.mean())


def test_note_says_how_the_season_ahead_differs_from_the_tested_window() -> None:
    """By the index: Oct-Dec (mean 1.4) vs Jul-Sep (mean 0.833) at the 92-day windows."""
    note = season_note(INDEX, dt.date(2025, 6, 30), dt.date(2025, 9, 30), 92, adjusted=False)
    assert note is not None
    ratio = (31 * 1.1 + 30 * 1.4 + 31 * 1.7) / (31 * 0.7 + 31 * 0.8 + 30 * 1.0)
    assert f"{ratio:.2f}x the revenue of the 92 days after 2025-06-30" in note
    assert "probably underestimated" in note
    adjusted = season_note(INDEX, dt.date(2025, 6, 30), dt.date(2025, 9, 30), 92, adjusted=True)
    assert adjusted is not None and "follow the index" in adjusted


def test_no_note_when_alike_without_an_index_or_for_a_trend() -> None:
    assert season_note(INDEX, dt.date(2025, 3, 1), dt.date(2026, 3, 1), 30, False) is None
    assert season_note(None, dt.date(2025, 6, 30), dt.date(2025, 9, 30), 92, False) is None
    flat = [1.0 + 0.02 * np.sin(m) for m in range(12)]  # what a trend leaves: no season
    assert not is_material(flat) and is_material(INDEX)
    assert season_note(flat, dt.date(2025, 6, 30), dt.date(2025, 9, 30), 92, False) is None


def test_a_growing_business_without_seasons_gets_a_flat_index() -> None:
    """Revenue doubling every year, the same every month: the trend is divided out."""
    days = pd.date_range("2022-12-15", "2026-01-10", freq="D")
    growth = 2.0 ** ((days - days[0]).days / 365.25)
    frame = pd.DataFrame({"customer_id": "a", "timestamp": days, "amount": growth})
    index = fit_season_index(frame, dt.date(2026, 1, 10))
    assert index is not None and not is_material(index), index


def test_index_recovers_the_monthly_pattern_of_a_flat_business() -> None:
    """Daily revenue = the month's factor, three years: the index is the pattern, scaled."""
    pattern = np.array([0.8, 0.8, 0.9, 1.0, 1.0, 0.8, 0.7, 0.8, 1.0, 1.1, 1.4, 1.7])
    days = pd.date_range("2022-12-15", "2026-01-10", freq="D")
    frame = pd.DataFrame({"customer_id": "a", "timestamp": days, "amount": pattern[days.month - 1]})
    index = fit_season_index(frame, dt.date(2026, 1, 10))
    np.testing.assert_allclose(index, pattern / pattern.mean(), rtol=1e-9)
    # 23 complete months are too few
    assert fit_season_index(frame, dt.date(2024, 12, 15)) is None
