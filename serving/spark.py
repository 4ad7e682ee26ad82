"""Batch scoring on Spark: the one scoring function, run by ``mapInPandas`` on every partition.

:func:`score_spark` turns a Spark DataFrame of features into a Spark DataFrame of scores with
:func:`serving.score.score_customers` (the function the batch run and the API use), so the
scores and segments are the same whichever engine computed them. The model bundle is broadcast
once per executor. :func:`write_spark_outputs` writes the outputs the DuckDB engine writes
(``scores.parquet`` as a Parquet directory, one CSV list per segment, ``summary.csv``) without
collecting the scores on the driver: only the per-segment totals come back.

BentoML's ``bentoml.batch.run_in_spark`` is not used: it does not work with new-style class
services (BentoML issue 5524), and scoring needs no service anyway.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.catalog import OutputCatalog
from core.faults import checkpoint
from core.files import atomic_dir, write_frame
from core.settings import SegmentSettings
from features.build import conform_dtypes
from features.subscriptions import uses_subscriptions
from features.vocabulary import Vocabulary
from model.bundle import ModelBundle
from model.clv import Z80
from serving.batch import (
    DECIMALS,
    REASON_SLOTS,
    SUMMARY_KEYS,
    list_columns,
    mark_control_group,
    segment_slug,
    summary_from_totals,
    summary_sums,
)
from serving.score import score_customers

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

SCORE_SCHEMA = (
    "customer_id string, churn_probability double, expected_revenue double, clv double, "
    "clv_low double, clv_high double, value_if_retained double, value_at_risk double, "
    "risk_tier string, value_tier string, segment string, reasons array<string>, "
    "preferred_channel string, action string, churn_model_version string, clv_model_version string, "
    "scoring_date timestamp, control boolean, campaign string"
)
"""Spark schema of :data:`serving.score.SCORE_COLUMNS` plus ``control`` and ``campaign``."""


def score_schema(subscriptions: bool) -> str:
    """:data:`SCORE_SCHEMA`, with the subscription columns after ``value_at_risk`` when
    ``subscriptions`` (:func:`serving.score.score_columns`)."""
    if not subscriptions:
        return SCORE_SCHEMA
    extra = "next_renewal_date timestamp, monthly_recurring_revenue double, mrr_at_risk double, "
    at = SCORE_SCHEMA.index("risk_tier string")
    return SCORE_SCHEMA[:at] + extra + SCORE_SCHEMA[at:]


def score_spark(
    features: SparkDataFrame,
    bundle: ModelBundle,
    segments: SegmentSettings,
    *,
    scoring_date: dt.date,
    model_versions: dict[str, str] | None = None,
    campaign: str | None = None,
    holdout_percent: float = 0.0,
    currency: str | None = None,
) -> SparkDataFrame:
    """Scores of every row of a Spark feature frame (lazy; nothing runs until it is written).

    Scoring is CPU-bound, so a frame with fewer partitions than twice the cores Spark has
    (small inputs, or partitions coalesced by adaptive execution) is spread out first.
    """
    context = features.sparkSession.sparkContext
    shared = context.broadcast(bundle)
    if features.rdd.getNumPartitions() < 2 * context.defaultParallelism:
        features = features.repartition(2 * context.defaultParallelism)
    versions = dict(model_versions or {})
    vocabulary = Vocabulary.from_dict(bundle.vocabulary)

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = shared.value
        for batch in batches:
            checkpoint("spark:scoring-batch")  # in a Spark task, while the driver waits on it
            scores = score_customers(
                conform_dtypes(batch, vocabulary),
                model,
                segments,
                scoring_date=scoring_date,
                model_versions=versions,
                currency=currency,
            )
            yield mark_control_group(scores, campaign, holdout_percent)

    return features.mapInPandas(
        score_batches, score_schema(uses_subscriptions(bundle.spec.columns))
    )


def write_spark_parquet(frame: SparkDataFrame, path: Path) -> Path:
    """Write a Spark DataFrame as a Parquet directory that replaces ``path`` when complete."""
    with atomic_dir(Path(path)) as tmp:
        frame.write.mode("overwrite").parquet(str(tmp))
    return Path(path)


def _csv_writer(frame: SparkDataFrame):
    return (
        frame.coalesce(1)
        .write.mode("overwrite")
        .option("header", True)
        .option("escape", '"')  # RFC 4180 quoting, as pandas writes
        .option("timestampFormat", "yyyy-MM-dd")
    )


def write_spark_csv(frame: SparkDataFrame, path: Path) -> Path:
    """Write a (small or sorted) Spark DataFrame as one CSV file at ``path``, atomically."""
    path = Path(path)
    folder = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.spark"
    try:
        _csv_writer(frame).csv(str(folder))
        (part,) = folder.glob("part-*.csv")
        os.replace(part, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return path


def write_spark_outputs(
    scores: SparkDataFrame, catalog: OutputCatalog, total_error: float | None = 0.0
) -> dict[str, Path]:
    """scores.parquet (directory), segments/<segment>.csv by value at risk, summary.csv.

    The scores are computed once (written to Parquet) and the lists and totals read back from
    there. Lists of segments empty in this run are removed, as the DuckDB engine does.
    """
    from pyspark.sql import functions as F

    paths = {"scores": write_spark_parquet(scores, catalog.scores)}
    checkpoint("score:scores-written", catalog.scores)
    written = scores.sparkSession.read.parquet(str(paths["scores"]))
    spread = (F.col("clv_high") - F.col("clv_low")) / (2 * Z80)  # clv.customer_variance
    sums = summary_sums(written.columns)
    totals = (
        written.withColumn("clv_variance", spread * spread)
        .withColumn("control", F.col("control").cast("int"))
        .groupBy(*SUMMARY_KEYS)
        .agg(
            F.count("customer_id").alias("customers"),
            *[F.sum(col).alias(k) for k, col in sums.items() if k != "customers"],
        )
        .toPandas()
    )
    totals["customers"] = totals["customers"].astype("int64")
    seg_dir = catalog.segments
    seg_dir.mkdir(parents=True, exist_ok=True)
    # as serving.batch.list_select: rounded half to even like numpy, one column per reason
    columns = {
        c: F.bround(c, DECIMALS[c]).alias(c) if c in DECIMALS else F.col(c) for c in written.columns
    }
    for field in written.schema.fields:  # flags as True/False, as list_select writes them
        if field.dataType.typeName() == "boolean":
            flag = F.col(field.name)
            columns[field.name] = (
                F.when(flag, "True").when(~flag, "False").otherwise(None).alias(field.name)
            )
    for i, slot in enumerate(REASON_SLOTS):
        columns[slot] = F.get("reasons", i).alias(slot)
    flat = written.select(*[columns[c] for c in list_columns(written.columns)])
    held_out = F.coalesce(F.col("control") == F.lit("True"), F.lit(False))  # a flag as text
    if int(totals["control"].fillna(0).sum()):
        control = flat.filter(held_out).orderBy(
            "segment", F.col("value_at_risk").desc(), "customer_id"
        )
        paths["control"] = write_spark_csv(control, catalog.control_list)
    flat = flat.filter(~held_out)
    keep = set()
    targeted = totals["customers"] - totals["control"].fillna(0)
    for name in sorted(totals.loc[targeted > 0, "segment"]):
        path = catalog.segment_list(segment_slug(name))
        rows = flat.filter(F.col("segment") == name).orderBy(
            F.col("value_at_risk").desc(), F.col("customer_id")
        )
        paths[f"segment:{name}"] = write_spark_csv(rows, path)
        keep.add(path.name)
    for stale in seg_dir.glob("*.csv"):
        if stale.name not in keep:
            stale.unlink()
    checkpoint("score:lists-written", seg_dir)
    summary = summary_from_totals(totals[SUMMARY_KEYS + list(sums)], total_error)
    paths["summary"] = write_frame(summary, catalog.summary)
    return paths
