"""Throughput and latency of the running API (POST /score_customers, POST /score) under wrk.

    .venv/bin/python bench/bench_service.py --duration 60 --connections 32

Needs wrk (``apt-get install -y wrk``). Builds a served world once in bench/data/service/
(demo data, config, ``churnclv train``, ``churnclv score``; reused on later runs, ``--rebuild``
starts over), starts ``churnclv serve`` on a free loopback port and drives it with wrk: first
single-customer calls, then ``--batch``-customer calls, each picking random known ids.
Reference, measured in the same run: ``LatestScores(OutputCatalog(folder)).lookup_json(ids)`` (the
pre-encoded JSON the service answers with) in a tight loop in this process, for the same call
sizes; the service rate is printed as a ratio of it.

Targets: 0 errors, >= 500 requests/s single-customer, p99 < 100 ms, >= 20,000 customers/s with
100-customer calls.

Then POST /score (raw histories scored on the spot, issue #15) at ``--score-connections`` (8):
bodies are real customers of the world's data with their whole history as of the data end, one
customer per call, then ``--batch`` per call. Reference, measured in the same run: what the
service does for such a call without HTTP (``arrow_from_customers``, the compiled feature query,
``score_customers``) in this process, one call at a time. Targets: p99 < 50 ms single-customer,
>= 2,000 customers/s with 100-customer calls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from common import DATA, ROOT, result

from core.catalog import OutputCatalog
from serving.latest import LatestScores

API_KEY = "bench-service-key"
TARGET_RPS_SINGLE = 500
TARGET_P99_MS = 100
TARGET_CUSTOMERS_PER_S = 20_000
TARGET_SCORE_P99_MS = 50
TARGET_SCORE_CUSTOMERS_PER_S = 2_000

# wrk runs request() per request (random known ids, so requests differ), response() per
# response (counts non-2xx; wrk's own status error count only covers >= 400) and done() once,
# which prints one parseable line.
WRK_COMMON = """
non2xx = 0
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d timeout=%d status=%d non2xx=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout, e.status, bad))
end
"""

# POST /score_customers: `batch` random known ids per call (args: ids file, batch, key)
WRK_LUA = (
    WRK_COMMON
    + """
local ids = {}
local batch = 1

function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  batch = tonumber(args[2])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  math.randomseed(os.time() * 100 + thread_no)
end

function request()
  local parts = {}
  for i = 1, batch do parts[i] = '"' .. ids[math.random(#ids)] .. '"' end
  local body = '{"customer_ids":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format(nil, "/score_customers", nil, body)
end
"""
)

# POST /score: a random body of the file per call, one JSON body per line (args: bodies file,
# customers per body, key)
WRK_SCORE_LUA = (
    WRK_COMMON
    + """
local bodies = {}

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  math.randomseed(os.time() * 100 + thread_no)
end

function request()
  return wrk.format(nil, "/score", nil, bodies[math.random(#bodies)])
end
"""
)


# ---- the served world ------------------------------------------------------------------------
def build_world(folder: Path, customers: int, seed: int, rebuild: bool) -> Path:
    """Demo data, config, trained and registered models, batch scores; reused when present."""
    marker = folder / "world.json"
    want = {"customers": customers, "seed": seed}
    if not rebuild and marker.exists() and json.loads(marker.read_text()) == want:
        print(f"reusing the served world in {folder} ({customers:,} customers)")
        return folder / "config.yaml"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text(
        f"data:\n  dir: {folder / 'data'}\n"
        f"output_dir: {folder / 'out'}\n"
        f"mlflow_tracking_uri: sqlite:///{folder / 'mlflow.db'}\n"
        "model:\n  n_snapshots: 3\n"
    )
    cli = str(ROOT / ".venv" / "bin" / "churnclv")
    steps = [
        [cli, "demo-data", "--customers", str(customers), "--seed", str(seed)]
        + ["--out", str(folder / "data")],
        [cli, "train", "--config", str(config)],
        [cli, "score", "--config", str(config)],
    ]
    with (folder / "build.log").open("w") as log:
        for cmd in steps:
            t0 = time.perf_counter()
            # cwd in the world folder: MLflow's default artifact store (./mlruns) lands there
            done = subprocess.run(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
            if done.returncode:
                sys.exit(f"`churnclv {cmd[1]}` failed; see {folder / 'build.log'}")
            print(f"  churnclv {cmd[1]}: {time.perf_counter() - t0:.1f} s")
    marker.write_text(json.dumps(want))
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(folder: Path, config: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CHURNCLV_API_KEYS": API_KEY,
        "BENTOML_HOME": str(folder / "bentoml"),
    }
    env.pop("CHURNCLV_API_KEYS_FILE", None)
    log = (folder / "serve.log").open("w")
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "churnclv"), "serve", "--config", str(config)]
        + ["--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def service_processes(proc: subprocess.Popen) -> list[psutil.Process]:
    """``churnclv serve`` and its descendants (BentoML's workers run in their own sessions)."""
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def listens_on(procs: list[psutil.Process], port: int) -> bool:
    for p in procs:
        try:
            conns = p.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            return True
    return False


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 300) -> None:
    """Until /readyz answers 200 from a socket that our service holds (not another one's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with code {proc.returncode}; see serve.log")
        if listens_on(service_processes(proc), port):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.5)
    raise TimeoutError(f"the service was not ready after {timeout:.0f} s; see serve.log")


def stop_service(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group (BentoML's arbiter stops its workers), then SIGKILL.

    The workers run in sessions of their own, so any still alive after the grace period are
    killed by pid as well.
    """
    procs = service_processes(proc)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait()


def rss_bytes(procs: list[psutil.Process]) -> int:
    """Resident memory of the service's processes."""
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU time of the service's processes."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def post(base: str, ids: list[str]) -> tuple[int, object]:
    req = urllib.request.Request(
        f"{base}/score_customers",
        data=json.dumps({"customer_ids": ids}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


def post_score(base: str, body: str) -> None:
    req = urllib.request.Request(
        f"{base}/score",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        if r.status != 200:
            raise RuntimeError(f"POST /score answered {r.status}")


# ---- measurements ----------------------------------------------------------------------------
def run_wrk(
    base: str,
    lua: Path,
    ids_file: Path,
    batch: int,
    args: argparse.Namespace,
    procs: list[psutil.Process],
    connections: int,
    threads: int,
) -> dict[str, float]:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections)]
    cmd += ["-d", f"{args.duration}s", "--timeout", f"{args.timeout}s", "--latency"]
    cmd += ["-s", str(lua), base, "--", str(ids_file), str(batch), API_KEY]
    cpu0 = cpu_seconds(procs)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(procs) - cpu0
    load = os.getloadavg()[0]
    rss = rss_bytes(procs)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_RESULT "))
    raw = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    secs = raw["duration_us"] / 1e6
    socket_errors = sum(raw[k] for k in ("connect", "read", "write", "timeout"))
    return {
        "batch": batch,
        "connections": connections,
        "requests": raw["requests"],
        "rps": raw["requests"] / secs,
        "customers_per_s": raw["requests"] * batch / secs,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "non2xx": raw["non2xx"],
        "socket_errors": socket_errors,
        "errors": raw["non2xx"] + socket_errors,
        "server_cpu_ms_per_request": 1000 * cpu / max(raw["requests"], 1),
        "server_cpu_cores": cpu / secs,
        "load1": load,
        "server_rss_mb": rss / 2**20,
    }


def score_bodies(folder: Path, batch: int, n_bodies: int, seed: int) -> list[str]:
    """JSON bodies for POST /score: ``batch`` real customers of the world's data each, with the
    last year of their history as of the data end (customers who bought in that year)."""
    import pandas as pd

    data = folder / "data"
    tx = pd.read_csv(
        data / "transactions.csv", dtype={"customer_id": str}, parse_dates=["timestamp"]
    )
    ev = pd.read_csv(data / "events.csv", dtype={"customer_id": str}, parse_dates=["timestamp"])
    cust = pd.read_csv(data / "customers.csv", dtype={"customer_id": str})
    as_of = tx["timestamp"].max().normalize()
    start = as_of - pd.Timedelta(days=365)
    tx, ev = tx[tx["timestamp"] >= start], ev[ev["timestamp"] >= start]
    rng = random.Random(seed)
    pool = sorted(tx["customer_id"].unique())
    chosen = rng.sample(pool, min(len(pool), batch * n_bodies))
    by_tx, by_ev = dict(list(tx.groupby("customer_id"))), dict(list(ev.groupby("customer_id")))
    attrs = cust.set_index("customer_id")

    def rows(frame: pd.DataFrame | None, cols: list[str]) -> list[dict]:
        if frame is None:
            return []
        out = frame[cols].copy()
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
        return [{k: v for k, v in r.items() if not pd.isna(v)} for r in out.to_dict("records")]

    def customer(cid: str) -> dict:
        a = attrs.loc[cid]
        return {
            "customer_id": cid,
            "as_of": as_of.date().isoformat(),
            "transactions": rows(by_tx.get(cid), ["timestamp", "amount", "channel", "category"]),
            "events": rows(by_ev.get(cid), ["timestamp", "event_type", "channel", "value"]),
            "signup_date": str(a["signup_date"])[:10],
            "acquisition_channel": a["acquisition_channel"],
            "loyalty_member": bool(a["loyalty_member"]),
        }

    return [
        json.dumps({"customers": [customer(c) for c in chosen[i * batch : (i + 1) * batch]]})
        for i in range(len(chosen) // batch)
    ]


def in_process_score_rate(config: Path, bodies: list[str], batch: int, seconds: float) -> float:
    """Customers/s of the service's /score work without HTTP, one call at a time: validation of
    the body, ``arrow_from_customers``, the compiled feature query and ``score_customers``."""
    from pydantic import TypeAdapter

    from core.settings import load_settings
    from features.compiled import CompiledFeatures
    from model.bundle import ModelBundle
    from serving.api_models import CustomerIn, arrow_from_customers
    from serving.score import score_customers

    settings = load_settings(config)
    bundle = ModelBundle.load(OutputCatalog(settings.output_dir).bundle)
    compiled = CompiledFeatures()
    validate = TypeAdapter(list[CustomerIn]).validate_python

    def call(body: str) -> None:
        customers = validate(json.loads(body)["customers"])
        day = customers[0].as_of
        feats = compiled.build(arrow_from_customers(customers), day)
        score_customers(feats, bundle, settings.segments, scoring_date=day, currency="USD")

    call(bodies[0])  # warm: the first call compiles the feature query
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call(bodies[n % len(bodies)])
        n += 1
    return n * batch / (time.perf_counter() - t0)


def raw_lookup_rate(
    latest: LatestScores, method: str, ids: list[str], batch: int, seconds: float
) -> float:
    """Customers/s of ``latest.<method>`` on random known ids, ``batch`` ids per call."""
    lookup = getattr(latest, method)
    rng = random.Random(batch)
    calls = [[rng.choice(ids) for _ in range(batch)] for _ in range(1000)]
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds / 3:
            for call in calls:
                lookup(call)
            n += len(calls)
        best = max(best, n * batch / elapsed)
    return best


def print_table(title: str, results: list[dict], raw: dict[int, float], ref: str) -> None:
    print()
    print(title)
    head = (
        f"{'per call':>8} {'conns':>5} {'req/s':>8} {'cust/s':>9} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'errors':>6} {'cpu ms/req':>10} {'srv cores':>9} "
        f"{'rss MB':>6} {'load1':>5} {'ref cust/s':>11} {'ratio':>7}"
    )
    print(head)
    for r in results:
        ratio = r["customers_per_s"] / raw[r["batch"]]
        print(
            f"{r['batch']:>8} {r['connections']:>5} {r['rps']:>8,.0f} "
            f"{r['customers_per_s']:>9,.0f} "
            f"{r['p50_ms']:>7.1f} {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['max_ms']:>7.0f} "
            f"{r['errors']:>6} {r['server_cpu_ms_per_request']:>10.2f} "
            f"{r['server_cpu_cores']:>9.2f} {r['server_rss_mb']:>6.0f} {r['load1']:>5.2f} "
            f"{raw[r['batch']]:>11,.0f} {ratio:>7.4f}"
        )
    print(f"ref = {ref} in this process, ratio = service / ref")


def report(checks: list[tuple[str, bool, str]]) -> None:
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
        result(f"API {name}", f"{value} ({'met' if ok else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--duration", type=int, default=60, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--score-connections", type=int, default=8, help="for POST /score")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--score-threads",
        type=int,
        default=1,
        help="wrk threads for POST /score: one drives 8 connections, and a second competes "
        "with the service for this machine's two cores (p99 84 vs 107 ms, same code)",
    )
    parser.add_argument("--timeout", type=float, default=5, help="wrk socket timeout, s")
    parser.add_argument("--batch", type=int, default=100, help="ids per call in the 2nd run")
    parser.add_argument(
        "--only", choices=["score_customers", "score"], help="one endpoint (default: both)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the world again")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")

    folder = DATA / "service"
    t0 = time.perf_counter()
    config = build_world(folder, args.customers, args.seed, args.rebuild)
    print(f"world ready in {time.perf_counter() - t0:.1f} s")
    scores_dir = folder / "out"
    ids = sorted(LatestScores(OutputCatalog(scores_dir)).customer_ids)
    ids_file = folder / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    lua = folder / "score_customers.lua"
    lua.write_text(WRK_LUA)
    score_lua = folder / "score.lua"
    score_lua.write_text(WRK_SCORE_LUA)
    bodies = {}
    if args.only != "score_customers":
        for batch in (1, args.batch):
            bodies[batch] = score_bodies(folder, batch, 400 if batch == 1 else 20, args.seed)
            (folder / f"score_bodies_{batch}.jsonl").write_text("\n".join(bodies[batch]) + "\n")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_service(folder, config, port)
    results, score_results = [], []
    try:
        t0 = time.perf_counter()
        wait_ready(proc, port)
        procs = service_processes(proc)
        print(f"service ready on {base} in {time.perf_counter() - t0:.1f} s")
        status, body = post(base, [ids[0], "no-such-customer"])
        if status != 200 or [r["status"] for r in body] != ["ok", "unknown_customer"]:
            raise RuntimeError(f"unexpected answer to a check request: {status} {body}")
        for batch in (1, args.batch) if args.only != "score" else ():
            post(base, ids[:batch])  # warm the path
            print(
                f"wrk: {args.duration} s, {args.connections} connections, {args.threads} "
                f"threads, {batch} id(s) per call (load {os.getloadavg()[0]:.2f})"
            )
            results.append(
                run_wrk(base, lua, ids_file, batch, args, procs, args.connections, args.threads)
            )
        for batch, lines in bodies.items():
            post_score(base, lines[0])  # warm the path (the first call compiles the query)
            print(
                f"wrk POST /score: {args.duration} s, {args.score_connections} connections, "
                f"{args.score_threads} thread(s), {batch} customer(s) per call (load {os.getloadavg()[0]:.2f})"
            )
            file = folder / f"score_bodies_{batch}.jsonl"
            score_results.append(
                run_wrk(
                    base,
                    score_lua,
                    file,
                    batch,
                    args,
                    procs,
                    args.score_connections,
                    args.score_threads,
                )  # fmt: skip
            )
    finally:
        stop_service(proc)

    print(f"\nservice: {args.customers:,} customers scored; load average {os.getloadavg()}")
    if results:
        latest = LatestScores(OutputCatalog(scores_dir))
        raw = {
            r["batch"]: raw_lookup_rate(latest, "lookup_json", ids, r["batch"], 3.0)
            for r in results
        }
        print_table("POST /score_customers", results, raw, "LatestScores.lookup_json")
        single, multi = results
        report([
            ("0 errors", single["errors"] + multi["errors"] == 0,
             f"{single['errors']} + {multi['errors']} "
             f"(non-2xx {single['non2xx']} + {multi['non2xx']})"),
            (f">= {TARGET_RPS_SINGLE} requests/s single-customer",
             single["rps"] >= TARGET_RPS_SINGLE, f"{single['rps']:,.0f}"),
            (f"p99 < {TARGET_P99_MS} ms", max(single["p99_ms"], multi["p99_ms"]) < TARGET_P99_MS,
             f"{single['p99_ms']:.1f} / {multi['p99_ms']:.1f} ms"),
            (f">= {TARGET_CUSTOMERS_PER_S:,} customers/s with {args.batch}-customer calls",
             multi["customers_per_s"] >= TARGET_CUSTOMERS_PER_S,
             f"{multi['customers_per_s']:,.0f}"),
        ])  # fmt: skip
        for r in results:
            result(
                f"API {r['batch']} id(s) per call: service / in-process lookup",
                f"{r['customers_per_s'] / raw[r['batch']]:.4f}",
                "reference: LatestScores.lookup_json, same run",
            )
    if score_results:
        ref = {
            r["batch"]: in_process_score_rate(config, bodies[r["batch"]], r["batch"], 10.0)
            for r in score_results
        }
        print_table(
            "POST /score (raw histories)", score_results, ref,
            "validation + arrow_from_customers + CompiledFeatures + score_customers",
        )  # fmt: skip
        single, multi = score_results
        report([
            ("/score 0 errors", single["errors"] + multi["errors"] == 0,
             f"{single['errors']} + {multi['errors']}"),
            (f"/score p99 < {TARGET_SCORE_P99_MS} ms single-customer at "
             f"{args.score_connections} connections",
             single["p99_ms"] < TARGET_SCORE_P99_MS,
             f"{single['p99_ms']:.0f} ms (p50 {single['p50_ms']:.0f} ms)"),
            (f"/score >= {TARGET_SCORE_CUSTOMERS_PER_S:,} customers/s with {args.batch}-customer"
             " calls", multi["customers_per_s"] >= TARGET_SCORE_CUSTOMERS_PER_S,
             f"{multi['customers_per_s']:,.0f}"),
        ])  # fmt: skip
        for r in score_results:
            result(
                f"API /score {r['batch']} customer(s) per call: service / in process",
                f"{r['customers_per_s'] / ref[r['batch']]:.2f}",
                "reference: the same work in this process, one call at a time, same run",
            )


if __name__ == "__main__":
    main()
