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
