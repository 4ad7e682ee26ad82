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


def _subs(rows: list[tuple]) -> pd.DataFrame:
    """(customer, start, end or None, plan, period days) rows as the loader gives them."""
    col = list(zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(col[0], dtype="str"),
            "subscription_id": pd.Series(col[0], dtype="str"),
            "start_date": pd.to_datetime(pd.Series(col[1])),
            "end_date": pd.to_datetime(pd.Series(col[2])),
            "plan": pd.Series(col[3], dtype="str"),
            "billing_period_days": pd.Series(col[4], dtype="float64"),
        }
    )


def test_subscriber_retention_by_month_by_hand() -> None:
    """March 2026: a, b, c subscribed on the 1st (S = 3); b ends 03-15; d joins 03-10 and e
    joins 03-20 but ends 03-25; on the 31st a, c, d are subscribed (E = 3), d new (N = 1):
    (3 - 1) / 3 = 66.7%."""
    from reports.retention import subscription_retention_by_month

    subs = _subs(
        [
            ("a", "2026-01-05", None, "basic", 30),
            ("b", "2026-02-01", "2026-03-15", "basic", 30),
            ("c", "2026-02-20", None, "pro", 30),
            ("d", "2026-03-10", None, "pro", 30),
            ("e", "2026-03-20", "2026-03-25", "pro", 30),
        ]
    )
    out = subscription_retention_by_month(subs, end=pd.Timestamp("2026-03-31"))
    march = out.set_index("period_start").loc[pd.Timestamp("2026-03-01")]
    assert (march["S"], march["E"], march["N"]) == (3, 3, 1)
    assert march["retention_rate_pct"] == pytest.approx(200 / 3)


def test_subscription_cohorts_by_start_month_and_by_plan() -> None:
    """January cohort a, b: both on 02-05 (month 1), b gone by 03-05 (month 2: 50%). By plan
    (Kaplan-Meier in months): basic monthly a (censored at the end), b (ends after ~1.8 months);
    yearly f ended after 12 months."""
    from reports.retention import subscription_cohorts

    subs = _subs(
        [
            ("a", "2026-01-05", None, "basic", 30),
            ("b", "2026-01-10", "2026-03-01", "basic", 30),
            ("f", "2025-01-01", "2026-01-01", "basic", 365),
        ]
    )
    end = pd.Timestamp("2026-04-30")
    months = subscription_cohorts(subs, "start month", max_months=3, end=end)
    assert months.loc["2026-01", [0, 1, 2, 3]].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert months.loc["2026-01", "customers"] == 2
    plans = subscription_cohorts(subs, "plan", max_months=13, end=end)
    assert list(plans.index) == ["basic, monthly", "basic, yearly"]
    assert plans.loc["basic, monthly", [0, 1, 2, 3]].tolist() == [1.0, 1.0, 0.5, 0.5]
    assert pd.isna(plans.loc["basic, monthly", 4])  # nobody watched that long yet
    assert plans.loc["basic, yearly", 11] == 1.0 and plans.loc["basic, yearly", 12] == 0.0
