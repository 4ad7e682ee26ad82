"""Fixtures shared by every test folder."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "churnclv.cli"]


def shared_folder(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """A folder made once per test run by ``build`` and shared by the pytest-xdist workers
    (``make test`` runs two): the first worker to ask builds it under a file lock, the other
    waits for it. Without xdist it is an ordinary temporary folder."""
    import os

    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    folder, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                folder.mkdir()
                build(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


@pytest.fixture(scope="session")
def spark_backend(tmp_path_factory):
    """One local Spark session for the whole run (Ibis PySpark backend), stopped at the end.

    local[1], no UI, 2 shuffle partitions, UTC, catalog tables in a temporary folder; made by ``features.engine.make_backend``.
    Skips when pyspark is not installed (``make test`` installs it).
    """
    pytest.importorskip("pyspark")
    import os

    from features.engine import make_backend

    previous = os.environ.get("PYSPARK_PYTHON")  # make_backend sets it if unset
    con = make_backend(
        "spark",
        spark_master="local[1]",
        spark_conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark-warehouse")),
        },
    )
    con._session.sparkContext.setLogLevel("ERROR")
    try:
        yield con
    finally:
        con._session.stop()
        if previous is None:
            os.environ.pop("PYSPARK_PYTHON", None)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - a playwright.sync_api.Browser
    """Debian's headless Chromium driven by Playwright (no browser download); skips without it."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heaviest files first, so the two workers of ``make test`` (pytest-xdist, whole files
    per worker, ``--no-loadscope-reorder``) finish close together: files with tests marked
    both ``slow`` and ``spark`` lead, then ``spark``, then ``slow``; order is kept otherwise.
    The ``browser`` file goes last: it uses the served world the service tests build early
    (shared through :func:`shared_folder`), so it does not wait for it on the other worker."""

    def weight(item: pytest.Item) -> int:
        if "browser" in item.keywords:
            return -1
        return ("slow" in item.keywords) + 2 * ("spark" in item.keywords)

    by_file: dict[str, int] = {}
    for item in items:
        path = str(item.path)
        by_file[path] = max(by_file.get(path, -1), weight(item))
    items.sort(key=lambda item: -by_file[str(item.path)])


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line of a CLI run that failed as a user error (exit 1, no traceback)."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def paused_score(
    work: Path, point: str, staged_file: str, config: str = "config.yaml", out: str = "out"
) -> subprocess.Popen[str]:
    """``churnclv score --config CONFIG`` started with a pause at fault ``point``, returned once
    its staging folder (under ``out/runs``) holds ``staged_file``: the run is then paused there,
    holding its locks and files."""
    env = {**os.environ, "CHURNCLV_FAULT": f"{point}:pause"}
    run = subprocess.Popen(
        [*CLI, "score", "--config", config],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    staged = work / out / "runs"
    deadline = time.monotonic() + 300
    while not any((p / staged_file).exists() for p in staged.glob(".staging-*")):
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            raise AssertionError(f"the run did not pause at {point}: {run.communicate()[1]}")
        time.sleep(0.2)
    return run
