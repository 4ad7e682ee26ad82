"""Model quality on every demo-data scenario, through the CLI as a user runs it: the served
model vs the best label-free baseline vs the oracle, measured on the generator's truth.

    .venv/bin/python bench/bench_quality.py                     # every scenario, default sizes
    .venv/bin/python bench/bench_quality.py --customers 5000    # every scenario at 5,000
    .venv/bin/python bench/bench_quality.py --only btyd --scale 0.5

For each scenario of ``churnclv.scenarios.SCENARIOS``, in bench/data/quality/<scenario>/
(deleted first): ``churnclv demo-data --scenario S --seed 7``, a config with the scenario's
horizons, gross margin 1 and no discounting (so CLV is the expected revenue over the CLV
horizon, comparable with the truth's ``future_spend_{C}d``) and a fresh MLflow store, then
``churnclv train``, ``churnclv score`` and ``churnclv features`` (each timed, wall clock).

Measured on the truth (what the generator simulated after the data end), for the customers in
scores.parquet:

* churn: ROC-AUC and Brier of ``churn_probability`` vs ``churned_{h}d``;
* revenue: Spearman of ``expected_revenue`` vs ``future_spend_{h}d``, share of the actual
  revenue held by the top 10% by prediction, total predicted / actual - 1 (%);
* CLV: total ``clv`` / actual ``future_spend_{C}d`` - 1 (%), Spearman, and coverage of the 80%
  interval (clv_low <= actual <= clv_high, actual clipped at 0);
* customers with a transaction in the data but no score row.

Baselines are computed here from the features at the data end only (point in time, no labels):
BG/NBD + Gamma-Gamma fitted on them (churn = P(no purchase in h), revenue and CLV from each
customer's expected purchases, as ``training/baselines.py``); the last-year run rate (spend in
the last 365 days x h / 365, CLV x C / 365); and for churn a constant, the churn rate of the
last window the history shows (customers who had bought h days before the data end: share
without a purchase since). "best baseline" is the best of them for each metric. The oracle,
where the truth has it (``btyd``), is the Bayes-optimal forecast at the true parameters from
the same history (``true_churn_probability_{h}d``, ``oracle_revenue_{h,C}d``).

Targets (the quality issue): on every scenario the served model >= the best baseline on
ROC-AUC, Brier (lower), Spearman and top-10% capture; on btyd within 0.01 ROC-AUC, 0.005 Brier
and 0.02 Spearman of the oracle; total revenue and CLV within +-5%; CLV interval coverage
80% +- 5 points. Missed targets are reported (RESULT lines say "met" / "MISSED"), not errors:
the script fails only when a command fails. tests/test_quality.py runs :func:`evaluate` on
small versions with the real training and scoring code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `common` when imported by tests
from common import DATA, ROOT  # noqa: E402
from common import result as report_result  # noqa: E402

from churnclv.scenarios import SCENARIOS, scenario_settings  # noqa: E402
from core.catalog import OutputCatalog  # noqa: E402

WORK = DATA / "quality"
SEED = 7
DEFAULT_CUSTOMERS = {"btyd": 20_000}  # every other scenario: 10,000
OTHER_CUSTOMERS = 10_000
GROSS_MARGIN = 1.0
MONTHLY_DISCOUNT_RATE = 0.0

# baseline names (columns of the table: "BTYD" and "simple")
BTYD_CHURN, BTYD_REVENUE = "bgnbd", "bgnbd_gamma_gamma"
CONSTANT_CHURN, RUN_RATE = "churn_rate_constant", "last_year_run_rate"
ORACLE, LATENT = "oracle", "latent_state"
TIE = 1e-9  # differences below this are ties


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    sense: str  # "higher" (better), "lower" (better), "abs" (|value| lower is better), "info"


METRICS = (
    Metric("churn_auc", "churn ROC-AUC", "higher"),
    Metric("churn_brier", "churn Brier", "lower"),
    Metric("revenue_spearman", "revenue Spearman", "higher"),
    Metric("revenue_top10_capture", "revenue top-10% capture", "higher"),
    Metric("revenue_total_error_pct", "revenue total error %", "abs"),
    Metric("clv_spearman", "CLV Spearman", "higher"),
    Metric("clv_total_error_pct", "CLV total error %", "abs"),
    Metric("clv_coverage", "CLV 80% interval coverage", "info"),
)
METRIC = {m.key: m for m in METRICS}


@dataclass
class Quality:
    """What :func:`evaluate` measured for one scenario.

    ``values[metric][method]``: methods are ``model``, the baselines (``bgnbd``,
    ``churn_rate_constant`` for churn; ``bgnbd_gamma_gamma``, ``last_year_run_rate`` for revenue
    and CLV), ``oracle`` (Bayes-optimal, btyd only) and ``latent_state`` (churn only: what
    knowing each customer's hidden state would allow, beyond any model).
    """

    customers: int  # customers with a prediction found in the truth (the evaluated ones)
    score_rows: int  # rows of scores.parquet
    unscored: int  # truth customers with a transaction in the data but no score row
    unscored_ids: list[str]
    unscored_zero_only: int | None  # of those, $0-only customers (zero-amounts scenario)
    scores_not_in_truth: int
    without_prediction: int  # score rows without a churn probability ("No purchase yet")
    without_prediction_with_transaction: int  # of those, customers with a transaction
    without_prediction_zero_only: int | None  # of those, $0-only customers
    churn_rate_observed: float
    churn_rate_predicted: float
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    renewal: dict[str, float] = field(default_factory=dict)
    """Subscriptions: the active subscribers' renewal revenue over the CLV horizon, total
    error % of each way of pricing it (``churn_model``, ``sbg``; the served one marked in
    ``served_renewal``) and of the generator's own expectation (``oracle``)."""
    served_renewal: str = ""

    def baselines(self, metric: str) -> dict[str, float]:
        return {
            k: v
            for k, v in self.values[metric].items()
            if k not in ("model", ORACLE, LATENT) and not _nan(v)
        }

    def best_baseline(self, metric: str) -> tuple[str, float]:
        """(name, value) of the best baseline on ``metric`` (nan if none)."""
        sense = METRIC[metric].sense
        base = self.baselines(metric)
        if not base or sense == "info":
            return "", float("nan")
        if sense == "higher":
            name = max(base, key=base.__getitem__)
        elif sense == "lower":
            name = min(base, key=base.__getitem__)
        else:
            name = min(base, key=lambda k: abs(base[k]))
        return name, base[name]

    def vs_best(self, metric: str) -> float:
        """model - best baseline (for ``abs`` metrics: |model| - |best|; lower is better)."""
        _, best = self.best_baseline(metric)
        model = self.values[metric]["model"]
        if METRIC[metric].sense == "abs":
            return abs(model) - abs(best)
        return model - best

    def model_not_worse(self, metric: str, tolerance: float = 0.0) -> bool:
        """The model is at least as good as the best baseline, up to ``tolerance`` (and to
        rounding noise: a served BG/NBD equals the BG/NBD baseline up to ~1e-15)."""
        diff = self.vs_best(metric)
        tolerance += TIE
        if METRIC[metric].sense == "higher":
            return diff >= -tolerance
        return diff <= tolerance

    def oracle(self, metric: str) -> float:
        return self.values[metric].get(ORACLE, float("nan"))


def _nan(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _read_table(folder: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """``name``.parquet or ``name``.csv in ``folder``, customer ids as text."""
    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        frame = pd.read_parquet(parquet, columns=columns)
    elif csv.exists():
        frame = pd.read_csv(csv, usecols=columns, dtype={"customer_id": "str"})
    else:
        raise FileNotFoundError(f"no {name}.parquet or {name}.csv in {folder}")
    frame["customer_id"] = frame["customer_id"].astype("str")
    return frame


def load_run(data_dir: Path, out_dir: Path) -> dict[str, pd.DataFrame | None]:
    """The files a run left: truth and transacting ids (data folder), scores and features at
    the data end (output folder), and the subscriptions table as the loader reads it (None
    without one)."""
    subscriptions = None
    if any((data_dir / f"subscriptions.{ext}").exists() for ext in ("csv", "parquet")):
        from core.settings import DataSettings
        from features.loader import load_tables

        subscriptions = load_tables(DataSettings(dir=data_dir)).tables.subscriptions
    return {
        "subscriptions": subscriptions,
        "truth": _read_table(data_dir, "truth"),
        "transactions": _read_table(data_dir, "transactions", ["customer_id"]),
        "scores": pd.read_parquet(OutputCatalog(out_dir).pinned().scores).assign(
            customer_id=lambda f: f["customer_id"].astype("str")
        ),
        "features": pd.read_parquet(out_dir / "features.parquet").assign(
            customer_id=lambda f: f["customer_id"].astype("str")
        ),
    }


def served(out_dir: Path) -> dict[str, object]:
    """bundle.json's meta.served and meta.clv_interval of the run's bundle."""
    meta = json.loads((out_dir / "model_bundle" / "bundle.json").read_text())["meta"]
    return {"served": meta.get("served", {}), "clv_interval": meta.get("clv_interval")}


def last_window_churn_rate(features: pd.DataFrame, horizon_days: int) -> float:
    """Share of the customers who had bought ``horizon_days`` before the cutoff who bought
    nothing since: the churn rate of the last window the history shows (no labels needed)."""
    tenure = features["tenure_days"].to_numpy(dtype=float)
    recency = features["recency_days"].to_numpy(dtype=float)
    known = np.nan_to_num(tenure, nan=-1.0) >= horizon_days
    if not known.any():
        return float("nan")
    return float(np.mean(recency[known] >= horizon_days))


def baseline_predictions(
    features: pd.DataFrame,
    customers: pd.Series,
    churn_horizon_days: int,
    clv_horizon_days: int,
    gross_margin: float = GROSS_MARGIN,
    monthly_discount_rate: float = MONTHLY_DISCOUNT_RATE,
    subscriptions: pd.DataFrame | None = None,
    cutoff: dt.date | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Label-free baselines from the feature frame at the data end for ``customers`` (in that
    order): {"churn" | "revenue" | "clv": {name: values}}. With ``subscriptions`` (the
    loader's table), also the contractual churn baselines of the training backtest, fitted on
    the subscription history up to the data end: sBG and Kaplan-Meier for the subscribers,
    BG/NBD for the others (``training.baselines.predict_subscription_churn``)."""
    from model.btyd import BTYDModel
    from model.clv import clv_from_revenue, discount_factors, horizon_weights, period_edges

    h, c = churn_horizon_days, clv_horizon_days
    btyd = BTYDModel.fit(features)  # the customers with a purchase, history only
    frame = features.set_index("customer_id").loc[customers.to_numpy()].reset_index()
    post = btyd.posteriors(frame, h)
    edges = period_edges(c)
    cum = btyd.cumulative_purchases(frame, [h, *edges[1:]])
    weights = horizon_weights(cum[:, 1:], cum[:, 0])
    revenue = post["btyd_revenue"].to_numpy(float)
    spend_365 = frame["spend_365d"].fillna(0.0).to_numpy(float)
    rate = last_window_churn_rate(features, h)
    churn = {BTYD_CHURN: post["btyd_p_silent"].to_numpy(float)}
    if np.isfinite(rate):  # needs customers older than the horizon
        churn[CONSTANT_CHURN] = np.full(len(frame), rate)
    if subscriptions is not None:
        from training.baselines import fit_retention, predict_subscription_churn

        if cutoff is None:
            raise ValueError("the contractual baselines need the cutoff of the features")
        retention = fit_retention(subscriptions, cutoff)
        with_post = frame.assign(btyd_p_silent=churn[BTYD_CHURN])
        churn |= predict_subscription_churn(retention, with_post, cutoff, h)
    return {
        "churn": churn,
        "revenue": {BTYD_REVENUE: revenue, RUN_RATE: spend_365 * h / 365.0},
        "clv": {
            BTYD_REVENUE: clv_from_revenue(
                revenue, weights, discount_factors(edges, monthly_discount_rate), gross_margin
            ),
            RUN_RATE: gross_margin * spend_365 * c / 365.0,
        },
    }


def evaluate(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    truth: pd.DataFrame,
    transactions: pd.DataFrame,
    churn_horizon_days: int,
    clv_horizon_days: int,
    subscriptions: pd.DataFrame | None = None,
    bundle: object | None = None,
) -> Quality:
    """Model, baselines and oracle against the truth, on the customers of ``scores`` with a
    prediction (customers without a paid purchase get a row without one).

    ``scores``: scores.parquet; ``features``: the feature frame at the data end (every known
    customer); ``truth``: the generator's truth; ``transactions``: at least the customer_id of
    every transaction row in the data (who should have a score row). The scores must be for
    gross margin 1 and no discounting (CLV = expected revenue over the CLV horizon).
    """
    from training.metrics import evaluate_churn, evaluate_revenue

    h, c = churn_horizon_days, clv_horizon_days
    truth = truth.assign(customer_id=truth["customer_id"].astype("str"))
    scored_ids = pd.Index(scores["customer_id"].astype("str"))
    if scored_ids.has_duplicates:
        raise ValueError("scores has more than one row for some customers")
    has_tx = truth["customer_id"].isin(set(transactions["customer_id"].astype("str")))
    missing = truth[has_tx & ~truth["customer_id"].isin(scored_ids)]
    joined = scores.assign(customer_id=scored_ids).merge(truth, on="customer_id", how="inner")
    predicted = joined["churn_probability"].notna().to_numpy()
    blank = joined[~predicted]
    joined = joined[predicted].reset_index(drop=True)
    if not len(joined):
        raise ValueError("no scored customer with a prediction is in the truth")
    cols = ["expected_revenue", "clv"]
    if joined[cols].isna().any().any():
        raise ValueError(
            f"{int(joined[cols].isna().any(axis=1).sum())} score rows have a churn probability "
            "but no expected revenue or CLV"
        )

    y = joined[f"churned_{h}d"].astype(int).to_numpy()
    actual_h = joined[f"future_spend_{h}d"].to_numpy(float)
    actual_c = joined[f"future_spend_{c}d"].to_numpy(float)
    cutoff = pd.Timestamp(scores["scoring_date"].max()).date()
    base = baseline_predictions(
        features, joined["customer_id"], h, c, subscriptions=subscriptions, cutoff=cutoff
    )

    churn = {"model": joined["churn_probability"].to_numpy(float), **base["churn"]}
    revenue = {"model": joined["expected_revenue"].to_numpy(float), **base["revenue"]}
    clv = {"model": joined["clv"].to_numpy(float), **base["clv"]}
    has_oracle = f"oracle_revenue_{h}d" in truth.columns
    if has_oracle:
        churn[ORACLE] = joined[f"true_churn_probability_{h}d"].to_numpy(float)
        revenue[ORACLE] = joined[f"oracle_revenue_{h}d"].to_numpy(float)
        if f"oracle_revenue_{c}d" in truth.columns:
            clv[ORACLE] = joined[f"oracle_revenue_{c}d"].to_numpy(float)
    latent = f"latent_churn_probability_{h}d" if has_oracle else f"true_churn_probability_{h}d"
    if latent in truth.columns:  # retail: true_churn_probability is the latent state's
        churn[LATENT] = joined[latent].to_numpy(float)

    values: dict[str, dict[str, float]] = {m.key: {} for m in METRICS}
    for name, p in churn.items():
        m = evaluate_churn(y, p)
        values["churn_auc"][name] = m["roc_auc"]
        values["churn_brier"][name] = m["brier"]
    for name, pred in revenue.items():
        m = evaluate_revenue(actual_h, pred)
        values["revenue_spearman"][name] = m["spearman"]
        values["revenue_top10_capture"][name] = m["revenue_capture_top10"]
        values["revenue_total_error_pct"][name] = m["total_pred_vs_actual_pct"] - 100.0
    for name, pred in clv.items():
        m = evaluate_revenue(actual_c, pred)
        values["clv_spearman"][name] = m["spearman"]
        values["clv_total_error_pct"][name] = m["total_pred_vs_actual_pct"] - 100.0
    low, high = joined["clv_low"].to_numpy(float), joined["clv_high"].to_numpy(float)
    a = np.clip(actual_c, 0.0, None)
    inside = (a >= low - 1e-9) & (a <= high + 1e-9)
    values["clv_coverage"]["model"] = (
        float(np.mean(inside)) if np.isfinite(low).all() else float("nan")
    )
    blank_tx = blank[blank["customer_id"].isin(set(truth.loc[has_tx, "customer_id"]))]

    def zero_only(frame: pd.DataFrame) -> int | None:
        if "zero_amount_customer" not in frame.columns:
            return None
        return int(frame["zero_amount_customer"].astype(bool).sum())

    renewal, served_renewal = {}, ""
    if bundle is not None and getattr(bundle, "retention", None):
        renewal = renewal_errors(bundle, features, joined, truth, cutoff)
        served_renewal = bundle.retention.get("clv_method", "")
    return Quality(
        renewal=renewal,
        served_renewal=served_renewal,
        customers=len(joined),
        score_rows=len(scores),
        unscored=len(missing),
        unscored_ids=missing["customer_id"].tolist(),
        unscored_zero_only=zero_only(missing),
        scores_not_in_truth=len(scores) - len(joined) - len(blank),
        without_prediction=len(blank),
        without_prediction_with_transaction=len(blank_tx),
        without_prediction_zero_only=zero_only(blank_tx),
        churn_rate_observed=float(y.mean()),
        churn_rate_predicted=float(churn["model"].mean()),
        values=values,
    )


def renewal_errors(
    bundle: object,
    features: pd.DataFrame,
    joined: pd.DataFrame,
    truth: pd.DataFrame,
    cutoff: dt.date,
) -> dict[str, float]:
    """Total error % of the active subscribers' renewal revenue over the CLV horizon by each
    way the bundle can price it (``training.truth.renewal_totals``; the run's margin is 1 and
    no discounting, so the value is the revenue), and the generator's expectation's."""
    from training.truth import renewal_totals

    frame = features.set_index("customer_id").loc[joined["customer_id"]].reset_index()
    churn = joined["churn_probability"].to_numpy(float)
    totals = renewal_totals(bundle, frame, truth, churn, cutoff)  # type: ignore[arg-type]
    out = {m: 100 * (t["predicted"] / t["actual"] - 1) for m, t in (totals or {}).items()}
    if totals and np.isfinite(totals["churn_model"]["expected"]):
        served = totals["churn_model"]
        out[ORACLE] = 100 * (served["expected"] / served["actual"] - 1)
    return out


# --- targets --------------------------------------------------------------------------------


def targets(scenario: str, q: Quality) -> list[tuple[str, str, str, bool]]:
    """(RESULT name, value, target, met) for every target of the issue."""
    rows = []
    for key, fmt in (
        ("churn_auc", "{:+.4f}"),
        ("churn_brier", "{:+.4f}"),
        ("revenue_spearman", "{:+.4f}"),
        ("revenue_top10_capture", "{:+.4f}"),
    ):
        name, best = q.best_baseline(key)
        model = q.values[key]["model"]
        better = "<= 0 (lower is better)" if METRIC[key].sense == "lower" else ">= 0"
        rows.append(
            (
                f"quality.{scenario}.{key}_vs_best_baseline",
                f"{fmt.format(q.vs_best(key))} (model {model:.4f}, {name} {best:.4f})",
                f"{better}: served model not worse than the best baseline",
                q.model_not_worse(key),
            )
        )
    if any(ORACLE in q.values[k] for k in ("churn_auc", "revenue_spearman")):
        for key, label, tol, sign in (
            ("churn_auc", "auc_gap_to_oracle", 0.01, 1),
            ("churn_brier", "brier_gap_to_oracle", 0.005, -1),
            ("revenue_spearman", "spearman_gap_to_oracle", 0.02, 1),
        ):
            gap = sign * (q.oracle(key) - q.values[key]["model"])
            rows.append(
                (
                    f"quality.{scenario}.{label}",
                    f"{gap:+.4f} (model {q.values[key]['model']:.4f}, oracle {q.oracle(key):.4f})",
                    f"|gap| <= {tol:g}",
                    abs(gap) <= tol,
                )
            )
    for key, what in (("revenue_total_error_pct", "revenue"), ("clv_total_error_pct", "CLV")):
        v = q.values[key]["model"]
        rows.append(
            (f"quality.{scenario}.{key}", f"{v:+.1f}%", f"within +-5% ({what} total)", abs(v) <= 5)
        )
    if q.renewal:
        v = q.renewal[q.served_renewal]
        others = ", ".join(f"{k} {x:+.1f}%" for k, x in q.renewal.items() if k != q.served_renewal)
        rows.append(
            (
                f"quality.{scenario}.renewal_revenue_total_error_pct",
                f"{v:+.1f}% ({q.served_renewal} serves; {others})",
                "within +-5% (subscribers' renewal revenue over the CLV horizon)",
                abs(v) <= 5,
            )
        )
    cov = q.values["clv_coverage"]["model"]
    rows.append(
        (
            f"quality.{scenario}.clv_coverage",
            f"{cov:.1%}" if np.isfinite(cov) else "no CLV range (the model had no backtest)",
            "80% +- 5 points",
            abs(cov - 0.8) <= 0.05,
        )
    )
    rows.append(
        (
            f"quality.{scenario}.unscored_customers",
            f"{q.unscored:,}"
            + (f" ({q.unscored_zero_only:,} $0-only)" if q.unscored_zero_only else ""),
            "0 (every customer with a transaction gets a score row)",
            q.unscored == 0,
        )
    )
    return rows


# --- printing -------------------------------------------------------------------------------


def _fmt(key: str, v: float | None) -> str:
    if _nan(v):
        return "-"
    if key.endswith("_pct"):
        return f"{v:+.1f}%"
    if key in ("revenue_top10_capture", "clv_coverage"):
        return f"{v:.1%}"
    return f"{v:.4f}"


def _diff(key: str, v: float) -> str:
    if _nan(v):
        return "-"
    return f"{v:+.1f} pts" if key.endswith("_pct") else f"{v:+.4f}"


TARGET_TEXT = {
    "churn_auc": ">= best; oracle -0.01",
    "churn_brier": "<= best; oracle +0.005",
    "revenue_spearman": ">= best; oracle -0.02",
    "revenue_top10_capture": ">= best",
    "revenue_total_error_pct": "within +-5%",
    "clv_spearman": "(info)",
    "clv_total_error_pct": "within +-5%",
    "clv_coverage": "80% +- 5 pts",
}


def table(q: Quality) -> str:
    """The per-scenario table: model / the two baselines / best baseline / oracle / target."""
    head = ["metric", "model", "BTYD", "simple", "best baseline", "model-best", "oracle", "target"]
    rows = []
    for m in METRICS:
        vals = q.values[m.key]
        btyd = vals.get(BTYD_CHURN, vals.get(BTYD_REVENUE))
        simple = vals.get(CONSTANT_CHURN, vals.get(RUN_RATE))
        name, _ = q.best_baseline(m.key)
        diff = q.vs_best(m.key) if name else float("nan")
        rows.append(
            [
                m.label,
                _fmt(m.key, vals["model"]),
                _fmt(m.key, btyd),
                _fmt(m.key, simple),
                name or "-",
                _diff(m.key, diff),
                _fmt(m.key, vals.get(ORACLE)),
                TARGET_TEXT[m.key],
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if q.renewal:
        said = ", ".join(
            f"{'generator expectation' if k == ORACLE else k} {v:+.1f}%"
            + (" (serves)" if k == q.served_renewal else "")
            for k, v in q.renewal.items()
        )
        lines.append(f"subscribers' renewal revenue over the CLV horizon, total error: {said}")
    return "\n".join(lines)


# --- running the CLI ------------------------------------------------------------------------


def cli() -> list[str]:
    """The `churnclv` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "churnclv"
    return [str(script)] if script.exists() else [sys.executable, "-m", "churnclv.cli"]


def run_cli(args: list[str], log: Path) -> float:
    """Run `churnclv ARGS`, output to ``log``; wall seconds; SystemExit with the log's tail."""
    t0 = time.perf_counter()
    env = {**os.environ, "COLUMNS": "120"}
    with log.open("w") as out:
        code = subprocess.call([*cli(), *args], stdout=out, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - t0
    if code:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(f"`churnclv {' '.join(args)}` failed (exit code {code}):\n{tail}")
    return seconds


def write_config(folder: Path, scenario: str) -> Path:
    """The run's YAML config: the scenario's horizons, margin 1, no discount, own MLflow store."""
    sc = scenario_settings(scenario)
    path = folder / "config.yaml"
    path.write_text(
        f"data:\n  dir: {folder / 'data'}\n"
        f"output_dir: {folder / 'out'}\n"
        f"mlflow_tracking_uri: sqlite:///{folder / 'mlflow.db'}\n"
        f"churn_horizon_days: {sc.churn_horizon_days}\n"
        f"clv_horizon_days: {sc.clv_horizon_days}\n"
        f"gross_margin: {GROSS_MARGIN}\n"
        f"monthly_discount_rate: {MONTHLY_DISCOUNT_RATE}\n"
    )
    return path


def run_scenario(scenario: str, customers: int, seed: int = SEED) -> dict[str, object]:
    """Generate, train, score and build features through the CLI; evaluate; times in seconds."""
    folder = WORK / scenario
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = str(write_config(folder, scenario))
    data = folder / "data"
    times = {
        "demo-data": run_cli(
            [
                "demo-data",
                "--scenario",
                scenario,
                "--customers",
                str(customers),
                "--seed",
                str(seed),
                "--out",
                str(data),
            ],
            folder / "demo-data.log",
        )
    }
    for step in ("train", "score", "features"):
        times[step] = run_cli([step, "--config", config], folder / f"{step}.log")
    sc = scenario_settings(scenario)
    run = load_run(data, folder / "out")
    t0 = time.perf_counter()
    from model.bundle import ModelBundle

    quality = evaluate(
        run["scores"], run["features"], run["truth"], run["transactions"],
        sc.churn_horizon_days, sc.clv_horizon_days, run["subscriptions"],
        ModelBundle.load(folder / "out" / "model_bundle"),
    )  # fmt: skip
    times["evaluation"] = time.perf_counter() - t0
    return {"quality": quality, "times": times, **served(folder / "out")}


def report(scenario: str, customers: int, run: dict[str, object]) -> list[tuple]:
    """Print one scenario's block; return its target rows."""
    q: Quality = run["quality"]  # type: ignore[assignment]
    times: dict[str, float] = run["times"]  # type: ignore[assignment]
    sc = scenario_settings(scenario)
    print(f"\n== {scenario}: {sc.description}")
    print(
        f"{customers:,} customers generated; {q.score_rows:,} score rows, {q.customers:,} with a "
        f"prediction (evaluated), {q.without_prediction:,} without one ('No purchase yet'; "
        f"{q.without_prediction_with_transaction:,} of them have a transaction"
        + (
            f", {q.without_prediction_zero_only:,} $0-only"
            if q.without_prediction_zero_only is not None
            else ""
        )
        + f"); churn horizon {sc.churn_horizon_days} d, CLV horizon {sc.clv_horizon_days} d"
    )
    print(
        "wall: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
        + f" (CLI total {sum(v for k, v in times.items() if k != 'evaluation'):.1f} s)"
    )
    for kind, what in (("churn", "churn"), ("revenue", "revenue and CLV")):
        s = run["served"].get(kind, {})  # type: ignore[union-attr]
        print(f"served {what}: {s.get('candidate')} ({s.get('why')})")
    iv = run["clv_interval"]
    if iv:
        print(
            f"CLV interval: level {iv['level']:.0%}, backtest coverage {iv['coverage']:.1%} "
            f"over {iv['horizon_days']} days"
        )
    print(
        f"churn rate: observed {q.churn_rate_observed:.1%}, mean predicted "
        f"{q.churn_rate_predicted:.1%}; customers with a transaction but no score row: "
        f"{q.unscored:,}"
        + (f" (of them $0-only: {q.unscored_zero_only:,})" if q.unscored_zero_only else "")
        + (f", e.g. {', '.join(q.unscored_ids[:3])}" if q.unscored else "")
    )
    latent = q.values["churn_auc"].get(LATENT)
    if latent is not None:
        print(
            f"latent state (beyond any model): churn ROC-AUC {latent:.4f}, "
            f"Brier {q.values['churn_brier'][LATENT]:.4f}"
        )
    print(table(q))
    rows = targets(scenario, q)
    missed = [r[0].split(".", 2)[2] for r in rows if not r[3]]
    print(f"targets: {len(rows) - len(missed)}/{len(rows)} met" + (
        f"; missed: {', '.join(missed)}" if missed else ""))  # fmt: skip
    return rows


def sizes(args: argparse.Namespace) -> dict[str, int]:
    names = args.only or list(SCENARIOS)
    out = {}
    for name in names:
        n = args.customers or DEFAULT_CUSTOMERS.get(name, OTHER_CUSTOMERS)
        out[name] = max(10, round(n * args.scale))
    for item in args.size or []:
        name, _, n = item.partition("=")
        if name not in SCENARIOS or not n.isdigit():
            raise SystemExit(f"--size {item}: expected SCENARIO=CUSTOMERS")
        out[name] = int(n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--customers", type=int, help="customers of every scenario (default 20,000 btyd, "
        "10,000 the others)",
    )  # fmt: skip
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    parser.add_argument(
        "--size",
        action="append",
        metavar="SCENARIO=N",
        help="one scenario's size, e.g. --size btyd=50000",
    )
    parser.add_argument("--only", action="append", choices=list(SCENARIOS))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    plan = sizes(args)
    print(
        "scenarios: " + ", ".join(f"{k} {v:,}" for k, v in plan.items())
        + f" customers; seed {args.seed}; work folder {WORK.relative_to(ROOT)}"
    )  # fmt: skip
    t0 = time.perf_counter()
    all_rows = []
    for name, n in plan.items():
        run = run_scenario(name, n, args.seed)
        rows = report(name, n, run)
        cli_times = {k: v for k, v in run["times"].items() if k != "evaluation"}  # type: ignore[union-attr]
        wall = f"{sum(cli_times.values()):.0f} s ({n:,} customers: " + ", ".join(
            f"{k} {v:.0f} s" for k, v in cli_times.items()
        )
        all_rows += [*rows, (f"quality.{name}.wall_seconds", wall + ")", "(info)", None)]
    print()
    for name, value, target, met in all_rows:
        report_result(
            name, value if met is None else f"{value}: {'met' if met else 'MISSED'}", target
        )
    checked = [r for r in all_rows if r[3] is not None]
    print(
        f"\n{sum(r[3] for r in checked)}/{len(checked)} targets met over {len(plan)} scenarios "
        f"in {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
