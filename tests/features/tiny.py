"""The tiny hand-written tables (cutoff 2024-01-31) whose features are computed by hand.

Customers (ids are text; sorted order "00007" < "00042" < "11" < "3" < "8" < "9"):

* "00042": bought 10.0 (2024-01-01, web), 20.0 (01-11, app), returned -5.0 (01-12, web);
  after the cutoff 30.0 (02-10) and -10.0 (02-12); signed up 2023-12-01 via "ads", member;
  email opens 01-20 and 2023-10-01, email clicks 01-21, 2023-10-02 and 2023-10-03,
  a visit 01-31 (web), an app session 2023-02-01 (app).
* "00007": 100.0 (2023-06-15, store), 50.0 (09-10, web), 30.0 + 20.0 (12-20, store + web),
  40.0 and -10.0 (2024-01-30, app + app); after the cutoff 25.0 (03-15) and 5.0 (04-30, the
  data end); signed up 2023-06-01, unknown channel and membership; no events.
* "11": 12.0 on 2024-01-31 23:59:59 (visible), 99.0 on 2024-02-01 00:00:00 (not visible).
* "3": only a return, -15.0 on 2024-01-20.
* "9": only events: support tickets 01-02 (CSAT 4), 2023-11-01 (no score), 2023-03-01 (2).
* "8": only a signup on 2024-01-30 ("organic", not a member).
* "5": signs up 2024-02-05, after the cutoff: not known at the cutoff.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.contract import InputTables

CUTOFF = dt.date(2024, 1, 31)
KNOWN = ["00007", "00042", "11", "3", "8", "9"]


def ts(*values: str) -> pd.Series:
    """Timestamps in the contract dtype."""
    return pd.Series(pd.to_datetime(list(values), format="ISO8601")).astype("datetime64[us]")


def text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def transactions(rows: list[tuple[str, str, float, str | None]]) -> pd.DataFrame:
    """A contract transactions frame from (customer_id, timestamp, amount, channel) rows."""
    n = len(rows)
    return pd.DataFrame(
        {
            "customer_id": text(*[r[0] for r in rows]),
            "timestamp": ts(*[r[1] for r in rows]),
            "amount": pd.Series([r[2] for r in rows], dtype="float64"),
            "order_id": text(*[f"o{i}" for i in range(n)]),
            "quantity": pd.Series([1.0] * n, dtype="float64"),
            "channel": text(*[r[3] for r in rows]),
            "category": text(*["misc"] * n),
        }
    )


def events(rows: list[tuple[str, str, str, str | None, float | None]]) -> pd.DataFrame:
    """A contract events frame from (customer_id, timestamp, type, channel, value) rows."""
    return pd.DataFrame(
        {
            "customer_id": text(*[r[0] for r in rows]),
            "timestamp": ts(*[r[1] for r in rows]),
            "event_type": text(*[r[2] for r in rows]),
            "channel": text(*[r[3] for r in rows]),
            "value": pd.Series([r[4] for r in rows], dtype="float64"),
        }
    )


def customers(rows: list[tuple[str, str, str | None, bool | None]]) -> pd.DataFrame:
    """A contract customers frame from (customer_id, signup, channel, member) rows."""
    return pd.DataFrame(
        {
            "customer_id": text(*[r[0] for r in rows]),
            "signup_date": ts(*[r[1] for r in rows]),
            "acquisition_channel": text(*[r[2] for r in rows]),
            "loyalty_member": pd.Series([r[3] for r in rows], dtype="boolean"),
        }
    )


TX_ROWS = [
    ("00042", "2024-01-01 09:00", 10.0, "web"),
    ("00042", "2024-01-11 13:30", 20.0, "app"),
    ("00042", "2024-01-12 10:00", -5.0, "web"),
    ("00042", "2024-02-10 10:00", 30.0, "web"),
    ("00042", "2024-02-12 10:00", -10.0, "web"),
    ("00007", "2023-06-15 08:00", 100.0, "store"),
    ("00007", "2023-09-10 12:00", 50.0, "web"),
    ("00007", "2023-12-20 10:00", 30.0, "store"),
    ("00007", "2023-12-20 18:00", 20.0, "web"),
    ("00007", "2024-01-30 11:00", 40.0, "app"),
    ("00007", "2024-01-30 15:00", -10.0, "app"),
    ("00007", "2024-03-15 10:00", 25.0, None),
    ("00007", "2024-04-30 10:00", 5.0, None),
    ("11", "2024-01-31 23:59:59", 12.0, None),
    ("11", "2024-02-01 00:00:00", 99.0, None),
    ("3", "2024-01-20 10:00", -15.0, "store"),
]
EVENT_ROWS = [
    ("00042", "2024-01-20 10:00", "email_open", "email", None),
    ("00042", "2023-10-01 10:00", "email_open", "email", None),
    ("00042", "2024-01-21 10:00", "email_click", "email", None),
    ("00042", "2023-10-02 10:00", "email_click", "email", None),
    ("00042", "2023-10-03 10:00", "email_click", "email", None),
    ("00042", "2024-01-31 22:00", "visit", "web", None),
    ("00042", "2023-02-01 10:00", "app_session", "app", None),
    ("9", "2024-01-02 10:00", "support_ticket", "phone", 4.0),
    ("9", "2023-11-01 10:00", "support_ticket", "phone", None),
    ("9", "2023-03-01 10:00", "support_ticket", "phone", 2.0),
]
CUSTOMER_ROWS = [
    ("00042", "2023-12-01", "ads", True),
    ("00007", "2023-06-01", None, None),
    ("8", "2024-01-30", "organic", False),
    ("5", "2024-02-05", "ads", True),
]


def tiny_tables() -> InputTables:
    """The tiny tables of the module docstring, validated against the contract."""
    return InputTables(
        transactions=transactions(TX_ROWS),
        events=events(EVENT_ROWS),
        customers=customers(CUSTOMER_ROWS),
    ).validate()
