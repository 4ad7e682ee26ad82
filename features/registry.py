"""Feature metadata and families: each family declares its columns next to its expressions.

A :class:`Family` pairs the metadata of its columns (:class:`FeatureSpec`) with the Ibis code
that computes them, so the catalogue (:mod:`features.catalogue`) is generated from the same
objects the engine runs and cannot drift from the code.

Execution model: a family names a *source* (a function ``ctx -> ibis Table`` with one or more
rows per ``customer_id``). The engine groups all families that share a source into one
``group_by("customer_id").aggregate(...)`` pass, then applies each family's ``finalize``
(derived columns computed from the aggregated ones). Aggregate columns whose name starts with
``_`` are internal helpers and are dropped after ``finalize``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context

Dtype = Literal["float64", "int64", "str"]
Source = Callable[["Context"], "ir.Table"]
Aggregates = Callable[["ir.Table", "Context"], Mapping[str, "ir.Value"]]
Finalize = Callable[["ir.Table"], Mapping[str, "ir.Value"]]


@dataclass(frozen=True)
class FeatureSpec:
    """One output column: its name, meaning, unit, window, dtype and missing-value convention.

    ``fill`` is the value given to a customer known at the cutoff who has no row in the family's
    source (e.g. no events): 0 for counts, ``None`` (null) for days-since, rates and means.
    """

    name: str
    meaning: str
    unit: str
    window: str
    dtype: Dtype
    fill: Any = None
    missing: str = "null"


@dataclass(frozen=True)
class Family:
    """A group of features computed in one pass over one source table."""

    name: str
    description: str
    requires: tuple[str, ...]
    source: Source
    aggregates: Aggregates
    specs: tuple[FeatureSpec, ...]
    finalize: Finalize | None = None

    @property
    def optional(self) -> bool:
        """True when the family needs an optional table (events or customers)."""
        return any(t != "transactions" for t in self.requires)

    @property
    def columns(self) -> list[str]:
        """Output column names in catalogue order."""
        return [s.name for s in self.specs]

    def available(self, present: set[str]) -> bool:
        """True when every table this family needs is present."""
        return all(t in present for t in self.requires)
