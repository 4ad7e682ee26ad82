"""The engine seam: the few steps that differ between the embedded DuckDB engine and Spark.

The flows of :mod:`churnclv.pipeline` are written once; an engine (``settings.engine``) supplies
only what really differs:

* ``con``: the Ibis connection the one loader (:func:`features.loader.load_tables_on`) reads
  and checks the inputs on, where they then stay;
* ``write_features``: the feature frame at a cutoff, written to the catalog's features path;
* ``score``: everyone scored with the one scoring function and the output set written
  (lists, summary), plus the drift check's sample;
* ``training_tables``: the training sample (drawn on Spark there; training then runs here);
* ``report_tables``: the columns the marketing report reads, as pandas tables.

On Spark only small things reach the driver: rejected rows, per-segment totals, a sample of
features for the drift check, the training sample and the report's three columns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pandas as pd

from core.catalog import OutputCatalog
from core.settings import Settings
from features.contract import InputTables
from features.engine import IbisTables

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from rich.progress import Progress

    from features.vocabulary import Vocabulary
    from serving.model_store import LoadedModels
    from training.train import Population

DRIFT_SAMPLE = 200_000
"""On Spark the drift check (PSI per feature) runs on a random sample of about this many
customers."""

REPORT_COLUMNS = {
    "transactions": ["customer_id", "timestamp", "amount"],
    "customers": ["customer_id", "signup_date", "acquisition_channel"],
    "subscriptions": [
        "customer_id",
        "subscription_id",
        "start_date",
        "end_date",
        "billing_period_days",
        "plan",
    ],  # fmt: skip
}
"""What the retention, cohort, channel and campaign reports read of the input tables."""


@dataclass
class ScoreRun:
    """What a score run wrote and what the flow needs after it."""

    paths: dict[str, Path]
    summary: pd.DataFrame
    drift: pd.DataFrame
    control_count: int
    drift_sample: float = 1.0  # share of the customers the drift check used


class Engine(Protocol):
    """The steps an engine supplies (see the module docstring)."""

    label: str  # how the console names where work runs ("" for the embedded engine)
    con: BaseBackend

    def write_features(
        self,
        tables: IbisTables,
        cutoff: dt.date,
        path: Path,
        progress: Progress,
        vocabulary: Vocabulary | None = None,
    ) -> tuple[int, int]: ...

    def score(
        self,
        tables: IbisTables,
        cutoff: dt.date,
        models: LoadedModels,
        settings: Settings,
        catalog: OutputCatalog,
        campaign: str | None,
        holdout_percent: float,
        progress: Progress,
    ) -> ScoreRun: ...

    def training_tables(
        self, tables: IbisTables, settings: Settings
    ) -> tuple[InputTables, Population | None]: ...

    def report_tables(self, tables: IbisTables) -> InputTables: ...


def _total_error(models: LoadedModels) -> float | None:
    interval = models.bundle.interval
    return interval.total_error if interval else None


class DuckDBEngine:
    """The embedded engine: inputs read, checked and turned into features by an in-process
    DuckDB (via Ibis); training and the reports get the tables as pandas frames."""

    label = ""

    def __init__(self, con: BaseBackend, chunk_customers: int) -> None:
        self.con = con
        self.chunk_customers = chunk_customers  # features and scores, a range at a time

    def write_features(
        self,
        tables: IbisTables,
        cutoff: dt.date,
        path: Path,
        progress: Progress,
        vocabulary: Vocabulary | None = None,
    ) -> tuple[int, int]:
        from features.build import write_features

        return write_features(
            tables, cutoff, path, progress=progress, vocabulary=vocabulary,
            chunk_customers=self.chunk_customers,
        )  # fmt: skip

    def score(
        self,
        tables: IbisTables,
        cutoff: dt.date,
        models: LoadedModels,
        settings: Settings,
        catalog: OutputCatalog,
        campaign: str | None,
        holdout_percent: float,
        progress: Progress,
    ) -> ScoreRun:
        from core.prefetch import prefetched
        from features.build import build_feature_chunks
        from features.drift import count_bins, drift_from_counts
        from features.rfm import has_paid_purchase
        from features.vocabulary import Vocabulary
        from serving.batch import mark_control_group, write_outputs
        from serving.score import score_customers

        vocabulary = Vocabulary.from_dict(models.bundle.vocabulary)  # the model's, not the data's
        reference = models.bundle.meta.get("drift_reference", {})
        task = progress.add_task("scoring customers", total=None)
        bins: dict = {}  # customers per drift bin, added up over the chunks
        seen = {"buyers": 0, "control": 0, "columns": set()}

        def scored() -> Iterator[pd.DataFrame]:
            """Features and scores of one range of customers at a time (bounded memory)."""

            def report(step: str, done: int, total: int) -> None:
                progress.update(task, description=f"scoring customers: {step}", total=total,
                                completed=done)  # fmt: skip

            # the next range's features are built (in DuckDB, outside Python's lock) while
            # this one is scored; the progress bar counts ranges built
            chunks = build_feature_chunks(tables, cutoff, self.chunk_customers, vocabulary, report)
            with contextlib.closing(prefetched(chunks)) as ahead:  # stopped with scored()
                for feats in ahead:
                    scores = score_customers(
                        feats,
                        models.bundle,
                        settings.segments,
                        scoring_date=cutoff,
                        model_versions=models.versions,
                        currency=settings.currency,
                    )
                    scores = mark_control_group(scores, campaign, holdout_percent)
                    buyers = feats[has_paid_purchase(feats)]  # the models' population, for drift
                    for col, counts in count_bins(buyers, reference).items():
                        bins[col] = bins[col] + counts if col in bins else counts
                    seen["buyers"] += len(buyers)
                    seen["control"] += int(scores["control"].sum())
                    seen["columns"] |= set(feats.columns)
                    yield scores

        # the lists are sorted on this connection: one memory limit for the whole run
        ranges = scored()
        try:
            paths = write_outputs(ranges, catalog, _total_error(models), self.con.con)
        finally:  # on an error too: the range prefetch stops before anything else uses the
            ranges.close()  # connection or closes it
        compared = {c: r for c, r in reference.items() if c in seen["columns"]}
        return ScoreRun(
            paths=paths,
            summary=pd.read_csv(paths["summary"]),  # as written, as the Spark engine reads it
            drift=drift_from_counts(bins, seen["buyers"], compared),
            control_count=seen["control"],
        )

    def training_tables(
        self, tables: IbisTables, settings: Settings
    ) -> tuple[InputTables, Population | None]:
        from training.duckdb_sample import sample_on_duckdb

        # the sample drawn in DuckDB: only its customers' rows come into memory
        return sample_on_duckdb(tables, settings.model.max_training_customers, settings.model.seed)

    def report_tables(self, tables: IbisTables) -> InputTables:
        from features.loader import collect_tables

        return collect_tables(tables, REPORT_COLUMNS)


class SparkEngine:
    """``engine: spark``: inputs read and checked on Spark (:mod:`features.loader`), the
    feature frame one lazy Ibis expression (:func:`features.build.feature_table`), scoring in
    ``mapInPandas`` (:mod:`serving.spark`)."""

    def __init__(self, con: BaseBackend) -> None:
        self.con = con
        self.label = f" on Spark ({con._session.sparkContext.master})"

    def write_features(
        self,
        tables: IbisTables,
        cutoff: dt.date,
        path: Path,
        progress: Progress,
        vocabulary: Vocabulary | None = None,
    ) -> tuple[int, int]:
        from features.build import feature_table
        from features.engine import to_spark_frame
        from serving.spark import write_spark_parquet

        with spark_progress(self.con, progress, f"features{self.label}, tasks"):
            _, expr = feature_table(tables, cutoff, vocabulary=vocabulary)
            write_spark_parquet(to_spark_frame(self.con, expr), path)
        written = self.con._session.read.parquet(str(path))
        return written.count(), len(written.columns) - 1

    def score(
        self,
        tables: IbisTables,
        cutoff: dt.date,
        models: LoadedModels,
        settings: Settings,
        catalog: OutputCatalog,
        campaign: str | None,
        holdout_percent: float,
        progress: Progress,
    ) -> ScoreRun:
        from features.build import conform_dtypes, feature_table
        from features.drift import evaluate_drift
        from features.engine import to_spark_frame
        from features.rfm import HAS_PAID_PURCHASE_SQL
        from features.vocabulary import Vocabulary
        from serving.spark import score_spark, write_spark_outputs, write_spark_parquet

        vocabulary = Vocabulary.from_dict(models.bundle.vocabulary)  # the model's, not the data's
        with spark_progress(self.con, progress, f"scoring{self.label}, tasks"):
            _, expr = feature_table(tables, cutoff, vocabulary=vocabulary)
            # written once, then read by the scoring and the drift sample: Parquet is read back
            # in splits of spark.sql.files.maxPartitionBytes, so no task holds more than that,
            # where a persisted frame keeps the feature stage's partitions (at 10M customers
            # and 8 shuffle partitions, blocks over the 2 GB a buffer can hold)
            features_path = write_spark_parquet(
                to_spark_frame(self.con, expr), catalog.run_features
            )
            everyone = self.con._session.read.parquet(str(features_path))
            scores = score_spark(
                everyone,
                models.bundle,
                settings.segments,
                scoring_date=cutoff,
                model_versions=models.versions,
                campaign=campaign,
                holdout_percent=holdout_percent,
                currency=settings.currency,
            )
            paths = write_spark_outputs(scores, catalog, _total_error(models))
        with spark_progress(self.con, progress, "drift sample and control group, tasks"):
            summary = pd.read_csv(paths["summary"])
            n = int(summary.loc[summary["segment"] == "All customers", "customers"].iloc[0])
            fraction = min(1.0, DRIFT_SAMPLE / max(n, 1))
            buyers = everyone.filter(HAS_PAID_PURCHASE_SQL)  # the models' population
            sample = buyers.sample(fraction=fraction, seed=7).toPandas()
            sample = conform_dtypes(sample, vocabulary)
            drift = evaluate_drift(sample, models.bundle.meta.get("drift_reference", {}))
            written = self.con._session.read.parquet(str(paths["scores"]))
            control_count = written.filter("control").count() if holdout_percent else 0
            shutil.rmtree(features_path)
        return ScoreRun(
            paths=paths,
            summary=summary,
            drift=drift,
            control_count=control_count,
            drift_sample=fraction,
        )

    def training_tables(
        self, tables: IbisTables, settings: Settings
    ) -> tuple[InputTables, Population | None]:
        from training.spark_sample import sample_on_spark

        return sample_on_spark(tables, settings.model.max_training_customers, settings.model.seed)

    def report_tables(self, tables: IbisTables) -> InputTables:
        from features.loader import collect_tables

        return collect_tables(tables, REPORT_COLUMNS)


@contextlib.contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The engine of ``settings.engine``; a Spark session is started for it and stopped after."""
    from features.engine import default_backend, make_backend

    if settings.engine != "spark":
        con = default_backend(settings.duckdb_memory_limit)
        try:
            yield DuckDBEngine(con, settings.chunk_customers)
        finally:
            con.disconnect()
        return

    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    ctrl_c = signal.getsignal(signal.SIGINT) if main else None
    con = make_backend("spark", spark_master=settings.spark.master, spark_conf=settings.spark.conf)
    if ctrl_c is not None:  # the command's own handler (it cancels Spark's jobs too), not the
        signal.signal(signal.SIGINT, ctrl_c)  # one Spark's context installs, so both end alike
    con._session.sparkContext.setLogLevel("ERROR")
    try:
        yield SparkEngine(con)
    finally:
        con._session.stop()


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
