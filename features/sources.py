"""Find the input tables and read each onto the engine, every row numbered.

Finding (:func:`resolve_sources`): explicit paths of the config first, then ``data.dir``
(``transactions.parquet``, ``transactions.csv``, ``transactions.csv.gz``, a ``transactions/``
Parquet folder, or a ``*.duckdb`` file holding a ``transactions`` table).

Reading (:func:`read_source`): every source becomes an Ibis table on the engine's connection
with its own columns, plus ``__row`` (the 1-based data row in its file) and, for a folder of
Parquet files, ``__file`` (the file the row came from), so a rejected row can be found again:

* Parquet file or folder (Hive-partitioned or not): the engine's own reader (DuckDB
  ``read_parquet(file_row_number)``, Spark's ``_metadata.row_index``); nothing passes through
  this process;
* CSV (``.csv``, ``.csv.gz``): pyarrow's CSV reader, every column as text (so ``00042`` and
  dates are not mangled), handed to the engine as Arrow. Not DuckDB's CSV reader: it cannot
  number rows (``file_row_number`` is Parquet-only) and its parallel scan has no row order;
* a DuckDB file: read by DuckDB into Arrow with the table's ``rowid``, handed to the engine;
* ``format: table``: a table of the engine's catalog; numbered where the engine knows the
  order (file-backed Spark tables, DuckDB base tables), else ``__row`` is null.

Everything after reading (mapping columns, the reject rules) is :mod:`features.cleaning`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import TABLE_NAMES, DataSettings, TableSource
from features.contract import ContractError
from features.engine import parquet_source, register_arrow

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

SUFFIX_FORMAT = {
    ".csv": "csv",
    ".gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".duckdb": "duckdb",
    ".db": "duckdb",
}
ROW = "__row"
"""Column every reader adds: the 1-based data row of the source file (null when unknown)."""
FILE = "__file"
"""Column added for a folder of Parquet files: the file of the row."""


def resolve_sources(data: DataSettings) -> dict[str, TableSource]:
    """Return the source of each table that exists: explicit paths first, then ``data.dir``.

    Raises ContractError when no transactions source can be found.
    """
    found: dict[str, TableSource] = {}
    for name in TABLE_NAMES:
        src: TableSource = getattr(data, name)
        if src.format == "table" or src.path is not None:
            found[name] = src
            continue
        if data.dir is None:
            continue
        hit = _find_in_dir(Path(data.dir), name)
        if hit is not None:
            found[name] = src.model_copy(update={"path": hit})
    if "transactions" not in found:
        where = f"in {data.dir}" if data.dir else "(no data.dir or data.transactions.path set)"
        raise ContractError(
            f"no transactions table found {where}: expected transactions.csv, "
            "transactions.parquet, a transactions/ Parquet folder or a DuckDB file with a "
            "'transactions' table"
        )
    return found


def _find_in_dir(folder: Path, name: str) -> Path | None:
    if not folder.is_dir():
        raise ContractError(f"data folder {folder} does not exist")
    for candidate in (
        folder / f"{name}.parquet",
        folder / f"{name}.csv",
        folder / f"{name}.csv.gz",
        folder / name,
    ):
        if candidate.exists():
            return candidate
    for db in sorted(folder.glob("*.duckdb")):
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            tables = {
                r[0]
                for r in con.execute("select table_name from information_schema.tables").fetchall()
            }
        if name in tables:
            return db
    return None


def source_format(src: TableSource) -> str:
    """``csv``, ``parquet``, ``duckdb`` or ``table``: the configured format or the suffix's."""
    if src.format != "auto":
        return src.format
    assert src.path is not None
    path = Path(src.path)
    if path.is_dir():
        return "parquet"
    fmt = SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise ContractError(
            f"{path}: cannot tell the file format from the suffix '{path.suffix}'; "
            "use .csv, .parquet or .duckdb, or set format in the config"
        )
    return fmt


def source_label(src: TableSource, table: str) -> str:
    """How messages and the rejects file name a source: its path, or ``table <name>``."""
    return f"table {src.table or table}" if source_format(src) == "table" else str(src.path)


def read_source(src: TableSource, table: str, con: BaseBackend) -> ir.Table:
    """The raw source as an Ibis table on ``con``, with ``__row`` (and ``__file`` for folders).

    A missing or unreadable file is a :class:`ContractError` naming it.
    """
    fmt = source_format(src)
    if fmt == "table":
        return _read_catalog_table(src.table or table, con)
    path = Path(src.path)  # type: ignore[arg-type]
    if not path.exists():
        raise ContractError(f"{path}: file not found (table '{table}')")
    try:
        if fmt == "parquet":
            return _read_parquet(path, con)
        arrow = (
            _read_csv(path, src.csv_delimiter) if fmt == "csv" else _read_duckdb(path, src, table)
        )
    except ContractError:
        raise
    except Exception as exc:  # any reader failure is the same user error: unreadable file
        raise ContractError(f"{path}: cannot read as {fmt} ({type(exc).__name__}: {exc})") from exc
    return register_arrow(arrow, f"raw_{table}", con)


def _numbered(arrow: pa.Table) -> pa.Table:
    import pyarrow as pa

    return arrow.append_column(ROW, pa.array(range(1, arrow.num_rows + 1), pa.int64()))


def _read_csv(path: Path, delimiter: str) -> pa.Table:
    """Every column as text, empty fields as null, header names stripped of blanks."""
    import pyarrow as pa
    from pyarrow import csv

    parse = csv.ParseOptions(delimiter=delimiter)
    with csv.open_csv(path, parse_options=parse) as reader:  # header only, for the names
        names = reader.schema.names
    convert = csv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=[""],
        strings_can_be_null=True,
    )
    arrow = csv.read_csv(path, parse_options=parse, convert_options=convert)
    return _numbered(arrow.rename_columns([n.strip() for n in names]))


def _read_duckdb(path: Path, src: TableSource, table: str) -> pa.Table:
    import duckdb

    name = ".".join(f'"{part}"' for part in (src.table or table).split("."))
    with duckdb.connect(str(path), read_only=True) as db:
        return db.sql(f"select *, rowid + 1 as {ROW} from {name} order by rowid").to_arrow_table()


def _read_parquet(path: Path, con: BaseBackend) -> ir.Table:
    import ibis

    folder = path.is_dir()
    if con.name == "pyspark":
        from pyspark.sql import functions as F

        frame = con._session.read.parquet(str(path))
        extra = [(F.col("_metadata.row_index") + 1).alias(ROW)]
        if folder:
            extra.append(F.col("_metadata.file_path").alias(FILE))
        return _spark_view(frame.select("*", *extra), "raw", con)
    raw = con.read_parquet(
        parquet_source(con, path),
        table_name=ibis.util.gen_name("churnclv_raw"),
        file_row_number=True,
        filename=folder,
        hive_partitioning=folder,
    )
    named = {ROW: raw.file_row_number + 1}
    if folder:
        named[FILE] = raw.filename
    return raw.mutate(**named).drop(
        *(c for c in ("file_row_number", "filename") if c in raw.columns)
    )


def _read_catalog_table(name: str, con: BaseBackend) -> ir.Table:
    import ibis

    database, _, short = name.rpartition(".")
    try:
        table = con.table(short, database=database or None)
    except Exception as exc:  # the backends raise different errors for a missing table
        hint = "" if con.name == "pyspark" else "; to read a Spark catalog table set engine: spark"
        raise ContractError(
            f"table '{name}' not found in the {con.name} catalog "
            f"({type(exc).__name__}: {str(exc).splitlines()[0]}){hint}"
        ) from exc
    if con.name == "pyspark":
        from pyspark.sql import functions as F

        frame = con._session.table(name)
        try:  # file-backed tables know each row's place in its file
            numbered = frame.select(
                "*",
                (F.col("_metadata.row_index") + 1).alias(ROW),
                F.col("_metadata.file_path").alias(FILE),
            )
        except Exception:  # a view or an in-memory table has no file order
            return table.mutate(**{ROW: ibis.null("int64")})
        return _spark_view(numbered, "raw", con)
    try:
        quoted = ".".join(f'"{part}"' for part in name.split("."))
        return con.sql(f"select *, rowid + 1 as {ROW} from {quoted}")
    except Exception:  # a view has no rowid
        return table.mutate(**{ROW: ibis.null("int64")})


def _spark_view(frame: object, name: str, con: BaseBackend) -> ir.Table:
    import ibis

    view = ibis.util.gen_name(f"churnclv_{name}")
    frame.createOrReplaceTempView(view)  # type: ignore[attr-defined]
    return con.table(view)
