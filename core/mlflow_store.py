"""Opening the MLflow store: a missing or damaged store is one clear error, not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class StoreError(UserError):
    """The MLflow store is missing or cannot be read; the message names it and what to do."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI, else None."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///"))
    return None


def open_store(tracking_uri: str, must_exist: bool) -> MlflowClient:
    """A client of the store at ``tracking_uri``, checked to answer.

    ``must_exist``: a store that is not there is an error (reading: score, serve) instead of
    being created empty (training creates it). A damaged database (not a database, malformed)
    or a store that cannot be reached is a :class:`StoreError`.
    """
    from mlflow.tracking import MlflowClient

    db = sqlite_path(tracking_uri)
    if must_exist and db is not None and not db.exists():  # MLflow would create an empty one
        raise StoreError(
            f"no MLflow store at {db} (mlflow_tracking_uri {tracking_uri}): run "
            "`churnclv train` (make train) first, or point mlflow_tracking_uri at the store"
        )
    try:
        client = MlflowClient(tracking_uri)
        client.search_registered_models(max_results=1)  # touches the store
    except Exception as exc:  # SQLAlchemy, MLflow and network errors all mean the same here
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise StoreError(
            f"the MLflow store {tracking_uri} cannot be read ({type(exc).__name__}: {first}); "
            "restore it from a backup or point mlflow_tracking_uri at a working store"
        ) from exc
    return client
