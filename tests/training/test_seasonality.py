"""The seasonality warning: hand-computed windows and ratios."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from training.seasonality import fit_season_index, season_note, season_shift, window_revenue


def tx(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a"] * len(rows),
            "timestamp": pd.to_datetime([d for d, _ in rows], format="ISO8601"),
            "amount": [a for _, a in rows],
        }
    )


# last year: 100 in the 30 days after 2024-03-01, 300 in the 30 days after 2024-06-01
YEAR = tx(
    [
        ("2023-12-01", 1.0),  # makes the data reach back far enough
        ("2024-03-01 23:00", 999.0),  # on the cutoff day itself: not in the window
        ("2024-03-02", 60.0),
        ("2024-03-31", 40.0),  # day 30: in
        ("2024-04-01", 500.0),  # day 31: out
        ("2024-06-10", 350.0),
        ("2024-06-20", -50.0),  # a refund nets
        ("2025-03-01", 10.0),
    ]
)


def test_window_revenue_uses_whole_days_after_the_cutoff() -> None:
    assert window_revenue(YEAR, dt.date(2024, 3, 1), 30) == 100.0
    assert window_revenue(YEAR, dt.date(2024, 6, 1), 30) == 300.0


def test_shift_is_last_years_ratio_of_the_two_windows() -> None:
    # test cutoff 2025-03-01 and data end 2025-06-01 -> last year 2024-03-01 and 2024-06-01
    shift = season_shift(YEAR, dt.date(2025, 3, 1), dt.date(2025, 6, 1), 30)
    assert shift == 3.0
    note = season_note(YEAR, dt.date(2025, 3, 1), dt.date(2025, 6, 1), 30)
    assert note is not None
    assert "3.00x the revenue of the 30 days after 2024-03-01" in note
    assert "probably underestimated" in note


def test_no_note_when_alike_or_when_history_is_short() -> None:
    assert season_note(YEAR, dt.date(2025, 3, 1), dt.date(2025, 3, 1), 30) is None  # ratio 1
    assert season_shift(YEAR, dt.date(2024, 6, 1), dt.date(2024, 9, 1), 30) is None  # < 1 year


def test_index_recovers_the_monthly_pattern_of_a_flat_business() -> None:
    """Daily revenue = the month's factor, three years: the index is the pattern, scaled."""
    pattern = np.array([0.8, 0.8, 0.9, 1.0, 1.0, 0.8, 0.7, 0.8, 1.0, 1.1, 1.4, 1.7])
    days = pd.date_range("2022-12-15", "2026-01-10", freq="D")
    frame = pd.DataFrame({"customer_id": "a", "timestamp": days, "amount": pattern[days.month - 1]})
    index = fit_season_index(frame, dt.date(2026, 1, 10))
    np.testing.assert_allclose(index, pattern / pattern.mean(), rtol=1e-9)
    # 23 complete months are too few
    assert fit_season_index(frame, dt.date(2024, 12, 15)) is None
