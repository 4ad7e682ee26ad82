"""Atomic file writes: readers never see a half-written output."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    On any error the temporary file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder path beside ``path``; on success it takes the place of ``path``.

    For outputs written as directories (Spark's Parquet). The old file or folder at ``path`` is
    moved aside and deleted only after the new one is in place; on any error the temporary
    folder is removed and ``path`` is untouched. Local file systems only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{os.urandom(4).hex()}"
    tmp = path.parent / f".{path.name}.{tag}.tmp"
    old = path.parent / f".{path.name}.{tag}.old"
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old.exists():
            old.unlink()


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame atomically as CSV or Parquet, chosen by the suffix of ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            raise ValueError(f"{path}: only .csv and .parquet outputs are supported")
    return path


def write_text(text: str, path: Path) -> Path:
    """Write a text file atomically."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(text)
    return Path(path)


class ParquetRowGroups:
    """A Parquet file appended chunk by chunk, written in row groups of ``rows`` rows: memory
    holds one row group, and the file is the same bytes however the rows were chunked (the
    schema is the first chunk's, a column without any value there as text, no pandas
    metadata; each row group's columns contiguous, so pages fall in the same places)."""

    def __init__(self, path: Path, rows: int = 100_000) -> None:
        self.path, self.rows = Path(path), rows
        self._writer = None
        self._pending: list = []
        self._pending_rows = 0

    def add(self, chunk: pd.DataFrame | Any) -> None:
        """Append a pandas frame or an Arrow table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if isinstance(chunk, pd.DataFrame):
            schema = None if self._writer is None else self._writer.schema
            chunk = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
        chunk = chunk.replace_schema_metadata(None)
        if self._writer is None:
            schema = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in chunk.schema]
            )
            self._writer = pq.ParquetWriter(self.path, schema)
        self._pending.append(chunk.cast(self._writer.schema))
        self._pending_rows += len(chunk)
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        import pyarrow as pa

        if not self._pending or (self._pending_rows < self.rows and not final):
            return
        table = pa.concat_tables(self._pending)
        done = 0
        while len(table) - done >= self.rows or (final and done < len(table)):
            group = table.slice(done, self.rows).combine_chunks()
            self._writer.write_table(group, row_group_size=self.rows)
            done += len(group)
        self._pending = [table.slice(done)] if done < len(table) else []
        self._pending_rows = len(table) - done

    def close(self, empty: pd.DataFrame | None = None) -> None:
        """Write what is left; without any chunk, ``empty`` (its columns) makes the file."""
        if self._writer is None:
            self.add(empty if empty is not None else pd.DataFrame())
        self._flush(final=True)
        self._writer.close()
