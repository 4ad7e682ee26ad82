"""A plain warning when the months ahead were seasonally unlike the months the models learned from.

The models have no seasonal adjustment: they learn revenue from label windows before the test
cutoff. If, one year earlier, the window after the data end brought much more (or less) revenue
than the window after the test cutoff, expected revenue for the next window is likely off by a
similar factor, and the report should say so.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

THRESHOLD = 1.25
"""Warn when last year's ratio is above this or below its inverse."""


def window_revenue(transactions: pd.DataFrame, cutoff: dt.date, days: int) -> float:
    """Net revenue in (cutoff, cutoff + days], the label-window convention (whole days)."""
    day = transactions["timestamp"].dt.normalize()
    start = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=days)
    return float(transactions.loc[(day >= start) & (day <= end), "amount"].sum())


def season_shift(
    transactions: pd.DataFrame, test_cutoff: dt.date, data_end: dt.date, days: int
) -> float | None:
    """Last year's revenue in the window after ``data_end`` over the window after ``test_cutoff``.

    Both windows shifted back 365 days; None when the data does not reach back that far or a
    window had no net revenue.
    """
    year = dt.timedelta(days=365)
    first = transactions["timestamp"].min().date()
    if first > test_cutoff - year:
        return None
    ahead = window_revenue(transactions, data_end - year, days)
    learned = window_revenue(transactions, test_cutoff - year, days)
    if ahead <= 0 or learned <= 0:
        return None
    return ahead / learned


def season_note(
    transactions: pd.DataFrame, test_cutoff: dt.date, data_end: dt.date, days: int
) -> str | None:
    """The warning for the report, or None when last year's two windows were alike."""
    ratio = season_shift(transactions, test_cutoff, data_end, days)
    if ratio is None or 1 / THRESHOLD <= ratio <= THRESHOLD:
        return None
    year = dt.timedelta(days=365)
    direction = "under" if ratio > 1 else "over"
    return (
        f"Seasonality: last year the {days} days after {data_end - year} brought {ratio:.2f}x "
        f"the revenue of the {days} days after {test_cutoff - year}. The models were tested on "
        f"a window like the latter and have no seasonal adjustment, so expected revenue for the "
        f"{days} days after {data_end} is probably {direction}estimated by a similar factor; "
        "the ranking of customers is not affected (the factor is the same for everyone)."
    )
