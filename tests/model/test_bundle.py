"""Model bundle: heads, horizons and CLV applied consistently; save/load gives identical
predictions."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from model.btyd import BGNBD, BTYDModel, GammaGamma
from model.bundle import ChurnHead, ModelBundle, RevenueHead, with_btyd
from model.clv import DAYS_PER_MONTH, RatioInterval
from model.matrix import FeatureSpec
from model.treeshap import TreeExplainer, TreeTooLargeError

BTYD = BTYDModel(BGNBD(r=0.8, alpha=30.0, a=0.9, b=3.0), GammaGamma(6.0, 4.0, 15.0), 30.0)


def tiny_bundle(
    discount: float = 0.0,
    label_horizon: int = 90,
    churn: ChurnHead | None = None,
    revenue: RevenueHead | None = None,
) -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 300
    x = rng.integers(0, 8, n).astype(float)
    T = rng.uniform(100, 600, n)
    frame = pd.DataFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(n)],
            "recency_days": rng.uniform(0, 90, n),
            "channel": pd.Series(rng.choice(["web", "app"], n), dtype="str"),
            "btyd_x": x,
            "btyd_t_x": np.where(x > 0, T * rng.uniform(0.2, 1.0, n), 0.0),
            "btyd_T": T,
            "btyd_monetary_value": np.where(x > 0, rng.uniform(10, 80, n), 0.0),
            "monetary_mean": rng.uniform(10, 80, n),
            "spend_365d": rng.uniform(0, 500, n),
            "tenure_days": T,
        }
    )
    train = with_btyd(frame, BTYD, label_horizon)
    spec = FeatureSpec.fit(train)
    X = spec.matrix(train)
    y = (frame["recency_days"] > 45).astype(int)
    booster_c = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y).booster_
    booster_r = (
        lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, 90 - frame["recency_days"]).booster_
    )
    bundle = ModelBundle(
        spec=spec,
        boosters={"churn": booster_c, "revenue": booster_r},
        btyd=BTYD,
        churn_head=churn or ChurnHead("blend", 0.1, 0.5, 0.5),
        revenue_head=revenue or RevenueHead("blend", 0.5, 0.5, 1.1),
        churn_horizon_days=90,
        label_horizon_days=label_horizon,
        clv_horizon_days=365,
        gross_margin=0.5,
        monthly_discount_rate=discount,
        value_cutpoints={"high": 10.0, "low": 0.0},
        interval=RatioInterval([10.0], [0.0, 0.5], [2.0, 1.5], 0.8, 0.81, 90),
    )
    bundle.typical = spec.typical(bundle.model_frame(frame))
    return bundle, frame


def test_btyd_heads_serve_the_baseline_exactly() -> None:
    """With the BTYD candidates served, churn and revenue are BG/NBD's own numbers."""
    bundle, frame = tiny_bundle(
        churn=ChurnHead("bgnbd", 0.0, 0.0, 1.0),
        revenue=RevenueHead("bgnbd_gamma_gamma", 0.0, 1.0, 1.0),
    )
    pred = bundle.predict(frame)
    post = BTYD.posteriors(frame, 90)
    np.testing.assert_allclose(pred["churn_probability"], post["btyd_p_silent"], rtol=1e-5)
    np.testing.assert_allclose(pred["expected_revenue"], post["btyd_revenue"], rtol=1e-9)


def test_clv_is_the_btyd_curve_times_the_predicted_revenue() -> None:
    """No discount, margin 0.5: CLV = 0.5 x R_90 x E(365) / E(90) for every customer."""
    bundle, frame = tiny_bundle()
    pred = bundle.predict(frame)
    x, t_x, T = (frame[c].to_numpy(float) for c in ("btyd_x", "btyd_t_x", "btyd_T"))
    ratio = BTYD.purchases.expected_purchases(365, x, t_x, T) / (
        BTYD.purchases.expected_purchases(90, x, t_x, T)
    )
    np.testing.assert_allclose(pred["clv"], 0.5 * pred["expected_revenue"] * ratio, rtol=1e-9)
    assert (pred["churn_probability"].between(0, 1, inclusive="neither")).all()


def test_discounting_lowers_clv() -> None:
    plain, frame = tiny_bundle(0.0)
    disc, _ = tiny_bundle(0.02)
    a, b = plain.predict(frame)["clv"], disc.predict(frame)["clv"]
    assert (b < a).all() and (b > a / 1.02 ** (365 / DAYS_PER_MONTH)).all()


def test_interval_brackets_clv_by_the_stored_ratios() -> None:
    bundle, frame = tiny_bundle()
    pred = bundle.predict(frame)
    assert (pred["clv_low"] <= pred["clv"]).all() and (pred["clv_high"] >= pred["clv"]).all()
    lowbin = pred["expected_revenue"] / 1.0 <= 10.0  # label revenue = expected revenue here
    np.testing.assert_allclose(pred.loc[lowbin, "clv_high"], 2.0 * pred.loc[lowbin, "clv"])


def test_save_load_round_trip(tmp_path: Path) -> None:
    bundle, frame = tiny_bundle()
    bundle.meta["data"] = {"data_end": "2025-12-31"}
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    for output in ("churn", "clv"):
        pd.testing.assert_frame_equal(
            bundle.predict_frame(frame, output), loaded.predict_frame(frame, output)
        )
    pd.testing.assert_frame_equal(bundle.predict(frame), loaded.predict(frame))
    assert loaded.value_cutpoints == {"high": 10.0, "low": 0.0}
    assert loaded.typical == bundle.typical
    assert loaded.spec == bundle.spec and loaded.churn_head == bundle.churn_head


def test_an_old_bundle_format_asks_for_retraining(tmp_path: Path) -> None:
    bundle, _ = tiny_bundle()
    folder = bundle.save(tmp_path / "b")
    doc = (folder / "bundle.json").read_text().replace('"format": 3', '"format": 2')
    (folder / "bundle.json").write_text(doc)
    with pytest.raises(ValueError, match="retrain"):
        ModelBundle.load(folder)


def test_short_label_horizon_extends_with_each_customers_curve() -> None:
    """Models that learned 45 days: revenue x E(90)/E(45), churn log-odds shifted by BG/NBD's
    own 45 -> 90 day difference; a BG/NBD-served bundle then gives BG/NBD's 90-day values."""
    served = {
        "churn": ChurnHead("bgnbd", 0.0, 0.0, 1.0),
        "revenue": RevenueHead("bgnbd_gamma_gamma", 0.0, 1.0, 1.0),
    }
    full, frame = tiny_bundle(label_horizon=90, **served)
    short, _ = tiny_bundle(label_horizon=45, **served)
    a, b = full.predict(frame), short.predict(frame)
    np.testing.assert_allclose(b["churn_probability"], a["churn_probability"], rtol=1e-5)
    np.testing.assert_allclose(b["expected_revenue"], a["expected_revenue"], rtol=1e-9)
    np.testing.assert_allclose(b["clv"], a["clv"], rtol=1e-9)


def test_missing_feature_column_is_named() -> None:
    bundle, frame = tiny_bundle()
    with pytest.raises(KeyError, match="recency_days"):
        bundle.matrix(frame.drop(columns="recency_days"))


def test_unknown_category_level_scores_as_missing() -> None:
    bundle, frame = tiny_bundle()
    odd = frame.head(3).assign(channel=["web", "fax", None])
    X = bundle.matrix(odd)
    assert X["channel"].isna().tolist() == [False, True, True]
    assert np.isfinite(bundle.predict(odd)["churn_probability"]).all()


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


def test_clv_applies_each_months_factor() -> None:
    """A steady buyer: January's revenue counts twice with the index, the rest once."""
    bundle, frame = tiny_bundle()
    plain = bundle.predict(frame, dt.date(2025, 12, 31))
    seasonal = dataclasses.replace(bundle, season_index=INDEX)
    pred = seasonal.predict(frame, dt.date(2025, 12, 31))
    # the first month of the horizon is (Dec 31, Jan 31]: 30.4 days, all January but 0.4
    assert (pred["clv"] > plain["clv"]).all()
    np.testing.assert_allclose(
        pred["expected_revenue"],
        plain["expected_revenue"] * seasonal.season_factor(dt.date(2025, 12, 31)),
    )


def test_seasonal_index_survives_save_and_load(tmp_path: Path) -> None:
    bundle, frame = tiny_bundle()
    bundle.season_index = INDEX
    bundle.meta["data"] = {"data_end": "2025-12-31"}
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    assert loaded.season_index == INDEX
    pd.testing.assert_frame_equal(
        bundle.predict_frame(frame, "clv"), loaded.predict_frame(frame, "clv")
    )


def test_churn_contributions_are_lightgbms_treeshap_values() -> None:
    bundle, frame = tiny_bundle()
    odd = frame.assign(channel=["web", "fax", None] * 100)  # unseen and missing levels too
    X = bundle.matrix(odd)
    expected = bundle.boosters["churn"].predict(X, pred_contrib=True)
    np.testing.assert_allclose(bundle.churn_contributions(X), expected, atol=1e-9)


def test_model_rows_are_the_rows_lightgbm_makes_of_the_matrix() -> None:
    """model_rows (FeatureSpec.rows) skips the matrix frame: the same floats as LightGBM's own
    view of it, for unseen and missing levels, a category column held as a pandas category
    and numbers held as text; predictions from either are equal."""
    from model.treeshap import feature_values

    bundle, frame = tiny_bundle()
    odd = frame.assign(channel=["web", "fax", None] * 100)
    frame_cat = odd.assign(channel=odd["channel"].astype("category"))
    text = bundle.model_frame(odd).assign(recency_days=lambda f: f["recency_days"].astype(str))
    booster = bundle.boosters["churn"]
    for f in (bundle.model_frame(odd), bundle.model_frame(frame_cat), text):
        want = feature_values(bundle.spec.matrix(f), booster.pandas_categorical)
        np.testing.assert_array_equal(bundle.model_rows(f), want)
    got = bundle.predict(odd, frame=bundle.model_frame(odd), rows=bundle.model_rows(text))
    pd.testing.assert_frame_equal(got, bundle.predict(odd))
    channel = bundle.model_rows(bundle.model_frame(odd))[:3, bundle.spec.columns.index("channel")]
    assert np.isnan(channel[1:]).all() and not np.isnan(channel[0])


def test_churn_contributions_of_a_model_with_very_large_trees_use_lightgbm() -> None:
    bundle, frame = tiny_bundle()
    X = bundle.matrix(frame)
    y = np.random.default_rng(1).integers(0, 2, len(X))  # noise: trees grow to the limit
    big = lgb.LGBMClassifier(
        n_estimators=3, num_leaves=150, min_child_samples=1, min_child_weight=0, verbose=-1
    )
    bundle = dataclasses.replace(
        bundle, boosters={**bundle.boosters, "churn": big.fit(X, y).booster_}
    )
    with pytest.raises(TreeTooLargeError):  # more than 64 splits in a tree
        TreeExplainer(bundle.boosters["churn"])
    expected = bundle.boosters["churn"].predict(X, pred_contrib=True)
    np.testing.assert_allclose(bundle.churn_contributions(X), expected, atol=1e-9)
