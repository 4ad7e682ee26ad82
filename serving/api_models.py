"""Request and response models of the prediction API (pydantic: every field validated).

Limits (documented in the README, enforced here and by the middleware):
- at most MAX_CUSTOMERS_PER_CALL customer ids or customers per call;
- at most MAX_ROWS_PER_CUSTOMER transactions and as many events per customer;
- request bodies up to MAX_BODY_BYTES;
- dates (``as_of``, timestamps, ``signup_date``) from EARLIEST_DATE to today (UTC) plus
  FUTURE_TOLERANCE_DAYS: a scoring date in year 9999 is refused here, before the request can
  join a batch with other clients' requests.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.settings import EARLIEST_DATE
from features.contract import MAX_ABS_VALUE

MAX_CUSTOMERS_PER_CALL = 1000
MAX_ROWS_PER_CUSTOMER = 10_000
MAX_BODY_BYTES = 10_000_000
FUTURE_TOLERANCE_DAYS = 1  # time zones ahead of UTC

CustomerId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN/Infinity are refused


class TransactionIn(_Strict):
    """One purchase. Amounts are positive (refunds are not accepted through the API)."""

    timestamp: dt.datetime
    amount: float = Field(
        gt=0, le=MAX_ABS_VALUE, description="Order value, positive and finite, at most 1e9."
    )
    order_id: str | None = None
    quantity: float | None = Field(default=None, ge=0)
    channel: str | None = None
    category: str | None = None


class EventIn(_Strict):
    """One engagement event (visit, email_open, email_click, support_ticket, app_session, ...)."""

    timestamp: dt.datetime
    event_type: Annotated[str, Field(min_length=1, max_length=50)]
    channel: str | None = None
    value: float | None = Field(default=None, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)


class CustomerIn(_Strict):
    """A customer's raw history, scored with the same feature code as the batch run."""

    customer_id: CustomerId
    transactions: Annotated[
        list[TransactionIn], Field(min_length=1, max_length=MAX_ROWS_PER_CUSTOMER)
    ]
    events: Annotated[list[EventIn], Field(max_length=MAX_ROWS_PER_CUSTOMER)] = []
    signup_date: dt.date | None = None
    acquisition_channel: str | None = None
    loyalty_member: bool | None = None
    as_of: dt.date | None = Field(
        default=None,
        description="Score as of the end of this day (default: today, UTC); history after it "
        "is refused.",
    )

    @model_validator(mode="after")
    def _no_future_rows(self) -> CustomerIn:
        latest = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=FUTURE_TOLERANCE_DAYS)
        for what, day in (("as_of", self.as_of), ("signup_date", self.signup_date)):
            if day is not None and not EARLIEST_DATE <= day <= latest:
                raise ValueError(
                    f"{what} {day.isoformat()} is outside {EARLIEST_DATE.isoformat()} to "
                    f"{latest.isoformat()} (today, UTC, plus {FUTURE_TOLERANCE_DAYS} day)"
                )
        earliest = dt.datetime.combine(EARLIEST_DATE, dt.time.min)
        end = dt.datetime.combine(self.as_of or dt.datetime.now(dt.UTC).date(), dt.time.max)
        for kind, rows in (("transactions", self.transactions), ("events", self.events)):
            for i, row in enumerate(rows):
                ts = (
                    row.timestamp.astimezone(dt.UTC).replace(tzinfo=None)
                    if row.timestamp.tzinfo
                    else row.timestamp
                )
                if ts < earliest:
                    raise ValueError(
                        f"{kind}[{i}].timestamp {row.timestamp.isoformat()} is before "
                        f"{EARLIEST_DATE.isoformat()}"
                    )
                if ts > end:
                    raise ValueError(
                        f"{kind}[{i}].timestamp {row.timestamp.isoformat()} is after the scoring date {end.date()}"
                    )
        return self


def tables_from_customers(customers: list[CustomerIn]):  # noqa: ANN201 - features.contract.InputTables
    """Contract tables built from API customers (same dtypes as the file loader's)."""
    from features.contract import CONTRACT, InputTables

    def frame(rows: list[dict], table: str) -> pd.DataFrame:
        spec = CONTRACT[table]
        out = pd.DataFrame(rows, columns=list(spec))
        for col, (_req, dtype, _m) in spec.items():
            if dtype.startswith("datetime"):
                out[col] = (
                    pd.to_datetime(out[col], utc=True).dt.tz_localize(None).astype("datetime64[us]")
                )
            else:
                out[col] = out[col].astype(dtype)
        return out

    tx = [
        {"customer_id": c.customer_id, **t.model_dump()} for c in customers for t in c.transactions
    ]
    ev = [
        {"customer_id": c.customer_id, **e.model_dump(), "event_type": e.event_type.lower()}
        for c in customers
        for e in c.events
    ]
    cust = [
        {
            "customer_id": c.customer_id,
            "signup_date": pd.Timestamp(c.signup_date),
            "acquisition_channel": c.acquisition_channel,
            "loyalty_member": c.loyalty_member,
        }
        for c in customers
        if c.signup_date is not None
    ]
    # empty (not missing) optional tables: the model's engagement and attribute features are
    # then zeros / nulls, as for a batch customer without events, instead of absent columns
    return InputTables(
        frame(tx, "transactions"), frame(ev, "events"), frame(cust, "customers")
    ).validate()
