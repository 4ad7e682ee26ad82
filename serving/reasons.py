"""Readable reasons for a churn score, from LightGBM's exact TreeSHAP contributions.

For each customer the three features that push the churn score up the most become phrases
such as "no purchase for 124 days" or "email clicks down 80% vs the previous 90 days".
Phrases are built per feature over whole columns (vectorised), so a million customers is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

Phrase = Callable[[pd.Series, pd.DataFrame], pd.Series]

EVENT_WORDS = {
    "visits": "website visits",
    "email_opens": "email opens",
    "email_clicks": "email clicks",
    "support_tickets": "support tickets",
    "app_sessions": "app sessions",
}
SINCE_WORDS = {
    "visit": "website visit",
    "email_open": "email opened",
    "email_click": "email click",
    "support_ticket": "support ticket",
    "app_session": "app session",
}
_WINDOW = re.compile(r"^(?P<what>[a-z_]+)_(?P<days>\d+)d$")


def _n(v: pd.Series) -> pd.Series:
    """Whole numbers with thousands separators, as text."""
    return v.astype(float).map("{:,.0f}".format)


def _template(before: str, after: str = "") -> Phrase:
    return lambda v, df: before + _n(v) + after


def _count(before: str, noun: str, after: str = "", plural: str | None = None) -> Phrase:
    """``before`` + number + noun, singular when the shown number is 1: '1 order', '3 orders'."""
    many = plural or noun + "s"

    def phrase(v: pd.Series, df: pd.DataFrame) -> pd.Series:
        one = v.astype(float).round(0).abs() == 1
        words = pd.Series(np.where(one, noun, many), index=v.index)
        return before + _n(v) + " " + words + after

    return phrase


def _trend(what: str, last_col: str) -> Phrase:
    """Trend t = (last - prev) / (prev + 1): recover prev, say the change in percent."""

    def phrase(t: pd.Series, df: pd.DataFrame) -> pd.Series:
        last = df[last_col].astype(float) if last_col in df else pd.Series(np.nan, index=t.index)
        prev = (last - t) / (1 + t)
        pct = ((last - prev) / prev * 100).abs().round(0)
        words = np.where(last < prev, " down ", " up ")
        text = (
            what
            + pd.Series(words, index=t.index)
            + pct.map("{:.0f}".format)
            + "% vs the previous 90 days"
        )
        none_before = what + ": " + _n(last.fillna(0)) + " in the last 90 days, none before"
        return text.where(prev > 0.5, none_before)

    return phrase


def _repeats(v: pd.Series, df: pd.DataFrame) -> pd.Series:
    """'3 repeat purchase days so far', or 'no repeat purchase yet'."""
    return _count("", "repeat purchase day", " so far")(v, df).where(
        v.astype(float) > 0, "no repeat purchase yet"
    )


FIXED: dict[str, Phrase] = {
    "recency_days": _count("no purchase for ", "day"),
    "frequency": _repeats,
    "btyd_x": _repeats,
    "orders_total": _count("", "order", " in total"),
    "monetary_total": _template("net spend of ", " so far"),
    "monetary_mean": _template("spends ", " per purchase day"),
    "btyd_monetary_value": _template("repeat purchases worth ", " on average"),
    "tenure_days": _count("first purchase ", "day", " ago"),
    "btyd_T": _count("first purchase ", "day", " ago"),
    "btyd_t_x": _count("bought over a span of ", "day"),
    "first_purchase_value": _template("first purchase worth "),
    "last_purchase_value": _template("last purchase worth "),
    "interpurchase_days_mean": _count("buys every ", "day", " on average"),
    "interpurchase_days_std": _count("irregular buying (gaps vary by ", "day", ")"),
    "signup_age_days": _count("signed up ", "day", " ago"),
    "orders_trend_90d": _trend("orders", "orders_90d"),
    "spend_trend_90d": _trend("spend", "spend_90d"),
    "email_click_trend_90d": _trend("email clicks", "email_clicks_90d"),
    "email_open_rate": lambda v, df: "opens " + v.map("{:.1f}".format) + " emails a month",
    "email_click_rate": lambda v, df: "clicks " + v.map("{:.0%}".format) + " of opened emails",
    "csat_mean": lambda v, df: "support satisfaction " + v.map("{:.1f}".format) + " of 5",
    "loyalty_member": lambda v, df: pd.Series(
        np.where(v >= 0.5, "loyalty member", "not a loyalty member"), index=v.index
    ),
    "btyd_p_alive": lambda v, df: (
        "buying pattern: " + v.map("{:.0%}".format) + " chance still an active customer"
    ),
    "btyd_p_silent": lambda v, df: (
        "buying pattern: " + v.map("{:.0%}".format) + " chance of no purchase in the coming months"
    ),
    "btyd_purchases": lambda v, df: (
        "expected to buy " + v.map("{:.1f}".format) + " times in the coming months"
    ),
    "btyd_spend_per_purchase": _template("expected to spend ", " per purchase"),
    "btyd_revenue": _template("expected spend of ", " in the coming months"),
    "acquisition_channel": lambda v, df: "acquired via " + v.astype(str),
    "preferred_channel": lambda v, df: "mostly uses " + v.astype(str),
}


def _missing(feature: str) -> str:
    if feature == "loyalty_member":
        return "loyalty membership not known"
    if feature.startswith("days_since_"):
        return f"no {SINCE_WORDS.get(feature[11:], feature[11:])} recorded"
    if feature in ("recency_days", "tenure_days", "btyd_T"):
        return "no purchase yet"
    return f"{feature.replace('_', ' ')} unknown"


def phrases(feature: str, values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Readable phrases for one feature's values (rows of ``frame`` give related columns)."""
    if feature in FIXED:
        make = FIXED[feature]
    elif feature.startswith("days_since_"):
        make = _count(f"last {SINCE_WORDS.get(feature[11:], feature[11:])} ", "day", " ago")
    elif m := _WINDOW.match(feature):
        what, days = m.group("what"), m.group("days")
        if what == "spend":
            make = _template("spent ", f" in the last {days} days")
        elif what == "active_days":
            make = _count("bought on ", "day", f" in the last {days} days")
        else:
            many = EVENT_WORDS.get(what, what.replace("_", " "))
            one = many[:-1] if many.endswith("s") else many
            make = _count("", one, f" in the last {days} days", plural=many)
    else:
        make = lambda v, df: f"{feature.replace('_', ' ')}: " + v.astype(str)  # noqa: E731
    present = values.notna()
    out = pd.Series(_missing(feature), index=values.index, dtype=object)
    if present.any():
        out[present] = make(values[present], frame.loc[present]).to_numpy()
    return out


def top_reasons(
    contributions: np.ndarray, features: pd.DataFrame, columns: list[str], k: int = 3
) -> list[list[str]]:
    """Phrases for the ``k`` features that raise each customer's churn score most.

    ``contributions`` is LightGBM ``pred_contrib`` output (one column per feature, then the
    bias). Only positive contributions count; a customer with none gets an empty list.
    """
    contrib = np.asarray(contributions)[:, : len(columns)]
    n = len(contrib)
    top = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    texts = np.full((n, k), None, dtype=object)
    frame = features.reset_index(drop=True)
    for j in np.unique(top):
        rows, slots = np.nonzero((top == j) & (np.take_along_axis(contrib, top, axis=1) > 0))
        if len(rows):
            col = columns[j]
            texts[rows, slots] = phrases(col, frame[col].iloc[rows], frame.iloc[rows]).to_numpy()
    return [[t for t in row if t is not None] for row in texts]
