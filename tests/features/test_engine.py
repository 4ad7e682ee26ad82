"""Backends and input registration."""

from __future__ import annotations

import ibis
import pytest

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
