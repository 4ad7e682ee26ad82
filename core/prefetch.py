"""Overlap a producer with its consumer: the next item is made on a thread while the caller
works on the current one.

``churnclv score`` on the embedded engine builds one range of customers' features in DuckDB
(which works outside Python's lock) while the previous range is scored in Python
(``churnclv.engines.DuckDBEngine``). Written by hand because the standard library has no
bounded, exception-forwarding prefetch for a plain iterator, and it is a few lines.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items`` in order, with up to ``depth`` of them made ahead on one thread.

    An exception raised while making an item is raised here, in its place. When the caller
    stops early (an error of its own, ``close()``), the thread stops after the item it is on.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                if not _put(ready, (item, None), stop):
                    return
            _put(ready, (_DONE, None), stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            _put(ready, (_DONE, exc), stop)

    thread = threading.Thread(target=make, name="churnclv-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()  # the producer's resources (a connection) are free when this returns


def _put(ready: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Put ``entry`` unless the caller has stopped; False once it has."""
    while not stop.is_set():
        try:
            ready.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
