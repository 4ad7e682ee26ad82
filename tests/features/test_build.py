"""build_features: point-in-time correctness, schema, missing tables, inputs, progress."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.build import build_features
from features.catalogue import feature_columns
from features.contract import InputTables
from features.engine import tables_from_parquet, to_ibis
from tests.features.tiny import (
    CUTOFF,
    KNOWN,
    customers,
    events,
    transactions,
)


def test_one_row_per_known_customer_sorted(tiny_features: pd.DataFrame) -> None:
    assert tiny_features.customer_id.tolist() == KNOWN
    assert tiny_features.index.is_unique


def test_columns_and_dtypes_follow_the_catalogue(tiny_features: pd.DataFrame) -> None:
    from features.catalogue import feature_catalogue

    cat = feature_catalogue()
    cat = cat[cat.family != "subscriptions"]  # no subscriptions table: test_subscriptions.py
    assert tiny_features.columns.tolist() == ["customer_id", *cat.name.tolist()]
    assert tiny_features.customer_id.dtype == "str"
    for name, dtype in zip(cat.name, cat.dtype, strict=True):
        assert tiny_features[name].dtype == dtype, name


def test_leading_zero_ids_survive(tiny_features: pd.DataFrame) -> None:
    assert {"00042", "00007"} <= set(tiny_features.customer_id)
    assert tiny_features.loc["00042", "orders_total"] == 2


def _after_cutoff(base: InputTables) -> InputTables:
    """The tiny tables plus transactions, events and signups after the cutoff."""
    extra_tx = transactions(
        [
            ("00042", "2024-02-01 00:00:00", 500.0, "store"),
            ("00007", "2024-06-01 10:00", -70.0, "store"),
            ("99", "2024-02-02 10:00", 5.0, "web"),  # a customer not known yet
            ("3", "2025-01-01 10:00", 8.0, "app"),
        ]
    )
    extra_ev = events(
        [
            ("00042", "2024-02-01 00:00:00", "email_click", "email", None),
            ("9", "2024-03-01 10:00", "support_ticket", "chat", 1.0),
            ("98", "2024-02-03 10:00", "visit", "web", None),
        ]
    )
    extra_cu = customers([("97", "2024-02-01", "ads", True)])
    return InputTables(
        transactions=pd.concat([base.transactions, extra_tx], ignore_index=True),
        events=pd.concat([base.events, extra_ev], ignore_index=True),
        customers=pd.concat([base.customers, extra_cu], ignore_index=True),
    ).validate()


def test_data_after_the_cutoff_changes_nothing(tiny, tiny_features: pd.DataFrame) -> None:
    later = build_features(_after_cutoff(tiny), CUTOFF)
    pd.testing.assert_frame_equal(later, tiny_features.reset_index(drop=True))


def test_cutoff_accepts_dates_strings_and_timestamps(tiny, tiny_features) -> None:
    expected = tiny_features.reset_index(drop=True)
    for cutoff in ("2024-01-31", "20240131", pd.Timestamp("2024-01-31 15:00")):
        pd.testing.assert_frame_equal(build_features(tiny, cutoff), expected)


def test_missing_events_and_customers_drop_their_families(tiny) -> None:
    only_tx = build_features(InputTables(transactions=tiny.transactions), CUTOFF)
    assert only_tx.columns.tolist() == ["customer_id", *feature_columns({"transactions"})]
    assert "visits_30d" not in only_tx and "signup_age_days" not in only_tx
    assert "preferred_channel" in only_tx  # from transactions alone
    assert only_tx.customer_id.tolist() == ["00007", "00042", "11", "3"]
    assert only_tx.set_index("customer_id").loc["00042", "preferred_channel"] == "web"

    with_customers = build_features(
        InputTables(transactions=tiny.transactions, customers=tiny.customers), CUTOFF
    )
    assert "signup_age_days" in with_customers and "visits_30d" not in with_customers
    assert with_customers.customer_id.tolist() == ["00007", "00042", "11", "3", "8"]


def test_nothing_visible_gives_an_empty_typed_frame(tiny) -> None:
    empty = build_features(tiny, dt.date(2020, 1, 1))
    assert len(empty) == 0
    assert empty.columns.tolist() == [
        "customer_id",
        *feature_columns({"transactions", "events", "customers"}),
    ]
    assert empty.dtypes["orders_total"] == "int64"
    assert empty.dtypes["recency_days"] == "float64"
    assert empty.dtypes["preferred_channel"] == "str"


def test_all_null_optional_columns_are_accepted(tiny) -> None:
    tx = tiny.transactions.copy()
    tx["channel"] = pd.Series([None] * len(tx), dtype="object")
    out = build_features(InputTables(transactions=tx), CUTOFF)
    assert out.preferred_channel.isna().all()


def test_progress_callback_reports_each_pass(tiny) -> None:
    calls: list[tuple[str, int, int]] = []
    build_features(
        tiny, CUTOFF, progress=lambda step, done, total: calls.append((step, done, total))
    )
    assert [c[1] for c in calls] == [1, 2, 3, 4]
    assert {c[2] for c in calls} == {4}
    assert calls[0][0] == "rfm+windows"


def test_rich_progress_is_accepted(tiny) -> None:
    from rich.progress import Progress

    with Progress(disable=True) as progress:
        build_features(tiny, CUTOFF, progress=progress)
        task = progress.tasks[0]
        assert task.completed == task.total == 4


def test_ibis_and_parquet_inputs_give_the_same_frame(tiny, tiny_features, tmp_path) -> None:
    expected = tiny_features.reset_index(drop=True)
    ibis_tables = to_ibis(tiny)
    pd.testing.assert_frame_equal(build_features(ibis_tables, CUTOFF), expected)
    paths = {}
    for name in ("transactions", "events", "customers"):
        directory = tmp_path / name
        directory.mkdir()
        getattr(tiny, name).to_parquet(directory / "part-0.parquet")
        paths[name] = directory
    from_parquet = build_features(tables_from_parquet(**paths), CUTOFF)
    pd.testing.assert_frame_equal(from_parquet, expected)


# --- property: point-in-time -------------------------------------------------------------

DAY0 = dt.datetime(2023, 1, 1)
IDS = ["001", "002", "010", "7"]
EVENT_TYPES = ["visit", "email_open", "email_click", "support_ticket", "app_session", "other"]
CHANNELS = [None, "web", "app", "store"]


@st.composite
def random_tables(draw: st.DrawFn) -> tuple[InputTables, dt.date]:
    minutes = st.integers(0, 600 * 24 * 60)
    tx_rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(IDS),
                minutes,
                st.sampled_from([-20.0, -1.5, 0.0, 3.25, 10.0, 99.99]),
                st.sampled_from(CHANNELS),
            ),
            min_size=1,
            max_size=25,
        )
    )
    ev_rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(IDS),
                minutes,
                st.sampled_from(EVENT_TYPES),
                st.sampled_from(CHANNELS),
                st.sampled_from([None, 1.0, 5.0]),
            ),
            max_size=20,
        )
    )
    cu_rows = draw(
        st.lists(
            st.tuples(st.sampled_from(IDS), minutes, st.sampled_from([None, "ads"])),
            max_size=4,
            unique_by=lambda r: r[0],
        )
    )

    def iso(m: int) -> str:
        return (DAY0 + dt.timedelta(minutes=m)).isoformat()

    tables = InputTables(
        transactions=transactions([(c, iso(m), a, ch) for c, m, a, ch in tx_rows]),
        events=events([(c, iso(m), t, ch, v) for c, m, t, ch, v in ev_rows]),
        customers=customers([(c, iso(m)[:10], ch, None) for c, m, ch in cu_rows]),
    )
    cutoff = (DAY0 + dt.timedelta(days=draw(st.integers(0, 600)))).date()
    return tables, cutoff


def _visible(tables: InputTables, cutoff: dt.date) -> InputTables:
    end = pd.Timestamp(cutoff) + pd.Timedelta(days=1)
    return InputTables(
        transactions=tables.transactions[tables.transactions.timestamp < end],
        events=tables.events[tables.events.timestamp < end],
        customers=tables.customers[tables.customers.signup_date < end],
    )


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(random_tables())
def test_property_future_rows_never_change_features(case: tuple[InputTables, dt.date]) -> None:
    tables, cutoff = case
    visible = _visible(tables, cutoff)
    if len(visible.transactions) == 0:  # the transactions table may not be empty
        return
    full = build_features(tables, cutoff)
    cut = build_features(visible, cutoff)
    pd.testing.assert_frame_equal(full, cut)
    both = full.dropna(subset=["recency_days"])
    assert (both.recency_days <= both.tenure_days).all()
    assert (full.frequency <= full.orders_total).all()
    assert np.array_equal(full.frequency, full.btyd_x)


def test_features_are_bit_for_bit_reproducible() -> None:
    """Enough rows for DuckDB to aggregate in parallel: sums must not depend on row order."""
    from tests.features.generated import generated_tables

    tables = generated_tables(n_customers=25_000, seed=5)
    first = build_features(tables, "2024-06-30")
    again = build_features(tables, "2024-06-30")
    pd.testing.assert_frame_equal(first, again, check_exact=True)


def test_features_written_in_ranges_of_customers_are_the_same_file(tmp_path) -> None:  # noqa: ANN001
    """``churnclv features`` builds a range of customers at a time: the same bytes as one go."""
    from churnclv.demo_data import generate_demo_data
    from features.build import customer_ranges, write_features

    data = generate_demo_data(600, seed=2)
    tables = to_ibis(InputTables(data.transactions, data.events, data.customers))
    assert len(customer_ranges(tables, "2026-09-30", 100)) == 6
    whole, chunked = tmp_path / "whole.parquet", tmp_path / "chunked.parquet"
    assert write_features(tables, "2026-09-30", whole) == write_features(
        tables, "2026-09-30", chunked, chunk_customers=100
    )
    assert whole.read_bytes() == chunked.read_bytes()
    expected = build_features(tables, "2026-09-30")
    pd.testing.assert_frame_equal(pd.read_parquet(whole), expected, check_dtype=False)


def test_ranges_of_customers_of_transactions_alone() -> None:
    from churnclv.demo_data import generate_demo_data
    from features.build import customer_ranges

    data = generate_demo_data(300, seed=2)
    tables = to_ibis(InputTables(data.transactions))
    ranges = customer_ranges(tables, "2026-09-30", 100)
    ids = sorted(data.transactions["customer_id"].unique())
    assert ranges[0][0] is None and ranges[-1][1] is None and len(ranges) == -(-len(ids) // 100)
    assert [low for low, _ in ranges[1:]] == ids[100::100]
