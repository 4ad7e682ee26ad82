"""Campaign measurement and CLV by channel on hand-made data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from reports.marketing import CampaignNotFoundError, clv_by_channel, measure_campaign
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
    out = measure_campaign(db, tx, "spring", dt.date(2026, 7, 1)).set_index("measure")
    ret = out.loc["retention since launch (%)"]
    assert (ret["treated_customers"], ret["control_customers"]) == (300, 100)
    assert ret["treated"] == pytest.approx(60.0)
    assert ret["control"] == pytest.approx(30.0)
    assert ret["difference"] == pytest.approx(30.0)
    assert ret["ci95_low"] < 30 < ret["ci95_high"] and ret["significant"]
    rev = out.loc["revenue per customer"]
    assert rev["difference"] == pytest.approx(0.6 * 20 - 0.3 * 20)
    with pytest.raises(CampaignNotFoundError, match="no scoring run with campaign 'autumn'"):
        measure_campaign(db, tx, "autumn", dt.date(2026, 7, 1))


def test_clv_by_channel() -> None:
    scores = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "clv": [10.0, 30.0, 5.0],
            "churn_probability": [0.1, 0.3, 0.9],
            "value_at_risk": [1.0, 9.0, 4.5],
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ["1", "2"], "acquisition_channel": ["referral", "referral"]}
    )
    out = clv_by_channel(scores, customers).set_index("acquisition_channel")
    assert out.loc["referral", "clv_mean"] == 20.0 and out.loc["referral", "customers"] == 2
    assert out.loc["unknown", "clv_total"] == 5.0
