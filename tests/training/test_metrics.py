"""Metrics on tiny hand-computable examples."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    decile_table,
    evaluate_churn,
    evaluate_revenue,
    expected_calibration_error,
    normalized_gini,
)


def test_churn_metrics_on_a_hand_example() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.8, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1])
    m = evaluate_churn(y, p)
    # pairs (pos, neg): 0.9 beats all 8; 0.4 beats 7 of 8 (loses to 0.8) -> 15/16
    assert m["roc_auc"] == pytest.approx(15 / 16)
    assert m["base_rate"] == pytest.approx(0.2)
    # top 10% = 1 customer (0.9, a churner): rate 1.0, lift 5, capture 1/2
    assert m["lift_top10"] == pytest.approx(5.0)
    assert m["capture_top10"] == pytest.approx(0.5)
    # top 20% = 0.9 and 0.8: one churner -> lift 2.5, capture 0.5
    assert m["lift_top20"] == pytest.approx(2.5)
    assert m["brier"] == pytest.approx(np.mean((y - p) ** 2))


def test_calibration_error_is_zero_when_rates_match() -> None:
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(8, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(4), np.zeros(4)) == pytest.approx(1.0)


def test_revenue_metrics_on_a_hand_example() -> None:
    actual = np.array([100.0, 0.0, 50.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 40.0])
    pred = np.array([80.0, 5.0, 60.0, 0.0, 5.0, 0.0, 1.0, 0.0, 0.0, 20.0])
    m = evaluate_revenue(actual, pred)
    assert m["mae"] == pytest.approx(np.mean(np.abs(actual - pred)))
    assert m["total_pred_vs_actual_pct"] == pytest.approx(100 * 171 / 200)
    assert m["revenue_capture_top10"] == pytest.approx(0.5)  # top pred = 100 of 200
    assert m["revenue_capture_top20"] == pytest.approx(0.75)
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, -actual) < 0


def test_decile_table_shares_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    actual = rng.gamma(1.0, 10.0, 1000)
    table = decile_table(actual, actual + rng.normal(0, 1, 1000))
    assert table["customers"].tolist() == [100] * 10
    assert table["actual_share"].sum() == pytest.approx(1.0)
    assert table["actual_mean"].is_monotonic_decreasing
