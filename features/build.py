"""``build_features``: the point-in-time feature frame at one cutoff.

Families sharing a source table run as one grouped pass (one query on the backend, with all
windows as conditional aggregates); the per-pass results come back as Arrow tables and are
joined on ``customer_id`` once (full outer joins in an in-process DuckDB). The customers known
at the cutoff are the union of the pass keys: the transactions pass has every customer with a
visible transaction, the events pass every customer with a visible event, the customers pass
every signup up to the cutoff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.catalogue import FAMILIES
from features.context import Context, CutoffLike
from features.engine import IbisTables, fetch, to_ibis
from features.registry import Family, FeatureSpec, Source

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa
    from ibis.backends import BaseBackend

    from features.contract import InputTables

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


def feature_passes(ctx: Context) -> list[tuple[str, ir.Table]]:
    """One Ibis expression per source table, keyed by customer_id: ``(families, expr)``.

    Useful for inspecting the generated SQL: ``ibis.to_sql(expr)``.
    """
    groups: dict[Source, list[Family]] = {}
    for family in FAMILIES:
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
        expr = expr.select("customer_id", *[c for f in fams for c in f.columns])
        passes.append(("+".join(f.name for f in fams), expr))
    return passes


def _sql_literal(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def assemble(passes: list[pa.Table], specs: list[FeatureSpec]) -> pd.DataFrame:
    """Join the per-pass frames on customer_id once, fill by each spec, fix dtypes, sort.

    Runs in an in-process DuckDB over the Arrow results (whatever backend computed them) as
    a chain of full outer joins, so the customers are the union of the pass keys.
    """
    import duckdb

    con = duckdb.connect()
    try:
        names = []
        for i, table in enumerate(passes):
            names.append(f"pass_{i}")
            con.register(names[-1], table)
        where = {c: n for n, t in zip(names, passes, strict=True) for c in t.column_names}
        key = f"{names[0]}.customer_id"
        joins = names[0]
        for n in names[1:]:
            joins += f" FULL OUTER JOIN {n} ON {n}.customer_id = {key}"
            key = f"COALESCE({key}, {n}.customer_id)"
        cols = [f"CAST({key} AS VARCHAR) AS customer_id"]
        for s in specs:
            sql_type = {"int64": "BIGINT", "float64": "DOUBLE", "str": "VARCHAR"}[s.dtype]
            ref = f'{where[s.name]}."{s.name}"' if s.name in where else "NULL"
            if s.fill is not None:
                ref = f"COALESCE({ref}, {_sql_literal(s.fill)})"
            cols.append(f'CAST({ref} AS {sql_type}) AS "{s.name}"')
        sql = f"SELECT {', '.join(cols)} FROM {joins} ORDER BY 1"
        frame = con.sql(sql).to_arrow_table().to_pandas(split_blocks=True)
    finally:
        con.close()
    for s in specs:  # exact dtypes even for empty frames
        frame[s.name] = frame[s.name].astype(s.dtype)
    frame["customer_id"] = frame["customer_id"].astype("str")
    return frame


def build_features(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    backend: BaseBackend | None = None,
    progress: ProgressCallback | Any | None = None,
) -> pd.DataFrame:
    """Point-in-time features: one row per customer known at ``cutoff``, sorted by customer_id.

    ``tables``: the contract tables as pandas frames (registered on ``backend``, by default a
    new in-memory DuckDB) or as Ibis tables (:class:`~features.engine.IbisTables`, e.g. from
    :func:`~features.engine.tables_from_parquet`). Only rows up to the end of the cutoff day
    are used. Columns: ``customer_id`` then the catalogue's features of the families whose
    tables are present (see :mod:`features.catalogue`). ``progress`` reports each pass.
    """
    ibis_tables = to_ibis(tables, backend)
    ctx = Context.at(ibis_tables, cutoff)
    report = progress_callback(progress)
    passes = feature_passes(ctx)
    results = []
    for i, (step, expr) in enumerate(passes, start=1):
        results.append(fetch(ibis_tables.con, expr))
        report(step, i, len(passes))
    specs = [s for f in FAMILIES if f.available(ctx.present) for s in f.specs]
    return assemble(results, specs)
