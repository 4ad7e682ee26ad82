"""The data's own event types and customer attributes: which become features, values by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.build import build_features
from features.contract import InputTables
from features.vocabulary import (
    Attribute,
    ColumnProfile,
    Vocabulary,
    fit_attributes,
    fit_event_types,
    slug,
    vocabulary_at,
)
from tests.features.tiny import customers, events, transactions

CUTOFF = dt.date(2024, 6, 30)


def day(age: int, hour: int = 12) -> str:
    """The timestamp ``age`` days before the cutoff day, at ``hour``."""
    return f"{CUTOFF - dt.timedelta(days=age)}T{hour:02d}:00:00"


def tables() -> InputTables:
    """ "a" viewed products 0, 10, 100 and 200 days before the cutoff (and once after it),
    added to cart 5 days before; "b" only visited (a standard type)."""
    ev = [
        ("a", day(0), "product_view", "web", None),
        ("a", day(10), "product_view", "web", None),
        ("a", day(100), "product_view", "app", None),
        ("a", day(200), "product_view", "app", None),
        ("a", "2024-07-01T00:00:00", "product_view", "web", None),  # after the cutoff
        ("a", day(5), "cart_add", "web", None),
        ("b", day(3), "visit", "web", None),
    ]
    tx = [("a", day(40), 20.0, "web"), ("b", day(50), 35.0, "store")]
    return InputTables(transactions(tx), events(ev))


def test_the_most_frequent_types_beyond_the_standard_five_are_chosen_up_to_the_cap() -> None:
    counts = {"visit": 900, "product_view": 500, "cart_add": 80, "login": 80, "Login!": 3}
    assert fit_event_types(counts) == ("product_view", "cart_add", "login")
    assert fit_event_types(counts, max_event_types=2) == ("product_view", "cart_add")


def test_types_whose_column_name_is_empty_or_taken_are_skipped() -> None:
    assert slug("Payment-Failed ") == "payment_failed"
    assert slug("!!!") is None
    counts = {"payment_failed": 9, "Payment Failed": 5, "???": 4, "Email Open": 3}
    assert fit_event_types(counts) == ("payment_failed",)


def test_each_type_gets_window_counts_days_since_and_trend() -> None:
    vocab = Vocabulary(("product_view", "cart_add"))
    feats = build_features(tables(), CUTOFF, vocabulary=vocab).set_index("customer_id")
    a, b = feats.loc["a"], feats.loc["b"]
    # product views at ages 0, 10, 100, 200; the one after the cutoff is not seen
    assert [a[f"events_product_view_{w}d"] for w in (30, 90, 180, 365)] == [2, 2, 3, 4]
    assert a["days_since_product_view"] == 0.0
    # last 90 days: 2, previous 90 days (ages 90-179): 1 -> (2 - 1) / (1 + 1)
    assert a["events_product_view_trend_90d"] == pytest.approx(0.5)
    assert a["events_cart_add_30d"] == 1 and a["days_since_cart_add"] == 5.0
    # "b" has events, none of these types: zeros, never seen, flat
    assert b["events_product_view_365d"] == 0 and pd.isna(b["days_since_product_view"])
    assert b["events_cart_add_trend_90d"] == 0.0
    assert feats["events_product_view_30d"].dtype == "int64"


def test_the_model_vocabulary_decides_the_columns_not_the_batch() -> None:
    """Scoring builds the trained types only: one absent from the batch gives zeros, one the
    model never saw is not counted."""
    vocab = Vocabulary(("complaint",))
    feats = build_features(tables(), CUTOFF, vocabulary=vocab)
    extra = [c for c in feats.columns if "complaint" in c or "product_view" in c]
    assert extra == [
        "events_complaint_30d", "events_complaint_90d", "events_complaint_180d",
        "events_complaint_365d", "days_since_complaint", "events_complaint_trend_90d",
    ]  # fmt: skip
    assert feats["events_complaint_365d"].eq(0).all()


def test_without_a_vocabulary_the_frame_is_the_catalogue_one() -> None:
    plain = build_features(tables(), CUTOFF)
    empty = build_features(tables(), CUTOFF, vocabulary=Vocabulary())
    pd.testing.assert_frame_equal(plain, empty)
    assert not any(c.startswith("events_") for c in plain.columns)


# ---- customer attributes ---------------------------------------------------------------------
def with_attributes() -> InputTables:
    """tables() plus customers "a" (region north, 2.5 km, plan gold) and "b" (region " south ",
    no distance, plan "basic"); "c" signs up after the cutoff (not visible)."""
    base = tables()
    cust = customers(
        [
            ("a", "2023-01-05", "ads", True),
            ("b", "2023-02-01", None, None),
            ("c", "2024-07-03", None, None),
        ]
    )
    cust["region"] = pd.Series(["north", " south ", "east"], dtype="str")
    cust["store_km"] = pd.Series(["2.5", None, "1"], dtype="str")  # as a CSV gives them
    cust["plan"] = pd.Series(["gold", "basic", "gold"], dtype="str")
    return InputTables(base.transactions, base.events, cust)


def test_attributes_are_numbers_when_every_value_reads_as_one_else_capped_levels() -> None:
    profiles = [
        ColumnProfile("region", 100, 0, 0, {"north": 50, "south": 30, "east": 15, "west": 5}, 4),
        ColumnProfile("Store KM", 90, 90, 0, {}, 60),
        ColumnProfile("email", 100, 0, 0, {"x@y": 1}, 100),  # identifier-like: left out
        ColumnProfile("notes", 0, 0, 0, {}, 0),  # empty: left out
        ColumnProfile("plan", 100, 0, 0, {"gold": 60, "basic": 40}, 2),
        ColumnProfile("last login", 80, 0, 80, {}, 80),  # dates, every one distinct
    ]
    got = fit_attributes(profiles, customers=100, max_levels=2, exclude=["PLAN"])
    assert got == (
        Attribute("region", ("north", "south")),
        Attribute("Store KM"),
        Attribute("last login", date=True),
    )
    assert [a.feature for a in got] == [
        "attr_region",
        "attr_store_km",
        "attr_days_since_last_login",
    ]


def test_attribute_values_by_hand_with_levels_kept_and_others() -> None:
    vocab = Vocabulary(attributes=(Attribute("region", ("north",)), Attribute("store_km")))
    feats = build_features(with_attributes(), CUTOFF, vocabulary=vocab).set_index("customer_id")
    assert feats.loc["a", "attr_region"] == "north" and feats.loc["b", "attr_region"] == "other"
    assert feats.loc["a", "attr_store_km"] == 2.5 and pd.isna(feats.loc["b", "attr_store_km"])
    assert feats["attr_store_km"].dtype == "float64" and feats["attr_region"].dtype == "str"
    assert "c" not in feats.index


def test_a_date_column_is_the_days_from_it_to_the_cutoff() -> None:
    """ "a" last logged in 10 days before the cutoff, "b" has a renewal 5 days after it."""
    base = with_attributes()
    cust = base.customers.copy()
    cust["last_seen"] = pd.Series(["2024-06-20", "2024-07-05T08:00:00", None], dtype="str")
    tables = InputTables(base.transactions, base.events, cust)
    vocab = vocabulary_at(tables, CUTOFF)
    assert Attribute("last_seen", date=True) in vocab.attributes
    feats = build_features(tables, CUTOFF, vocabulary=vocab).set_index("customer_id")
    assert feats["attr_days_since_last_seen"].to_dict() == {"a": 10.0, "b": -5.0}


def test_an_attribute_missing_from_the_batch_is_null() -> None:
    vocab = Vocabulary(attributes=(Attribute("loyalty_tier", ("gold",)), Attribute("age")))
    feats = build_features(with_attributes(), CUTOFF, vocabulary=vocab)
    assert feats["attr_loyalty_tier"].isna().all() and feats["attr_age"].isna().all()


def test_the_vocabulary_is_fitted_on_what_is_visible_at_the_cutoff() -> None:
    vocab = vocabulary_at(with_attributes(), CUTOFF)
    assert vocab.event_types == ("product_view", "cart_add")
    # region: "c" (east) is not visible yet; " south " is read as "south"
    assert vocab.attributes == (
        Attribute("region", ("north", "south")),
        Attribute("store_km"),
        Attribute("plan", ("basic", "gold")),
    )
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again == vocab


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_loaders_row_numbers_are_not_an_attribute(tmp_path, fmt: str) -> None:  # noqa: ANN001
    """Checked tables carry the source row number (``__row``) for the source order; it is not
    one of the customer's own columns."""
    from churnclv.demo_data import generate_demo_data, write_demo_data
    from core.settings import DataSettings
    from features.engine import default_backend
    from features.loader import load_tables_on
    from features.vocabulary import vocabulary_at

    write_demo_data(generate_demo_data(200, seed=1), tmp_path, fmt=fmt)  # type: ignore[arg-type]
    con = default_backend()
    try:
        loaded = load_tables_on(DataSettings(dir=tmp_path), con, dt.datetime(2026, 10, 1))
        assert "__row" in loaded.tables.customers.columns
        vocabulary = vocabulary_at(loaded.tables, dt.date(2026, 9, 30))
    finally:
        con.disconnect()
    assert vocabulary.attributes == ()
