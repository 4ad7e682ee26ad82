"""``build_features``: the point-in-time feature frame at one cutoff.

Families sharing a source table run as one grouped pass (one query on the backend, with all
windows as conditional aggregates); the per-pass results come back as Arrow tables and are
joined on ``customer_id`` once (full outer joins in an in-process DuckDB). The customers known
at the cutoff are the union of the pass keys: the transactions pass has every customer with a
visible transaction, the events pass every customer with a visible event, the customers pass
every signup up to the cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.catalogue import families_for
from features.context import Context, CutoffLike
from features.engine import IbisTables, fetch, to_ibis
from features.registry import Family, FeatureSpec, Source

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

    from features.contract import InputTables
    from features.vocabulary import Vocabulary

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)`` after each pass (``step`` names its families)."""


def progress_callback(progress: Any) -> ProgressCallback:
    """Accept ``None``, a ``(step, done, total)`` callable or a ``rich.progress.Progress``."""
    if progress is None:
        return lambda step, done, total: None
    if hasattr(progress, "add_task") and hasattr(progress, "update"):
        task = progress.add_task("features", total=None)

        def update(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"features: {step}", completed=done, total=total)

        return update
    if callable(progress):
        return progress
    raise TypeError("progress must be None, a callable(step, done, total) or a rich Progress")


def feature_passes(
    ctx: Context, vocabulary: Vocabulary | None = None
) -> list[tuple[str, ir.Table]]:
    """One Ibis expression per source table, keyed by customer_id: ``(families, expr)``.

    ``vocabulary``: the data's own event types and customer columns the model uses
    (:mod:`features.vocabulary`), if any. Useful for inspecting the generated SQL:
    ``ibis.to_sql(expr)``.
    """
    groups: dict[Source, list[Family]] = {}
    for family in families_for(vocabulary):
        if family.available(ctx.present):
            groups.setdefault(family.source, []).append(family)
    passes = []
    for source, fams in groups.items():
        table = source(ctx)
        aggs: dict[str, ir.Value] = {}
        for f in fams:
            aggs.update(f.aggregates(table, ctx))
        expr = table.group_by("customer_id").aggregate(**aggs)
        for f in fams:
            if f.finalize is not None:
                expr = expr.mutate(**f.finalize(expr))
        # a column a family could not compute here (an attribute absent from this batch) is
        # left out: assemble_table makes it null
        expr = expr.select(
            "customer_id", *[c for f in fams for c in f.columns if c in expr.columns]
        )
        passes.append(("+".join(f.name for f in fams), expr))
    return passes


_IBIS_TYPES = {"int64": "int64", "float64": "float64", "str": "string"}


def assemble_table(passes: list[ir.Table], specs: list[FeatureSpec]) -> ir.Table:
    """Join the per-pass tables on customer_id, fill by each spec and cast (lazy, any backend).

    A chain of full outer joins, so the customers are the union of the pass keys; a spec whose
    family's pass is absent becomes a column of its fill value (or null). Not sorted.
    """
    import ibis

    joined = passes[0]
    for right in passes[1:]:
        right = right.rename(_key="customer_id")
        j = joined.outer_join(right, joined.customer_id == right._key)
        others = [c for c in j.columns if c not in ("customer_id", "_key")]
        joined = j.select(
            customer_id=ibis.coalesce(j.customer_id, j._key), **{c: j[c] for c in others}
        ).view()  # a view, so the next join starts a new chain
    cols: dict[str, ir.Value] = {"customer_id": joined.customer_id.cast("string")}
    for s in specs:
        ref = joined[s.name] if s.name in joined.columns else ibis.null()
        if s.fill is not None:
            ref = ibis.coalesce(ref, s.fill)
        cols[s.name] = ref.cast(_IBIS_TYPES[s.dtype])
    return joined.select(**cols)


def assemble(
    passes: list[pa.Table], specs: list[FeatureSpec], vocabulary: Vocabulary | None = None
) -> pd.DataFrame:
    """:func:`assemble_table` over Arrow pass results in an in-process DuckDB, sorted by id."""
    import ibis

    con = ibis.duckdb.connect()
    try:
        expr = assemble_table([ibis.memtable(t) for t in passes], specs).order_by("customer_id")
        frame = con.to_pyarrow(expr).to_pandas(split_blocks=True)
    finally:
        con.disconnect()
    return conform_dtypes(frame, vocabulary)


def conform_dtypes(frame: pd.DataFrame, vocabulary: Vocabulary | None = None) -> pd.DataFrame:
    """Give a feature frame the catalogue's dtypes (in place; returned for chaining).

    Whatever produced the frame (DuckDB, Arrow batches from Spark), ``customer_id`` is text and
    every catalogue column (and ``vocabulary``'s) has its spec's dtype, even in an empty frame.
    """
    dtypes = {s.name: s.dtype for f in families_for(vocabulary) for s in f.specs}
    # only columns that differ, found from the dtypes at once: an astype, or even a column
    # lookup, per column costs more than the query on a one-customer frame (POST /score)
    for name, dtype in frame.dtypes.items():
        if name in dtypes and dtype != dtypes[name]:
            frame[name] = frame[name].astype(dtypes[name])
    if frame["customer_id"].dtype != "str":
        frame["customer_id"] = frame["customer_id"].astype("str")
    return frame


def feature_table(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    backend: BaseBackend | None = None,
    vocabulary: Vocabulary | None = None,
) -> tuple[IbisTables, ir.Table]:
    """The whole feature frame as one lazy Ibis expression on the tables' backend (not sorted).

    Used where the result must stay on the backend, e.g. on Spark, where it is written to
    Parquet or scored with ``mapInPandas`` without passing through the driver. Returns the
    tables (with their connection) and the expression; columns as :func:`build_features`.
    """
    ibis_tables = to_ibis(tables, backend)
    ctx = Context.at(ibis_tables, cutoff)
    specs = frame_specs(ctx.present, vocabulary)
    passes = [expr for _, expr in feature_passes(ctx, vocabulary)]
    return ibis_tables, assemble_table(passes, specs)


def frame_specs(present: set[str], vocabulary: Vocabulary | None = None) -> list[FeatureSpec]:
    """The columns of a feature frame built from the ``present`` tables, in order."""
    return [s for f in families_for(vocabulary) if f.available(present) for s in f.specs]


def _pass_results(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    backend: BaseBackend | None,
    progress: ProgressCallback | Any | None,
    vocabulary: Vocabulary | None = None,
) -> tuple[list[pa.Table], list[FeatureSpec]]:
    """Run every pass on the tables' backend: (Arrow result per pass, specs of the frame)."""
    ibis_tables = to_ibis(tables, backend)
    ctx = Context.at(ibis_tables, cutoff)
    report = progress_callback(progress)
    passes = feature_passes(ctx, vocabulary)
    results = []
    for i, (step, expr) in enumerate(passes, start=1):
        results.append(fetch(ibis_tables.con, expr))
        report(step, i, len(passes))
    return results, frame_specs(ctx.present, vocabulary)


def customer_ranges(
    tables: IbisTables, cutoff: CutoffLike, size: int
) -> list[tuple[str | None, str | None]]:
    """Ranges ``[low, high)`` of customer ids holding about ``size`` of the customers known at
    ``cutoff`` each, in id order (None: open end); one open range when all fit in one."""
    import ibis
    import pyarrow.compute as pc

    ctx = Context.at(tables, cutoff)
    tables_ = (ctx.transactions, ctx.events, ctx.customers, ctx.subscriptions)
    keys = [t.select("customer_id") for t in tables_ if t is not None]
    union = ibis.union(*keys).distinct()  # (a union of one table is that table, duplicates kept)
    ids = fetch(tables.con, union)["customer_id"]
    if len(ids) <= size:
        return [(None, None)]
    ids = pc.take(ids, pc.sort_indices(ids))
    cuts = [ids[i].as_py() for i in range(size, len(ids), size)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def in_range(tables: IbisTables, low: str | None, high: str | None) -> IbisTables:
    """The tables cut to the customers with ``low <= customer_id < high`` (None: no bound):
    every feature is one customer's, so a range's features are those rows of the whole."""
    import dataclasses

    def cut(t: ir.Table | None) -> ir.Table | None:
        if t is None:
            return None
        if low is not None:
            t = t.filter(t.customer_id >= low)
        return t if high is None else t.filter(t.customer_id < high)

    return dataclasses.replace(
        tables,
        transactions=cut(tables.transactions),
        events=cut(tables.events),
        customers=cut(tables.customers),
        subscriptions=cut(tables.subscriptions),
    )


def build_feature_chunks(
    tables: IbisTables,
    cutoff: CutoffLike,
    size: int,
    vocabulary: Vocabulary | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[pd.DataFrame]:
    """:func:`build_features` a range of about ``size`` customers at a time, in id order:
    together the rows of the whole frame (as :func:`build_features`), one chunk in memory.
    ``progress(step, done, total)`` is told each range that was taken (after its consumer is
    done with it)."""
    ranges = customer_ranges(tables, cutoff, size)
    report = progress or (lambda step, done, total: None)
    for i, (low, high) in enumerate(ranges, start=1):
        yield build_features(in_range(tables, low, high), cutoff, vocabulary=vocabulary)
        report(f"range {i} of {len(ranges)}", i, len(ranges))


def write_features(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    path: Path,
    backend: BaseBackend | None = None,
    progress: ProgressCallback | Any | None = None,
    vocabulary: Vocabulary | None = None,
    chunk_customers: int | None = None,
) -> tuple[int, int]:
    """:func:`build_features` written straight to a Parquet file from the engine's Arrow
    results (atomically, the same columns and types, no pandas frame in between); returns
    (customers, features).

    ``chunk_customers``: build that many customers at a time (:func:`customer_ranges`), so
    memory holds one range's features; the file is the same bytes whatever the size."""
    import ibis

    from core.files import ParquetRowGroups, atomic_path

    ibis_tables = to_ibis(tables, backend)
    ranges = (
        customer_ranges(ibis_tables, cutoff, chunk_customers) if chunk_customers else [(None, None)]
    )
    report = progress_callback(progress)
    con = ibis.duckdb.connect()
    customers, specs = 0, []
    try:
        with atomic_path(Path(path)) as tmp:
            writer = ParquetRowGroups(tmp)
            for i, (low, high) in enumerate(ranges, start=1):
                part = in_range(ibis_tables, low, high)
                results, specs = _pass_results(part, cutoff, None, None, vocabulary)
                memtables = [ibis.memtable(t) for t in results]
                table = con.to_pyarrow(assemble_table(memtables, specs).order_by("customer_id"))
                writer.add(table)
                customers += len(table)
                report(f"customers {customers:,}", i, len(ranges))
            writer.close()
    finally:
        con.disconnect()
    return customers, len(specs)


def build_features(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    backend: BaseBackend | None = None,
    progress: ProgressCallback | Any | None = None,
    vocabulary: Vocabulary | None = None,
) -> pd.DataFrame:
    """Point-in-time features: one row per customer known at ``cutoff``, sorted by customer_id.

    ``tables``: the contract tables as pandas frames (registered on ``backend``, by default a
    new in-memory DuckDB) or as Ibis tables (:class:`~features.engine.IbisTables`, e.g. from
    :func:`~features.engine.tables_from_parquet`). Only rows up to the end of the cutoff day
    are used. Columns: ``customer_id`` then the catalogue's features of the families whose
    tables are present (see :mod:`features.catalogue`), then those of ``vocabulary`` (the
    model's own event types, :mod:`features.vocabulary`). ``progress`` reports each pass.
    """
    results, specs = _pass_results(tables, cutoff, backend, progress, vocabulary)
    return assemble(results, specs, vocabulary)
