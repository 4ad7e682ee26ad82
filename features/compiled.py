"""Features for many small batches, fast: the one feature definition compiled to SQL once.

:func:`features.build.build_features` builds the Ibis expressions of every pass and compiles
them on each call, which costs about a second however few rows there are. The service scores
a customer's raw history on every ``POST /score``; :class:`CompiledFeatures` builds the same
expressions (the same :func:`~features.build.feature_passes` and
:func:`~features.build.assemble_table`) over fixed table names once per cutoff day and set of
tables, keeps the SQL, and runs it on DuckDB. Results are the same frame as ``build_features``
(tested).

Running the SQL text on each call would also cost DuckDB's parser and binder (the query is
~29k characters). So each thread keeps, per plan, a DuckDB connection with the query prepared
once. A prepared query that reads tables is bound again on every execution (by design: duckdb
issue 17237, PR 23712), about 8 ms for this one; so the prepared query reads no table: each
input table is a ``WITH`` of the same name that unnests the columns of a JSON parameter
(``from_json``, typed as DuckDB types the batch's Arrow schema), and a batch is one
``EXECUTE features('<transactions>', '<events>', ...)``. DuckDB then reuses its plan as it is
(binding 7.4 -> 0.02 ms, a batch of eight one-customer calls 17 -> 11 ms,
``bench/bench_service.py``). The live connection plans with no optimizer passes (a batch is a
few customers; the results are the same, tested) and one thread. Whole numbers come back as
BIGINT, so no column needs converting in pandas (``bench/bench_realtime.py``). Plans are kept
for the last :data:`MAX_PLANS` cutoffs and table sets (a service scores mostly "today").
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from features.build import conform_dtypes, feature_table, frame_specs
from features.context import CutoffLike, as_date
from features.engine import IbisTables, contract_arrow
from features.vocabulary import Vocabulary

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from features.contract import InputTables

MAX_PLANS = 8
PREFIX = "churnclv_live_"
TABLES = ("transactions", "events", "customers", "subscriptions")


class CompiledFeatures:
    """``build_features`` for repeated small batches (see the module doc)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._plans: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def build(
        self,
        tables: InputTables | Mapping[str, pa.Table],
        cutoff: CutoffLike,
        vocabulary: Vocabulary | None = None,
    ) -> pd.DataFrame:
        """The feature frame of ``tables`` at ``cutoff`` with the model's own event types
        (``vocabulary``), as ``build_features`` gives it. ``tables``: the contract tables, as
        frames or as Arrow tables by name (the service's, without a pandas round trip)."""
        if isinstance(tables, Mapping):
            arrows = {name: tables[name] for name in TABLES if name in tables}
        else:
            arrows = {
                name: contract_arrow(frame, name)
                for name in TABLES
                if (frame := getattr(tables, name)) is not None
            }
        day = as_date(cutoff)
        vocabulary = vocabulary or Vocabulary()
        key = (day, vocabulary, tuple((n, str(a.schema)) for n, a in arrows.items()))
        con = self._prepared(key, arrows, day, vocabulary)
        args = ", ".join(_json_literal(arrow) for arrow in arrows.values())
        frame = con.execute(f"EXECUTE features({args})").df()
        return conform_dtypes(frame, vocabulary)

    def _prepared(
        self, key: tuple, arrows: dict[str, pa.Table], day: object, vocabulary: Vocabulary
    ) -> duckdb.DuckDBPyConnection:
        """This thread's connection for ``key``: the feature query prepared over JSON
        parameters of the batch's schema (the tables it compiles against stay empty; created
        on first use, the oldest dropped)."""
        cons: OrderedDict[tuple, duckdb.DuckDBPyConnection] | None = getattr(
            self._local, "cons", None
        )
        if cons is None:
            cons = self._local.cons = OrderedDict()
        con = cons.get(key)
        if con is not None:
            cons.move_to_end(key)
            return con
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")  # as features.engine.default_backend
        # a batch is a few customers: planning dominates, and one thread schedules less
        con.execute(f"SET disabled_optimizers = '{_optimizers(con)}'")
        con.execute("SET threads = 1")
        inputs = []  # each table from its JSON parameter, in the order of ``arrows``
        for i, (name, arrow) in enumerate(arrows.items(), start=1):
            table = PREFIX + name
            con.from_arrow(arrow.schema.empty_table()).create(table)  # its types, for Ibis
            types = con.execute(f'DESCRIBE "{table}"').fetchall()
            spec = json.dumps({column: [kind] for column, kind, *_ in types})
            unnest = ", ".join(f"UNNEST(j.{_name(c)}) AS {_name(c)}" for c, *_ in types)
            inputs.append(
                f"{_name(table)} AS (SELECT {unnest} FROM (SELECT from_json(${i}::VARCHAR, "
                f"{_quoted(spec)}) AS j))"
            )
        sql = self._sql(key, con, set(arrows), day, vocabulary)
        con.execute(f"PREPARE features AS WITH {', '.join(inputs)} {sql}")
        cons[key] = con
        while len(cons) > MAX_PLANS:
            cons.popitem(last=False)[1].close()
        return con

    def _sql(
        self,
        key: tuple,
        con: duckdb.DuckDBPyConnection,
        present: set[str],
        day: object,
        vocabulary: Vocabulary,
    ) -> str:
        """The query for ``key``, compiled once for all threads."""
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = _compile(con, present, day, vocabulary)
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
        return plan


def _optimizers(con: duckdb.DuckDBPyConnection) -> str:
    """Every optimizer DuckDB has, comma-separated."""
    return ",".join(
        name for (name,) in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()
    )


def _compile(
    con: duckdb.DuckDBPyConnection, present: set[str], day: object, vocabulary: Vocabulary
) -> str:
    """The whole feature frame over the tables named ``PREFIX + name`` as one SQL query (the
    passes and their assembly of :func:`features.build.feature_table`, sorted by customer_id)."""
    import ibis

    backend = ibis.duckdb.from_connection(con)
    tables = IbisTables(con=backend, **{name: backend.table(PREFIX + name) for name in present})
    _, expr = feature_table(tables, day, vocabulary=vocabulary)
    sql = str(ibis.to_sql(expr, dialect="duckdb"))
    # whole numbers as BIGINT: DuckDB sums them as HUGEINT, which reach pandas as floats, and
    # casting them back column by column would cost more than the query
    ints = [s.name for s in frame_specs(present, vocabulary) if s.dtype == "int64"]
    casts = ", ".join(f'CAST("{name}" AS BIGINT) AS "{name}"' for name in ints)
    columns = f"* REPLACE ({casts})" if ints else "*"
    return f"SELECT {columns} FROM ({sql}) ORDER BY customer_id"


def _name(identifier: str) -> str:
    """``identifier`` as a quoted SQL name."""
    return '"' + identifier.replace('"', '""') + '"'


def _quoted(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _json_literal(arrow: pa.Table) -> str:
    """An Arrow table as the SQL literal of a JSON object of column lists (what the prepared
    query unnests): timestamps and other non-JSON types as text DuckDB parses back exactly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for field, column in zip(arrow.schema, arrow.columns, strict=True):
        kind = field.type
        plain = (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_null(kind)
        )
        columns[field.name] = (column if plain else pc.cast(column, pa.string())).to_pylist()
    return _quoted(json.dumps(columns))
