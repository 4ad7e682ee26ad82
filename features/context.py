"""Point-in-time context: the cutoff and the input tables cut to data visible at the cutoff.

Time conventions used by every feature:

* The cutoff is a calendar date and means *end of that day*: a row is visible when
  ``timestamp < cutoff + 1 day``.
* Day-based features work on calendar days (``day = date(timestamp)``), as the BTYD convention
  with ``freq='D'`` does: ``age_days = cutoff - day`` is an integer, 0 for the cutoff day. A
  purchase on 2024-01-11 seen at cutoff 2024-01-31 has ``age_days = 20``. Integer day
  arithmetic also makes DuckDB and Spark agree exactly.
* A window of ``w`` days is the last ``w`` calendar days up to and including the cutoff day:
  ``age_days < w``. "Previous 90 days" is ``90 <= age_days < 180``.
* A subscription is known from its start day; its end and cancellation only from the day they
  happen (:func:`subscriptions_at`): at an earlier cutoff it was active and nobody had asked
  to cancel. A subscription is active on the days ``start_day <= day < end_day``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import UserError
from core.settings import TABLE_NAMES, compact_date

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from features.engine import IbisTables

CutoffLike = dt.date | dt.datetime | pd.Timestamp | str


class CutoffError(UserError, ValueError):
    """The cutoff lies outside the data: after the last transaction or before the first."""


CUTOFF_GRACE_DAYS = 30
"""A cutoff may lie up to this many days after the last transaction (scoring today on an
extract that ends a few days earlier, a quiet week); later, nothing is known about that time."""


def check_cutoff(cutoff: dt.date, first: dt.date, last: dt.date) -> dt.date:
    """``cutoff`` when the transactions cover it (from the first transaction's day to
    :data:`CUTOFF_GRACE_DAYS` after the last), else a CutoffError saying so.

    Long after the last transaction every customer would look lapsed (nothing is known about
    that time); before the first there is no customer at all.
    """
    if cutoff > last + dt.timedelta(days=CUTOFF_GRACE_DAYS):
        raise CutoffError(
            f"cutoff {cutoff} is after the last transaction ({last}) by more than "
            f"{CUTOFF_GRACE_DAYS} days: nothing is known about that time, so every customer "
            f"would look lapsed; use a cutoff up to {last} or leave it out (default: the last "
            "transaction's date)"
        )
    if cutoff < first:
        raise CutoffError(
            f"cutoff {cutoff} is before the first transaction ({first}): no customer is known "
            f"then; use a cutoff from {first} to {last}"
        )
    return cutoff


MONEY = "decimal(18, 6)"
"""Money is summed as exact decimals (6 places), then turned into float64: floating-point sums
depend on the order rows are added in, which parallel backends do not fix, so features would
differ in the last bits from run to run and between DuckDB and Spark."""


def exact(value: ir.NumericValue) -> ir.DecimalValue:
    """An amount as an exact decimal (see :data:`MONEY`), for order-independent sums."""
    return value.cast(MONEY)


def as_date(value: CutoffLike) -> dt.date:
    """Normalise a cutoff (date, datetime, Timestamp or ISO / YYYYMMDD string) to a date.

    A time-of-day part is dropped: the cutoff always covers its whole day.
    """
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return compact_date(value) or pd.Timestamp(value.strip()).date()
    raise TypeError(f"cutoff must be a date, datetime or ISO string, not {type(value).__name__}")


def as_timestamp(value: ir.Value) -> ir.TimestampValue:
    """A timestamp column as is; a date column (e.g. from Parquet) as midnight of its day."""
    return value.cast("timestamp") if value.type().is_date() else value


def as_day(value: ir.Value) -> ir.DateValue:
    """The calendar day of a timestamp or date column."""
    return value.date() if value.type().is_timestamp() else value


@dataclass(frozen=True)
class Context:
    """The tables of one feature build, cut at ``cutoff`` (see the module docstring)."""

    cutoff: dt.date
    transactions: ir.Table
    events: ir.Table | None
    customers: ir.Table | None
    subscriptions: ir.Table | None = None

    @property
    def cutoff_end(self) -> dt.datetime:
        """First instant after the cutoff day (exclusive upper bound)."""
        return dt.datetime.combine(self.cutoff + dt.timedelta(days=1), dt.time())

    @property
    def present(self) -> set[str]:
        """Names of the tables that are available."""
        return {name for name in TABLE_NAMES if getattr(self, name) is not None}

    def age_days(self, day: ir.DateValue) -> ir.IntegerValue:
        """Whole days from ``day`` to the cutoff day (0 on the cutoff day)."""
        import ibis

        return ibis.date(self.cutoff).delta(day, unit="day")

    @classmethod
    def at(cls, tables: IbisTables, cutoff: CutoffLike) -> Context:
        """Cut every table to rows visible at the end of ``cutoff`` and add ``day``/``age_days``."""
        import ibis

        day = as_date(cutoff)
        end = ibis.timestamp(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
        ref = ibis.date(day)

        def cut(t: ir.Table, column: str) -> ir.Table:
            t = t.filter(as_timestamp(t[column]) < end)
            d = as_day(t[column])
            return t.mutate(day=d, age_days=ref.delta(d, unit="day"))

        tx = cut(tables.transactions, "timestamp")
        ev = None if tables.events is None else cut(tables.events, "timestamp")
        cu = None
        if tables.customers is not None:
            cu = tables.customers.filter(as_timestamp(tables.customers.signup_date) < end)
        return cls(
            cutoff=day,
            transactions=tx,
            events=ev,
            customers=cu,
            subscriptions=subscriptions_at(tables.subscriptions, day),
        )


def subscriptions_at(subscriptions: ir.Table | None, cutoff: dt.date) -> ir.Table | None:
    """Subscriptions as known at the end of ``cutoff``: those started by then, with an end
    or cancel date only once it has happened (a later one is the future: empty, as it was
    then), plus ``start_day``, ``end_day`` (those days) and ``active`` (started, not ended:
    ``start_day <= cutoff < end_day``). ``status`` is dropped: it is the extract's, not the
    cutoff's."""
    import ibis

    if subscriptions is None:
        return None
    end = ibis.timestamp(dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time()))
    s = subscriptions.filter(as_timestamp(subscriptions.start_date) < end)

    def known(column: str) -> ir.Value:
        moment = as_timestamp(s[column])
        return ibis.ifelse(moment < end, moment, ibis.null("timestamp"))

    s = s.mutate(end_date=known("end_date"), cancel_date=known("cancel_date"))
    s = s.drop("status") if "status" in s.columns else s
    return s.mutate(
        start_day=as_day(s.start_date), end_day=as_day(s.end_date), active=s.end_date.isnull()
    )
