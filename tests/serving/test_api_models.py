"""The contract tables the API builds from request customers are what the file loader gives."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import TABLE_NAMES, schema
from serving.api_models import CustomerIn, tables_from_customers

DAY = dt.date(2026, 3, 31)
timestamps = st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2026, 3, 31, 23, 59))
transactions = st.fixed_dictionaries(
    {"timestamp": timestamps, "amount": st.floats(-500, 5000)},
    optional={
        "order_id": st.text(min_size=1, max_size=8),
        "quantity": st.floats(0, 20),
        "channel": st.sampled_from(["web", "store", "app"]),
        "category": st.sampled_from(["shoes", "toys"]),
    },
)
events = st.fixed_dictionaries(
    {"timestamp": timestamps, "event_type": st.sampled_from(["visit", "Email_Open", "login"])},
    optional={"channel": st.sampled_from(["web", "email"]), "value": st.floats(1, 5)},
)
subscriptions = st.fixed_dictionaries(
    {
        "subscription_id": st.sampled_from(["s1", "s2", "s3"]),
        "start_date": st.dates(dt.date(2024, 1, 1), DAY),
        "billing_period_days": st.sampled_from([30, 30.4375, 365]),
    },
    optional={
        "price": st.floats(0, 500),
        "auto_renew": st.booleans(),
        "plan": st.sampled_from(["basic", "pro"]),
        "status": st.just("active"),
    },
)
customers = st.builds(
    CustomerIn,
    customer_id=st.from_regex(r"c[0-9]{1,6}", fullmatch=True),
    transactions=st.lists(transactions, min_size=1, max_size=5),
    events=st.lists(events, max_size=5),
    subscriptions=st.lists(
        subscriptions, max_size=3, unique_by=lambda r: (r["subscription_id"], r["start_date"])
    ),
    signup_date=st.none() | st.dates(dt.date(2020, 1, 1), DAY),
    acquisition_channel=st.none() | st.sampled_from(["referral", "paid_social"]),
    loyalty_member=st.none() | st.booleans(),
    as_of=st.just(DAY),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(customers, min_size=1, max_size=4))
def test_every_table_built_from_request_customers_passes_the_loader_schemas(
    batch: list[CustomerIn],
) -> None:
    tables = tables_from_customers(batch, subscriptions=True)
    for name in TABLE_NAMES:
        schema(name).validate(getattr(tables, name))  # raises on a dtype or rule it breaks


def test_subscriptions_follow_the_loader_rules_in_its_words() -> None:
    import pydantic
    import pytest

    base = {"customer_id": "c1", "as_of": DAY}
    tx = [{"timestamp": "2026-03-01T10:00:00", "amount": 10}]
    good = {"subscription_id": "s", "start_date": "2026-01-01", "billing_period_days": 30}
    for bad, words in [
        ({"end_date": "2025-12-01"}, "end_date before start_date"),
        ({"cancel_date": "2025-12-01"}, "cancel_date before start_date"),
        ({"billing_period_days": 0}, "billing_period_days not positive"),
        ({"billing_period_days": "30"}, "non-numeric billing_period_days: '30'"),
        ({"price": -1}, "negative price"),
        ({"start_date": "2026-04-02"}, "is outside 1990-01-01 to the scoring date 2026-03-31"),
    ]:
        with pytest.raises(pydantic.ValidationError, match=words):
            CustomerIn(transactions=tx, subscriptions=[{**good, **bad}], **base)
    with pytest.raises(pydantic.ValidationError, match="duplicate subscription_id and start_date"):
        CustomerIn(transactions=tx, subscriptions=[good, {**good, "price": 5}], **base)
    one = CustomerIn(transactions=tx, subscriptions=[good], **base)
    subs = tables_from_customers([one]).subscriptions
    assert subs["start_date"].tolist() == [dt.datetime(2026, 1, 1)]
    assert str(subs["start_date"].dtype) == "datetime64[us]"
    # without subscriptions the table is left out, unless the model reads them
    plain = CustomerIn(transactions=tx, **base)
    assert tables_from_customers([plain]).subscriptions is None
    assert len(tables_from_customers([plain], subscriptions=True).subscriptions) == 0


def test_event_types_are_lower_case_as_the_loader_makes_them() -> None:
    one = CustomerIn(
        customer_id="c1",
        transactions=[{"timestamp": "2026-03-01T10:00:00", "amount": 10}],
        events=[{"timestamp": "2026-03-02T10:00:00", "event_type": "Email_Open"}],
        as_of=DAY,
    )
    assert tables_from_customers([one]).events["event_type"].tolist() == ["email_open"]


def test_attributes_become_text_columns_of_the_customers_table() -> None:
    """As a CSV gives them; they cannot replace a contract column; without a signup date the
    customer has no customers row (as in the file)."""
    base = {"transactions": [{"timestamp": "2026-03-01T10:00:00", "amount": 10}], "as_of": DAY}
    batch = [
        CustomerIn(
            customer_id="a",
            signup_date=dt.date(2025, 1, 1),
            attributes={"region": "north", "km": 4.5, "vip": True, "loyalty_member": "x"},
            **base,
        ),
        CustomerIn(
            customer_id="b",
            signup_date=dt.date(2025, 1, 1),
            attributes={"age": 30, "region": None},  # null: unknown, as if left out
            **base,
        ),
        CustomerIn(customer_id="c", attributes={"region": "south"}, **base),
    ]
    cust = tables_from_customers(batch).customers
    assert list(cust["customer_id"]) == ["a", "b"]
    own = cust[["region", "km", "vip", "age"]].astype(object).where(cust.notna(), None)
    assert own.to_dict("list") == {
        "region": ["north", None],
        "km": ["4.5", None],
        "vip": ["true", None],
        "age": [None, "30"],
    }
    assert cust["loyalty_member"].isna().all()
    schema("customers").validate(cust)
