"""The model bundle: what training writes and scoring reads, as plain files (no pickles).

A bundle is a folder with ``bundle.json`` (feature spec, BTYD parameters, the served heads,
horizons, fitted cut-points and interval, metrics) and LightGBM model text files. Training builds
it; serving applies it. Keeping the format here lets both sides share it without serving
importing training.

Prediction (:meth:`ModelBundle.predict`), for a feature frame at a scoring date:

1. the BTYD posteriors (P(alive), P(no purchase), expected purchases, spend and revenue over the
   label horizon L) from the BG/NBD + Gamma-Gamma parameters fitted in training are added as
   features, so batch, API, Spark and the MLflow model compute the same values;
2. the churn head gives P(no purchase in L) = sigmoid(c + a * LightGBM log-odds + b * BG/NBD
   log-odds); training chose the candidate that won the backtest (LightGBM alone, BG/NBD
   alone or the blend) and fitted its weights on a later fold than the models;
3. the revenue head gives the net revenue over L = level * (u * LightGBM + v * BG/NBD x GG);
4. churn horizon and CLV follow from the customer's own BTYD curve (:mod:`model.clv`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from model.btyd import POSTERIOR_COLUMNS, BTYDModel, btyd_summary
from model.clv import (
    DAYS_PER_MONTH,
    RatioInterval,
    clv_from_revenue,
    discount_factors,
    extend_churn,
    extend_revenue,
    horizon_weights,
    logit,
    period_edges,
    season_factor,
    sigmoid,
    value_if_retained,
)
from model.matrix import FeatureSpec
from model.renewals import RenewalValue

__all__ = ["ChurnHead", "ModelBundle", "RevenueHead", "with_btyd"]


class BundleFormatError(ValueError):
    """A bundle written by an older churnclv, in a format this one cannot apply."""


BUNDLE_FILE = "bundle.json"
BUNDLE_FORMAT = 3  # 3: typical values for reasons
PREDICTION_COLUMNS = ["churn_probability", "expected_revenue", "clv", "clv_low", "clv_high"]


def with_btyd(features: pd.DataFrame, btyd: BTYDModel, horizon_days: int) -> pd.DataFrame:
    """The feature frame plus the BTYD posterior columns over ``horizon_days``."""
    post = btyd.posteriors(features, horizon_days)
    return pd.concat(
        [features.drop(columns=list(POSTERIOR_COLUMNS), errors="ignore"), post], axis=1
    )


@dataclass(frozen=True)
class ChurnHead:
    """P(no purchase in the label horizon) = sigmoid(intercept + lightgbm * LightGBM log-odds
    + btyd * BG/NBD log-odds). ``candidate`` names it: ``lightgbm`` (Platt-calibrated),
    ``bgnbd`` (BG/NBD as it is: 0, 0, 1) or ``blend``."""

    candidate: str
    intercept: float
    lightgbm: float
    btyd: float

    def apply(self, lightgbm_logit: np.ndarray | None, btyd_silent: np.ndarray) -> np.ndarray:
        z = self.intercept + self.btyd * logit(btyd_silent)
        if self.lightgbm:
            z = z + self.lightgbm * lightgbm_logit
        return sigmoid(z)


@dataclass(frozen=True)
class RevenueHead:
    """Net revenue over the label horizon = level * (lightgbm * LightGBM prediction + btyd *
    BG/NBD + Gamma-Gamma expected revenue); ``candidate``: ``lightgbm``, ``bgnbd_gamma_gamma``
    or ``blend``."""

    candidate: str
    lightgbm: float
    btyd: float
    level: float = 1.0

    def apply(self, lightgbm_revenue: np.ndarray | None, btyd_revenue: np.ndarray) -> np.ndarray:
        r = self.btyd * np.asarray(btyd_revenue, dtype=float)
        if self.lightgbm:
            r = r + self.lightgbm * np.clip(lightgbm_revenue, 0.0, None)
        return self.level * np.clip(r, 0.0, None)


@dataclass
class ModelBundle:
    """Fitted models plus everything needed to apply them consistently."""

    spec: FeatureSpec
    boosters: dict[str, lgb.Booster]
    btyd: BTYDModel
    churn_head: ChurnHead
    revenue_head: RevenueHead
    churn_horizon_days: int
    label_horizon_days: int
    clv_horizon_days: int
    gross_margin: float
    monthly_discount_rate: float
    value_cutpoints: dict[str, float] = field(default_factory=dict)
    typical: dict[str, float] = field(default_factory=dict)
    """Median of each numeric model input at the data end (what reasons compare against)."""
    meta: dict[str, Any] = field(default_factory=dict)
    season_index: list[float] | None = None
    """Revenue factor per calendar month (January first, mean 1), when training fitted one."""
    interval: RatioInterval | None = None
    """CLV interval rule fitted on the backtest (None: no interval)."""
    directions: dict[str, int] = field(default_factory=dict)
    """+1 where more reads riskier, -1 where less does, for the inputs whose meaning is not
    known in advance (the data's own columns): the sign of their rank correlation with churn
    on the training cutoffs. Reasons use it as they use the catalogue's known directions."""
    vocabulary: dict[str, Any] = field(default_factory=dict)
    """The data's own event types and customer attributes the models were trained with
    (``features.vocabulary.Vocabulary.to_dict``): scoring builds their features, whatever the
    batch holds."""

    retention: dict[str, Any] | None = None
    """With a subscriptions table: ``sbg``, the sBG retention at the data end
    (``model.retention.SubscriptionRetention.to_dict``), and ``clv_method``, how active
    subscribers' renewals ahead are priced (:meth:`renewal_values`)."""

    _explainer: Any = field(default=None, init=False, repr=False, compare=False)

    def churn_contributions(self, matrix: pd.DataFrame | np.ndarray) -> np.ndarray:
        """TreeSHAP values of the churn model's LightGBM for a model matrix (or its
        :meth:`model_rows`): one column per input, then the bias, equal to
        ``predict(matrix, pred_contrib=True)`` and many times faster (:mod:`model.treeshap`)."""
        explainer = self.explainer()
        if explainer is None:  # trees beyond model.treeshap's limits: LightGBM's own TreeSHAP
            return self.boosters["churn"].predict(matrix, pred_contrib=True)
        return explainer.contributions(matrix)

    def explainer(self):  # noqa: ANN201 - model.treeshap.TreeExplainer | None
        """The churn model's TreeSHAP explainer, built on first use and kept (about a second
        for 150 trees; the service builds it before it swaps a new model in). None when its
        trees are beyond :mod:`model.treeshap`'s limits (num_leaves above 65)."""
        from model.treeshap import TreeExplainer, TreeTooLargeError

        if self._explainer is None:
            try:
                self._explainer = TreeExplainer(self.boosters["churn"])
            except TreeTooLargeError:
                self._explainer = False
        return self._explainer or None

    def model_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """The feature frame with the BTYD posteriors of the stored fit added."""
        return with_btyd(features, self.btyd, self.label_horizon_days)

    def matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        """The model input for a feature frame (BTYD posteriors added with the stored fit)."""
        return self.spec.matrix(self.model_frame(features))

    def season_factor(self, start: dt.date | None, days: float | None = None) -> float:
        """Mean seasonal factor of the days in (start, start + days] (default: churn horizon);
        1.0 without a seasonal index; a bundle with one needs the date."""
        return season_factor(self.season_index, start, days or self.churn_horizon_days)

    def _season_per_period(self, start: dt.date | None, edges: np.ndarray) -> np.ndarray | None:
        if self.season_index is None:
            return None
        return np.array(
            [
                season_factor(
                    self.season_index, start and start + dt.timedelta(days=round(a)), b - a
                )
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
        )

    @property
    def uses_lightgbm(self) -> bool:
        """Whether a LightGBM model takes part in the churn or the revenue head."""
        return self.churn_head.lightgbm or self.revenue_head.lightgbm

    def model_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """The float rows LightGBM makes of the model matrix of a model frame
        (:meth:`model_frame`; :meth:`model.matrix.FeatureSpec.rows` with LightGBM's stored
        category levels), for every booster of the bundle (all are fitted on one spec's
        matrix): predicting and explaining from them gives the same numbers without the
        matrix's pandas frame or LightGBM's per-call pandas conversion, which dominate a
        one-customer call. Needs :attr:`uses_lightgbm`."""
        booster = next(iter(self.boosters.values()))
        return self.spec.rows(frame, booster.pandas_categorical or [])

    def predict(
        self,
        features: pd.DataFrame,
        scoring_date: dt.date | None = None,
        frame: pd.DataFrame | None = None,
        rows: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """:data:`PREDICTION_COLUMNS` and ``label_revenue`` for every row of ``features``.

        ``churn_probability``: P(no purchase in the churn horizon); ``expected_revenue``: net
        revenue over the churn horizon; ``clv`` and its interval over the CLV horizon (see
        :mod:`model.clv`); ``value_if_retained``: the value over the CLV horizon if the
        customer stays (:func:`model.clv.value_if_retained`). ``frame``: the
        :meth:`model_frame` of ``features`` when the caller already has it; ``rows``: its
        :meth:`model_rows`, likewise.
        """
        frame = self.model_frame(features) if frame is None else frame
        L, h = self.label_horizon_days, self.churn_horizon_days
        edges = period_edges(self.clv_horizon_days)
        days = np.unique(np.concatenate([[L, h], edges[1:]]))
        cum = self.btyd.cumulative_purchases(features, days)
        at = {float(d): cum[:, i] for i, d in enumerate(days)}
        silent = frame["btyd_p_silent"].to_numpy(dtype=float)
        if rows is None and self.uses_lightgbm:
            rows = self.model_rows(frame)
        lgb_churn = (
            self.boosters["churn"].predict(rows, raw_score=True)
            if self.churn_head.lightgbm
            else None
        )
        churn = self.churn_head.apply(lgb_churn, silent)
        lgb_revenue = self.boosters["revenue"].predict(rows) if self.revenue_head.lightgbm else None
        revenue_label = self.revenue_head.apply(lgb_revenue, frame["btyd_revenue"].to_numpy(float))
        if h != L:
            x, t_x, T, _ = btyd_summary(features)
            churn = extend_churn(churn, silent, self.btyd.purchases.p_no_purchase(h, x, t_x, T))
        revenue = extend_revenue(revenue_label, at[float(L)], at[float(h)])
        weights = horizon_weights(np.stack([at[float(e)] for e in edges[1:]], 1), at[float(L)])
        discount = discount_factors(edges, self.monthly_discount_rate)
        season = self._season_per_period(scoring_date, edges)
        clv = clv_from_revenue(revenue_label, weights, discount, self.gross_margin, season)
        retained = value_if_retained(
            features["spend_365d"].to_numpy(dtype=float),
            features["tenure_days"].to_numpy(dtype=float),
            edges,
            discount,
            self.gross_margin,
            season,
        )
        if self.interval is None:
            low = high = np.full(len(frame), np.nan)
        else:
            low, high = self.interval.apply(revenue_label, clv)
        if self.retention is not None and "active_subscriptions_count" in features:
            clv, low, high, retained = self._subscription_values(
                features,
                churn,
                scoring_date,
                revenue * self.season_factor(scoring_date),
                clv,
                low,
                high,
                retained,
            )
        return pd.DataFrame(
            {
                "churn_probability": churn,
                "expected_revenue": revenue * self.season_factor(scoring_date),
                "clv": clv,
                "clv_low": np.minimum(low, clv),
                "clv_high": np.maximum(high, clv),
                "value_if_retained": retained,
                # the revenue head's prediction over the label horizon (seasonally adjusted)
                "label_revenue": revenue_label,
            },
            index=features.index,
        )

    def _subscription_values(
        self,
        features: pd.DataFrame,
        churn: np.ndarray,
        scoring_date: dt.date | None,
        revenue: np.ndarray,
        *values: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """(clv, low, high, value if retained) of the active subscribers: the value of their
        renewals ahead (:meth:`renewal_values`) plus the share of their transactional values
        that is not renewals (one-off purchases): the revenue model predicts all of a
        customer's revenue over the churn horizon (``revenue``), of which the renewals
        expected in it are taken out. The other customers keep their transactional values."""
        clv, low, high, retained = (np.array(v, dtype=float, copy=True) for v in values)
        active, (v, near) = self.renewal_values(
            features, churn, scoring_date, horizons=(self.clv_horizon_days, self.churn_horizon_days)
        )
        if not active.any():
            return clv, low, high, retained
        total = np.asarray(revenue, dtype=float)[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            other = np.where(total > 0, 1.0 - near.revenue / total, 0.0)
        other = np.clip(np.nan_to_num(other), 0.0, 1.0)
        for out, renewals in (
            (clv, v.value),
            (retained, v.value_if_retained),
            (low, np.minimum(v.value_low, v.value)),
            (high, np.maximum(v.value_high, v.value)),
        ):
            out[active] = renewals + other * np.nan_to_num(out[active])
        return clv, low, high, retained

    def renewal_values(
        self,
        features: pd.DataFrame,
        churn: np.ndarray,
        scoring_date: dt.date | None,
        method: str | None = None,
        horizons: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, list[RenewalValue]]:
        """(active subscribers, the value of their renewals ahead over each of ``horizons``,
        default the CLV horizon alone):
        :func:`model.renewals.renewal_value` with the price per renewal from their monthly
        recurring revenue and the chance of keeping each renewal by ``method`` (default the
        one training chose, ``retention["clv_method"]``):

        * ``churn_model``: ``(1 - p) ** (1 / k)`` from the churn probability over the ``k``
          renewals inside the churn horizon, or, with none inside it (an annual plan renewing
          later), the sBG chance of keeping the next one given the renewals done;
        * ``sbg``: the sBG curve of their billing period and cohort given the renewals done
          (rising retention with tenure), the churn model's where no curve was fitted.
        """
        from model.renewals import per_renewal_retention, renewal_value, renewals_within
        from model.retention import SubscriptionRetention, subscription_start_year

        stored = self.retention or {}
        method = method or stored.get("clv_method", "churn_model")
        active = features["active_subscriptions_count"].fillna(0).to_numpy() > 0
        f = features[active]
        period = f["billing_period_days"].to_numpy(float)
        dtr = f["days_to_renewal"].to_numpy(float)
        retention = SubscriptionRetention.from_dict(stored.get("sbg"))
        day = scoring_date or dt.date.fromisoformat(str(self.meta["data"]["data_end"]))
        cohort = subscription_start_year(f, day)
        done = f["subscription_renewals_count"].to_numpy(float)
        next_one = retention.keeps("sbg", period, cohort, done, 1)
        p = np.asarray(churn, dtype=float)[active]
        q = per_renewal_retention(
            p,
            renewals_within(dtr, period, self.churn_horizon_days),
            np.where(np.isfinite(next_one), next_one, 1.0 - p),
        )
        survival: np.ndarray | Callable[[int], np.ndarray] = q
        if method == "sbg":

            def survival(j: int) -> np.ndarray:
                curve = retention.keeps("sbg", period, cohort, done, j)
                return np.where(np.isfinite(curve), curve, q**j)

        price = f["monthly_recurring_revenue"].to_numpy(float) * period / DAYS_PER_MONTH
        values = [
            renewal_value(
                price, dtr, period, survival, days, self.monthly_discount_rate, self.gross_margin
            )
            for days in horizons or (self.clv_horizon_days,)
        ]
        return active, values

    def predict_frame(
        self, features: pd.DataFrame, output: str, scoring_date: dt.date | str | None = None
    ) -> pd.DataFrame:
        """``churn`` -> churn_probability; ``clv`` -> expected_revenue and clv (MLflow models),
        for features built at ``scoring_date`` (default: the training data's end), which dates
        the seasonal factors as batch scoring does."""
        if scoring_date is None:
            scoring_date = self.meta.get("data", {}).get("data_end")
        start = dt.date.fromisoformat(str(scoring_date)) if scoring_date else None
        pred = self.predict(features, start).reset_index(drop=True)
        if output == "churn":
            return pred[["churn_probability"]]
        return pred[["expected_revenue", "clv"]]

    def save(self, folder: Path) -> Path:
        """Write the bundle into ``folder`` (created); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, booster in self.boosters.items():
            (folder / f"{name}.txt").write_text(booster.model_to_string())
        doc = {
            "format": BUNDLE_FORMAT,
            "spec": self.spec.to_dict(),
            "boosters": sorted(self.boosters),
            "btyd": self.btyd.to_dict(),
            "churn_head": asdict(self.churn_head),
            "revenue_head": asdict(self.revenue_head),
            "interval": None if self.interval is None else self.interval.to_dict(),
            "churn_horizon_days": self.churn_horizon_days,
            "label_horizon_days": self.label_horizon_days,
            "clv_horizon_days": self.clv_horizon_days,
            "gross_margin": self.gross_margin,
            "monthly_discount_rate": self.monthly_discount_rate,
            "value_cutpoints": self.value_cutpoints,
            "typical": self.typical,
            "season_index": self.season_index,
            "directions": self.directions,
            "vocabulary": self.vocabulary,
            "retention": self.retention,
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
        if doc.get("format") != BUNDLE_FORMAT:
            raise BundleFormatError(
                f"{folder}: model bundle format {doc.get('format')} is from an older churnclv; "
                "retrain with `churnclv train`"
            )
        boosters = {
            name: lgb.Booster(model_str=(folder / f"{name}.txt").read_text())
            for name in doc["boosters"]
        }
        return cls(
            spec=FeatureSpec.from_dict(doc["spec"]),
            boosters=boosters,
            btyd=BTYDModel.from_dict(doc["btyd"]),
            churn_head=ChurnHead(**doc["churn_head"]),
            revenue_head=RevenueHead(**doc["revenue_head"]),
            interval=None if doc.get("interval") is None else RatioInterval(**doc["interval"]),
            churn_horizon_days=doc["churn_horizon_days"],
            label_horizon_days=doc["label_horizon_days"],
            clv_horizon_days=doc["clv_horizon_days"],
            gross_margin=doc["gross_margin"],
            monthly_discount_rate=doc["monthly_discount_rate"],
            value_cutpoints=doc.get("value_cutpoints", {}),
            typical=doc["typical"],
            meta=doc.get("meta", {}),
            season_index=doc.get("season_index"),
            directions=doc.get("directions", {}),
            vocabulary=doc.get("vocabulary", {}),
            retention=doc.get("retention"),
        )
