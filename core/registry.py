"""The MLflow model registry as churnclv uses it: two registered models, aliases set in pairs.

Every training run that registers logs the same bundle twice, as ``churn_model`` and
``clv_model``; the aliases ``champion`` and ``challenger`` name a *pair* of versions from one
run. The two alias calls are two writes, so after both a tag on ``churn_model`` records the
pair in one write (:func:`pair_tag`) and readers trust it first: a registration stopped between
the two calls leaves the previous complete pair in force.

Training (registering, the gate, promote and roll back) and serving (loading the champion) both
read the registry through this module, so neither imports the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from core.mlflow_store import StoreError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

CHURN_MODEL = "churn_model"  # registered model names in MLflow
CLV_MODEL = "clv_model"
MODELS = (CHURN_MODEL, CLV_MODEL)


class ModelNotFoundError(UserError, LookupError):
    """No model with the requested alias or version is registered."""


def pair_tag(alias: str) -> str:
    """The tag of ``churn_model`` that records the ``alias`` pair as one value."""
    return f"churnclv.pair.{alias}"


def pair_versions(tags: dict[str, str], alias: str) -> dict[str, str] | None:
    """The versions of the ``alias`` pair recorded in ``churn_model``'s tags, if any."""
    raw = tags.get(pair_tag(alias))
    if not raw:
        return None
    pair = json.loads(raw)
    return {CHURN_MODEL: str(pair[CHURN_MODEL]), CLV_MODEL: str(pair[CLV_MODEL])}


@dataclass(frozen=True)
class RegisteredPair:
    """A pair of registered versions from one training run, and where its bundle was put."""

    versions: dict[str, str]
    run_id: str
    path: Path | None = None
    """The bundle folder once downloaded (:func:`download_bundle`)."""


def registered_pair(client: MlflowClient, alias: str, tracking_uri: str) -> RegisteredPair:
    """The ``alias`` pair (the pair tag first, else the two aliases); ModelNotFoundError when
    there is none or its two versions come from different runs."""
    from mlflow.exceptions import MlflowException

    try:
        pair = pair_versions(client.get_registered_model(CHURN_MODEL).tags, alias)
    except MlflowException:
        pair = None
    versions, runs = {}, set()
    for name in MODELS:
        try:
            if pair is not None:
                mv = client.get_model_version(name, pair[name])
            else:
                mv = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            raise ModelNotFoundError(
                f"no '{alias}' version of {name} in the MLflow store {tracking_uri}: "
                "run `churnclv train` (make train) first"
            ) from None
        versions[name] = str(mv.version)
        runs.add(mv.run_id)
    if len(runs) != 1:
        raise ModelNotFoundError(
            f"the '{alias}' versions of {CHURN_MODEL} and {CLV_MODEL} come from different "
            f"training runs {sorted(runs)}; re-run training to register a consistent pair"
        )
    return RegisteredPair(versions, runs.pop())


def version_pair(client: MlflowClient, version: str, tracking_uri: str) -> RegisteredPair:
    """The pair that ``churn_model`` version ``version`` was registered with (same run)."""
    from mlflow.exceptions import MlflowException

    try:
        churn = client.get_model_version(CHURN_MODEL, str(version))
    except MlflowException:
        raise ModelNotFoundError(
            f"no version {version} of {CHURN_MODEL} in the MLflow store {tracking_uri}: "
            "`churnclv models` lists them"
        ) from None
    clv = client.search_model_versions(f"name='{CLV_MODEL}' and run_id='{churn.run_id}'")
    if len(clv) != 1:
        raise ModelNotFoundError(
            f"{CHURN_MODEL} v{version} has no {CLV_MODEL} version from the same training run"
        )
    return RegisteredPair({CHURN_MODEL: str(version), CLV_MODEL: str(clv[0].version)}, churn.run_id)


def download_bundle(
    pair: RegisteredPair, tracking_uri: str, dest: Path | None = None
) -> RegisteredPair:
    """The pair with its bundle folder downloaded (into ``dest``, else a temporary folder)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    version = pair.versions[CLV_MODEL]
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{CLV_MODEL}/{version}", dst_path=str(dest) if dest else None
        )
        path = _bundle_path(Path(local))
    except (MlflowException, OSError, KeyError) as exc:
        raise StoreError(
            f"the files of {CLV_MODEL} v{version} cannot be read from the MLflow store "
            f"{tracking_uri} ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}): "
            "its artifact folder (mlruns/) may be missing; restore it or retrain"
        ) from exc
    return RegisteredPair(pair.versions, pair.run_id, path)


def _bundle_path(model_dir: Path) -> Path:
    """The bundle folder of a logged pyfunc model, as recorded in its MLmodel file."""
    import yaml

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    artifacts = mlmodel["flavors"]["python_function"]["artifacts"]
    return model_dir / artifacts["bundle"]["path"]
