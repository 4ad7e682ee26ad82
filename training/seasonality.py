"""Seasonality of revenue: a fitted monthly index, and a plain note about it.

:func:`fit_season_index` is the classic multiplicative decomposition: average daily net revenue
per calendar month divided by its centred 12-month moving average (the trend), averaged per
calendar month, scaled to mean 1; it needs 24 complete months. Because the trend is divided
out, a business that only grows or shrinks gets a flat index (:func:`is_material` False): a
trend is not a season. With ``model.seasonal_adjustment: auto`` (the default) a material index
is used; the bundle stores it, the revenue models learn revenue divided by the factor of each
label window, and scoring multiplies by the factor of the window ahead.

:func:`season_note` tells the reader when the window ahead differs from the tested one by
season (by the index; nothing is said without one, since a season cannot be told from a trend
in under two years).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

MIN_MONTHS = 24
"""Complete calendar months needed to fit the seasonal index."""

THRESHOLD = 1.25
"""Note when the window ahead is seasonally above this or below its inverse."""

MATERIAL = 0.10
"""An index is a season worth adjusting for when some month is this far from 1."""


def is_material(index: list[float] | None) -> bool:
    """True when some calendar month's factor is :data:`MATERIAL` or more away from 1."""
    return index is not None and max(abs(f - 1.0) for f in index) >= MATERIAL


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


def season_note(
    index: list[float] | None,
    test_cutoff: dt.date,
    data_end: dt.date,
    days: int,
    adjusted: bool,
) -> str | None:
    """The note for the report, or None without a material index or when the two windows are
    seasonally alike. ``index``: fitted up to the data end; ``adjusted``: the models use it."""
    from model.clv import season_factor

    if not is_material(index):
        return None
    ratio = season_factor(index, data_end, days) / season_factor(index, test_cutoff, days)
    if 1 / THRESHOLD <= ratio <= THRESHOLD:
        return None
    head = (
        f"Seasonality: by the fitted monthly index the {days} days after {data_end} bring "
        f"{ratio:.2f}x the revenue of the {days} days after {test_cutoff} (the tested window). "
    )
    if adjusted:
        return head + "Expected revenue and CLV follow the index."
    return head + (
        "The models have no seasonal adjustment (model.seasonal_adjustment: false), so expected "
        f"revenue for the {days} days after {data_end} is probably "
        f"{'under' if ratio > 1 else 'over'}estimated by a similar factor; the ranking of "
        "customers is not affected."
    )
