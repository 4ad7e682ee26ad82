"""The ``engine: spark`` wiring of ``churnclv features`` and ``churnclv score``.

Same steps and outputs as :mod:`churnclv.pipeline`, but the data stays on Spark: inputs are read
and cleaned there (:mod:`features.backend_sources`), the feature frame is one lazy Ibis
expression (:func:`features.build.feature_table`) and scoring runs the one scoring function in
``mapInPandas`` (:mod:`serving.spark`). Only small things reach the driver: rejected rows,
per-segment totals and a sample of features for the drift check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from churnclv.pipeline import (
    campaign_for,
    finish_scoring,
    load_inputs,
    progress_bar,
    resolve_cutoff,
)
from core.catalog import OutputCatalog
from core.settings import Settings

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from rich.progress import Progress

DRIFT_SAMPLE = 200_000
"""The drift check (PSI per feature) runs on a random sample of about this many customers."""


@contextlib.contextmanager
def spark_backend(settings: Settings) -> Iterator[BaseBackend]:
    """A Spark session from ``settings.spark`` (master, conf) wrapped by Ibis; stopped after."""
    from features.engine import make_backend

    con = make_backend(
        "spark",
        spark_master=settings.spark.master,
        spark_conf=settings.spark.conf,
    )
    con._session.sparkContext.setLogLevel("ERROR")
    try:
        yield con
    finally:
        con._session.stop()


def _master(con: BaseBackend) -> str:
    return con._session.sparkContext.master


@contextlib.contextmanager
def spark_progress(con: BaseBackend, progress: Progress, label: str) -> Iterator[None]:
    """Show the tasks of the running Spark stages on a progress bar while the block runs.

    A background thread polls Spark's status tracker twice a second; the bar counts the tasks
    of the stages seen so far (done / known), so it moves with the job.
    """
    import threading

    tracker = con._session.sparkContext.statusTracker()
    task = progress.add_task(label, total=None)
    stop = threading.Event()
    stages: dict[int, tuple[int, int]] = {}

    def poll() -> None:
        while not stop.wait(0.5):
            for stage_id in tracker.getActiveStageIds():
                info = tracker.getStageInfo(stage_id)
                if info is not None:
                    stages[stage_id] = (info.numCompletedTasks, info.numTasks)
            done = sum(d for d, _ in stages.values())
            total = sum(t for _, t in stages.values())
            progress.update(task, completed=done, total=max(total, 1))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        done = sum(t for _, t in stages.values()) or 1
        progress.update(task, completed=done, total=done)


def run_features_spark(settings: Settings, console: Console) -> Path:
    """Build the feature frame at the cutoff on Spark and write it as a Parquet directory."""
    from features.build import feature_table
    from features.engine import to_spark_frame
    from serving.spark import write_spark_parquet

    path = OutputCatalog(settings.output_dir).features
    with spark_backend(settings) as con:
        result = load_inputs(settings, console, backend=con)
        cutoff = resolve_cutoff(settings, result)
        with progress_bar(console) as progress:
            with spark_progress(con, progress, f"features on Spark ({_master(con)}), tasks"):
                _, expr = feature_table(result.tables, cutoff)
                write_spark_parquet(to_spark_frame(con, expr), path)
            written = con._session.read.parquet(str(path))
            rows, cols = written.count(), len(written.columns)
    console.print(f"cutoff {cutoff}: {rows:,} customers x {cols - 1} features (Spark)")
    return path


def run_scoring_spark(
    settings: Settings,
    console: Console,
    holdout_percent: float = 0.0,
    campaign: str | None = None,
) -> dict[str, Path]:
    """Score every customer on Spark with the champion models; same outputs as the DuckDB run."""
    import pandas as pd
    from pyspark import StorageLevel

    from features.build import conform_dtypes, feature_table
    from features.drift import evaluate_drift
    from features.engine import to_spark_frame
    from features.rfm import HAS_PAID_PURCHASE_SQL
    from serving.model_store import load_registered
    from serving.spark import score_spark, write_spark_outputs

    catalog = OutputCatalog(settings.output_dir)
    with console.status("Fetching champion models from MLflow"):
        models = load_registered(settings.mlflow_tracking_uri)
    with spark_backend(settings) as con:
        result = load_inputs(settings, console, backend=con)
        cutoff = resolve_cutoff(settings, result)
        campaign_name = campaign_for(campaign, holdout_percent, cutoff)
        with progress_bar(console) as progress:
            with spark_progress(con, progress, f"scoring on Spark ({_master(con)}), tasks"):
                _, expr = feature_table(result.tables, cutoff)
                everyone = to_spark_frame(con, expr)
                everyone = everyone.persist(StorageLevel.MEMORY_AND_DISK)  # scored, then sampled
                scores = score_spark(
                    everyone,
                    models.bundle,
                    settings.segments,
                    scoring_date=cutoff,
                    model_versions=models.versions,
                    campaign=campaign_name,
                    holdout_percent=holdout_percent,
                )
                interval = models.bundle.interval
                paths = write_spark_outputs(
                    scores, catalog, interval.total_error if interval else None
                )
            with spark_progress(con, progress, "drift sample and control group, tasks"):
                summary = pd.read_csv(paths["summary"])
                n = int(summary.loc[summary["segment"] == "All customers", "customers"].iloc[0])
                fraction = min(1.0, DRIFT_SAMPLE / max(n, 1))
                buyers = everyone.filter(HAS_PAID_PURCHASE_SQL)  # the models' population
                sample = conform_dtypes(buyers.sample(fraction=fraction, seed=7).toPandas())
                drift = evaluate_drift(sample, models.bundle.meta.get("drift_reference", {}))
                written = con._session.read.parquet(str(paths["scores"]))
                control_count = written.filter("control").count() if holdout_percent else 0
                everyone.unpersist()
    finish_scoring(
        console,
        catalog,
        cutoff,
        models.versions,
        paths,
        history=paths["scores"],
        summary=summary,
        drift=drift,
        control_count=control_count,
        campaign=campaign_name,
        holdout_percent=holdout_percent,
    )
    if fraction < 1.0:
        console.print(f"drift checked on a random {fraction:.1%} sample of the scored customers")
    return paths
