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
from features.contract import InputTables
from reports.retention import cohort_retention, retention_by_period


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


def _readable_campaign(effect: pd.DataFrame) -> pd.DataFrame:
    shown = effect.drop(columns=list(_WINDOW)).assign(
        significant=effect["significant"].map({True: "yes", False: "no"})
    )
    return shown.rename(columns=CAMPAIGN_LABELS)


def campaign_window_text(effect: pd.DataFrame) -> str:
    """When the campaign's measurement window starts and ends, and whether it has ended."""
    first = effect.iloc[0]
    text = f"Measured from {first['window_start']} to {first['window_end']}"
    if not first["window_ended"]:
        text += f": the window has not ended yet, measured up to {first['measured_to']}"
    return text + "."


def campaign_verdict(row: object) -> str:
    """One line on a measure: treated vs control, the difference and its 95% interval."""
    r = row
    return (
        f"{r.segment}, {r.measure}: treated {r.treated:,.2f} ({r.treated_customers:,}) vs "
        f"control {r.control:,.2f} ({r.control_customers:,}), difference {r.difference:+,.2f} "
        f"(95% CI {r.ci95_low:+,.2f} to {r.ci95_high:+,.2f}) - "
        + ("a real effect." if r.significant else "not distinguishable from no effect.")
    )


def _retention_plot(periods: pd.DataFrame) -> str:
    fig, ax = report_html.figure(7, 3.5)
    ax.plot(periods["period_start"], periods["retention_rate_pct"], marker="o")
    ax.set(ylabel="retention rate %", title="Monthly retention rate = (E - N) / S x 100")
    fig.autofmt_xdate()
    return report_html.png_base64(fig)


def _cohort_plot(cohorts: pd.DataFrame) -> str:
    values = cohorts.drop(columns="customers")
    fig, ax = report_html.figure(9, max(3.0, 0.22 * len(values)))
    im = ax.imshow(values.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(values)), values.index, fontsize=6)
    ax.set(xlabel="months since first purchase", title="Cohort retention (share buying)")
    fig.colorbar(im, ax=ax)
    return report_html.png_base64(fig)


def _channel_plot(by_channel: pd.DataFrame) -> str:
    fig, ax = report_html.figure(6, 3.5)
    ax.barh(by_channel["acquisition_channel"], by_channel["clv_mean"])
    ax.set(xlabel="mean CLV per customer", title="CLV by acquisition channel")
    return report_html.png_base64(fig)


def build_retention_report(
    tables: InputTables,
    horizon_days: int,
    out_dir: Path,
    scores: pd.DataFrame | None = None,
    campaign: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write retention.csv, cohorts.csv, clv_by_channel.csv, campaign.csv and report.html."""
    out_dir = Path(out_dir)
    periods = retention_by_period(tables.transactions, horizon_days)
    cohorts = cohort_retention(tables.transactions)
    paths = {
        "retention": write_frame(periods, out_dir / "retention.csv"),
        "cohorts": write_frame(cohorts.reset_index(names="cohort"), out_dir / "cohorts.csv"),
    }
    sections = [
        "<h1>churnclv retention report</h1>",
        f"<p>Active customer = at least one purchase in the last {horizon_days} days. "
        "Retention rate = (E - N) / S x 100 with S active at the start of the month, E active at "
        "its end and N new customers (first purchase in the month); churn rate = 100 - "
        "retention.</p>",
        report_html.img(_retention_plot(periods), "monthly retention"),
        report_html.table(periods.tail(12), digits=1),
        report_html.img(_cohort_plot(cohorts), "cohort retention heatmap"),
    ]
    if scores is not None:
        by_channel = clv_by_channel(scores, tables.customers)
        paths["clv_by_channel"] = write_frame(by_channel, out_dir / "clv_by_channel.csv")
        sections += [
            "<h2>Which channels bring the most valuable customers</h2>",
            report_html.img(_channel_plot(by_channel), "CLV by acquisition channel"),
            report_html.table(by_channel, digits=2),
        ]
    if campaign is not None:
        paths["campaign"] = write_frame(campaign, out_dir / "campaign.csv")
        sections += [
            "<h2>Campaign: treated vs control</h2>",
            f"<p>{html.escape(campaign_window_text(campaign))}</p><ul>",
            *(
                f"<li>{html.escape(campaign_verdict(r))}</li>"
                for r in campaign[campaign["segment"] == POOLED].itertuples()
            ),
            "</ul>",
            report_html.table(_readable_campaign(campaign), digits=2),
        ]
    paths["report"] = write_text(
        report_html.page("churnclv retention report", sections), out_dir / "report.html"
    )
    return paths
