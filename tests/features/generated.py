"""A small deterministic generated world for parity and determinism tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import InputTables


def generated_tables(n_customers: int = 150, seed: int = 11) -> InputTables:
    """A small deterministic world with returns, same-day orders, null channels, all events."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:05d}" for i in range(n_customers)])
    start = np.datetime64("2023-01-01T00:00:00", "us")
    minutes = np.timedelta64(60_000_000, "us")

    n_tx = 12 * n_customers
    tx_customer = ids[rng.zipf(1.6, n_tx) % n_customers]
    tx_time = start + rng.integers(0, 640 * 24 * 60, n_tx) * minutes
    amount = np.round(rng.gamma(2.0, 20.0, n_tx), 2)
    amount[rng.random(n_tx) < 0.08] *= -1
    tx_channel = rng.choice(np.array(["web", "app", "store", ""], dtype=object), n_tx)
    tx_channel[tx_channel == ""] = None
    transactions = pd.DataFrame(
        {
            "customer_id": pd.Series(tx_customer, dtype="str"),
            "timestamp": pd.Series(tx_time).astype("datetime64[us]"),
            "amount": amount.astype("float64"),
            "order_id": pd.Series([f"o{i}" for i in range(n_tx)], dtype="str"),
            "quantity": rng.integers(1, 4, n_tx).astype("float64"),
            "channel": pd.Series(tx_channel, dtype="str"),
            "category": pd.Series(rng.choice(["a", "b"], n_tx), dtype="str"),
        }
    )
    n_ev = 10 * n_customers
    kinds = np.array(["visit", "email_open", "email_click", "support_ticket", "app_session"])
    ev_kind = rng.choice(kinds, n_ev, p=[0.35, 0.3, 0.15, 0.05, 0.15])
    value = np.where(ev_kind == "support_ticket", rng.integers(1, 6, n_ev), np.nan)
    value[rng.random(n_ev) < 0.2] = np.nan
    events = pd.DataFrame(
        {
            "customer_id": pd.Series(ids[rng.integers(0, n_customers + 20, n_ev) % n_customers]),
            "timestamp": pd.Series(start + rng.integers(0, 640 * 24 * 60, n_ev) * minutes).astype(
                "datetime64[us]"
            ),
            "event_type": pd.Series(ev_kind, dtype="str"),
            "channel": pd.Series(rng.choice(["email", "web", "app", "phone"], n_ev), dtype="str"),
            "value": value.astype("float64"),
        }
    ).astype({"customer_id": "str"})
    signup = start + rng.integers(-200, 600, n_customers) * np.timedelta64(86_400_000_000, "us")
    member = pd.Series(rng.random(n_customers) < 0.4, dtype="boolean")
    member[rng.random(n_customers) < 0.1] = pd.NA
    customers = pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="str"),
            "signup_date": pd.Series(signup).astype("datetime64[us]"),
            "acquisition_channel": pd.Series(
                rng.choice(["ads", "organic", "referral"], n_customers), dtype="str"
            ),
            "loyalty_member": member,
        }
    )
    return InputTables(transactions, events, customers).validate()
