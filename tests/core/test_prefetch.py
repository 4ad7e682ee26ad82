"""prefetched: the same items in order, made ahead on a thread; errors and early stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from core.prefetch import prefetched


def test_items_come_in_order_and_all_of_them() -> None:
    assert list(prefetched(iter(range(50)))) == list(range(50))
    assert list(prefetched([])) == []


def test_the_next_item_is_made_while_the_caller_works_on_this_one() -> None:
    def slow() -> Iterator[int]:
        for i in range(4):
            time.sleep(0.2)  # making an item
            yield i

    t0 = time.perf_counter()
    for _ in prefetched(slow()):
        time.sleep(0.2)  # using it
    # one after the other: 8 x 0.2 s; overlapped: about 5 x 0.2 s
    assert time.perf_counter() - t0 < 1.4


def test_an_error_while_making_an_item_is_raised_in_its_place() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("range 3 could not be built")

    got = []
    with pytest.raises(ValueError, match="range 3"):
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1, 2]


def test_a_caller_that_stops_early_stops_the_maker() -> None:
    made = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            made.append(i)
            yield i
            i += 1

    items = prefetched(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # joins the thread
    assert not [t for t in threading.enumerate() if t.name == "churnclv-prefetch"]
    assert len(made) <= 3 + 2 + 1  # what was taken, the queue, the one in hand
