"""The backend loader (Parquet / catalog tables read by DuckDB or Spark) applies the pandas
loader's rules: same clean tables, same reject reasons and counts, same features."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import DataSettings, TableSource
from features.backend_sources import load_tables_on, max_timestamp
from features.build import build_features
from features.engine import fetch
from features.sources import ContractError, load_tables
from tests.features.generated import generated_tables

RUN_TIME = dt.datetime(2025, 1, 1, 12, 0)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def con(request):
    if request.param == "duckdb":
        import ibis

        return ibis.duckdb.connect()
    return request.getfixturevalue("spark_backend")


def messy_parquet(folder: Path) -> Path:
    """Parquet files with every kind of bad row, amounts and dates stored as text."""
    folder.mkdir(parents=True, exist_ok=True)
    tx = pd.DataFrame(
        {
            "cust": ["1", None, "2", "3", "4", "5", "6", "7", "8", " 9 ", "1", "10"],
            "timestamp": [
                "2024-01-01",
                "2024-01-02",
                "2024-01-03",
                "2024-13-45",
                "2025-06-01",
                "2024-01-04",
                "2024-01-05",
                "",
                "2024-01-06 13:30:00",
                "2024-02-01",
                "2024-01-01",
                "2024-01-07",
            ],
            "amount": ["10", "10", "abc", "5", "5", None, "inf", "5", "-3.5", "7", "10", "2e9"],
            "channel": ["web"] * 12,
        }
    )
    tx.to_parquet(folder / "transactions.parquet", index=False)
    ev = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4"],
            "timestamp": pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-03"]),
            "event_type": ["Visit", "visit", None, "EMAIL_OPEN"],
            "value": [np.nan, 1.0, 2.0, math.inf],
        }
    )
    ev.to_parquet(folder / "events.parquet", index=False)
    cu = pd.DataFrame(
        {
            "customer_id": ["1", "2", "2", "3", "4"],
            "signup_date": pd.to_datetime(
                ["2023-01-01", "2023-02-01", "2023-03-01", "2023-01-05", "2023-01-06"]
            ).date,
            "acquisition_channel": ["ads", "web", "web", None, "ads"],
            "loyalty_member": ["yes", "no", "no", "maybe", None],
        }
    )
    cu.to_parquet(folder / "customers.parquet", index=False)
    return folder


def settings_for(folder: Path) -> DataSettings:
    return DataSettings(dir=folder, transactions=TableSource(columns={"customer_id": "cust"}))


def clean_frame(table) -> pd.DataFrame:
    return table.sort_values(list(table.columns)[:3], ignore_index=True)


def test_backend_loader_gives_the_pandas_loaders_rejects_and_tables(con, tmp_path) -> None:
    folder = messy_parquet(tmp_path / "in")
    expected = load_tables(settings_for(folder), as_of=RUN_TIME)
    got = load_tables_on(settings_for(folder), con, as_of=RUN_TIME)

    assert got.summary_rows() == expected.summary_rows()
    reasons = sorted(zip(got.rejects["table"], got.rejects["reason"], strict=True))
    assert reasons == sorted(
        zip(expected.rejects["table"], expected.rejects["reason"], strict=True)
    )
    # hand-checked: one reason per bad row, first rule wins
    assert expected.report["transactions"].rejected == {
        "missing customer_id": 1,
        "non-numeric amount": 1,
        "unparseable timestamp": 1,
        "timestamp in the future of the run (2025-01-01 12": 1,
        "missing amount": 1,
        "non-finite amount": 1,
        "missing timestamp": 1,
        "amount out of range (beyond +-1e+09)": 1,
    }
    assert expected.report["transactions"].duplicates_dropped == 1
    assert got.rejects["row"].isna().all()  # backends have no row order

    for name in ("transactions", "events", "customers"):
        want = clean_frame(getattr(expected.tables, name))
        have = clean_frame(fetch(con, getattr(got.tables, name)).to_pandas())
        assert have.columns.tolist() == want.columns.tolist(), name
        for col in want.columns:
            a, b = want[col], have[col]
            if col in ("timestamp", "signup_date"):
                b = pd.to_datetime(b).astype("datetime64[us]")
            assert (
                a.astype("object").where(a.notna(), None).tolist()
                == b.astype("object").where(b.notna(), None).tolist()
            ), f"{name}.{col}"
    assert max_timestamp(got.tables) == expected.tables.max_timestamp


def test_backend_loader_reads_partitioned_parquet_directories(con, tmp_path) -> None:
    tables = generated_tables(n_customers=60, seed=5)
    folder = tmp_path / "data"
    tx = tables.transactions.assign(month=tables.transactions["timestamp"].dt.strftime("%Y-%m"))
    tx.to_parquet(folder / "transactions", partition_cols=["month"], index=False)
    tables.events.to_parquet(folder / "events.parquet", index=False)
    tables.customers.to_parquet(folder / "customers.parquet", index=False)
    assert len(list((folder / "transactions").glob("month=*"))) > 5

    got = load_tables_on(DataSettings(dir=folder), con, as_of=RUN_TIME)
    assert got.report["transactions"].rows_kept == len(tables.transactions)
    cutoff = dt.date(2024, 6, 30)
    want = build_features(tables, cutoff)
    have = build_features(got.tables, cutoff)
    pd.testing.assert_frame_equal(have, want, check_exact=False, rtol=1e-9)


@pytest.mark.spark
def test_spark_reads_a_catalog_table(spark_backend, tmp_path) -> None:
    orders = generated_tables(n_customers=40, seed=7).transactions[
        ["customer_id", "timestamp", "amount"]
    ]
    orders.to_parquet(tmp_path / "transactions.parquet", index=False)
    session = spark_backend._session
    session.sql("CREATE DATABASE IF NOT EXISTS churnclv_test")
    session.read.parquet(str(tmp_path / "transactions.parquet")).write.mode(
        "overwrite"
    ).saveAsTable("churnclv_test.orders")
    data = DataSettings(transactions=TableSource(format="table", table="churnclv_test.orders"))
    got = load_tables_on(data, spark_backend, as_of=RUN_TIME)
    assert got.report["transactions"].source == "table churnclv_test.orders"
    assert got.report["transactions"].rows_kept == len(orders)
    cutoff = dt.date(2024, 6, 30)
    want = build_features(load_tables(DataSettings(dir=tmp_path), as_of=RUN_TIME).tables, cutoff)
    have = build_features(got.tables, cutoff)
    pd.testing.assert_frame_equal(have, want, check_exact=False, rtol=1e-9)


def test_a_missing_catalog_table_is_a_clear_error(con) -> None:
    data = DataSettings(transactions=TableSource(format="table", table="nowhere.orders"))
    with pytest.raises(ContractError, match="table 'nowhere.orders' not found"):
        load_tables_on(data, con, as_of=RUN_TIME)


def test_the_pandas_loader_refuses_catalog_tables_with_a_hint() -> None:
    data = DataSettings(transactions=TableSource(format="table", table="sales.orders"))
    with pytest.raises(ContractError, match="engine: spark"):
        load_tables(data, as_of=RUN_TIME)
