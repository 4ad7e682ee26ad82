"""RFM and BTYD summary: hand-computed values on the tiny tables (cutoff 2024-01-31)."""

from __future__ import annotations

import statistics

import pandas as pd
import pytest

from tests.features.helpers import NAN, assert_row

EXPECTED = {
    # purchases 01-01 (10), 01-11 (20), return 01-12 (-5): the brief's example
    "00042": {
        "recency_days": 20.0,
        "frequency": 1,
        "orders_total": 2,
        "monetary_total": 25.0,
        "monetary_mean": 12.5,  # 25 over 2 purchase days
        "tenure_days": 30.0,
        "first_purchase_value": 10.0,
        "last_purchase_value": 20.0,
        "interpurchase_days_mean": 10.0,
        "interpurchase_days_std": NAN,  # one gap only
        "btyd_x": 1,
        "btyd_t_x": 10.0,
        "btyd_T": 30.0,
        "btyd_monetary_value": 20.0,
    },
    # purchase days 2023-06-15 (100), 09-10 (50), 12-20 (30+20), 2024-01-30 (40-10)
    # ages 230, 143, 42, 1; gaps 87, 101, 41
    "00007": {
        "recency_days": 1.0,
        "frequency": 3,
        "orders_total": 5,
        "monetary_total": 230.0,
        "monetary_mean": 57.5,
        "tenure_days": 230.0,
        "first_purchase_value": 100.0,
        "last_purchase_value": 30.0,  # same-day return netted
        "interpurchase_days_mean": 229.0 / 3,
        "interpurchase_days_std": statistics.stdev([87, 101, 41]),
        "btyd_x": 3,
        "btyd_t_x": 229.0,
        "btyd_T": 230.0,
        "btyd_monetary_value": (50.0 + 50.0 + 30.0) / 3,
    },
    # one purchase at 23:59:59 on the cutoff day; the one at midnight after is invisible
    "11": {
        "recency_days": 0.0,
        "frequency": 0,
        "orders_total": 1,
        "monetary_total": 12.0,
        "monetary_mean": 12.0,
        "tenure_days": 0.0,
        "first_purchase_value": 12.0,
        "last_purchase_value": 12.0,
        "interpurchase_days_mean": NAN,
        "interpurchase_days_std": NAN,
        "btyd_x": 0,
        "btyd_t_x": 0.0,
        "btyd_T": 0.0,
        "btyd_monetary_value": 0.0,
    },
    # only a refund: no purchase, net spend negative
    "3": {
        "recency_days": NAN,
        "frequency": 0,
        "orders_total": 0,
        "monetary_total": -15.0,
        "monetary_mean": NAN,
        "tenure_days": NAN,
        "first_purchase_value": NAN,
        "last_purchase_value": NAN,
        "interpurchase_days_mean": NAN,
        "btyd_x": 0,
        "btyd_t_x": NAN,
        "btyd_T": NAN,
        "btyd_monetary_value": NAN,
    },
}
NO_TRANSACTIONS = {
    "recency_days": NAN,
    "frequency": 0,
    "orders_total": 0,
    "monetary_total": 0.0,
    "monetary_mean": NAN,
    "tenure_days": NAN,
    "first_purchase_value": NAN,
    "last_purchase_value": NAN,
    "interpurchase_days_mean": NAN,
    "interpurchase_days_std": NAN,
    "btyd_x": 0,
    "btyd_t_x": NAN,
    "btyd_T": NAN,
    "btyd_monetary_value": NAN,
}


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_rfm_hand_computed(tiny_features: pd.DataFrame, customer_id: str) -> None:
    assert_row(tiny_features, customer_id, EXPECTED[customer_id])


@pytest.mark.parametrize("customer_id", ["8", "9"])
def test_customers_without_transactions_get_zero_counts_and_null_measures(
    tiny_features: pd.DataFrame, customer_id: str
) -> None:
    assert_row(tiny_features, customer_id, NO_TRANSACTIONS)


def test_recency_never_exceeds_tenure(tiny_features: pd.DataFrame) -> None:
    both = tiny_features.dropna(subset=["recency_days", "tenure_days"])
    assert (both.recency_days <= both.tenure_days).all()
    assert (both.btyd_T - both.btyd_t_x == both.recency_days).all()
