"""Campaign measurement and CLV by channel on hand-made data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from reports.marketing import CampaignNotFoundError, measure_campaign
from serving.batch import record_run


def test_campaign_effect_with_confidence_interval(tmp_path: Path) -> None:
    n = 400
    ids = [f"{i:05d}" for i in range(n)]
    control = [i % 4 == 0 for i in range(n)]  # 100 control, 300 treated
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": "Win back VIPs",
            "churn_probability": 0.5,
            "clv": 100.0,
            "value_at_risk": 50.0,
            "scoring_date": pd.Timestamp("2026-06-30"),
            "control": control,
            "campaign": "spring",
        }
    )
    db = tmp_path / "h.duckdb"
    record_run(db, "r1", scores)
    # treated: 60% buy again (20 each); control: 30% buy again
    rows = []
    for i, cid in enumerate(ids):
        buys = (i % 10 < 6) if not control[i] else (i % 40 < 12)
        if buys:
            rows.append((cid, "2026-07-10", 20.0))
        rows.append((cid, "2026-06-01", 5.0))  # before launch: ignored
    tx = pd.DataFrame(rows, columns=["customer_id", "timestamp", "amount"])
    tx["timestamp"] = pd.to_datetime(tx["timestamp"])
    effect = measure_campaign(db, tx, "spring", dt.date(2026, 7, 1), 90)
    out = effect[effect["segment"] == "All segments"].set_index("measure")
    ret = out.loc["retention (%)"]
    assert (ret["treated_customers"], ret["control_customers"]) == (300, 100)
    assert ret["treated"] == pytest.approx(60.0)
    assert ret["control"] == pytest.approx(30.0)
    assert ret["difference"] == pytest.approx(30.0)
    assert ret["ci95_low"] < 30 < ret["ci95_high"] and ret["significant"]
    rev = out.loc["revenue per customer"]
    assert rev["difference"] == pytest.approx(0.6 * 20 - 0.3 * 20)
    # the data end on 2026-07-10, before the 90-day window does
    assert (effect["window_end"] == dt.date(2026, 9, 29)).all()
    assert not effect["window_ended"].any()
    assert (effect["measured_to"] == dt.date(2026, 7, 10)).all()
    with pytest.raises(CampaignNotFoundError, match="no scoring run with campaign 'autumn'"):
        measure_campaign(db, tx, "autumn", dt.date(2026, 7, 1), 90)


def test_campaign_effect_per_segment_with_t_intervals_for_small_groups(tmp_path: Path) -> None:
    ids = [f"{i:03d}" for i in range(40)]
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": ["Win back VIPs"] * 20 + ["Rescue regulars"] * 20,
            "churn_probability": 0.5,
            "clv": 100.0,
            "value_at_risk": 50.0,
            "scoring_date": pd.Timestamp("2026-06-30"),
            "control": [i % 5 == 0 for i in range(40)],  # 4 control per segment
            "campaign": "spring",
        }
    )
    db = tmp_path / "h.duckdb"
    record_run(db, "r1", scores)
    tx = pd.DataFrame(
        {
            "customer_id": ids,
            "timestamp": pd.Timestamp("2026-07-05"),
            "amount": [10.0 * (i % 3) for i in range(40)],
        }
    )
    tx.loc[len(tx)] = ["000", pd.Timestamp("2026-12-31"), 1.0]  # data past the window's end
    effect = measure_campaign(db, tx, "spring", dt.date(2026, 7, 1), 30)
    assert set(effect["segment"]) == {"All segments", "Win back VIPs", "Rescue regulars"}
    assert effect["window_ended"].all()
    one = effect[
        (effect["segment"] == "Win back VIPs") & (effect["measure"] == "revenue per customer")
    ]
    (row,) = one.itertuples()
    assert (row.treated_customers, row.control_customers) == (16, 4)
    # by hand: Welch's t-interval (3 degrees of freedom or so for 4 control customers), wider
    # than the normal one
    import numpy as np
    from scipy import stats

    revenue = np.array([10.0 * (i % 3) for i in range(20)])
    held = np.array([i % 5 == 0 for i in range(20)])
    t, c = revenue[~held], revenue[held]
    va, vb = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    df = (va + vb) ** 2 / (va**2 / (len(t) - 1) + vb**2 / (len(c) - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    assert row.difference == pytest.approx(t.mean() - c.mean())
    assert (row.ci95_low, row.ci95_high) == pytest.approx(
        (row.difference - half, row.difference + half)
    )
    assert half > 1.96 * np.sqrt(va + vb)
