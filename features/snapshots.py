"""Training snapshots: features + labels at several cutoffs stepping back in time.

Cutoffs are ``latest, latest - step, latest - 2*step, ...`` (``n_snapshots`` of them), where
``latest`` defaults to the latest usable cutoff ``data end - horizon_days``. A cutoff whose
label window would run past the data end is refused with :class:`LabelWindowError`.
Each snapshot holds the customers with a purchase at or before its cutoff (those that have
labels); rows are sorted by cutoff (oldest first), then customer_id.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.build import ProgressCallback, build_features, progress_callback
from features.context import CutoffLike, as_date
from features.engine import IbisTables, to_ibis
from features.labels import build_labels, check_label_window, data_end_date

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from features.contract import InputTables


def snapshot_cutoffs(
    data_end: dt.date,
    latest_cutoff: CutoffLike | None,
    n_snapshots: int,
    step_days: int,
    horizon_days: int,
) -> list[dt.date]:
    """The snapshot cutoffs, oldest first; raises LabelWindowError if the latest is too late."""
    if n_snapshots < 1:
        raise ValueError(f"n_snapshots must be at least 1, got {n_snapshots}")
    if step_days < 1:
        raise ValueError(f"step_days must be at least 1, got {step_days}")
    usable = data_end - dt.timedelta(days=horizon_days)
    latest = usable if latest_cutoff is None else as_date(latest_cutoff)
    check_label_window(latest, horizon_days, data_end)
    return [latest - dt.timedelta(days=step_days * i) for i in reversed(range(n_snapshots))]


def build_training_snapshots(
    tables: InputTables | IbisTables,
    latest_cutoff: CutoffLike | None = None,
    n_snapshots: int = 6,
    step_days: int = 30,
    horizon_days: int = 90,
    backend: BaseBackend | None = None,
    progress: ProgressCallback | Any | None = None,
) -> pd.DataFrame:
    """Stack ``cutoff``, features and labels (``churned``, ``future_revenue``) at each cutoff.

    ``cutoff`` is a ``datetime64[us]`` column (midnight of the cutoff day).
    """
    ibis_tables = to_ibis(tables, backend)
    cutoffs = snapshot_cutoffs(
        data_end_date(ibis_tables), latest_cutoff, n_snapshots, step_days, horizon_days
    )
    report = progress_callback(progress)
    parts = []
    for i, cutoff in enumerate(cutoffs, start=1):
        feats = build_features(ibis_tables, cutoff)
        labels = build_labels(ibis_tables, cutoff, horizon_days, check_window=False)
        part = feats.merge(labels, on="customer_id", how="inner", validate="one_to_one")
        part.insert(0, "cutoff", pd.Series(pd.Timestamp(cutoff), index=part.index))
        parts.append(part)
        report(f"snapshot {cutoff}", i, len(cutoffs))
    out = pd.concat(parts, ignore_index=True)
    out["cutoff"] = out["cutoff"].astype("datetime64[us]")
    return out
