"""DuckDB vs PySpark: the same Ibis expressions give the same feature frame.

Tolerance for floats: rtol 1e-6, atol 1e-6 (day arithmetic is integer on both backends, so
differences can only come from floating-point summation order); ints and strings exact.
The Spark session is the shared ``spark_backend`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.labels import build_labels
from tests.features.generated import generated_tables

pytestmark = pytest.mark.spark

RTOL = 1e-6
ATOL = 1e-6
CUTOFF = dt.date(2024, 6, 30)


def assert_frames_match(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert duck.columns.tolist() == spark.columns.tolist()
    assert duck.dtypes.tolist() == spark.dtypes.tolist()
    assert duck.customer_id.tolist() == spark.customer_id.tolist()
    for name in duck.columns:
        a, b = duck[name], spark[name]
        if a.dtype == "float64":
            np.testing.assert_allclose(
                a.to_numpy(), b.to_numpy(), rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=name
            )
        else:
            pd.testing.assert_series_equal(a, b, check_names=False, obj=name)


def test_duckdb_and_spark_build_the_same_features(spark_backend) -> None:
    tables = generated_tables()
    duck = build_features(tables, CUTOFF)
    spark = build_features(tables, CUTOFF, backend=spark_backend)
    assert len(duck) > 100
    assert duck.recency_days.notna().sum() > 50 and duck.visits_90d.sum() > 0
    assert_frames_match(duck, spark)


def test_duckdb_and_spark_choose_and_build_the_same_own_columns(spark_backend) -> None:
    """The data's own event types and customer columns (features.vocabulary): the same
    choice from the same data, then the same frame, on both engines."""
    from features.contract import InputTables
    from features.engine import to_ibis
    from features.vocabulary import vocabulary_at

    base = generated_tables()
    rng = np.random.default_rng(4)
    events = base.events.copy()
    renamed = rng.random(len(events)) < 0.3
    events.loc[renamed, "event_type"] = rng.choice(["product_view", "complaint"], renamed.sum())
    customers = base.customers.copy()
    customers["region"] = pd.Series(rng.choice(["north", "south", " east "], len(customers)))
    customers["region"] = customers["region"].astype("str")
    customers["km"] = pd.Series(rng.integers(1, 30, len(customers)).astype(str), dtype="str")
    seen = pd.Timestamp(CUTOFF) - pd.to_timedelta(rng.integers(-20, 400, len(customers)), "D")
    customers["last_seen"] = pd.Series(seen.strftime("%Y-%m-%d"), dtype="str")
    tables = InputTables(base.transactions, events, customers)

    duck_vocab = vocabulary_at(tables, CUTOFF, max_levels=2)
    spark_vocab = vocabulary_at(to_ibis(tables, spark_backend), CUTOFF, max_levels=2)
    assert duck_vocab == spark_vocab
    assert set(duck_vocab.event_types) == {"product_view", "complaint"}
    assert [a.column for a in duck_vocab.attributes] == ["region", "km", "last_seen"]
    assert duck_vocab.attributes[-1].date
    duck = build_features(tables, CUTOFF, vocabulary=duck_vocab)
    spark = build_features(tables, CUTOFF, backend=spark_backend, vocabulary=duck_vocab)
    assert duck["events_product_view_365d"].sum() > 0 and duck["attr_region"].notna().any()
    assert (duck["attr_region"] == "other").any()  # three values, two kept
    assert_frames_match(duck, spark)


def test_duckdb_and_spark_build_the_same_labels(spark_backend) -> None:
    tables = generated_tables()
    duck = build_labels(tables, CUTOFF, 60)
    spark = build_labels(tables, CUTOFF, 60, backend=spark_backend)
    assert_frames_match(duck, spark)


def test_spark_reads_parquet_like_duckdb(spark_backend, tmp_path) -> None:
    from features.engine import tables_from_parquet

    tables = generated_tables(n_customers=60, seed=3)
    paths = {}
    for name in ("transactions", "events", "customers"):
        paths[name] = tmp_path / f"{name}.parquet"
        getattr(tables, name).to_parquet(paths[name])
    duck = build_features(tables_from_parquet(**paths), CUTOFF)
    spark = build_features(tables_from_parquet(**paths, con=spark_backend), CUTOFF)
    assert len(duck) > 40
    assert_frames_match(duck, spark)


def random_subscriptions(customer_ids: list[str], seed: int = 7) -> pd.DataFrame:
    """Subscriptions for 80% of the customers: 1-3 rows each (plan changes of one subscription,
    restarts after a gap), monthly or annual, some ended or cancelled, dates around CUTOFF."""
    rng = np.random.default_rng(seed)
    rows = []
    for cid in customer_ids:
        if rng.random() < 0.2:
            continue
        start = pd.Timestamp(CUTOFF) - pd.Timedelta(days=int(rng.integers(0, 900)))
        period = float(rng.choice([30.0, 30.4375, 365.0]))
        sub = f"{cid}-1"
        for k in range(int(rng.integers(1, 4))):
            length = pd.Timedelta(days=int(rng.integers(10, 500)))
            end = start + length if rng.random() < 0.6 else None
            asked = start + pd.Timedelta(days=int(rng.integers(0, length.days)))
            cancel = asked if end and rng.random() < 0.8 else None
            rows.append((cid, sub, start, end, cancel, period, float(rng.choice([9.99, 19.99, 99.0])),
                         rng.random() < 0.8, str(rng.choice(["basic", "pro"]))))  # fmt: skip
            if end is None:
                break
            gap = 0 if rng.random() < 0.5 else int(rng.integers(1, 90))
            start = end + pd.Timedelta(days=gap)
            sub = sub if gap == 0 else f"{cid}-{k + 2}"
    col = list(zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(col[0], dtype="str"),
            "subscription_id": pd.Series(col[1], dtype="str"),
            "start_date": pd.Series(col[2]).astype("datetime64[us]"),
            "end_date": pd.Series(col[3]).astype("datetime64[us]"),
            "cancel_date": pd.Series(col[4]).astype("datetime64[us]"),
            "billing_period_days": pd.Series(col[5], dtype="float64"),
            "price": pd.Series(col[6], dtype="float64"),
            "auto_renew": pd.Series(col[7], dtype="boolean"),
            "plan": pd.Series(col[8], dtype="str"),
            "status": pd.Series([None] * len(rows), dtype="str"),
        }
    )


def test_duckdb_and_spark_build_the_same_subscription_features_and_labels(spark_backend) -> None:
    from features.contract import InputTables

    base = generated_tables()
    subs = random_subscriptions(sorted(base.transactions.customer_id.unique()))
    tables = InputTables(base.transactions, base.events, base.customers, subs)
    duck = build_features(tables, CUTOFF)
    spark = build_features(tables, CUTOFF, backend=spark_backend)
    assert duck["active_subscriptions_count"].sum() > 20 and duck["plan_upgrades_total"].sum() > 0
    assert duck["subscription_restarts_total"].sum() > 0 and duck["cancel_requested"].sum() > 0
    assert_frames_match(duck, spark)
    duck_labels = build_labels(tables, CUTOFF, 60, check_window=False)
    spark_labels = build_labels(tables, CUTOFF, 60, spark_backend, check_window=False)
    pd.testing.assert_frame_equal(duck_labels, spark_labels)
