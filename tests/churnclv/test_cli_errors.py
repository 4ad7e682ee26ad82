"""User errors are one `error:` line of plain text: nothing in them is read as markup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from churnclv.cli import MAX_ERROR_CHARS, error_line
from tests.conftest import (
    CLI,
    one_error_line,
)


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


def small_data(folder: Path) -> None:
    folder.mkdir()
    (folder / "transactions.csv").write_text(
        "customer_id,timestamp,amount\nc1,2026-01-05,10\nc2,2026-02-01,20\nc1,2026-03-01,5\n"
    )


def test_a_cutoff_after_the_last_transaction_is_one_error_line(tmp_path: Path) -> None:
    small_data(tmp_path / "data")
    line = one_error_line(run("features", "--data", "data", "--cutoff", "2030-06-01", cwd=tmp_path))
    assert "cutoff 2030-06-01 is after the last transaction (2026-03-01) by more than 30" in line
    line = one_error_line(run("features", "--data", "data", "--cutoff", "9999-12-31", cwd=tmp_path))
    assert "after the last transaction" in line
    assert not (tmp_path / "outputs" / "features.parquet").exists()
    # a few days after the last transaction is fine (an extract that ends before today)
    proc = run("features", "--data", "data", "--cutoff", "2026-03-08", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_cutoff_before_the_first_transaction_is_one_error_line(tmp_path: Path) -> None:
    small_data(tmp_path / "data")
    line = one_error_line(run("train", "--data", "data", "--cutoff", "2010-01-01", cwd=tmp_path))
    assert "cutoff 2010-01-01 is before the first transaction (2026-01-05)" in line


def test_tables_that_share_no_ids_stop_the_run_with_a_hint(tmp_path: Path) -> None:
    import pandas as pd

    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {"customer_id": [1, 2, 3], "timestamp": pd.to_datetime(["2026-01-01"] * 3), "amount": 5.0}
    ).to_parquet(data / "transactions.parquet")
    (data / "customers.csv").write_text(
        "customer_id,signup_date\n000001,2025-01-01\n000002,2025-01-01\n000003,2025-01-01\n"
    )
    line = one_error_line(run("features", "--data", "data", cwd=tmp_path))
    assert "customers.csv: 0.0% of its customer ids appear in the transactions" in line
    assert "leading zeros" in line
    # the same for a subscriptions table
    (data / "customers.csv").unlink()
    (data / "subscriptions.csv").write_text(
        "customer_id,subscription_id,start_date,billing_period_days\n000001,s1,2025-01-01,30\n"
    )
    line = one_error_line(run("features", "--data", "data", cwd=tmp_path))
    assert "subscriptions.csv: 0.0% of its customer ids appear in the transactions" in line


def test_a_truth_file_that_is_not_there_stops_training_before_it_starts(tmp_path: Path) -> None:
    small_data(tmp_path / "data")
    proc = run("train", "--data", "data", "--truth", "data/truth.csv", cwd=tmp_path)
    line = one_error_line(proc)
    assert (
        line
        == "error: data.truth: data/truth.csv is not a file (the ground truth of simulated data)"
    )
    assert "training" not in proc.stderr  # stopped before the training steps


def test_all_rows_rejected_writes_the_rejects_and_suggests_the_date_format(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "transactions.csv").write_text(
        "customer_id,timestamp,amount\nc1,25/01/2026,10\nc2,13/02/2026,20\nc1,28/03/2026,5\n"
    )
    for command in ("features", "train"):
        line = one_error_line(run(command, "--data", "data", "--out", "out", cwd=tmp_path))
        assert line == (
            "error: data/transactions.csv: no usable transaction rows (3 read, 3 rejected); "
            "all for unparseable timestamp: values such as '25/01/2026', '13/02/2026' read as "
            "'%d/%m/%Y'; set data.transactions.timestamp_format: '%d/%m/%Y'; every row and its "
            "reason: out/rejects.csv"
        )
        import pandas as pd

        rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
        assert rejects["row"].tolist() == [1, 2, 3]
        assert rejects["reason"].str.startswith("unparseable timestamp: '").all()
        (tmp_path / "out" / "rejects.csv").unlink()


def test_sigterm_landing_in_a_finalizer_still_stops_the_command() -> None:
    """Python drops an exception raised inside a finalizer ("Exception ignored in ..."): a
    SIGTERM that lands there is delivered again, so the command still stops."""
    import subprocess

    script = """
import os, signal
from churnclv import cli

cli._unwind_on_sigterm()

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10**5):  # the handler runs in here, inside the finalizer
            pass

try:
    Finalized()
    for _ in range(10**8):  # seconds: the stop comes long before the end
        pass
    print("went on")
except cli.Terminated:
    print("stopped")
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.stdout.strip() == "stopped", proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr
