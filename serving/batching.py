"""Batches for POST /score: concurrent calls merged into one scoring run, and kept apart in it.

:class:`Batcher` merges the calls waiting when the scoring thread is free into one run (the
feature query and the models cost about the same for one customer as for a few dozen, so
merging is what makes one-customer calls cheap) and hands each call its own records. It
replaces BentoML's adaptive batching, whose dispatcher settled, at 8 connections, into
alternating batches of 6 and 2 calls, each call waiting for two runs: after a run the batcher
lingers a few milliseconds until as many calls are back as the run held (the clients it just
answered), so a steady load is scored in one run per round (``bench/bench_service.py``).
Calls beyond about :data:`QUEUE_SECONDS` of queued work are refused (:class:`Busy`, a 503).

A failure while scoring one entry must not fail the others (:func:`score_apart`): a group that
fails is scored again entry by entry, and an entry that still fails gets its own error item
(``status`` ``error``, in the API's error shape) while every other entry, of its call or of any
other, gets its scores.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from serving.http import error_payload

logger = logging.getLogger("churnclv.api")

QUEUE_SECONDS = 10.0
"""Calls are refused while more than this much scoring work (estimated) is queued."""
LINGER_SECONDS = 0.02
"""After a run, how long the batcher waits at most for the calls it answered to come back."""

ScoreGroup = Callable[[Sequence[int]], list[dict]]
"""Scores the entries at these positions; returns one record per position, in order."""


def error_item(customer_id: str, message: str) -> dict:
    """The item an entry that could not be scored gets."""
    return {"customer_id": customer_id, "status": "error", **error_payload(message)}


def score_apart(
    groups: dict[Hashable, list[int]], score_group: ScoreGroup, ids: Sequence[str]
) -> dict[int, dict]:
    """Records by position: each group scored together; a failing group entry by entry.

    Failures are logged with their type only (never request content).
    """
    out: dict[int, dict] = {}
    for idx in groups.values():
        try:
            out.update(zip(idx, score_group(idx), strict=True))
            continue
        except Exception as exc:  # noqa: BLE001 - isolate, then retry one by one
            logger.warning(
                "a batch of %d failed (%s); scoring its entries apart", len(idx), type(exc).__name__
            )
        for i in idx:
            try:
                (out[i],) = score_group([i])
            except Exception as exc:  # noqa: BLE001 - this entry alone fails
                logger.warning("one entry could not be scored (%s)", type(exc).__name__)
                out[i] = error_item(ids[i], "this customer could not be scored")
    return out


class Busy(Exception):
    """More than :data:`QUEUE_SECONDS` of work is queued: the call is refused (503)."""


@dataclass
class _Call:
    items: list
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class Batcher:
    """Scores the items of concurrent calls in merged runs of ``run`` on one thread.

    ``run`` takes the items of several calls (at most ``max_items``; a call is never split)
    and returns one result per item, in order; :meth:`submit` returns a call's own results.
    """

    def __init__(
        self,
        run: Callable[[list], list],
        max_items: int,
        linger_s: float = LINGER_SECONDS,
        queue_s: float = QUEUE_SECONDS,
    ) -> None:
        self._run, self._max_items = run, max_items
        self._linger_s, self._queue_s = linger_s, queue_s
        self._calls: deque[_Call] = deque()
        self._queued = 0  # items waiting
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_calls, self._last_end = 0, 0.0
        self._seconds_per_item: float | None = None  # of the last runs (moving average)

    async def submit(self, items: list) -> list:
        """The results of ``items``, scored with whatever other calls are waiting."""
        loop = asyncio.get_running_loop()
        call = _Call(list(items), loop.create_future(), loop)
        with self._cond:
            spi = self._seconds_per_item
            if self._queued and spi and (self._queued + len(items)) * spi > self._queue_s:
                raise Busy(f"more than {self._queue_s:.0f} s of scoring work is queued")
            self._calls.append(call)
            self._queued += len(call.items)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="churnclv-batcher")
                self._thread.daemon = True  # requests in flight are drained by the server
                self._thread.start()
            self._cond.notify()
        return await call.future

    def _next(self) -> list[_Call]:
        """The calls of the next run: every waiting call that fits, once the linger is over."""
        with self._cond:
            while not self._calls:
                self._cond.wait()
            # the clients answered by the last run are usually about to call again: wait a
            # little for as many calls as that run held, rather than run a part of them now
            deadline = self._last_end + self._linger_s
            while len(self._calls) < self._last_calls and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            calls = [self._calls.popleft()]
            size = len(calls[0].items)
            while self._calls and size + len(self._calls[0].items) <= self._max_items:
                calls.append(self._calls.popleft())
                size += len(calls[-1].items)
            self._queued -= size
            return calls

    def _work(self) -> None:
        while True:
            calls = self._next()
            items = [item for call in calls for item in call.items]
            start = time.monotonic()
            try:
                results = self._run(items)
            except Exception as exc:  # noqa: BLE001 - every call of this run gets the error
                for call in calls:
                    _hand_back(call, None, exc)
            else:
                at = 0
                for call in calls:
                    _hand_back(call, results[at : at + len(call.items)], None)
                    at += len(call.items)
            end = time.monotonic()
            per_item = (end - start) / max(1, len(items))
            with self._cond:
                self._last_calls, self._last_end = len(calls), end
                spi = self._seconds_per_item
                self._seconds_per_item = per_item if spi is None else 0.8 * spi + 0.2 * per_item


def _hand_back(call: _Call, result: Any, error: BaseException | None) -> None:
    """Give a call its results on its event loop; a loop already closed (the server stopping)
    is skipped, so the batcher's thread never dies with it."""
    try:
        call.loop.call_soon_threadsafe(_settle, call.future, result, error)
    except RuntimeError:
        logger.warning("a call's event loop was closed before its results were ready")


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away: its call was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
