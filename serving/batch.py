"""Batch outputs of a scoring run: lists per segment, summary, control groups, run history."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.catalog import HISTORY_TABLE, OutputCatalog
from core.faults import checkpoint
from core.files import ParquetRowGroups, atomic_path, write_frame
from model.clv import customer_variance, segment_interval


def segment_slug(name: str) -> str:
    """File-name form of a segment name: 'Win back VIPs' -> 'win_back_vips'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def assign_control_group(
    customer_ids: pd.Series, campaign: str, share_percent: float
) -> np.ndarray:
    """Reproducible control group: customer is control when hash(campaign, id) < share.

    SHA-256 of "campaign:customer_id" mapped to [0, 1); the same customer and campaign always
    land in the same group, independent of batch, order or segment, and every segment gets
    about ``share_percent`` % of its customers.
    """
    if not 0 <= share_percent < 100:
        raise ValueError(f"holdout share must be in [0, 100), got {share_percent}")
    u = np.array(
        [
            int.from_bytes(hashlib.sha256(f"{campaign}:{cid}".encode()).digest()[:8], "big") / 2**64
            for cid in customer_ids.astype("str")
        ]
    )
    return u < share_percent / 100.0


SUMMARY_KEYS = ["segment", "risk_tier", "value_tier", "action"]
SUMMARY_SUMS = {
    "customers": "customer_id",
    "expected_revenue": "expected_revenue",
    "clv": "clv",
    "value_at_risk": "value_at_risk",
    "churn_probability_sum": "churn_probability",
    "clv_variance": "clv_variance",  # derived from clv_low/clv_high (customer_variance)
    "control": "control",  # customers held out of the campaign (0 without one)
}
"""Per-segment partial aggregates (count of ``customer_id``, sums of the rest): any engine can
compute them (pandas here, Spark in :mod:`serving.spark`) and :func:`summary_from_totals` turns
them into the summary table."""
SUBSCRIPTION_SUMS = {
    "monthly_recurring_revenue": "monthly_recurring_revenue",
    "mrr_at_risk": "mrr_at_risk",
}
"""Summed too when the scores have them (a model trained with subscriptions)."""


def summary_sums(columns: Iterable[str]) -> dict[str, str]:
    """:data:`SUMMARY_SUMS`, and :data:`SUBSCRIPTION_SUMS` when the scores' ``columns`` have
    them."""
    have = set(columns)
    return SUMMARY_SUMS | {k: c for k, c in SUBSCRIPTION_SUMS.items() if c in have}


def summary_from_totals(totals: pd.DataFrame, total_error: float | None = 0.0) -> pd.DataFrame:
    """The summary table from per-segment totals (columns SUMMARY_KEYS + SUMMARY_SUMS keys),
    with an 80% interval of each segment's total CLV (``clv_total_low``/``clv_total_high``,
    :func:`model.clv.segment_interval`; ``total_error`` from the model's backtest, None
    when the model has no interval)."""
    # the "no purchase yet" segment has no tiers and no churn probability: no mean for it, and
    # the overall mean is over the customers who have one
    sums = [k for k in summary_sums(totals.columns) if k != "customers"]
    totals = totals.assign(**{k: totals[k].astype(float).fillna(0.0) for k in sums})
    tiered = totals["risk_tier"].notna().to_numpy()
    out = totals.assign(
        mean_churn_probability=np.where(
            tiered, totals["churn_probability_sum"] / totals["customers"], np.nan
        )
    ).drop(columns="churn_probability_sum")
    out["control"] = out["control"].astype("int64")
    low, high = segment_interval(out["clv"], out["clv_variance"], total_error)
    out = out.assign(
        clv_total_low=np.where(tiered, low, np.nan), clv_total_high=np.where(tiered, high, np.nan)
    ).drop(columns="clv_variance")
    out = out.sort_values("value_at_risk", ascending=False, ignore_index=True)
    n = int(totals["customers"].sum())
    n_scored = int(totals.loc[tiered, "customers"].sum())
    all_low, all_high = segment_interval(
        np.array([totals["clv"].sum()]), np.array([totals["clv_variance"].sum()]), total_error
    )
    total = pd.DataFrame(
        [
            {
                "segment": "All customers",
                "customers": n,
                "expected_revenue": totals["expected_revenue"].sum(),
                "clv": totals["clv"].sum(),
                "value_at_risk": totals["value_at_risk"].sum(),
                **{k: totals[k].sum() for k in SUBSCRIPTION_SUMS if k in totals},
                "control": int(totals["control"].sum()),
                "clv_total_low": all_low[0],
                "clv_total_high": all_high[0],
                "mean_churn_probability": totals.loc[tiered, "churn_probability_sum"].sum()
                / n_scored
                if n_scored
                else np.nan,
            }
        ]
    )
    return pd.concat([out, total], ignore_index=True)


def mark_control_group(
    scores: pd.DataFrame, campaign: str | None, holdout_percent: float
) -> pd.DataFrame:
    """Add ``control`` (held out of the campaign, see :func:`assign_control_group`) and
    ``campaign`` columns to scores; a holdout needs a campaign name."""
    if holdout_percent and not campaign:
        raise ValueError("a holdout share needs a campaign name")
    control = (
        assign_control_group(scores["customer_id"], campaign, holdout_percent)
        if holdout_percent
        else np.zeros(len(scores), dtype=bool)
    )
    return scores.assign(control=control, campaign=campaign)


def segment_summary(scores: pd.DataFrame, total_error: float | None = 0.0) -> pd.DataFrame:
    """Customers, expected revenue, CLV (with an 80% interval of the total) and value at risk
    per segment, and a total row."""
    totals = SegmentTotals()
    totals.add(scores)
    return summary_from_totals(totals.frame(), total_error)


class SegmentTotals:
    """Per-segment customers and sums (:data:`SUMMARY_SUMS`) of score chunks, added up
    exactly: each float is an integer multiple of 2**-1074, so sums are kept as Python
    integers of that unit and rounded once at the end. The totals (and the summary file) are
    the same whatever the chunks and their order; a float running sum would differ in the last
    digits. Vectorised per chunk: a few numpy steps per segment, exponent and column."""

    _UNIT = 1074  # float64 values are integer multiples of 2**-1074

    def __init__(self) -> None:
        self._customers: dict[tuple, int] = {}
        self._sums: dict[tuple, dict[str, int]] = {}
        self._infinite: dict[tuple, dict[str, float]] = {}  # sums of +-inf values, if any
        self._names: dict[str, None] = {}  # the summed columns, in order

    def add(self, scores: pd.DataFrame) -> None:
        """Add a chunk of scores (SCORE_COLUMNS, optionally ``control``)."""
        control = (
            scores["control"].fillna(False).astype(bool)
            if "control" in scores
            else pd.Series(False, index=scores.index)
        )
        values = {
            "clv_variance": customer_variance(scores["clv_low"], scores["clv_high"]),
            "control": control.astype("float64"),
        }
        columns = {
            k: np.asarray(values[col] if col in values else scores[col], dtype="float64")
            for k, col in summary_sums(scores.columns).items()
            if k != "customers"
        }
        self._names.update(columns)
        groups = scores.groupby(SUMMARY_KEYS, sort=False, dropna=False).indices
        for key, rows in groups.items():
            key = tuple(None if pd.isna(k) else k for k in key)
            self._customers[key] = self._customers.get(key, 0) + len(rows)
            sums = self._sums.setdefault(key, {})
            for name in columns:
                sums.setdefault(name, 0)
            for name, column in columns.items():
                values = column[rows]
                infinite = np.isinf(values)
                if infinite.any():  # no exact integer for these: the float sum, kept apart
                    self._infinite.setdefault(key, {})[name] = float(
                        self._infinite.get(key, {}).get(name, 0.0) + values[infinite].sum()
                    )
                sums[name] += self._exact_sum(values[~infinite])

    @classmethod
    def _exact_sum(cls, values: np.ndarray) -> int:
        """The sum of the finite, non-missing values, exactly, in units of 2**-1074."""
        v = values[~np.isnan(values)]
        if not len(v):
            return 0
        fraction, exponent = np.frexp(v)  # v = fraction * 2**exponent, 0.5 <= |fraction| < 1
        mantissa = (fraction * 2.0**53).astype(np.int64)  # exact: 53 significant bits
        shift = exponent.astype(np.int64) - 53 + cls._UNIT  # < 0 only for subnormals
        total = 0
        for s in np.unique(shift):
            part = mantissa[shift == s]  # halves of 26/27 bits: their sums cannot overflow
            high, low = int((part >> 26).sum()), int((part & (2**26 - 1)).sum())
            whole = (high << 26) + low
            total += whole << int(s) if s >= 0 else whole >> int(-s)  # (low bits are zeros)
        return total

    def frame(self) -> pd.DataFrame:
        """Per-segment totals (SUMMARY_KEYS + SUMMARY_SUMS keys) for :func:`summary_from_totals`."""
        rows = [
            {
                **dict(zip(SUMMARY_KEYS, key, strict=True)),
                "customers": n,
                **{k: v / 2**self._UNIT for k, v in self._sums[key].items()},  # rounded once
                **self._infinite.get(key, {}),
            }
            for key, n in sorted(self._customers.items(), key=lambda kv: str(kv[0]))
        ]  # in a fixed order, whatever order the chunks brought the segments in
        names = summary_sums(self._names)
        return pd.DataFrame(rows, columns=[*SUMMARY_KEYS, *names])


DECIMALS = {
    "churn_probability": 4,
    "expected_revenue": 2,
    "clv": 2,
    "clv_low": 2,
    "clv_high": 2,
    "value_if_retained": 2,
    "value_at_risk": 2,
    "monthly_recurring_revenue": 2,
    "mrr_at_risk": 2,
}
"""Rounding of the lists and the API: money to cents, probabilities to 4 decimals."""
REASON_SLOTS = ["reason_1", "reason_2", "reason_3"]


def list_columns(columns: list[str]) -> list[str]:
    """The columns of a segment list: the score columns with ``reasons`` split into
    ``reason_1..3`` in its place."""
    at = columns.index("reasons")
    return [*columns[:at], *REASON_SLOTS, *columns[at + 1 :]]


def list_select(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """``SELECT`` of the rows of ``sql`` (scores columns) as a list file has them: amounts
    rounded half to even (:data:`DECIMALS`, as numpy and Spark's bround), ``reasons`` split
    into ``reason_1..3`` in its place, flags as ``True``/``False``, dates as ``YYYY-MM-DD``,
    missing values (NULL, NaN, empty text) as empty fields. The one definition of a list
    row, for the list files and the service's CSV pages."""
    rel = con.sql(sql)
    cols = []
    for name, kind in zip(rel.columns, map(str, rel.types), strict=True):
        q = f'"{name}"'
        if name == "reasons":
            cols += [f"nullif({q}[{i}], '') AS {slot}" for i, slot in enumerate(REASON_SLOTS, 1)]
        elif kind in ("DOUBLE", "FLOAT"):
            value = f"CASE WHEN isnan({q}) THEN NULL ELSE {q} END"
            digits = DECIMALS.get(name)
            cols.append(f"{value if digits is None else f'round_even({value}, {digits})'} AS {q}")
        elif kind == "BOOLEAN":
            cols.append(f"CASE WHEN {q} THEN 'True' WHEN NOT {q} THEN 'False' END AS {q}")
        elif kind.startswith("TIMESTAMP") or kind == "DATE":
            cols.append(
                f"CASE WHEN date_trunc('day', {q}) = {q} THEN strftime({q}, '%Y-%m-%d') "
                f"ELSE strftime({q}, '%Y-%m-%d %H:%M:%S') END AS {q}"
            )
        elif kind == "VARCHAR":
            cols.append(f"nullif({q}, '') AS {q}")
        else:
            cols.append(q)
    return f"SELECT {', '.join(cols)} FROM ({sql})"


def write_list_csv(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> Path:
    """The rows of ``sql`` as a list file (:func:`list_select`, RFC 4180 CSV with a header,
    rows in the query's order), written by DuckDB and swapped in atomically."""
    with atomic_path(path) as tmp:
        target = str(tmp).replace("'", "''")
        con.execute(f"COPY ({list_select(con, sql)}) TO '{target}' (FORMAT csv, HEADER)")
    return path


def list_csv_text(scores: pd.DataFrame) -> str:
    """Scores rows (a page of a segment) as the list files have them, as text."""
    import tempfile

    import pyarrow as pa

    rows = pa.Table.from_pandas(scores, preserve_index=False)
    with duckdb.connect() as con, tempfile.TemporaryDirectory() as tmp:
        con.register("page_rows", rows)
        path = write_list_csv(con, "SELECT * FROM page_rows", Path(tmp) / "page.csv")
        return path.read_text()


ROW_GROUP_ROWS = 100_000
"""Rows per row group of scores.parquet, whatever the chunk sizes (so its bytes do not
depend on them)."""


def write_outputs(
    scores: pd.DataFrame | Iterable[pd.DataFrame],
    catalog: OutputCatalog,
    total_error: float | None = 0.0,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Path]:
    """scores.parquet, segments/<segment>.csv sorted by value at risk, control.csv (a campaign's
    held-out customers, kept out of the segment lists), summary.csv; each file atomic, into
    the catalog's run folder (a score run's staging folder, published as a whole by
    :func:`core.runs.publish`).

    ``scores``: one frame, or chunks of it (customers in any order; a scoring run streams
    them). Memory holds one chunk: scores.parquet is appended chunk by chunk
    (:class:`core.files.ParquetRowGroups`), the summary added up exactly
    (:class:`SegmentTotals`), and each list is sorted and written by DuckDB from scores.parquet
    (:func:`write_list_csv`). The files are the same whatever the chunks.

    Lists of segments that are empty in this run are removed, so the folder mirrors the run.
    ``total_error``: the model's backtest error of the total CLV, for the segment totals'
    interval. ``con``: the DuckDB connection that sorts the lists, e.g. the scoring engine's,
    so that they share its memory limit (default: a new connection).
    """
    import pyarrow.parquet as pq

    chunks = [scores] if isinstance(scores, pd.DataFrame) else scores
    totals = SegmentTotals()
    with atomic_path(catalog.scores) as tmp:
        writer = ParquetRowGroups(tmp, ROW_GROUP_ROWS)
        for chunk in chunks:
            writer.add(chunk)
            totals.add(chunk)
        writer.close(empty=pd.DataFrame({"customer_id": pd.Series([], dtype="str")}))
    paths = {"scores": catalog.scores}
    checkpoint("score:scores-written", catalog.scores)
    per_segment = totals.frame()
    seg_dir = catalog.segments
    seg_dir.mkdir(parents=True, exist_ok=True)
    written = set()
    source = _parquet_source(catalog.scores)
    marked = "control" in pq.read_schema(catalog.scores).names  # scores of a campaign run
    # by the value at risk the list shows (rounded half to even, as numpy and Spark's bround),
    # then the id: a tie in cents is the same tie on every engine
    by_value = f"round_even(value_at_risk, {DECIMALS['value_at_risk']}) DESC NULLS LAST"
    with contextlib.nullcontext(con) if con is not None else duckdb.connect() as con:
        if marked and per_segment["control"].sum() > 0:
            paths["control"] = write_list_csv(
                con,
                f"SELECT * FROM {source} WHERE control ORDER BY segment, {by_value}, customer_id",
                catalog.control_list,
            )
        listed = per_segment.groupby("segment")[["customers", "control"]].sum()
        for name in sorted(listed.index[listed["customers"] > listed["control"]]):
            path = catalog.segment_list(segment_slug(str(name)))
            keep = "NOT coalesce(control, false) AND " if marked else ""
            segment = str(name).replace("'", "''")
            sql = (
                f"SELECT * FROM {source} WHERE {keep}segment = '{segment}' "
                f"ORDER BY {by_value}, customer_id"
            )
            paths[f"segment:{name}"] = write_list_csv(con, sql, path)
            written.add(path.name)
    for stale in seg_dir.glob("*.csv"):
        if stale.name not in written:
            stale.unlink()
    checkpoint("score:lists-written", seg_dir)
    paths["summary"] = write_frame(summary_from_totals(per_segment, total_error), catalog.summary)
    return paths


HISTORY_TYPES = {
    "customer_id": "varchar",
    "segment": "varchar",
    "scoring_date": "timestamp",
    "control": "boolean",
    "campaign": "varchar",
}
"""Column types of the run history (the rest are doubles)."""


def record_run(db_path: Path, run_id: str, scores: pd.DataFrame | Path) -> None:
    """Append this run's scores (id, segment, values, control flag) to the DuckDB history.

    ``scores``: the scores frame, or the path of a scores Parquet file or directory (as the
    Spark engine writes), which DuckDB reads without loading it into Python.
    """
    keep = [
        "customer_id",
        "segment",
        "churn_probability",
        "clv",
        "value_at_risk",
        "scoring_date",
        "control",
        "campaign",
    ]
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db_path)) as con:
        if isinstance(scores, pd.DataFrame):
            con.register("batch_in", scores[keep])
            source = "batch_in"
        else:
            source = _parquet_source(Path(scores))
        # explicit types: a run without a campaign has an all-null column, which DuckDB would
        # otherwise type NULL and then refuse the first campaign name in a later run
        cols = ", ".join(f"{c}::{HISTORY_TYPES.get(c, 'double')} as {c}" for c in keep)
        con.execute(
            f"create table if not exists {HISTORY_TABLE} as select {cols}, ''::varchar as run_id, "
            f"current_timestamp as recorded_at from {source} limit 0"
        )
        typed = {row[0]: row[1] for row in con.execute(f"describe {HISTORY_TABLE}").fetchall()}
        for col, kind in HISTORY_TYPES.items():  # histories written before the types were fixed
            if typed.get(col) in ('"NULL"', "NULL"):
                con.execute(f"alter table {HISTORY_TABLE} alter {col} type {kind}")
        con.execute(
            f"insert into {HISTORY_TABLE} select {cols}, ?, current_timestamp from {source}",
            [run_id],
        )


def _parquet_source(path: Path) -> str:
    """A DuckDB table function reading a Parquet file or a folder of them (as Spark writes)."""
    path = Path(path)
    pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    return "read_parquet('" + pattern.replace("'", "''") + "')"


def segment_movement(previous: Path | None, scores: Path) -> pd.DataFrame:
    """Who entered, left or changed segment between two runs' scores (Parquet file or folder);
    empty when there is no previous run."""
    if previous is None or not Path(previous).exists():
        return pd.DataFrame(columns=["customer_id", "previous_segment", "segment", "movement"])
    with duckdb.connect() as con:
        return con.execute(
            f"""
            select coalesce(c.customer_id, p.customer_id) as customer_id,
                   p.segment as previous_segment, c.segment as segment,
                   case when p.customer_id is null then 'new'
                        when c.customer_id is null then 'gone'
                        else 'moved' end as movement
            from (select customer_id, segment from {_parquet_source(scores)}) c
            full outer join (select customer_id, segment from {_parquet_source(previous)}) p
              on c.customer_id = p.customer_id
            where p.segment is distinct from c.segment
            order by customer_id
            """
        ).df()


def recorded_runs(db_path: Path) -> set[str]:
    """The run ids in the run history (none when there is no history yet)."""
    if not Path(db_path).exists():
        return set()
    with duckdb.connect(str(db_path), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_name = ?",
            [HISTORY_TABLE],
        ).fetchall()[0][0]
        if not exists:
            return set()
        return {
            r[0] for r in con.execute(f"select distinct run_id from {HISTORY_TABLE}").fetchall()
        }


def sync_history(catalog: OutputCatalog, run_id: str | None) -> bool:
    """Record the published run ``run_id`` in the run history if it is not there yet (a run
    killed between its switch and its recording); True when it recorded something."""
    pinned = catalog.pinned()
    if run_id is None or run_id in recorded_runs(catalog.history) or not pinned.scores.exists():
        return False
    record_run(catalog.history, run_id, pinned.scores)
    return True


def movement_summary(movement: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers who entered and who left since the previous run."""
    entered = movement.dropna(subset=["segment"]).groupby("segment").size().rename("entered")
    left = (
        movement.dropna(subset=["previous_segment"])
        .groupby("previous_segment")
        .size()
        .rename("left")
    )
    out = pd.concat([entered, left], axis=1).fillna(0).astype(int)
    out.index.name = "segment"
    return out.reset_index()
