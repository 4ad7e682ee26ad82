"""Reasons a person can use: what makes a customer risky, or for low-risk customers what keeps
them safe, as phrases such as "last purchase 124 days ago" or "email clicks down 80% vs the
previous 90 days".

The ranking comes from the churn model (LightGBM's exact TreeSHAP, or what moves the BG/NBD
score); a feature becomes a reason only when its phrase reads the way it pushes:

* its contribution has the sign of the side explained (up for a risk reason, down for a safety
  reason);
* its value is on that side of the typical customer's (the median at the data end, fitted in
  training and stored with the model) for a feature whose reading has a direction (more days
  since the last purchase reads riskier, more orders safer) and, for a trend, on that side of
  no change, so "orders up 300%" is never a churn reason;
* it is known: a missing value (no app session ever, no email to open) is not a reason.

Every feature of the catalogue has a :class:`Reading` (direction and phrase) here; the test
walks the catalogue. Phrases are built per feature over whole columns (vectorised), so a
million customers is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.money import format_money_column


@dataclass(frozen=True)
class ReasonContext:
    """What phrases and the direction check need besides the values."""

    typical: Mapping[str, float] = field(default_factory=dict)
    """Median of each numeric model input at the data end (from the bundle)."""
    currency: str | None = None
    horizon_days: int = 90
    """Horizon of the BTYD expectations (the bundle's label horizon)."""
    directions: Mapping[str, int] = field(default_factory=dict)
    """+1 / -1 for features whose reading has no direction of its own (the data's own event
    types and numeric attributes): learned in training (the bundle's ``directions``)."""


Phrase = Callable[[pd.Series, pd.DataFrame | None, ReasonContext], pd.Series]
"""(values, frame, context) -> phrases: the frame holds the customers' other columns, read at
the values' index labels (it may hold more rows); None for a reading that is not
``reads_frame`` (its phrases are made once per distinct value, with no customer's row)."""


@dataclass(frozen=True)
class Reading:
    """How a feature's value reads: ``direction`` +1 when higher reads riskier, -1 when lower
    reads riskier, 0 when the value has no such reading (a channel); ``pivot`` a value the
    reading must also be on the right side of (0 for a trend: down reads riskier); ``topic``
    what the phrase is about: a customer gets at most one reason per topic, so "last purchase
    200 days ago" is not followed by "no order in the last 90 days"."""

    phrase: Phrase
    direction: int
    pivot: float | None = None
    topic: str = ""
    reads_frame: bool = False
    """The phrase reads other columns of the customer's row (a trend reads the last window's
    count); otherwise it depends on the value alone and is made once per distinct value."""


EVENT_WORDS = {  # plural, singular
    "visits": ("website visits", "website visit"),
    "email_opens": ("email opens", "email open"),
    "email_clicks": ("email clicks", "email click"),
    "support_tickets": ("support tickets", "support ticket"),
    "app_sessions": ("app sessions", "app session"),
}
SINCE_WORDS = {
    "visit": "website visit",
    "email_open": "email opened",
    "email_click": "email click",
    "support_ticket": "support ticket",
    "app_session": "app session",
}
RISING_EVENTS = {"support_tickets", "support_ticket"}  # more of these reads riskier
SAME = 1e-9  # relative: a value this close to the typical one is equal to it, on any engine
_WINDOW = re.compile(r"^(?P<what>[a-z_]+)_(?P<days>\d+)d$")
# the data's own event types (features.vocabulary): events_{type}_{w}d, events_{type}_trend_90d
_OWN_EVENTS = re.compile(r"^events_(?P<what>[a-z0-9_]+?)_(?:(?P<days>\d+)d|(?P<trend>trend_90d))$")


def words(name: str) -> str:
    """A code as words: 'paid_social' -> 'paid social'."""
    return str(name).replace("_", " ").strip()


def _n(v: pd.Series) -> pd.Series:
    """Whole numbers with thousands separators, as text."""
    return v.astype(float).map("{:,.0f}".format)


def _money(v: pd.Series, ctx: ReasonContext) -> pd.Series:
    return format_money_column(v, ctx.currency)


def _count(
    before: str, noun: str, after: str = "", plural: str | None = None, none: str | None = None
) -> Phrase:
    """``before`` + number + noun (singular for 1) + ``after``; ``none`` for a zero."""
    many = plural or noun + "s"

    def phrase(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
        shown = v.astype(float).round(0)
        noun_ = pd.Series(np.where(shown.abs() == 1, noun, many), index=v.index)
        text = before + _n(v) + " " + noun_ + after
        return text if none is None else text.where(shown != 0, none)

    return phrase


def _amount(before: str, after: str = "", none: str | None = None) -> Phrase:
    def phrase(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
        text = before + _money(v, ctx) + after
        return text if none is None else text.where(v.astype(float).round(0) != 0, none)

    return phrase


def _percent(v: pd.Series) -> pd.Series:
    """Shares as whole percents, never a rounded '0%' or '100%' for what is merely near."""
    x = v.astype(float)
    text = x.map("{:.0%}".format)  # formatted once: most shares are all different
    exact = ~((x > 0) & (x < 1))  # 0%, 100% (and what is not a share) as they are
    return text.where(exact | (x >= 0.005), "under 1%").where(exact | (x <= 0.995), "over 99%")


def _share(before: str, after: str = "") -> Phrase:
    return lambda v, df, ctx: before + _percent(v) + after


def _trend(what: str, last_col: str, money: bool = False) -> Phrase:
    """Trend t = (last - prev) / (|prev| + 1): recover prev, say the change in percent."""

    def phrase(t: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
        last = (
            df[last_col].reindex(t.index).astype(float)
            if last_col in df
            else pd.Series(np.nan, index=t.index)
        )
        prev = (last - t) / (1 + t)
        pct = ((last - prev) / prev * 100).abs().round(0)
        change = pd.Series(np.where(last < prev, " down ", " up "), index=t.index)
        text = what + change + pct.map("{:.0f}".format) + "% vs the previous 90 days"
        text = text.where(pct != 0, what + " unchanged vs the previous 90 days")
        amount = _money(last.fillna(0), ctx) if money else _n(last.fillna(0))
        none_before = what + " " + amount + " in the last 90 days, none in the 90 before"
        stopped = what + " stopped: none in the last 90 days"
        return text.where(prev > 0.5, none_before).where(last.fillna(0) != 0, stopped)

    return phrase


def _repeats(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
    return _count("", "repeat purchase", " so far", none="no repeat purchase yet")(v, df, ctx)


def _net_spend(days: str) -> Phrase:
    def phrase(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
        spent = "spent " + _money(v, ctx) + f" in the last {days} days"
        refunds = "refunds exceeded purchases by " + _money(-v, ctx) + f" in the last {days} days"
        shown = v.astype(float).round(0)
        return spent.where(shown >= 0, refunds).where(
            shown != 0, f"no spend in the last {days} days"
        )

    return phrase


def _purchases(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
    """Expected purchases over the horizon, said so a person can picture them."""
    days = f" in the next {ctx.horizon_days} days"
    x = v.astype(float)
    text = "expected to buy about " + _n(x) + " times" + days
    text = text.where(x.round(0) != 1, "expected to buy about once" + days)
    text = text.where(x >= 0.95, "expected to buy less than once" + days)
    return text.where(x >= 0.05, "no purchase expected" + days)


def _chance(before: str, after: str = "") -> Phrase:
    return lambda v, df, ctx: before + _percent(v) + after.format(days=ctx.horizon_days)


def _open_rate(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
    x = v.astype(float)
    text = "opens " + x.map("{:.1f}".format) + " emails a month"
    return text.where(x >= 0.05, "opened no email in the last year")


def _flag(yes: str, no: str) -> Phrase:
    return lambda v, df, ctx: pd.Series(np.where(v.astype(float) >= 0.5, yes, no), index=v.index)


def _category(before: str) -> Phrase:
    return lambda v, df, ctx: before + v.map(words)


READINGS: dict[str, Reading] = {
    "recency_days": Reading(
        _count("last purchase ", "day", " ago", none="bought on the scoring date"),
        +1,
        topic="recent buying",
    ),
    "frequency": Reading(_repeats, -1, topic="repeats"),
    "btyd_x": Reading(_repeats, -1, topic="repeats"),
    "orders_total": Reading(_count("", "order", " in total"), -1, topic="repeats"),
    "monetary_total": Reading(_amount("spent ", " in total"), -1),
    "monetary_mean": Reading(_amount("spends ", " per purchase on average"), -1, topic="basket"),
    "btyd_monetary_value": Reading(
        _amount("repeat purchases worth ", " on average"), -1, topic="basket"
    ),
    "tenure_days": Reading(_count("customer for ", "day"), 0, topic="tenure"),
    "btyd_T": Reading(_count("customer for ", "day"), 0, topic="tenure"),
    "btyd_t_x": Reading(_count("has bought over a span of ", "day"), -1),
    "first_purchase_value": Reading(_amount("first purchase worth "), 0),
    "last_purchase_value": Reading(_amount("last purchase worth "), 0),
    "interpurchase_days_mean": Reading(_count("buys every ", "day", " on average"), +1),
    "interpurchase_days_std": Reading(
        _count("irregular buying: gaps vary by ", "day", none="buys at a steady rhythm"), +1
    ),
    "signup_age_days": Reading(_count("signed up ", "day", " ago"), 0),
    "orders_trend_90d": Reading(
        _trend("orders", "orders_90d"), -1, pivot=0.0, topic="buying trend", reads_frame=True
    ),
    "spend_trend_90d": Reading(
        _trend("spend", "spend_90d", money=True),
        -1,
        pivot=0.0,
        topic="buying trend",
        reads_frame=True,
    ),
    "email_click_trend_90d": Reading(
        _trend("email clicks", "email_clicks_90d"),
        -1,
        pivot=0.0,
        topic="email_clicks",
        reads_frame=True,
    ),
    "email_open_rate": Reading(_open_rate, -1, topic="email_opens"),
    "email_click_rate": Reading(
        _share("clicks ", " of the emails they open"), -1, topic="email_clicks"
    ),
    "csat_mean": Reading(
        lambda v, df, ctx: (
            "support satisfaction " + v.astype(float).map("{:.1f}".format) + " out of 5"
        ),
        -1,
    ),
    "loyalty_member": Reading(_flag("is a loyalty member", "not a loyalty member"), -1),
    "btyd_p_alive": Reading(
        _chance("buying pattern: ", " chance still an active customer"), -1, topic="outlook"
    ),
    "btyd_p_silent": Reading(
        _chance("buying pattern: ", " chance of no purchase in the next {days} days"),
        +1,
        topic="outlook",
    ),
    "btyd_purchases": Reading(_purchases, -1, topic="outlook"),
    "btyd_spend_per_purchase": Reading(
        _amount("expected to spend ", " per purchase"), -1, topic="basket"
    ),
    "btyd_revenue": Reading(
        lambda v, df, ctx: (
            "expected to spend " + _money(v, ctx) + f" in the next {ctx.horizon_days} days"
        ),
        -1,
        topic="outlook",
    ),
    "acquisition_channel": Reading(_category("acquired via "), 0),
    "preferred_channel": Reading(_category("mostly buys via "), 0),
    # subscriptions (features.subscriptions)
    "active_subscriptions_count": Reading(
        _count("", "active subscription", none="no active subscription"), -1, topic="contract"
    ),
    "subscription_tenure_days": Reading(_count("subscriber for ", "day"), -1, topic="tenure"),
    "subscription_renewals_count": Reading(
        _count("renewed ", "time", none="not renewed yet"), -1, topic="renewals"
    ),
    # a renewal close ahead is the moment to leave: fewer days read riskier
    "days_to_renewal": Reading(_count("renews in ", "day"), -1, topic="renewals"),
    "billing_period_days": Reading(_count("billed every ", "day"), 0, topic="plan"),
    "price_per_period": Reading(_amount("pays ", " per billing period"), 0, topic="plan"),
    "monthly_recurring_revenue": Reading(
        _amount("subscriptions worth ", " a month"), 0, topic="plan"
    ),
    "subscription_plan": Reading(_category("on the plan "), 0, topic="plan"),
    "auto_renew": Reading(
        _flag("renews automatically at each period end", "automatic renewal switched off"),
        -1,
        topic="contract",
    ),
    "cancel_requested": Reading(
        _flag("asked to cancel", "has not asked to cancel"), +1, topic="contract"
    ),
    "days_since_cancel_request": Reading(
        _count("asked to cancel ", "day", " ago", none="asked to cancel on the scoring date"),
        -1,
        topic="contract",
    ),
    "plan_upgrades_total": Reading(
        _count("upgraded the plan ", "time", none="never upgraded the plan"), -1, topic="plan"
    ),
    "plan_downgrades_total": Reading(
        _count("downgraded the plan ", "time", none="never downgraded the plan"), +1, topic="plan"
    ),
    "subscription_restarts_total": Reading(
        _count("came back after a break ", "time", none="never took a break"), 0, topic="breaks"
    ),
    "subscriptions_stopped_total": Reading(
        _count("ended a subscription ", "time", none="never ended a subscription"),
        +1,
        topic="breaks",
    ),
    "days_since_subscription_stop": Reading(
        _count("last subscription ended ", "day", " ago"), -1, topic="breaks"
    ),
}


def reading(feature: str) -> Reading:
    """The :class:`Reading` of a feature: listed in :data:`READINGS`, or built from the name of
    a window (``orders_90d``, ``visits_30d``) or days-since (``days_since_visit``) feature; any
    other column reads as "<name in words>: <value>" with no direction."""
    if feature in READINGS:
        return READINGS[feature]
    if m := _OWN_EVENTS.match(feature):
        # the data's own event types: whether more of them is good or bad is not known here,
        # so no direction (a value is a reason when it pushes the score the shown way)
        what = m.group("what")
        one, many = f"{words(what)} event", f"{words(what)} events"
        if m.group("trend"):
            return Reading(_trend(many, f"events_{what}_90d"), 0, topic=what, reads_frame=True)
        window = f" in the last {m.group('days')} days"
        return Reading(
            _count("", one, window, plural=many, none=f"no {one}{window}"), 0, topic=what
        )
    if feature.startswith("days_since_"):
        what = feature[len("days_since_") :]
        if what not in SINCE_WORDS:  # one of the data's own event types (see above)
            noun = f"{words(what)} event"
            since = _count(f"last {noun} ", "day", " ago", none=f"last {noun} on the scoring date")
            return Reading(since, 0, topic=what)
        noun = SINCE_WORDS[what]
        since = _count(f"last {noun} ", "day", " ago", none=f"last {noun} on the scoring date")
        return Reading(since, -1 if what in RISING_EVENTS else +1, topic=what + "s")
    if m := _WINDOW.match(feature):
        what, days = m.group("what"), m.group("days")
        window = f" in the last {days} days"
        buying = "recent buying"
        if what == "spend":
            return Reading(_net_spend(days), -1, topic=buying)
        if what == "orders":
            return Reading(_count("", "order", window, none=f"no order{window}"), -1, topic=buying)
        if what == "active_days":
            bought = _count("bought on ", "day", window, none=f"no purchase{window}")
            return Reading(bought, -1, topic=buying)
        many, one = EVENT_WORDS.get(what, (words(what), words(what).removesuffix("s")))
        direction = +1 if what in RISING_EVENTS else -1
        count = _count("", one, window, plural=many, none=f"no {one}{window}")
        return Reading(count, direction, topic=what)
    if feature.startswith("attr_days_since_"):  # the data's own date columns
        label = words(feature.removeprefix("attr_days_since_"))
        return Reading(_days_from(label), 0, topic=feature)
    if feature.startswith("attr_"):  # the data's own attributes (features.vocabulary)
        label = words(feature.removeprefix("attr_"))
        return Reading(lambda v, df, ctx: f"{label}: " + v.map(_value_words), 0, topic=feature)
    return Reading(lambda v, df, ctx: f"{words(feature)}: " + v.astype(str).map(words), 0)


def _days_from(label: str) -> Phrase:
    """'<label> 12 days ago', '<label> today', '<label> in 30 days' (a date after the cutoff)."""

    def phrase(v: pd.Series, df: pd.DataFrame, ctx: ReasonContext) -> pd.Series:
        days = v.astype(float).round(0)
        n = days.abs()
        unit = pd.Series(np.where(n == 1, " day", " days"), index=v.index)
        ago = label + " " + _n(n) + unit + " ago"
        ahead = label + " in " + _n(n) + unit
        return ago.where(days > 0, ahead).where(days != 0, label + " on the scoring date")

    return phrase


def _value_words(value: object) -> str:
    """A value of one of the data's own attributes as words: a number to 3 significant
    digits ('12.5', '1,250'), a code as words ('paid_social' -> 'paid social')."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return f"{float(value):,.3g}" if abs(float(value)) < 1000 else f"{float(value):,.0f}"
    return words(value)


_PHRASE_CACHE: dict[tuple, dict] = {}
PHRASE_CACHE_SIZE = 20_000
"""Phrases kept per feature, currency and horizon (then the feature's are dropped)."""


def phrases(
    feature: str, values: pd.Series, frame: pd.DataFrame, context: ReasonContext | None = None
) -> pd.Series:
    """Readable phrases for one feature's known values (rows of ``frame`` give related
    columns); a missing value gives an empty text (it is never a reason).

    A phrase that depends on the value alone is made once per distinct value and kept (counts
    and days repeat a lot, across calls too: a one-customer call would otherwise spend more
    on the pandas text operations than on scoring)."""
    ctx = context or ReasonContext()
    present = values.notna().to_numpy()
    out = np.full(len(values), "", dtype=object)
    if present.any():
        r, known = reading(feature), values[present]
        if r.reads_frame:
            out[present] = r.phrase(known, frame, ctx).to_numpy()
        else:
            codes, distinct = pd.factorize(known)
            kept = _PHRASE_CACHE.setdefault((feature, ctx.currency, ctx.horizon_days), {})
            new = [v for v in distinct if v not in kept]
            if len(kept) + len(new) > PHRASE_CACHE_SIZE:  # start again with these values
                kept.clear()
                new = list(distinct)
            if new:
                made = r.phrase(pd.Series(new, dtype=known.dtype), None, ctx).to_numpy()
                kept.update(zip(new, made, strict=True))
            out[present] = np.array([kept[v] for v in distinct], dtype=object)[codes]
    return pd.Series(out, index=values.index, dtype=object)


def _readable(
    frame: pd.DataFrame,
    features: list[str],
    safe: np.ndarray,
    context: ReasonContext,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """Per customer and feature: True where the value is known and reads the way its side
    needs (see the module doc). ``values``: the features' numbers as the model saw them (the
    LightGBM rows, one column per feature), read instead of the frame for numeric features.
    The columns are read in two conversions, not one per feature: a one-customer call (POST
    /score) would otherwise spend more here than scoring."""
    dtypes = frame.dtypes
    kinds = [dtypes[name] for name in features]
    numeric = [pd.api.types.is_numeric_dtype(kind) for kind in kinds]
    if values is None:
        ok = frame[features].notna().to_numpy(copy=True)
    else:  # NaN in the rows where the frame has a missing number; texts from the frame
        ok = ~np.isnan(values)
        for j, name in enumerate(features):
            if not (numeric[j] or kinds[j] == "boolean"):
                ok[:, j] = frame[name].notna().to_numpy()
    directed = [
        (j, d, r.pivot)
        for j, name in enumerate(features)
        if (d := (r := reading(name)).direction or context.directions.get(name, 0)) and numeric[j]
    ]
    if not directed:
        return ok
    at = [j for j, _, _ in directed]
    if values is None:
        x = frame[[features[j] for j in at]].to_numpy(dtype="float64", na_value=np.nan)
    else:
        x = values[:, at]
    for i, (j, direction, pivot) in enumerate(directed):
        side = np.where(safe, -direction, direction)  # + : must read riskier than the reference
        for ref in (context.typical.get(features[j]), pivot):
            if ref is not None and not np.isnan(ref):
                with np.errstate(invalid="ignore"):  # equal up to rounding is not riskier
                    ok[:, j] &= side * (x[:, i] - ref) > SAME * max(1.0, abs(ref))
    return ok


def _one_per_topic(push: np.ndarray, columns: list[str], k: int, look: int = 8) -> np.ndarray:
    """Column index of each customer's ``k`` strongest positive pushes, one per topic (-1: none
    left). Only each row's ``look`` strongest are considered, a handful of vectorised steps
    instead of a loop over customers."""
    n, m = push.shape
    names = [reading(c).topic or c for c in columns]
    topic_of = {t: i for i, t in enumerate(dict.fromkeys(names))}
    topics = np.array([topic_of[t] for t in names])
    look = min(look, m)
    best = (
        np.argpartition(-push, look - 1, axis=1)[:, :look]
        if look < m
        else np.tile(np.arange(m), (n, 1))
    )
    best = np.take_along_axis(
        best, np.argsort(-np.take_along_axis(push, best, axis=1), axis=1, kind="stable"), axis=1
    )
    chosen = np.full((n, k), -1)
    chosen_topics = np.full((n, k), -1)
    filled = np.zeros(n, dtype=int)
    rows = np.arange(n)
    for i in range(look):
        col = best[:, i]
        t = topics[col]
        ok = (push[rows, col] > 0) & (filled < k) & ~(chosen_topics == t[:, None]).any(axis=1)
        slot = filled[ok]
        chosen[rows[ok], slot] = col[ok]
        chosen_topics[rows[ok], slot] = t[ok]
        filled[ok] += 1
    return chosen


def top_reasons(
    contributions: np.ndarray,
    features: pd.DataFrame,
    columns: list[str],
    *,
    safe: np.ndarray | None = None,
    context: ReasonContext | None = None,
    k: int = 3,
    values: np.ndarray | None = None,
) -> list[list[str]]:
    """Phrases for the ``k`` features that push each customer's churn score most on their
    side: up for a customer explained as at risk, down where ``safe`` is True.

    ``contributions`` is LightGBM ``pred_contrib`` output (one column per feature, then the
    bias). Features whose value does not read that way, or is missing, are skipped; a
    customer with nothing left gets an empty list. ``values``: the rows the contributions
    were computed from (:meth:`model.bundle.ModelBundle.model_rows`), when the caller has
    them: their numbers are read instead of the frame's (the same, faster).
    """
    ctx = context or ReasonContext()
    n = len(features)
    frame = features if features.index.equals(pd.RangeIndex(n)) else features.reset_index(drop=True)
    safe = np.zeros(n, dtype=bool) if safe is None else np.asarray(safe, dtype=bool)
    sign = np.where(safe, -1.0, 1.0)[:, None]
    push = np.asarray(contributions, dtype=float)[:, : len(columns)] * sign
    pushing = np.flatnonzero((push > 0).any(axis=0))  # a column pushing no one is no reason
    if len(pushing):
        readable = _readable(
            frame,
            [columns[j] for j in pushing],
            safe,
            ctx,
            None if values is None else values[:, pushing],
        )
        push[:, pushing] = np.where(readable, push[:, pushing], 0.0)
    top = _one_per_topic(push, columns, k)
    # each feature's phrases made at once, for every (customer, slot) it fills: the slots
    # sorted by feature once, not one scan of ``top`` per feature
    texts = np.full(n * k, "", dtype=object)
    filled = np.zeros(n * k, dtype=bool)
    flat = top.ravel()
    order = np.argsort(flat, kind="stable")
    found, starts = np.unique(flat[order], return_index=True)
    for j, a, b in zip(found, starts, [*starts[1:], len(order)], strict=True):
        if j < 0:
            continue
        at, col = order[a:b], columns[j]
        made = phrases(col, frame[col].iloc[at // k], frame, ctx).to_numpy()
        texts[at], filled[at] = made, made.astype(bool)  # an empty phrase is no reason
    return _without_gaps(texts.reshape(n, k), filled.reshape(n, k))


def _without_gaps(texts: np.ndarray, filled: np.ndarray) -> list[list[str]]:
    """Each row's filled texts as a list, in slot order: rows grouped by which slots they
    fill (``2^k`` patterns), each group converted at once instead of a loop over customers."""
    n, k = texts.shape
    pattern = filled @ (1 << np.arange(k))
    if (pattern == (1 << k) - 1).all():
        return texts.tolist()
    out = np.empty(n, dtype=object)
    for p in np.unique(pattern):
        idx = np.flatnonzero(pattern == p)
        keep = [s for s in range(k) if p >> s & 1]
        lists = texts[np.ix_(idx, keep)].tolist() if keep else [[] for _ in idx]
        out[idx] = np.fromiter(lists, dtype=object, count=len(idx))
    return out.tolist()
