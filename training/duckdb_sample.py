"""Training with the embedded engine on data too large to collect: draw the sample in DuckDB.

Training needs every training customer's full history in one process; ten million customers'
transactions and events do not fit in pandas. So, as on Spark (:mod:`training.spark_sample`),
the same seeded hash of the customer id as :func:`training.train.sample_customers` picks at
most ``model.max_training_customers`` customers where the data lives, and only their rows are
collected. The population (customers, transactions, data span) is measured on all the data and
passed to training, so the backtest plan and the report describe everything.
"""

from __future__ import annotations

import numpy as np

from features.contract import InputTables
from features.engine import IbisTables, fetch
from features.loader import collect_tables
from training.train import Population, sample_keys


def sample_on_duckdb(
    tables: IbisTables, max_customers: int, seed: int
) -> tuple[InputTables, Population]:
    """The training tables (pandas) of at most ``max_customers`` customers, and the population."""
    import ibis
    import pyarrow as pa

    tx = tables.transactions
    stats = fetch(
        tables.con,
        tx.aggregate(
            customers=tx.customer_id.nunique(),
            transactions=tx.count(),
            first=tx.timestamp.min(),
            last=tx.timestamp.max(),
        ),
    ).to_pylist()[0]
    population = Population.of_stats(stats)
    if population.customers > max_customers:
        ids = fetch(tables.con, tx.select("customer_id").distinct())["customer_id"]
        ids = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
        keep = ids[np.argsort(sample_keys(ids, seed), kind="stable")[:max_customers]]
        kept = ibis.memtable(pa.table({"customer_id": pa.array(keep, pa.string())}))
        tables = IbisTables(
            con=tables.con,
            **{
                name: getattr(tables, name).semi_join(kept, "customer_id")
                for name in tables.present
            },
        )
    return collect_tables(tables), population
