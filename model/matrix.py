"""From a feature frame to the model's input matrix, identically in training and scoring.

The spec (columns, order, category levels) is fitted once on training data and stored with the
model; scoring applies the stored spec, never one recomputed from the batch being scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NON_FEATURES = ("customer_id", "cutoff", "churned", "future_revenue")


@dataclass(frozen=True)
class FeatureSpec:
    """Model input columns in order; text columns become categories with fixed levels."""

    columns: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, exclude: tuple[str, ...] = NON_FEATURES) -> FeatureSpec:
        """Learn columns and category levels (sorted, so row order does not matter)."""
        columns = [c for c in frame.columns if c not in exclude]
        categories = {}
        for col in columns:
            s = frame[col]
            if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
                categories[col] = sorted(str(v) for v in s.dropna().unique())
        return cls(columns=columns, categories=categories)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Model input: stored columns in stored order; unknown category levels become missing.

        A column missing from ``frame`` is an error naming it (features and model disagree).
        """
        plain = self._numeric_inputs(frame)
        block = frame[plain].to_numpy(dtype="float64", na_value=np.nan)
        out: dict[str, Any] = dict(zip(plain, block.T, strict=True))
        for col in self.columns:
            if col in out:
                continue
            s = frame[col]
            if col in self.categories:
                levels = self.categories[col]
                text = s.astype("str").where(s.notna())
                out[col] = pd.Categorical(text.where(text.isin(levels)), categories=levels)
            else:  # text holding numbers
                out[col] = pd.to_numeric(s).astype("float64")
        return pd.DataFrame({c: out[c] for c in self.columns}, index=frame.index)

    def rows(self, frame: pd.DataFrame, levels: list[list] | None = None) -> np.ndarray:
        """The float64 rows LightGBM sees for :meth:`matrix` of ``frame``, without building it
        (the pandas frame of categories costs more than the models for a few customers):
        inputs in stored order, a category as its position in ``levels`` (LightGBM's stored
        levels of the category columns, in order; default: the spec's), a value the spec or
        ``levels`` does not know or a missing value as NaN (as
        :func:`model.treeshap.feature_values` of the matrix, tested)."""
        names = self._numeric_inputs(frame)
        dtypes = frame.dtypes
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        position = {c: i for i, c in enumerate(self.columns)}
        if names:
            at = [position[c] for c in names]
            out[:, at] = frame[names].to_numpy(dtype="float64", na_value=np.nan)
        plain = set(names)
        stored = iter(levels if levels is not None else [])
        for i, col in enumerate(self.columns):
            if col not in self.categories:
                if col not in plain:  # text holding numbers
                    out[:, i] = pd.to_numeric(frame[col]).to_numpy(dtype="float64")
                continue
            s = frame[col]
            known = self.categories[col]
            text = s if pd.api.types.is_string_dtype(dtypes[col]) else s.astype("str")
            text = text.where(s.notna() & text.isin(known), None)  # unknown to the spec: NaN
            order = next(stored, None) if levels is not None else known
            codes = pd.Index(known if order is None else order, dtype=object).get_indexer(text)
            out[:, i] = np.where(codes < 0, np.nan, codes)
        return out

    def _numeric_inputs(self, frame: pd.DataFrame) -> list[str]:
        """The inputs ``frame`` holds as numbers or flags, in stored order (converted in one
        go: per-column lookups and conversions dominate a one-row frame); a missing input is
        an error naming it (features and model disagree)."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise KeyError(f"feature frame lacks model input column(s): {missing}")
        dtypes = frame.dtypes
        return [
            c
            for c in self.columns
            if c not in self.categories
            and (pd.api.types.is_numeric_dtype(dtypes[c]) or dtypes[c] == "boolean")
        ]

    def typical(self, frame: pd.DataFrame) -> dict[str, float]:
        """Median of each numeric input over ``frame`` (NaN ignored; absent when all missing):
        the typical customer that reasons compare a customer with, fitted in training."""
        X = self.matrix(frame)
        out = {}
        for col in self.columns:
            if col not in self.categories and X[col].notna().any():
                out[col] = float(X[col].median())
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "categories": dict(self.categories)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(columns=list(data["columns"]), categories=dict(data.get("categories", {})))
