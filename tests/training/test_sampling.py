"""Large data: training samples customers reproducibly, whole customers at a time."""

from __future__ import annotations

import pandas as pd

from features.contract import InputTables
from training.train import sample_customers


def tables(n: int) -> InputTables:
    ids = pd.Series([f"{i:05d}" for i in range(n)] * 3, dtype="str")
    return InputTables(pd.DataFrame({"customer_id": ids, "amount": 1.0}))


def test_sample_keeps_whole_customers_and_is_reproducible() -> None:
    small, note = sample_customers(tables(1000), 100, seed=42)
    tx = small.transactions
    assert tx["customer_id"].nunique() == 100 and len(tx) == 300
    assert note.startswith("Large data: training used a reproducible random sample of 100 of 1,000")
    again, _ = sample_customers(InputTables(tables(1000).transactions.iloc[::-1]), 100, seed=42)
    assert set(again.transactions["customer_id"]) == set(tx["customer_id"])
    other, _ = sample_customers(tables(1000), 100, seed=7)
    assert set(other.transactions["customer_id"]) != set(tx["customer_id"])


def test_small_data_is_untouched() -> None:
    t = tables(50)
    same, note = sample_customers(t, 100, seed=42)
    assert same is t and note is None
