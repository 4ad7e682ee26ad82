"""Seasonality of revenue: a plain warning, and (opt-in) a fitted monthly index.

:func:`season_note` warns when, one year earlier, the window after the data end brought much
more (or less) revenue than the window after the test cutoff.

:func:`fit_season_index` (``model.seasonal_adjustment``) is the classic multiplicative
decomposition: average daily net revenue per calendar month divided by its centred 12-month
moving average (the trend), averaged per calendar month, scaled to mean 1; it needs 24 complete
months. The bundle stores it; the revenue models then learn revenue divided by the factor of
each label window, and scoring multiplies by the factor of the window ahead.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

MIN_MONTHS = 24
"""Complete calendar months needed to fit the seasonal index."""

THRESHOLD = 1.25
"""Warn when last year's ratio is above this or below its inverse."""


def fit_season_index(transactions: pd.DataFrame, end: dt.date) -> list[float] | None:
    """Revenue factor per calendar month (January first, mean 1) from data up to ``end``.

    None with fewer than :data:`MIN_MONTHS` complete months or a calendar month without an
    estimate.
    """
    seen = transactions[transactions["timestamp"] < pd.Timestamp(end) + pd.Timedelta(days=1)]
    if seen.empty:
        return None
    month = seen["timestamp"].dt.to_period("M")
    totals = seen.groupby(month)["amount"].sum()
    first, last = month.min(), month.max()
    # complete months only: not the first (it may start mid-month), nor one ending after end
    if pd.Timestamp(end) < last.to_timestamp(how="end").normalize():
        last = last - 1
    months = pd.period_range(first + 1, last, freq="M")
    if len(months) < MIN_MONTHS:
        return None
    daily = totals.reindex(months, fill_value=0.0) / months.days_in_month
    trend = daily.rolling(12, center=True).mean().rolling(2).mean().shift(-1)  # centred 2x12
    ratio = (daily / trend).dropna()
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    by_month = ratio.groupby(ratio.index.month).mean()
    if len(by_month) < 12:
        return None
    index = by_month.reindex(range(1, 13)).to_numpy()
    return [float(v) for v in index / index.mean()]


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
    transactions: pd.DataFrame,
    test_cutoff: dt.date,
    data_end: dt.date,
    days: int,
    adjusted: bool = False,
) -> str | None:
    """The warning for the report, or None when last year's two windows were alike."""
    ratio = season_shift(transactions, test_cutoff, data_end, days)
    if ratio is None or 1 / THRESHOLD <= ratio <= THRESHOLD:
        return None
    year = dt.timedelta(days=365)
    head = (
        f"Seasonality: last year the {days} days after {data_end - year} brought {ratio:.2f}x "
        f"the revenue of the {days} days after {test_cutoff - year}. "
    )
    if adjusted:
        return head + "Expected revenue and CLV follow the fitted monthly index."
    return head + (
        "The models were tested on a window like the latter and have no seasonal adjustment, "
        f"so expected revenue for the {days} days after {data_end} is probably "
        f"{'under' if ratio > 1 else 'over'}estimated by a similar factor; the ranking of "
        "customers is not affected (setting model.seasonal_adjustment adjusts for it)."
    )
