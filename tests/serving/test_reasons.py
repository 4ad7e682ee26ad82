"""Reasons: exact phrases for hand-picked values, the direction rules, every catalogue feature."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.catalogue import feature_catalogue
from features.vocabulary import Attribute, Vocabulary
from model.btyd import POSTERIOR_COLUMNS
from serving.reasons import ReasonContext, _without_gaps, phrases, reading, top_reasons

USD = ReasonContext(currency="USD", horizon_days=90)


def one(feature: str, value: object, context: ReasonContext = USD, **row: object) -> str:
    frame = pd.DataFrame([{feature: value, **row}])
    return phrases(feature, frame[feature], frame, context).iloc[0]


def test_phrases() -> None:
    assert one("recency_days", 124.0) == "last purchase 124 days ago"
    # clicks: previous 90 days had 10, the last 90 days 2: trend = (2 - 10) / 11
    assert one("email_click_trend_90d", -8 / 11, email_clicks_90d=2) == (
        "email clicks down 80% vs the previous 90 days"
    )
    assert one("orders_trend_90d", 3 / 3, orders_90d=5) == "orders up 150% vs the previous 90 days"
    assert one("orders_trend_90d", 4.0, orders_90d=4) == (
        "orders 4 in the last 90 days, none in the 90 before"
    )
    assert (
        one("orders_trend_90d", -3 / 4, orders_90d=0) == "orders stopped: none in the last 90 days"
    )
    assert one("days_since_visit", 45.0) == "last website visit 45 days ago"
    assert one("support_tickets_90d", 3) == "3 support tickets in the last 90 days"
    assert one("spend_365d", 1234.4) == "spent $1,234 in the last 365 days"
    assert one("spend_90d", -20.0) == "refunds exceeded purchases by $20 in the last 90 days"
    assert one("spend_30d", 0.0) == "no spend in the last 30 days"
    assert one("monetary_total", 80.0) == "spent $80 in total"
    assert one("csat_mean", 2.25) == "support satisfaction 2.2 out of 5"
    assert one("loyalty_member", 0.0) == "not a loyalty member"
    assert one("acquisition_channel", "paid_social") == "acquired via paid social"
    assert one("email_click_rate", 0.05) == "clicks 5% of the emails they open"
    assert (
        one("btyd_p_silent", 0.8) == "buying pattern: 80% chance of no purchase in the next 90 days"
    )


def test_amounts_carry_the_configured_currency() -> None:
    assert (
        one("spend_90d", 1500.0, ReasonContext(currency="EUR"))
        == "spent €1,500 in the last 90 days"
    )
    assert (
        one("spend_90d", 1500.0, ReasonContext(currency="SEK"))
        == "spent SEK 1,500 in the last 90 days"
    )
    assert one("spend_90d", 1500.0, ReasonContext()) == "spent 1,500 in the last 90 days"


def test_expected_purchases_read_as_a_person_would_say_them() -> None:
    assert one("btyd_purchases", 0.01) == "no purchase expected in the next 90 days"
    assert one("btyd_purchases", 0.4) == "expected to buy less than once in the next 90 days"
    assert one("btyd_purchases", 1.1) == "expected to buy about once in the next 90 days"
    assert one("btyd_purchases", 2.6) == "expected to buy about 3 times in the next 90 days"


def test_counts_of_one_are_singular_and_zero_reads_as_none() -> None:
    assert one("visits_90d", 1) == "1 website visit in the last 90 days"
    assert one("visits_90d", 2) == "2 website visits in the last 90 days"
    assert one("visits_90d", 0) == "no website visit in the last 90 days"
    assert one("orders_30d", 1) == "1 order in the last 30 days"
    assert one("orders_365d", 0) == "no order in the last 365 days"
    assert one("active_days_90d", 1) == "bought on 1 day in the last 90 days"
    assert one("active_days_90d", 0) == "no purchase in the last 90 days"
    assert one("recency_days", 1.0) == "last purchase 1 day ago"
    assert one("recency_days", 0.0) == "bought on the scoring date"
    assert one("days_since_visit", 0.0) == "last website visit on the scoring date"
    assert one("frequency", 1) == "1 repeat purchase so far"
    assert one("frequency", 0) == "no repeat purchase yet"
    assert one("orders_total", 1) == "1 order in total"


def test_a_missing_value_is_never_a_phrase() -> None:
    assert one("days_since_app_session", np.nan) == ""
    assert one("interpurchase_days_mean", np.nan) == ""


def _examples(name: str, dtype: str) -> list[tuple[object, dict]]:
    """A low and a high value of the feature (and the related column a trend reads)."""
    if dtype == "str":
        return [("paid_search", {})]
    if name.endswith("_trend_90d"):
        last = name.removesuffix("_trend_90d").replace("email_click", "email_clicks") + "_90d"
        return [(-0.5, {last: 1}), (2.0, {last: 8}), (-1 / 3, {last: 0})]
    if name.startswith("btyd_p") or name.endswith("_rate") or name == "loyalty_member":
        return [(0.05, {}), (0.9, {})]
    return [(0, {}), (7, {})] if dtype == "int64" else [(0.35, {}), (1234.5, {})]


CATALOGUE = feature_catalogue()
OWN_EVENTS = Vocabulary(  # the data's own event types and attributes
    ("product_view", "Payment-Failed"),
    (Attribute("region", ("north",)), Attribute("Store KM"), Attribute("last_login", date=True)),
).families
MODEL_INPUTS = (
    [(r.name, r.dtype) for r in CATALOGUE.itertuples()]
    + [(name, "float64") for name in POSTERIOR_COLUMNS]
    + [(s.name, s.dtype) for f in OWN_EVENTS for s in f.specs]
)


@pytest.mark.parametrize(("name", "dtype"), MODEL_INPUTS, ids=[n for n, _ in MODEL_INPUTS])
def test_every_catalogue_feature_reads_as_a_sentence(name: str, dtype: str) -> None:
    """Each model input has its own phrase: no code names, no 'nan', 'unknown' or 'None',
    words and a number or a word of what the value means, for values on both sides."""
    r = reading(name)
    assert r.direction in (-1, 0, 1)
    for value, row in _examples(name, dtype):
        text = one(name, value, **row)
        assert text and text == text.strip(), name
        assert "_" not in text and name not in text, text
        assert not re.search(r"\b(nan|NaN|None|unknown|inf)\b", text), text
        assert len(text.split()) >= 3 and (text[0].islower() or text[0].isdigit()), text
        assert not re.search(r"\d\.\d{3,}", text), f"float noise in {text!r}"


def frame_and_contrib() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "recency_days": [200.0, 3.0, 20.0],
            "orders_trend_90d": [2.0, 2.0, -0.5],
            "days_since_app_session": [np.nan, np.nan, 5.0],
            "csat_mean": [1.5, 4.8, 3.0],
            "visits_30d": [0, 9, 1],
            "orders_90d": [8, 8, 1],
        }
    )
    contrib = np.array(
        [  # the last column is the bias
            [1.2, 0.9, 0.8, 0.4, -0.1, 0.0, 0.3],
            [-0.8, -0.2, -0.5, -0.1, -0.3, 0.0, 0.3],
            [0.6, 0.2, 0.0, 0.0, 0.0, 0.0, 0.3],
        ]
    )
    return frame, contrib


TYPICAL = ReasonContext(
    typical={"recency_days": 40.0, "orders_trend_90d": 0.0, "csat_mean": 4.0, "visits_30d": 1.0}
)


def test_risk_reasons_push_up_and_read_riskier_than_typical() -> None:
    """Customer 0: 'orders up 300%' raises the score but reads as good news, and a missing app
    session is a non-event: neither is shown."""
    frame, contrib = frame_and_contrib()
    reasons = top_reasons(contrib, frame, list(frame.columns), context=TYPICAL)
    assert reasons[0] == ["last purchase 200 days ago", "support satisfaction 1.5 out of 5"]
    assert reasons[1] == []  # nothing pushes customer 1 up
    # customer 2: 20 days since the last purchase is fresher than the typical 40: not a reason
    assert reasons[2] == ["orders down 67% vs the previous 90 days"]


def test_safe_customers_get_the_reasons_they_are_safe() -> None:
    frame, contrib = frame_and_contrib()
    safe = np.array([False, True, False])
    reasons = top_reasons(contrib, frame, list(frame.columns), safe=safe, context=TYPICAL)
    assert reasons[1] == [
        "last purchase 3 days ago",
        "9 website visits in the last 30 days",
        "orders up 300% vs the previous 90 days",
    ]


def test_without_typical_values_only_the_sign_and_pivots_rule() -> None:
    frame, contrib = frame_and_contrib()
    reasons = top_reasons(contrib, frame, list(frame.columns))
    assert reasons[0] == ["last purchase 200 days ago", "support satisfaction 1.5 out of 5"]


def test_a_value_equal_to_the_typical_one_up_to_rounding_is_no_reason() -> None:
    """A mean of 3.7 summed in another order (another engine) lands a bit either side of the
    typical 3.7: it reads as typical both ways, so DuckDB and Spark give the same reasons."""
    typical = ReasonContext(typical={"csat_mean": 3.7, "recency_days": 40.0})
    contrib = np.array([[0.5, 0.4, 0.0]] * 3)
    for csat in (3.7 - 4e-16, 3.7, 3.7 + 4e-16):
        frame = pd.DataFrame({"csat_mean": [csat] * 3, "recency_days": [80.0, 40.0, 39.0]})
        reasons = top_reasons(contrib, frame, list(frame.columns), context=typical)
        assert reasons == [["last purchase 80 days ago"], [], []], csat
    frame = pd.DataFrame({"csat_mean": [3.69], "recency_days": [80.0]})
    assert top_reasons(contrib[:1], frame, list(frame.columns), context=typical) == [
        ["support satisfaction 3.7 out of 5", "last purchase 80 days ago"]
    ]


def test_one_reason_per_topic() -> None:
    """Four ways of saying 'no purchase expected' and two of 'no recent purchase' give one
    reason each; the third slot goes to the next topic."""
    frame = pd.DataFrame(
        {
            "btyd_p_silent": [0.999],
            "btyd_purchases": [0.001],
            "btyd_p_alive": [0.002],
            "recency_days": [220.0],
            "orders_90d": [0],
            "csat_mean": [2.0],
        }
    )
    contrib = np.array([[2.0, 1.5, 1.4, 1.0, 0.9, 0.3, -1.0]])
    typical = ReasonContext(
        typical={
            "btyd_p_silent": 0.4,
            "btyd_purchases": 1.0,
            "btyd_p_alive": 0.8,
            "recency_days": 40.0,
            "orders_90d": 1.0,
            "csat_mean": 4.0,
        }
    )
    assert top_reasons(contrib, frame, list(frame.columns), context=typical) == [
        [
            "buying pattern: over 99% chance of no purchase in the next 90 days",
            "last purchase 220 days ago",
            "support satisfaction 2.0 out of 5",
        ]
    ]


def test_phrases_kept_across_calls_are_the_phrases_made_afresh(monkeypatch) -> None:  # noqa: ANN001
    """Phrases of a value alone are kept between calls (a small store here, so it fills up
    and starts again): every call gives what a fresh computation gives."""
    import serving.reasons as reasons

    def fresh(values: pd.Series) -> list[str]:
        monkeypatch.setattr(reasons, "_PHRASE_CACHE", {})
        return list(phrases("recency_days", values, pd.DataFrame()))

    calls = [
        pd.Series([3.0, 40.0, 3.0, np.nan]),
        pd.Series([40.0, 7.0, 8.0, 9.0, 10.0]),  # more than the store holds with the first
        pd.Series([3.0, 1.0]),
    ]
    expected = [fresh(v) for v in calls]
    monkeypatch.setattr(reasons, "_PHRASE_CACHE", {})
    monkeypatch.setattr(reasons, "PHRASE_CACHE_SIZE", 4)
    assert [list(phrases("recency_days", v, pd.DataFrame())) for v in calls] == expected
    assert expected[0][3] == ""  # a missing value is no phrase


@given(
    st.lists(st.lists(st.booleans(), min_size=3, max_size=3), max_size=40),
)
def test_reasons_keep_their_slot_order_and_drop_the_empty_ones(filled: list[list[bool]]) -> None:
    """Each customer's list holds the texts of the slots filled, in slot order; a customer
    with none gets an empty list (whatever mix of customers a batch holds)."""
    texts = np.array([[f"r{i}.{s}" for s in range(3)] for i in range(len(filled))], dtype=object)
    mask = np.array(filled, dtype=bool).reshape(len(filled), 3)
    expected = [
        [t for t, f in zip(row, fs, strict=True) if f]
        for row, fs in zip(texts, filled, strict=True)
    ]
    assert _without_gaps(texts.reshape(len(filled), 3), mask) == expected


def test_shares_are_never_rounded_to_none_or_all() -> None:
    said = [one("btyd_p_silent", v).split(" chance")[0].removeprefix("buying pattern: ")
            for v in (0.0, 0.003, 0.5, 0.997, 1.0)]  # fmt: skip
    assert said == ["0%", "under 1%", "50%", "over 99%", "100%"]
