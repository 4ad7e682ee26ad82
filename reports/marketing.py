"""Marketing reports: retention per month, cohort heatmap, CLV by channel, campaign effect."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core import html as report_html
from core.catalog import HISTORY_TABLE
from core.errors import UserError
from core.files import write_frame, write_text
from core.labels import plain_words, readable_table
from core.money import format_money, money_unit
from features.contract import InputTables
from reports.retention import (
    cohort_retention,
    retention_by_period,
    subscription_cohorts,
    subscription_retention_by_month,
)
from reports.scoring import ScoringRun, definitions, next_steps, segment_grid


class CampaignNotFoundError(UserError, LookupError):
    """No scoring run in the history carries the campaign name."""


def clv_by_channel(scores: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """Customers, total and mean CLV, mean churn probability per acquisition channel."""
    if customers is None or "acquisition_channel" not in customers:
        channel = pd.Series("unknown", index=scores.index)
    else:
        lookup = customers.set_index("customer_id")["acquisition_channel"]
        channel = scores["customer_id"].map(lookup).fillna("unknown")
    out = (
        scores.assign(acquisition_channel=channel)
        .groupby("acquisition_channel")
        .agg(
            customers=("customer_id", "size"),
            clv_total=("clv", "sum"),
            clv_mean=("clv", "mean"),
            churn_probability_mean=("churn_probability", "mean"),
            value_at_risk=("value_at_risk", "sum"),
        )
        .sort_values("clv_mean", ascending=False)
    )
    return out.reset_index()


def _diff_ci(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of a minus mean of b with a 95% Welch t-interval (degrees of freedom by
    Welch-Satterthwaite, so small groups get the wider interval they need)."""
    from scipy import stats

    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return diff, diff - half, diff + half


POOLED = "All segments"
"""The ``segment`` of the rows that pool every segment of a campaign."""


def measure_campaign(
    history_db: Path,
    transactions: pd.DataFrame,
    campaign: str,
    since: dt.date,
    horizon_days: int,
) -> pd.DataFrame:
    """Treated vs control over the measurement window: retention (bought again) and revenue per
    customer, per segment and pooled (segment "All segments").

    The window runs from ``since`` (the launch) for ``horizon_days`` (the churn horizon); while
    the data ends before it, it is measured up to the last transaction's day and
    ``window_ended`` is False. Uses the latest scoring run that assigned control groups for
    ``campaign`` (a re-run of a campaign replaces its groups). Each difference treated - control
    has a 95% Welch t-interval; a segment with fewer than 2 customers in a group is left out.
    """
    with duckdb.connect(str(history_db), read_only=True) as con:
        groups = con.execute(
            f"""
            select customer_id, segment, control from {HISTORY_TABLE}
            where campaign = ? and run_id = (
                select run_id from {HISTORY_TABLE} where campaign = ?
                order by recorded_at desc limit 1)
            """,
            [campaign, campaign],
        ).df()
    if groups.empty:
        raise CampaignNotFoundError(
            f"no scoring run with campaign '{campaign}' in {history_db}; score with "
            f"`churnclv score --holdout PCT --campaign {campaign}` first"
        )
    window_end = since + dt.timedelta(days=horizon_days)
    data_end = pd.Timestamp(transactions["timestamp"].max()).date()
    measured_to = min(window_end, data_end)
    stamp = transactions["timestamp"]
    after = transactions[
        (stamp >= pd.Timestamp(since)) & (stamp < pd.Timestamp(measured_to + dt.timedelta(days=1)))
    ]
    bought = set(after.loc[after["amount"] > 0, "customer_id"])
    revenue = after.groupby("customer_id")["amount"].sum()
    groups["retained"] = groups["customer_id"].isin(bought).astype(float)
    groups["revenue"] = groups["customer_id"].map(revenue).fillna(0.0)
    if groups["control"].sum() < 2 or (~groups["control"]).sum() < 2:
        raise CampaignNotFoundError(f"campaign '{campaign}' has fewer than 2 customers in a group")
    window = {
        "window_start": since,
        "window_end": window_end,
        "measured_to": measured_to,
        "window_ended": data_end >= window_end,
    }
    rows = []
    parts = [(POOLED, groups), *groups.groupby("segment", sort=True)]
    for segment, part in parts:
        treated, control = part[~part["control"]], part[part["control"]]
        if len(control) < 2 or len(treated) < 2:
            continue
        for metric, label in (
            ("retained", "retention (%)"),
            ("revenue", "revenue per customer"),
        ):
            scale = 100.0 if metric == "retained" else 1.0
            t, c = treated[metric].to_numpy() * scale, control[metric].to_numpy() * scale
            diff, low, high = _diff_ci(t, c)
            rows.append(
                {
                    "segment": segment,
                    "measure": label,
                    "treated": t.mean(),
                    "control": c.mean(),
                    "difference": diff,
                    "ci95_low": low,
                    "ci95_high": high,
                    "significant": bool(low > 0 or high < 0),
                    "treated_customers": len(t),
                    "control_customers": len(c),
                    **window,
                }
            )
    return pd.DataFrame(rows)


_WINDOW = ("window_start", "window_end", "measured_to", "window_ended")


CAMPAIGN_LABELS = {
    "segment": "Segment",
    "measure": "Measure",
    "treated": "Treated",
    "control": "Control",
    "difference": "Difference",
    "ci95_low": "95% interval from",
    "ci95_high": "95% interval to",
    "significant": "Real effect?",
    "treated_customers": "Treated customers",
    "control_customers": "Control customers",
}
"""Plain column names of the campaign table on the HTML page (campaign.csv keeps its own)."""

_AMOUNTS = ("treated", "control", "difference", "ci95_low", "ci95_high")


def _amount(value: float, measure: str, currency: str | None, sign: bool = False) -> str:
    """A campaign figure: retention in percent (points for a difference), revenue as money."""
    if measure.startswith("retention"):
        text = f"{value:+.1f}" if sign else f"{value:.1f}%"
        return text + (" points" if sign else "")
    money = format_money(value, currency, 2)
    return ("+" + money) if sign and value >= 0 else money


def _readable_campaign(effect: pd.DataFrame, currency: str | None = None) -> pd.DataFrame:
    shown = effect.drop(columns=list(_WINDOW)).copy()
    for col in _AMOUNTS:
        shown[col] = [
            _amount(v, m, currency, sign=col != "treated" and col != "control")
            for v, m in zip(effect[col], effect["measure"], strict=True)
        ]
    shown["significant"] = effect["significant"].map({True: "yes", False: "no"})
    for col in ("treated_customers", "control_customers"):
        shown[col] = [f"{int(v):,}" for v in effect[col]]
    return shown.rename(columns=CAMPAIGN_LABELS)


def campaign_window_text(effect: pd.DataFrame) -> str:
    """When the campaign's measurement window starts and ends, and whether it has ended."""
    first = effect.iloc[0]
    text = f"Measured from {first['window_start']} to {first['window_end']}"
    if not first["window_ended"]:
        return (
            text + f": the window has not ended yet, measured up to {first['measured_to']}; "
            "these are interim results."
        )
    return text + ": the window has ended, these are the final results."


def campaign_verdict(row: object, currency: str | None = None) -> str:
    """One line on a measure: treated vs control, the difference and its 95% interval."""
    r = row
    return (
        f"{r.segment}, {r.measure}: treated {_amount(r.treated, r.measure, currency)} "
        f"({r.treated_customers:,} customers) vs control "
        f"{_amount(r.control, r.measure, currency)} ({r.control_customers:,}), difference "
        f"{_amount(r.difference, r.measure, currency, sign=True)} (95% interval "
        f"{_amount(r.ci95_low, r.measure, currency, sign=True)} to "
        f"{_amount(r.ci95_high, r.measure, currency, sign=True)}): "
        + ("a real effect." if r.significant else "not distinguishable from no effect.")
    )


def _retention_plot(
    periods: pd.DataFrame, title: str = "Monthly retention rate = (E - N) / S x 100"
) -> str:
    fig, ax = report_html.figure(7, 3.5)
    ax.plot(periods["period_start"], periods["retention_rate_pct"], marker="o")
    ax.set(ylabel="retention rate (%)", title=title)
    fig.autofmt_xdate()
    return report_html.png_base64(fig)


def _cohort_plot(
    cohorts: pd.DataFrame,
    xlabel: str = "months since first purchase",
    ylabel: str = "month of first purchase (customers)",
    title: str = "Cohort retention: % of each cohort buying in each month",
    scale: str = "% buying",
) -> str:
    """The cohort heatmap with the percent in every cell."""
    values = cohorts.drop(columns="customers")
    shares = values.to_numpy(dtype=float)
    fig, ax = report_html.figure(12, max(3.0, 0.3 * len(values)))
    im = ax.imshow(shares * 100, aspect="auto", cmap="viridis", vmin=0, vmax=100)
    for (i, j), v in np.ndenumerate(shares):
        if not np.isnan(v):
            color = "black" if v > 0.6 else "white"
            ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", fontsize=6, color=color)
    labels = [f"{c} ({n:,})" for c, n in zip(values.index, cohorts["customers"], strict=True)]
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.set_xticks(range(shares.shape[1]), [str(c) for c in values.columns], fontsize=7)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.colorbar(im, ax=ax, label=scale)
    return report_html.png_base64(fig)


def _plan_plot(by_plan: pd.DataFrame) -> str:
    """Share of each plan's subscribers still subscribed, month by month."""
    fig, ax = report_html.figure(7, 3.5)
    months = [c for c in by_plan.columns if c != "customers"]
    for plan, row in by_plan.iterrows():
        size = int(row["customers"])
        ax.plot(months, row[months].astype(float) * 100, marker=".", label=f"{plan} ({size:,})")
    ax.set(
        xlabel="months since they first subscribed",
        ylabel="% still subscribed",
        ylim=(0, 100),
        title="Subscription retention by plan",
    )
    ax.legend(title="first plan (subscribers)", fontsize=7)
    return report_html.png_base64(fig)


def _channel_plot(by_channel: pd.DataFrame, currency: str | None, clv_days: int) -> str:
    fig, ax = report_html.figure(6, 3.5)
    ax.barh(by_channel["acquisition_channel"], by_channel["clv_mean"])
    ax.set(
        xlabel=f"mean CLV per customer, next {clv_days} days{money_unit(currency)}",
        title="CLV by acquisition channel",
    )
    return report_html.png_base64(fig)


def _retention_table(periods: pd.DataFrame) -> pd.DataFrame:
    """The last 12 months for the page."""
    recent = periods.tail(12).drop(columns="period_end")
    recent = recent.assign(period_start=recent["period_start"].dt.strftime("%b %Y"))
    return readable_table(recent)


def _channel_names(by_channel: pd.DataFrame) -> pd.DataFrame:
    """Channel values as words ('paid_social' -> 'paid social')."""
    return by_channel.assign(acquisition_channel=by_channel["acquisition_channel"].map(plain_words))


def _campaign_lines(campaign: pd.DataFrame, currency: str | None) -> list[str]:
    """Plain sentences: all segments pooled, then the segments with a real effect."""
    pooled = campaign[campaign["segment"] == POOLED]
    real = campaign[(campaign["segment"] != POOLED) & campaign["significant"]]
    lines = [campaign_verdict(r, currency) for r in pooled.itertuples()]
    lines += [campaign_verdict(r, currency) for r in real.itertuples()]
    if real.empty:
        lines.append("No single segment shows a real effect (table below).")
    return lines


def _header(tables: InputTables, scores: pd.DataFrame | None, run_info: dict | None) -> str:
    data_end = pd.Timestamp(tables.transactions["timestamp"].max()).date()
    if scores is None or scores.empty:
        return (
            f"<p><b>As of {data_end}</b> (last transaction). No scoring run yet: "
            "churnclv score adds the segments and CLV by channel.</p>"
        )
    run = ScoringRun.of(scores, run_info)
    return (
        f"<p><b>As of {run.scoring_date}</b>: {html.escape(run.text())} Transactions up to "
        f"{data_end}.</p>"
    )


def _captions(horizon_days: int, clv_days: int, currency: str | None) -> dict[str, str]:
    return {
        "retention": "Monthly retention rate: of the customers active at the start of each "
        f"month (a purchase in the last {horizon_days} days), the % still active at its end, "
        "new customers left out. Higher is better; a dip marks a month in which more customers "
        "lapsed.",
        "cohorts": "Cohort retention: each row is the customers whose first purchase fell in "
        "that month (how many in brackets); each cell the % of them who bought in the nth month "
        "after (0 = the first month, always 100). Read a row to see how a cohort fades, a column "
        "to see whether newer cohorts keep better. Blank: the month has not come yet.",
        "channels": f"Mean CLV over the next {clv_days} days per customer"
        f"{money_unit(currency)}, by the channel that brought the customer. Longer bars: "
        "channels that bring more valuable customers.",
    }


def _subscription_sections(subscriptions: pd.DataFrame, out_dir: Path, paths: dict) -> list[str]:
    """Subscriber retention (E - N) / S by month, cohorts by start month and by plan; their
    CSV files beside the report."""
    monthly = subscription_retention_by_month(subscriptions)
    by_month = subscription_cohorts(subscriptions, "start month")
    by_plan = subscription_cohorts(subscriptions, "plan")
    paths["subscription_retention"] = write_frame(monthly, out_dir / "subscription_retention.csv")
    paths["subscription_cohorts"] = write_frame(
        by_month.reset_index(), out_dir / "subscription_cohorts.csv"
    )
    paths["subscription_plans"] = write_frame(
        by_plan.reset_index(), out_dir / "subscription_plans.csv"
    )
    out = ["<h2>Subscriptions: monthly retention</h2>"]
    if len(monthly):
        out += [
            report_html.img(
                _retention_plot(monthly, "Monthly subscriber retention = (E - N) / S x 100"),
                "Of the customers subscribed on the first day of each month, the % still "
                "subscribed on its last day, customers who first subscribed during the month left "
                "out. Higher is better; a dip marks a month in which more subscriptions ended.",
            ),
            report_html.table(_retention_table(monthly)),
        ]
    out += [
        "<h2>Subscription cohorts</h2>",
        report_html.img(
            _cohort_plot(
                by_month.tail(24),
                "months since they first subscribed",
                "month they first subscribed (subscribers)",
                "Subscription cohorts: % of each cohort still subscribed",
                "% subscribed",
            ),
            "Each row is the customers who first subscribed in that month (how many in "
            "brackets); each cell the % of them still subscribed n months later (0 = the month "
            "they subscribed, always 100). Blank: the month has not come yet. The last 24 "
            "cohorts are shown; subscription_cohorts.csv has all.",
        ),
        report_html.img(
            _plan_plot(by_plan),
            "Share of subscribers still subscribed n months after they first subscribed, by "
            "their first plan and billing period (Kaplan-Meier: a customer still subscribed "
            "today counts for the months they have had so far). A drop at month 12 on a yearly "
            "plan is its first renewal.",
        ),
    ]
    return out


def build_retention_report(
    tables: InputTables,
    horizon_days: int,
    out_dir: Path,
    scores: pd.DataFrame | None = None,
    campaign: pd.DataFrame | None = None,
    *,
    summary: pd.DataFrame | None = None,
    run_info: dict | None = None,
    currency: str | None = None,
    clv_horizon_days: int = 365,
) -> dict[str, Path]:
    """Write retention.csv, cohorts.csv, clv_by_channel.csv, campaign.csv and report.html.

    ``scores``, ``summary`` and ``run_info`` (run.json) are the current scoring run's: the page
    says which run and models they came from and shows its segment grid."""
    out_dir = Path(out_dir)
    periods = retention_by_period(tables.transactions, horizon_days)
    cohorts = cohort_retention(tables.transactions)
    paths = {
        "retention": write_frame(periods, out_dir / "retention.csv"),
        "cohorts": write_frame(cohorts.reset_index(names="cohort"), out_dir / "cohorts.csv"),
    }
    text = _captions(horizon_days, clv_horizon_days, currency)
    sections = ["<h1>Retention report</h1>", _header(tables, scores, run_info)]
    if summary is not None:
        sections += [
            "<h2>Segments: who to contact and what to do</h2>",
            segment_grid(summary, currency, horizon_days, clv_horizon_days),
            "<h2>Next steps per segment</h2>",
            report_html.table(next_steps(summary, currency, clv_horizon_days), text_columns=2),
        ]
    sections += [
        "<h2>What the numbers mean</h2>",
        definitions(horizon_days, clv_horizon_days, periods, summary, currency),
        "<h2>Monthly retention</h2>",
        report_html.img(_retention_plot(periods), text["retention"]),
        report_html.table(_retention_table(periods)),
        "<h2>Cohorts</h2>",
        report_html.img(_cohort_plot(cohorts), text["cohorts"]),
    ]
    if tables.subscriptions is not None and len(tables.subscriptions):
        sections += _subscription_sections(tables.subscriptions, out_dir, paths)
    if scores is not None:
        by_channel = clv_by_channel(scores, tables.customers)
        paths["clv_by_channel"] = write_frame(by_channel, out_dir / "clv_by_channel.csv")
        by_channel = _channel_names(by_channel)
        sections += [
            "<h2>Which channels bring the most valuable customers</h2>",
            report_html.img(
                _channel_plot(by_channel, currency, clv_horizon_days), text["channels"]
            ),
            report_html.table(
                readable_table(
                    by_channel,
                    currency,
                    names={
                        "clv_total": f"Total CLV, next {clv_horizon_days} days",
                        "clv_mean": f"Mean CLV, next {clv_horizon_days} days",
                        "value_at_risk": f"Value at risk, next {clv_horizon_days} days",
                    },
                )
            ),
        ]
    if campaign is not None:
        paths["campaign"] = write_frame(campaign, out_dir / "campaign.csv")
        sections += [
            "<h2>Campaign: treated vs control, per segment</h2>",
            f"<p>{html.escape(campaign_window_text(campaign))} Treated customers got the "
            "segment's action; the control group did not. A real effect: the 95% interval of "
            "the difference leaves out zero.</p><ul>",
            *(f"<li>{html.escape(line)}</li>" for line in _campaign_lines(campaign, currency)),
            "</ul>",
            report_html.table(_readable_campaign(campaign, currency), text_columns=2),
        ]
    paths["report"] = write_text(
        report_html.page("churnclv retention report", sections), out_dir / "report.html"
    )
    return paths
