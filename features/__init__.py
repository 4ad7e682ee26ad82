"""Feature engine: input contract, point-in-time RFM and engagement features (Ibis).

Public API (imported lazily, so ``import features`` does not load Ibis)::

    build_features(tables, cutoff, backend=None, progress=None) -> DataFrame
    build_labels(tables, cutoff, horizon_days) -> DataFrame
    build_training_snapshots(tables, latest_cutoff=None, n_snapshots=6, step_days=30,
                             horizon_days=90) -> DataFrame
    feature_catalogue(include_optional=True) -> DataFrame;  catalogue_markdown() -> str
    to_ibis(tables, con=None), tables_from_parquet(...), make_backend(engine)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "build_features": "features.build",
    "build_labels": "features.labels",
    "LabelWindowError": "features.labels",
    "build_training_snapshots": "features.snapshots",
    "feature_catalogue": "features.catalogue",
    "catalogue_markdown": "features.catalogue",
    "to_ibis": "features.engine",
    "tables_from_parquet": "features.engine",
    "make_backend": "features.engine",
    "IbisTables": "features.engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'features' has no attribute {name!r}")
