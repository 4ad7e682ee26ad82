"""Backends and input registration."""

from __future__ import annotations

import ibis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.engine import IbisTables, make_backend, to_ibis


def test_to_ibis_registers_frames_on_the_given_connection(tiny) -> None:
    con = ibis.duckdb.connect()
    tables = to_ibis(tiny, con)
    assert tables.con is con and tables.present == {"transactions", "events", "customers"}
    assert con.execute(tables.transactions.count()) == len(tiny.transactions)
    assert tables.transactions.schema()["customer_id"].is_string()
    assert to_ibis(tables) is tables


def test_to_ibis_uses_the_backend_of_bound_tables(tiny) -> None:
    from features.contract import InputTables

    con = ibis.duckdb.connect()
    bound = con.create_table("tx", to_ibis(tiny, con).transactions)
    tables = to_ibis(InputTables(transactions=bound))
    assert tables.con is con and tables.events is None
    assert isinstance(tables, IbisTables)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        make_backend("postgres")


def test_date_typed_parquet_columns_mean_midnight(tiny, tmp_path) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from features.build import build_features
    from features.contract import InputTables
    from features.engine import tables_from_parquet
    from tests.features.tiny import CUTOFF

    def floored(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        return frame.assign(**{column: frame[column].dt.floor("D")})

    midnight = InputTables(
        transactions=floored(tiny.transactions, "timestamp"),
        events=floored(tiny.events, "timestamp"),
        customers=tiny.customers,
    )
    paths = {}
    for name, column in [
        ("transactions", "timestamp"),
        ("events", "timestamp"),
        ("customers", "signup_date"),
    ]:
        table = pa.Table.from_pandas(getattr(midnight, name), preserve_index=False)
        i = table.schema.get_field_index(column)
        table = table.set_column(i, column, table.column(i).cast(pa.date32()))
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(table, paths[name])
    got = build_features(tables_from_parquet(**paths), CUTOFF)
    pd.testing.assert_frame_equal(got, build_features(midnight, CUTOFF))


def test_tables_of_one_load_are_cut_at_the_first_ones_sampled_ids(monkeypatch, tmp_path) -> None:
    """The first large table's sorted id sample cuts the next one too (no second sample):
    each part holds whole customers, in id order, and the parts are of about equal size."""
    import features.engine as engine

    monkeypatch.setattr(engine, "PART_ROWS", 1_000)
    monkeypatch.setattr(engine, "SPLIT_ROWS", 1_000)
    con = ibis.duckdb.connect()
    con.raw_sql(f"SET temp_directory = '{tmp_path}'")
    for name, copies in (("orders", 10), ("events", 20)):  # customers C0000 to C0399
        con.raw_sql(
            f"CREATE TABLE {name} AS SELECT printf('C%04d', i) AS customer_id "
            f"FROM range(400) r(i), range({copies}) c(j)"
        )
    orders, events = con.table("orders"), con.table("events")
    sample = engine.IdSample()

    def sizes(table) -> list[tuple[str, str, int]]:
        with engine.customer_parts(
            con, table, table.count().execute(), table.customer_id, sample
        ) as parts:
            frames = [p.to_pandas() for p in parts]
        return [(f.customer_id.min(), f.customer_id.max(), len(f)) for f in frames]

    got = sizes(orders)
    drawn = sample.ids
    assert drawn is not None and len(got) == 4
    cut = sizes(events)  # twice the rows: 8 parts, cut at the orders' sample's quantiles
    assert [n for _, _, n in cut] == [1_000] * 8 and cut[1][0] == "C0050"
    assert sample.ids is drawn
    assert [n for _, _, n in got] == [1_000] * 4 and got[0][0] == "C0000" and got[-1][1] == "C0399"
    for parts in (got, cut):  # whole customers, in id order
        assert all(a[1] < b[0] for a, b in zip(parts, parts[1:], strict=False))


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.text("ABC", min_size=1, max_size=3), max_size=12, unique=True).map(sorted),
    keys=st.lists(st.none() | st.text("ABC", max_size=3), min_size=1, max_size=30),
)
def test_a_row_goes_to_the_part_its_id_falls_in(cuts, keys) -> None:
    """The binary search over the cuts puts each id where counting the cuts at or below it
    does (an id equal to a cut opens that cut's part); a missing id goes to the last part."""
    import bisect

    from features.engine import _part_of

    table = ibis.memtable({"key": keys}, schema={"key": "string"})
    got = table.select(part=_part_of(table.key, cuts, 0, len(cuts))).to_pyarrow()["part"]
    want = [len(cuts) if k is None else bisect.bisect_right(cuts, k) for k in keys]
    assert got.to_pylist() == want
