"""Features for many small batches, fast: the one feature definition compiled to SQL once.

:func:`features.build.build_features` builds the Ibis expressions of every pass and compiles
them on each call, which costs about a second however few rows there are. The service scores
a customer's raw history on every ``POST /score``; :class:`CompiledFeatures` builds the same
expressions (the same :func:`~features.build.feature_passes` and
:func:`~features.build.assemble_table`) over fixed table names once per cutoff day and set of
tables, keeps the SQL, and for each batch only registers the new rows (Arrow, zero copy) and
runs the SQL on DuckDB. Results are the same frame as ``build_features`` (tested).

Each thread gets its own DuckDB connection (registered tables are per connection); the SQL is
shared. Plans are kept for the last :data:`MAX_PLANS` cutoffs (a service scores mostly "today").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import pandas as pd

from features.build import conform_dtypes, feature_table
from features.context import CutoffLike, as_date
from features.engine import IbisTables, contract_arrow

if TYPE_CHECKING:
    import duckdb

    from features.contract import InputTables

MAX_PLANS = 8
PREFIX = "churnclv_live_"


class CompiledFeatures:
    """``build_features`` for repeated small batches (see the module doc)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._plans: OrderedDict[tuple, str] = OrderedDict()
        self._lock = threading.Lock()

    def _con(self) -> duckdb.DuckDBPyConnection:
        con = getattr(self._local, "con", None)
        if con is None:
            import duckdb

            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")  # as features.engine.default_backend
            self._local.con = con
        return con

    def build(self, tables: InputTables, cutoff: CutoffLike) -> pd.DataFrame:
        """The feature frame of ``tables`` at ``cutoff``, as ``build_features`` gives it."""
        con = self._con()
        arrows = {
            name: contract_arrow(frame, name)
            for name in ("transactions", "events", "customers")
            if (frame := getattr(tables, name)) is not None
        }
        for name, arrow in arrows.items():
            con.register(PREFIX + name, arrow)
        day = as_date(cutoff)
        key = (day, tuple((n, str(a.schema)) for n, a in arrows.items()))
        sql = self._sql(key, con, set(arrows), day)
        frame = con.sql(sql).to_arrow_table().to_pandas(split_blocks=True)
        for name in arrows:
            con.unregister(PREFIX + name)  # the batch's rows are not kept
        return conform_dtypes(frame)

    def _sql(
        self, key: tuple, con: duckdb.DuckDBPyConnection, present: set[str], day: object
    ) -> str:
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = _compile(con, present, day)
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > MAX_PLANS:
                self._plans.popitem(last=False)
        return plan


def _compile(con: duckdb.DuckDBPyConnection, present: set[str], day: object) -> str:
    """The whole feature frame over the registered tables as one SQL query (the passes and
    their assembly of :func:`features.build.feature_table`, sorted by customer_id)."""
    import ibis

    backend = ibis.duckdb.from_connection(con)
    tables = IbisTables(con=backend, **{name: backend.table(PREFIX + name) for name in present})
    _, expr = feature_table(tables, day)
    return str(ibis.to_sql(expr.order_by("customer_id"), dialect="duckdb"))
