"""model.treeshap gives exactly LightGBM's pred_contrib (TreeSHAP), whatever the data and trees."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.treeshap import TreeExplainer, TreeTooLargeError


def _data(seed: int, n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with missing values and many exact zeros, a category with a missing value, a
    constant column; the label depends on all of them."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "recency_days": rng.exponential(60, n).round(),
            "orders_90d": rng.poisson(1.0, n).astype(float),  # many zeros
            "email_open_rate": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
            "channel": pd.Categorical(
                rng.choice(["web", "app", "store", None], n, p=[0.4, 0.3, 0.2, 0.1])
            ),
            "constant": np.ones(n),
        }
    )
    logit = (
        0.03 * x["recency_days"]
        - 0.8 * x["orders_90d"]
        + np.nan_to_num(x["email_open_rate"].to_numpy(), nan=0.5) * -2
        + (x["channel"] == "app").to_numpy() * 1.0
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit - 1.5)))).astype(int)
    return x, y


def _train(x: pd.DataFrame, y: np.ndarray, **params) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "seed": 1}
    return lgb.train({**base, **params}, lgb.Dataset(x, y), num_boost_round=25)


def test_equals_pred_contrib_and_adds_up_to_the_raw_score() -> None:
    x, y = _data(0)
    booster = _train(x, y, num_leaves=15, max_depth=5, cat_smooth=1, min_data_per_group=5)
    test, _ = _data(1)
    test.loc[0, "channel"] = None  # missing category
    test["channel"] = test["channel"].cat.add_categories(["fax"])
    test.loc[1, "channel"] = "fax"  # a level the model never saw
    got = TreeExplainer(booster).contributions(test)
    np.testing.assert_allclose(got, booster.predict(test, pred_contrib=True), atol=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), booster.predict(test, raw_score=True), atol=1e-9)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    num_leaves=st.integers(2, 40),
    max_depth=st.sampled_from([-1, 3, 6]),
    zero_as_missing=st.booleans(),
    use_missing=st.booleans(),
)
def test_any_trees_and_missing_value_rules(
    seed: int, num_leaves: int, max_depth: int, zero_as_missing: bool, use_missing: bool
) -> None:
    x, y = _data(seed)
    params = {"num_leaves": num_leaves, "max_depth": max_depth}
    params |= {"zero_as_missing": zero_as_missing, "use_missing": use_missing}
    booster = _train(x, y, **params)
    test, _ = _data(seed + 1, n=300)
    try:
        explainer = TreeExplainer(booster)
    except TreeTooLargeError:  # paths through more than 12 distinct features (5 here: never)
        pytest.fail("a tree of this model should be explainable")
    got = explainer.contributions(test)
    np.testing.assert_allclose(got, booster.predict(test, pred_contrib=True), atol=1e-9)


def test_threads_split_rows_without_changing_values() -> None:
    x, y = _data(2, n=5_000)
    booster = _train(x, y, num_leaves=31, max_depth=6)
    explainer = TreeExplainer(booster)
    np.testing.assert_array_equal(
        explainer.contributions(x, threads=1), explainer.contributions(x, threads=3)
    )


def test_a_model_beyond_the_limits_says_so() -> None:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(3_000, 3)), columns=["a", "b", "c"])
    y = (x.sum(axis=1) + rng.normal(size=3_000) > 0).astype(int)
    booster = _train(x, y, num_leaves=120, min_data_in_leaf=2)
    with pytest.raises(TreeTooLargeError, match="splits, more than 64"):
        TreeExplainer(booster)


def test_a_matrix_of_another_width_is_refused() -> None:
    x, y = _data(4)
    explainer = TreeExplainer(_train(x, y))
    with pytest.raises(ValueError, match="5 inputs, the matrix 4"):
        explainer.contributions(x.drop(columns="constant"))
