"""Labels: churn and future revenue in the horizon after a cutoff.

For customers with at least one purchase (amount > 0) at or before the cutoff:

* ``churned``: True when they make no purchase in ``(cutoff, cutoff + horizon_days]``, i.e. no
  transaction with amount > 0 and ``cutoff + 1 day <= timestamp < cutoff + horizon + 1 day``;
  for a *subscriber* (a subscription row active on the cutoff day, ``start_day <= day <
  end_day``) contractual churn instead: True when none of their subscription rows is active
  on the day ``cutoff + horizon_days`` (they did not renew at a renewal inside the horizon,
  or the subscription ended; a plan change or a restart by then is no churn). A subscriber
  with one-off purchases too is labelled by the subscription; the purchases still count in
  their features and revenue;
* ``future_revenue``: net spend (refunds netted) in that window, 0.0 when none (subscription
  payments are expected as transactions, like any order).

A label window must lie inside the data: ``cutoff + horizon_days <= data end`` (the day of the
last transaction), otherwise :class:`LabelWindowError` is raised.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import UserError
from features.context import CutoffLike, as_date, as_timestamp, exact, subscriptions_at
from features.engine import IbisTables, to_ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

    from features.contract import InputTables

LABEL_COLUMNS = ["customer_id", "churned", "future_revenue"]


class LabelWindowError(UserError, ValueError):
    """A cutoff whose label window runs past the end of the data."""

    def __init__(self, cutoff: dt.date, horizon_days: int, data_end: dt.date) -> None:
        self.cutoff, self.horizon_days, self.data_end = cutoff, horizon_days, data_end
        latest = data_end - dt.timedelta(days=horizon_days)
        super().__init__(
            f"cutoff {cutoff} with a {horizon_days}-day label horizon needs data up to "
            f"{cutoff + dt.timedelta(days=horizon_days)}, but the data ends on {data_end}; "
            f"the latest usable cutoff is {latest}"
        )


def data_end_date(tables: InputTables | IbisTables, backend: BaseBackend | None = None) -> dt.date:
    """The calendar day of the last transaction."""
    ibis_tables = to_ibis(tables, backend)
    value = ibis_tables.con.execute(ibis_tables.transactions.timestamp.max())
    if value is None or pd.isna(value):
        raise ValueError("the transactions table is empty: no data end date")
    return pd.Timestamp(value).date()


def check_label_window(cutoff: CutoffLike, horizon_days: int, data_end: dt.date) -> None:
    """Raise :class:`LabelWindowError` unless ``cutoff + horizon_days <= data_end``."""
    day = as_date(cutoff)
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    if day + dt.timedelta(days=horizon_days) > data_end:
        raise LabelWindowError(day, horizon_days, data_end)


def labels_expr(tables: IbisTables, cutoff: CutoffLike, horizon_days: int) -> ir.Table:
    """The label query (no window check), sorted by customer_id."""
    import ibis

    day = as_date(cutoff)
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    stop = start + dt.timedelta(days=horizon_days)
    tx = tables.transactions
    moment = as_timestamp(tx.timestamp)
    buyers = (
        tx.filter((moment < ibis.timestamp(start)) & (tx.amount > 0))
        .select("customer_id")
        .distinct()
    )
    future = tx.filter((moment >= ibis.timestamp(start)) & (moment < ibis.timestamp(stop)))
    future = future.group_by("customer_id").aggregate(
        revenue=exact(future.amount).sum().cast("float64"),
        orders=(future.amount > 0).cast("int64").sum(),
    )
    joined = buyers.left_join(future, buyers.customer_id == future.customer_id)
    labels = joined.select(
        customer_id=buyers.customer_id,
        churned=future.orders.fill_null(0) == 0,
        future_revenue=future.revenue.fill_null(0.0),
    )
    if tables.subscriptions is not None:
        labels = _contractual(labels, tables.subscriptions, day, horizon_days)
    return labels.order_by("customer_id")


def subscribers_on(subscriptions: ir.Table, day: dt.date) -> ir.Table:
    """The ``customer_id`` of every customer with a subscription row active on ``day`` (as
    known at its end: :func:`features.context.subscriptions_at`)."""
    s = subscriptions_at(subscriptions, day)
    return s.filter(s.active).select("customer_id").distinct()


def _contractual(labels: ir.Table, subscriptions: ir.Table, day: dt.date, h: int) -> ir.Table:
    """``labels`` with the churn of the subscribers on ``day`` replaced by contractual churn:
    no subscription row active on ``day + h``."""
    import ibis

    at_cutoff = subscribers_on(subscriptions, day).mutate(subscriber=ibis.literal(True))
    later = subscribers_on(subscriptions, day + dt.timedelta(days=h))
    later = later.mutate(stays=ibis.literal(True)).rename(later_id="customer_id")
    at_cutoff = at_cutoff.rename(sub_id="customer_id")
    j = labels.left_join(at_cutoff, labels.customer_id == at_cutoff.sub_id)
    j = j.left_join(later, j.customer_id == later.later_id)
    return j.select(
        customer_id=j.customer_id,
        churned=ibis.ifelse(j.subscriber.fill_null(False), j.stays.isnull(), j.churned),
        future_revenue=j.future_revenue,
    )


def build_labels(
    tables: InputTables | IbisTables,
    cutoff: CutoffLike,
    horizon_days: int,
    backend: BaseBackend | None = None,
    *,
    check_window: bool = True,
) -> pd.DataFrame:
    """``customer_id`` (str), ``churned`` (bool), ``future_revenue`` (float64) at ``cutoff``.

    Raises :class:`LabelWindowError` when the label window runs past the end of the data
    (pass ``check_window=False`` to label anyway, e.g. for monitoring partial windows).
    """
    ibis_tables = to_ibis(tables, backend)
    if check_window:
        check_label_window(cutoff, horizon_days, data_end_date(ibis_tables))
    arrow = ibis_tables.con.to_pyarrow(labels_expr(ibis_tables, cutoff, horizon_days))
    frame = arrow.to_pandas()
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].astype("str"),
            "churned": frame["churned"].astype("bool"),
            "future_revenue": frame["future_revenue"].astype("float64"),
        }
    ).sort_values("customer_id", ignore_index=True)
