"""Wiring of the stages (Kedro-style): each step calls pure functions and writes outputs.

The CLI parses options and calls these; nothing here parses command lines or formats output:
each flow tells a :class:`churnclv.console.Reporter` what happens while it runs and returns a
result (``FeaturesRun``, ``TrainRun``, ``ScoringRun``, ``ReportRun``) that the CLI has the
reporter print. Every file a step reads or writes is named by the run's output catalog
(:class:`core.catalog.OutputCatalog`, the folder ``settings.output_dir``, which ``--out`` sets on
every command).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from churnclv.console import Reporter
from churnclv.engines import Engine, open_engine
from core.catalog import OutputCatalog
from core.errors import UserError
from core.faults import checkpoint
from core.files import write_frame, write_text
from core.settings import Settings
from features.context import check_cutoff
from features.loader import LoadResult, load_tables_on, timestamp_range

if TYPE_CHECKING:
    from training.promotion import ChampionChange
    from training.tracking import Registration
    from training.train import TrainingResult


@contextlib.contextmanager
def writing(settings: Settings, command: str) -> Iterator[OutputCatalog]:
    """Hold the output folder's lock while a command writes there (one writer at a time)."""
    from core.lock import hold

    catalog = OutputCatalog(settings.output_dir)
    with hold(catalog.lock, command, f"output folder {catalog.root}"):
        yield catalog


def load_inputs(
    settings: Settings, reporter: Reporter, engine: Engine, catalog: OutputCatalog | None = None
) -> LoadResult:
    """Load the contract tables with the engine; write the rejects and the load summary
    (into ``catalog``: a score run's own folder, else the output folder)."""
    from features.contract import NoUsableRowsError

    catalog = catalog or OutputCatalog(settings.output_dir)
    try:
        with reporter.status("Reading input tables"):
            result = load_tables_on(settings.data, engine.con)
    except NoUsableRowsError as exc:  # nothing to run on: still show the user every reason
        write_frame(exc.rejects, catalog.rejects)
        raise NoUsableRowsError(
            f"{exc}; every row and its reason: {catalog.rejects}", exc.rejects
        ) from None
    write_frame(result.rejects, catalog.rejects)
    write_text(json.dumps(result.summary_rows(), indent=2), catalog.load_summary)
    reporter.loaded(result, catalog.rejects)
    return result


def resolve_cutoff(settings: Settings, result: LoadResult) -> dt.date:
    """The configured cutoff (checked to lie within the transactions' dates), or the date of
    the last transaction."""
    first, last = timestamp_range(result.tables)  # type: ignore[arg-type]
    if settings.cutoff is None:
        return last.date()
    return check_cutoff(settings.cutoff, first.date(), last.date())


@dataclasses.dataclass
class FeaturesRun:
    """What ``churnclv features`` wrote."""

    path: Path
    cutoff: dt.date
    customers: int
    features: int
    engine_label: str
    own_columns: str | None = None
    """What of the data's own columns became features (see features.vocabulary)."""


def run_features(settings: Settings, reporter: Reporter) -> FeaturesRun:
    """Load inputs, build the feature frame at the cutoff and write it as Parquet."""
    with writing(settings, "churnclv features") as catalog, open_engine(settings) as engine:
        result = load_inputs(settings, reporter, engine)
        cutoff = resolve_cutoff(settings, result)
        from features.vocabulary import vocabulary_at

        # the data's own event types and attributes, chosen as training does (at the cutoff)
        vocabulary = vocabulary_at(result.tables, cutoff, **settings.model.vocabulary_limits)
        with reporter.progress() as progress:
            rows, cols = engine.write_features(
                result.tables, cutoff, catalog.features, progress, vocabulary
            )
    return FeaturesRun(catalog.features, cutoff, rows, cols, engine.label, vocabulary.describe())


class TruthError(UserError):
    """The configured ground truth cannot be read."""


def _read_truth(settings: Settings) -> pd.DataFrame | None:
    """The simulation's ground truth named by ``data.truth`` (``--truth``), or None."""
    path = settings.data.truth
    if path is None:
        return None
    if not Path(path).is_file():
        raise TruthError(f"data.truth: {path} is not a file (the ground truth of simulated data)")
    if Path(path).suffix == ".csv":
        return pd.read_csv(path, dtype={"customer_id": "str"})
    return pd.read_parquet(path)


@dataclasses.dataclass
class TrainRun:
    """What ``churnclv train`` produced: the training result, where it wrote, what MLflow did."""

    result: TrainingResult
    bundle: Path
    report: Path
    registration: Registration


def run_training(settings: Settings, reporter: Reporter, experiment: str | None = None) -> TrainRun:
    """Load inputs, train and evaluate, write the bundle and report, log and register in MLflow
    (``experiment``: log into that MLflow experiment and register nothing)."""
    from features import build_features
    from features.vocabulary import Vocabulary
    from training.report import render_report
    from training.tracking import log_and_register, log_report
    from training.train import train_models
    from training.truth import evaluate_against_truth, truth_mismatch

    with writing(settings, "churnclv train") as catalog:
        with open_engine(settings) as engine:  # on Spark: read and sample there, train here
            result_in = load_inputs(settings, reporter, engine)
            resolve_cutoff(settings, result_in)  # a cutoff outside the data stops here
            truth = _read_truth(settings)  # a wrong path stops before the long part
            with reporter.status(f"Drawing the training sample{engine.label}"):
                tables, population = engine.training_tables(result_in.tables, settings)
            with reporter.progress() as progress:
                task = progress.add_task("training", total=None)

                def step(msg: str) -> None:
                    progress.update(task, description=msg, advance=1)

                result = train_models(tables, settings, step=step, population=population)
                extra = {}
                h = settings.churn_horizon_days
                mismatch = truth is not None and truth_mismatch(truth, h, settings.data.truth)
                if mismatch:
                    result.notes.append(mismatch)
                elif truth is not None:
                    step("comparing with the ground truth")
                    end = result.data_end
                    vocabulary = Vocabulary.from_dict(result.bundle.vocabulary)
                    feats = build_features(result_in.tables, end, vocabulary=vocabulary)
                    extra[f"Against the simulation's ground truth (scored at {end})"] = (
                        evaluate_against_truth(
                            result.bundle, feats, truth, h, result.baselines, scoring_date=end
                        )
                    )
        for note in result.notes:
            reporter.note(note)
        bundle_dir = result.bundle.save(catalog.bundle)
        write_report = functools.partial(
            render_report, result, catalog.training_report, extra, currency=settings.currency
        )
        report_path = write_report()
        with (
            registry_writer(settings, "churnclv train"),
            reporter.status(
                "Logging to MLflow" + ("" if experiment else " and registering models")
            ),
        ):
            reg = log_and_register(result, settings, bundle_dir, experiment)
        report_path = write_report(registration=reg)  # with the versions and the decision
        log_report(settings, reg.run_id, report_path.parent)
        return TrainRun(result, bundle_dir, report_path, reg)


@contextlib.contextmanager
def registry_writer(settings: Settings, what: str) -> Iterator[None]:
    """Hold the MLflow registry's lock (a local store) while ``what`` writes to it."""
    from core.lock import hold
    from training.tracking import registry_lock

    lock = registry_lock(settings.mlflow_tracking_uri)
    if lock is None:  # a tracking server orders its own writes
        yield
        return
    with hold(lock, what, f"the model registry {settings.mlflow_tracking_uri}"):
        yield


def run_models(settings: Settings) -> tuple[list[dict[str, object]], list[ChampionChange]]:
    """Every registered pair (newest first) and the champion history (oldest first)."""
    from core.mlflow_store import open_store
    from training.promotion import history, model_versions

    client = open_store(settings.mlflow_tracking_uri, must_exist=True)
    return model_versions(client), history(client)


def run_promote(settings: Settings, version: str | None, why: str) -> ChampionChange:
    """Make the pair of churn_model ``version`` champion (None: roll back to the previous
    champion); recorded with who, when and why."""
    from core.mlflow_store import open_store
    from training.promotion import promote, rollback

    uri = settings.mlflow_tracking_uri
    command = "churnclv rollback" if version is None else "churnclv promote"
    with registry_writer(settings, command):
        client = open_store(uri, must_exist=True)
        if version is None:
            return rollback(client, why, uri)
        return promote(client, version, why, uri)


def campaign_for(campaign: str | None, holdout_percent: float, cutoff: dt.date) -> str | None:
    """The campaign name of a scoring run: the given one, or ``holdout-<cutoff>`` with a holdout."""
    return campaign or (f"holdout-{cutoff}" if holdout_percent else None)


@dataclasses.dataclass
class ScoringRun:
    """What ``churnclv score`` wrote and found."""

    cutoff: dt.date
    versions: dict[str, str]
    paths: dict[str, Path]
    lists: Path
    summary: pd.DataFrame
    movement: pd.DataFrame
    drift: pd.DataFrame
    drift_sample: float
    campaign: str | None
    holdout_percent: float
    control_count: int
    newcomers: int
    no_purchase_segment: str
    currency: str | None = None


def run_scoring(
    settings: Settings,
    reporter: Reporter,
    holdout_percent: float = 0.0,
    campaign: str | None = None,
) -> ScoringRun:
    """Score every customer at the cutoff with the champion models and publish the run's whole
    set (scores, lists, summary, drift, movement since the last run, rejects) in one step,
    then record it in the run history and drop runs beyond ``keep_score_runs``."""
    import uuid

    from core.runs import clear_staging, current_run_id, prune, publish
    from serving.batch import record_run, segment_movement, sync_history
    from serving.model_store import load_registered

    with reporter.status("Fetching champion models from MLflow"):
        models = load_registered(settings.mlflow_tracking_uri)
    with writing(settings, "churnclv score") as catalog:
        clear_staging(catalog)  # what a killed or failed run left
        previous = current_run_id(catalog)
        sync_history(catalog, previous)  # a run killed after its switch, before its record
        before = catalog.pinned().scores if previous else None
        token = uuid.uuid4().hex[:8]
        staged = catalog.staging(token)
        with open_engine(settings) as engine:
            result = load_inputs(settings, reporter, engine, staged)
            cutoff = resolve_cutoff(settings, result)
            campaign = campaign_for(campaign, holdout_percent, cutoff)
            with reporter.progress() as progress:
                run = engine.score(
                    result.tables,
                    cutoff,
                    models,
                    settings,
                    staged,
                    campaign,
                    holdout_percent,
                    progress,
                )
        run.paths["drift"] = write_frame(run.drift, staged.drift)
        movement = segment_movement(before, staged.scores)
        run.paths["movement"] = write_frame(movement, staged.movement)
        checkpoint("score:staged", staged.run_dir)
        run_id = f"{cutoff}-{token}"
        published = publish(
            staged,
            run_id,
            {
                "cutoff": cutoff,
                "campaign": campaign,
                "holdout_percent": holdout_percent,
                "model_versions": models.versions,
                "engine": settings.engine,
            },
        )
        checkpoint("score:switched", catalog.current)
        record_run(catalog.history, run_id, published.scores)
        checkpoint("score:recorded", catalog.history)
        prune(catalog, settings.keep_score_runs)
    assert staged.run_dir is not None and published.run_dir is not None
    paths = {k: published.run_dir / p.relative_to(staged.run_dir) for k, p in run.paths.items()}
    no_purchase = settings.segments.no_purchase_segment
    newcomers = run.summary.loc[run.summary["segment"] == no_purchase, "customers"].sum()
    return ScoringRun(
        cutoff=cutoff,
        versions=models.versions,
        paths=paths,
        lists=published.segments,
        summary=run.summary,
        movement=movement,
        drift=run.drift,
        drift_sample=run.drift_sample,
        campaign=campaign,
        holdout_percent=holdout_percent,
        control_count=run.control_count,
        newcomers=int(newcomers),
        no_purchase_segment=no_purchase,
        currency=settings.currency,
    )


@dataclasses.dataclass
class ReportRun:
    """What ``churnclv report`` wrote, and the campaign effect when one was measured."""

    paths: dict[str, Path]
    effect: pd.DataFrame | None
    currency: str | None = None


def run_report(
    settings: Settings,
    reporter: Reporter,
    campaign: str | None = None,
    since: dt.date | None = None,
) -> ReportRun:
    """Retention, cohort and CLV-by-channel report; campaign effect when a campaign is named."""
    from reports.marketing import build_retention_report, measure_campaign

    with writing(settings, "churnclv report") as catalog:
        with open_engine(settings) as engine:  # on Spark: read there, the report's columns here
            result = load_inputs(settings, reporter, engine)
            with reporter.status(f"Collecting the report's columns{engine.label}"):
                result.tables = engine.report_tables(result.tables)
        from core.runs import current_run_id
        from serving.batch import sync_history

        sync_history(catalog, current_run_id(catalog))  # a score run killed before its record
        run = catalog.pinned()
        scores = pd.read_parquet(run.scores) if run.scores.exists() else None
        summary = pd.read_csv(run.summary) if run.summary.exists() else None
        info = json.loads(run.run_info.read_text()) if run.run_info.exists() else None
        if scores is None:
            reporter.note(f"no scores in {catalog.root}: CLV by channel needs `churnclv score`")
        effect = None
        if campaign:
            if since is None:
                raise ValueError("--since DATE is required with --campaign")
            effect = measure_campaign(
                catalog.history,
                result.tables.transactions,
                campaign,
                since,
                settings.churn_horizon_days,
            )
        with reporter.status("Building the retention report"):
            paths = build_retention_report(
                result.tables,
                settings.churn_horizon_days,
                catalog.reports,
                scores=scores,
                campaign=effect,
                summary=summary,
                run_info=info,
                currency=settings.currency,
                clv_horizon_days=settings.clv_horizon_days,
            )
        return ReportRun(paths, effect, settings.currency)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def run_serve(
    settings: Settings,
    reporter: Reporter,
    config_path: Path | None,
    port: int | None = None,
    insecure_local: bool = False,
) -> int:
    """Import the champion into the BentoML store and run the service until stopped; it
    serves the scores of the output folder's last run."""
    import os
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
    with reporter.status("Importing the champion models into the BentoML model store"):
        model = import_to_bentoml(settings.mlflow_tracking_uri)
    config = dataclasses.replace(config, model_tag=str(model.tag))
    env = {**os.environ, **config.to_env()}
    scores = config.scores_dir
    port = port or settings.serving.port
    reporter.message(
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
    return run_until_stopped(cmd, env)


def _terminate_with_parent() -> Callable[[], None] | None:
    """What the server's process runs before it starts, to get SIGTERM when ``churnclv serve``
    dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG; None elsewhere). Looked up here, in
    the parent: between fork and exec the child may only call it (no imports, no locks)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


STOP_GRACE_S = 30
"""How long a stopped service may take to finish the requests in flight."""


def run_until_stopped(cmd: list[str], env: dict[str, str]) -> int:
    """Run the server and pass SIGTERM / SIGINT on to it, so stopping ``churnclv serve``
    stops the whole process tree: BentoML finishes the requests in flight and exits; after
    :data:`STOP_GRACE_S` what is left of its process group is killed."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(  # its own process group, which dies with us even if we are killed
        cmd, env=env, start_new_session=True, preexec_fn=_terminate_with_parent()
    )
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = proc.wait(timeout=STOP_GRACE_S if stopping else None)
                break
            except subprocess.TimeoutExpired:  # stopped but not gone: end it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(ProcessLookupError):  # workers the server left behind
            os.killpg(proc.pid, signal.SIGKILL)
    return 0 if stopping and code in (0, -signal.SIGTERM, -signal.SIGINT) else code
