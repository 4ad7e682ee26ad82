"""Wiring of the stages (Kedro-style): each step calls pure functions and writes outputs.

The CLI parses options and calls these; nothing here parses command lines. Every file a step
reads or writes is named by the run's output catalog (:class:`core.catalog.OutputCatalog`, the
folder ``settings.output_dir``, which ``--out`` sets on every command).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.catalog import OutputCatalog
from core.files import write_frame, write_text
from core.settings import Settings
from features.engine import IbisTables
from features.sources import LoadResult, load_tables

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from training.train import TrainingResult


def load_inputs(
    settings: Settings, console: Console, backend: BaseBackend | None = None
) -> LoadResult:
    """Load the contract tables; write rejects.csv and load_summary.json to the output folder.

    With a ``backend`` (the Spark engine), Parquet and catalog tables are read and cleaned on it
    and the result holds Ibis tables (:func:`features.backend_sources.load_tables_on`).
    """
    catalog = OutputCatalog(settings.output_dir)
    with console.status("Reading input tables"):
        if backend is None:
            result = load_tables(settings.data)
        else:
            from features.backend_sources import load_tables_on

            result = load_tables_on(settings.data, backend)
    table = Table(title="Input data")
    for col in ("table", "rows read", "duplicates dropped", "rejected", "kept", "reject reasons"):
        table.add_column(col)
    for row in result.summary_rows():
        table.add_row(
            str(row["table"]),
            f"{row['rows_read']:,}",
            f"{row['duplicates_dropped']:,}",
            f"{row['rejected']:,}",
            f"{row['rows_kept']:,}",
            str(row["reject_reasons"]),
        )
    console.print(table)
    write_frame(result.rejects, catalog.rejects)
    write_text(json.dumps(result.summary_rows(), indent=2), catalog.load_summary)
    if len(result.rejects):
        console.print(
            f"[yellow]{len(result.rejects):,} rejected rows[/], reasons in {catalog.rejects}"
        )
    return result


def resolve_cutoff(settings: Settings, result: LoadResult) -> dt.date:
    """The configured cutoff, or the date of the last transaction."""
    if settings.cutoff is not None:
        return settings.cutoff
    if isinstance(result.tables, IbisTables):
        from features.backend_sources import max_timestamp

        return max_timestamp(result.tables).date()
    return result.tables.max_timestamp.date()


def progress_bar(console: Console) -> Progress:
    """The progress bar every long step uses."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_features(settings: Settings, console: Console) -> Path:
    """Load inputs, build the feature frame at the cutoff and write it as Parquet."""
    if settings.engine == "spark":
        from churnclv.pipeline_spark import run_features_spark

        return run_features_spark(settings, console)
    from features import build_features

    result = load_inputs(settings, console)
    cutoff = resolve_cutoff(settings, result)
    path = OutputCatalog(settings.output_dir).features
    with progress_bar(console) as progress:
        frame: pd.DataFrame = build_features(result.tables, cutoff, progress=progress)
    write_frame(frame, path)
    console.print(f"cutoff {cutoff}: {len(frame):,} customers x {frame.shape[1] - 1} features")
    return path


def _find_truth(settings: Settings) -> pd.DataFrame | None:
    """The demo generator's ground truth, when the data folder holds one (demo data only)."""
    if settings.data.dir is None:
        return None
    for name in ("truth.parquet", "truth.csv"):
        path = Path(settings.data.dir) / name
        if path.exists():
            if path.suffix == ".csv":
                return pd.read_csv(path, dtype={"customer_id": "str"})
            return pd.read_parquet(path)
    return None


def _metric_table(title: str, metrics: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> Table:
    """A rich table of chosen metric columns, one row per model or baseline."""
    table = Table(title=title)
    for header in ("model", *columns):
        table.add_column(header)
    for _, row in metrics.iterrows():
        table.add_row(str(row["model"]), *(fmt.format(row[col]) for col, fmt in columns.values()))
    return table


def run_training(settings: Settings, console: Console) -> dict[str, object]:
    """Load inputs, train and evaluate, write the bundle and report, log and register in MLflow."""
    from features import build_features
    from training.report import render_report
    from training.tracking import log_and_register
    from training.train import train_models
    from training.truth import evaluate_against_truth

    catalog = OutputCatalog(settings.output_dir)
    with contextlib.ExitStack() as stack:
        backend = None
        if settings.engine == "spark":  # read and sample on Spark, train here
            from churnclv.pipeline_spark import spark_backend

            backend = stack.enter_context(spark_backend(settings))
        result_in = load_inputs(settings, console, backend=backend)
        tables, population = result_in.tables, None
        if backend is not None:
            from training.spark_sample import sample_on_spark

            with console.status("Drawing the training sample on Spark"):
                tables, population = sample_on_spark(
                    result_in.tables, settings.model.max_training_customers, settings.model.seed
                )
        with progress_bar(console) as progress:
            task = progress.add_task("training", total=None)

            def step(msg: str) -> None:
                progress.update(task, description=msg, advance=1)

            result = train_models(tables, settings, step=step, population=population)
            extra = {}
            truth = _find_truth(settings)
            if truth is not None:
                step("comparing with the demo generator's ground truth")
                end = result.data_end
                feats = build_features(result_in.tables, end)
                extra["Against the demo generator's ground truth (scored at the data end)"] = (
                    evaluate_against_truth(
                        result.bundle,
                        feats,
                        truth,
                        settings.churn_horizon_days,
                        result.baselines,
                        scoring_date=end,
                    )
                )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    bundle_dir = result.bundle.save(catalog.bundle)
    report_path = render_report(result, catalog.training_report, extra_tables=extra)
    with console.status("Logging to MLflow and registering models"):
        reg = log_and_register(result, settings, bundle_dir, report_path.parent)
    if result.plan is not None:
        _print_backtest(console, result)
    for kind, what in (("churn", "churn scores"), ("revenue", "revenue and CLV")):
        console.print(
            f"{what} served by [bold]{result.served[kind]}[/]: {result.selection[kind]}",
            markup=True,
        )
    status = "champion" if reg.promoted else "challenger"
    console.print(
        f"registered churn_model v{reg.versions['churn_model']} and clv_model "
        f"v{reg.versions['clv_model']} as [bold]{status}[/] ({reg.reason}); MLflow run {reg.run_id}"
    )
    console.print(f"report: {report_path}")
    return {"report": report_path, "bundle": bundle_dir, "registration": reg, "result": result}


def _print_backtest(console: Console, result: TrainingResult) -> None:
    """The backtest's metric tables, the CLV check and the interval's coverage."""
    console.print(
        _metric_table(
            f"Backtest (test cutoff {result.plan.test_cutoff})",
            result.churn_metrics,
            {
                "ROC-AUC": ("roc_auc", "{:.3f}"),
                "PR-AUC": ("pr_auc", "{:.3f}"),
                "Brier": ("brier", "{:.3f}"),
                "lift@10%": ("lift_top10", "{:.2f}"),
            },
        )
    )
    table = _metric_table(
        "Revenue over the horizon",
        result.revenue_metrics,
        {
            "Spearman": ("spearman", "{:.3f}"),
            "norm. Gini": ("normalized_gini", "{:.3f}"),
            "top-20% capture": ("revenue_capture_top20", "{:.1%}"),
            "total pred/actual %": ("total_pred_vs_actual_pct", "{:.0f}%"),
        },
    )
    console.print(table)
    check = result.clv_check
    if check is not None:
        console.print(
            _metric_table(
                f"CLV over {check.plan.horizon_days} days from {check.plan.cutoff} "
                "(margin 1, undiscounted)",
                check.metrics,
                {
                    "Spearman": ("spearman", "{:.3f}"),
                    "norm. Gini": ("normalized_gini", "{:.3f}"),
                    "top-10% capture": ("revenue_capture_top10", "{:.1%}"),
                    "total pred/actual %": ("total_pred_vs_actual_pct", "{:.0f}%"),
                },
            )
        )
    cov = result.bundle.interval
    if cov is not None:
        console.print(
            f"CLV {cov.level:.0%} interval: {cov.coverage:.1%} of customers' actual "
            f"{cov.horizon_days}-day revenue inside on the backtest"
        )


def campaign_for(campaign: str | None, holdout_percent: float, cutoff: dt.date) -> str | None:
    """The campaign name of a scoring run: the given one, or ``holdout-<cutoff>`` with a holdout."""
    return campaign or (f"holdout-{cutoff}" if holdout_percent else None)


def run_scoring(
    settings: Settings,
    console: Console,
    holdout_percent: float = 0.0,
    campaign: str | None = None,
) -> dict[str, Path]:
    """Score every customer at the cutoff with the champion models; write lists and history."""
    if settings.engine == "spark":
        from churnclv.pipeline_spark import run_scoring_spark

        return run_scoring_spark(settings, console, holdout_percent, campaign)
    from features import build_features
    from features.drift import evaluate_drift
    from features.rfm import has_paid_purchase
    from serving.batch import mark_control_group, segment_summary, write_outputs
    from serving.model_store import load_registered
    from serving.score import score_customers

    catalog = OutputCatalog(settings.output_dir)
    with console.status("Fetching champion models from MLflow"):
        models = load_registered(settings.mlflow_tracking_uri)
    result = load_inputs(settings, console)
    cutoff = resolve_cutoff(settings, result)
    with progress_bar(console) as progress:
        feats = build_features(result.tables, cutoff, progress=progress)
        task = progress.add_task("scoring", total=1)
        scores = score_customers(
            feats,
            models.bundle,
            settings.segments,
            scoring_date=cutoff,
            model_versions=models.versions,
        )
        progress.advance(task)
    campaign_name = campaign_for(campaign, holdout_percent, cutoff)
    scores = mark_control_group(scores, campaign_name, holdout_percent)
    total_error = models.bundle.interval.total_error if models.bundle.interval else None
    paths = write_outputs(scores, catalog, total_error)
    buyers = feats[has_paid_purchase(feats)]  # the models' population, for drift
    drift = evaluate_drift(buyers, models.bundle.meta.get("drift_reference", {}))
    finish_scoring(
        console,
        catalog,
        cutoff,
        models.versions,
        paths,
        history=scores,
        summary=segment_summary(scores, total_error),
        drift=drift,
        control_count=int(scores["control"].sum()),
        campaign=campaign_name,
        holdout_percent=holdout_percent,
    )
    newcomers = len(feats) - len(buyers)
    if newcomers:
        console.print(
            f"{newcomers:,} known customers without a paid purchase yet are in the segment "
            f"'{settings.segments.no_purchase_segment}' (no churn probability or CLV yet)."
        )
    return paths


def finish_scoring(
    console: Console,
    catalog: OutputCatalog,
    cutoff: dt.date,
    versions: dict[str, str],
    paths: dict[str, Path],
    *,
    history: pd.DataFrame | Path,
    summary: pd.DataFrame,
    drift: pd.DataFrame,
    control_count: int,
    campaign: str | None,
    holdout_percent: float,
) -> None:
    """What every engine does after writing the scores: drift file, run history, segment
    movement since the last run, and the console summary. ``paths`` gains drift/movement."""
    import uuid

    from serving.batch import movement_summary, record_run, segment_movement

    paths["drift"] = write_frame(drift, catalog.drift)
    run_id = f"{cutoff}-{uuid.uuid4().hex[:8]}"
    record_run(catalog.history, run_id, history)
    movement = segment_movement(catalog.history, run_id)
    paths["movement"] = write_frame(movement, catalog.movement)

    summary = summary.merge(movement_summary(movement), on="segment", how="left")
    table = Table(title=f"Segments at {cutoff} (churn_model v{versions.get('churn_model')})")
    ranged = summary["clv_total_low"].notna().any()
    for col in (
        "segment",
        "customers",
        "expected revenue",
        "CLV total (80% range)" if ranged else "CLV total",
        "value at risk",
        "entered",
        "left",
    ):
        table.add_column(col)
    for _, row in summary.iterrows():
        clv = f"{row['clv']:,.0f}"
        if pd.notna(row.get("clv_total_low")):
            clv += f" ({row['clv_total_low']:,.0f} to {row['clv_total_high']:,.0f})"
        table.add_row(
            str(row["segment"]),
            f"{row['customers']:,}",
            f"{row['expected_revenue']:,.0f}",
            clv,
            f"{row['value_at_risk']:,.0f}",
            "" if pd.isna(row.get("entered")) else f"{int(row['entered']):,}",
            "" if pd.isna(row.get("left")) else f"{int(row['left']):,}",
        )
    console.print(table)
    if holdout_percent:
        console.print(
            f"control group for campaign '{campaign}': {control_count:,} "
            f"customers ({holdout_percent:g}% of each segment), flagged in column 'control'"
        )
    for _, row in drift[drift["status"].isin(["warn", "flag"])].iterrows():
        colour = "red" if row["status"] == "flag" else "yellow"
        console.print(f"[{colour}]drift {row['status']}:[/] {row['feature']} PSI {row['psi']:.2f}")
    console.print(
        f"scores: {paths['scores']}; lists: {catalog.segments}; summary: {paths['summary']}"
    )


REPORT_COLUMNS = {
    "transactions": ["customer_id", "timestamp", "amount"],
    "customers": ["customer_id", "signup_date", "acquisition_channel"],
}
"""What the retention, cohort, channel and campaign reports read of the input tables."""


def run_report(
    settings: Settings,
    console: Console,
    campaign: str | None = None,
    since: dt.date | None = None,
) -> dict[str, Path]:
    """Retention, cohort and CLV-by-channel report; campaign effect when a campaign is named."""
    from reports.marketing import build_retention_report, measure_campaign

    if settings.engine == "spark":
        # read on Spark (catalog tables, Parquet folders); the report's few columns come here
        from churnclv.pipeline_spark import spark_backend
        from features.backend_sources import collect_tables

        with spark_backend(settings) as con:
            result = load_inputs(settings, console, backend=con)
            with console.status("Collecting the report's columns from Spark"):
                result.tables = collect_tables(result.tables, REPORT_COLUMNS)
    else:
        result = load_inputs(settings, console)
    catalog = OutputCatalog(settings.output_dir)
    scores = pd.read_parquet(catalog.scores) if catalog.scores.exists() else None
    if scores is None:
        console.print(
            f"[yellow]no scores at {catalog.scores}[/]: CLV by channel needs `churnclv score`"
        )
    effect = None
    if campaign:
        if since is None:
            raise ValueError("--since DATE is required with --campaign")
        effect = measure_campaign(catalog.history, result.tables.transactions, campaign, since)
    with console.status("Building the retention report"):
        paths = build_retention_report(
            result.tables,
            settings.churn_horizon_days,
            catalog.reports,
            scores=scores,
            campaign=effect,
        )
    if effect is not None:
        for r in effect.itertuples():
            console.print(
                f"{r.measure}: treated {r.treated:,.2f} vs control {r.control:,.2f} "
                f"(difference {r.difference:+,.2f}, 95% CI {r.ci95_low:+,.2f} to {r.ci95_high:+,.2f})"
            )
    console.print(f"report: {paths['report']} (CSV files beside it)")
    return paths


def run_serve(
    settings: Settings,
    console: Console,
    config_path: Path | None,
    port: int | None = None,
    insecure_local: bool = False,
) -> int:
    """Import the champion into the BentoML store and run the service until stopped; it
    serves the scores of the output folder's last run."""
    import os
    import subprocess
    import sys

    from serving.model_store import import_to_bentoml
    from serving.service_config import ServiceConfig

    config = ServiceConfig(
        config_path=config_path,
        scores_dir=OutputCatalog(settings.output_dir).root,
        api_keys_file=settings.serving.api_keys_file,
        insecure_local=insecure_local,
    )
    config.api_keys()  # one clear line now rather than a failing server later
    with console.status("Importing the champion models into the BentoML model store"):
        model = import_to_bentoml(settings.mlflow_tracking_uri)
    config = dataclasses.replace(config, model_tag=str(model.tag))
    env = {**os.environ, **config.to_env()}
    scores = config.scores_dir
    host, port = settings.serving.host, port or settings.serving.port
    console.print(
        f"serving {model.tag} with scores from {scores} on http://{host}:{port}/ "
        f"(page /, API docs /docs){' without API keys' if insecure_local else ''}"
    )
    cmd = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:ChurnCLV",
        "--host",
        host,
        "--port",
        str(port),
    ]
    return subprocess.call(cmd, env=env)
