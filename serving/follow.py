"""What the service should be serving: the registry's champion pair, beside the published
score run (:func:`core.runs.current_run_id`). The service compares both with what it serves and
swaps what changed (:meth:`serving.service.ChurnCLV.reload`), on a timer and on
``POST /admin/reload``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from model.bundle import ModelBundle

logger = logging.getLogger("churnclv.follow")


@dataclass(frozen=True)
class ServedModels:
    """The bundle the service scores with and its registry versions: swapped as one object, so
    a request never pairs one model's bundle with another's versions."""

    bundle: ModelBundle
    versions: dict[str, str]


def champion_versions(tracking_uri: str) -> dict[str, str] | None:
    """The champion pair's versions in the registry; None when it cannot be read now (the
    service keeps what it serves and logs why)."""
    from core.mlflow_store import open_store
    from core.registry import registered_pair

    try:
        client = open_store(tracking_uri, must_exist=True)
        return registered_pair(client, "champion", tracking_uri).versions
    except Exception as exc:  # noqa: BLE001 - a store being written or gone: try again later
        logger.warning("champion not read from %s: %s", tracking_uri, exc)
        return None


class ChampionWatch:
    """:func:`champion_versions` for the service's timer, read again only when the registry
    may have changed: for a SQLite store, when its database file (or its write-ahead log) has
    another modification time or size than at the last read. Reading the registry through
    MLflow's client holds the interpreter for about 10 ms, which every check added to the
    requests being scored then (``bench/bench_service.py``); other stores are always read."""

    def __init__(self, tracking_uri: str) -> None:
        from core.mlflow_store import sqlite_path

        self.tracking_uri = tracking_uri
        db = sqlite_path(tracking_uri)
        self._files = () if db is None else (db, db.with_name(db.name + "-wal"))
        self._seen: tuple | None = None
        self._versions: dict[str, str] | None = None

    def versions(self, fresh: bool = False) -> dict[str, str] | None:
        """The champion pair's versions (None when it cannot be read now); ``fresh``: read
        the registry whatever the files say."""
        seen = self._signature()
        if fresh or seen is None or seen != self._seen or self._versions is None:
            self._versions = champion_versions(self.tracking_uri)
            self._seen = seen
        return self._versions

    def _signature(self) -> tuple | None:
        if not self._files:
            return None
        out = []
        for path in self._files:
            try:
                st = path.stat()
            except FileNotFoundError:
                out.append(None)
            else:
                out.append((st.st_mtime_ns, st.st_size))
        return tuple(out)


def load_champion(tracking_uri: str) -> ServedModels:
    """Import the registry's champion into the BentoML store (once per pair) and load it."""
    from serving.model_store import import_to_bentoml, load_from_bentoml

    model = import_to_bentoml(tracking_uri)
    served = ServedModels(*load_from_bentoml(str(model.tag)))
    served.bundle.explainer()  # built here, before the swap, not in the first request
    return served
