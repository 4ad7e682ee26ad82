"""Atomic writes: a failed write leaves the previous file intact and no temp file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from core.files import atomic_dir, atomic_path, write_frame


def test_failed_write_keeps_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "list.csv"
    write_frame(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a li")
        raise RuntimeError("killed")
    assert pd.read_csv(target)["a"].tolist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]


def test_written_file_has_the_usual_mode(tmp_path: Path) -> None:
    path = write_frame(pd.DataFrame({"a": [1]}), tmp_path / "x.parquet")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only .csv and .parquet"):
        write_frame(pd.DataFrame({"a": [1]}), tmp_path / "x.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_a_file_or_folder_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "scores.parquet"
    write_frame(pd.DataFrame({"a": [1]}), target)  # a file from an earlier DuckDB run
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        tmp.mkdir()
        (tmp / "part-0.parquet").write_text("half")
        raise RuntimeError("killed")
    assert target.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]

    with atomic_dir(target) as tmp:
        tmp.mkdir()
        pd.DataFrame({"a": [2, 3]}).to_parquet(tmp / "part-0.parquet")
    assert target.is_dir() and pd.read_parquet(target)["a"].tolist() == [2, 3]
    with atomic_dir(target) as tmp:
        tmp.mkdir()
        pd.DataFrame({"a": [4]}).to_parquet(tmp / "part-0.parquet")
    assert pd.read_parquet(target)["a"].tolist() == [4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]
