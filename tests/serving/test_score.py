"""The scoring function: behaviour, invariance and online/batch parity on a trained bundle."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churnclv.demo_data import generate_demo_data
from core.settings import load_settings
from features import build_features
from features.contract import InputTables
from serving.score import SCORE_COLUMNS, score_customers
from training.train import train_models

pytestmark = pytest.mark.slow
SETTINGS = load_settings(
    None,
    {
        "model.lightgbm": {"n_estimators": 120, "learning_rate": 0.05, "num_leaves": 15},
        "model.n_snapshots": 3,
        "model.clv_check": False,
    },
)


@pytest.fixture(scope="module")
def world():  # noqa: ANN201
    demo = generate_demo_data(n_customers=2000, seed=21)
    tables = InputTables(demo.transactions, demo.events, demo.customers)
    bundle = train_models(tables, SETTINGS).bundle
    cutoff = demo.transactions["timestamp"].max().date()
    return tables, bundle, cutoff


def _score(tables: InputTables, bundle, cutoff: dt.date) -> pd.DataFrame:  # noqa: ANN001
    feats = build_features(tables, cutoff)
    feats = feats[feats["recency_days"].notna()]
    return score_customers(feats, bundle, SETTINGS.segments, scoring_date=cutoff).set_index(
        "customer_id"
    )


def _only(tables: InputTables, ids: set[str]) -> InputTables:
    def keep(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return (
            None if frame is None else frame[frame["customer_id"].isin(ids)].reset_index(drop=True)
        )

    return InputTables(keep(tables.transactions), keep(tables.events), keep(tables.customers))


def test_columns_ranges_and_reasons(world) -> None:  # noqa: ANN001
    tables, bundle, cutoff = world
    out = _score(tables, bundle, cutoff).reset_index()
    assert list(out.columns) == SCORE_COLUMNS
    assert out["churn_probability"].between(0, 1).all()
    assert (out["clv_low"] <= out["clv"]).all() and (out["clv"] <= out["clv_high"]).all()
    np.testing.assert_allclose(
        out["value_at_risk"], out["churn_probability"] * out["value_if_retained"]
    )
    assert out["reasons"].map(len).between(0, 3).all()
    assert out["reasons"].map(len).mean() > 2
    assert out["segment"].notna().all() and out["action"].notna().all()


def test_one_customer_scored_alone_gets_the_batch_result(world) -> None:  # noqa: ANN001
    tables, bundle, cutoff = world
    batch = _score(tables, bundle, cutoff)
    for cid in batch.sample(8, random_state=0).index:
        alone = _score(_only(tables, {cid}), bundle, cutoff).loc[cid]
        for col in ("risk_tier", "value_tier", "segment", "action"):
            assert alone[col] == batch.loc[cid, col], (cid, col)
        for col in ("churn_probability", "clv", "clv_low", "clv_high"):
            assert alone[col] == pytest.approx(batch.loc[cid, col], rel=1e-9, abs=1e-9)
        assert list(alone["reasons"]) == list(batch.loc[cid, "reasons"])


def test_a_recent_purchase_lowers_churn_risk(world) -> None:  # noqa: ANN001
    tables, bundle, cutoff = world
    before = _score(tables, bundle, cutoff)
    lapsed = before[before["churn_probability"] > 0.5].index[:40]
    new_rows = pd.DataFrame(
        {
            "customer_id": pd.Series(lapsed, dtype="str"),
            "timestamp": pd.Timestamp(cutoff).as_unit("us"),
            "amount": 50.0,
        }
    ).reindex(columns=tables.transactions.columns)
    new_rows = new_rows.astype(tables.transactions.dtypes.to_dict())
    bought = InputTables(
        pd.concat([tables.transactions, new_rows], ignore_index=True),
        tables.events,
        tables.customers,
    )
    after = _score(bought, bundle, cutoff)
    assert (
        after.loc[lapsed, "churn_probability"] < before.loc[lapsed, "churn_probability"]
    ).mean() > 0.9


def test_row_order_and_id_relabelling_change_nothing(world) -> None:  # noqa: ANN001
    tables, bundle, cutoff = world
    base = _score(tables, bundle, cutoff)
    shuffled = InputTables(
        *(
            f.sample(frac=1.0, random_state=3).reset_index(drop=True)
            for f in (tables.transactions, tables.events, tables.customers)
        )
    )
    pd.testing.assert_frame_equal(_score(shuffled, bundle, cutoff), base)
    relabel = {cid: f"X{cid[::-1]}" for cid in tables.customers["customer_id"]}

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(customer_id=frame["customer_id"].map(relabel).astype("str"))

    renamed = _score(
        InputTables(*(rename(f) for f in (tables.transactions, tables.events, tables.customers))),
        bundle,
        cutoff,
    )
    renamed.index = renamed.index.map({v: k for k, v in relabel.items()})
    pd.testing.assert_frame_equal(renamed.loc[base.index], base, check_names=False)


def test_customers_without_a_paid_purchase_get_a_row_in_their_own_segment(world) -> None:  # noqa: ANN001
    """Everyone known is scored: a signup with only $0 orders and one with none get the
    'No purchase yet' segment and onboarding action, with no made-up churn probability or
    value; the buyers beside them score exactly as without them."""
    tables, bundle, cutoff = world
    ts = pd.Timestamp(cutoff) - pd.Timedelta(days=10)
    extra_tx = pd.DataFrame({"customer_id": ["free"], "timestamp": [ts], "amount": [0.0]})
    extra_cu = pd.DataFrame({"customer_id": ["free", "signup"], "signup_date": [ts, ts]}).astype(
        {"customer_id": "str"}
    )
    tx = pd.concat([tables.transactions, extra_tx], ignore_index=True)
    cu = pd.concat([tables.customers, extra_cu], ignore_index=True)
    both = InputTables(tx, tables.events, cu)
    feats = build_features(both, cutoff)
    scores = score_customers(feats, bundle, SETTINGS.segments, scoring_date=cutoff)
    assert len(scores) == len(feats)
    new = scores.set_index("customer_id").loc[["free", "signup"]]
    assert (new["segment"] == "No purchase yet").all()
    assert new["action"].str.startswith("onboarding").all()
    assert new[["churn_probability", "clv", "value_at_risk"]].isna().all().all()
    assert new["risk_tier"].isna().all() and new["reasons"].map(len).eq(1).all()
    buyers = scores[scores["segment"] != "No purchase yet"].set_index("customer_id")
    pd.testing.assert_frame_equal(
        buyers.sort_index(), _score(tables, bundle, cutoff).sort_index(), check_dtype=False
    )


def test_the_next_renewal_day_is_after_the_scoring_date() -> None:
    """13.0 days to go: the 13th day after; 0.44 of a 30.44-day period: the renewal falls on
    the scoring date itself, so the next is a period later; no subscription: no date."""
    from serving.score import next_renewal_date

    features = pd.DataFrame(
        {"days_to_renewal": [13.0, 0.4375, np.nan], "billing_period_days": [30.0, 30.4375, np.nan]}
    )
    got = next_renewal_date(features, dt.date(2026, 9, 30))
    assert list(pd.to_datetime(got[:2]).strftime("%Y-%m-%d")) == ["2026-10-13", "2026-10-30"]
    assert pd.isna(got[2])
