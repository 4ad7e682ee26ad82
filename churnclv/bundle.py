"""The model bundle: what training writes and scoring reads, as plain files (no pickles).

A bundle is a folder with ``bundle.json`` (feature spec, calibration, horizons, fitted cut-points,
metrics) and LightGBM model text files. Training builds it; serving applies it. Keeping the
format here lets both sides share it without serving importing training.

CLV over the CLV horizon extrapolates the churn-horizon revenue with the customer's own
retention: CLV = margin * sum_j R * s_j * (1 - p_churn)^j / (1 + d)^(months to end of period j),
over the periods of length h (the churn horizon) that fit in the CLV horizon (the last one pro
rata), where R is the revenue model's prediction per period and s_j the seasonal factor of
period j: 1 unless training fitted a seasonal index (``model.seasonal_adjustment``), in which
case R is seasonally adjusted and s_j the mean monthly factor over period j's days.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.matrix import FeatureSpec

DAYS_PER_MONTH = 365.25 / 12
CHURN_MODEL = "churn_model"  # registered model names in MLflow
CLV_MODEL = "clv_model"
BUNDLE_FILE = "bundle.json"
BOOSTERS = ("churn", "revenue")


@dataclass
class ModelBundle:
    """Fitted churn and revenue models plus everything needed to apply them consistently."""

    spec: FeatureSpec
    boosters: dict[str, lgb.Booster]
    calibration_x: list[float]
    calibration_y: list[float]
    churn_horizon_days: int
    label_horizon_days: int
    clv_horizon_days: int
    gross_margin: float
    monthly_discount_rate: float
    value_cutpoints: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    season_index: list[float] | None = None
    """Revenue factor per calendar month (January first, mean 1), when training fitted one."""

    def matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model input for a feature frame."""
        return self.spec.matrix(features)

    @property
    def rescale(self) -> float:
        """Churn horizon / label horizon; 1.0 unless short history forced a shorter label."""
        return self.churn_horizon_days / self.label_horizon_days

    def churn_probability(self, matrix: pd.DataFrame) -> np.ndarray:
        """Calibrated P(no purchase in the churn horizon).

        With a shorter label horizon (short history) the probability of silence over the
        label horizon is raised to the power churn/label horizon (constant purchase rate).
        """
        raw = self.boosters["churn"].predict(matrix)
        p = np.interp(raw, self.calibration_x, self.calibration_y)
        return p**self.rescale if self.rescale != 1.0 else p

    def season_factor(self, start: dt.date | None, days: int | None = None) -> float:
        """Mean seasonal factor of the days in (start, start + days] (default: churn horizon).

        1.0 without a seasonal index; a bundle with one needs the date.
        """
        if self.season_index is None:
            return 1.0
        if start is None:
            raise ValueError("this bundle adjusts revenue for the season: pass the scoring date")
        days = days or self.churn_horizon_days
        months = pd.date_range(pd.Timestamp(start) + pd.Timedelta(days=1), periods=days).month
        return float(np.asarray(self.season_index)[np.asarray(months) - 1].mean())

    def base_revenue(self, matrix: pd.DataFrame) -> np.ndarray:
        """The revenue model's net revenue over the churn horizon (seasonally adjusted when the
        bundle has an index; never negative)."""
        return np.clip(self.boosters["revenue"].predict(matrix), 0.0, None) * self.rescale

    def expected_revenue(self, matrix: pd.DataFrame, start: dt.date | None = None) -> np.ndarray:
        """Expected net revenue over the churn horizon after ``start`` (never negative)."""
        return self.base_revenue(matrix) * self.season_factor(start)

    def clv_interval(
        self, matrix: pd.DataFrame, churn_probability: np.ndarray, start: dt.date | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """10th and 90th percentile of CLV: revenue quantile models through the CLV formula.

        Without quantile models in the bundle, returns (nan, nan) rather than a made-up range.
        """
        if not {"revenue_q10", "revenue_q90"} <= set(self.boosters):
            nan = np.full(len(matrix), np.nan)
            return nan, nan
        low, high = (
            np.clip(self.boosters[name].predict(matrix), 0.0, None) * self.rescale
            for name in ("revenue_q10", "revenue_q90")
        )
        return (
            self.clv(low, churn_probability, start),
            self.clv(np.maximum(high, low), churn_probability, start),
        )

    def clv(
        self,
        base_revenue: np.ndarray,
        churn_probability: np.ndarray,
        start: dt.date | None = None,
    ) -> np.ndarray:
        """Discounted margin over the CLV horizon after ``start`` (see module docstring);
        ``base_revenue`` as from :meth:`base_revenue`."""
        h = self.churn_horizon_days
        periods = self.clv_horizon_days / h
        stay = 1.0 - np.asarray(churn_probability, dtype=float)
        total = np.zeros_like(stay)
        j = 0
        while j < periods:
            weight = min(1.0, periods - j)
            months_to_end = (j + weight) * h / DAYS_PER_MONTH
            season = 1.0
            if self.season_index is not None:
                period_start = pd.Timestamp(start) + pd.Timedelta(days=j * h) if start else None
                season = self.season_factor(period_start, max(1, round(weight * h)))
            total += season * weight * stay**j / (1 + self.monthly_discount_rate) ** months_to_end
            j += 1
        return self.gross_margin * np.asarray(base_revenue, dtype=float) * total

    def predict_frame(self, features: pd.DataFrame, output: str) -> pd.DataFrame:
        """``churn`` -> churn_probability; ``clv`` -> expected_revenue and clv (MLflow models).

        With a seasonal index, revenue and CLV are for the window after the training data's end.
        """
        matrix = self.matrix(features)
        churn = self.churn_probability(matrix)
        if output == "churn":
            return pd.DataFrame({"churn_probability": churn})
        start = None
        if self.season_index is not None:
            start = dt.date.fromisoformat(str(self.meta["data"]["data_end"]))
        base = self.base_revenue(matrix)
        return pd.DataFrame(
            {
                "expected_revenue": base * self.season_factor(start),
                "clv": self.clv(base, churn, start),
            }
        )

    def save(self, folder: Path) -> Path:
        """Write the bundle into ``folder`` (created); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, booster in self.boosters.items():
            (folder / f"{name}.txt").write_text(booster.model_to_string())
        doc = {
            "format": 1,
            "spec": self.spec.to_dict(),
            "boosters": sorted(self.boosters),
            "calibration": {"x": list(self.calibration_x), "y": list(self.calibration_y)},
            "churn_horizon_days": self.churn_horizon_days,
            "label_horizon_days": self.label_horizon_days,
            "clv_horizon_days": self.clv_horizon_days,
            "gross_margin": self.gross_margin,
            "monthly_discount_rate": self.monthly_discount_rate,
            "value_cutpoints": self.value_cutpoints,
            "season_index": self.season_index,
            "meta": self.meta,
        }
        (folder / BUNDLE_FILE).write_text(json.dumps(doc, indent=2, default=str))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        """Read a bundle written by :meth:`save`."""
        folder = Path(folder)
        path = folder / BUNDLE_FILE
        if not path.exists():
            raise FileNotFoundError(f"{folder}: not a model bundle (no {BUNDLE_FILE})")
        doc = json.loads(path.read_text())
        boosters = {
            name: lgb.Booster(model_str=(folder / f"{name}.txt").read_text())
            for name in doc["boosters"]
        }
        return cls(
            spec=FeatureSpec.from_dict(doc["spec"]),
            boosters=boosters,
            calibration_x=doc["calibration"]["x"],
            calibration_y=doc["calibration"]["y"],
            churn_horizon_days=doc["churn_horizon_days"],
            label_horizon_days=doc["label_horizon_days"],
            clv_horizon_days=doc["clv_horizon_days"],
            gross_margin=doc["gross_margin"],
            monthly_discount_rate=doc["monthly_discount_rate"],
            value_cutpoints=doc.get("value_cutpoints", {}),
            meta=doc.get("meta", {}),
            season_index=doc.get("season_index"),
        )
