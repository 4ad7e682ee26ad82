"""Keep requests apart inside an adaptive batch.

BentoML merges concurrent ``/score`` requests into one call. A failure while scoring one entry
must not fail the others: a group that fails is scored again entry by entry, and an entry that
still fails gets its own error item (``status`` ``error``, in the API's error shape) while every
other entry, of its request or of any other, gets its scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence

from serving.http import error_payload

logger = logging.getLogger("churnclv.api")

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
