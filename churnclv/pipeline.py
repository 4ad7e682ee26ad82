"""Wiring of the stages (Kedro-style): each step calls pure functions and writes outputs.

The CLI parses options and calls these; nothing here parses command lines.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from churnclv.files import atomic_path, write_frame
from churnclv.settings import Settings
from features.sources import LoadResult, load_tables


def load_inputs(settings: Settings, console: Console) -> LoadResult:
    """Load the contract tables; write rejects.csv and load_summary.json to the output folder."""
    out_dir = Path(settings.output_dir)
    with console.status("Reading input tables"):
        result = load_tables(settings.data)
    table = Table(title="Input data")
    for col in ("table", "rows read", "duplicates dropped", "rejected", "kept", "reject reasons"):
        table.add_column(col)
    for row in result.summary_rows():
        table.add_row(
            str(row["table"]),
            f"{row['rows_read']:,}",
            f"{row['duplicates_dropped']:,}",
            f"{row['rejected']:,}",
            f"{row['rows_kept']:,}",
            str(row["reject_reasons"]),
        )
    console.print(table)
    write_frame(result.rejects, out_dir / "rejects.csv")
    with atomic_path(out_dir / "load_summary.json") as tmp:
        tmp.write_text(json.dumps(result.summary_rows(), indent=2))
    if len(result.rejects):
        console.print(
            f"[yellow]{len(result.rejects):,} rejected rows[/], reasons in {out_dir / 'rejects.csv'}"
        )
    return result


def resolve_cutoff(settings: Settings, result: LoadResult) -> dt.date:
    """The configured cutoff, or the date of the last transaction."""
    if settings.cutoff is not None:
        return settings.cutoff
    return result.tables.max_timestamp.date()


def progress_bar(console: Console) -> Progress:
    """The progress bar every long step uses."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_features(settings: Settings, out: Path | None, console: Console) -> Path:
    """Load inputs, build the feature frame at the cutoff and write it as Parquet."""
    from features.snapshots import build_features

    result = load_inputs(settings, console)
    cutoff = resolve_cutoff(settings, result)
    path = Path(out) if out else Path(settings.output_dir) / "features.parquet"
    with progress_bar(console) as progress:
        frame: pd.DataFrame = build_features(result.tables, cutoff, progress=progress)
    write_frame(frame, path)
    console.print(f"cutoff {cutoff}: {len(frame):,} customers x {frame.shape[1] - 1} features")
    return path
