"""The retention report's view of the current scoring run: as of when, which models, the risk x
value segment grid with sizes, value at risk and next steps, and what the numbers mean."""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from core.labels import percent, readable_table
from core.money import format_money

TOTAL = "All customers"
"""The ``segment`` of summary.csv's total row."""


@dataclass(frozen=True)
class ScoringRun:
    """What the report says about the scoring run its scores came from."""

    scoring_date: str
    run_id: str | None
    versions: dict[str, str]
    campaign: str | None = None
    holdout_percent: float = 0.0

    @classmethod
    def of(cls, scores: pd.DataFrame, info: dict | None) -> ScoringRun:
        """From the run's run.json (``info``), else from the scores' own columns."""
        if info:
            return cls(
                scoring_date=str(info["cutoff"]),
                run_id=info.get("run_id"),
                versions=dict(info.get("model_versions") or {}),
                campaign=info.get("campaign"),
                holdout_percent=float(info.get("holdout_percent") or 0.0),
            )
        first = scores.iloc[0]
        return cls(
            scoring_date=str(pd.Timestamp(first["scoring_date"]).date()),
            run_id=None,
            versions={
                "churn_model": str(first["churn_model_version"]),
                "clv_model": str(first["clv_model_version"]),
            },
        )

    def text(self) -> str:
        """'scores from scoring run X (churn model version 3, CLV model version 3).'"""
        run = f" from scoring run {self.run_id}" if self.run_id else ""
        out = (
            f"scores{run} (churn model version {self.versions.get('churn_model', '?')}, "
            f"CLV model version {self.versions.get('clv_model', '?')})."
        )
        if self.campaign:
            out += (
                f" Campaign {self.campaign}: {self.holdout_percent:g}% of every segment held "
                "out as a control group (not contacted)."
            )
        return out


def _tier_order(summary: pd.DataFrame, tier: str, by: pd.Series) -> list[str]:
    """Tier names, highest first by ``by`` (mean churn probability or CLV per customer)."""
    frame = summary.assign(_by=by).dropna(subset=[tier])
    return frame.groupby(tier)["_by"].mean().sort_values(ascending=False).index.tolist()


def _cell(row: pd.Series, currency: str | None) -> str:
    control = f"<br>{int(row['control']):,} in the control group" if row.get("control", 0) else ""
    mrr = ""
    if pd.notna(row.get("mrr_at_risk")) and row.get("monthly_recurring_revenue", 0):
        mrr = f"<br>{format_money(row['mrr_at_risk'], currency)} a month of subscriptions at risk"
    return (
        f"<b>{html.escape(str(row['segment']))}</b><br>{int(row['customers']):,} customers"
        f"<br>{format_money(row['value_at_risk'], currency)} at risk{mrr}{control}"
        f"<br><i>{html.escape(str(row['action']))}</i>"
    )


def segment_grid(
    summary: pd.DataFrame, currency: str | None, horizon_days: int, clv_days: int
) -> str:
    """The risk x value grid: per cell the segment, its size, value at risk, control group and
    action; customers outside the grid (no purchase yet) and the total below."""
    tiered = summary.dropna(subset=["risk_tier", "value_tier"])
    risks = _tier_order(tiered, "risk_tier", tiered["mean_churn_probability"])
    values = _tier_order(tiered, "value_tier", tiered["clv"] / tiered["customers"])
    cells = tiered.set_index(["risk_tier", "value_tier"])
    head = "".join(f"<th>{html.escape(v.capitalize())} value</th>" for v in values)
    rows = [
        f"<tr><th>{html.escape(r.capitalize())} risk</th>"
        + "".join(
            f"<td>{_cell(cells.loc[(r, v)], currency) if (r, v) in cells.index else ''}</td>"
            for v in values
        )
        + "</tr>"
        for r in risks
    ]
    outside = [
        f"<li>{_cell(row, currency).replace('<br>', ', ')}</li>"
        for _, row in summary.iterrows()
        if pd.isna(row["risk_tier"]) and row["segment"] != TOTAL
    ]
    total = summary[summary["segment"] == TOTAL]
    if len(total):
        t = total.iloc[0]
        mrr = (
            f", {format_money(t['mrr_at_risk'], currency)} a month of "
            f"{format_money(t['monthly_recurring_revenue'], currency)} recurring revenue"
            if pd.notna(t.get("mrr_at_risk"))
            else ""
        )
        outside.append(
            f"<li><b>{TOTAL}</b>: {int(t['customers']):,} customers, "
            f"{format_money(t['value_at_risk'], currency)} at risk in all{mrr}</li>"
        )
    return (
        f"<table class='cells'><tr><th></th>{head}</tr>{''.join(rows)}</table>"
        f"<p class='caption'>Rows: risk of making no purchase in the next {horizon_days} days; "
        f"columns: what the customer brings over the next {clv_days} days if they stay. Each "
        "cell: "
        "segment, customers, value at risk (churn probability x value if they stay, summed) "
        f"and the next step.</p><ul>{''.join(outside)}</ul>"
    )


def next_steps(summary: pd.DataFrame, currency: str | None, clv_days: int) -> pd.DataFrame:
    """Per segment, highest value at risk first: next step, size, risk, CLV, value at risk and
    (with a campaign) the control group, as page text (two text columns first)."""
    columns = ["segment", "action", "customers", "mean_churn_probability", "clv", "value_at_risk"]
    columns += [c for c in ("monthly_recurring_revenue", "mrr_at_risk") if c in summary]
    if summary["control"].sum():
        columns.append("control")
    return readable_table(
        summary[columns],
        currency,
        names={
            "clv": f"CLV over the next {clv_days} days",
            "value_at_risk": f"Value at risk, next {clv_days} days",
            "monthly_recurring_revenue": "Recurring revenue a month",
            "mrr_at_risk": "Recurring revenue at risk a month",
            "control": "Control group (not contacted)",
        },
    )


def definitions(
    horizon_days: int,
    clv_days: int,
    periods: pd.DataFrame,
    summary: pd.DataFrame | None,
    currency: str | None,
) -> str:
    """What active, retention, churn rate, churn probability, CLV and value at risk mean, and
    why a churn probability far above the monthly churn rate is no contradiction."""
    items = [
        f"<b>Active customer</b>: at least one purchase in the last {horizon_days} days.",
        "<b>Retention rate</b> = (E - N) / S x 100, with S the customers active at the start "
        "of the month, E those active at its end and N the new customers among them (first "
        "purchase in the month). <b>Churn rate</b> = 100 - retention rate.",
        f"<b>Churn probability</b> (scores and lists): the chance that a customer makes no "
        f"purchase in the next {horizon_days} days.",
        f"<b>CLV</b>: expected gross margin over the next {clv_days} days, discounted"
        f" (amounts{_unit_words(currency)}). <b>Value at risk</b> = churn probability x what "
        "the customer brings over that time if they stay.",
    ]
    why = _why_they_differ(horizon_days, periods, summary)
    if why:
        items.append(why)
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _unit_words(currency: str | None) -> str:
    return f" in {currency}" if currency else ""


def _why_they_differ(
    horizon_days: int, periods: pd.DataFrame, summary: pd.DataFrame | None
) -> str | None:
    """The plain-words reason why e.g. 55% churn probability and 95% monthly retention agree."""
    if summary is None or periods.empty:
        return None
    total = summary[summary["segment"] == TOTAL]
    if total.empty or pd.isna(total.iloc[0]["mean_churn_probability"]):
        return None
    p = float(total.iloc[0]["mean_churn_probability"]) * 100
    recent = periods["retention_rate_pct"].tail(12)
    low, high = percent(recent.min()), percent(recent.max())
    span = low if low == high else f"{low} to {high}"
    return (
        f"<b>Why {percent(p)} churn probability and {span} monthly retention both hold</b>: "
        f"on average the scored customers have a {percent(p)} chance of making no purchase "
        f"in the next {horizon_days} days, while in the last 12 months {span} of the active "
        "customers were still active a month later. The two answer different questions. "
        "Retention follows only customers active now and looks one month ahead, and a "
        f"customer who bought last month stays active for {horizon_days} days without buying "
        f"again. The churn probability looks {horizon_days} days ahead for every customer, "
        "including the many who have not bought for a long time and rarely buy."
    )
