"""Atomic file writes: readers never see a half-written output."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
