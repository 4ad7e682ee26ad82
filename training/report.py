"""The training report: one self-contained HTML page with plots, tables and plain-language grades."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from core import html as report_html
from core.files import write_text
from training.metrics import calibration_table, decile_table
from training.train import TrainingResult

CHURN_BASELINE_LABELS = {
    "churn_rate_formula": "churn rate formula (same rate for all)",
    "rfm_cells": "RFM cells (recency x frequency quintiles)",
    "bgnbd": "BG/NBD",
}
REVENUE_BASELINE_LABELS = {
    "monthly_spend_x_retention": "monthly spend x months x retention",
    "last_year_run_rate": "last year's spend, pro rata",
    "bgnbd_gamma_gamma": "BG/NBD + Gamma-Gamma",
    "clv_formula": "CLV formula (yearly revenue x margin / yearly churn)",
}
PLOT_CAPTIONS = {
    "calibration": "Calibration: predicted churn probability vs the churn rate observed",
    "roc": "ROC curve of every churn model and baseline",
    "gains": "Gains: share of churners reached by contacting the riskiest first",
    "deciles": "Revenue by decile of predicted revenue",
    "totals": "Predicted vs actual total revenue over the horizon",
    "importance": "Features the churn model relies on most",
    "churn_scores": "Churn scores at the data end",
    "clv_concentration": "How concentrated customer value is",
}
MODEL_LABELS = {"lightgbm": "LightGBM (with BTYD features)", "blend": "blend of LightGBM and BTYD"}


COLUMN_LABELS = {
    "model": "model or baseline",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "brier": "Brier score",
    "log_loss": "log-loss",
    "calibration_error": "calibration error",
    "base_rate": "churn rate",
    "lift_top10": "lift, riskiest 10%",
    "capture_top10": "churners in riskiest 10%",
    "lift_top20": "lift, riskiest 20%",
    "capture_top20": "churners in riskiest 20%",
    "rmse": "RMSE",
    "mae": "mean absolute error",
    "spearman": "Spearman rank correlation",
    "normalized_gini": "normalized Gini",
    "total_pred_vs_actual_pct": "predicted total, % of actual",
    "revenue_capture_top10": "revenue in top 10%",
    "revenue_capture_top20": "revenue in top 20%",
    "decile": "decile (1 = highest)",
    "customers": "customers",
    "predicted_mean": "predicted mean",
    "actual_mean": "actual mean",
    "actual_total": "actual total",
    "actual_share": "share of actual total",
}
"""Column names for people; the CSV files keep the short names."""
SHARE_COLUMNS = {
    "capture_top10",
    "capture_top20",
    "revenue_capture_top10",
    "revenue_capture_top20",
    "actual_share",
    "base_rate",
}


def _number(v: object, share: bool) -> object:
    """Three significant digits (whole numbers with separators), shares as percent."""
    if not isinstance(v, int | float) or isinstance(v, bool) or v != v:
        return v
    if share:
        return f"{v:.1%}"
    if float(v).is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """A metric or decile table for the report: names in words, numbers rounded."""
    out = table.copy()
    for col in out.columns:
        if col == "model" and not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(label)
        elif pd.api.types.is_numeric_dtype(out[col]):
            out[col] = [_number(v, col in SHARE_COLUMNS) for v in out[col].tolist()]
    names = (
        COLUMN_LABELS
        if not pd.api.types.is_numeric_dtype(table.get("model"))
        else {k: v for k, v in COLUMN_LABELS.items() if k != "model"}
    )  # a "model" column of values (the ground-truth table) keeps its name
    return out.rename(columns=names)


def label(name: str) -> str:
    """A candidate's or baseline's name for people."""
    return (
        MODEL_LABELS.get(name)
        or CHURN_BASELINE_LABELS.get(name)
        or (REVENUE_BASELINE_LABELS.get(name, name))
    )


def _churn_preds(test: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        c.removeprefix("pred_churn_"): test[c].to_numpy()
        for c in test.columns
        if c.startswith("pred_churn_") and c != "pred_churn_model"
    }


def _plots(result: TrainingResult) -> dict[str, str]:
    test = result.test_frame
    y = test["churned"].to_numpy()
    preds = _churn_preds(test)
    plots = {}

    fig, ax = report_html.figure(5, 4)
    for name, p in preds.items():
        cal = calibration_table(y, p)
        if name != "churn_rate_formula":
            ax.plot(cal["predicted"], cal["observed"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title="Calibration")
    ax.legend(fontsize=7)
    plots["calibration"] = report_html.png_base64(fig)

    fig, ax = report_html.figure(5, 4)
    for name, p in preds.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(fontsize=7)
    plots["roc"] = report_html.png_base64(fig)

    fig, ax = report_html.figure(5, 4)
    share = np.arange(1, len(y) + 1) / len(y)
    for name, p in preds.items():
        order = np.argsort(-p, kind="stable")
        ax.plot(share, np.cumsum(y[order]) / max(y.sum(), 1), label=name)
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
        xlabel="decile of predicted revenue (1 = highest)",
        ylabel="mean revenue per customer",
        title="Revenue by decile",
    )
    ax.legend()
    plots["deciles"] = report_html.png_base64(fig)

    totals = {
        c.removeprefix("pred_revenue_"): test[c].sum()
        for c in test.columns
        if c.startswith("pred_revenue_") and c != "pred_revenue_model"
    }
    fig, ax = report_html.figure(6, 3.5)
    names = ["actual", *totals]
    ax.barh(names, [rev.sum(), *totals.values()], color=["black"] + ["C0"] * len(totals))
    ax.set(xlabel="total revenue over the horizon", title="Predicted vs actual total")
    plots["totals"] = report_html.png_base64(fig)

    imp = result.feature_importance.head(15).iloc[::-1]
    fig, ax = report_html.figure(6, 5)
    ax.barh(imp["feature"], imp["churn_gain"] / max(imp["churn_gain"].sum(), 1e-12))
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
        f"Churn scores come from {label(sc)}: {result.selection['churn']}.",
        f"Revenue and CLV come from {label(sr)}: {result.selection['revenue']}.",
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


def _label_free_sections(result: TrainingResult) -> list[str]:
    s = result.data_summary
    return [
        "<h1>churnclv training report</h1>",
        f"<p>Data {s['data_start']} to {s['data_end']}: no backtest (see the note). "
        f"{len(result.test_frame):,} customers with a purchase.</p>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in result.notes),
        "<h2>In plain words</h2><ul>",
        f"<li>Churn scores come from {label(result.served['churn'])} and revenue and CLV from "
        f"{label(result.served['revenue'])}: {html.escape(result.selection['churn'])}.</li>",
        "<li>How accurate they are on this business is not known yet: there was no earlier "
        "period whose outcome could be checked. Use the lists, but treat the scores as a "
        "ranking rather than exact probabilities until a retrain with a backtest.</li>",
        "</ul>",
    ]


def render_report(
    result: TrainingResult, out_dir: Path, extra_tables: dict[str, pd.DataFrame] | None = None
) -> Path:
    """Write ``out_dir/training_report.html`` (atomically) and the metric tables as CSV."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.churn_metrics.to_csv(out_dir / "churn_metrics.csv", index=False)
    result.revenue_metrics.to_csv(out_dir / "revenue_metrics.csv", index=False)
    if result.plan is None:
        plots = _label_free_plots(result)
        sections = _label_free_sections(result)
    else:
        plots = _plots(result)
        sections = _backtest_sections(result)
    for name, b64 in plots.items():  # the plots also as files, logged to MLflow with the report
        (out_dir / f"{name}.png").write_bytes(base64.b64decode(b64))
    for title, extra in (extra_tables or {}).items():
        sections += [f"<h2>{html.escape(title)}</h2>", report_html.table(readable(extra))]
    sections += [
        "<h2>Plots</h2><div class='grid'>",
        *(report_html.img(b64, PLOT_CAPTIONS[k]) for k, b64 in plots.items()),
        "</div>",
    ]
    if result.plan is not None:
        sections += [
            "<h2>Revenue deciles (model)</h2>",
            report_html.table(
                readable(
                    decile_table(
                        result.test_frame["future_revenue"],
                        result.test_frame["pred_revenue_model"],
                    )
                )
            ),
        ]
    page_html = report_html.page("churnclv training report", sections)
    path = out_dir / "training_report.html"
    return write_text(page_html, path)


def _backtest_sections(result: TrainingResult) -> list[str]:
    plan = result.plan
    sections = [
        "<h1>churnclv training report</h1>",
        f"<p>Data {plan.data_start} to {plan.data_end}; backtest: trained on cutoffs "
        f"{', '.join(str(c) for c in plan.fit_cutoffs)}, "
        + (
            f"heads fitted at {plan.calibration_cutoff}, "
            if plan.calibration_cutoff
            else "heads fitted out of fold on those cutoffs, "
        )
        + f"tested at {plan.test_cutoff} on {result.data_summary['test_rows']:,} customers "
        f"(label horizon {plan.label_horizon_days} days). Every metric below is on the test "
        "cutoff only, which no model or baseline saw.</p>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in result.notes),
        "<h2>In plain words</h2><ul>",
        *(f"<li>{html.escape(g)}</li>" for g in grades(result)),
        "</ul>",
        "<h2>Churn: model vs baselines</h2>",
        report_html.table(readable(result.churn_metrics)),
        f"<h2>Revenue over the {plan.label_horizon_days} days after the test cutoff: model vs "
        "baselines</h2>",
        report_html.table(readable(result.revenue_metrics)),
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
            report_html.table(readable(check.metrics)),
            f"<h3>CLV deciles ({c.horizon_days} days)</h3>",
            report_html.table(readable(check.deciles)),
        ]
    return sections
