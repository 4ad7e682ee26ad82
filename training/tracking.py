"""MLflow: one run per training, models registered as churn_model and clv_model.

The new pair of versions gets the alias ``champion`` when the gate (:mod:`training.promotion`,
like with like on this run's test snapshot) says so, else ``challenger``; the run records why
(tag ``promotion``). An experiment (``churnclv train --experiment NAME``) logs into its own
MLflow experiment and registers nothing.

The pair switches as a whole: after both aliases, a tag on ``churn_model`` records the pair in
one write (:func:`core.registry.pair_tag`); readers trust it first, and a registration stopped
between the two alias calls is repaired to the last complete pair by the next one.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from core.mlflow_store import open_store
from core.registry import CHURN_MODEL, CLV_MODEL, RegisteredPair
from core.settings import Settings
from model.mlflow_pyfunc import BundleModel
from training.promotion import decide, make_champion, repair_pairs, run_identity, set_pair
from training.train import TrainingResult

EXPERIMENT = "churnclv"
_ROOT = Path(__file__).resolve().parents[1]
_REQUIREMENTS = ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn", "pyarrow")


@dataclass(frozen=True)
class Registration:
    """Outcome of a training run's registration."""

    run_id: str
    versions: dict[str, str]
    promoted: bool
    reason: str


def registry_lock(tracking_uri: str) -> Path | None:
    """The lock file that keeps registrations into one MLflow store apart (a SQLite file or a
    local folder); None for a tracking server, which orders its own writes."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///") + ".lock")
    if "://" not in tracking_uri or tracking_uri.startswith("file://"):
        return Path(tracking_uri.removeprefix("file://")) / ".churnclv.lock"
    return None


def _pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in _REQUIREMENTS]


def _flat_metrics(result: TrainingResult) -> dict[str, float]:
    out = {}
    for kind, table in (("churn", result.churn_metrics), ("revenue", result.revenue_metrics)):
        for _, row in table.iterrows():
            for metric, value in row.drop("model").items():
                if pd.notna(value):
                    out[f"{kind}.{row['model']}.{metric}"] = float(value)
                    if row["model"] == result.served[kind]:
                        out[f"{kind}.served.{metric}"] = float(value)
    if result.clv_check is not None:
        for _, row in result.clv_check.metrics.iterrows():
            for metric, value in row.drop("model").items():
                if pd.notna(value):
                    out[f"clv.{row['model']}.{metric}"] = float(value)
        out["clv.interval_coverage"] = result.clv_check.interval.coverage
    return out


def log_and_register(
    result: TrainingResult,
    settings: Settings,
    bundle_dir: Path,
    experiment: str | None = None,
) -> Registration:
    """Log the run (params, data summary, metrics, models) and apply the gate; the training
    report, which names the versions and the decision, is logged after by :func:`log_report`.

    ``experiment``: log into that MLflow experiment and register nothing (no version, no alias
    touched): a try-out beside production.
    """
    client = open_store(settings.mlflow_tracking_uri, must_exist=False)  # damaged: one line
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(experiment or EXPERIMENT)
    identity = run_identity(settings)
    if experiment:
        promote, reason = False, f"experiment '{experiment}': not registered"
    else:
        repair_pairs(client)  # a registration stopped half-way is completed to its last pair
        promote, reason = decide(client, result, settings, identity)
    # integer counts as floats: scoring frames may carry missing values in any column
    example = result.test_frame[["customer_id", *result.bundle.spec.columns]].head(5)
    example = example.astype({c: "float64" for c in example.select_dtypes("integer").columns})
    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "churn_horizon_days": settings.churn_horizon_days,
                "label_horizon_days": result.bundle.label_horizon_days,
                "clv_horizon_days": settings.clv_horizon_days,
                "gross_margin": settings.gross_margin,
                "monthly_discount_rate": settings.monthly_discount_rate,
                "seed": settings.model.seed,
                "n_snapshots": len(result.plan.fit_cutoffs) if result.plan else 0,
                "snapshot_step_days": settings.model.snapshot_step_days,
                **{f"lgbm.{k}": v for k, v in settings.model.lightgbm.items()},
                **{
                    f"data.{k}": v
                    for k, v in result.data_summary.items()
                    if not isinstance(v, list)
                },
            }
        )
        mlflow.set_tags(identity.tags())
        mlflow.log_dict(result.data_summary, "data_summary.json")
        mlflow.log_metrics(_flat_metrics(result))
        for note in result.notes:
            mlflow.set_tag("note", note)
        for kind, candidate in result.served.items():
            mlflow.set_tag(f"served.{kind}", candidate)
            mlflow.set_tag(f"served.{kind}.why", result.selection[kind])
        versions = {}
        for name, output in ((CHURN_MODEL, "churn"), (CLV_MODEL, "clv")):
            with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints each registration
                info = mlflow.pyfunc.log_model(
                    name=name,
                    python_model=BundleModel(output),
                    artifacts={"bundle": str(bundle_dir)},
                    code_paths=[str(_ROOT / "model")],  # all the pyfunc needs
                    signature=infer_signature(
                        example,
                        result.bundle.predict_frame(example, output),
                        params={"scoring_date": ""},  # YYYY-MM-DD; empty: the training data's end
                    ),
                    input_example=example,
                    pip_requirements=_pip_requirements(),
                    registered_model_name=None if experiment else name,
                )
            if not experiment:
                versions[name] = str(info.registered_model_version)
        mlflow.set_tag("promotion", reason)
        mlflow.log_text(
            json.dumps({"promoted": promote, "reason": reason, "versions": versions}),
            "promotion.json",
        )
    if promote:
        make_champion(client, RegisteredPair(versions, run.info.run_id), reason)
    elif versions:
        set_pair(client, "challenger", versions)
    return Registration(run_id=run.info.run_id, versions=versions, promoted=promote, reason=reason)


def log_report(settings: Settings, run_id: str, report_dir: Path) -> None:
    """Log the training report (written once the versions and the decision are known) as the
    run's ``report`` artifacts."""
    client = open_store(settings.mlflow_tracking_uri, must_exist=True)
    client.log_artifacts(run_id, str(report_dir), artifact_path="report")
