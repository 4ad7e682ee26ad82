"""The one loader on both engines (DuckDB, Spark): same clean tables, the same reject reasons,
counts and source row numbers from Parquet, CSV, folders and catalog tables, same features."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import DataSettings, TableSource
from features.build import build_features
from features.contract import ContractError
from features.engine import default_backend, fetch
from features.loader import load_tables, load_tables_on, timestamp_range
from tests.features.generated import generated_tables

RUN_TIME = dt.datetime(2025, 1, 1, 12, 0)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def con(request):
    if request.param == "duckdb":
        return default_backend()
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


def as_csv(folder: Path) -> Path:
    """The messy transactions written again as CSV, in another folder."""
    out = folder.parent / "csv"
    out.mkdir()
    pd.read_parquet(folder / "transactions.parquet").to_csv(out / "transactions.csv", index=False)
    return out


REJECTED = [  # (table, source row, reason up to the colon), hand-checked: first rule wins
    ("customers", 3, "duplicate customer_id (first row kept)"),  # second row of customer 2
    ("customers", 4, "unreadable loyalty_member"),
    ("events", 2, "missing timestamp"),
    ("events", 3, "missing event_type"),
    ("events", 4, "non-finite value"),
    ("transactions", 2, "missing customer_id"),
    ("transactions", 3, "non-numeric amount"),
    ("transactions", 4, "unparseable timestamp"),
    ("transactions", 5, "timestamp in the future of the run (2025-01-01 12"),
    ("transactions", 6, "missing amount"),
    ("transactions", 7, "non-finite amount"),
    ("transactions", 8, "missing timestamp"),
    ("transactions", 12, "amount out of range (beyond +-1e+09)"),
]


def rejected(result) -> list[tuple[str, int, str]]:
    r = result.rejects
    return sorted(
        zip(r["table"], r["row"].astype(int), r["reason"].str.split(":").str[0], strict=True)
    )


def test_every_engine_gives_the_same_rejects_with_source_rows_and_tables(con, tmp_path) -> None:
    folder = messy_parquet(tmp_path / "in")
    reference = load_tables(settings_for(folder), as_of=RUN_TIME)  # DuckDB, into pandas
    got = load_tables_on(settings_for(folder), con, as_of=RUN_TIME)

    assert rejected(got) == REJECTED
    assert got.summary_rows() == reference.summary_rows()
    assert reference.report["transactions"].duplicates_dropped == 1  # row 11 repeats row 1
    assert (got.rejects["source"] == str(folder / "transactions.parquet")).sum() == 8
    record = got.rejects.set_index(["table", "row"]).loc[("transactions", 3), "record"]
    assert '"amount": "abc"' in record and '"customer_id": "2"' in record

    for name in ("transactions", "events", "customers"):
        want = clean_frame(getattr(reference.tables, name))
        have = clean_frame(fetch(con, getattr(got.tables, name).drop("__row")).to_pandas())
        assert have.columns.tolist() == want.columns.tolist(), name
        for col in want.columns:
            a, b = want[col], have[col]
            if col in ("timestamp", "signup_date"):
                b = pd.to_datetime(b).astype("datetime64[us]")
            assert (
                a.astype("object").where(a.notna(), None).tolist()
                == b.astype("object").where(b.notna(), None).tolist()
            ), f"{name}.{col}"
    stamps = reference.tables.transactions["timestamp"]
    assert timestamp_range(got.tables) == (stamps.min(), stamps.max())


def test_csv_and_parquet_give_the_same_rejects_on_every_engine(con, tmp_path) -> None:
    folder = messy_parquet(tmp_path / "in")
    from_csv = load_tables_on(settings_for(as_csv(folder)), con, as_of=RUN_TIME)
    from_parquet = load_tables_on(settings_for(folder), con, as_of=RUN_TIME)
    assert rejected(from_csv) == [r for r in rejected(from_parquet) if r[0] == "transactions"]


def test_a_rejected_row_in_a_folder_names_its_file(con, tmp_path) -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4"],
            "timestamp": ["2024-01-01", "2024-02-01", "2024-02-02", "2024-02-03"],
            "amount": ["5", "6", "oops", "7"],
            "month": ["2024-01", "2024-02", "2024-02", "2024-02"],
        }
    )
    tx.to_parquet(tmp_path / "transactions", partition_cols=["month"], index=False)
    got = load_tables_on(DataSettings(dir=tmp_path), con, as_of=RUN_TIME)
    assert got.rejects[["row", "reason"]].values.tolist() == [[2, "non-numeric amount: 'oops'"]]
    source = Path(got.rejects["source"].iloc[0])
    assert source.parent.name == "month=2024-02" and source.suffix == ".parquet"
    assert source.exists()


def test_partitioned_parquet_folders_give_the_same_features(con, tmp_path) -> None:
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


def test_a_catalog_table_on_the_embedded_engine_hints_at_spark() -> None:
    data = DataSettings(transactions=TableSource(format="table", table="sales.orders"))
    with pytest.raises(ContractError, match="engine: spark"):
        load_tables(data, as_of=RUN_TIME)


def test_a_large_table_checked_in_parts_by_customer_gives_the_same_load(tmp_path, monkeypatch):
    """Past SPLIT_ROWS rows DuckDB checks a table a part of its customers (PART_ROWS rows) at a
    time, each read from part files: the same clean rows
    (in the same order), rejects (same order, rows, reasons, records), counts, duplicates and
    features as in one go; the parts' files are gone afterwards."""
    import features.engine as engine

    messy = messy_parquet(tmp_path / "in")
    world = tmp_path / "world"
    world.mkdir()
    tables = generated_tables(n_customers=80, seed=3)
    tx = pd.concat([tables.transactions, tables.transactions.iloc[:25]])  # 25 exact duplicates
    tx.to_parquet(world / "transactions.parquet", index=False)
    tables.events.to_parquet(world / "events.parquet", index=False)
    tables.customers.to_parquet(world / "customers.parquet", index=False)
    spill = tmp_path / "spill"

    def load(data: DataSettings, part_rows: int):
        monkeypatch.setattr(engine, "PART_ROWS", part_rows)
        monkeypatch.setattr(engine, "SPLIT_ROWS", part_rows)
        con = default_backend()
        con.raw_sql(f"SET temp_directory = '{spill}'")
        got = load_tables_on(data, con, as_of=RUN_TIME)
        present = sorted(got.tables.present)
        return got, {n: fetch(con, getattr(got.tables, n)).to_pandas() for n in present}

    for data, part_rows in ((settings_for(messy), 3), (DataSettings(dir=world), 300)):
        whole, whole_tables = load(data, 10**9)
        parts, parts_tables = load(data, part_rows)  # 4 parts of the messy orders, 3 or 4 here
        assert [p.name for p in spill.iterdir()] == []  # the parts' files are removed
        pd.testing.assert_frame_equal(parts.rejects, whole.rejects)
        assert parts.report == whole.report
        assert parts_tables.keys() == whole_tables.keys()
        for name, frame in whole_tables.items():
            pd.testing.assert_frame_equal(parts_tables[name], frame, obj=name)
    assert whole.report["transactions"].duplicates_dropped == 25
    cutoff = dt.date(2024, 6, 30)
    pd.testing.assert_frame_equal(
        build_features(parts.tables, cutoff), build_features(tables, cutoff), rtol=1e-9
    )


def test_every_engine_checks_subscriptions_alike(con, tmp_path) -> None:
    """Subscription rows stored as text in Parquet: the same rejects (reason and source row)
    and the same clean rows on every engine."""
    folder = tmp_path / "subs"
    folder.mkdir()
    pd.DataFrame({"customer_id": ["1", "2"], "timestamp": ["2024-01-01"] * 2, "amount": [5.0, 6.0]}
                 ).to_parquet(folder / "transactions.parquet", index=False)  # fmt: skip
    pd.DataFrame(
        {
            "customer_id": ["1", "1", "1", "2", "2", "2", "2"],
            "subscription_id": ["A", "A", "A", None, "B", "C", "D"],
            "start_date": ["2024-01-01", "2024-02-01", "2024-02-01", "2024-01-01", "2024-03-01",
                           "2024-03-01", "2024-03-01"],
            "end_date": [None, "2024-05-01", None, None, "2024-02-01", "soon", None],
            "billing_period_days": ["30", "30", "30", "30", "30", "30", "0"],
            "price": ["9.99", "19.99", "5", "5", "5", "5", "5"],
            "auto_renew": ["yes", "no", "no", None, None, None, None],
        }
    ).to_parquet(folder / "subscriptions.parquet", index=False)  # fmt: skip
    data = DataSettings(dir=folder)
    reference = load_tables(data, as_of=RUN_TIME)
    got = load_tables_on(data, con, as_of=RUN_TIME)
    assert rejected(got) == [
        ("subscriptions", 3, "duplicate subscription_id and start_date (first row kept)"),
        ("subscriptions", 4, "missing subscription_id"),
        ("subscriptions", 5, "end_date before start_date"),
        ("subscriptions", 6, "unparseable end_date"),
        ("subscriptions", 7, "billing_period_days not positive"),
    ]
    assert got.summary_rows() == reference.summary_rows()
    want = clean_frame(reference.tables.subscriptions)
    have = fetch(con, got.tables.subscriptions.drop("__row")).to_pandas()
    have = clean_frame(have[want.columns.tolist()])
    assert have["subscription_id"].tolist() == want["subscription_id"].tolist() == ["A", "A"]
    assert have["price"].tolist() == want["price"].tolist() == [9.99, 19.99]
    assert have["auto_renew"].tolist() == [True, False]
    for col in ("start_date", "end_date"):
        a = pd.to_datetime(want[col]).astype("datetime64[us]")
        b = pd.to_datetime(have[col]).astype("datetime64[us]")
        pd.testing.assert_series_equal(a, b, check_names=False)
