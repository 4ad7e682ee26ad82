"""The data's own columns as features: fitted on the training data, stored with the model.

The catalogue's families (:mod:`features.catalogue`) know five event types and three customer
attributes. Real data has more, and they become features too:

* **Event types** beyond the standard five (``product_view``, ``cart_add``, ``complaint``,
  ``payment_failed``...) get the standard event features, named from the type:
  ``events_{type}_{w}d`` (events of that type in the last ``w`` days, 0 when none),
  ``days_since_{type}`` (cutoff day minus the day of the last one, null when never) and
  ``events_{type}_trend_90d`` (``(last 90 days - previous 90 days) / (previous 90 days + 1)``).
  The most frequent types first, at most ``max_event_types``.
* **Customer attributes**: every extra column of the customers table (``region``, ``plan``,
  ``age_band``, ``store_distance_km``...) becomes ``attr_{name}``: a number when every value
  reads as one, else a category whose most frequent ``max_levels`` values are kept and the
  rest read ``other`` (null stays null); a column of dates (``last_login``, ISO 8601) becomes
  ``attr_days_since_{name}``, the days from the date to the cutoff day (negative after it). Columns in ``exclude`` and identifier-like text
  columns (more distinct values than half the customers) are left out.

Which types, columns and levels is learned like category levels: :func:`vocabulary_at` looks
at the data visible at one cutoff in training, the model stores the :class:`Vocabulary`
(:meth:`Vocabulary.to_dict`), and scoring builds exactly those columns whatever the batch
holds: a type the model never saw is not counted, one absent from the batch gives zeros, an
attribute missing from the batch is null, a level never seen reads ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from features.attributes import customers_source
from features.engagement import EVENT_TYPES, events_source
from features.registry import Family, FeatureSpec
from features.windows import TREND_DAYS, WINDOWS_DAYS

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.context import Context, CutoffLike
    from features.contract import InputTables
    from features.engine import IbisTables

MAX_EVENT_TYPES = 10
"""Default cap on the extra event types (each adds six columns)."""
MAX_LEVELS = 20
"""Default cap on the levels kept of a text attribute (the others read ``other``)."""
OTHER = "other"
IDENTIFIER_SHARE = 0.5
"""A text attribute with more distinct values than this share of customers (and than
``max_levels``) is taken for an identifier (an e-mail, a name) and left out."""

_SLUG_MAX = 40


def slug(name: str) -> str | None:
    """The column-name form of an event type or attribute (lower case, ``[a-z0-9_]``); None
    when nothing usable is left (e.g. only punctuation)."""
    text = re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")[:_SLUG_MAX]
    return text or None


@dataclass(frozen=True)
class Attribute:
    """One extra customer column: its source name, and the levels kept of text or whether it
    holds dates."""

    column: str
    levels: tuple[str, ...] | None = None
    """None: a number or a date; else the text values kept (others read ``other``)."""
    date: bool = False
    """Dates (ISO 8601): the feature is the days from the date to the cutoff day."""

    @property
    def feature(self) -> str:
        name = slug(self.column)
        return f"attr_days_since_{name}" if self.date else f"attr_{name}"

    @property
    def kind(self) -> str:
        return "date" if self.date else "number" if self.levels is None else "category"


@dataclass(frozen=True)
class Vocabulary:
    """The extra event types and customer attributes a model was trained with."""

    event_types: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_types": list(self.event_types),
            "attributes": [
                {
                    "column": a.column,
                    "levels": None if a.levels is None else list(a.levels),
                    "date": a.date,
                }
                for a in self.attributes
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Vocabulary:
        data = data or {}
        return cls(
            event_types=tuple(data.get("event_types", ())),
            attributes=tuple(
                Attribute(
                    a["column"],
                    None if a["levels"] is None else tuple(a["levels"]),
                    bool(a.get("date", False)),
                )
                for a in data.get("attributes", ())
            ),
        )

    def describe(self) -> str | None:
        """What of the data's own columns became features, in a sentence (None: nothing)."""
        parts = []
        if self.event_types:
            types = [_words(t) for t in self.event_types]
            parts.append(
                f"event types {_listed(types)} (counts per window, days since the last, 90-day "
                "trend)"
            )
        if self.attributes:
            said = {"number": "a number", "date": "a date"}
            kinds = [
                f"{_words(a.column)} ({said.get(a.kind) or f'{len(a.levels or ())} values'})"
                for a in self.attributes
            ]
            parts.append(f"customer columns {_listed(kinds)}")
        return "Your own columns as features: " + "; ".join(parts) + "." if parts else None

    @property
    def families(self) -> tuple[Family, ...]:
        """The feature families these columns add (none when there are none)."""
        out = []
        if self.event_types:
            out.append(extra_events_family(self.event_types))
        if self.attributes:
            out.append(extra_attributes_family(self.attributes))
        return tuple(out)


def _words(name: str) -> str:
    """A column or type name as a person reads it: 'store_distance_km' -> 'store distance km'."""
    return str(name).replace("_", " ").strip()


def _listed(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---- fitting ---------------------------------------------------------------------------------
def fit_event_types(
    type_counts: Mapping[str, int], max_event_types: int = MAX_EVENT_TYPES
) -> tuple[str, ...]:
    """The most frequent event types beyond the standard five (ties by name), at most
    ``max_event_types``; types whose column name would be empty or repeat one already taken are
    skipped. ``type_counts``: events per type up to the training cutoff."""
    standard = set(EVENT_TYPES)
    taken = {slug(t) for t in EVENT_TYPES}
    chosen: list[str] = []
    for event_type, _ in sorted(type_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        name = slug(event_type)
        if len(chosen) >= max_event_types:
            break
        if event_type in standard or name is None or name in taken:
            continue
        taken.add(name)
        chosen.append(event_type)
    return tuple(chosen)


@dataclass(frozen=True)
class ColumnProfile:
    """What :func:`fit_attributes` needs to know of one extra customer column."""

    column: str
    values: int
    """Non-empty values."""
    numbers: int
    """Values that read as numbers."""
    dates: int
    """Values that read as ISO 8601 dates or date-times."""
    level_counts: Mapping[str, int]
    """Customers per text value (the most frequent ones, at least ``max_levels + 1``)."""
    distinct: int


def fit_attributes(
    profiles: Sequence[ColumnProfile],
    customers: int,
    max_levels: int = MAX_LEVELS,
    exclude: Sequence[str] = (),
) -> tuple[Attribute, ...]:
    """Extra customer columns as attributes (see the module doc): numbers where every value
    reads as one, else the ``max_levels`` most frequent values (ties by value); left out:
    ``exclude``, empty columns, identifier-like text, names that repeat one already taken."""
    skip = {c.strip().lower() for c in exclude}
    taken: set[str] = set()
    out = []
    for p in profiles:
        name = slug(p.column)
        if p.column.strip().lower() in skip or name is None or name in taken or p.values == 0:
            continue
        text = p.numbers < p.values and p.dates < p.values
        if text and p.distinct > max(IDENTIFIER_SHARE * customers, max_levels):
            continue  # identifier-like text (an e-mail, a name): no use as a category
        taken.add(name)
        if p.numbers == p.values:
            out.append(Attribute(p.column))
            continue
        if p.dates == p.values:
            out.append(Attribute(p.column, date=True))
            continue
        ranked = sorted(p.level_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(Attribute(p.column, tuple(sorted(v for v, _ in ranked[:max_levels]))))
    return tuple(out)


def extra_columns(tables: InputTables | IbisTables) -> list[str]:
    """The customers table's columns beyond the contract's (not the loader's row numbers,
    ``__row`` / ``__file``, which the checked tables carry for the source order)."""
    from features.contract import CONTRACT
    from features.sources import FILE, ROW

    if tables.customers is None:
        return []
    return [
        c
        for c in tables.customers.columns
        if c not in CONTRACT["customers"] and c not in (ROW, FILE)
    ]


def vocabulary_at(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    max_event_types: int = MAX_EVENT_TYPES,
    max_levels: int = MAX_LEVELS,
    exclude: Sequence[str] = (),
) -> Vocabulary:
    """The data's own event types and attributes, from what is visible at ``cutoff``."""
    from features.context import Context
    from features.engine import to_ibis

    ibis_tables = to_ibis(tables)
    ctx = Context.at(ibis_tables, cutoff)
    event_types: tuple[str, ...] = ()
    if ctx.events is not None and max_event_types > 0:
        event_types = fit_event_types(event_type_counts(ctx), max_event_types)
    attributes: tuple[Attribute, ...] = ()
    if ctx.customers is not None:
        extras = extra_columns(ibis_tables)
        if extras:
            customers = int(ctx.customers.customer_id.nunique().to_pyarrow().as_py())
            profiles = [_profile(ctx.customers, c, max_levels) for c in extras]
            attributes = fit_attributes(profiles, customers, max_levels, exclude)
    return Vocabulary(event_types, attributes)


def event_type_counts(ctx: Context) -> dict[str, int]:
    """Events per type visible at the context's cutoff (one small query)."""
    if ctx.events is None:
        return {}
    expr = ctx.events.group_by("event_type").aggregate(n=ctx.events.count())
    rows = expr.to_pyarrow().to_pylist()
    return {r["event_type"]: int(r["n"]) for r in rows if r["event_type"] is not None}


def _profile(customers: ir.Table, column: str, max_levels: int) -> ColumnProfile:
    import ibis

    from features.cleaning import clean_number, clean_text

    raw = customers[column]
    text = clean_text(raw)
    stats = customers.aggregate(
        values=text.count(),
        numbers=clean_number(raw).count(),
        dates=_date(raw).count(),
        distinct=text.nunique(),
    ).to_pyarrow().to_pylist()[0]  # fmt: skip
    t = customers.select(level=text)
    t = t.filter(t.level.notnull())
    top = t.group_by("level").aggregate(n=t.count()).order_by([ibis.desc("n"), "level"])
    levels = top.limit(max_levels + 1).to_pyarrow().to_pylist()
    return ColumnProfile(
        column,
        int(stats["values"]),
        int(stats["numbers"]),
        int(stats["dates"]),
        {r["level"]: int(r["n"]) for r in levels},
        int(stats["distinct"]),
    )


def _date(value: ir.Value) -> ir.DateValue:
    """The day of an ISO 8601 date or date-time (text or typed), null when it is not one."""
    from features.cleaning import clean_text

    if value.type().is_timestamp() or value.type().is_date():
        return value.cast("date")
    return clean_text(value).try_cast("timestamp").cast("date")


# ---- the families ----------------------------------------------------------------------------
def _event_windows(t: ir.Table, event_type: str, name: str) -> dict[str, ir.Value]:
    kind, age = t.event_type == event_type, t.age_days
    out: dict[str, ir.Value] = {
        f"events_{name}_{w}d": t.count(where=kind & (age < w)) for w in WINDOWS_DAYS
    }
    out[f"days_since_{name}"] = age.min(where=kind).cast("float64")
    out[f"_events_{name}_prev_90d"] = t.count(
        where=kind & (age >= TREND_DAYS) & (age < 2 * TREND_DAYS)
    )
    return out


def extra_events_family(event_types: tuple[str, ...]) -> Family:
    """The standard event features for each of ``event_types`` (see the module doc)."""
    names = {t: slug(t) or t for t in event_types}

    def aggregates(e: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
        out: dict[str, ir.Value] = {}
        for event_type, name in names.items():
            out.update(_event_windows(e, event_type, name))
        return out

    def finalize(t: ir.Table) -> Mapping[str, ir.Value]:
        out = {}
        for name in names.values():
            last, prev = t[f"events_{name}_{TREND_DAYS}d"], t[f"_events_{name}_prev_90d"]
            out[f"events_{name}_trend_90d"] = (last - prev).cast("float64") / (prev + 1)
        return out

    specs: list[FeatureSpec] = []
    for event_type, name in names.items():
        specs += [
            FeatureSpec(
                f"events_{name}_{w}d", f"'{event_type}' events", "count", f"last {w} days",
                "int64", 0, "0",
            )
            for w in WINDOWS_DAYS
        ]  # fmt: skip
        specs.append(
            FeatureSpec(
                f"days_since_{name}",
                f"days from the last '{event_type}' event to the cutoff day",
                "days",
                "all history",
                "float64",
                missing="null when never",
            )
        )
        specs.append(
            FeatureSpec(
                f"events_{name}_trend_90d",
                f"('{event_type}' events last 90d - previous 90d) / (previous 90d + 1)",
                "ratio",
                "last 90 days vs the 90 days before",
                "float64",
                0.0,
                "0",
            )
        )
    return Family(
        name="own events",
        description="The standard event features for each event type of the data beyond the "
        "standard five (the most frequent, chosen in training); needs the events table.",
        requires=("transactions", "events"),
        source=events_source,
        aggregates=aggregates,
        finalize=finalize,
        specs=tuple(specs),
    )


def extra_attributes_family(attributes: tuple[Attribute, ...]) -> Family:
    """``attr_{name}`` for each extra customer column (see the module doc)."""

    def aggregates(c: ir.Table, ctx: Context) -> Mapping[str, ir.Value]:
        import ibis

        from features.cleaning import clean_number, clean_text

        out: dict[str, ir.Value] = {}
        for a in attributes:
            if a.column not in c.columns:  # absent from this batch: null (assemble_table)
                continue
            if a.date:  # days from the date to the cutoff day (negative: after it)
                out[a.feature] = ctx.age_days(_date(c[a.column])).min().cast("float64")
            elif a.levels is None:
                out[a.feature] = clean_number(c[a.column]).max()
            else:
                text = clean_text(c[a.column])
                kept = ibis.ifelse(text.isin(list(a.levels)), text, OTHER)
                out[a.feature] = ibis.ifelse(text.isnull(), ibis.null("string"), kept).min()
        return out

    def meaning(a: Attribute) -> str:
        if a.date:
            return f"days from the customers table's '{a.column}' to the cutoff day"
        kept = "" if a.levels is None else f" ({len(a.levels)} most frequent values, else other)"
        return f"the customers table's '{a.column}'{kept}"

    unit = {"date": "days", "number": "value", "category": "category"}
    specs = tuple(
        FeatureSpec(
            a.feature,
            meaning(a),
            unit[a.kind],
            "at cutoff" if a.date else "static",
            "str" if a.kind == "category" else "float64",
            missing="null when unknown or no customers row",
        )
        for a in attributes
    )
    return Family(
        name="own attributes",
        description="Every extra column of the customers table (levels chosen in training); "
        "needs the customers table.",
        requires=("transactions", "customers"),
        source=customers_source,
        aggregates=aggregates,
        specs=specs,
    )
