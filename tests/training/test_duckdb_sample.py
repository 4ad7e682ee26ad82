"""The training sample drawn in DuckDB is the one pandas draws, with the whole population."""

from __future__ import annotations

from churnclv.demo_data import generate_demo_data
from features.contract import InputTables
from features.engine import to_ibis
from training.duckdb_sample import sample_on_duckdb
from training.train import Population, sample_customers


def test_the_sample_drawn_in_duckdb_is_the_pandas_sample() -> None:
    data = generate_demo_data(400, seed=5)
    tables = InputTables(data.transactions, data.events, data.customers)
    expected, _ = sample_customers(tables, 150, seed=11)
    got, population = sample_on_duckdb(to_ibis(tables), 150, seed=11)
    assert population == Population.of(data.transactions)
    for name in ("transactions", "events", "customers"):
        assert set(getattr(got, name)["customer_id"]) == set(getattr(expected, name)["customer_id"])
        assert len(getattr(got, name)) == len(getattr(expected, name)), name
    everyone, _ = sample_on_duckdb(to_ibis(tables), 10_000, seed=11)  # all fit: all kept
    assert len(everyone.transactions) == len(data.transactions)
