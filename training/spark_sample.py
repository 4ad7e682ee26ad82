"""Training with ``engine: spark``: draw the training sample on Spark, train on this machine.

Training needs every training customer's full history in one process (snapshots at several
cutoffs, a backtest, LightGBM), so with Spark the data is cut down where it lives: the same
seeded hash of the customer id as :func:`training.train.sample_customers` picks at most
``model.max_training_customers`` customers (computed by ``mapInPandas`` with the same function,
so both engines draw the same customers), and only their rows are collected. The data span and
the size of the whole population are measured on Spark and passed to training, so the backtest
plan and the report describe all the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from features.contract import InputTables
from features.engine import IbisTables, to_spark_frame
from features.loader import collect_tables
from training.train import Population, sample_keys

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame


def sample_on_spark(
    tables: IbisTables, max_customers: int, seed: int
) -> tuple[InputTables, Population]:
    """The training tables (pandas) of at most ``max_customers`` customers, and the population."""
    from pyspark.sql import functions as F

    con = tables.con
    spark = {name: to_spark_frame(con, getattr(tables, name)) for name in tables.present}
    tx: SparkDataFrame = spark["transactions"]
    stats = tx.agg(
        F.countDistinct("customer_id").alias("customers"),
        F.count(F.lit(1)).alias("transactions"),
        F.min("timestamp").alias("first"),
        F.max("timestamp").alias("last"),
    ).collect()[0]
    population = Population.of_stats(stats)
    if population.customers > max_customers:

        def keys(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for batch in batches:
                ids = batch["customer_id"].astype("str").to_numpy()
                yield pd.DataFrame({"customer_id": ids, "key": sample_keys(ids, seed)})

        ids = tx.select("customer_id").distinct()
        keep = (
            ids.mapInPandas(keys, "customer_id string, key long")
            .orderBy("key", "customer_id")
            .limit(max_customers)
            .select("customer_id")
        )
        spark = {
            name: frame.join(keep, "customer_id", "left_semi") for name, frame in spark.items()
        }
    sampled = IbisTables(
        con=con, **{name: con.table(_view(frame, name)) for name, frame in spark.items()}
    )
    return collect_tables(sampled), population


def _view(frame: SparkDataFrame, name: str) -> str:
    """Register a Spark DataFrame as a temporary view for Ibis; returns its name."""
    import ibis

    view = ibis.util.gen_name(f"churnclv_sample_{name}")
    frame.createOrReplaceTempView(view)
    return view
