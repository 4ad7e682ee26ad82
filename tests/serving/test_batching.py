"""POST /score's batches: concurrent calls merged into runs; one failing entry fails alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from serving.batching import Batcher, Busy, score_apart


def test_a_poisoned_entry_fails_alone_and_the_rest_of_its_group_is_scored() -> None:
    ids = ["a", "poison", "b", "c"]
    calls: list[list[int]] = []

    def score_group(idx: Sequence[int]) -> list[dict]:
        calls.append(list(idx))
        if 1 in idx:
            raise OverflowError("date value out of range")
        return [{"customer_id": ids[i], "status": "ok"} for i in idx]

    out = score_apart({"2026-09-30": [0, 1, 2], "2026-08-31": [3]}, score_group, ids)
    assert [out[i]["status"] for i in range(4)] == ["ok", "error", "ok", "ok"]
    assert out[1] == {
        "customer_id": "poison",
        "status": "error",
        "error": "this customer could not be scored",
        "detail": None,
    }
    assert calls == [[0, 1, 2], [0], [1], [2], [3]]  # the failing group retried one by one


def test_groups_that_score_are_scored_once() -> None:
    seen = []

    def score_group(idx: Sequence[int]) -> list[dict]:
        seen.append(list(idx))
        return [{"i": i} for i in idx]

    out = score_apart({1: [0, 2], 2: [1]}, score_group, ["x", "y", "z"])
    assert out == {0: {"i": 0}, 2: {"i": 2}, 1: {"i": 1}} and seen == [[0, 2], [1]]


# ---- Batcher: concurrent calls merged into runs ------------------------------------------


def _recording_run(runs: list[list], delay_s: float = 0.0, fail: bool = False):
    def run(items: list) -> list:
        runs.append(list(items))
        time.sleep(delay_s)
        if fail:
            raise RuntimeError("scoring failed")
        return [f"scored {item}" for item in items]

    return run


def test_calls_waiting_together_are_scored_in_one_run_and_get_their_own_results() -> None:
    runs: list[list] = []
    batcher = Batcher(_recording_run(runs, delay_s=0.05), max_items=100)

    async def main() -> list:
        first = asyncio.create_task(batcher.submit(["a"]))  # runs alone: nothing else waits
        await asyncio.sleep(0.01)
        rest = [batcher.submit(items) for items in (["b", "c"], ["d"], ["e", "f", "g"])]
        return [await first, *await asyncio.gather(*rest)]

    results = asyncio.run(main())
    assert results == [
        ["scored a"],
        ["scored b", "scored c"],
        ["scored d"],
        ["scored e", "scored f", "scored g"],
    ]
    assert runs == [["a"], ["b", "c", "d", "e", "f", "g"]]


def test_a_run_takes_whole_calls_up_to_the_size() -> None:
    runs: list[list] = []
    batcher = Batcher(_recording_run(runs, delay_s=0.05), max_items=4)

    async def main() -> None:
        first = asyncio.create_task(batcher.submit([0]))
        await asyncio.sleep(0.01)
        await asyncio.gather(first, *(batcher.submit([k, k]) for k in (1, 2, 3)))

    asyncio.run(main())
    assert runs == [[0], [1, 1, 2, 2], [3, 3]]  # a call is never split


def test_after_a_run_the_batcher_waits_briefly_for_the_callers_it_answered() -> None:
    """Clients answered by a run of three call again a few ms apart: one run, not three."""
    runs: list[list] = []
    batcher = Batcher(_recording_run(runs), max_items=100, linger_s=0.2)

    async def client(name: str, pause_s: float) -> None:
        await batcher.submit([f"{name}1"])
        await asyncio.sleep(pause_s)
        await batcher.submit([f"{name}2"])

    async def main() -> None:
        # the first round arrives together (while a warm-up run holds the thread)
        warm = asyncio.create_task(batcher.submit(["warm"]))
        await asyncio.sleep(0)
        await asyncio.gather(warm, client("x", 0.0), client("y", 0.01), client("z", 0.02))

    asyncio.run(main())
    assert sorted(map(sorted, runs[-1:])) == [["x2", "y2", "z2"]]


def test_the_linger_is_bounded_when_fewer_callers_come_back() -> None:
    runs: list[list] = []
    batcher = Batcher(_recording_run(runs), max_items=100, linger_s=0.05)

    async def main() -> float:
        await asyncio.gather(*(batcher.submit([k]) for k in range(3)))
        t0 = time.perf_counter()
        await batcher.submit(["alone"])
        return time.perf_counter() - t0

    waited = asyncio.run(main())
    assert runs[-1] == ["alone"] and waited < 1.0


def test_a_failing_run_fails_each_of_its_calls_and_the_batcher_goes_on() -> None:
    runs: list[list] = []
    failing = Batcher(_recording_run(runs, fail=True), max_items=100)

    async def main() -> list:
        return await asyncio.gather(
            failing.submit(["a"]), failing.submit(["b"]), return_exceptions=True
        )

    errors = asyncio.run(main())
    assert [type(e) for e in errors] == [RuntimeError, RuntimeError]
    assert asyncio.run(main()) and len(runs) >= 2  # still working


def test_calls_beyond_the_queue_bound_are_refused() -> None:
    """About queue_s of queued work (estimated from the runs so far) and a call is Busy."""
    release = threading.Event()

    def run(items: list) -> list:
        release.wait(5)
        return items

    batcher = Batcher(run, max_items=10, queue_s=1.0)

    async def main() -> list:
        release.set()
        await batcher.submit([0])  # one run: about 0 s per item, learnt below
        while batcher._seconds_per_item is None:  # noqa: SLF001 - the worker has learnt it
            await asyncio.sleep(0.001)
        batcher._seconds_per_item = 0.2  # noqa: SLF001 - as if each item took 0.2 s
        release.clear()
        running = asyncio.create_task(batcher.submit([1]))  # holds the thread
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(batcher.submit([2, 3, 4]))]  # 0.6 s queued: accepted
        await asyncio.sleep(0.01)
        with pytest.raises(Busy, match="1 s of scoring work"):
            await batcher.submit([5, 6, 7])  # would make 1.2 s
        release.set()
        return await asyncio.gather(running, *queued)

    assert asyncio.run(main()) == [[1], [2, 3, 4]]


def test_a_caller_that_goes_away_does_not_stop_the_batcher() -> None:
    runs: list[list] = []
    batcher = Batcher(_recording_run(runs, delay_s=0.05), max_items=100)

    async def main() -> list:
        gone = asyncio.create_task(batcher.submit(["gone"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.1)
        return await asyncio.wait_for(batcher.submit(["next"]), 5)

    assert asyncio.run(main()) == ["scored next"]


def test_a_caller_whose_event_loop_closed_does_not_stop_the_batcher() -> None:
    release = threading.Event()

    def run(items: list) -> list:
        release.wait(5)
        return items

    batcher = Batcher(run, max_items=100)

    async def leave() -> None:
        asyncio.get_running_loop().create_task(batcher.submit(["left"]))
        await asyncio.sleep(0.05)  # the run is under way when this loop closes

    asyncio.run(leave())
    release.set()

    async def after() -> list:
        return await asyncio.wait_for(batcher.submit(["next"]), 5)

    assert asyncio.run(after()) == ["next"]
