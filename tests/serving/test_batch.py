"""Batch outputs: control groups, lists, run sets published whole (also under a killed run),
segment movement, the run history."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.catalog import OutputCatalog
from core.runs import clear_staging, current_run_id, prune, publish
from serving.batch import (
    assign_control_group,
    mark_control_group,
    movement_summary,
    record_run,
    segment_movement,
    segment_summary,
    write_outputs,
)


def scores(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seg = rng.choice(["Champions", "Win back VIPs", "Let go quietly"], n)
    p = rng.uniform(0, 1, n)
    clv = rng.gamma(1, 100, n)
    return pd.DataFrame(
        {
            "customer_id": [f"{i:06d}" for i in range(n)],
            "churn_probability": p,
            "expected_revenue": clv / 3,
            "clv": clv,
            "clv_low": clv * 0.5,
            "clv_high": clv * 1.5,
            "value_at_risk": p * clv,
            "risk_tier": "high",
            "value_tier": "high",
            "segment": seg,
            "reasons": [["last purchase 3 days ago", "x"]] * n,
            "action": "call",
            "scoring_date": pd.Timestamp("2026-09-30"),
            "control": False,
            "campaign": None,
        }
    )


def test_control_group_is_reproducible_and_balanced() -> None:
    s = scores(6000)
    a = assign_control_group(s["customer_id"], "spring", 10)
    b = assign_control_group(s["customer_id"].iloc[::-1], "spring", 10)[::-1]
    assert (a == b).all()  # order does not matter
    assert (assign_control_group(s["customer_id"], "autumn", 10) != a).any()  # campaign does
    assert abs(a.mean() - 0.10) < 0.015
    by_segment = pd.Series(a).groupby(s["segment"]).mean()
    assert ((by_segment - 0.10).abs() < 0.03).all(), by_segment
    # balance: control and treated look alike
    assert abs(s.loc[a, "churn_probability"].mean() - s.loc[~a, "churn_probability"].mean()) < 0.05


def test_lists_are_sorted_by_value_at_risk_and_stale_lists_removed(tmp_path: Path) -> None:
    s = scores()
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "old_segment.csv").write_text("x\n")
    paths = write_outputs(s, OutputCatalog(tmp_path, run_dir=tmp_path))
    files = sorted(p.name for p in (tmp_path / "segments").iterdir())
    assert files == ["champions.csv", "let_go_quietly.csv", "win_back_vips.csv"]
    lst = pd.read_csv(paths["segment:Champions"], dtype={"customer_id": "str"})
    assert lst["value_at_risk"].is_monotonic_decreasing
    assert lst[["reason_1", "reason_2"]].iloc[0].tolist() == ["last purchase 3 days ago", "x"]
    assert lst["reason_3"].isna().all()
    assert (lst["churn_probability"] == lst["churn_probability"].round(4)).all()
    assert (lst["value_at_risk"] == lst["value_at_risk"].round(2)).all()
    assert lst["customer_id"].iloc[0].startswith("0")
    summary = pd.read_csv(paths["summary"])
    assert summary.iloc[-1]["segment"] == "All customers"
    assert summary.iloc[-1]["customers"] == 1000
    back = pd.read_parquet(paths["scores"])
    assert list(back["reasons"].iloc[0]) == ["last purchase 3 days ago", "x"]


def test_a_campaign_run_keeps_its_control_group_out_of_the_lists(tmp_path: Path) -> None:
    marked = mark_control_group(scores(), "spring", 10)
    paths = write_outputs(marked, OutputCatalog(tmp_path, run_dir=tmp_path))
    control = pd.read_csv(paths["control"], dtype={"customer_id": "str"})
    held = set(marked.loc[marked["control"], "customer_id"])
    assert set(control["customer_id"]) == held and control["control"].all()
    assert (control["campaign"] == "spring").all()
    listed = pd.concat(
        pd.read_csv(p, dtype={"customer_id": "str"}) for p in (tmp_path / "segments").glob("*.csv")
    )
    assert not listed["control"].any() and not set(listed["customer_id"]) & held
    assert len(listed) + len(control) == len(marked)
    summary = pd.read_csv(paths["summary"]).set_index("segment")
    assert summary.loc["All customers", "control"] == len(held)
    per_segment = marked.groupby("segment")["control"].sum()
    assert summary.loc[per_segment.index, "control"].tolist() == per_segment.tolist()


def published_run(root: Path, frame: pd.DataFrame, run_id: str) -> OutputCatalog:
    staged = OutputCatalog(root).staging(run_id)
    write_outputs(frame, staged)
    return publish(staged, run_id, {})


def test_a_killed_run_leaves_the_published_set_whole(tmp_path: Path) -> None:
    first = published_run(tmp_path, scores(200), "r1")
    before = {p.relative_to(tmp_path / "runs"): p.read_bytes() for p in first.run_dir.rglob("*")
              if p.is_file()}  # fmt: skip
    # a second run with many rows, killed while it writes its staging folder
    big = tmp_path / "big.parquet"
    scores(300_000, seed=1).to_parquet(big)
    code = textwrap.dedent(
        f"""
        import pandas as pd
        from core.catalog import OutputCatalog
        from serving.batch import write_outputs
        staged = OutputCatalog({str(tmp_path)!r}).staging("killed")
        write_outputs(pd.read_parquet({str(big)!r}), staged)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2])
    deadline = dt.datetime.now() + dt.timedelta(seconds=60)
    while not list(tmp_path.glob("runs/.staging-killed/segments/*.csv")) and proc.poll() is None:
        assert dt.datetime.now() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # really killed mid-run
    # readers still see the first run, every file as it was
    current = OutputCatalog(tmp_path).pinned()
    assert current.run_dir == first.run_dir
    after = {p.relative_to(tmp_path / "runs"): p.read_bytes() for p in first.run_dir.rglob("*")
             if p.is_file()}  # fmt: skip
    assert after == before
    assert len(pd.read_parquet(current.scores)) == 200
    # the next run clears what the killed one left
    assert clear_staging(OutputCatalog(tmp_path)) == [tmp_path / "runs" / ".staging-killed"]
    published_run(tmp_path, scores(300), "r2")
    assert len(pd.read_parquet(OutputCatalog(tmp_path).pinned().scores)) == 300
    assert not list(tmp_path.glob("**/.*.tmp"))


def test_publishing_switches_the_whole_set_and_keeps_the_last_runs(tmp_path: Path) -> None:
    catalog = OutputCatalog(tmp_path)
    for i in range(4):
        published_run(tmp_path, scores(10 + i), f"r{i}")
        assert current_run_id(catalog) == f"r{i}"
        assert len(pd.read_csv(catalog.summary).query("segment == 'All customers'")) == 1
    assert json.loads(catalog.run_info.read_text())["run_id"] == "r3"
    removed = prune(catalog, keep=2)
    assert sorted(p.name for p in removed) == ["r0", "r1"]
    assert sorted(p.name for p in catalog.runs.iterdir()) == ["r2", "r3"]
    assert len(pd.read_parquet(catalog.scores)) == 13  # read through `current`


def test_segment_movement_between_runs(tmp_path: Path) -> None:
    first = scores(5)
    first.to_parquet(tmp_path / "r1.parquet")
    assert segment_movement(None, tmp_path / "r1.parquet").empty  # the first run
    second = first.copy()
    second.loc[0, "segment"] = (
        "Champions" if first.loc[0, "segment"] != "Champions" else "Win back VIPs"
    )
    second = second.drop(index=4)
    extra = first.iloc[[1]].assign(customer_id="999999")
    pd.concat([second, extra], ignore_index=True).to_parquet(tmp_path / "r2.parquet")
    mv = segment_movement(tmp_path / "r1.parquet", tmp_path / "r2.parquet").set_index("customer_id")
    assert mv.loc["000000", "movement"] == "moved"
    assert mv.loc["000004", "movement"] == "gone" and pd.isna(mv.loc["000004", "segment"])
    assert mv.loc["999999", "movement"] == "new"
    assert len(mv) == 3
    summ = movement_summary(mv.reset_index())
    assert summ["entered"].sum() == 2 and summ["left"].sum() == 2


def test_summary_totals() -> None:
    s = scores(100)
    summ = segment_summary(s)
    assert summ["customers"].iloc[:-1].sum() == 100
    # the total row adds the per-segment sums: equal up to the order of float additions
    assert summ["value_at_risk"].iloc[-1] == pytest.approx(s["value_at_risk"].sum(), rel=1e-12)
    assert summ["mean_churn_probability"].iloc[-1] == pytest.approx(s["churn_probability"].mean())
    by_seg = s.groupby("segment")["customer_id"].size()
    assert (
        summ.set_index("segment")["customers"].drop("All customers").to_dict() == by_seg.to_dict()
    )


def test_segment_total_interval_by_hand() -> None:
    """Two customers, CLV 100 in [100 - Z80 x 10, 100 + Z80 x 10] (sd 10) and 50 (sd 20),
    a backtest total error of 5%: the total 150 has sd sqrt(10^2 + 20^2 + (0.05 x 150 / Z80)^2),
    far narrower than adding the two customers' ranges."""
    from model.clv import Z80

    s = scores(2).assign(
        segment="Keep warm",
        clv=[100.0, 50.0],
        clv_low=[100 - Z80 * 10, 50 - Z80 * 20],
        clv_high=[100 + Z80 * 10, 50 + Z80 * 20],
    )
    row = segment_summary(s, total_error=0.05).set_index("segment").loc["Keep warm"]
    sd = np.sqrt(10**2 + 20**2 + (0.05 * 150 / Z80) ** 2)
    assert row["clv_total_low"] == pytest.approx(150 - Z80 * sd)
    assert row["clv_total_high"] == pytest.approx(150 + Z80 * sd)
    assert row["clv_total_high"] - row["clv_total_low"] < (s["clv_high"] - s["clv_low"]).sum()


def test_a_campaign_run_after_plain_runs_is_recorded(tmp_path: Path) -> None:
    """The history's first runs had no campaign (an all-null column); a later campaign run
    must still be recorded, also in a history written before the column types were fixed."""
    import duckdb

    db = tmp_path / "churnclv.duckdb"
    plain = scores(5)
    record_run(db, "r1", plain)
    record_run(db, "r2", plain.assign(control=[True, False, False, False, False], campaign="w"))
    with duckdb.connect(str(db)) as con:
        rows = con.execute(
            "select run_id, campaign from score_runs where campaign = 'w'"
        ).fetchall()
    assert len(rows) == 5
    old = tmp_path / "old.duckdb"  # the table as earlier versions created it: campaign NULL-typed
    with duckdb.connect(str(old)) as con:
        con.register("b", plain)
        con.execute(
            "create table score_runs as select customer_id, segment, churn_probability, clv, "
            "value_at_risk, scoring_date, control, campaign, 'r1' as run_id, "
            "current_timestamp as recorded_at from b"
        )
    record_run(old, "r2", plain.assign(campaign="w"))
    with duckdb.connect(str(old)) as con:
        assert (
            con.execute("select count(*) from score_runs where campaign = 'w'").fetchone()[0] == 5
        )


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("sizes", [[1], [7, 1, 3000], [2500, 2500]])
def test_outputs_written_in_chunks_are_the_same_files(tmp_path: Path, sizes: list[int]) -> None:
    """A run streams its scores in chunks of customers: every file is byte for byte the one a
    single frame gives, whatever the chunk sizes (scores.parquet row groups, lists, summary)."""
    frame = mark_control_group(scores(5000, seed=3), "spring", 10)
    frame.loc[frame.index[::97], ["churn_probability", "value_at_risk", "risk_tier"]] = None
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    write_outputs(frame, OutputCatalog(whole, run_dir=whole))
    bounds = np.cumsum([0, *sizes])
    parts = [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    parts.append(frame.iloc[bounds[-1] :])
    write_outputs(iter(parts), OutputCatalog(chunked, run_dir=chunked))
    assert _files(whole) == _files(chunked)
    assert len(_files(whole)) == 6  # scores, summary, control and three lists


def test_summary_sums_are_exactly_rounded(tmp_path: Path) -> None:
    import math

    frame = scores(3000, seed=4)
    frame["clv"] = frame["clv"] * 1e6 + 0.1  # sums a running float total gets wrong
    summary = segment_summary(frame).set_index("segment")
    for name, part in frame.groupby("segment"):
        assert summary.loc[name, "clv"] == math.fsum(part["clv"])
    # the total row adds the segments' (rounded) totals
    assert summary.loc["All customers", "clv"] == pytest.approx(math.fsum(frame["clv"]), rel=1e-15)


def test_lists_order_by_the_value_shown_then_the_id(tmp_path: Path) -> None:
    """Lists show value at risk in cents: equal cents are a tie, broken by customer id (as the
    Spark engine orders them)."""
    frame = scores(3).assign(segment="Champions", value_at_risk=[23.6246, 23.6239, 30.0])
    frame["customer_id"] = ["000214", "000016", "000999"]
    paths = write_outputs(frame, OutputCatalog(tmp_path, run_dir=tmp_path))
    listed = pd.read_csv(paths["segment:Champions"], dtype={"customer_id": "str"})
    assert listed["customer_id"].tolist() == ["000999", "000016", "000214"]


def test_exact_totals_take_tiny_and_infinite_values() -> None:
    from serving.batch import SegmentTotals

    tiny = np.array([5e-324, 5e-324, 1e-310, -2.5e-320, 1.0])  # subnormals
    assert SegmentTotals._exact_sum(tiny) / 2**1074 == math.fsum(tiny)
    frame = scores(4).assign(segment="Champions", clv=[1.0, np.inf, 2.0, np.nan])
    summary = segment_summary(frame).set_index("segment")
    assert summary.loc["Champions", "clv"] == np.inf


def test_a_list_file_reads_as_people_expect(tmp_path: Path) -> None:
    """Money in cents and chances to 4 decimals (half to even), one column per reason, flags
    as True/False, the date alone, missing values empty, text with commas or quotes quoted."""
    frame = scores(3).assign(
        segment="Champions",
        churn_probability=[0.12345, np.nan, 0.5],
        clv=[10.125, 10.135, 1e7 / 3],
        value_at_risk=[3.0, 2.0, 1.0],
        reasons=[["spent $1,250 in total", 'said "too pricey"'], [], ["", "b"]],
        control=[False, False, None],
        campaign=[None, "", "spring, 2026"],
    )
    frame["customer_id"] = ["007", "008", "009"]
    path = write_outputs(frame, OutputCatalog(tmp_path, run_dir=tmp_path))["segment:Champions"]
    lines = path.read_text().splitlines()
    assert lines[0] == (
        "customer_id,churn_probability,expected_revenue,clv,clv_low,clv_high,value_at_risk,"
        "risk_tier,value_tier,segment,reason_1,reason_2,reason_3,action,scoring_date,control,"
        "campaign"
    )
    first, second, third = (
        [v for i, v in enumerate(line.split(",")) if i in (0, 1, 3)] for line in lines[1:]
    )
    assert first == ["007", "0.1234", "10.12"]  # half to even: 0.12345, 10.125
    assert second == ["008", "", "10.14"]  # unknown chance: empty, never nan
    assert third[2] == "3333333.33"
    assert lines[1].endswith(
        ',"spent $1,250 in total","said ""too pricey""",,call,2026-09-30,False,'
    )
    assert lines[2].endswith(",,,,call,2026-09-30,False,")  # no reasons, no campaign name
    assert lines[3].endswith(',,b,,call,2026-09-30,,"spring, 2026"')
    back = pd.read_csv(path, dtype={"customer_id": "str"})
    assert back["reason_2"].tolist() == ['said "too pricey"', np.nan, "b"]


def test_subscription_scores_add_recurring_revenue_to_the_summary_and_lists(
    tmp_path: Path,
) -> None:
    """A subscription business's scores carry the next renewal day, the recurring revenue and
    its part at risk: summed per segment, listed after the value at risk; without them the
    summary and lists are as before."""
    s = scores(200)
    s.insert(
        s.columns.get_loc("value_at_risk") + 1, "next_renewal_date", pd.Timestamp("2026-10-13")
    )
    s.insert(s.columns.get_loc("next_renewal_date") + 1, "monthly_recurring_revenue", 20.0)
    s.insert(
        s.columns.get_loc("monthly_recurring_revenue") + 1,
        "mrr_at_risk",
        20.0 * s["churn_probability"],
    )
    s.loc[:9, ["monthly_recurring_revenue", "mrr_at_risk"]] = np.nan  # no subscription
    s.loc[:9, "next_renewal_date"] = pd.NaT
    summ = segment_summary(s).set_index("segment")
    assert summ.loc["All customers", "monthly_recurring_revenue"] == pytest.approx(190 * 20.0)
    assert summ.loc["All customers", "mrr_at_risk"] == pytest.approx(s["mrr_at_risk"].sum())
    assert "mrr_at_risk" not in segment_summary(scores(200)).columns
    paths = write_outputs(s, OutputCatalog(tmp_path, run_dir=tmp_path))
    listed = pd.read_csv(paths["segment:Champions"], dtype=str, keep_default_na=False)
    at = list(listed.columns).index("value_at_risk")
    assert list(listed.columns)[at + 1 : at + 4] == [
        "next_renewal_date", "monthly_recurring_revenue", "mrr_at_risk",
    ]  # fmt: skip
    assert set(listed["next_renewal_date"]) <= {"2026-10-13", ""}
