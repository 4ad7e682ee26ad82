"""One failing entry in an adaptive batch fails only itself."""

from __future__ import annotations

from collections.abc import Sequence

from serving.batching import score_apart


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
