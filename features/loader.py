"""The one loader: read every input table onto an engine, apply the contract, count.

:func:`load_tables_on` reads each source where it lives (:mod:`features.sources`), applies the
contract's rules there (:mod:`features.cleaning`) and keeps the checked table once on the
engine (a DuckDB temporary table, a cached Spark frame), so the counts, the rejects and every
feature pass read it without parsing the source again (on DuckDB, once the rejects are taken,
only the usable rows are kept: a table of their clean columns). The clean tables stay on the
engine as :class:`~features.engine.IbisTables`; :func:`load_tables` is the same on an in-memory
DuckDB, collected into pandas :class:`~features.contract.InputTables` (for training, the
reports and tests).

Rules (also in README "Input data"): a missing file for a required table, an unreadable file
or a missing required column is a :class:`~features.contract.ContractError` naming the file
and the column; unusable rows are set aside with one reason each and counted, their source row
(and file, for a folder) in the rejects file; exact duplicate rows are counted and dropped; no
usable transaction row at all is an error.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from core.settings import EARLIEST_DATE, TABLE_NAMES, DataSettings, TableSource
from features.cleaning import (
    check_table,
    clean_rows,
    clean_text,
    drop_duplicates,
    guess_timestamp_format,
    map_table,
    rejected_rows,
)
from features.contract import CONTRACT, ContractError, InputTables, NoUsableRowsError
from features.engine import (
    IbisTables,
    IdSample,
    customer_parts,
    default_backend,
    fetch,
    materialize,
    narrow,
)
from features.sources import FILE, ROW, read_source, resolve_sources, source_label

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

REJECT_COLUMNS = ["table", "source", "row", "reason", "record"]


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
    """Clean contract tables, the rejected rows (one reason each) and per-table counts.

    ``tables`` are :class:`IbisTables` from :func:`load_tables_on`, pandas
    :class:`InputTables` from :func:`load_tables`.
    """

    tables: InputTables | IbisTables
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


def load_table_on(
    src: TableSource,
    table: str,
    con: BaseBackend,
    as_of: pd.Timestamp,
    earliest: dt.date = EARLIEST_DATE,
    sample: IdSample | None = None,
) -> tuple[ir.Table, pd.DataFrame, TableReport]:
    """Read and check one table on ``con``: ``(clean table, rejects frame, report)``. A large
    table is checked a part of its customers at a time (:func:`features.engine.customer_parts`,
    cut at the ids of ``sample``, shared by the tables of one load), with the same result."""
    source = source_label(src, table)
    mapped = map_table(read_source(src, table, con), src, table, source)
    report = TableReport(source=source, rows_read=int(con.execute(mapped.count())))
    clean, rejects = None, []
    key = clean_text(mapped.customer_id)
    with customer_parts(con, mapped, report.rows_read, key, sample) as parts:
        for part in parts:
            checked = check_table(drop_duplicates(part), src, table, as_of, con.name, earliest)
            checked = materialize(con, checked, f"checked_{table}")
            counts = con.execute(
                checked.group_by(why=checked.reason.split(":")[0]).aggregate(n=checked.count())
            )
            for why, n in zip(counts["why"], counts["n"], strict=True):
                if pd.notna(why):
                    report.rejected[str(why)] = report.rejected.get(str(why), 0) + int(n)
                else:
                    report.rows_kept += int(n)
            if counts["why"].notna().any():
                rejects.append(fetch(con, rejected_rows(checked)).to_pandas())
            # the usable rows alone from here: the checked table also holds every row's raw
            # values, twice the memory (and DuckDB's spill to disk) for every later pass
            usable = clean_rows(checked, table)
            place = tuple(c for c in (FILE, ROW) if c in usable.columns)
            clean = narrow(con, usable, f"clean_{table}", checked, clean, then=place)
    report.duplicates_dropped = report.rows_read - report.rows_kept - report.rejected_total
    rejects_frame = pd.DataFrame(columns=REJECT_COLUMNS)
    if rejects:  # the parts' rejects in the source's order, as rejected_rows gives one's
        rows = pd.concat(rejects, ignore_index=True)
        rows = rows.sort_values([c for c in (ROW, FILE) if c in rows], kind="stable")
        rejects_frame = _rejects_frame(rows.reset_index(drop=True), table, source)
    return clean, rejects_frame, report


def _rejects_frame(rejected: pd.DataFrame, table: str, source: str) -> pd.DataFrame:
    from urllib.parse import unquote

    records = rejected.drop(columns=[c for c in ("reason", ROW, FILE) if c in rejected])
    sources = (
        rejected[FILE].map(lambda f: unquote(str(f).removeprefix("file:")))
        if FILE in rejected
        else source
    )
    return pd.DataFrame(
        {
            "table": table,
            "source": sources,
            "row": rejected[ROW].astype("Int64").to_numpy(),
            "reason": rejected["reason"].astype("str").to_numpy(),
            "record": [
                json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in rec.items()})
                for rec in records.to_dict("records")
            ],
        },
        columns=REJECT_COLUMNS,
    )


def load_tables_on(
    data: DataSettings, con: BaseBackend, as_of: dt.datetime | None = None
) -> LoadResult:
    """Load every available table onto ``con``; the result's ``tables`` are :class:`IbisTables`.

    ``as_of`` is the run time (default now): timestamps later than it are rejected as "in the
    future of the run". Stops with a ContractError when no transaction row is usable.
    """
    now = pd.Timestamp(as_of or dt.datetime.now()).tz_localize(None)
    tables: dict[str, ir.Table | None] = dict.fromkeys(TABLE_NAMES)
    rejects = []
    report: dict[str, TableReport] = {}
    sample = IdSample()
    for name, src in resolve_sources(data).items():
        tables[name], rej, report[name] = load_table_on(
            src, name, con, now, data.earliest_date, sample
        )
        rejects.append(rej)
    kept = [r for r in rejects if len(r)]
    all_rejects = (
        pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    if report["transactions"].rows_kept == 0:
        raise NoUsableRowsError(
            _nothing_usable(report["transactions"], all_rejects, data), all_rejects
        )
    loaded = IbisTables(con=con, **tables)
    check_id_overlap(loaded, report, data.min_id_overlap)
    return LoadResult(tables=loaded, rejects=all_rejects, report=report)


def _nothing_usable(report: TableReport, rejects: pd.DataFrame, data: DataSettings) -> str:
    """'no usable transaction rows (3 read, 3 rejected); all for unparseable timestamp' and,
    when most rows fail on their dates, the timestamp_format that would read them."""
    text = f"{report.source}: no usable transaction rows ({report.rows_read:,} read, "
    text += f"{report.rejected_total:,} rejected)"
    if not report.rejected:
        return text
    why, n = max(report.rejected.items(), key=lambda kv: kv[1])
    text += f"; {'all' if n == report.rejected_total else f'{n:,}'} for {why}"
    if why.startswith("unparseable ") and n * 2 > report.rejected_total:
        column = why.removeprefix("unparseable ")
        tx = rejects[rejects["table"] == "transactions"]
        samples = [json.loads(r).get(column) or "" for r in tx["record"].head(20)]
        fmt = guess_timestamp_format(samples)
        seen = ", ".join(f"'{v}'" for v in samples[:2])
        if fmt and data.transactions.timestamp_format != fmt:
            text += (
                f": values such as {seen} read as {fmt!r}; set "
                f"data.transactions.timestamp_format: '{fmt}'"
            )
        else:
            text += f": values such as {seen} are not ISO dates (YYYY-MM-DD[ HH:MM:SS])"
    return text


ID_SAMPLE = 10_000
"""Distinct ids per table the overlap check looks up in the other table."""


def id_overlap(tables: IbisTables, other: str) -> tuple[float, float]:
    """Shares of the ids of ``other`` found in the transactions, and of transaction ids found
    in ``other``, each over up to :data:`ID_SAMPLE` distinct ids from the first rows of its
    table (a check for tables that share no ids at all, not a census: it reads the first
    rows of one table and one join probe of the other)."""
    con = tables.con
    tx, them = tables.transactions, getattr(tables, other)
    shares = []
    for ids, pool in ((them, tx), (tx, them)):
        sample = ids.select("customer_id").limit(ID_SAMPLE * 10).distinct().limit(ID_SAMPLE)
        n = int(con.execute(sample.count()))
        found = int(con.execute(sample.semi_join(pool, "customer_id").count()))
        shares.append(found / n if n else 1.0)
    return shares[0], shares[1]


def check_id_overlap(tables: IbisTables, report: dict[str, TableReport], min_share: float) -> None:
    """Stop when events, customers or subscriptions share (almost) no customer ids with the
    transactions."""
    for other in ("events", "customers", "subscriptions"):
        if getattr(tables, other) is None or report[other].rows_kept == 0:
            continue
        theirs, ours = id_overlap(tables, other)
        if max(theirs, ours) < min_share:
            raise ContractError(
                f"{report[other].source}: {theirs:.1%} of its customer ids appear in the "
                f"transactions ({report['transactions'].source}) and {ours:.1%} of theirs in it, "
                f"below data.min_id_overlap ({min_share:.0%}): the tables do not share ids. Ids "
                "are compared as text, so '000001' and '1' differ: check leading zeros and "
                "numeric id columns (a Parquet integer id loses its zeros)"
            )


def load_tables(data: DataSettings, as_of: dt.datetime | None = None) -> LoadResult:
    """:func:`load_tables_on` an in-memory DuckDB, with the tables collected into pandas."""
    con = default_backend()
    try:
        result = load_tables_on(data, con, as_of)
        result.tables = collect_tables(result.tables)  # type: ignore[arg-type]
    finally:
        con.disconnect()
    return result


def timestamp_range(tables: IbisTables) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last transaction timestamps of engine tables."""
    t = tables.transactions
    row = tables.con.execute(t.aggregate(first=t.timestamp.min(), last=t.timestamp.max()))
    return pd.Timestamp(row["first"].iloc[0]), pd.Timestamp(row["last"].iloc[0])


def collect_tables(tables: IbisTables, columns: dict[str, list[str]] | None = None) -> InputTables:
    """Fetch engine tables into pandas :class:`InputTables` with the contract's dtypes.

    ``columns``: the columns needed per table (the other contract columns come back as nulls,
    tables not named as None), to move less data to this process. Without it every column,
    a customer's own attributes too. Only for data that fits in memory here (a training
    sample, a report's inputs, the embedded engine's training).
    """
    frames: dict[str, pd.DataFrame | None] = dict.fromkeys(TABLE_NAMES)
    for name in tables.present:
        if columns is not None and name not in columns:
            continue
        table = getattr(tables, name)
        place = [c for c in (FILE, ROW) if c in table.columns]
        if columns is not None:
            wanted = columns[name]
        else:
            wanted = [c for c in table.columns if c not in place]
        expr = table.select(*wanted, *place)
        if place:  # in the source order, so that the same input gives the same frame
            expr = expr.order_by(place)
        frame = fetch(tables.con, expr).to_pandas().drop(columns=place)
        out = pd.DataFrame(index=frame.index)
        for col, (_required, dtype, _meaning) in CONTRACT[name].items():
            values = frame[col] if col in frame else pd.Series(None, index=frame.index)
            out[col] = values.astype(dtype)
        for extra in (c for c in frame.columns if c not in CONTRACT[name]):
            out[extra] = frame[extra]
        frames[name] = out
    return InputTables(**frames).validate()
