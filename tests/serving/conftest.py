"""A served world for the HTTP tests: demo data, trained and registered models, batch scores and
a running `churnclv serve` (BentoML) on a free loopback port, all in one temporary folder.

The server runs in its own process group and is stopped as a group (SIGTERM, then SIGKILL) at
the end of the session; its stdout and stderr go to a file that tests read (no key or customer
id may appear there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    CLI,
    shared_folder,
)

HOST = "127.0.0.1"
# two configured keys; distinctive strings so that a leak into the log is unambiguous
API_KEYS = ("tk-alpha-5d1e0c7b9f2a4e68", "tk-bravo-83c4a6f1e0b27d95")
READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
CONFIG = """\
data: {dir: data}
output_dir: out
mlflow_tracking_uri: sqlite:///mlflow.db
currency: USD
model: {n_snapshots: 3, clv_check: false, lightgbm: {n_estimators: 80, learning_rate: 0.05, num_leaves: 15}}
"""


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    """Run the churnclv CLI in a subprocess (as a user would), capturing its output."""
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_env(work: Path, keys: tuple[str, ...] | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CHURNCLV_API_KEYS", "CHURNCLV_API_KEYS_FILE", "CHURNCLV_INSECURE_LOCAL")
    }
    env["BENTOML_HOME"] = str(work / "bentoml")
    env["BENTOML_DO_NOT_TRACK"] = "True"  # no usage reporting from test servers
    env["PYTHONUNBUFFERED"] = "1"
    if keys:
        env["CHURNCLV_API_KEYS"] = ",".join(keys)
    return env


@dataclass
class Server:
    """A running `churnclv serve`: its URL, process and log file."""

    url: str
    proc: subprocess.Popen
    log: Path
    work: Path
    keys: tuple[str, ...] = field(default=API_KEYS)

    def client(self, key: str | None = API_KEYS[0], **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def log_text(self) -> str:
        return self.log.read_bytes().decode("utf-8", errors="replace")


def start_server(
    work: Path, port: int, log: Path, keys: tuple[str, ...] | None, *extra: str
) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*CLI, "serve", "--config", "config.yaml", "--port", str(port), *extra],
            cwd=work,
            env=server_env(work, keys),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stopped as a whole below
        )


def wait_ready(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"churnclv serve exited with {proc.returncode} before it was ready:\n"
                + log.read_bytes().decode(errors="replace")[-5000:]
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    stop_server(proc)
    pytest.fail(
        f"churnclv serve not ready after {READY_TIMEOUT_S} s:\n"
        + log.read_bytes().decode(errors="replace")[-5000:]
    )


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the process group."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():  # not Linux: any member, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_dir.glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may contain spaces: split after ')'
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group; SIGKILL what is still there after a timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        proc.poll()  # reap the group leader once it exits
        if not group_alive(proc.pid):
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def running_server(
    work: Path, log: Path, keys: tuple[str, ...] | None, *extra: str
) -> Iterator[Server]:
    port = free_port()
    proc = start_server(work, port, log, keys, *extra)
    url = f"http://{HOST}:{port}"
    try:
        wait_ready(proc, url, log)
        yield Server(url=url, proc=proc, log=log, work=work, keys=keys or ())
    finally:
        stop_server(proc)


def build_world(work: Path) -> None:
    """Demo data (with the data's own event types and customer columns: scenario
    own-columns), trained + registered models and batch scores in ``work``."""
    (work / "config.yaml").write_text(CONFIG)
    steps = [
        ("demo-data", "--customers", "1500", "--seed", "3", "--out", "data")
        + ("--scenario", "own-columns"),
        ("train", "--config", "config.yaml"),
        ("score", "--config", "config.yaml"),
    ]
    for step in steps:
        proc = run_cli(*step, cwd=work)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo data, trained + registered models and batch scores, made once per run (the page
    and service test files share it, on whichever workers they run). Read only: a test that
    changes outputs works on a copy."""
    return shared_folder(tmp_path_factory, "served", build_world)


@pytest.fixture(scope="session")
def server(world: Path) -> Iterator[Server]:
    """`churnclv serve` with the two test keys, for the whole session (one per worker, each
    with its own log)."""
    log = world / f"server-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    with running_server(world, log, API_KEYS) as srv:
        yield srv
