"""Names and numbers as a person reads them in the reports: metric and column names in words,
2-3 significant digits, shares as percent, counts with thousands separators, money with the
currency (:mod:`core.money`), a dash for a missing value. One place for both HTML reports."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from core.money import format_money, money_unit

DASH = "\u2013"
"""What a table shows for a missing value."""

NAMES = {
    "model": "Model or baseline",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "calibration_error": "Calibration error",
    "base_rate": "Churn rate",
    "lift_top10": "Lift, riskiest 10%",
    "capture_top10": "Churners in riskiest 10%",
    "lift_top20": "Lift, riskiest 20%",
    "capture_top20": "Churners in riskiest 20%",
    "rmse": "RMSE",
    "mae": "Mean absolute error",
    "spearman": "Rank correlation (Spearman)",
    "normalized_gini": "Normalized Gini",
    "total_pred_vs_actual_pct": "Predicted total, % of actual",
    "revenue_capture_top10": "Revenue in top 10%",
    "revenue_capture_top20": "Revenue in top 20%",
    "decile": "Decile (1 = highest)",
    "customers": "Customers",
    "predicted_mean": "Predicted mean",
    "actual_mean": "Actual mean",
    "actual_total": "Actual total",
    "actual_share": "Share of actual total",
    "acquisition_channel": "Acquisition channel",
    "clv": "CLV",
    "clv_total": "Total CLV",
    "clv_mean": "Mean CLV",
    "churn_probability_mean": "Mean churn probability",
    "mean_churn_probability": "Mean churn probability",
    "value_at_risk": "Value at risk",
    "expected_revenue": "Expected revenue",
    "monthly_recurring_revenue": "Recurring revenue a month",
    "mrr_at_risk": "Recurring revenue at risk a month",
    "segment": "Segment",
    "action": "Next step",
    "control": "Control group",
    "period_start": "Month",
    "S": "Active at start (S)",
    "E": "Active at end (E)",
    "N": "New and active (N)",
    "retention_rate_pct": "Retention",
    "churn_rate_pct": "Churn rate",
}
"""Plain names of metrics and table columns (the CSV files keep the short names)."""

METRIC_HELP = {
    "roc_auc": "chance that a customer who churned is ranked riskier than one who stayed "
    "(0.5 = coin toss, 1 = perfect)",
    "log_loss": "how far the probabilities are from what happened (lower is better)",
    "brier": "mean squared gap between probability and outcome (lower is better)",
    "calibration_error": "mean gap between predicted probability and observed churn rate",
    "spearman": "how well the predicted order of customers by revenue matches the real order "
    "(1 = same order)",
    "normalized_gini": "how well value is concentrated at the top of the predicted order "
    "(1 = perfect)",
}
"""One line per headline metric: what it measures and which way is better."""

SHARES = {
    "capture_top10",
    "capture_top20",
    "revenue_capture_top10",
    "revenue_capture_top20",
    "actual_share",
    "base_rate",
    "churn_probability_mean",
    "mean_churn_probability",
}
"""Columns holding a share between 0 and 1, shown as percent."""

PERCENTS = {"retention_rate_pct", "churn_rate_pct", "total_pred_vs_actual_pct"}
"""Columns already in percent (0 to 100)."""

MONEY = {
    "rmse",
    "mae",
    "predicted_mean",
    "actual_mean",
    "actual_total",
    "clv",
    "clv_total",
    "clv_mean",
    "value_at_risk",
    "expected_revenue",
    "monthly_recurring_revenue",
    "mrr_at_risk",
}
"""Columns holding amounts of money."""


def plain_name(
    column: str, currency: str | None = None, names: dict[str, str] | None = None
) -> str:
    """A column's name for people (``names`` first, then :data:`NAMES`), with the currency on
    money: 'Mean CLV ($)'."""
    name = (names or {}).get(column) or NAMES.get(column)
    name = name or str(column).replace("_", " ").capitalize()
    return name + money_unit(currency) if column in MONEY else name


def missing(value: object) -> bool:
    """None, NaN or NaT."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def number(value: float) -> str:
    """Three significant digits; whole numbers and numbers from 100 up with thousands
    separators: '0.812', '64.9', '4,640'."""
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) < 0.001:
        return "0"
    return f"{value:.3g}"


def percent(value: float) -> str:
    """A percent value (0 to 100) with 2-3 significant digits: '54.3%', '97%', '0.4%'."""
    return f"{value:.0f}%" if abs(value) >= 100 else f"{value:.1f}%"


def cell(value: object, column: str = "", currency: str | None = None) -> str:
    """One table cell as text, by its column's kind (share, percent, money, number)."""
    if missing(value):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | dt.date):
        return pd.Timestamp(value).date().isoformat()
    if not isinstance(value, int | float):
        return str(value)
    if column in SHARES:
        return percent(value * 100)
    if column in PERCENTS:
        return percent(value)
    if column in MONEY:
        return format_money(value, currency, 0 if abs(value) >= 10 or abs(value) < 0.005 else 2)
    return number(value)


def readable_table(
    frame: pd.DataFrame, currency: str | None = None, names: dict[str, str] | None = None
) -> pd.DataFrame:
    """A table for the page: every cell as text (:func:`cell`), columns by plain name
    (``names`` first, then :data:`NAMES`)."""
    return pd.DataFrame(
        {
            plain_name(column, currency, names): [cell(v, column, currency) for v in frame[column]]
            for column in frame.columns
        }
    )


_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_LONG_DECIMAL = re.compile(r"(?<![\d.])\d+\.\d{4,}")


def plain_words(text: str, names: dict[str, str] | None = None) -> str:
    """A machine-made sentence for people: known names (``names``, then :data:`NAMES`) in words,
    other snake_case words with spaces, long decimals to 3 significant digits."""
    known = {**NAMES, **(names or {})}
    words = sorted((n for n in names or {} if "_" not in n), key=len, reverse=True)
    if words:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")
        text = pattern.sub(lambda m: known[m.group()], text)
    text = _IDENTIFIER.sub(lambda m: known.get(m.group(), m.group().replace("_", " ")), text)
    return _LONG_DECIMAL.sub(lambda m: f"{float(m.group()):.3g}", text)
