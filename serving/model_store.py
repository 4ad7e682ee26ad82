"""Fetch the champion model bundle from the MLflow registry.

Both registered models (``churn_model``, ``clv_model``) carry the same bundle from one training
run; scoring refuses a pair whose versions come from different runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.mlflow_store import open_store
from core.registry import (
    CHURN_MODEL,
    CLV_MODEL,
    ModelNotFoundError,
    download_bundle,
    registered_pair,
)
from model.bundle import BundleFormatError, ModelBundle


@dataclass(frozen=True)
class LoadedModels:
    bundle: ModelBundle
    versions: dict[str, str]
    run_id: str
    path: Path


def load_registered(
    tracking_uri: str, alias: str = "champion", dest: Path | None = None
) -> LoadedModels:
    """Download and load the bundle of the ``alias`` pair of churn_model and clv_model."""
    client = open_store(tracking_uri, must_exist=True)
    pair = download_bundle(registered_pair(client, alias, tracking_uri), tracking_uri, dest)
    try:
        bundle = ModelBundle.load(pair.path)
    except BundleFormatError:
        raise ModelNotFoundError(
            f"the '{alias}' models ({CHURN_MODEL} v{pair.versions[CHURN_MODEL]}) were trained "
            "by an older churnclv that wrote another bundle format: run `churnclv train` (a "
            "new run replaces such a champion), or `churnclv promote VERSION` a newer version"
        ) from None
    return LoadedModels(bundle, pair.versions, pair.run_id, pair.path)


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
