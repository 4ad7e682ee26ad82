"""Backends: turn input tables into Ibis tables on DuckDB (default) or PySpark.

Three ways in, one way out (:class:`IbisTables`):

* :func:`to_ibis` takes the contract's :class:`~features.contract.InputTables` of pandas frames
  (registered as in-memory tables on the connection) or of Ibis tables (used as they are);
* :func:`tables_from_parquet` reads Parquet files or directories with ``con.read_parquet``
  (lazy: nothing is loaded into Python, the backend scans the files);
* :func:`make_backend` opens a DuckDB connection or a PySpark session wrapped by Ibis.

Results come back through :func:`fetch`, which returns a pyarrow table on every backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from core.settings import TABLE_NAMES
from features.contract import CONTRACT, InputTables

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend


class EngineError(UserError, RuntimeError):
    """The engine cannot be started (e.g. Spark without pyspark or Java); says what to fix."""


@dataclass(frozen=True)
class IbisTables:
    """The contract tables as Ibis tables on one backend; all but transactions may be None."""

    con: BaseBackend
    transactions: ir.Table
    events: ir.Table | None = None
    customers: ir.Table | None = None
    subscriptions: ir.Table | None = None

    @property
    def present(self) -> set[str]:
        """Names of the tables that are available."""
        return {name for name in TABLE_NAMES if getattr(self, name) is not None}


def default_backend(memory_limit: str | None = None) -> BaseBackend:
    """A fresh in-memory DuckDB connection whose session time zone is UTC.

    UTC, as on the Spark sessions, so that a time with an offset (``10:00+02:00``) or a
    zone-aware Parquet column becomes the same naive UTC time on both engines.
    ``memory_limit`` (DuckDB's, e.g. ``4GB``): beyond it DuckDB spills the loaded tables and
    large aggregations to a temporary folder instead of growing.
    """
    import ibis

    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    if memory_limit:
        con.raw_sql(f"SET memory_limit = '{memory_limit}'")
    return con


def make_backend(
    engine: str = "duckdb",
    *,
    spark_master: str | None = None,
    spark_conf: dict[str, str] | None = None,
) -> BaseBackend:
    """Open an Ibis backend: ``"duckdb"`` (in memory) or ``"spark"`` (a local/cluster session).

    Spark master: ``spark_master`` when given; otherwise the one ``spark-submit`` (or the
    platform's existing session) provides, else ``local[*]``. The session gets
    ``spark.sql.session.timeZone=UTC`` so that naive timestamps mean the same instant as in
    DuckDB; ``PYSPARK_PYTHON`` defaults to this interpreter so Spark's Python workers see the
    same packages. Stop it with ``con._session.stop()`` when done.
    """
    import ibis

    if engine == "duckdb":
        return default_backend()
    if engine == "spark":
        import os
        import sys

        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineError(
                "engine spark needs pyspark (>=3.5,<4.1): `pip install pyspark` or `make setup`"
            ) from exc

        # Python workers must run this interpreter (it has pandas/pyarrow), not PATH's python3
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

        builder = SparkSession.builder.appName("churnclv")
        under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # launched by spark-submit
        if spark_master or not (under_submit or SparkSession.getActiveSession()):
            builder = builder.master(spark_master or "local[*]")
        log_config = Path(__file__).with_name("spark-log4j2.properties")
        conf = {
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
            # errors only from the JVM's log (the CLI shows its own progress)
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log_config}",
            **(spark_conf or {}),
        }
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # Java missing or too old, bad master URL, bad conf
            raise EngineError(
                f"cannot start Spark ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}); "
                "Spark needs Java 17 (JAVA_HOME) and a reachable master"
            ) from exc
        return ibis.pyspark.connect(session)
    raise ValueError(f"unknown engine {engine!r}: expected 'duckdb' or 'spark'")


def _contract_columns(name: str, frame_columns: list[str]) -> list[str]:
    """The contract columns present, then (customers only) the customer's own attributes."""
    own = [c for c in frame_columns if c not in CONTRACT[name]] if name == "customers" else []
    return [c for c in CONTRACT[name] if c in frame_columns] + own


def register_frame(frame: Any, name: str, con: BaseBackend) -> ir.Table:
    """An Ibis table of the contract columns of a pandas frame, usable on ``con``.

    Frames go through Arrow, so missing values stay null (never the text "NaN"). On DuckDB
    the table is an in-memory table; on PySpark a temporary view made with
    ``createDataFrame(arrow_table)``.
    """
    return register_arrow(contract_arrow(frame, name), name, con)


def contract_arrow(frame: Any, name: str) -> pa.Table:
    """The contract columns of a pandas frame (and a customers table's own attributes) as
    Arrow, all-null columns typed by the contract."""
    import pyarrow as pa

    cols = _contract_columns(name, list(frame.columns))
    arrow = pa.Table.from_pandas(frame[cols], preserve_index=False)
    # all-null optional columns arrive as arrow "null" type; give them their contract type
    fields = []
    for col in cols:
        field = arrow.schema.field(col)
        if pa.types.is_null(field.type):  # an own attribute with no value: text
            known = CONTRACT[name].get(col)
            field = pa.field(col, arrow_type(known[1]) if known else pa.string())
        fields.append(field)
    return arrow.cast(pa.schema(fields))


def register_arrow(arrow: pa.Table, name: str, con: BaseBackend) -> ir.Table:
    """An Ibis table of an Arrow table on ``con``: an in-memory table on DuckDB, a temporary
    view made with ``createDataFrame`` on PySpark (large strings become strings for it)."""
    import ibis
    import pyarrow as pa

    if con.name == "pyspark":
        schema = pa.schema(
            pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f
            for f in arrow.schema
        )
        view = ibis.util.gen_name(f"churnclv_{name}")
        con._session.createDataFrame(arrow.cast(schema)).createOrReplaceTempView(view)
        return con.table(view)
    return ibis.memtable(arrow)


def arrow_type(dtype: str) -> Any:
    """The Arrow type of a contract dtype."""
    import pyarrow as pa

    return {
        "str": pa.string(),
        "float64": pa.float64(),
        "boolean": pa.bool_(),
        "datetime64[us]": pa.timestamp("us"),
    }[dtype]


def to_ibis(tables: InputTables | IbisTables, con: BaseBackend | None = None) -> IbisTables:
    """Make Ibis tables from the contract tables.

    ``tables`` holds pandas frames (registered as in-memory tables on ``con``, by default a new
    DuckDB connection; on PySpark they become temporary views) or Ibis tables already bound to
    a backend (used as they are; ``con`` defaults to their backend). An :class:`IbisTables`
    is returned unchanged.
    """
    import ibis.expr.types as ir
    from ibis.common.exceptions import IbisError

    if isinstance(tables, IbisTables):
        if con is not None and con is not tables.con:
            raise ValueError("these Ibis tables live on another backend than the one given")
        return tables
    frames = {name: getattr(tables, name) for name in TABLE_NAMES}
    if frames["transactions"] is None:
        raise ValueError("the transactions table is required")
    if con is None:
        for frame in frames.values():
            if isinstance(frame, ir.Table):
                try:
                    con = frame.get_backend()
                except IbisError:  # an unbound memtable
                    continue
                break
    if con is None:
        con = default_backend()
    out: dict[str, ir.Table | None] = {}
    for name, frame in frames.items():
        if frame is None or isinstance(frame, ir.Table):
            out[name] = frame
        else:
            out[name] = register_frame(frame, name, con)
    return IbisTables(con=con, **out)


def parquet_source(con: BaseBackend, path: str | Path) -> str:
    """What ``con.read_parquet`` reads for a Parquet file or folder (DuckDB: every file under
    the folder; Spark reads a folder as it is)."""
    p = Path(path)
    if p.is_dir() and con.name == "duckdb":
        return str(p / "**" / "*.parquet")
    return str(p)


def tables_from_parquet(
    transactions: str | Path,
    events: str | Path | None = None,
    customers: str | Path | None = None,
    con: BaseBackend | None = None,
) -> IbisTables:
    """Ibis tables reading Parquet files or directories (already in contract form) lazily."""
    import ibis

    con = con or default_backend()
    paths = {"transactions": transactions, "events": events, "customers": customers}
    out = {}
    for name, path in paths.items():
        if path is None:
            out[name] = None
            continue
        out[name] = con.read_parquet(
            parquet_source(con, path), table_name=ibis.util.gen_name(f"churnclv_{name}")
        )
    return IbisTables(con=con, **out)


def materialize(con: BaseBackend, expr: ir.Table, name: str) -> ir.Table:
    """Compute ``expr`` once and keep the result on the engine for the connection's life: a
    temporary table on DuckDB, a persisted (memory, then disk) temporary view on Spark."""
    import ibis

    table_name = ibis.util.gen_name(f"churnclv_{name}")
    if con.name == "pyspark":
        from pyspark import StorageLevel

        frame = to_spark_frame(con, expr).persist(StorageLevel.MEMORY_AND_DISK)
        frame.createOrReplaceTempView(table_name)
        return con.table(table_name)
    return con.create_table(table_name, expr, temp=True)


def narrow(
    con: BaseBackend,
    expr: ir.Table,
    name: str,
    source: ir.Table,
    into: ir.Table | None = None,
    then: tuple[str, ...] = (),
) -> ir.Table:
    """``expr`` (a part of the materialized ``source``) kept on its own in place of
    ``source``: on DuckDB a temporary table in customer id order (then by ``then``: the source
    order within a customer, so the rows come back the same each time), ``source`` dropped, so later
    passes read (and the buffer manager holds or spills) only that part, and a pass over a
    range of customers (:func:`features.build.in_range`) reads only the row groups that hold
    them (DuckDB skips the others by their min/max ids) instead of the whole table. ``into``:
    a table made by an earlier call, for the next part of an input split by customer id
    (:func:`customer_parts`): ``expr``'s rows are appended to it. On Spark ``expr`` as it is:
    its cache is filled lazily, and unpersisting ``source`` first would parse the input again."""
    if con.name != "duckdb":
        return expr
    ordered = expr.order_by("customer_id", *then)
    if into is None:
        kept = materialize(con, ordered, name)
    else:
        con.insert(into.op().name, ordered)
        kept = into
    con.raw_sql(f'DROP TABLE IF EXISTS "{source.op().name}"')
    return kept


SPLIT_ROWS = 40_000_000
"""Input tables longer than this are checked in parts on DuckDB (see :func:`customer_parts`);
shorter ones at once, which is faster than writing parts (1M demo customers, 39.8M event
rows: 22 s at once, 30 s in 3 parts)."""
PART_ROWS = 10_000_000
"""Rows of one part: small enough that checking it stays in DuckDB's memory (a 4GB limit).
10M demo customers' 141M transactions: 148 s in 15 parts against 188 s in 4 parts of 35M,
which spilled while checking (`bench/RESULTS.md`, scale at stop 33)."""
SAMPLE_IDS = 1_000_000
"""Customer ids sampled to cut a large table into parts of about equal size."""


@dataclass
class IdSample:
    """Customer ids sampled (sorted) from the first table of a load cut into parts, reused to
    cut the later ones: every table's rows follow its customers, so the same quantiles split
    them about evenly, and the events need no second pass of their own (10M demo customers:
    20 s for the sample of 398M event rows)."""

    ids: pa.Array | None = None


@contextlib.contextmanager
def customer_parts(
    con: BaseBackend, expr: ir.Table, rows: int, key: ir.Value, sample: IdSample | None = None
) -> Iterator[list[ir.Table]]:
    """``expr`` (an input table, ``rows`` long) as parts by customer id ``key`` (an expression
    of ``expr``: the id as the contract will read it), in id order, of about
    :data:`PART_ROWS` rows each (a table of :data:`SPLIT_ROWS` rows or fewer is one part),
    written by one pass as Parquet files into a folder beside
    DuckDB's temporary files, deleted on leaving. Not each part read from ``expr`` with a
    filter: checking a part reads its input several times, each then a pass over the whole
    source (10M demo customers, transactions in 4 parts: ``churnclv score`` about 1,300 s in
    two runs, against 865-912 s with part files). Checking a part (duplicates, rules, sort) then
    fits in DuckDB's memory instead of spilling the whole table's worth to disk, so tens of
    millions of customers fit the disk. Every row of a customer is in the same part, so an
    exact duplicate meets its twin. The cuts are quantiles of a sample of ``expr``'s ids, or of
    ``sample``'s when it holds one (else it keeps this one). Smaller tables, and Spark, get
    ``[expr]``."""
    n = -(-rows // PART_ROWS)
    if con.name != "duckdb" or rows <= SPLIT_ROWS or n <= 1:
        yield [expr]
        return
    import shutil
    import tempfile

    import pyarrow.compute as pc

    sample = IdSample() if sample is None else sample
    if sample.ids is None:
        # the rows drawn first, then their keys: not every row's key computed (10M demo
        # customers' transactions: 2.9 s against 8.0 s)
        drawn = expr.sample(min(1.0, SAMPLE_IDS / rows), seed=0).select(key=key)
        drawn = pc.drop_null(fetch(con, drawn)["key"])
        sample.ids = pc.take(drawn, pc.sort_indices(drawn))
    ids = sample.ids
    cuts = sorted({ids[len(ids) * i // n].as_py() for i in range(1, n)} if len(ids) else set())
    part = _part_of(key, cuts, 0, len(cuts))
    temp = Path(con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0] or ".tmp")
    temp.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="churnclv_parts_", dir=temp))
    try:
        sql = con.compile(expr.mutate(__part=part))
        target = str(folder).replace("'", "''")
        con.raw_sql(f"COPY ({sql}) TO '{target}' (FORMAT parquet, PARTITION_BY (__part))")
        yield [
            con.read_parquet(str(path / "*.parquet"), hive_partitioning=False)
            for i in range(len(cuts) + 1)
            if (path := folder / f"__part={i}").is_dir()
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _part_of(key: ir.Value, cuts: list[Any], low: int, high: int) -> ir.IntegerValue:
    """The part of ``key`` among the parts ``low`` to ``high`` (``cuts[i]`` is the first id of
    part ``i + 1``; a null key: the last part): a binary search, so each row makes about
    log2(parts) comparisons instead of one per cut."""
    import ibis

    if low == high:
        return ibis.literal(low, "int32")
    mid = (low + high) // 2
    return ibis.ifelse(
        key < cuts[mid], _part_of(key, cuts, low, mid), _part_of(key, cuts, mid + 1, high)
    )


def fetch(con: BaseBackend, expr: ir.Table) -> pa.Table:
    """Execute an expression on its backend and return a pyarrow table."""
    return con.to_pyarrow(expr)


def to_spark_frame(con: BaseBackend, expr: ir.Table) -> Any:
    """The expression as a lazy ``pyspark.sql.DataFrame`` on a PySpark backend (nothing runs)."""
    if con.name != "pyspark":
        raise ValueError(f"to_spark_frame needs the PySpark backend, not {con.name}")
    con._run_pre_execute_hooks(expr)
    return con._session.sql(con.compile(expr))
