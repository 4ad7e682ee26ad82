"""Model bundle: CLV formula by hand, save/load round trip gives identical predictions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnclv.bundle import ModelBundle
from features.matrix import FeatureSpec


def tiny_bundle(discount: float = 0.0, label_horizon: int = 90) -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(300)],
            "recency_days": rng.uniform(0, 300, 300),
            "channel": pd.Series(rng.choice(["web", "app"], 300), dtype="str"),
        }
    )
    spec = FeatureSpec.fit(frame)
    X = spec.matrix(frame)
    y = (frame["recency_days"] > 150).astype(int)
    churn = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y).booster_
    revenue = (
        lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, 300 - frame["recency_days"]).booster_
    )
    bundle = ModelBundle(
        spec=spec,
        boosters={"churn": churn, "revenue": revenue},
        calibration_x=[0.0, 1.0],
        calibration_y=[0.0, 1.0],
        churn_horizon_days=90,
        label_horizon_days=label_horizon,
        clv_horizon_days=365,
        gross_margin=0.5,
        monthly_discount_rate=discount,
        value_cutpoints={"high": 10.0, "low": 0.0},
    )
    return bundle, frame


def test_clv_by_hand() -> None:
    bundle, _ = tiny_bundle()
    rev = np.array([100.0, 100.0, 100.0])
    p = np.array([0.0, 1.0, 0.5])
    periods = 365 / 90  # 4.0556: four full 90-day periods and a part
    expected = 0.5 * 100 * np.array([periods, 1.0, 1 + 0.5 + 0.25 + 0.125 + (periods - 4) * 0.0625])
    np.testing.assert_allclose(bundle.clv(rev, p), expected)


def test_discounting_lowers_clv() -> None:
    plain, _ = tiny_bundle(0.0)
    disc, _ = tiny_bundle(0.02)
    rev, p = np.array([100.0]), np.array([0.2])
    assert disc.clv(rev, p)[0] < plain.clv(rev, p)[0]
    # first period alone: discounted by its 90 days (~2.96 months)
    one = disc.clv(rev, np.array([1.0]))[0]
    assert one == pytest.approx(0.5 * 100 / 1.02 ** (90 / (365.25 / 12)))


def test_save_load_round_trip(tmp_path: Path) -> None:
    bundle, frame = tiny_bundle()
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    for output in ("churn", "clv"):
        pd.testing.assert_frame_equal(
            bundle.predict_frame(frame, output), loaded.predict_frame(frame, output)
        )
    assert loaded.value_cutpoints == {"high": 10.0, "low": 0.0}
    assert loaded.spec == bundle.spec


def test_short_label_horizon_rescales() -> None:
    full, frame = tiny_bundle(label_horizon=90)
    short, _ = tiny_bundle(label_horizon=45)
    X = full.matrix(frame)
    np.testing.assert_allclose(short.churn_probability(X), full.churn_probability(X) ** 2)
    np.testing.assert_allclose(short.expected_revenue(X), 2 * full.expected_revenue(X))


def test_missing_feature_column_is_named(tmp_path: Path) -> None:
    bundle, frame = tiny_bundle()
    with pytest.raises(KeyError, match="recency_days"):
        bundle.matrix(frame.drop(columns="recency_days"))


def test_unknown_category_level_scores_as_missing() -> None:
    bundle, frame = tiny_bundle()
    odd = frame.head(3).assign(channel=["web", "fax", None])
    X = bundle.matrix(odd)
    assert X["channel"].isna().tolist() == [False, True, True]
    assert np.isfinite(bundle.churn_probability(X)).all()


# January 2, every other month 1 (mean 13/12 before scaling does not matter for these checks)
INDEX = [2.0] + [1.0] * 11


def test_season_factor_is_the_mean_over_the_windows_days() -> None:
    bundle, _ = tiny_bundle()
    assert bundle.season_factor(None) == 1.0  # no index: no adjustment, no date needed
    bundle.season_index = INDEX
    # (2025-12-21, +20 days]: 10 December days (1) and 10 January days (2)
    assert bundle.season_factor(dt.date(2025, 12, 21), 20) == pytest.approx(1.5)
    assert bundle.season_factor(dt.date(2025, 12, 31), 31) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="scoring date"):
        bundle.season_factor(None)


def test_clv_applies_each_periods_factor() -> None:
    bundle, _ = tiny_bundle()
    bundle.season_index = INDEX
    bundle.clv_horizon_days = 180  # two 90-day periods
    start = dt.date(2025, 10, 2)  # period 1: Oct 3 - Dec 31 (factor 1); period 2 from Jan 1
    second = bundle.season_factor(dt.date(2025, 12, 31), 90)  # 31 days at 2, 59 at 1
    assert second == pytest.approx((31 * 2 + 59) / 90)
    # no churn, no discount: margin 0.5 x revenue x (1 + second)
    clv = bundle.clv(np.array([100.0]), np.array([0.0]), start)
    assert clv[0] == pytest.approx(0.5 * 100 * (1 + second))


def test_seasonal_index_survives_save_and_load(tmp_path: Path) -> None:
    bundle, frame = tiny_bundle()
    bundle.season_index = INDEX
    bundle.meta["data"] = {"data_end": "2025-12-31"}
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    assert loaded.season_index == INDEX
    pd.testing.assert_frame_equal(
        bundle.predict_frame(frame, "clv"), loaded.predict_frame(frame, "clv")
    )
