"""The input contract's rules, written once as Ibis expressions run where the data is.

Given a source read by :mod:`features.sources` (its columns plus ``__row``/``__file``):

* the user's column names are mapped onto the contract's (:func:`plan_columns`); an unknown
  mapping or a missing required column is a :class:`ContractError` naming file and column;
* exact duplicate rows are dropped (the first in the source is kept) and counted;
* every value is parsed into its contract type: text stripped of surrounding spaces (empty is
  missing, ids
  stored as floats lose their ``.0``); dates and times in ISO 8601 (``2024-01-05``,
  ``2024-01-05T10:00:00+02:00``; a time with an offset becomes UTC) or the configured
  ``timestamp_format``; numbers; booleans from true/false, yes/no, 1/0 and t/f, y/n;
* a row that cannot be used gets one reason, the first that applies (missing id, unparseable
  or missing time, a time later than the run itself or before ``data.earliest_date``, non-numeric, non-finite or out-of-range
  amount, unreadable boolean, missing event type, duplicate customer; for subscriptions a
  missing subscription id, an unparseable end or cancel date, an end or cancel before the
  start, a billing period not above 0, a negative price, a repeated start of one subscription);
  negative amounts are
  returns and rows after the cutoff are valid data, so both are kept;
* of several usable rows of one customer in the customers table (of one subscription with the
  same start date in the subscriptions table) the first in the source is kept
  (file order, then row order); a source without row order (a Spark view) keeps the earliest
  signup.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from typing import TYPE_CHECKING, Any

import pandas as pd

from core.settings import EARLIEST_DATE, TableSource
from features.contract import (
    CONTRACT,
    MAX_ABS_VALUE,
    TIME_COLUMN,
    ContractError,
    non_numeric,
    out_of_range,
)
from features.sources import FILE, ROW

if TYPE_CHECKING:
    import ibis.expr.types as ir

TRUE_TEXTS = ("1", "1.0", "t", "true", "y", "yes")
FALSE_TEXTS = ("0", "0.0", "f", "false", "n", "no")
RAW = "__raw_"
"""Prefix of the source's own values kept beside the parsed ones, for the rejects file."""


def plan_columns(
    columns: list[str], src: TableSource, table: str, source: str
) -> tuple[dict[str, str], list[str]]:
    """Map a source's columns onto the contract: ``(user name -> contract name, columns kept)``.

    Kept: the contract columns found, plus (customers only) the extra attributes. Raises
    ContractError naming the file for an unknown mapping or a missing required column.
    """
    spec = CONTRACT[table]
    unknown = set(src.columns) - set(spec)
    if unknown:
        raise ContractError(
            f"{source}: config maps unknown contract column(s) {sorted(unknown)} for table "
            f"'{table}'; contract columns are {list(spec)}"
        )
    rename = {}
    for canonical in spec:
        user = src.columns.get(canonical, canonical)
        if user in columns:
            rename[user] = canonical
        elif spec[canonical][0]:
            hint = f" (contract column '{canonical}')" if user != canonical else ""
            raise ContractError(
                f"{source}: required column '{user}'{hint} is missing from table "
                f"'{table}'; columns found: {list(columns)}"
            )
    extra = [c for c in columns if c not in rename and c not in spec and c not in (ROW, FILE)]
    # customers may carry extra attributes; other tables keep only contract columns
    keep = [c for c in spec if c in rename.values()] + (extra if table == "customers" else [])
    return rename, keep


def map_table(raw: ir.Table, src: TableSource, table: str, source: str) -> ir.Table:
    """The source's columns renamed to the contract's, with ``__row`` (and ``__file``)."""
    rename, keep = plan_columns(list(raw.columns), src, table, source)
    place = [c for c in (ROW, FILE) if c in raw.columns]
    return raw.rename({canonical: user for user, canonical in rename.items()}).select(*keep, *place)


def drop_duplicates(mapped: ir.Table) -> ir.Table:
    """Exact duplicate rows collapsed to the first in the source (lowest ``__row``)."""
    data = [c for c in mapped.columns if c not in (ROW, FILE)]
    place: dict[str, ir.Value] = {ROW: mapped[ROW].min()}
    if FILE in mapped.columns:  # the file of that same row
        place[FILE] = mapped[FILE].argmin(mapped[ROW])
    return mapped.group_by(data).aggregate(**place)


def clean_text(value: ir.Value) -> ir.StringValue:
    """Text with surrounding spaces removed; empty -> null; integral floats without '.0'."""
    import ibis

    if value.type().is_floating():
        value = ibis.ifelse(
            value == value.floor(), value.cast("int64").cast("string"), value.cast("string")
        )
    return _trim_spaces(value.cast("string")).nullif("")


def _trim_spaces(text: ir.StringValue) -> ir.StringValue:
    """SQL's one-argument ``trim`` (spaces, on DuckDB and Spark alike): Ibis' ``strip()``
    also removes tabs and newlines, which DuckDB does at a third of the speed."""
    return _builtin("trim", 1, "string")(text)


def _try_strptime(text: ir.StringValue, fmt: str, engine: str) -> ir.TimestampValue:
    """``text`` parsed with a strftime ``fmt``, null where it does not match (never an error:
    Ibis' ``as_timestamp`` raises on DuckDB and, in ANSI mode, on Spark)."""
    if engine == "pyspark":
        from sqlglot.dialects.spark import Spark
        from sqlglot.time import format_time

        java = format_time(fmt, Spark.INVERSE_TIME_MAPPING, Spark.INVERSE_TIME_TRIE)
        return _builtin("try_to_timestamp", 2, "timestamp")(text, java)
    return _builtin("try_strptime", 2, "timestamp")(text, fmt)


@functools.cache
def _builtin(name: str, n_text_args: int, returns: str) -> Any:
    """An engine's own SQL function taking text arguments, callable on Ibis expressions."""
    import ibis
    import ibis.expr.datatypes as dt

    def function(*args):  # type: ignore[no-untyped-def]  # noqa: ANN002, ANN202
        """Declared for Ibis, never called in Python."""

    names = [f"arg{i}" for i in range(n_text_args)]
    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    )
    # real types, not the strings `from __future__ import annotations` would leave
    function.__annotations__ = {**dict.fromkeys(names, dt.string), "return": dt.dtype(returns)}
    return ibis.udf.scalar.builtin(function, name=name)


def _time(value: ir.Value, fmt: str | None, engine: str) -> ir.TimestampValue:
    """A naive UTC timestamp (the engines' sessions run in UTC, see features.engine)."""
    import ibis

    if value.type().is_timestamp() or value.type().is_date():
        return value.cast("timestamp")
    text = clean_text(value)
    if fmt:
        return _try_strptime(text, fmt, engine)
    iso = text.try_cast("timestamp('UTC')").cast("timestamp")  # offsets honoured
    basic = _try_strptime(text, "%Y%m%d", engine)  # ISO 8601 basic form, 20240105
    return ibis.ifelse(text.re_search(r"^\d{8}$"), basic, iso)


COMMON_FORMATS = tuple(
    day + time
    for day in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%d/%m/%y", "%m/%d/%y")
    for time in ("", " %H:%M", " %H:%M:%S")
)
"""Date layouts tried on unparseable timestamps to suggest a ``timestamp_format``."""


def guess_timestamp_format(values: list[str]) -> str | None:
    """The first of :data:`COMMON_FORMATS` that reads every one of ``values``; day/month is
    tried before month/day, so '03/04/2026' alone suggests day first (ambiguous; the hint says
    which values it was tried on)."""
    texts = [v.strip() for v in values if v and v.strip()]
    for fmt in COMMON_FORMATS if texts else ():
        try:
            for text in texts:
                dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return fmt
    return None


def clean_number(value: ir.Value) -> ir.FloatingValue:
    if value.type().is_numeric() and not value.type().is_boolean():
        return value.cast("float64")
    return clean_text(value).try_cast("float64")


def _first_reason(checks: list[tuple[ir.BooleanValue, Any]]) -> ir.StringValue:
    """The reason of the first true check (a text or a text expression), else null."""
    import ibis

    return ibis.cases(*[(cond.fill_null(False), why) for cond, why in checks], else_=None).cast(
        "string"
    )


def check_table(
    mapped: ir.Table,
    src: TableSource,
    table: str,
    as_of: pd.Timestamp,
    engine: str,
    earliest: dt.date = EARLIEST_DATE,
) -> ir.Table:
    """Parse and check one de-duplicated table: the contract columns in canonical types,
    ``reason`` (null for a usable row), ``__row``/``__file`` and the raw values (``__raw_*``).

    ``engine`` is the connection's name (``duckdb`` or ``pyspark``), for the one function
    the two spell differently.
    """
    import ibis

    spec = CONTRACT[table]
    time_col = TIME_COLUMN[table]
    data = [c for c in mapped.columns if c not in (ROW, FILE)]
    values: dict[str, ir.Value] = {}
    checks: list[tuple[ir.BooleanValue, Any]] = []
    for col, (_required, dtype, _meaning) in spec.items():
        if col not in mapped.columns:
            ibis_type = {"str": "string", "float64": "float64", "boolean": "boolean"}
            values[col] = ibis.null(ibis_type.get(dtype, "timestamp"))
            continue
        raw_col = mapped[col]
        if dtype == "str":
            values[col] = clean_text(raw_col)
        elif dtype.startswith("datetime"):
            values[col] = _time(raw_col, src.timestamp_format, engine)
        elif dtype == "float64":
            values[col] = clean_number(raw_col)
        elif dtype == "boolean":
            if raw_col.type().is_boolean():
                values[col] = raw_col
            else:
                text = clean_text(raw_col).lower()
                values[col] = ibis.cases(
                    (text.isin(TRUE_TEXTS), True),
                    (text.isin(FALSE_TEXTS), False),
                    else_=ibis.null("boolean"),
                )
                bad = text.notnull() & ~text.isin(TRUE_TEXTS + FALSE_TEXTS)
                checks.append((bad, "unreadable " + col + ": '" + clean_text(raw_col) + "'"))
    checks.append((values["customer_id"].isnull(), "missing customer_id"))
    raw_time = mapped[time_col]
    if raw_time.type().is_string():
        checks.append((clean_text(raw_time).isnull(), f"missing {time_col}"))
        checks.append(
            (
                values[time_col].isnull(),
                "unparseable " + time_col + ": '" + clean_text(raw_time) + "'",
            )
        )
    else:
        checks.append((values[time_col].isnull(), f"missing {time_col}"))
    checks.append(
        (
            values[time_col] > as_of.to_pydatetime(),
            f"{time_col} in the future of the run ({as_of:%Y-%m-%d %H:%M})",
        )
    )
    checks.append(
        (
            values[time_col] < dt.datetime.combine(earliest, dt.time()),
            f"{time_col} before {earliest} (data.earliest_date)",
        )
    )
    for col in (c for c, v in spec.items() if v[1] == "float64" and c in mapped.columns):
        value = values[col]
        text = None if mapped[col].type().is_numeric() else clean_text(mapped[col])
        if spec[col][0]:
            missing = value.isnull() if text is None else value.isnull() & text.isnull()
            checks.append((missing, f"missing {col}"))
        if text is not None:
            checks.append((text.notnull() & value.isnull(), non_numeric(col, text)))
        # x - x is NaN exactly for NaN and +-inf; Ibis 12 compiles isinf() to FALSE on PySpark
        checks.append(((value - value).isnan(), f"non-finite {col}"))
        checks.append((value.abs() > MAX_ABS_VALUE, out_of_range(col)))
    if table == "events":
        values["event_type"] = values["event_type"].lower()
        checks.append((values["event_type"].isnull(), "missing event_type"))
    if table == "subscriptions":
        checks += _subscription_checks(mapped, values)
    extras = {c: mapped[c] for c in data if c not in spec}  # customers' own attributes
    place = {c: mapped[c] for c in (ROW, FILE) if c in mapped.columns}
    parsed = mapped.select(
        **{RAW + c: mapped[c] for c in data},
        **values,
        **extras,
        **place,
        reason=_first_reason(checks),
    )
    if table == "customers":
        parsed = _reject_repeated(parsed, data, ("customer_id",), "signup_date")
    elif table == "subscriptions":
        keys = ("customer_id", "subscription_id", "start_date")
        parsed = _reject_repeated(parsed, data, keys, "start_date")
    # the raw values are kept for rejected rows only (for the rejects file): less to store
    return parsed.mutate(
        **{RAW + c: ibis.ifelse(parsed.reason.isnull(), ibis.null(), parsed[RAW + c]) for c in data}
    )


def _subscription_checks(
    mapped: ir.Table, values: dict[str, ir.Value]
) -> list[tuple[ir.BooleanValue, Any]]:
    """The subscriptions table's own rules, after the shared ones (id, start date, numbers)."""
    checks: list[tuple[ir.BooleanValue, Any]] = [
        (values["subscription_id"].isnull(), "missing subscription_id")
    ]
    for col in ("end_date", "cancel_date"):
        if col in mapped.columns and not (
            mapped[col].type().is_timestamp() or mapped[col].type().is_date()
        ):
            text = clean_text(mapped[col])
            checks.append(
                (text.notnull() & values[col].isnull(), "unparseable " + col + ": '" + text + "'")
            )
    start = values["start_date"]
    checks.append((values["end_date"] < start, "end_date before start_date"))
    checks.append((values["cancel_date"] < start, "cancel_date before start_date"))
    checks.append((values["billing_period_days"] <= 0, "billing_period_days not positive"))
    checks.append((values["price"] < 0, "negative price"))
    return checks


def _reject_repeated(
    parsed: ir.Table, data: list[str], keys: tuple[str, ...], time_col: str
) -> ir.Table:
    """Of several usable rows with the same ``keys`` (a customer in the customers table; a
    subscription's start in the subscriptions table), all but the first in the source are
    rejected."""
    import ibis

    usable = parsed.reason.isnull()
    order = [parsed[c] for c in (FILE, ROW) if c in parsed.columns]
    # without row order (null __row) the earliest time, then the raw values, decide
    order += [parsed[time_col], *[parsed[RAW + c].cast("string") for c in data]]
    rank = ibis.row_number().over(group_by=[*[parsed[k] for k in keys], usable], order_by=order)
    named = " and ".join(k for k in keys if k != "customer_id") or "customer_id"
    return parsed.mutate(
        reason=ibis.ifelse(
            usable & parsed.customer_id.notnull() & (rank > 0),
            f"duplicate {named} (first row kept)",
            parsed.reason,
        )
    )


def clean_rows(parsed: ir.Table, table: str) -> ir.Table:
    """The usable rows: contract columns (and a customer's own attributes) in canonical types,
    then ``__row`` (and ``__file``), the source order."""
    spec = list(CONTRACT[table])
    extras = [c for c in parsed.columns if c not in spec and not _internal(c)]
    place = [c for c in (ROW, FILE) if c in parsed.columns]
    return parsed.filter(parsed.reason.isnull()).select(*spec, *extras, *place)


def rejected_rows(parsed: ir.Table) -> ir.Table:
    """The unusable rows: ``reason``, ``__row``/``__file`` and the raw values as text."""
    raw = [c for c in parsed.columns if c.startswith(RAW)]
    place = [c for c in (ROW, FILE) if c in parsed.columns]
    rejected = parsed.filter(parsed.reason.notnull())
    return rejected.select(
        "reason",
        *place,
        **{c.removeprefix(RAW): rejected[c].cast("string") for c in raw},
    ).order_by(*place)


def _internal(column: str) -> bool:
    return column in ("reason", ROW, FILE) or column.startswith(RAW)
