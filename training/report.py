"""The training report: one self-contained HTML page with plots, tables and plain-language grades."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from core import html as report_html
from core.files import write_text
from core.labels import METRIC_HELP, plain_name, plain_words, readable_table
from core.money import money_unit
from core.registry import CHURN_MODEL, CLV_MODEL
from training.metrics import calibration_table, decile_table
from training.train import TrainingResult

if TYPE_CHECKING:
    from training.tracking import Registration

CHURN_BASELINE_LABELS = {
    "churn_rate_formula": "churn rate formula (same rate for all)",
    "rfm_cells": "RFM cells (recency x frequency quintiles)",
    "bgnbd": "BG/NBD",
    "sbg": "shifted-beta-geometric (subscribers; BG/NBD for the rest)",
    "kaplan_meier": "Kaplan-Meier retention (subscribers; BG/NBD for the rest)",
}
REVENUE_BASELINE_LABELS = {
    "monthly_spend_x_retention": "monthly spend x months x retention",
    "last_year_run_rate": "last year's spend, pro rata",
    "bgnbd_gamma_gamma": "BG/NBD + Gamma-Gamma",
    "clv_formula": "CLV formula (yearly revenue x margin / yearly churn)",
}
MODEL_LABELS = {"lightgbm": "LightGBM (with BTYD features)", "blend": "blend of LightGBM and BTYD"}
CANDIDATE_LABELS = {**MODEL_LABELS, **CHURN_BASELINE_LABELS, **REVENUE_BASELINE_LABELS}
"""Every candidate's and baseline's name for people."""
FEATURE_LABELS = {"btyd_p_silent": "BG/NBD chance of no purchase", "csat_mean": "mean CSAT"}
"""Inputs whose name alone says little (the rest: underscores as spaces)."""
SERVED = " (used for the scores)"
"""Marks the served candidate's row in a metric table."""


def readable(
    table: pd.DataFrame, currency: str | None = None, served: str | None = None
) -> pd.DataFrame:
    """A metric or decile table for the report: names in words, numbers rounded, money with
    the currency, the served candidate marked."""
    out = table.copy()
    if "model" in out and pd.api.types.is_numeric_dtype(out["model"]):
        out = out.rename(columns={"model": "this model"})  # the ground-truth table's values
    elif "model" in out:
        out["model"] = [label(m) + (SERVED if m == served else "") for m in out["model"]]
    for col in out.columns.drop("model", errors="ignore"):
        out[col] = [plain_words(v, CANDIDATE_LABELS) if isinstance(v, str) else v for v in out[col]]
    return readable_table(out, currency)


def label(name: str) -> str:
    """A candidate's or baseline's name for people."""
    return CANDIDATE_LABELS.get(name, name)


def _churn_preds(test: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        c.removeprefix("pred_churn_"): test[c].to_numpy()
        for c in test.columns
        if c.startswith("pred_churn_") and c != "pred_churn_model"
    }


def captions(result: TrainingResult, currency: str | None = None) -> dict[str, str]:
    """What each plot shows and how to read it."""
    unit = money_unit(currency)
    h = result.plan.label_horizon_days if result.plan else result.bundle.churn_horizon_days
    return {
        "calibration": "Calibration on the test cutoff: customers grouped by predicted churn "
        "probability (across) against the share of them who really churned (up). Points on the "
        "dashed diagonal mean a probability can be taken at face value.",
        "roc": "ROC curve: share of churners caught (up) against share of stayers wrongly "
        "flagged (across) as the risk threshold is lowered. Higher and further left is better; "
        "the dashed line is a coin toss.",
        "gains": "Gains: contacting customers from the riskiest down (across), the share of all "
        "churners reached (up). The steeper the start, the fewer contacts it takes; the dashed "
        "line is contacting at random.",
        "deciles": f"Revenue over the {h} days after the test cutoff{unit}, per tenth of "
        "customers ranked by predicted revenue (1 = highest): predicted against actual mean per "
        "customer. Bars of similar height mean the ranking and the amounts hold.",
        "totals": f"Total revenue over the {h} days after the test cutoff{unit}: the actual "
        "total (black) and what each model and baseline predicted. Closer to the black bar is "
        "better.",
        "importance": "What the churn model relies on most: each input's share of the model's "
        "total gain (top 15). Longer bars weigh more in the scores; they show association, not "
        "cause.",
        "churn_scores": f"Churn scores at the data end ({result.data_end}): how many customers "
        f"(up) have each probability of making no purchase in the next "
        f"{result.bundle.churn_horizon_days} days (across).",
        "clv_concentration": f"How concentrated value is: customers ranked by CLV over the next "
        f"{result.bundle.clv_horizon_days} days, highest first (across), against their share of "
        "the total CLV (up). A steep rise means a few customers hold most of the value.",
    }


def _plots(result: TrainingResult, currency: str | None = None) -> dict[str, str]:
    test = result.test_frame
    y = test["churned"].to_numpy()
    preds = _churn_preds(test)
    unit = money_unit(currency)
    h = result.plan.label_horizon_days
    plots = {}

    fig, ax = report_html.figure(5, 4)
    for name, p in preds.items():
        cal = calibration_table(y, p)
        if name != "churn_rate_formula":
            ax.plot(cal["predicted"], cal["observed"], marker="o", label=label(name))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title="Calibration")
    ax.legend(fontsize=7)
    plots["calibration"] = report_html.png_base64(fig)

    fig, ax = report_html.figure(5, 4)
    for name, p in preds.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=label(name))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="share of stayers flagged", ylabel="share of churners caught", title="ROC curve")
    ax.legend(fontsize=7)
    plots["roc"] = report_html.png_base64(fig)

    fig, ax = report_html.figure(5, 4)
    share = np.arange(1, len(y) + 1) / len(y)
    for name, p in preds.items():
        order = np.argsort(-p, kind="stable")
        ax.plot(share, np.cumsum(y[order]) / max(y.sum(), 1), label=label(name))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="random")
    ax.set(
        xlabel="share of customers contacted (highest risk first)",
        ylabel="share of churners found",
        title="Gains",
    )
    ax.legend(fontsize=7)
    plots["gains"] = report_html.png_base64(fig)

    rev = test["future_revenue"].to_numpy()
    dec = decile_table(rev, test["pred_revenue_model"].to_numpy())
    fig, ax = report_html.figure(6, 4)
    ax.bar(dec["decile"] - 0.2, dec["predicted_mean"], width=0.4, label="predicted")
    ax.bar(dec["decile"] + 0.2, dec["actual_mean"], width=0.4, label="actual")
    ax.set(
        xlabel="tenth of customers by predicted revenue (1 = highest)",
        ylabel=f"mean revenue per customer, {h} days{unit}",
        title="Revenue by decile",
    )
    ax.set_xticks(range(1, 11))
    ax.legend()
    plots["deciles"] = report_html.png_base64(fig)

    totals = {
        label(c.removeprefix("pred_revenue_")): test[c].sum()
        for c in test.columns
        if c.startswith("pred_revenue_") and c != "pred_revenue_model"
    }
    fig, ax = report_html.figure(6, 3.5)
    names = ["actual", *totals]
    ax.barh(names, [rev.sum(), *totals.values()], color=["black"] + ["C0"] * len(totals))
    ax.set(xlabel=f"total revenue, {h} days{unit}", title="Predicted vs actual total")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    plots["totals"] = report_html.png_base64(fig)

    imp = result.feature_importance.head(15).iloc[::-1]
    fig, ax = report_html.figure(6, 5)
    ax.barh(
        [plain_words(f, FEATURE_LABELS) for f in imp["feature"]],
        imp["churn_gain"] / max(imp["churn_gain"].sum(), 1e-12),
    )
    ax.set(xlabel="share of gain (churn model)", title="Top features")
    plots["importance"] = report_html.png_base64(fig)
    return plots


def grades(result: TrainingResult) -> list[str]:
    """Plain-language sentences for a marketing reader, with the figures behind them."""
    churn = result.churn_metrics.set_index("model")
    revenue = result.revenue_metrics.set_index("model")
    sc, sr = result.served["churn"], result.served["revenue"]
    churn.loc["model"], revenue.loc["model"] = churn.loc[sc], revenue.loc[sr]
    out = [
        f"Churn scores come from {label(sc)}: {why(result, 'churn')}.",
        f"Revenue and CLV come from {label(sr)}: {why(result, 'revenue')}.",
    ]
    rules = churn.drop(index=["model", sc, *MODEL_LABELS, "churn_rate_formula"], errors="ignore")
    best_rule = rules["roc_auc"].idxmax()
    test = result.test_frame
    y = test["churned"].to_numpy()
    k = max(1, int(round(y.mean() * len(y))))  # contact as many customers as will churn

    def found(p: np.ndarray) -> float:
        return float(y[np.argsort(-p, kind="stable")[:k]].mean())

    m = found(test["pred_churn_model"].to_numpy())
    b = found(test[f"pred_churn_{best_rule}"].to_numpy())
    out.append(
        f"Contacting the {k:,} customers ({k / len(y):.0%}) the model ranks riskiest reaches "
        f"{m:.0%} of the customers who churned; the best simple rule "
        f"({CHURN_BASELINE_LABELS.get(best_rule, best_rule)}) reaches {b:.0%}, so the model "
        f"misses {(1 - m) / max(1 - b, 1e-9):.2f}x as many churners."
    )
    lift, blift = churn.loc["model", "lift_top10"], churn.loc[best_rule, "lift_top10"]
    out.append(
        f"Among the riskiest 10%, churners are {lift:.1f}x as common as on average "
        f"(best simple rule: {blift:.1f}x)."
    )
    cap = churn.loc["model", "capture_top20"]
    out.append(
        f"The riskiest 20% of customers hold {cap:.0%} of all customers who went on to churn."
    )
    cal_err = churn.loc["model", "calibration_error"]
    out.append(
        f"Probabilities can be read at face value: on average a predicted probability is "
        f"{cal_err * 100:.1f} percentage points from the observed churn rate."
    )
    best_rev = revenue.drop(index=["model", sr, *MODEL_LABELS], errors="ignore")[
        "revenue_capture_top20"
    ].idxmax()
    rc, rb = (
        revenue.loc["model", "revenue_capture_top20"],
        revenue.loc[best_rev, "revenue_capture_top20"],
    )
    out.append(
        f"The 20% of customers predicted most valuable brought {rc:.0%} of next period's revenue "
        f"(best simple rule, {REVENUE_BASELINE_LABELS.get(best_rev, best_rev)}: {rb:.0%})."
    )
    tot = revenue.loc["model", "total_pred_vs_actual_pct"]
    out.append(f"Predicted total revenue was {tot:.0f}% of the actual total.")
    cov = result.bundle.interval
    if cov is not None:
        out.append(
            f"The CLV range (low to high) is an {cov.level:.0%} interval: on the backtest, "
            f"{cov.coverage:.0%} of customers' actual {cov.horizon_days}-day revenue fell inside "
            "their predicted range."
        )
    return out


def _label_free_plots(result: TrainingResult) -> dict[str, str]:
    """What the label-free model predicts at the data end (nothing to compare it with)."""
    pred = result.bundle.predict(result.test_frame, result.data_end)
    plots = {}
    fig, ax = report_html.figure(5, 4)
    ax.hist(pred["churn_probability"], bins=20, range=(0, 1))
    ax.set(
        xlabel=f"churn probability ({result.bundle.churn_horizon_days} days)",
        ylabel="customers",
        title="Churn scores at the data end",
    )
    plots["churn_scores"] = report_html.png_base64(fig)
    fig, ax = report_html.figure(5, 4)
    clv = np.sort(pred["clv"].to_numpy())[::-1]
    ax.plot(np.arange(1, len(clv) + 1) / len(clv), np.cumsum(clv) / max(clv.sum(), 1e-9))
    ax.set(
        xlabel="share of customers (highest CLV first)",
        ylabel="share of total CLV",
        title=f"CLV concentration ({result.bundle.clv_horizon_days} days)",
    )
    plots["clv_concentration"] = report_html.png_base64(fig)
    return plots


def why(result: TrainingResult, kind: str) -> str:
    """Why a candidate serves ``kind`` (churn or revenue), in words."""
    return plain_words(result.selection[kind], CANDIDATE_LABELS)


def registration_text(registration: Registration | None) -> str:
    """Which versions were registered in MLflow and whether they became champion, and why."""
    if registration is None:
        return (
            "Not registered in MLflow yet: churnclv train registers the models after writing "
            "this report, then adds their versions here."
        )
    reg = registration
    if not reg.versions:  # an experiment: logged, not registered
        return (
            f"Not registered: an experiment, logged in MLflow (run {reg.run_id}) beside "
            "production; the champion is unchanged."
        )
    versions = (
        f"churn model version {reg.versions[CHURN_MODEL]} and CLV model version "
        f"{reg.versions[CLV_MODEL]} (MLflow run {reg.run_id})"
    )
    reason = plain_words(reg.reason.removeprefix("not promoted: "))
    if reg.promoted:
        return (
            f"Registered {versions}. They became the champion, the models that score customers "
            f"from now on. Why: {reason}."
        )
    return (
        f"Registered {versions}. They stay challenger: the current champion keeps scoring "
        f"customers. Why: {reason}."
    )


def _header(result: TrainingResult, registration: Registration | None) -> list[str]:
    """Title, as-of date, model versions and the promotion decision, notes."""
    s = result.data_summary
    return [
        "<h1>Training report</h1>",
        f"<p><b>As of {s['data_end']}</b>: models trained on data from {s['data_start']} to "
        f"{s['data_end']}; churn means no purchase in the next "
        f"{result.bundle.churn_horizon_days} days, CLV is the value over the next "
        f"{result.bundle.clv_horizon_days} days.</p>",
        f"<p><b>Model versions</b>: {html.escape(registration_text(registration))}</p>",
        *(report_html.note(n) for n in result.notes),
    ]


def _label_free_sections(result: TrainingResult) -> list[str]:
    return [
        f"<p>Trained with no backtest (see the note) on {len(result.test_frame):,} customers "
        "with a purchase.</p>",
        "<h2>In plain words</h2><ul>",
        f"<li>Churn scores come from {label(result.served['churn'])} and revenue and CLV from "
        f"{label(result.served['revenue'])}: {html.escape(why(result, 'churn'))}.</li>",
        "<li>How accurate they are on this business is not known yet: there was no earlier "
        "period whose outcome could be checked. Use the lists, but treat the scores as a "
        "ranking rather than exact probabilities until a retrain with a backtest.</li>",
        "</ul>",
    ]


def _table(frame: pd.DataFrame, currency: str | None, served: str | None = None) -> str:
    return report_html.table(readable(frame, currency, served))


def _metric_help(metrics: pd.DataFrame) -> str:
    """How to read the headline metrics of a table."""
    items = [
        f"<li><b>{plain_name(m)}</b>: {html.escape(METRIC_HELP[m])}</li>"
        for m in metrics.columns
        if m in METRIC_HELP
    ]
    return f"<ul class='help'>{''.join(items)}</ul>"


def render_report(
    result: TrainingResult,
    out_dir: Path,
    extra_tables: dict[str, pd.DataFrame] | None = None,
    registration: Registration | None = None,
    currency: str | None = None,
) -> Path:
    """Write ``out_dir/training_report.html`` (atomically) and the metric tables as CSV; with
    ``registration``, the page says which versions were registered and whether they became
    champion. Amounts carry ``currency``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.churn_metrics.to_csv(out_dir / "churn_metrics.csv", index=False)
    result.revenue_metrics.to_csv(out_dir / "revenue_metrics.csv", index=False)
    sections = _header(result, registration)
    if result.plan is None:
        plots = _label_free_plots(result)
        sections += _label_free_sections(result)
    else:
        plots = _plots(result, currency)
        sections += _backtest_sections(result, currency)
    for name, b64 in plots.items():  # the plots also as files, logged to MLflow with the report
        (out_dir / f"{name}.png").write_bytes(base64.b64decode(b64))
    for title, extra in (extra_tables or {}).items():
        sections += [f"<h2>{html.escape(title)}</h2>", _table(extra, currency)]
    text = captions(result, currency)
    sections += [
        "<h2>Plots</h2><div class='grid'>",
        *(report_html.img(b64, text[k]) for k, b64 in plots.items()),
        "</div>",
    ]
    if result.plan is not None:
        test = result.test_frame
        sections += [
            f"<h2>Revenue over the {result.plan.label_horizon_days} days after the test cutoff, "
            "per tenth of customers (model)</h2>",
            _table(decile_table(test["future_revenue"], test["pred_revenue_model"]), currency),
        ]
    page_html = report_html.page("churnclv training report", sections)
    return write_text(page_html, out_dir / "training_report.html")


def _backtest_sections(result: TrainingResult, currency: str | None) -> list[str]:
    plan = result.plan
    sections = [
        f"<p>Backtest: trained on cutoffs {', '.join(str(c) for c in plan.fit_cutoffs)}, "
        + (
            f"heads fitted at {plan.calibration_cutoff}, "
            if plan.calibration_cutoff
            else "heads fitted out of fold on those cutoffs, "
        )
        + f"tested at {plan.test_cutoff} on {result.data_summary['test_rows']:,} customers "
        f"(label horizon {plan.label_horizon_days} days). Every metric below is on the test "
        "cutoff only, which no model or baseline saw.</p>",
        "<h2>In plain words</h2><ul>",
        *(f"<li>{html.escape(g)}</li>" for g in grades(result)),
        "</ul>",
        "<h2>Churn: model vs baselines</h2>",
        _table(result.churn_metrics, currency, result.served["churn"]),
        _metric_help(result.churn_metrics),
        f"<h2>Revenue over the {plan.label_horizon_days} days after the test cutoff: model vs "
        "baselines</h2>",
        _table(result.revenue_metrics, currency, result.served["revenue"]),
        _metric_help(result.revenue_metrics),
    ]
    check = result.clv_check
    if check is not None:
        c = check.plan
        sections += [
            f"<h2>CLV over {c.horizon_days} days: model vs baselines</h2>",
            f"<p>Models refitted on cutoffs whose labels end by {c.cutoff} predict, at "
            f"{c.cutoff}, each of {check.customers:,} customers' revenue over the next "
            f"{c.horizon_days} days (margin 1, no discounting); compared with what they really "
            f"spent. The {check.interval.level:.0%} CLV range held the actual value for "
            f"{check.interval.coverage:.1%} of customers.</p>",
            _table(check.metrics, currency),
            f"<h3>CLV over {c.horizon_days} days per tenth of customers</h3>",
            _table(check.deciles, currency),
        ]
    return sections
