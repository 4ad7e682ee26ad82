"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark_backend(tmp_path_factory):
    """One local Spark session for the whole run (Ibis PySpark backend), stopped at the end.

    local[1], no UI, 2 shuffle partitions, UTC, catalog tables in a temporary folder; made by ``features.engine.make_backend``.
    Skips when pyspark is not installed (``make test`` installs it).
    """
    pytest.importorskip("pyspark")
    import os

    from features.engine import make_backend

    previous = os.environ.get("PYSPARK_PYTHON")  # make_backend sets it if unset
    con = make_backend(
        "spark",
        spark_master="local[1]",
        spark_conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark-warehouse")),
        },
    )
    con._session.sparkContext.setLogLevel("ERROR")
    try:
        yield con
    finally:
        con._session.stop()
        if previous is None:
            os.environ.pop("PYSPARK_PYTHON", None)
