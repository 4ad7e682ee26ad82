"""One backtest fold's models: snapshots with point-in-time BTYD posteriors, the LightGBM
fits, and every candidate head fitted on a later snapshot. Used by the backtest, the production
refit and the CLV check (``training/train.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.settings import Settings
from features.contract import InputTables
from features.vocabulary import Vocabulary
from model.btyd import BTYDFitError, BTYDModel
from model.bundle import with_btyd
from model.clv import season_factor
from model.matrix import FeatureSpec
from training.backtest import InsufficientDataError
from training.heads import (
    CHURN_CANDIDATES,
    REVENUE_CANDIDATES,
    fit_churn_head,
    fit_revenue_head,
)
from training.models import fit_churn_classifier, fit_revenue_regressor


def fit_btyd(features: pd.DataFrame, where: str) -> BTYDModel:
    """BG/NBD + Gamma-Gamma on one cutoff's features (history only); a clear error if not."""
    try:
        return BTYDModel.fit(features)
    except BTYDFitError as exc:
        raise InsufficientDataError(f"{where}: {exc}. No model was trained.") from None


def build_snapshot(
    tables: InputTables,
    cutoff: dt.date,
    horizon_days: int,
    vocabulary: Vocabulary | None = None,
) -> pd.DataFrame:
    """Features at ``cutoff`` (with the posteriors of a BTYD model fitted on them, so on the
    history up to the cutoff only) joined with labels over the following ``horizon_days``;
    ``vocabulary``: the data's own event types the models use."""
    from features import build_features, build_labels

    feats = build_features(tables, cutoff, vocabulary=vocabulary)
    labels = build_labels(tables, cutoff, horizon_days)
    frame = feats.merge(labels, on="customer_id", how="inner")
    frame = with_btyd(frame, fit_btyd(frame, f"cutoff {cutoff}"), horizon_days)
    frame.insert(1, "cutoff", pd.Timestamp(cutoff))
    return frame


@dataclass
class Fitted:
    """LightGBM models fitted on some cutoffs, applied to a later snapshot."""

    spec: FeatureSpec
    churn: object
    revenue: object
    season_index: list[float] | None
    horizon_days: int

    def raw(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """LightGBM log-odds, revenue (seasonally adjusted units) and the BTYD columns."""
        X = self.spec.matrix(frame)
        return {
            "lightgbm_logit": None if self.churn is None else self.churn.predict(X, raw_score=True),
            "lightgbm_revenue": np.clip(self.revenue.predict(X), 0, None),
            "btyd_silent": frame["btyd_p_silent"].to_numpy(float),
            "btyd_revenue": frame["btyd_revenue"].to_numpy(float),
        }

    def adjusted_revenue(self, frame: pd.DataFrame) -> np.ndarray:
        """Label revenue divided by its window's seasonal factor (1 without an index)."""
        factors = {
            c: season_factor(self.season_index, pd.Timestamp(c).date(), self.horizon_days)
            for c in frame["cutoff"].unique()
        }
        return (frame["future_revenue"] / frame["cutoff"].map(factors).astype(float)).to_numpy()


def fit_fold_models(
    fit: pd.DataFrame,
    spec: FeatureSpec,
    settings: Settings,
    index: list[float] | None,
    h: int,
    churn: bool = True,
) -> Fitted:
    """Churn classifier (unless ``churn`` is False) and revenue regressor (on seasonally
    adjusted revenue) on ``fit``."""
    params, seed = settings.model.lightgbm, settings.model.seed
    fitted = Fitted(spec, None, None, index, h)
    if churn:
        X, y = spec.matrix(fit), fit["churned"].to_numpy()
        fitted.churn = fit_churn_classifier(X, y, params, seed)
    fitted.revenue = fit_revenue_regressor(
        spec.matrix(fit), fitted.adjusted_revenue(fit), params, seed
    )
    return fitted


FOLDS = 3
_FOLD_KEY = "churnclv-folds-0"  # 16 characters: pandas' hash key


def out_of_fold_raw(
    fit: pd.DataFrame,
    spec: FeatureSpec,
    settings: Settings,
    index: list[float] | None,
    h: int,
) -> dict[str, np.ndarray]:
    """:meth:`Fitted.raw` for every row of ``fit`` from models that never saw its customer:
    customers are split into :data:`FOLDS` folds by a hash of their id (all snapshots of a
    customer in one fold), each fold predicted by models fitted on the others."""
    ids = fit["customer_id"].astype("str").to_numpy(dtype=object)
    fold = pd.util.hash_array(ids, hash_key=_FOLD_KEY) % FOLDS
    out: dict[str, np.ndarray] = {}
    for k in range(FOLDS):
        held = fold == k
        models = fit_fold_models(fit[~held], spec, settings, index, h)
        for name, values in models.raw(fit[held]).items():
            out.setdefault(name, np.empty(len(fit)))[held] = values
    return out


def fit_candidates(
    fitted: Fitted,
    cal: pd.DataFrame,
    only: dict[str, str] | None = None,
    raw: dict[str, np.ndarray] | None = None,
) -> tuple[dict, dict]:
    """Every churn and revenue candidate's head fitted on the calibration snapshot ``cal``
    (or only the ones named in ``only``; a kind missing from ``only`` gets none). ``raw``: the
    models' predictions for ``cal`` when they come from elsewhere (out of fold)."""
    r = fitted.raw(cal) if raw is None else raw
    y, rev = cal["churned"].to_numpy(), fitted.adjusted_revenue(cal)
    churn = {
        c: fit_churn_head(c, r["lightgbm_logit"], r["btyd_silent"], y)
        for c in CHURN_CANDIDATES
        if only is None or only.get("churn") == c
    }
    revenue = {
        c: fit_revenue_head(c, r["lightgbm_revenue"], r["btyd_revenue"], rev)
        for c in REVENUE_CANDIDATES
        if only is None or only.get("revenue") == c
    }
    return churn, revenue
