"""The running service follows the data: a new score run and a new champion are served without
a restart and without a failed request; stopping `churnclv serve` stops its whole process tree
after the requests in flight. Real CLI runs, a real server on loopback (marker ``slow``)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from core.catalog import OutputCatalog
from core.mlflow_store import open_store
from core.registry import CHURN_MODEL, registered_pair
from core.runs import current_run_id
from tests.serving.conftest import (
    API_KEYS,
    HOST,
    free_port,
    run_cli,
    running_server,
    start_server,
    stop_server,
    wait_ready,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def work(world: Path, tmp_path: Path) -> Path:
    """A private copy of the served world whose service checks for news every second."""
    copy = tmp_path / "w"
    shutil.copytree(
        world, copy, symlinks=True, ignore=shutil.ignore_patterns("bentoml", "*.log", ".lock")
    )
    config = copy / "config.yaml"
    config.write_text(config.read_text() + "serving: {reload_interval_s: 1}\n")
    return copy


def wait_for(check, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the service did not switch in time"
        time.sleep(0.2)


def test_a_new_score_run_and_a_new_champion_are_served_without_a_failed_request(
    work: Path,
) -> None:
    with running_server(work, work / "serve.log", API_KEYS) as srv, srv.client() as api:
        first = api.get("/segments").json()
        assert first["scores_run"] == current_run_id(OutputCatalog(work / "out"))
        ids = [c["customer_id"] for c in api.get("/segments/champions").json()["customers"][:5]]

        failures: list[str] = []
        stop = threading.Event()

        def campaign_tool() -> None:  # reads all along, as a campaign tool would
            with srv.client() as client:
                while not stop.is_set():
                    for r in (
                        client.post("/score_customers", json={"customer_ids": ids}),
                        client.get("/segments"),
                    ):
                        if r.status_code != 200:
                            failures.append(f"{r.request.url} {r.status_code} {r.text[:200]}")

        reader = threading.Thread(target=campaign_tool)
        reader.start()
        try:
            # a new score run at another cutoff: served within the reload interval
            proc = run_cli("score", "--config", "config.yaml", "--cutoff", "2026-09-15", cwd=work)
            assert proc.returncode == 0, proc.stderr[-2000:]
            new_run = current_run_id(OutputCatalog(work / "out"))
            assert new_run != first["scores_run"]
            wait_for(lambda: api.get("/segments").json()["scores_run"] == new_run)
            assert api.get("/segments").json()["scoring_date"] == "2026-09-15"
            assert api.get("/model").json()["scores"]["run"] == new_run

            # a second registered pair made champion by hand: POST /admin/reload switches now
            proc = run_cli("train", "--config", "config.yaml", cwd=work)
            assert proc.returncode == 0, proc.stderr[-2000:]
            uri = f"sqlite:///{work / 'mlflow.db'}"
            if registered_pair(open_store(uri, True), "champion", uri).versions[CHURN_MODEL] == "1":
                proc = run_cli("promote", "2", "--config", "config.yaml", cwd=work)
                assert proc.returncode == 0, proc.stderr[-2000:]
            reload = api.post("/admin/reload").json()
            served = reload["model_versions"]
            assert served == {"churn_model": "2", "clv_model": "2"}, reload
            assert api.get("/model").json()["versions"] == served
            with httpx.Client(base_url=srv.url) as anonymous:  # the admin call needs a key
                assert anonymous.post("/admin/reload").status_code == 401
        finally:
            stop.set()
            reader.join()
    assert failures == []


def processes_with(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                stat = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_sigterm_to_serve_finishes_requests_in_flight_and_stops_the_whole_tree(
    work: Path,
) -> None:
    port = free_port()
    log = work / "serve.log"
    proc = start_server(work, port, log, API_KEYS)
    url = f"http://{HOST}:{port}"
    try:
        wait_ready(proc, url, log)
        assert len(processes_with(f"--port\x00{port}")) >= 2  # `churnclv serve` and BentoML
        tx = [
            {"timestamp": f"2025-{m:02d}-{d:02d}T10:00:00", "amount": 10.0 + d}
            for m in range(1, 13)
            for d in (3, 17)
        ]
        body = {
            "customers": [
                {"customer_id": f"c{i}", "as_of": "2026-09-30", "transactions": tx}
                for i in range(1000)
            ]
        }
        answer: dict[str, httpx.Response] = {}

        def in_flight() -> None:
            answer["r"] = httpx.post(
                f"{url}/score",
                json=body,
                headers={"Authorization": f"Bearer {API_KEYS[0]}"},
                timeout=120,
            )

        request = threading.Thread(target=in_flight)
        request.start()
        time.sleep(1.0)  # the request has reached the server
        os.kill(proc.pid, signal.SIGTERM)  # as a service manager stops it: the parent only
        assert proc.wait(timeout=90) == 0
        request.join(timeout=120)
        assert answer["r"].status_code == 200, answer["r"].text[:500]
        assert len(answer["r"].json()) == 1000
        wait_for(lambda: not processes_with(f"--port\x00{port}"), timeout=10)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/readyz", timeout=2)
    finally:
        stop_server(proc)


def test_sigkill_of_serve_still_takes_the_server_down(work: Path) -> None:
    """Even a `churnclv serve` killed outright leaves no server answering."""
    port = free_port()
    log = work / "serve.log"
    proc = start_server(work, port, log, API_KEYS)
    try:
        wait_ready(proc, f"http://{HOST}:{port}", log)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not processes_with(f"--port\x00{port}"), timeout=60)
    finally:
        stop_server(proc)


def test_the_timer_reads_the_registry_only_when_its_store_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ChampionWatch: the registry is read at the first check, again when the SQLite file (or
    its write-ahead log) changes, after a failed read, and whenever asked fresh; a store that
    is not a file is read at every check."""
    import serving.follow as follow

    reads: list[str] = []
    answers = iter([{"churn_model": "1"}, {"churn_model": "2"}, None, {"churn_model": "2"}])

    def fake_read(uri: str) -> dict | None:
        reads.append(uri)
        return next(answers, {"churn_model": "2"})

    monkeypatch.setattr(follow, "champion_versions", fake_read)
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"x")
    watch = follow.ChampionWatch(f"sqlite:///{db}")
    assert watch.versions() == {"churn_model": "1"} and len(reads) == 1
    assert watch.versions() == {"churn_model": "1"} and len(reads) == 1  # unchanged: no read
    db.write_bytes(b"xy")  # a new champion was written
    assert watch.versions() == {"churn_model": "2"} and len(reads) == 2
    (tmp_path / "mlflow.db-wal").write_bytes(b"w")  # written through the log
    assert watch.versions() is None and len(reads) == 3  # the read failed...
    assert watch.versions() == {"churn_model": "2"} and len(reads) == 4  # ...so it is retried
    assert watch.versions(fresh=True) == {"churn_model": "2"} and len(reads) == 5

    remote = follow.ChampionWatch("http://127.0.0.1:5000")
    remote.versions()
    remote.versions()
    assert len(reads) == 7
