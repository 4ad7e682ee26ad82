"""The compiled feature query the service runs per request gives build_features' frame."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.build import build_features
from features.compiled import CompiledFeatures
from features.contract import InputTables
from tests.features.generated import generated_tables
from tests.features.tiny import CUTOFF, tiny_tables


def test_the_tiny_tables_give_the_same_frame_as_build_features() -> None:
    compiled = CompiledFeatures()
    tiny = tiny_tables()
    pd.testing.assert_frame_equal(compiled.build(tiny, CUTOFF), build_features(tiny, CUTOFF))


@pytest.mark.parametrize("tables_present", ["all", "transactions only", "no customers"])
def test_batches_cutoffs_and_table_sets_give_the_same_frames(tables_present: str) -> None:
    """Several batches through one compiled instance (plans reused, rows replaced each time),
    at two cutoffs: each frame is build_features' frame of that batch."""
    full = generated_tables(n_customers=120, seed=5)
    tables = InputTables(
        full.transactions,
        None if tables_present == "transactions only" else full.events,
        full.customers if tables_present == "all" else None,
    )
    ids = sorted(full.transactions["customer_id"].unique())
    compiled = CompiledFeatures()
    end = full.transactions["timestamp"].max().date()
    for cutoff in (end, end - dt.timedelta(days=45)):
        for batch in (ids[:1], ids[1:40], ids[40:]):
            part = InputTables(
                *(
                    None if t is None else t[t["customer_id"].isin(batch)].reset_index(drop=True)
                    for t in (tables.transactions, tables.events, tables.customers)
                )
            )
            pd.testing.assert_frame_equal(
                compiled.build(part, cutoff), build_features(part, cutoff)
            )


def test_subscriptions_give_the_same_frame_as_build_features() -> None:
    from tests.features.test_subscriptions import CUTOFF as SUB_CUTOFF
    from tests.features.test_subscriptions import tables as subscription_tables

    compiled = CompiledFeatures()
    tables = subscription_tables()
    pd.testing.assert_frame_equal(
        compiled.build(tables, SUB_CUTOFF), build_features(tables, SUB_CUTOFF)
    )


def test_the_data_own_columns_give_the_same_frame_as_build_features() -> None:
    """With a model's own event types and attributes, from tables the API builds (attributes
    as text, one customer without them)."""
    from features.vocabulary import Attribute, Vocabulary
    from serving.api_models import CustomerIn, arrow_from_customers, tables_from_customers

    day = dt.date(2026, 3, 31)
    tx = [{"timestamp": "2026-01-05T10:00:00", "amount": 20.0}]
    customers = [
        CustomerIn(
            customer_id="a",
            transactions=tx,
            events=[
                {"timestamp": "2026-03-01T09:00:00", "event_type": "product_view"},
                {"timestamp": "2025-12-01T09:00:00", "event_type": "Complaint"},
            ],
            signup_date=dt.date(2025, 6, 1),
            attributes={"region": "north", "store_km": 3.5},
            as_of=day,
        ),
        CustomerIn(customer_id="b", transactions=tx, signup_date=dt.date(2025, 7, 1), as_of=day),
    ]
    vocab = Vocabulary(
        ("product_view", "complaint"), (Attribute("region", ("north",)), Attribute("store_km"))
    )
    tables = tables_from_customers(customers)
    compiled = CompiledFeatures()
    got = compiled.build(tables, day, vocab)
    pd.testing.assert_frame_equal(got, build_features(tables, day, vocabulary=vocab))
    # the service's way: the same tables as Arrow, without pandas
    pd.testing.assert_frame_equal(compiled.build(arrow_from_customers(customers), day, vocab), got)
    a = got.set_index("customer_id").loc["a"]
    assert a["events_complaint_365d"] == 1 and a["attr_store_km"] == 3.5
    assert a["attr_region"] == "north"


def test_text_that_needs_quoting_reaches_the_query_unchanged() -> None:
    """Ids, an attribute name and its value with quotes, backslashes and non-ASCII letters
    (the batch travels as JSON inside a SQL literal), and sub-second timestamps."""
    from features.vocabulary import Attribute, Vocabulary
    from serving.api_models import CustomerIn, arrow_from_customers, tables_from_customers

    day = dt.date(2026, 3, 31)
    name, value = 'o\'clock "zone" \\ é', 'it\'s \\ "nörth" 😀'
    customers = [
        CustomerIn(
            customer_id=cid,
            transactions=[
                {"timestamp": "2026-01-05T10:00:00.123456", "amount": 20.5},
                {"timestamp": "2026-03-30T23:59:59.999999+00:00", "amount": -5.25},
            ],
            events=[{"timestamp": "2026-03-01T09:00:00.5", "event_type": "visit"}],
            signup_date=dt.date(2025, 6, 1),
            attributes={name: value},
            as_of=day,
        )
        for cid in ("o'brien", 'say "hi"', "back\\slash", "Zoë 😀")
    ]
    vocab = Vocabulary((), (Attribute(name, (value,)),))
    want = build_features(tables_from_customers(customers), day, vocabulary=vocab)
    got = CompiledFeatures().build(arrow_from_customers(customers), day, vocab)
    pd.testing.assert_frame_equal(got, want)
    assert sorted(got["customer_id"]) == sorted(c.customer_id for c in customers)
    assert (got["attr_o_clock_zone"] == value).all()  # the attribute's feature column
    assert (got["monetary_total"] == 15.25).all()
