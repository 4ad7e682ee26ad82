"""The CLV maths on hand-computable customers (model/clv.py)."""

from __future__ import annotations

import numpy as np
import pytest

from model.clv import (
    DAYS_PER_MONTH,
    clv_from_revenue,
    discount_factors,
    extend_churn,
    extend_revenue,
    fit_ratio_interval,
    horizon_weights,
    period_edges,
    value_if_retained,
)


def steady(rate_per_day: float, edges: np.ndarray) -> np.ndarray:
    """Cumulative expected purchases of a customer who buys at a constant rate forever."""
    return np.array([[rate_per_day * e for e in edges]])


def test_months_cover_the_horizon_and_the_last_one_is_partial() -> None:
    edges = period_edges(365)
    assert len(edges) == 13 and edges[0] == 0 and edges[-1] == 365
    assert edges[1] == pytest.approx(DAYS_PER_MONTH)
    assert period_edges(61).tolist() == pytest.approx([0, DAYS_PER_MONTH, 61])


def test_a_steady_buyer_keeps_buying_for_the_whole_horizon() -> None:
    """Buys twice a year, never leaves: predicted 90-day revenue 50 -> 365-day value 50 x 365/90
    (the old decay formula would have kept 0.4, 0.16, ... of it in the later quarters)."""
    edges = period_edges(365)
    cum = steady(2 / 365, edges[1:])
    label = np.array([2 / 365 * 90])
    clv = clv_from_revenue(np.array([50.0]), horizon_weights(cum, label), np.ones(12), 1.0)
    assert clv[0] == pytest.approx(50 * 365 / 90)


def test_a_customer_who_has_left_is_worth_only_the_label_revenue() -> None:
    """Expected purchases stop growing after day 30: nothing more after the label window."""
    edges = period_edges(365)
    cum = np.array([[min(e, 30.0) * 0.1 for e in edges[1:]]])
    label = np.array([3.0])  # 0.1 x 30 days, all inside the 90-day label window
    clv = clv_from_revenue(np.array([80.0]), horizon_weights(cum, label), np.ones(12), 0.5)
    assert clv[0] == pytest.approx(0.5 * 80.0)


def test_each_month_is_discounted_to_its_end() -> None:
    edges = period_edges(2 * DAYS_PER_MONTH)  # two whole months
    cum = steady(1.0, edges[1:])
    label = np.array([2 * DAYS_PER_MONTH])  # label horizon = the two months
    weights = horizon_weights(cum, label)
    np.testing.assert_allclose(weights, [[0.5, 0.5]])
    d = discount_factors(edges, 0.02)
    np.testing.assert_allclose(d, [1 / 1.02, 1 / 1.02**2])
    clv = clv_from_revenue(np.array([100.0]), weights, d, 1.0)
    assert clv[0] == pytest.approx(50 / 1.02 + 50 / 1.02**2)


def test_season_factor_per_month_multiplies_that_months_revenue() -> None:
    edges = period_edges(2 * DAYS_PER_MONTH)
    weights = np.array([[0.5, 0.5]])
    clv = clv_from_revenue(np.array([100.0]), weights, np.ones(2), 1.0, np.array([2.0, 1.0]))
    assert clv[0] == pytest.approx(100 + 50)
    assert len(edges) == 3


def test_no_expected_purchase_means_no_value() -> None:
    weights = horizon_weights(np.zeros((1, 12)), np.zeros(1))
    assert clv_from_revenue(np.array([0.0]), weights, np.ones(12), 1.0)[0] == 0.0


def test_revenue_over_another_horizon_follows_the_customers_curve() -> None:
    out = extend_revenue(np.array([30.0, 30.0]), np.array([1.5, 2.0]), np.array([3.0, 2.0]))
    np.testing.assert_allclose(out, [60.0, 30.0])  # steady buyer doubles; a gone one does not


def test_churn_over_another_horizon_shifts_the_log_odds_by_btyds_difference() -> None:
    # the model agrees with BG/NBD at the label horizon -> BG/NBD's value at the target
    p = extend_churn(np.array([0.4]), np.array([0.4]), np.array([0.25]))
    assert p[0] == pytest.approx(0.25)
    # the model is more pessimistic than BG/NBD (odds x 2) -> stays so at the target
    p = extend_churn(np.array([4 / 7]), np.array([0.4]), np.array([0.25]))
    assert p[0] / (1 - p[0]) == pytest.approx(2 * 0.25 / 0.75)
    assert 0 < extend_churn(np.array([1.0]), np.array([0.5]), np.array([0.2]))[0] < 1


def test_interval_covers_the_stated_share_of_customers() -> None:
    """Gamma-distributed outcomes around each prediction, 30% of customers buying nothing."""
    rng = np.random.default_rng(5)
    n = 20_000
    pred = rng.gamma(2.0, 50.0, n)
    actual = rng.gamma(3.0, pred / 3.0) * (rng.random(n) > 0.3)
    rule = fit_ratio_interval(pred, pred, actual, horizon_days=90, level=0.8)
    assert rule.coverage == pytest.approx(0.8, abs=0.02)
    fresh_pred = rng.gamma(2.0, 50.0, n)
    fresh = rng.gamma(3.0, fresh_pred / 3.0) * (rng.random(n) > 0.3)
    low, high = rule.apply(fresh_pred, fresh_pred)
    assert np.mean((fresh >= low) & (fresh <= high)) == pytest.approx(0.8, abs=0.02)
    assert np.all(low <= fresh_pred) and np.all(high >= fresh_pred * 0.99)


def test_interval_keeps_its_level_when_many_customers_spend_nothing() -> None:
    """A third of the customers have probably left (predicted ~0, 97% really spend nothing):
    their range [0, 0] holds 97% of them, so quantiles at 80% would hold ~86% overall; the rule
    lowers its quantile level until cross-fitting shows ~80%."""
    rng = np.random.default_rng(9)
    n = 20_000

    def customers() -> tuple[np.ndarray, np.ndarray]:
        gone = rng.random(n) < 1 / 3
        pred = np.where(gone, 1e-4, rng.gamma(2.0, 50.0, n))
        buys = np.where(gone, rng.random(n) < 0.03, rng.random(n) < 0.8)
        return pred, np.where(gone, 40.0, rng.gamma(2.0, pred / 1.6)) * buys

    pred, actual = customers()
    naive = fit_ratio_interval(pred, pred, actual, horizon_days=365, level=0.8)
    assert naive.nominal is not None and naive.nominal < 0.8
    assert naive.coverage == pytest.approx(0.8, abs=0.02)
    fresh_pred, fresh = customers()
    low, high = naive.apply(fresh_pred, fresh_pred)
    assert np.mean((fresh >= low) & (fresh <= high)) == pytest.approx(0.8, abs=0.025)


def test_value_if_retained_is_last_years_spend_rate_over_the_horizon() -> None:
    edges = period_edges(365.0)
    flat = np.ones(len(edges) - 1)
    value = value_if_retained(
        np.array([730.0, 240.0, 90.0, -50.0, 100.0]),  # net spend of the last 365 days
        np.array([1000.0, 119.0, 6.0, 800.0, 179.0]),  # tenure in days
        edges,
        flat,
        gross_margin=0.5,
    )
    # 730 over a year -> 365 a year at 50% margin; 240 over 120 days (tenure + 1) -> 2 a day;
    # a week-old customer's 90 is spread over the 90-day floor -> 1 a day; net refunds -> 0;
    # 100 over the 180 days of their tenure
    assert value == pytest.approx([365.0, 365.0, 182.5, 0.0, 100 / 180 * 365 * 0.5])


def test_value_if_retained_is_discounted_per_month_as_clv_is() -> None:
    edges = period_edges(365.0)
    discount = discount_factors(edges, 0.01)
    value = value_if_retained(np.array([365.0]), np.array([400.0]), edges, discount, 1.0)
    assert value[0] == pytest.approx(float(np.diff(edges) @ discount))
    assert value[0] < 365.0
