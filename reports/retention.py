"""Retention and churn rates from the business literature, per period and per cohort.

retention rate = (E - N) / S x 100, where S = customers active at the start of the period,
E = customers active at the end, N = new customers (first purchase in the period) active at the
end; churn rate = 100 - retention rate. "Active at t" = at least one purchase (amount > 0) in
the churn horizon before t: (t - horizon, t]. E - N also counts customers who came back after a
lapse, as the textbook formula does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_FAR_FUTURE = pd.Timestamp("2999-12-31")


def retention_rate(start_customers: int, end_customers: int, new_customers: int) -> float:
    """Retention rate in percent: (E - N) / S x 100. S=1000, E=900, N=200 give 70.0."""
    if start_customers <= 0:
        raise ValueError("retention rate needs S > 0 customers at the start of the period")
    return (end_customers - new_customers) / start_customers * 100.0


def churn_rate(start_customers: int, end_customers: int, new_customers: int) -> float:
    """Churn rate in percent: 100 - retention rate."""
    return 100.0 - retention_rate(start_customers, end_customers, new_customers)


def _purchases(transactions: pd.DataFrame) -> pd.DataFrame:
    buys = transactions.loc[transactions["amount"] > 0, ["customer_id", "timestamp"]]
    return buys.assign(day=buys["timestamp"].dt.normalize())


def _active_at(last_buy: pd.Series, t: pd.Timestamp, horizon_days: int) -> pd.Index:
    """Customers whose last purchase up to day t lies in (t - horizon, t]."""
    age = (t - last_buy).dt.days
    return last_buy.index[(age >= 0) & (age < horizon_days)]


def retention_by_period(
    transactions: pd.DataFrame,
    horizon_days: int,
    freq: str = "MS",
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """S, E, N, retention and churn rate for each calendar period (default months).

    Periods run from the first full period after one horizon of history up to ``end`` (default
    the last transaction day); a period is (start day, end day], end day = next period start - 1.
    """
    buys = _purchases(transactions)
    if buys.empty:
        return pd.DataFrame(
            columns=[
                "period_start",
                "period_end",
                "S",
                "E",
                "N",
                "retention_rate_pct",
                "churn_rate_pct",
            ]
        )
    first = buys.groupby("customer_id")["day"].min()
    last_day = end or buys["day"].max()
    start = buys["day"].min() + pd.Timedelta(days=horizon_days)
    bounds = pd.date_range(start, last_day + pd.Timedelta(days=1), freq=freq)
    rows = []
    ordered = buys.sort_values("day")
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        t0, t1 = a - pd.Timedelta(days=1), b - pd.Timedelta(days=1)
        last0 = ordered[ordered["day"] <= t0].groupby("customer_id")["day"].max()
        last1 = ordered[ordered["day"] <= t1].groupby("customer_id")["day"].max()
        s = _active_at(last0, t0, horizon_days)
        e = _active_at(last1, t1, horizon_days)
        new = first[(first > t0) & (first <= t1)].index
        n = len(e.intersection(new))
        if len(s) == 0:
            continue
        r = retention_rate(len(s), len(e), n)
        rows.append(
            {
                "period_start": a,
                "period_end": t1,
                "S": len(s),
                "E": len(e),
                "N": n,
                "retention_rate_pct": r,
                "churn_rate_pct": 100 - r,
            }
        )
    return pd.DataFrame(rows)


def cohort_retention(transactions: pd.DataFrame, max_months: int = 24) -> pd.DataFrame:
    """Share of each first-purchase-month cohort buying in each month since (rows: cohorts)."""
    buys = _purchases(transactions)
    month = buys["day"].dt.to_period("M")
    cohort = month.groupby(buys["customer_id"]).transform("min")
    offset = (month - cohort).map(lambda d: d.n)
    frame = pd.DataFrame({"customer_id": buys["customer_id"], "cohort": cohort, "offset": offset})
    frame = frame[frame["offset"] <= max_months].drop_duplicates()
    counts = frame.groupby(["cohort", "offset"])["customer_id"].nunique().unstack(fill_value=0)
    sizes = counts[0]
    out = counts.div(sizes, axis=0)
    # months that have not happened yet for a cohort are unknown, not zero
    last = buys["day"].max().to_period("M")
    for c in out.index:
        out.loc[c, [k for k in out.columns if (c + int(k)) > last]] = np.nan
    out.insert(0, "customers", sizes)
    out.index = out.index.astype(str)
    return out


# --- subscriptions ---------------------------------------------------------------------------
def _subscriber_spans(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """One row per subscription row: customer, plan, first and first-without-service day
    (NaT while active), days only."""
    s = subscriptions
    plan = s["plan"].astype("object").where(s["plan"].notna(), "no plan")
    if "billing_period_days" in s:
        plan = plan + ", " + s["billing_period_days"].map(billing_words)
    return pd.DataFrame(
        {
            "customer_id": s["customer_id"].astype("str"),
            "plan": plan,
            "start": s["start_date"].dt.normalize(),
            "end": s["end_date"].dt.normalize(),
        }
    )


def billing_words(period_days: float) -> str:
    """A billing period as people say it: 30 -> 'monthly', 365 -> 'yearly'."""
    if pd.isna(period_days):
        return "unknown period"
    days = round(float(period_days))
    named = {7: "weekly", 14: "every two weeks", 28: "monthly", 30: "monthly", 31: "monthly",
             91: "quarterly", 182: "half-yearly", 365: "yearly", 366: "yearly"}  # fmt: skip
    return named.get(days, f"every {days} days")


def _subscribed_on(spans: pd.DataFrame, day: pd.Timestamp) -> pd.Index:
    """Customers with a subscription running on ``day`` (start <= day < end)."""
    running = (spans["start"] <= day) & (spans["end"].isna() | (spans["end"] > day))
    return pd.Index(spans.loc[running, "customer_id"].unique())


def subscription_retention_by_month(
    subscriptions: pd.DataFrame, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """(E - N) / S for subscribers, each calendar month: S = customers with a subscription
    running on the month's first day, E = on its last day, N = those of E whose first
    subscription started in the month. Months from the first full one to ``end`` (default the
    latest start or end in the table)."""
    columns = ["period_start", "period_end", "S", "E", "N", "retention_rate_pct", "churn_rate_pct"]
    spans = _subscriber_spans(subscriptions)
    if spans.empty:
        return pd.DataFrame(columns=columns)
    first = spans.groupby("customer_id")["start"].min()
    last_day = end if end is not None else max(spans["start"].max(), spans["end"].max())
    bounds = pd.date_range(
        spans["start"].min() + pd.offsets.MonthBegin(1), last_day + pd.Timedelta(days=1), freq="MS"
    )
    rows = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        t1 = b - pd.Timedelta(days=1)
        s, e = _subscribed_on(spans, a), _subscribed_on(spans, t1)
        new = first[(first >= a) & (first <= t1)].index
        if len(s) == 0:
            continue
        r = retention_rate(len(s), len(e), len(e.intersection(new)))
        rows.append(
            {"period_start": a, "period_end": t1, "S": len(s), "E": len(e),
             "N": len(e.intersection(new)), "retention_rate_pct": r, "churn_rate_pct": 100 - r}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def subscription_cohorts(
    subscriptions: pd.DataFrame,
    by: str = "start month",
    max_months: int = 24,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Share of each cohort of subscribers still subscribed ``m`` months after they first
    subscribed (m = 0..max_months; rows: cohorts).

    ``by="start month"``: cohorts by the month of the first subscription; a cell is the share
    of the cohort subscribed on that day (blank when the day is after ``end``, default the
    latest date in the table). ``by="plan"``: cohorts by the first plan and billing period,
    a Kaplan-Meier curve (``model.sbg.kaplan_meier``) of the time from the first start to the
    last end (still subscribed at ``end``: censored), so that cohorts of every age add up
    without older ones weighing on the later months."""
    spans = _subscriber_spans(subscriptions)
    end = end if end is not None else max(spans["start"].max(), spans["end"].max())
    firsts = spans.sort_values(["start", "plan"]).groupby("customer_id").first()
    if by == "plan":
        return _plan_curves(spans, firsts, end, max_months)
    label = firsts["start"].dt.to_period("M").astype(str)
    ends = spans.assign(open_end=spans["end"].fillna(_FAR_FUTURE.as_unit(spans["end"].dt.unit)))
    out = {}
    for m in range(max_months + 1):
        day = firsts["start"] + pd.DateOffset(months=m)
        known = day <= end
        at = ends.merge(day.rename("day"), left_on="customer_id", right_index=True)
        on = at[(at["start"] <= at["day"]) & (at["open_end"] > at["day"])]["customer_id"].unique()
        still = firsts.index.isin(on)
        frame = pd.DataFrame({"label": label, "known": known, "still": still & known})
        grouped = frame.groupby("label")
        share = grouped["still"].sum() / grouped["known"].sum()
        out[m] = share.where(grouped["known"].sum() > 0)
    table = pd.DataFrame(out)
    table.insert(0, "customers", label.value_counts().reindex(table.index).astype("int64"))
    table.index.name = "cohort"
    return table


def _plan_curves(
    spans: pd.DataFrame, firsts: pd.DataFrame, end: pd.Timestamp, max_months: int
) -> pd.DataFrame:
    """Kaplan-Meier share still subscribed by month, per first plan (see subscription_cohorts)."""
    from model.clv import DAYS_PER_MONTH
    from model.sbg import kaplan_meier

    running = spans["end"].isna() | (spans["end"] > end)
    still = spans.loc[running, "customer_id"].unique()
    last_end = spans.groupby("customer_id")["end"].max()
    stopped = ~firsts.index.isin(still)
    until = last_end.reindex(firsts.index).where(stopped, end)
    months = (until - firsts["start"]).dt.days.clip(lower=0) / DAYS_PER_MONTH
    rows = {}
    for plan, idx in firsts.groupby("plan").groups.items():
        curve = kaplan_meier(months.loc[idx].to_numpy(), stopped[firsts.index.get_indexer(idx)])
        # a month is shown while someone of the plan has been watched that long (or once
        # everyone has left)
        seen = months.loc[idx].max()
        grid = np.arange(max_months + 1, dtype=float)
        share = curve.survival(grid)
        rows[plan] = np.where((grid <= seen) | (share == 0), share, np.nan)
    table = pd.DataFrame.from_dict(rows, orient="index", columns=range(max_months + 1))
    table.insert(0, "customers", firsts["plan"].value_counts().reindex(table.index))
    table.index.name = "cohort"
    return table.sort_index()
