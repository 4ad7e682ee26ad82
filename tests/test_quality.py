"""Served model vs the best label-free baseline on small stress scenarios, on held-out truth.

Small versions of ``bench/bench_quality.py`` (same evaluation function): each scenario is
generated, loaded by the real loader, trained by ``training.train.train_models`` and scored by
``churnclv.pipeline.run_scoring`` (the code behind ``churnclv score``; only the MLflow fetch
is replaced by the bundle written and read back from its files), features at the data end by
``run_features``. Measured on what the generator simulated after the data end:

* the served model is not worse than the best baseline (BG/NBD + Gamma-Gamma fitted at the data
  end, last-year run rate, churn-rate constant) beyond :data:`TOLERANCE`;
* on ``btyd`` it is within the issue's distance of the Bayes-optimal oracle;
* every customer with a transaction gets a score row.

Cases failing with the current code are ``xfail(strict=True)`` with the measured numbers, so a
fix shows up as XPASS (then remove the mark); the tolerances are never loosened to pass.
At 3,000 customers none fails (2026-11-30); at 2,000 the short scenario's top-10% revenue
capture did (lightgbm 33.6% vs BG/NBD + Gamma-Gamma 37.9%; 1,752 customers, so 175 in the
top 10%), while at 3,000 and 10,000 it is within 0.002 of it.

Time: 13-34 s per scenario on 2 cores (106 s in all), nearly all training, whose cost is per cutoff
(snapshots, CLV check, refit) and hardly depends on the number of customers.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

SEED = 7
CUSTOMERS: dict[str, int] = {}  # per scenario, else DEFAULT_CUSTOMERS
DEFAULT_CUSTOMERS = 3000  # training time hardly depends on it (fixed cost per cutoff)
SCENARIOS = (
    "btyd",
    "short",
    "launch",
    "transactions-only",
    "zero-amounts",
    "trend",
    "own-columns",
    "subscription",
)
TOLERANCE = {
    # how much worse than the best baseline the served model may be, on a few thousand
    # customers (higher is better for all but Brier)
    "churn_auc": 0.01,
    "churn_brier": 0.005,
    "revenue_spearman": 0.02,
    "revenue_top10_capture": 0.02,
}
ORACLE_TOLERANCE = {"churn_auc": 0.01, "churn_brier": 0.005, "revenue_spearman": 0.02}
XFAIL: dict[tuple[str, str], str] = {}
"""(scenario, check) -> reason with the measured numbers, for cases failing with the current
code (check: a TOLERANCE key, "oracle_<metric>" or "score_rows")."""


def _bench_quality():  # noqa: ANN202
    sys.path.insert(0, str(ROOT / "bench"))
    return importlib.import_module("bench_quality")


bq = _bench_quality()


def _run(name: str, folder: Path) -> bq.Quality:
    """Generate, train, score and build features in-process; evaluate as the bench does."""
    from rich.console import Console

    from churnclv.console import Reporter
    from churnclv.demo_data import write_demo_data
    from churnclv.pipeline import run_features, run_scoring
    from churnclv.scenarios import generate_scenario, scenario_settings
    from core.settings import load_settings
    from features.loader import load_tables
    from model.bundle import ModelBundle
    from serving import model_store
    from training.train import train_models

    sc = scenario_settings(name)
    data_dir, out_dir = folder / "data", folder / "out"
    n = CUSTOMERS.get(name, DEFAULT_CUSTOMERS)
    write_demo_data(generate_scenario(name, n, seed=SEED), data_dir, fmt="parquet")
    settings = load_settings(
        None,
        {
            "data.dir": str(data_dir),
            "output_dir": str(out_dir),
            "mlflow_tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
            "churn_horizon_days": sc.churn_horizon_days,
            "clv_horizon_days": sc.clv_horizon_days,
            "gross_margin": bq.GROSS_MARGIN,
            "monthly_discount_rate": bq.MONTHLY_DISCOUNT_RATE,
        },
    )
    result = train_models(load_tables(settings.data).tables, settings)
    bundle_dir = result.bundle.save(out_dir / "model_bundle")
    loaded = model_store.LoadedModels(
        ModelBundle.load(bundle_dir), {"churn_model": "1", "clv_model": "1"}, "test", bundle_dir
    )
    reporter = Reporter(Console(quiet=True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model_store, "load_registered", lambda *_a, **_k: loaded)
        run_scoring(settings, reporter)
    run_features(settings, reporter)
    run = bq.load_run(data_dir, out_dir)
    q = bq.evaluate(
        run["scores"],
        run["features"],
        run["truth"],
        run["transactions"],
        sc.churn_horizon_days,
        sc.clv_horizon_days,
        run["subscriptions"],
        result.bundle,
    )
    print(f"\n== {name} ({n:,} customers), served {result.served}\n{bq.table(q)}")
    return q


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], bq.Quality]:
    """Each scenario run once per module, on first use (a failure is kept and raised again)."""
    cache: dict[str, bq.Quality | Exception] = {}

    def get(name: str) -> bq.Quality:
        if name not in cache:
            try:
                cache[name] = _run(name, tmp_path_factory.mktemp(name))
            except Exception as exc:  # noqa: BLE001 - every test of the scenario reports it
                cache[name] = exc
        got = cache[name]
        if isinstance(got, Exception):
            raise got
        return got

    return get


def _cases(checks: list[str], scenarios: tuple[str, ...] = SCENARIOS) -> list:
    return [
        pytest.param(
            s,
            c,
            id=f"{s}-{c}",
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL[s, c])] if (s, c) in XFAIL else [],
        )
        for s in scenarios
        for c in checks
    ]


@pytest.mark.parametrize(("scenario", "metric"), _cases(list(TOLERANCE)))
def test_served_model_is_not_worse_than_the_best_baseline(
    quality: Callable[[str], bq.Quality], scenario: str, metric: str
) -> None:
    q = quality(scenario)
    name, best = q.best_baseline(metric)
    model = q.values[metric]["model"]
    assert q.model_not_worse(metric, TOLERANCE[metric]), (
        f"{scenario} {metric}: model {model:.4f} vs best baseline {name} {best:.4f} "
        f"(tolerance {TOLERANCE[metric]})"
    )


@pytest.mark.parametrize(
    ("scenario", "check"), _cases([f"oracle_{m}" for m in ORACLE_TOLERANCE], ("btyd",))
)
def test_btyd_served_model_is_near_the_oracle(
    quality: Callable[[str], bq.Quality], scenario: str, check: str
) -> None:
    metric = check.removeprefix("oracle_")
    q = quality(scenario)
    model, oracle = q.values[metric]["model"], q.oracle(metric)
    assert abs(model - oracle) <= ORACLE_TOLERANCE[metric], (
        f"{metric}: model {model:.4f} vs oracle {oracle:.4f} (tolerance {ORACLE_TOLERANCE[metric]})"
    )


@pytest.mark.parametrize(("scenario", "check"), _cases(["renewal"], ("subscription",)))
def test_subscribers_renewal_revenue_is_within_5_percent_of_the_truth(
    quality: Callable[[str], bq.Quality], scenario: str, check: str
) -> None:
    q = quality(scenario)
    assert abs(q.renewal[q.served_renewal]) <= 5.0, q.renewal


@pytest.mark.parametrize(("scenario", "check"), _cases(["score_rows"]))
def test_every_customer_with_a_transaction_gets_a_score_row(
    quality: Callable[[str], bq.Quality], scenario: str, check: str
) -> None:
    q = quality(scenario)
    assert q.scores_not_in_truth == 0
    assert q.unscored == 0, (
        f"{q.unscored} customers with a transaction have no score row"
        + (f" ({q.unscored_zero_only} of them $0-only)" if q.unscored_zero_only else "")
        + f", e.g. {q.unscored_ids[:5]}"
    )
