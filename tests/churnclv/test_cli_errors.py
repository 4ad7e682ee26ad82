"""User errors are one `error:` line of plain text: nothing in them is read as markup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from churnclv.cli import MAX_ERROR_CHARS, error_line

CLI = [sys.executable, "-m", "churnclv.cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_column_name_that_looks_like_markup_is_shown_as_it_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "transactions.csv").write_text("cust[/],timestamp,amount\nc1,2026-01-01,10\n")
    proc = run("features", "--data", "data", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "'cust[/]'" in errors[0], proc.stderr[-2000:]


def test_a_settings_error_with_brackets_keeps_its_text(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("churn_horizon_days: [1, 2\n")
    proc = run("features", "--config", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "bad.yaml" in proc.stderr and "error:" in proc.stderr


def test_an_error_line_is_plain_text_and_capped() -> None:
    assert error_line("cust[/] [bold]x").plain == "error: cust[/] [bold]x"
    long = error_line("x" * 100_000).plain
    assert len(long) == len("error: ") + MAX_ERROR_CHARS


def test_insecure_local_refuses_a_host_other_than_loopback(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("serving: {host: 0.0.0.0}\n")
    proc = run("serve", "--config", "c.yaml", "--insecure-local", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--insecure-local serves only on this machine" in proc.stderr


def test_score_without_a_model_store_says_so_and_creates_none(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("mlflow_tracking_uri: sqlite:///nothing.db\n")
    proc = run("score", "--config", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no MLflow store at nothing.db" in proc.stderr and "churnclv train" in proc.stderr
    assert not (tmp_path / "nothing.db").exists()
