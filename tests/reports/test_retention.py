"""Retention formulas: the hand example, and per-period counts on a tiny table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.retention import churn_rate, cohort_retention, retention_by_period, retention_rate


def test_textbook_example() -> None:
    assert retention_rate(1000, 900, 200) == pytest.approx(70.0)
    assert churn_rate(1000, 900, 200) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="S > 0"):
        retention_rate(0, 5, 1)


def tx(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
            "timestamp": pd.to_datetime([r[1] for r in rows]).astype("datetime64[us]"),
            "amount": [r[2] for r in rows],
        }
    )


def test_period_counts_by_hand() -> None:
    # horizon 30 days; periods are calendar months from 2024-02 on
    t = tx(
        [
            ("a", "2024-01-20", 10),  # active at 2024-01-31; buys again in Feb -> retained
            ("a", "2024-02-10", 10),
            ("b", "2024-01-25", 10),  # active at start, silent after -> lost
            ("c", "2024-01-15", 10),  # active at start, refund only in Feb -> lost
            ("c", "2024-02-15", -10),
            ("d", "2024-02-20", 10),  # new in February, active at end
            ("z", "2024-01-01", 10),  # first day of data, makes the data start
            ("z", "2024-03-31", 10),
        ]
    )
    out = retention_by_period(t, horizon_days=30).set_index("period_start")
    feb = out.loc[pd.Timestamp("2024-02-01")]
    # S: a, b, c active at Jan 31 (z bought Jan 1, 30 days before: not within (Jan 1, Jan 31])
    assert (feb["S"], feb["E"], feb["N"]) == (3, 2, 1)  # E: a, d; N: d
    assert feb["retention_rate_pct"] == pytest.approx(100 / 3)
    assert feb["churn_rate_pct"] == pytest.approx(200 / 3)


def test_cohorts() -> None:
    t = tx(
        [
            ("a", "2024-01-05", 1),
            ("a", "2024-02-05", 1),
            ("b", "2024-01-09", 1),
            ("c", "2024-02-01", 1),
        ]
    )
    out = cohort_retention(t)
    assert out.loc["2024-01", "customers"] == 2
    assert out.loc["2024-01", 0] == 1.0 and out.loc["2024-01", 1] == 0.5
    assert out.loc["2024-02", 0] == 1.0 and np.isnan(out.loc["2024-02", 1])
