"""The feature catalogue, generated from the families' own metadata (it cannot drift).

``feature_catalogue()`` returns one row per output column; ``catalogue_markdown()`` renders
it for ``docs/features.md``. Importing this module does not import Ibis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from core.settings import TABLE_NAMES
from features import attributes, channel, engagement, rfm, subscriptions, windows
from features.registry import Family

if TYPE_CHECKING:
    from features.vocabulary import Vocabulary

FAMILIES: tuple[Family, ...] = (
    rfm.FAMILY,
    windows.FAMILY,
    engagement.FAMILY,
    channel.FAMILY,
    attributes.FAMILY,
    subscriptions.FAMILY,
)

CATALOGUE_COLUMNS = ["name", "family", "meaning", "unit", "window", "dtype", "missing", "requires"]

CONVENTIONS = """\
* One row per customer known at the cutoff: a customer with a transaction, an event or a
  signup at or before the cutoff. `customer_id` is text and the frame is sorted by it.
* The cutoff is a date meaning the end of that day: only rows with `timestamp < cutoff + 1 day`
  are used. Days are calendar days: `age = cutoff day - day of the row`, 0 on the cutoff day.
* A window of `w` days (`_30d`, `_90d`, `_180d`, `_365d`) is the last `w` calendar days up to
  and including the cutoff day. "Previous 90 days" are the 90 days before those.
* An order is a transaction row with amount > 0; a purchase day is a calendar day with at least
  one order (BTYD convention: repeat purchases are counted in distinct days). Refunds (amount
  < 0) are netted into spend (`monetary_total`, `spend_*`) but never make an order.
* The value of a purchase day is the net amount of all rows of that day.
* BTYD columns follow `lifetimes.utils.summary_data_from_transaction_data(freq='D')`:
  `btyd_x` repeat purchase days, `btyd_t_x` days from first to last purchase day, `btyd_T` days
  from first purchase day to the cutoff, `btyd_monetary_value` mean value of repeat purchase
  days (0 when there is none). Unlike lifetimes, refund-only days are not purchase days.
* Missing data: counts and sums are 0, days-since, means and rates are null (NaN). Families
  whose table is absent (events, customers) are left out of the frame entirely.
* dtypes: counts `int64`, measures `float64`, categories `str`; `loyalty_member` is 1.0/0.0.
* Money is summed as exact decimals (6 places) and only then turned into `float64`, so the
  frame is bit-for-bit reproducible and the same on DuckDB and Spark.
"""


OWN_COLUMNS = """\
Beyond the families above, the data's own columns become features too
(`features/vocabulary.py`). Which ones is learned in training, on the data visible at the
backtest's test cutoff, and stored with the model; scoring builds exactly those columns.

| feature | meaning | unit | window | dtype | when missing |
| --- | --- | --- | --- | --- | --- |
| `events_{type}_{w}d` | events of that type, for each event type beyond the five above (the most frequent, up to `model.max_event_types`, 10) | count | last `w` days (30, 90, 180, 365) | int64 | 0 |
| `days_since_{type}` | days from the last event of that type to the cutoff day | days | all history | float64 | null when never |
| `events_{type}_trend_90d` | (events last 90d - previous 90d) / (previous 90d + 1) | ratio | last 90 days vs the 90 days before | float64 | 0 |
| `attr_{column}` | each extra column of the customers table: a number when every value reads as one, else its most frequent values (up to `model.max_category_levels`, 20) and `other`; not those in `model.exclude_attributes` nor identifier-like text | value or category | static | float64 or str | null when unknown or no customers row |
| `attr_days_since_{column}` | an extra column of dates (ISO 8601): days from the date to the cutoff day, negative for a date after it | days | at cutoff | float64 | null when unknown or no customers row |

`{type}` and `{column}` are the names in lower case with other characters as `_`. The
training report and `churnclv features` say which were generated.
"""


def families_for(vocabulary: Vocabulary | None = None) -> tuple[Family, ...]:
    """The catalogue's families, then those of a model's own event types (if any)."""
    return FAMILIES + (vocabulary.families if vocabulary is not None else ())


def families(include_optional: bool = True) -> tuple[Family, ...]:
    """The feature families in output order, optionally without those needing optional tables."""
    return tuple(f for f in FAMILIES if include_optional or not f.optional)


def feature_columns(present: set[str] | None = None) -> list[str]:
    """Feature column names (without ``customer_id``) produced when ``present`` tables exist."""
    present = set(TABLE_NAMES) if present is None else present
    return [c for f in FAMILIES if f.available(present) for c in f.columns]


def feature_catalogue(include_optional: bool = True) -> pd.DataFrame:
    """One row per feature: name, family, meaning, unit, window, dtype, missing, requires."""
    rows = [
        {
            "name": s.name,
            "family": f.name,
            "meaning": s.meaning,
            "unit": s.unit,
            "window": s.window,
            "dtype": s.dtype,
            "missing": s.missing,
            "requires": ", ".join(f.requires),
        }
        for f in families(include_optional)
        for s in f.specs
    ]
    return pd.DataFrame(rows, columns=CATALOGUE_COLUMNS).astype("str")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown(include_optional: bool = True) -> str:
    """The catalogue as Markdown (the content of ``docs/features.md``)."""
    lines = [
        "# Feature catalogue",
        "",
        "<!-- Generated by features.catalogue.catalogue_markdown(); do not edit by hand. -->",
        "",
        "Built by `features.build.build_features(tables, cutoff)`; the same Ibis expressions "
        "run on DuckDB and on Spark.",
        "",
        "## Conventions",
        "",
        CONVENTIONS.rstrip(),
        "",
    ]
    for f in families(include_optional):
        lines += [
            f"## {f.name}",
            "",
            f"{f.description} Needs: {', '.join(f.requires)}.",
            "",
            "| feature | meaning | unit | window | dtype | when missing |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for s in f.specs:
            cells = [f"`{s.name}`", s.meaning, s.unit, s.window, s.dtype, s.missing]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    lines += ["## The data's own columns", "", OWN_COLUMNS.rstrip(), ""]
    return "\n".join(lines)
