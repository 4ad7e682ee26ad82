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

from features.contract import CONTRACT, InputTables
from features.engine import TABLES, IbisTables, to_spark_frame
from training.train import Population, sample_keys

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame


def _with_contract_dtypes(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A frame collected from Spark with the contract's pandas dtypes."""
    out = pd.DataFrame(index=frame.index)
    for col, (_required, dtype, _meaning) in CONTRACT[table].items():
        out[col] = frame[col].astype(dtype)
    return out


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
    population = Population(
        customers=int(stats["customers"]),
        transactions=int(stats["transactions"]),
        first_timestamp=pd.Timestamp(stats["first"]),
        last_timestamp=pd.Timestamp(stats["last"]),
    )
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
    frames = {
        name: _with_contract_dtypes(spark[name].toPandas(), name) if name in spark else None
        for name in TABLES
    }
    return InputTables(**frames).validate(), population
