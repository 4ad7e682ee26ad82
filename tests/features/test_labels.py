"""Labels and training snapshots on the tiny tables (data end 2024-04-30)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.build import build_features
from features.labels import LabelWindowError, build_labels, data_end_date
from features.snapshots import build_training_snapshots, snapshot_cutoffs
from tests.features.tiny import CUTOFF


def test_data_end_is_the_last_transaction_day(tiny) -> None:
    assert data_end_date(tiny) == dt.date(2024, 4, 30)


def test_labels_hand_computed(tiny) -> None:
    labels = build_labels(tiny, CUTOFF, 30)  # window 2024-02-01 .. 2024-03-01
    expected = pd.DataFrame(
        {
            # "3" (refund only), "8" and "9" (no purchase) have no label
            "customer_id": pd.Series(["00007", "00042", "11"], dtype="str"),
            # 00007 buys again on 03-15, outside the window
            "churned": [True, False, False],
            # 00042: 30.0 - 10.0; 11: the purchase at midnight right after the cutoff
            "future_revenue": [0.0, 20.0, 99.0],
        }
    )
    pd.testing.assert_frame_equal(labels, expected)


def test_longer_horizon_sees_the_later_purchase(tiny) -> None:
    labels = build_labels(tiny, CUTOFF, 60).set_index("customer_id")
    assert not labels.loc["00007", "churned"]
    assert labels.loc["00007", "future_revenue"] == 25.0


def test_labels_refuse_a_window_past_the_data_end(tiny) -> None:
    with pytest.raises(LabelWindowError, match="2024-04-30"):
        build_labels(tiny, CUTOFF, 100)


def test_snapshot_cutoffs_step_back_from_the_latest_usable() -> None:
    got = snapshot_cutoffs(dt.date(2024, 4, 30), None, 3, 30, 30)
    assert got == [dt.date(2024, 1, 31), dt.date(2024, 3, 1), dt.date(2024, 3, 31)]


def test_snapshots_stack_features_and_labels(tiny) -> None:
    snaps = build_training_snapshots(tiny, n_snapshots=3, step_days=30, horizon_days=30)
    assert snaps.cutoff.dtype == "datetime64[us]"
    assert sorted(snaps.cutoff.dt.date.unique()) == [
        dt.date(2024, 1, 31),
        dt.date(2024, 3, 1),
        dt.date(2024, 3, 31),
    ]
    first = snaps[snaps.cutoff == pd.Timestamp(CUTOFF)].drop(columns="cutoff")
    expected = build_features(tiny, CUTOFF).merge(build_labels(tiny, CUTOFF, 30))
    pd.testing.assert_frame_equal(first.reset_index(drop=True), expected)
    assert snaps.columns[:2].tolist() == ["cutoff", "customer_id"]
    assert snaps.columns[-2:].tolist() == ["churned", "future_revenue"]


def test_snapshots_refuse_a_too_late_cutoff_with_a_clear_message(tiny) -> None:
    with pytest.raises(LabelWindowError) as err:
        build_training_snapshots(tiny, latest_cutoff="2024-04-15", n_snapshots=2, horizon_days=30)
    message = str(err.value)
    assert "cutoff 2024-04-15" in message
    assert "30-day" in message
    assert "data ends on 2024-04-30" in message
    assert "latest usable cutoff is 2024-03-31" in message
    assert isinstance(err.value, ValueError)


def test_the_latest_usable_cutoff_itself_is_accepted(tiny) -> None:
    snaps = build_training_snapshots(
        tiny, latest_cutoff=dt.date(2024, 3, 31), n_snapshots=1, horizon_days=30
    )
    assert set(snaps.cutoff) == {pd.Timestamp("2024-03-31")}
