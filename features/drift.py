"""Feature drift: population stability index (PSI) against the training snapshot.

The reference (bin edges and shares per feature) is fitted in training and stored with the
model; scoring compares the batch with it. PSI = sum((a - e) * ln(a / e)) over bins, with a
separate bin for missing values. Usual reading: < 0.1 stable, 0.1-0.25 warn, > 0.25 flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

WARN_PSI = 0.1
FLAG_PSI = 0.25
_EPS = 1e-4
AGES_WITH_TIME = ("tenure_days", "btyd_T", "signup_age_days")
"""Features that grow with calendar time by construction: every customer is older at a later
scoring date, so a stable business would "drift" on them on every run. They are listed with
status ``not compared`` instead of a PSI."""
NOT_COMPARED = "not compared (grows with calendar time)"


def _numeric_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges), values[~missing], side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return np.append(counts, missing.sum())


def _category_counts(values: pd.Series, levels: list[str]) -> np.ndarray:
    text = values.astype("str").where(values.notna())
    counts = [int((text == lv).sum()) for lv in levels]
    other = int((text.notna() & ~text.isin(levels)).sum())
    return np.array([*counts, other, int(text.isna().sum())])


def _numeric_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    return _numeric_counts(values, edges) / max(len(values), 1)


def _category_shares(values: pd.Series, levels: list[str]) -> np.ndarray:
    return _category_counts(values, levels) / max(len(values), 1)


def fit_drift_reference(frame: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Decile edges (numeric) or levels (text) and their shares, per feature column."""
    ref: dict[str, Any] = {}
    for col in columns:
        s = frame[col]
        if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            levels = sorted(str(v) for v in s.dropna().unique())
            ref[col] = {"levels": levels, "shares": _category_shares(s, levels).tolist()}
        else:
            v = s.astype("float64").to_numpy()
            finite = v[~np.isnan(v)]
            edges = (
                np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9))).tolist()
                if len(finite)
                else []
            )
            ref[col] = {"edges": edges, "shares": _numeric_shares(v, edges).tolist()}
    return ref


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def count_bins(frame: pd.DataFrame, reference: dict[str, Any]) -> dict[str, np.ndarray]:
    """Customers per reference bin (missing values last) of each compared feature of
    ``frame``: counts of chunks add up, so a batch scored in chunks gets the same PSI."""
    counts = {}
    for col, ref in reference.items():
        if col not in frame.columns or col in AGES_WITH_TIME:
            continue
        if "levels" in ref:
            counts[col] = _category_counts(frame[col], ref["levels"])
        else:
            counts[col] = _numeric_counts(frame[col].astype("float64").to_numpy(), ref["edges"])
    return counts


def evaluate_drift(frame: pd.DataFrame, reference: dict[str, Any]) -> pd.DataFrame:
    """PSI per feature of ``frame`` against the reference, with status ok / warn / flag
    (:data:`AGES_WITH_TIME` listed as not compared)."""
    present = {col: ref for col, ref in reference.items() if col in frame.columns}
    return drift_from_counts(count_bins(frame, present), len(frame), present)


def drift_from_counts(
    counts: dict[str, np.ndarray], customers: int, reference: dict[str, Any]
) -> pd.DataFrame:
    """:func:`evaluate_drift` from :func:`count_bins` totals over ``customers``."""
    rows = []
    for col, ref in reference.items():
        if col in AGES_WITH_TIME:
            rows.append({"feature": col, "psi": np.nan, "status": NOT_COMPARED})
            continue
        if col not in counts:
            continue
        value = psi(ref["shares"], counts[col] / max(customers, 1))
        status = "flag" if value >= FLAG_PSI else "warn" if value >= WARN_PSI else "ok"
        rows.append({"feature": col, "psi": value, "status": status})
    out = pd.DataFrame(rows, columns=["feature", "psi", "status"])
    return out.sort_values("psi", ascending=False, ignore_index=True, na_position="last")
