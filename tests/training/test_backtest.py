"""Backtest plan: no label window reaches past the fold it feeds; short history is handled."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from training.backtest import InsufficientDataError, plan_backtest

D = dt.date


def test_three_years_of_data_use_the_full_horizon_and_no_label_crosses_a_fold() -> None:
    plan = plan_backtest(D(2023, 10, 1), D(2026, 9, 30), 90, n_snapshots=6, step_days=30)
    h = dt.timedelta(days=90)
    assert plan.label_horizon_days == 90 and plan.notes == ()
    assert plan.test_cutoff == D(2026, 7, 2)  # data end - 90 days
    assert plan.test_cutoff + h == plan.data_end
    assert plan.calibration_cutoff + h == plan.test_cutoff
    assert len(plan.fit_cutoffs) == 6
    assert max(plan.fit_cutoffs) + h == plan.calibration_cutoff
    assert [(b - a).days for a, b in itertools.pairwise(plan.fit_cutoffs)] == [30] * 5
    # production refit moves the recipe forward one horizon: its labels end at the test cutoff
    assert max(plan.production_fit_cutoffs) + h == plan.test_cutoff
    assert plan.label_horizon_days == plan.horizon_days


def test_two_windows_but_not_three_fit_heads_out_of_fold_at_the_full_horizon() -> None:
    # 292 days, 90-day horizon: no room for a separate calibration window, room for two
    plan = plan_backtest(D(2025, 12, 12), D(2026, 9, 30), 90, n_snapshots=6, step_days=30)
    assert plan.label_horizon_days == 90 and plan.calibration_cutoff is None
    assert plan.test_cutoff + dt.timedelta(days=90) == plan.data_end
    assert max(plan.fit_cutoffs) + dt.timedelta(days=90) == plan.test_cutoff  # no leak
    assert plan.fit_cutoffs[0] >= D(2025, 12, 12) + dt.timedelta(days=60)
    assert any("out-of-fold predictions" in n for n in plan.notes)
    assert not any(n.startswith("Short history") for n in plan.notes)


def test_young_business_gets_a_shorter_label_horizon_and_a_plain_note() -> None:
    # 9 months of data, asked to predict the next 9 months
    plan = plan_backtest(D(2026, 1, 1), D(2026, 9, 30), 270, n_snapshots=6, step_days=30)
    assert plan.label_horizon_days == 67
    assert plan.test_cutoff + dt.timedelta(days=67) == plan.data_end  # never past the data
    assert plan.fit_cutoffs[0] >= D(2026, 1, 1) + dt.timedelta(days=60)
    assert any(n.startswith("Short history: 272 days of data") for n in plan.notes)
    assert any("each customer's own BG/NBD curve" in n for n in plan.notes)


def test_too_short_history_stops_with_the_minimum() -> None:
    with pytest.raises(InsufficientDataError, match="needs at least 88 days"):
        plan_backtest(D(2026, 8, 1), D(2026, 9, 30), 90, n_snapshots=6, step_days=30)
