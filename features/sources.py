"""Read the input tables from CSV, Parquet or DuckDB and bring them into the contract.

Rules (also in README "Input data"):
- a missing file for a required table, an unreadable file or a missing required column is a
  :class:`ContractError` naming the file and the column;
- unusable rows (missing id, non-numeric or non-finite amount, unparseable date, a timestamp
  later than the run itself, ...) are set aside as rejects with one reason per row, counted;
- exact duplicate rows are counted and dropped;
- negative amounts are returns/refunds: kept, and netted against spend by the features;
- rows after the cutoff are valid data: the loader keeps them, features ignore them;
- customer ids are text: ``00042`` stays ``00042``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.settings import TABLE_NAMES, DataSettings, TableSource
from features.contract import CONTRACT, MAX_ABS_VALUE, InputTables

SUFFIX_FORMAT = {
    ".csv": "csv",
    ".gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".duckdb": "duckdb",
    ".db": "duckdb",
}
REJECT_COLUMNS = ["table", "source", "row", "reason", "record"]
TRUE_TEXTS = {"true", "t", "yes", "y", "1", "1.0"}
FALSE_TEXTS = {"false", "f", "no", "n", "0", "0.0"}


class ContractError(ValueError):
    """The input cannot be read as the contract requires; the message names file and column."""


@dataclass
class TableReport:
    """What happened to one table while loading."""

    source: str
    rows_read: int = 0
    duplicates_dropped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    rows_kept: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class LoadResult:
    """Clean contract tables, the rejected rows (one reason each) and per-table counts."""

    tables: InputTables
    rejects: pd.DataFrame
    report: dict[str, TableReport]

    def summary_rows(self) -> list[dict[str, object]]:
        """One row per table for the run summary."""
        return [
            {
                "table": name,
                "source": r.source,
                "rows_read": r.rows_read,
                "duplicates_dropped": r.duplicates_dropped,
                "rejected": r.rejected_total,
                "rows_kept": r.rows_kept,
                "reject_reasons": "; ".join(f"{k}: {v}" for k, v in sorted(r.rejected.items())),
            }
            for name, r in self.report.items()
        ]


def resolve_sources(data: DataSettings, allow_tables: bool = False) -> dict[str, TableSource]:
    """Return the source of each table that exists: explicit paths first, then ``data.dir``.

    ``allow_tables``: accept ``format: table`` (a catalog table of the engine; only the backend
    loader reads those). Raises ContractError when no transactions source can be found.
    """
    found: dict[str, TableSource] = {}
    for name in TABLE_NAMES:
        src: TableSource = getattr(data, name)
        if src.format == "table":
            if not allow_tables:
                raise ContractError(
                    f"data.{name}: format 'table' reads a table of the Spark catalog; "
                    "set engine: spark (or --engine spark), or point path at a file"
                )
            found[name] = src
            continue
        if src.path is not None:
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


def read_raw(src: TableSource, table: str) -> pd.DataFrame:
    """Read one source file as-is (CSV as text, so ids and dates are not mangled)."""
    path = Path(src.path)  # type: ignore[arg-type]
    fmt = source_format(src)
    if not path.exists():
        raise ContractError(f"{path}: file not found (table '{table}')")
    try:
        if fmt == "csv":
            return pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                sep=src.csv_delimiter,
                skipinitialspace=True,
            )
        if fmt == "parquet":
            return pd.read_parquet(path)
        import duckdb

        with duckdb.connect(str(path), read_only=True) as con:
            return con.table(src.table or table).df()
    except ContractError:
        raise
    except Exception as exc:  # any reader failure is the same user error: unreadable file
        raise ContractError(f"{path}: cannot read as {fmt} ({type(exc).__name__}: {exc})") from exc


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
    extra = [c for c in columns if c not in rename and c not in spec]
    # customers may carry extra attributes; other tables keep only contract columns
    keep = [c for c in spec if c in rename.values()] + (extra if table == "customers" else [])
    return rename, keep


def _map_columns(raw: pd.DataFrame, src: TableSource, table: str, source: str) -> pd.DataFrame:
    rename, keep = plan_columns(list(raw.columns), src, table, source)
    return raw.rename(columns=rename)[keep]


def _as_text(s: pd.Series) -> pd.Series:
    """Text column with surrounding blanks removed; empty -> missing."""
    if pd.api.types.is_float_dtype(s):
        # ids stored as floats in Parquet (e.g. 42.0) come back as '42'
        s = s.map(
            lambda v: None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v))
        )
    out = s.astype("str").str.strip()
    return out.where(s.notna() & (out != ""), None).astype("str")


def _parse_time(s: pd.Series, fmt: str | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
        if getattr(s.dt, "tz", None) is not None:
            out = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[us]")
    if isinstance(s.dtype, pd.ArrowDtype) or s.dtype == object:
        s = s.map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    text = _as_text(s)
    if fmt:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    else:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


def _parse_number(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    return pd.to_numeric(_as_text(s), errors="coerce").astype("float64")


def _parse_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (parsed boolean, mask of values that were present but not a boolean)."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), pd.Series(False, index=s.index)
    text = _as_text(s).str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[text.isin(TRUE_TEXTS)] = True
    out[text.isin(FALSE_TEXTS)] = False
    bad = text.notna() & ~text.isin(TRUE_TEXTS | FALSE_TEXTS)
    return out, bad


def _clean(
    frame: pd.DataFrame, table: str, src: TableSource, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Series]:
    """Parse columns into canonical dtypes; return (frame, reason per row or missing)."""
    spec = CONTRACT[table]
    reason = pd.Series(None, index=frame.index, dtype="str")

    def flag(mask: pd.Series, why: str | pd.Series) -> None:
        """Record ``why`` for rows in ``mask`` that have no reason yet (first reason wins)."""
        nonlocal reason
        reason = reason.where(~(mask & reason.isna()), why)

    out = pd.DataFrame(index=frame.index)
    for col, (_required, dtype, _meaning) in spec.items():
        if col not in frame.columns:
            out[col] = pd.Series(
                None, index=frame.index, dtype="float64" if dtype == "float64" else dtype
            )
            continue
        raw = frame[col]
        if dtype == "str":
            out[col] = _as_text(raw)
        elif dtype.startswith("datetime"):
            out[col] = _parse_time(raw, src.timestamp_format)
        elif dtype == "float64":
            out[col] = _parse_number(raw)
        elif dtype == "boolean":
            out[col], bad = _parse_bool(raw)
            flag(bad, "unreadable " + col + ": '" + _as_text(raw).fillna("") + "'")

    flag(out["customer_id"].isna(), "missing customer_id")
    time_col = "signup_date" if table == "customers" else "timestamp"
    raw_time = (
        _as_text(frame[time_col])
        if not pd.api.types.is_datetime64_any_dtype(frame[time_col])
        else None
    )
    if raw_time is not None:
        flag(raw_time.isna(), f"missing {time_col}")
        flag(out[time_col].isna(), "unparseable " + time_col + ": '" + raw_time.fillna("") + "'")
    else:
        flag(out[time_col].isna(), f"missing {time_col}")
    flag(
        out[time_col] > as_of,
        f"{time_col} in the future of the run ({as_of:%Y-%m-%d %H:%M})",
    )
    for col in (c for c, v in spec.items() if v[1] == "float64" and c in frame.columns):
        raw_text = _as_text(frame[col]) if not pd.api.types.is_numeric_dtype(frame[col]) else None
        value = out[col]
        if spec[col][0]:
            flag(
                value.isna() & (raw_text.isna() if raw_text is not None else True), f"missing {col}"
            )
        if raw_text is not None:
            flag(
                raw_text.notna() & value.isna(),
                "non-numeric " + col + ": '" + raw_text.fillna("") + "'",
            )
        flag(value.notna() & ~np.isfinite(value.fillna(0.0)), f"non-finite {col}")
        flag(value.abs() > MAX_ABS_VALUE, f"{col} out of range (beyond +-{MAX_ABS_VALUE:g})")
    if table == "events":
        out["event_type"] = out["event_type"].str.lower().astype("str")
        flag(out["event_type"].isna(), "missing event_type")
    if table == "customers":
        for extra in (c for c in frame.columns if c not in spec):
            out[extra] = frame[extra]
        # the first usable row of a customer is kept, later usable ones are rejected
        first_ok = out[reason.isna()].drop_duplicates("customer_id").index
        dup = out["customer_id"].notna() & reason.isna() & ~out.index.isin(first_ok)
        flag(dup, "duplicate customer_id (first row kept)")
    return out, reason


def load_table(
    src: TableSource, table: str, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame, TableReport]:
    """Read, map, de-duplicate and clean one table; return (clean, rejects, report)."""
    source = str(src.path)
    raw = read_raw(src, table)
    mapped = _map_columns(raw, src, table, source)
    report = TableReport(source=source, rows_read=len(mapped))
    mapped = mapped.reset_index(drop=True)
    mapped.index = mapped.index + 1  # 1-based data row number in the source
    dups = mapped.astype("str").duplicated(keep="first")
    report.duplicates_dropped = int(dups.sum())
    mapped = mapped[~dups]
    clean, reason = _clean(mapped, table, src, as_of)
    bad = reason.notna()
    rejects = pd.DataFrame(
        {
            "table": table,
            "source": source,
            "row": mapped.index[bad].astype("int64"),
            "reason": reason[bad].astype("str").to_numpy(),
            "record": [
                json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in rec.items()})
                for rec in mapped[bad].to_dict("records")
            ],
        },
        columns=REJECT_COLUMNS,
    )
    report.rejected = (
        {str(k): int(v) for k, v in reason[bad].str.split(":").str[0].value_counts().items()}
        if bad.any()
        else {}
    )
    clean = clean[~bad].reset_index(drop=True)
    report.rows_kept = len(clean)
    return clean, rejects, report


LoadOne = Callable[[TableSource, str, pd.Timestamp], tuple[object, pd.DataFrame, TableReport]]


def load_each(
    data: DataSettings, as_of: dt.datetime | None, load_one: LoadOne, allow_tables: bool = False
) -> tuple[dict[str, object], pd.DataFrame, dict[str, TableReport]]:
    """Run ``load_one(source, table, run_time)`` for every available table; stop when no
    transaction row is usable; return (clean table by name, all rejects, report by name).

    Shared by the pandas loader and the backend loader (:mod:`features.backend_sources`).
    """
    now = pd.Timestamp(as_of or dt.datetime.now()).tz_localize(None)
    tables: dict[str, object] = dict.fromkeys(TABLE_NAMES)
    rejects = []
    report: dict[str, TableReport] = {}
    for name, src in resolve_sources(data, allow_tables=allow_tables).items():
        tables[name], rej, report[name] = load_one(src, name, now)
        rejects.append(rej)
    if report["transactions"].rows_kept == 0:
        raise ContractError(
            f"{report['transactions'].source}: no usable transaction rows "
            f"({report['transactions'].rows_read} read, {report['transactions'].rejected_total} "
            "rejected); see the rejects file for reasons"
        )
    kept = [r for r in rejects if len(r)] or rejects[:1]
    all_rejects = (
        pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    return tables, all_rejects, report


def load_tables(data: DataSettings, as_of: dt.datetime | None = None) -> LoadResult:
    """Load every available table of the contract; ``as_of`` is the run time (default now).

    Timestamps later than ``as_of`` are rejected as "in the future of the run".
    """
    frames, rejects, report = load_each(data, as_of, load_table)
    return LoadResult(tables=InputTables(**frames).validate(), rejects=rejects, report=report)
