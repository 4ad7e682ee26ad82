"""The input contract: every bad-input case has an exact expected outcome."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.settings import DataSettings, TableSource
from features.contract import ContractError
from features.loader import load_tables

RUN_TIME = dt.datetime(2025, 1, 1, 12, 0)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def load_dir(folder: Path):
    return load_tables(DataSettings(dir=folder), as_of=RUN_TIME)


def test_clean_file_loads_with_string_ids_and_canonical_dtypes(tmp_path: Path) -> None:
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount,channel\n00042,2024-01-05,10.5,web\n42,2024-01-06 13:30:00,3,store\n",
    )
    res = load_dir(tmp_path)
    tx = res.tables.transactions
    assert tx["customer_id"].tolist() == ["00042", "42"]
    assert str(tx["customer_id"].dtype) == "str"
    assert tx["timestamp"].tolist() == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-01-06 13:30"),
    ]
    assert str(tx["timestamp"].dtype) == "datetime64[us]"
    assert tx["amount"].tolist() == [10.5, 3.0]
    # optional columns are always present, null when the source lacks them
    assert tx["order_id"].isna().all() and tx["category"].isna().all()
    assert res.tables.events is None and res.tables.customers is None
    assert len(res.rejects) == 0
    assert res.report["transactions"].rows_kept == 2


def test_each_unusable_row_is_rejected_with_its_reason_and_counted(tmp_path: Path) -> None:
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount\n"
        "1,2024-01-01,10\n"  # row 1 ok
        ",2024-01-02,10\n"  # row 2 missing id
        "2,2024-01-03,abc\n"  # row 3 non-numeric amount
        "3,2024-13-45,5\n"  # row 4 unparseable date
        "4,2025-06-01,5\n"  # row 5 after the run time
        "5,2024-01-04,\n"  # row 6 missing amount
        "6,2024-01-05,inf\n"  # row 7 non-finite
        "7,,5\n"  # row 8 missing timestamp
        "8,2024-01-06,2e9\n",  # row 9 beyond what money sums can hold
    )
    res = load_dir(tmp_path)
    rej = res.rejects.set_index("row")
    assert rej["reason"].to_dict() == {
        2: "missing customer_id",
        3: "non-numeric amount: 'abc'",
        4: "unparseable timestamp: '2024-13-45'",
        5: "timestamp in the future of the run (2025-01-01 12:00)",
        6: "missing amount",
        7: "non-finite amount",
        8: "missing timestamp",
        9: "amount out of range (beyond +-1e+09)",
    }
    assert set(rej["table"]) == {"transactions"}
    assert (
        rej.loc[3, "record"] == '{"customer_id": "2", "timestamp": "2024-01-03", "amount": "abc"}'
    )
    assert res.tables.transactions["customer_id"].tolist() == ["1"]
    report = res.report["transactions"]
    assert (report.rows_read, report.rows_kept, report.rejected_total) == (9, 1, 8)
    assert report.rejected["non-numeric amount"] == 1


def test_exact_duplicates_are_counted_and_dropped_but_near_duplicates_kept(tmp_path: Path) -> None:
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount\n1,2024-01-01,10\n1,2024-01-01,10\n1,2024-01-01,10\n1,2024-01-01,11\n",
    )
    res = load_dir(tmp_path)
    assert res.report["transactions"].duplicates_dropped == 2
    assert res.tables.transactions["amount"].tolist() == [10.0, 11.0]
    assert res.summary_rows()[0]["duplicates_dropped"] == 2


def test_negative_amounts_are_kept_as_returns(tmp_path: Path) -> None:
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount\n1,2024-01-01,50\n1,2024-01-03,-20\n",
    )
    res = load_dir(tmp_path)
    assert res.tables.transactions["amount"].tolist() == [50.0, -20.0]
    assert len(res.rejects) == 0


def test_rows_after_a_cutoff_are_valid_data(tmp_path: Path) -> None:
    # The loader does not know the cutoff: later rows are kept for labels and later runs.
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount\n1,2024-01-01,5\n1,2024-12-31,5\n",
    )
    assert len(load_dir(tmp_path).tables.transactions) == 2


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "transactions.csv", "customer_id,timestamp\n1,2024-01-01\n")
    with pytest.raises(ContractError) as err:
        load_dir(tmp_path)
    assert str(path) in str(err.value)
    assert "required column 'amount'" in str(err.value)


def test_mapped_column_missing_names_the_users_column(tmp_path: Path) -> None:
    path = write(tmp_path / "sales.csv", "cust,date,value\n1,20240101,5\n")
    src = TableSource(
        path=path, columns={"customer_id": "cust", "timestamp": "date", "amount": "dollar_value"}
    )
    with pytest.raises(ContractError) as err:
        load_tables(DataSettings(transactions=src), as_of=RUN_TIME)
    assert str(path) in str(err.value)
    assert "required column 'dollar_value' (contract column 'amount') is missing" in str(err.value)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "transactions.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(ContractError) as err:
        load_dir(tmp_path)
    assert str(path) in str(err.value) and "cannot read as parquet" in str(err.value)


def test_missing_transactions_table_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "events.csv", "customer_id,timestamp,event_type\n1,2024-01-01,visit\n")
    with pytest.raises(ContractError, match="no transactions table found in"):
        load_dir(tmp_path)


def test_no_usable_transaction_rows_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "transactions.csv", "customer_id,timestamp,amount\n,2024-01-01,5\n")
    with pytest.raises(ContractError, match="no usable transaction rows"):
        load_dir(tmp_path)


def test_user_column_names_and_yyyymmdd_dates_load_via_config(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sales.csv", "cust,date,dollar_value\n00042,20240105,12.5\n007,20240230,1\n"
    )
    src = TableSource(
        path=path,
        columns={"customer_id": "cust", "timestamp": "date", "amount": "dollar_value"},
        timestamp_format="%Y%m%d",
    )
    res = load_tables(DataSettings(transactions=src), as_of=RUN_TIME)
    tx = res.tables.transactions
    assert tx["customer_id"].tolist() == ["00042"]
    assert tx["timestamp"].tolist() == [pd.Timestamp("2024-01-05")]
    assert res.rejects["reason"].tolist() == ["unparseable timestamp: '20240230'"]


def test_parquet_and_duckdb_sources(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [42, 7],  # integer ids in Parquet become text
            "timestamp": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "amount": [1, 2],
        }
    )
    frame.to_parquet(tmp_path / "transactions.parquet")
    res = load_dir(tmp_path)
    assert res.tables.transactions["customer_id"].tolist() == ["42", "7"]
    assert res.tables.transactions["amount"].tolist() == [1.0, 2.0]

    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "create table web_events as select ' 42' as customer_id, "
            "timestamp '2024-01-02 10:00' as timestamp, 'Visit' as event_type"
        )
    events = TableSource(path=db, table="web_events")
    res = load_tables(
        DataSettings(
            transactions=TableSource(path=tmp_path / "transactions.parquet"), events=events
        ),
        as_of=RUN_TIME,
    )
    ev = res.tables.events
    assert ev["customer_id"].tolist() == ["42"]  # blanks trimmed, matching the 42 above
    assert ev["event_type"].tolist() == ["visit"]  # normalised to lower case
    assert ev["value"].isna().all()


def test_events_and_customers_rows_are_checked(tmp_path: Path) -> None:
    write(tmp_path / "transactions.csv", "customer_id,timestamp,amount\n1,2024-01-01,5\n")
    write(
        tmp_path / "events.csv",
        "customer_id,timestamp,event_type,value\n1,2024-01-01,support_ticket,4\n1,2024-01-02,,\n1,2024-01-03,support_ticket,good\n",
    )
    write(
        tmp_path / "customers.csv",
        "customer_id,signup_date,loyalty_member,region\n1,2023-05-01,yes,north\n1,2023-06-01,no,south\n2,2023-07-01,maybe,east\n3,yesterday,no,west\n",
    )
    res = load_dir(tmp_path)
    reasons = res.rejects[["table", "row", "reason"]].to_records(index=False).tolist()
    assert reasons == [
        ("events", 2, "missing event_type"),
        ("events", 3, "non-numeric value: 'good'"),
        ("customers", 2, "duplicate customer_id (first row kept)"),
        ("customers", 3, "unreadable loyalty_member: 'maybe'"),
        ("customers", 4, "unparseable signup_date: 'yesterday'"),
    ]
    cust = res.tables.customers
    assert cust["customer_id"].tolist() == ["1"]
    assert cust["loyalty_member"].tolist() == [True]
    assert cust["region"].tolist() == ["north"]  # extra attributes pass through
    assert res.tables.events["value"].tolist() == [4.0]


def test_unknown_mapped_column_in_config_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "customer_id,timestamp,amount\n1,2024-01-01,5\n")
    src = TableSource(path=path, columns={"customer": "cust"})
    with pytest.raises(ContractError, match=r"unknown contract column\(s\) \['customer'\]"):
        load_tables(DataSettings(transactions=src), as_of=RUN_TIME)


def test_placeholder_dates_before_the_earliest_date_are_rejected(tmp_path: Path) -> None:
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount\n"
        "1,2024-01-01,10\n"
        "2,0001-01-01,10\n"  # row 2: a placeholder
        "3,1900-01-01,10\n"  # row 3
        "4,1990-01-01,10\n",  # row 4: the earliest day itself is fine
    )
    res = load_dir(tmp_path)
    assert res.rejects[["row", "reason"]].values.tolist() == [
        [2, "timestamp before 1990-01-01 (data.earliest_date)"],
        [3, "timestamp before 1990-01-01 (data.earliest_date)"],
    ]
    later = load_tables(
        DataSettings(dir=tmp_path, earliest_date=dt.date(2000, 1, 1)), as_of=RUN_TIME
    )
    assert later.rejects["row"].tolist() == [2, 3, 4]


def test_times_with_mixed_offsets_become_utc(tmp_path: Path) -> None:
    write(
        tmp_path / "transactions.csv",
        "customer_id,timestamp,amount\n"
        "1,2024-01-05T10:00:00+02:00,10\n"
        "1,2024-01-05T10:00:00-05:00,10\n"
        "1,2024-01-05T10:00:00Z,10\n"
        "1,2024-01-05 10:00:00,10\n",  # no offset: taken as UTC
    )
    tx = load_dir(tmp_path).tables.transactions
    assert tx["timestamp"].tolist() == [
        pd.Timestamp("2024-01-05 08:00"),
        pd.Timestamp("2024-01-05 15:00"),
        pd.Timestamp("2024-01-05 10:00"),
        pd.Timestamp("2024-01-05 10:00"),
    ]


def test_a_bad_value_under_a_timestamp_format_is_a_reject_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path / "tx.csv", "customer_id,timestamp,amount\n1,20240105,10\n2,2024-01-05,10\n")
    src = TableSource(path=tmp_path / "tx.csv", timestamp_format="%Y%m%d")
    res = load_tables(DataSettings(transactions=src), as_of=RUN_TIME)
    assert res.tables.transactions["timestamp"].tolist() == [pd.Timestamp("2024-01-05")]
    assert res.rejects[["row", "reason"]].values.tolist() == [
        [2, "unparseable timestamp: '2024-01-05'"]
    ]


def test_a_timestamp_format_is_guessed_from_the_values_it_must_read() -> None:
    from features.cleaning import guess_timestamp_format

    assert guess_timestamp_format(["25/01/2026", "13/02/2026"]) == "%d/%m/%Y"
    assert guess_timestamp_format(["01/25/2026", "02/13/2026"]) == "%m/%d/%Y"
    assert guess_timestamp_format(["25.01.2026 14:03"]) == "%d.%m.%Y %H:%M"
    assert guess_timestamp_format(["yesterday", "25/01/2026"]) is None
    assert guess_timestamp_format([]) is None


def test_subscription_rows_are_checked(tmp_path: Path) -> None:
    write(tmp_path / "transactions.csv", "customer_id,timestamp,amount\n1,2024-01-01,5\n")
    write(
        tmp_path / "subscriptions.csv",
        "customer_id,subscription_id,start_date,end_date,cancel_date,billing_period_days,price,auto_renew,plan\n"
        "1,A,2024-01-01,,,30,9.99,yes,basic\n"  # row 1 ok, active
        "1,A,2024-02-01,2024-05-01,2024-04-20,30,19.99,no,pro\n"  # row 2 ok: a plan change
        "1,A,2024-02-01,,,30,29.99,no,max\n"  # row 3 same subscription and start: repeated
        "2,,2024-01-01,,,30,5,,\n"  # row 4 missing subscription_id
        "2,B,2024-03-01,2024-02-01,,30,5,,\n"  # row 5 ends before it starts
        "2,C,2024-03-01,,2024-02-01,30,5,,\n"  # row 6 cancel asked before the start
        "2,D,2024-03-01,soon,,30,5,,\n"  # row 7 unreadable end
        "2,E,2024-03-01,,,0,5,,\n"  # row 8 billing period 0
        "2,F,2024-03-01,,,30,-5,,\n"  # row 9 negative price
        "2,G,2024-03-01,,,,5,,\n"  # row 10 no billing period
        "2,H,2024-03-01,2025-03-01,,365,50,true,annual\n",  # row 11 ok: an end after the run
    )
    res = load_dir(tmp_path)
    reasons = res.rejects[["table", "row", "reason"]].to_records(index=False).tolist()
    assert reasons == [
        ("subscriptions", 3, "duplicate subscription_id and start_date (first row kept)"),
        ("subscriptions", 4, "missing subscription_id"),
        ("subscriptions", 5, "end_date before start_date"),
        ("subscriptions", 6, "cancel_date before start_date"),
        ("subscriptions", 7, "unparseable end_date: 'soon'"),
        ("subscriptions", 8, "billing_period_days not positive"),
        ("subscriptions", 9, "negative price"),
        ("subscriptions", 10, "missing billing_period_days"),
    ]
    subs = res.tables.subscriptions
    assert subs["subscription_id"].tolist() == ["A", "A", "H"]
    assert subs["auto_renew"].tolist() == [True, False, True]
    assert str(subs["end_date"].dtype) == "datetime64[us]"
    assert subs["end_date"].isna().tolist() == [True, False, False]
    assert res.report["subscriptions"].rows_kept == 3
