"""MLflow: one run per training, models registered as churn_model and clv_model, promotion gate.

Gate: the new pair of versions gets the alias ``champion`` only if its backtest ROC-AUC (churn)
and Spearman (revenue) are not worse than the current champion's by more than the tolerances
in settings (model.gate_tolerance_auc, model.gate_tolerance_spearman); otherwise both get
``challenger`` and the run records why (tag ``promotion``).

The pair switches as a whole: after both aliases, a tag on ``churn_model`` records the pair in
one write (:func:`core.registry.pair_tag`); readers trust it first, and a registration stopped
between the two alias calls is repaired to the last complete pair by the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from core.faults import checkpoint
from core.mlflow_store import open_store
from core.registry import CHURN_MODEL, CLV_MODEL, pair_tag, pair_versions
from core.settings import Settings
from model.mlflow_pyfunc import BundleModel
from training.train import TrainingResult

EXPERIMENT = "churnclv"
GATED = {"churn": "roc_auc", "revenue": "spearman"}
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


def _headline(result: TrainingResult) -> dict[str, float] | None:
    """The gated metrics of the served candidates (None: nothing was backtested)."""
    if result.plan is None:
        return None
    churn = result.churn_metrics.set_index("model").loc[result.served["churn"]]
    revenue = result.revenue_metrics.set_index("model").loc[result.served["revenue"]]
    return {"churn": float(churn[GATED["churn"]]), "revenue": float(revenue[GATED["revenue"]])}


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


def gate(
    new: dict[str, float] | None, champion: dict[str, float] | None, settings: Settings
) -> tuple[bool, str]:
    """Decide promotion from headline backtest metrics; returns (promote?, reason).

    A model without a backtest (``new`` None, the label-free fallback) becomes champion only
    when there is none: it cannot show it is not worse than one that was tested.
    """
    if champion is None:
        return True, "no champion yet" + (" (this model has no backtest)" if new is None else "")
    if not champion:  # a label-free champion: anything newer replaces it
        return True, "the champion has no backtest"
    if new is None:
        return False, "not promoted: no backtest to compare with the champion's"
    tol = {
        "churn": settings.model.gate_tolerance_auc,
        "revenue": settings.model.gate_tolerance_spearman,
    }
    worse = [
        f"{kind} {GATED[kind]} {new[kind]:.4f} < champion {champion[kind]:.4f} - {tol[kind]}"
        for kind in GATED
        if new[kind] < champion[kind] - tol[kind]
    ]
    if worse:
        return False, "not promoted: " + "; ".join(worse)
    return True, (
        f"not worse than champion (churn {GATED['churn']} {new['churn']:.4f} vs "
        f"{champion['churn']:.4f}, revenue {GATED['revenue']} {new['revenue']:.4f} vs "
        f"{champion['revenue']:.4f})"
    )


def repair_pairs(client: MlflowClient) -> None:
    """Point both aliases of a pair at the versions its pair tag records, where a run was
    stopped between the two alias calls (see :func:`core.registry.pair_tag`)."""
    try:
        tags = client.get_registered_model(CHURN_MODEL).tags
    except mlflow.exceptions.MlflowException:
        return
    for alias in ("champion", "challenger"):
        pair = pair_versions(tags, alias)
        for name, version in (pair or {}).items():
            try:
                current = str(client.get_model_version_by_alias(name, alias).version)
            except mlflow.exceptions.MlflowException:
                current = None
            if current != version:
                client.set_registered_model_alias(name, alias, version)


def _set_pair(client: MlflowClient, alias: str, versions: dict[str, str]) -> None:
    """Both aliases, then the pair tag in one write (what readers trust)."""
    for name, version in versions.items():
        client.set_registered_model_alias(name, alias, version)
        checkpoint(f"train:{alias}-alias-set")
    client.set_registered_model_tag(CHURN_MODEL, pair_tag(alias), json.dumps(versions))


def _champion_metrics(client: MlflowClient) -> dict[str, float] | None:
    """The champion's gated metrics; None without a champion, {} when it has no backtest."""
    try:
        version = client.get_model_version_by_alias(CHURN_MODEL, "champion")
    except mlflow.exceptions.MlflowException:
        return None
    metrics = client.get_run(version.run_id).data.metrics
    try:
        return {kind: metrics[f"{kind}.served.{m}"] for kind, m in GATED.items()}
    except KeyError:
        return {}


def log_and_register(
    result: TrainingResult,
    settings: Settings,
    bundle_dir: Path,
    report_dir: Path,
) -> Registration:
    """Log the run (params, data summary, metrics, report, models) and apply the gate."""
    client = open_store(settings.mlflow_tracking_uri, must_exist=False)  # damaged: one line
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    repair_pairs(client)  # a registration stopped half-way is completed to its last pair
    champion = _champion_metrics(client)
    headline = _headline(result)
    promote, reason = gate(headline, champion, settings)
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
        mlflow.log_dict(result.data_summary, "data_summary.json")
        mlflow.log_metrics(_flat_metrics(result))
        mlflow.log_artifacts(str(report_dir), artifact_path="report")
        for note in result.notes:
            mlflow.set_tag("note", note)
        for kind, candidate in result.served.items():
            mlflow.set_tag(f"served.{kind}", candidate)
            mlflow.set_tag(f"served.{kind}.why", result.selection[kind])
        versions = {}
        for name, output in ((CHURN_MODEL, "churn"), (CLV_MODEL, "clv")):
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
                registered_model_name=name,
            )
            versions[name] = str(info.registered_model_version)
        mlflow.set_tag("promotion", reason)
        mlflow.log_text(
            json.dumps({"promoted": promote, "reason": reason, "versions": versions}),
            "promotion.json",
        )
    _set_pair(client, "champion" if promote else "challenger", versions)
    return Registration(run_id=run.info.run_id, versions=versions, promoted=promote, reason=reason)


def log_report(settings: Settings, run_id: str, report_dir: Path) -> None:
    """Replace the training run's report artifacts (the report rewritten with the versions)."""
    client = open_store(settings.mlflow_tracking_uri, must_exist=True)
    client.log_artifacts(run_id, str(report_dir), artifact_path="report")
