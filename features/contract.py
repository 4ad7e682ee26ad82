"""The input data contract: four tables, their columns and types after loading.

Every loader returns frames in exactly this canonical form (all optional columns present,
null where the source did not have them), so feature code never checks for columns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from core.errors import UserError
from core.settings import TABLE_NAMES

if TYPE_CHECKING:
    import pandera.pandas as pa

# column -> (required in the source file?, canonical pandas dtype, meaning)
TRANSACTION_COLUMNS: dict[str, tuple[bool, str, str]] = {
    "customer_id": (True, "str", "customer identifier, kept as text ('00042' stays '00042')"),
    "timestamp": (True, "datetime64[us]", "date or date-time of the order"),
    "amount": (True, "float64", "order value; negative = return/refund, netted against spend"),
    "order_id": (False, "str", "order identifier"),
    "quantity": (False, "float64", "number of items"),
    "channel": (False, "str", "sales channel, e.g. web, app, store"),
    "category": (False, "str", "product category"),
}
EVENT_COLUMNS: dict[str, tuple[bool, str, str]] = {
    "customer_id": (True, "str", "customer identifier"),
    "timestamp": (True, "datetime64[us]", "when the event happened"),
    "event_type": (
        True,
        "str",
        "lower-case type: visit, email_open, email_click, support_ticket, app_session, ...",
    ),
    "channel": (False, "str", "contact channel of the event, e.g. email, app, web, phone"),
    "value": (False, "float64", "numeric value, e.g. a CSAT score on a support ticket"),
}
CUSTOMER_COLUMNS: dict[str, tuple[bool, str, str]] = {
    "customer_id": (True, "str", "customer identifier, one row per customer"),
    "signup_date": (True, "datetime64[us]", "date the customer signed up"),
    "acquisition_channel": (False, "str", "how the customer was acquired"),
    "loyalty_member": (False, "boolean", "member of the loyalty programme"),
}
SUBSCRIPTION_COLUMNS: dict[str, tuple[bool, str, str]] = {
    "customer_id": (True, "str", "customer identifier"),
    "subscription_id": (
        True,
        "str",
        "subscription identifier; a plan change is a new row (same or new id, later start_date)",
    ),
    "start_date": (True, "datetime64[us]", "first day of service of this row's plan"),
    "end_date": (
        False,
        "datetime64[us]",
        "first day without service (the subscription ended); empty while active",
    ),
    "cancel_date": (
        False,
        "datetime64[us]",
        "when the customer asked to cancel (service may run to the period's end); empty if never",
    ),
    "billing_period_days": (
        True,
        "float64",
        "days between renewals: 30 (or 30.4) monthly, 91 quarterly, 365 annual",
    ),
    "price": (False, "float64", "price of one billing period, in the transactions' currency"),
    "auto_renew": (False, "boolean", "renews automatically at the period's end"),
    "plan": (False, "str", "plan name, e.g. basic, pro"),
    "status": (
        False,
        "str",
        "status as of the extract (active, cancelled...): informational only, never a feature "
        "(it tells the future of every earlier cutoff)",
    ),
}
CONTRACT: dict[str, dict[str, tuple[bool, str, str]]] = {
    "transactions": TRANSACTION_COLUMNS,
    "events": EVENT_COLUMNS,
    "customers": CUSTOMER_COLUMNS,
    "subscriptions": SUBSCRIPTION_COLUMNS,
}
# money and event values are summed as exact decimal(18, 6) by the feature code: larger values
# cannot be represented, so the loader and the API refuse them
MAX_ABS_VALUE = 1e9


def out_of_range(column: str) -> str:
    """The reject reason of a number beyond +-:data:`MAX_ABS_VALUE` (loader and API alike)."""
    return f"{column} out of range (beyond +-{MAX_ABS_VALUE:g})"


def non_numeric(column: str, text):  # noqa: ANN001, ANN201 - a str, or an Ibis string column
    """The reject reason of a value that is not a number (loader and API alike); ``text`` may
    be an Ibis string expression, giving the reason per row."""
    return "non-numeric " + column + ": '" + text + "'"


TIME_COLUMN = {
    "transactions": "timestamp",
    "events": "timestamp",
    "customers": "signup_date",
    "subscriptions": "start_date",
}


class ContractError(UserError, ValueError):
    """The input cannot be read as the contract requires; the message names file and column."""


class NoUsableRowsError(ContractError):
    """Every transaction row was rejected; ``rejects`` holds them with their reasons (the
    caller writes them, so the user can see why)."""

    def __init__(self, message: str, rejects: object) -> None:
        super().__init__(message)
        self.rejects = rejects


@functools.cache
def schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a contract table (built on first use: pandera is slow to import)."""
    import pandera.pandas as pa

    cols = {}
    for name, (required, dtype, _meaning) in CONTRACT[table].items():
        nullable = not (required or name == "customer_id")
        checks = []
        if name == "amount":
            checks.append(pa.Check(lambda s: pd.Series(abs(s) < float("inf")), name="finite"))
        cols[name] = pa.Column(dtype, nullable=nullable, checks=checks, coerce=False)
    return pa.DataFrameSchema(cols, strict=False, ordered=False, name=table)


@dataclass(frozen=True)
class InputTables:
    """The contract tables as canonical pandas frames; all but transactions may be None."""

    transactions: pd.DataFrame
    events: pd.DataFrame | None = None
    customers: pd.DataFrame | None = None
    subscriptions: pd.DataFrame | None = None

    def validate(self) -> InputTables:
        """Check every present table against its pandera schema; raises SchemaError."""
        for name in TABLE_NAMES:
            frame = getattr(self, name)
            if frame is not None:
                schema(name).validate(frame)
        return self
