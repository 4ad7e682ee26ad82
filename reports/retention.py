"""Retention and churn rates from the business literature, per period and per cohort.

retention rate = (E - N) / S x 100, where S = customers active at the start of the period,
E = customers active at the end, N = new customers (first purchase in the period) active at the
end; churn rate = 100 - retention rate. "Active at t" = at least one purchase (amount > 0) in
the churn horizon before t: (t - horizon, t]. E - N also counts customers who came back after a
lapse, as the textbook formula does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def retention_rate(start_customers: int, end_customers: int, new_customers: int) -> float:
    """Retention rate in percent: (E - N) / S x 100. S=1000, E=900, N=200 give 70.0."""
    if start_customers <= 0:
        raise ValueError("retention rate needs S > 0 customers at the start of the period")
    return (end_customers - new_customers) / start_customers * 100.0


def churn_rate(start_customers: int, end_customers: int, new_customers: int) -> float:
    """Churn rate in percent: 100 - retention rate."""
    return 100.0 - retention_rate(start_customers, end_customers, new_customers)


def _purchases(transactions: pd.DataFrame) -> pd.DataFrame:
    buys = transactions.loc[transactions["amount"] > 0, ["customer_id", "timestamp"]]
    return buys.assign(day=buys["timestamp"].dt.normalize())


def _active_at(last_buy: pd.Series, t: pd.Timestamp, horizon_days: int) -> pd.Index:
    """Customers whose last purchase up to day t lies in (t - horizon, t]."""
    age = (t - last_buy).dt.days
    return last_buy.index[(age >= 0) & (age < horizon_days)]


def retention_by_period(
    transactions: pd.DataFrame,
    horizon_days: int,
    freq: str = "MS",
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """S, E, N, retention and churn rate for each calendar period (default months).

    Periods run from the first full period after one horizon of history up to ``end`` (default
    the last transaction day); a period is (start day, end day], end day = next period start - 1.
    """
    buys = _purchases(transactions)
    if buys.empty:
        return pd.DataFrame(
            columns=[
                "period_start",
                "period_end",
                "S",
                "E",
                "N",
                "retention_rate_pct",
                "churn_rate_pct",
            ]
        )
    first = buys.groupby("customer_id")["day"].min()
    last_day = end or buys["day"].max()
    start = buys["day"].min() + pd.Timedelta(days=horizon_days)
    bounds = pd.date_range(start, last_day + pd.Timedelta(days=1), freq=freq)
    rows = []
    ordered = buys.sort_values("day")
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        t0, t1 = a - pd.Timedelta(days=1), b - pd.Timedelta(days=1)
        last0 = ordered[ordered["day"] <= t0].groupby("customer_id")["day"].max()
        last1 = ordered[ordered["day"] <= t1].groupby("customer_id")["day"].max()
        s = _active_at(last0, t0, horizon_days)
        e = _active_at(last1, t1, horizon_days)
        new = first[(first > t0) & (first <= t1)].index
        n = len(e.intersection(new))
        if len(s) == 0:
            continue
        r = retention_rate(len(s), len(e), n)
        rows.append(
            {
                "period_start": a,
                "period_end": t1,
                "S": len(s),
                "E": len(e),
                "N": n,
                "retention_rate_pct": r,
                "churn_rate_pct": 100 - r,
            }
        )
    return pd.DataFrame(rows)


def cohort_retention(transactions: pd.DataFrame, max_months: int = 24) -> pd.DataFrame:
    """Share of each first-purchase-month cohort buying in each month since (rows: cohorts)."""
    buys = _purchases(transactions)
    month = buys["day"].dt.to_period("M")
    cohort = month.groupby(buys["customer_id"]).transform("min")
    offset = (month - cohort).map(lambda d: d.n)
    frame = pd.DataFrame({"customer_id": buys["customer_id"], "cohort": cohort, "offset": offset})
    frame = frame[frame["offset"] <= max_months].drop_duplicates()
    counts = frame.groupby(["cohort", "offset"])["customer_id"].nunique().unstack(fill_value=0)
    sizes = counts[0]
    out = counts.div(sizes, axis=0)
    # months that have not happened yet for a cohort are unknown, not zero
    last = buys["day"].max().to_period("M")
    for c in out.index:
        out.loc[c, [k for k in out.columns if (c + int(k)) > last]] = np.nan
    out.insert(0, "customers", sizes)
    out.index = out.index.astype(str)
    return out
