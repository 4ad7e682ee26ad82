"""Wiring of the stages (Kedro-style): each step calls pure functions and writes outputs.

The CLI parses options and calls these; nothing here parses command lines. Every file a step
reads or writes is named by the run's output catalog (:class:`core.catalog.OutputCatalog`, the
folder ``settings.output_dir``, which ``--out`` sets on every command).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from churnclv.engines import Engine, ScoreRun, open_engine
from core.catalog import OutputCatalog
from core.files import write_frame, write_text
from core.settings import Settings
from features.loader import LoadResult, load_tables_on, max_timestamp

if TYPE_CHECKING:
    from training.train import TrainingResult


def load_inputs(settings: Settings, console: Console, engine: Engine) -> LoadResult:
    """Load the contract tables with the engine; write the rejects and the load summary."""
    catalog = OutputCatalog(settings.output_dir)
    with console.status("Reading input tables"):
        result = load_tables_on(settings.data, engine.con)
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
            escape(str(row["reject_reasons"])),  # column names from the user's files
        )
    console.print(table)
    write_frame(result.rejects, catalog.rejects)
    write_text(json.dumps(result.summary_rows(), indent=2), catalog.load_summary)
    if len(result.rejects):
        console.print(
            f"[yellow]{len(result.rejects):,} rejected rows[/], reasons in "
            f"{escape(str(catalog.rejects))}"
        )
    return result


def resolve_cutoff(settings: Settings, result: LoadResult) -> dt.date:
    """The configured cutoff, or the date of the last transaction."""
    if settings.cutoff is not None:
        return settings.cutoff
    return max_timestamp(result.tables).date()  # type: ignore[arg-type]


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
    path = OutputCatalog(settings.output_dir).features
    with open_engine(settings) as engine:
        result = load_inputs(settings, console, engine)
        cutoff = resolve_cutoff(settings, result)
        with progress_bar(console) as progress:
            rows, cols = engine.write_features(result.tables, cutoff, path, progress)
    console.print(f"cutoff {cutoff}: {rows:,} customers x {cols} features{engine.label}")
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
    with open_engine(settings) as engine:  # on Spark: read and sample there, train here
        result_in = load_inputs(settings, console, engine)
        with console.status(f"Drawing the training sample{engine.label}"):
            tables, population = engine.training_tables(result_in.tables, settings)
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
    console.print(f"report: {escape(str(report_path))}")
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
    """Score every customer at the cutoff with the champion models; write the output set,
    the drift check, the run history and the segment movement since the last run."""
    import uuid

    from serving.batch import record_run, segment_movement
    from serving.model_store import load_registered

    catalog = OutputCatalog(settings.output_dir)
    with console.status("Fetching champion models from MLflow"):
        models = load_registered(settings.mlflow_tracking_uri)
    with open_engine(settings) as engine:
        result = load_inputs(settings, console, engine)
        cutoff = resolve_cutoff(settings, result)
        campaign = campaign_for(campaign, holdout_percent, cutoff)
        with progress_bar(console) as progress:
            run = engine.score(
                result.tables,
                cutoff,
                models,
                settings,
                catalog,
                campaign,
                holdout_percent,
                progress,
            )
    paths = run.paths
    paths["drift"] = write_frame(run.drift, catalog.drift)
    run_id = f"{cutoff}-{uuid.uuid4().hex[:8]}"
    record_run(catalog.history, run_id, run.history)
    movement = segment_movement(catalog.history, run_id)
    paths["movement"] = write_frame(movement, catalog.movement)
    _print_scoring(
        console, catalog, cutoff, models.versions, run, movement, campaign, holdout_percent
    )
    newcomers = run.summary.loc[
        run.summary["segment"] == settings.segments.no_purchase_segment, "customers"
    ].sum()
    if newcomers:
        console.print(
            f"{int(newcomers):,} known customers without a paid purchase yet are in the segment "
            f"'{settings.segments.no_purchase_segment}' (no churn probability or CLV yet)."
        )
    if run.drift_sample < 1.0:
        console.print(f"drift checked on a random {run.drift_sample:.1%} sample of the customers")
    return paths


def _print_scoring(
    console: Console,
    catalog: OutputCatalog,
    cutoff: dt.date,
    versions: dict[str, str],
    run: ScoreRun,
    movement: pd.DataFrame,
    campaign: str | None,
    holdout_percent: float,
) -> None:
    """The segment table, control group, drift warnings and where the outputs are."""
    from serving.batch import movement_summary

    drift = run.drift
    summary = run.summary.merge(movement_summary(movement), on="segment", how="left")
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
            escape(str(row["segment"])),  # names from the settings
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
            f"control group for campaign '{escape(str(campaign))}': {run.control_count:,} "
            f"customers ({holdout_percent:g}% of each segment), flagged in column 'control'"
        )
    for _, row in drift[drift["status"].isin(["warn", "flag"])].iterrows():
        colour = "red" if row["status"] == "flag" else "yellow"
        console.print(f"[{colour}]drift {row['status']}:[/] {row['feature']} PSI {row['psi']:.2f}")
    console.print(
        escape(
            f"scores: {run.paths['scores']}; lists: {catalog.segments}; "
            f"summary: {run.paths['summary']}"
        )
    )


def run_report(
    settings: Settings,
    console: Console,
    campaign: str | None = None,
    since: dt.date | None = None,
) -> dict[str, Path]:
    """Retention, cohort and CLV-by-channel report; campaign effect when a campaign is named."""
    from reports.marketing import build_retention_report, measure_campaign

    with open_engine(settings) as engine:  # on Spark: read there, the report's columns here
        result = load_inputs(settings, console, engine)
        with console.status(f"Collecting the report's columns{engine.label}"):
            result.tables = engine.report_tables(result.tables)
    catalog = OutputCatalog(settings.output_dir)
    scores = pd.read_parquet(catalog.scores) if catalog.scores.exists() else None
    if scores is None:
        console.print(
            f"[yellow]no scores at {escape(str(catalog.scores))}[/]: CLV by channel needs "
            "`churnclv score`"
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
    console.print(escape(f"report: {paths['report']} (CSV files beside it)"))
    return paths


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


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
    from serving.service_config import NoApiKeyError, ServiceConfig

    host = settings.serving.host
    if insecure_local and host not in LOOPBACK_HOSTS:
        raise NoApiKeyError(
            f"--insecure-local serves only on this machine, but serving.host is {host}: use "
            "127.0.0.1, or configure API keys to serve on other addresses"
        )

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
    port = port or settings.serving.port
    console.print(
        f"serving {model.tag} with scores from {escape(str(scores))} on http://{host}:{port}/ "
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
