"""Atomic writes: a failed write leaves the previous file intact and no temp file."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from churnclv.files import atomic_path, write_frame


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
