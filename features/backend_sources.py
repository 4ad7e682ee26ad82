"""Read the input tables on the engine itself (Spark or DuckDB), for data too big for pandas.

Typed sources stay on the backend and are cleaned there, lazily:

* ``format: parquet`` (a file, or a directory of files, Hive-partitioned or not);
* ``format: table``: a table in the engine's catalog (``table: sales.transactions`` on Spark,
  a table of the DuckDB connection on DuckDB).

CSV and DuckDB-file sources go through the pandas loader (:mod:`features.sources`) and are then
registered on the backend, so every source gets the same rules.

The rules are those of :mod:`features.sources`, written as Ibis expressions: the same reason
texts, first reason wins, exact duplicate rows are dropped and counted, and the rejects go to
the same rejects file. Differences, because a distributed table has no row order: ``row`` is
empty in the rejects, and of several usable rows of one customer in the customers table the
one with the earliest ``signup_date`` is kept (the pandas loader keeps the first in the file).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.settings import TABLE_NAMES, DataSettings, TableSource
from features.contract import CONTRACT, MAX_ABS_VALUE, TIME_COLUMN, InputTables
from features.engine import IbisTables, fetch, register_frame
from features.sources import (
    FALSE_TEXTS,
    REJECT_COLUMNS,
    TRUE_TEXTS,
    ContractError,
    LoadResult,
    TableReport,
    load_each,
    load_table,
    plan_columns,
    source_format,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

BACKEND_FORMATS = ("parquet", "table")
"""Source formats read by the backend itself; the others go through the pandas loader."""


def read_source(src: TableSource, table: str, con: BaseBackend) -> ir.Table:
    """The raw source as an Ibis table on ``con`` (Parquet file/directory or catalog table)."""
    import ibis

    fmt = source_format(src)
    if fmt == "table":
        name = src.table or table
        database, _, short = name.rpartition(".")
        try:
            return con.table(short, database=database or None)
        except Exception as exc:  # the backends raise different errors for a missing table
            raise ContractError(
                f"table '{name}' not found in the {con.name} catalog ({type(exc).__name__}: {exc})"
            ) from exc
    path = src.path
    if path is None or not path.exists():
        raise ContractError(f"{path}: file not found (table '{table}')")
    source = str(path)
    if path.is_dir() and con.name == "duckdb":
        return con.read_parquet(
            str(path / "**" / "*.parquet"),
            table_name=ibis.util.gen_name(f"churnclv_raw_{table}"),
            hive_partitioning=True,
        )
    try:
        return con.read_parquet(source, table_name=ibis.util.gen_name(f"churnclv_raw_{table}"))
    except Exception as exc:
        raise ContractError(
            f"{source}: cannot read as parquet ({type(exc).__name__}: {exc})"
        ) from exc


def _text(value: ir.Value) -> ir.StringValue:
    """Text with surrounding blanks removed; empty -> null; integral floats without '.0'."""
    import ibis

    if value.type().is_floating():
        value = ibis.ifelse(
            value == value.floor(), value.cast("int64").cast("string"), value.cast("string")
        )
    text = value.cast("string").strip()
    return ibis.ifelse(text == "", ibis.null("string"), text)


def _time(value: ir.Value, fmt: str | None) -> ir.TimestampValue:
    if value.type().is_timestamp():
        # tz-aware values become wall time in the session's time zone: UTC on the Spark
        # sessions churnclv opens (features.engine.make_backend)
        return value.cast("timestamp")
    if value.type().is_date():
        return value.cast("timestamp")
    text = _text(value)
    return text.as_timestamp(fmt) if fmt else text.try_cast("timestamp")


def _number(value: ir.Value) -> ir.FloatingValue:
    if value.type().is_numeric() and not value.type().is_boolean():
        return value.cast("float64")
    return _text(value).try_cast("float64")


def _first_reason(checks: list[tuple[ir.BooleanValue, Any]]) -> ir.StringValue:
    """The reason of the first true check (a text or a text expression), else null."""
    import ibis

    return ibis.cases(*[(cond.fill_null(False), why) for cond, why in checks], else_=None).cast(
        "string"
    )


def map_table(raw: ir.Table, src: TableSource, table: str, source: str) -> ir.Table:
    """The source's columns renamed to the contract's (:func:`features.sources.plan_columns`)."""
    rename, keep = plan_columns(list(raw.columns), src, table, source)
    return raw.rename({canonical: user for user, canonical in rename.items()}).select(keep)


def clean_table(
    mapped: ir.Table, src: TableSource, table: str, as_of: pd.Timestamp
) -> tuple[ir.Table, ir.Table]:
    """De-duplicate, parse and check one mapped table: ``(clean, rejected)`` expressions.

    ``rejected`` has the raw columns as text plus ``reason``; ``clean`` has the contract columns
    in canonical types, rows without a reason only.
    """
    import ibis

    mapped = mapped.distinct()
    spec = CONTRACT[table]
    time_col = TIME_COLUMN[table]
    values: dict[str, ir.Value] = {}
    checks: list[tuple[ir.BooleanValue, Any]] = []
    for col, (_required, dtype, _meaning) in spec.items():
        if col not in mapped.columns:
            ibis_type = {"str": "string", "float64": "float64", "boolean": "boolean"}
            values[col] = ibis.null(ibis_type.get(dtype, "timestamp"))
            continue
        raw_col = mapped[col]
        if dtype == "str":
            values[col] = _text(raw_col)
        elif dtype.startswith("datetime"):
            values[col] = _time(raw_col, src.timestamp_format)
        elif dtype == "float64":
            values[col] = _number(raw_col)
        elif dtype == "boolean":
            if raw_col.type().is_boolean():
                values[col] = raw_col
            else:
                text = _text(raw_col).lower()
                values[col] = ibis.cases(
                    (text.isin(sorted(TRUE_TEXTS)), True),
                    (text.isin(sorted(FALSE_TEXTS)), False),
                    else_=ibis.null("boolean"),
                )
                bad = text.notnull() & ~text.isin(sorted(TRUE_TEXTS | FALSE_TEXTS))
                checks.append((bad, "unreadable " + col + ": '" + _text(raw_col) + "'"))
    checks.append((values["customer_id"].isnull(), "missing customer_id"))
    raw_time = mapped[time_col]
    if raw_time.type().is_string():
        checks.append((_text(raw_time).isnull(), f"missing {time_col}"))
        checks.append(
            (values[time_col].isnull(), "unparseable " + time_col + ": '" + _text(raw_time) + "'")
        )
    else:
        checks.append((values[time_col].isnull(), f"missing {time_col}"))
    checks.append(
        (
            values[time_col] > as_of.to_pydatetime(),
            f"{time_col} in the future of the run ({as_of:%Y-%m-%d %H:%M})",
        )
    )
    for col in (c for c, v in spec.items() if v[1] == "float64" and c in mapped.columns):
        value = values[col]
        text = None if mapped[col].type().is_numeric() else _text(mapped[col])
        if spec[col][0]:
            missing = value.isnull() if text is None else value.isnull() & text.isnull()
            checks.append((missing, f"missing {col}"))
        if text is not None:
            checks.append(
                (text.notnull() & value.isnull(), "non-numeric " + col + ": '" + text + "'")
            )
        # x - x is NaN exactly for NaN and +-inf; Ibis 12 compiles isinf() to FALSE on PySpark
        checks.append(((value - value).isnan(), f"non-finite {col}"))
        checks.append(
            (value.abs() > MAX_ABS_VALUE, f"{col} out of range (beyond +-{MAX_ABS_VALUE:g})")
        )
    if table == "events":
        values["event_type"] = values["event_type"].lower()
        checks.append((values["event_type"].isnull(), "missing event_type"))
    reason = _first_reason(checks)
    raw_text = {c: mapped[c].cast("string") for c in mapped.columns}
    parsed = mapped.select(
        **{f"__raw_{c}": v for c, v in raw_text.items()}, **values, reason=reason
    )
    if table == "customers":
        # of several usable rows of one customer, the earliest signup is kept
        usable = parsed.reason.isnull()
        rank = ibis.row_number().over(
            group_by=[parsed.customer_id, usable],
            order_by=[parsed.signup_date, *[parsed[f"__raw_{c}"] for c in mapped.columns]],
        )
        parsed = parsed.mutate(
            reason=ibis.ifelse(
                usable & parsed.customer_id.notnull() & (rank > 0),
                "duplicate customer_id (first row kept)",
                parsed.reason,
            )
        )
    clean = parsed.filter(parsed.reason.isnull()).select(list(spec))
    rejected = parsed.filter(parsed.reason.notnull()).select(
        reason=parsed.reason, **{c: parsed[f"__raw_{c}"] for c in mapped.columns}
    )
    return clean, rejected


def _rejects_frame(rejected: pd.DataFrame, table: str, source: str) -> pd.DataFrame:
    records = rejected.drop(columns="reason")
    return pd.DataFrame(
        {
            "table": table,
            "source": source,
            "row": pd.array([None] * len(rejected), dtype="Int64"),
            "reason": rejected["reason"].astype("str").to_numpy(),
            "record": [
                json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in rec.items()})
                for rec in records.to_dict("records")
            ],
        },
        columns=REJECT_COLUMNS,
    )


def load_backend_table(
    src: TableSource, table: str, con: BaseBackend, as_of: pd.Timestamp
) -> tuple[ir.Table, pd.DataFrame, TableReport]:
    """Read and clean one Parquet/catalog table on ``con``: ``(clean expr, rejects, report)``.

    Counting runs three small queries (rows read, distinct rows, rejects); the clean table
    stays a lazy expression.
    """
    source = str(src.path) if source_format(src) != "table" else f"table {src.table or table}"
    mapped = map_table(read_source(src, table, con), src, table, source)
    clean, rejected = clean_table(mapped, src, table, as_of)
    report = TableReport(source=source, rows_read=int(con.execute(mapped.count())))
    distinct = int(con.execute(mapped.distinct().count()))
    report.duplicates_dropped = report.rows_read - distinct
    rejects = fetch(con, rejected).to_pandas()
    report.rejected = (
        {str(k): int(v) for k, v in rejects["reason"].str.split(":").str[0].value_counts().items()}
        if len(rejects)
        else {}
    )
    report.rows_kept = distinct - len(rejects)
    return clean, _rejects_frame(rejects, table, source), report


def load_tables_on(
    data: DataSettings, con: BaseBackend, as_of: dt.datetime | None = None
) -> LoadResult:
    """Load every available table onto ``con``; the result's ``tables`` are :class:`IbisTables`.

    Parquet and catalog sources are read and cleaned by the backend; CSV and DuckDB-file
    sources by the pandas loader, then registered on ``con``. Same rejects and report as
    :func:`features.sources.load_tables`.
    """

    def load_one(
        src: TableSource, name: str, now: pd.Timestamp
    ) -> tuple[ir.Table, pd.DataFrame, TableReport]:
        if source_format(src) in BACKEND_FORMATS:
            return load_backend_table(src, name, con, now)
        frame, rejects, report = load_table(src, name, now)
        return register_frame(frame, name, con), rejects, report

    tables, rejects, report = load_each(data, as_of, load_one, allow_tables=True)
    return LoadResult(tables=IbisTables(con=con, **tables), rejects=rejects, report=report)


def max_timestamp(tables: IbisTables) -> pd.Timestamp:
    """Last transaction timestamp of backend tables: the default cutoff."""
    return pd.Timestamp(tables.con.execute(tables.transactions.timestamp.max()))


def collect_tables(tables: IbisTables, columns: dict[str, list[str]] | None = None) -> InputTables:
    """Fetch backend tables into pandas :class:`InputTables` with the contract's dtypes.

    ``columns``: the columns needed per table (the others come back as nulls, tables not named
    as None), to move less data to this process. Only for data that fits in memory here (a
    training sample, a report's inputs).
    """
    frames: dict[str, pd.DataFrame | None] = dict.fromkeys(TABLE_NAMES)
    for name in tables.present:
        if columns is not None and name not in columns:
            continue
        table = getattr(tables, name)
        wanted = columns[name] if columns is not None else list(CONTRACT[name])
        frame = fetch(tables.con, table.select(wanted)).to_pandas()
        out = pd.DataFrame(index=frame.index)
        for col, (_required, dtype, _meaning) in CONTRACT[name].items():
            values = frame[col] if col in frame else pd.Series(None, index=frame.index)
            out[col] = values.astype(dtype)
        frames[name] = out
    return InputTables(**frames).validate()
