"""Fetch the champion model bundle from the MLflow registry.

Both registered models (``churn_model``, ``clv_model``) carry the same bundle from one training
run; scoring refuses a pair whose versions come from different runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.mlflow_store import StoreError, open_store
from model.bundle import CHURN_MODEL, CLV_MODEL, ModelBundle, pair_versions


class ModelNotFoundError(UserError, LookupError):
    """No model with the requested alias is registered."""


@dataclass(frozen=True)
class LoadedModels:
    bundle: ModelBundle
    versions: dict[str, str]
    run_id: str
    path: Path


def load_registered(
    tracking_uri: str, alias: str = "champion", dest: Path | None = None
) -> LoadedModels:
    """Download the bundle of the ``alias`` versions of churn_model and clv_model."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = open_store(tracking_uri, must_exist=True)
    versions = {}
    runs = set()
    try:  # the pair recorded in one write wins over the two aliases (see model.bundle.pair_tag)
        pair = pair_versions(client.get_registered_model(CHURN_MODEL).tags, alias)
    except MlflowException:
        pair = None
    for name in (CHURN_MODEL, CLV_MODEL):
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
    mlflow.set_tracking_uri(tracking_uri)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{CLV_MODEL}/{versions[CLV_MODEL]}",
            dst_path=str(dest) if dest else None,
        )
        path = _bundle_path(Path(local))
    except (MlflowException, OSError, KeyError) as exc:
        raise StoreError(
            f"the files of {CLV_MODEL} v{versions[CLV_MODEL]} cannot be read from the MLflow "
            f"store {tracking_uri} ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}): "
            "its artifact folder (mlruns/) may be missing; restore it or retrain"
        ) from exc
    return LoadedModels(ModelBundle.load(path), versions, runs.pop(), path)


def _bundle_path(model_dir: Path) -> Path:
    """The bundle folder of a logged pyfunc model, as recorded in its MLmodel file."""
    import yaml

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    artifacts = mlmodel["flavors"]["python_function"]["artifacts"]
    return model_dir / artifacts["bundle"]["path"]


BENTO_MODEL = "churnclv"


def import_to_bentoml(tracking_uri: str, alias: str = "champion"):  # noqa: ANN201 - bentoml.Model
    """Copy the registered ``alias`` bundle into the BentoML model store (once per version pair).

    The service then loads from the BentoML store only: serving does not need the MLflow
    tracking store at run time.
    """
    import shutil

    import bentoml
    from bentoml.exceptions import NotFound

    loaded = load_registered(tracking_uri, alias)
    version = f"c{loaded.versions[CHURN_MODEL]}-v{loaded.versions[CLV_MODEL]}-{loaded.run_id[:12]}"
    try:
        return bentoml.models.get(f"{BENTO_MODEL}:{version}")
    except NotFound:
        pass
    with bentoml.models.create(
        f"{BENTO_MODEL}:{version}",
        metadata={"versions": loaded.versions, "run_id": loaded.run_id, "alias": alias},
        labels={"source": "mlflow"},
    ) as model:
        shutil.copytree(loaded.path, model.path_of("bundle"))
    return bentoml.models.get(f"{BENTO_MODEL}:{version}")


def load_from_bentoml(tag: str = f"{BENTO_MODEL}:latest") -> tuple[ModelBundle, dict[str, str]]:
    """The bundle and its registry versions from the BentoML model store."""
    import bentoml

    model = bentoml.models.get(tag)
    return ModelBundle.load(Path(model.path_of("bundle"))), dict(model.info.metadata["versions"])
