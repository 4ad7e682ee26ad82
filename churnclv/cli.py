"""The `churnclv` command line: thin wrappers that parse options, load settings once, call."""

from __future__ import annotations

import _thread
import contextlib
import datetime as dt
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from churnclv.console import Reporter
from core.errors import UserError

if TYPE_CHECKING:
    from types import FrameType

    from core.settings import Settings

app = typer.Typer(
    help="Churn probability and customer lifetime value: features, training, scoring, API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)  # messages stay on one line in logs
reporter = Reporter(console)
_verbose = {"on": False}


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Show the libraries' log lines and, on an error, the traceback."
        ),
    ] = False,
) -> None:
    """Churn probability and customer lifetime value: features, training, scoring, API."""
    _verbose["on"] = verbose
    if not verbose:
        quiet_libraries()


QUIET_LOGGERS = ("mlflow", "alembic", "py4j", "bentoml", "urllib3")
"""Libraries whose INFO lines (and MLflow's warning about pickled models, which churnclv's
pyfunc needs) are noise in a command's output; ``--verbose`` keeps them."""


def quiet_libraries() -> None:
    """Only errors from the libraries' loggers and no Python warnings from them."""
    import logging
    import os
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow sets its level on import
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for module in ("mlflow", "sqlalchemy", "alembic", "pydantic", "pyspark"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML settings file (see configs/).")
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Folder with transactions/events/customers files (.csv, .parquet or a .duckdb).",
    ),
]
CutoffOpt = Annotated[
    str | None,
    typer.Option(help="Cutoff date (YYYY-MM-DD); default: last transaction date."),
]
ChurnHorizonOpt = Annotated[
    int | None, typer.Option("--churn-horizon", help="Churn horizon in days (default 90).")
]
ClvHorizonOpt = Annotated[
    int | None, typer.Option("--clv-horizon", help="CLV horizon in days (default 365).")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="The run's output folder (default: output_dir of the config); every command "
        "reads and writes there (docs/architecture.md, output catalog).",
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="duckdb (embedded, default) or spark (settings spark.master / spark.conf).",
    ),
]
SparkMasterOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL, e.g. local[4]; default: spark-submit's, else local[*].",
    ),
]


class CliError(UserError):
    """An error the user can fix; printed without a traceback, exit code 1."""


def _settings(
    config: Path | None,
    data: Path | None,
    cutoff: str | None,
    churn_horizon: int | None,
    clv_horizon: int | None,
    out: Path | None = None,
    engine: str | None = None,
    spark_master: str | None = None,
    **extra: object,
) -> Settings:
    overrides: dict[str, object] = {
        "data.dir": str(data) if data else None,
        "cutoff": cutoff,
        "churn_horizon_days": churn_horizon,
        "clv_horizon_days": clv_horizon,
        "output_dir": str(out) if out else None,
        "engine": engine,
        "spark.master": spark_master,
        **extra,
    }
    from core.settings import load_settings

    return load_settings(config, overrides)


MAX_ERROR_CHARS = 600
"""An error line longer than this is cut (a binary file's content can make it megabytes)."""


def error_line(message: object) -> Text:
    """``error: <message>`` as plain text: nothing in the message (file names, column names,
    YAML) is read as Rich markup, and it is cut at :data:`MAX_ERROR_CHARS`."""
    text = str(message)
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "\u2026"
    line = Text("error: ", style="bold red")
    line.append(text)
    return line


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(error_line(message))
    return typer.Exit(code)


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(help="Number of customers.", min=10)] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("demo_data"),
    end_date: Annotated[
        str, typer.Option(help="Last day of the simulated history (YYYY-MM-DD).")
    ] = "2026-09-30",
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    scenario: Annotated[
        str,
        typer.Option(
            help="retail (the demo), btyd, short, launch, transactions-only, zero-amounts, trend, "
            "own-columns or subscription (docs/demo_data.md)."
        ),
    ] = "retail",
    churn_horizon: Annotated[
        int | None,
        typer.Option(
            "--churn-horizon", min=1, help="Truth churn horizon in days (default: the scenario's)."
        ),
    ] = None,
    clv_horizon: Annotated[
        int | None,
        typer.Option(
            "--clv-horizon", min=1, help="Truth CLV horizon in days (default: the scenario's)."
        ),
    ] = None,
) -> None:
    """Generate a realistic synthetic retailer (3 years) plus a ground-truth table, or a
    stress scenario (--scenario) with its own truth."""
    from churnclv.demo_data import DEMO_SHARD, write_demo_data, write_demo_shards
    from churnclv.scenarios import generate_scenario, scenario_settings

    if fmt not in ("csv", "parquet"):
        raise _fail(f"--format must be csv or parquet, not '{fmt}'")
    try:
        end = dt.date.fromisoformat(end_date)
    except ValueError:
        raise _fail(f"--end-date: '{end_date}' is not a date (YYYY-MM-DD)") from None
    try:
        settings = scenario_settings(scenario)
    except ValueError as exc:
        raise _fail(f"--scenario: {exc}") from None
    h = churn_horizon or settings.churn_horizon_days
    c = clv_horizon or settings.clv_horizon_days
    if customers > DEMO_SHARD and scenario != "btyd":  # in shards: memory holds one
        from functools import partial

        make = partial(generate_scenario, scenario, end_date=end, churn_horizon_days=h,
                       clv_horizon_days=c)  # fmt: skip
        with console.status(f"Simulating {customers:,} customers") as status:

            def done(n: int) -> None:
                status.update(f"Simulating {customers:,} customers: {n:,} done")

            try:
                shards = write_demo_shards(make, customers, seed, out, fmt, progress=done)  # type: ignore[arg-type]
            except FileExistsError as exc:
                raise _fail(str(exc)) from None
        for path, rows in shards.values():
            console.print(escape(f"wrote {path} ({rows:,} rows)"))
    else:
        with console.status(f"Simulating {customers:,} customers"):
            data = generate_scenario(scenario, customers, seed, end, h, c)
            try:
                paths = write_demo_data(data, out, fmt=fmt)  # type: ignore[arg-type]
            except FileExistsError as exc:
                raise _fail(str(exc)) from None
        for name, path in paths.items():
            rows = len(getattr(data, name))
            console.print(escape(f"wrote {path} ({rows:,} rows)"))
    if scenario != "retail" or (h, c) != (90, 365):
        console.print(
            f"scenario {scenario}: truth for a {h}-day churn and {c}-day CLV horizon; train "
            f"with --churn-horizon {h} --clv-horizon {c}"
        )


@app.command()
def features(
    config: ConfigOpt = None,
    data: DataOpt = None,
    cutoff: CutoffOpt = None,
    churn_horizon: ChurnHorizonOpt = None,
    clv_horizon: ClvHorizonOpt = None,
    out: OutOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="Print the feature catalogue and exit.")
    ] = False,
    engine: EngineOpt = None,
    spark_master: SparkMasterOpt = None,
) -> None:
    """Build the point-in-time feature frame (one row per customer) at the cutoff."""
    from features.catalogue import catalogue_markdown

    if list_:
        typer.echo(catalogue_markdown())
        return
    settings = _settings(
        config, data, cutoff, churn_horizon, clv_horizon, out, engine, spark_master
    )
    from churnclv.pipeline import run_features

    reporter.features_written(run_features(settings, reporter))


@app.command()
def train(
    config: ConfigOpt = None,
    data: DataOpt = None,
    cutoff: CutoffOpt = None,
    churn_horizon: ChurnHorizonOpt = None,
    clv_horizon: ClvHorizonOpt = None,
    out: OutOpt = None,
    engine: EngineOpt = None,
    spark_master: SparkMasterOpt = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="Ground truth of simulated data (demo-data's truth.csv) to compare the "
            "models with (setting data.truth)."
        ),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            help="Log the run into this MLflow experiment and register nothing: no version, "
            "no alias touched (a try-out beside production)."
        ),
    ] = None,
) -> None:
    """Train the churn and CLV models, evaluate against baselines, register in MLflow."""
    from churnclv.pipeline import run_training

    settings = _settings(
        config,
        data,
        cutoff,
        churn_horizon,
        clv_horizon,
        out,
        engine,
        spark_master,
        **{"data.truth": str(truth) if truth else None},
    )
    reporter.trained(run_training(settings, reporter, experiment))


@app.command()
def models(config: ConfigOpt = None) -> None:
    """List the registered model versions: aliases, test figures and each promotion's reason."""
    from churnclv.pipeline import run_models

    reporter.models(*run_models(_settings(config, None, None, None, None)))


@app.command()
def promote(
    version: Annotated[
        str, typer.Argument(help="The churn_model version (its clv_model pair goes with it).")
    ],
    config: ConfigOpt = None,
    reason: Annotated[str, typer.Option(help="Why, recorded in MLflow with who and when.")] = "",
) -> None:
    """Make a registered version pair champion (the service and `score` use it next)."""
    from churnclv.pipeline import run_promote

    settings = _settings(config, None, None, None, None)
    reporter.champion_changed(run_promote(settings, version.removeprefix("v"), reason))


@app.command()
def rollback(
    config: ConfigOpt = None,
    reason: Annotated[str, typer.Option(help="Why, recorded in MLflow with who and when.")] = "",
) -> None:
    """Make the previous champion champion again."""
    from churnclv.pipeline import run_promote

    settings = _settings(config, None, None, None, None)
    reporter.champion_changed(run_promote(settings, None, reason))


@app.command()
def score(
    config: ConfigOpt = None,
    data: DataOpt = None,
    cutoff: CutoffOpt = None,
    churn_horizon: ChurnHorizonOpt = None,
    clv_horizon: ClvHorizonOpt = None,
    out: OutOpt = None,
    holdout: Annotated[
        float, typer.Option(help="Percent of every segment to hold out as a control group.")
    ] = 0.0,
    campaign: Annotated[
        str | None, typer.Option(help="Campaign name (seeds the control group).")
    ] = None,
    engine: EngineOpt = None,
    spark_master: SparkMasterOpt = None,
) -> None:
    """Score every customer with the champion models and write segment lists."""
    from churnclv.pipeline import run_scoring

    settings = _settings(
        config, data, cutoff, churn_horizon, clv_horizon, out, engine, spark_master
    )
    reporter.scored(run_scoring(settings, reporter, holdout_percent=holdout, campaign=campaign))


@app.command()
def report(
    config: ConfigOpt = None,
    data: DataOpt = None,
    cutoff: CutoffOpt = None,
    churn_horizon: ChurnHorizonOpt = None,
    clv_horizon: ClvHorizonOpt = None,
    out: OutOpt = None,
    campaign: Annotated[
        str | None, typer.Option(help="Measure this campaign: treated vs control group.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Campaign launch date (YYYY-MM-DD), with --campaign.")
    ] = None,
    engine: EngineOpt = None,
    spark_master: SparkMasterOpt = None,
) -> None:
    """Retention, cohort, CLV-by-channel and campaign reports (HTML and CSV)."""
    from churnclv.pipeline import run_report

    settings = _settings(
        config, data, cutoff, churn_horizon, clv_horizon, out, engine, spark_master
    )
    try:
        launch = dt.date.fromisoformat(since) if since else None
    except ValueError:
        raise _fail(f"--since: '{since}' is not a date (YYYY-MM-DD)") from None
    if campaign and launch is None:
        raise _fail("--since DATE is required with --campaign")
    reporter.reported(run_report(settings, reporter, campaign=campaign, since=launch))


@app.command()
def serve(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default 3000).")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--scores",
            help="The output folder whose last score run to serve (default: output_dir).",
        ),
    ] = None,
    insecure_local: Annotated[
        bool,
        typer.Option("--insecure-local", help="Allow starting without API keys (local trial)."),
    ] = False,
) -> None:
    """Start the prediction API and segment page (BentoML) with the champion models."""
    from churnclv.pipeline import run_serve
    from core.settings import load_settings

    settings = load_settings(config, {"output_dir": str(out) if out else None})
    raise typer.Exit(run_serve(settings, reporter, config, port, insecure_local))


def os_error_text(exc: OSError) -> str:
    """A file-system error as a sentence naming the file: ``<path>: No space left on device``."""
    where = exc.filename if exc.filename is not None else ""
    what = exc.strerror or str(exc)
    extra = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{where}{extra}: {what}" if where else what


_terminated: dict[str, int | None] = {"signal": None}


class Terminated(BaseException):  # noqa: N818 - not an error: the job was told to stop
    """Raised where the command stands when SIGTERM arrives (a BaseException, as
    KeyboardInterrupt for Ctrl-C: no ``except Exception`` on the way keeps it from
    unwinding)."""


def _unwind_on_sigterm() -> None:
    """SIGTERM (``kill``, a scheduler ending the job) and Ctrl-C unwind the command instead of
    ending the process where it stands: DuckDB stops its query, the temporary
    parts and DuckDB's spill files are removed (a 10M-customer run left 32 GB of them), and a
    run being written is never published. ``churnclv serve`` sets its own handler (it passes
    the signal on to the server).

    The exception is raised where the main thread stands, with two exceptions. Inside a call
    to Spark's JVM, raising would leave the JVM connection mid-answer: Spark's jobs are
    cancelled from another thread instead (Py4J gives it its own connection), the call waiting
    on a job fails, and the command unwinds from there (a second signal raises at once).
    Python drops an exception raised in a finalizer ("Exception ignored in ..."): the signal
    is then delivered again."""
    import signal

    def stop(signum: int, frame: FrameType | None) -> None:
        deferred = _terminated["signal"] is not None
        _terminated["signal"] = signum
        if _in_jvm_call(frame) and not deferred:
            threading.Thread(target=_cancel_spark_jobs, daemon=True).start()
            return
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated

    def dropped(unraisable: sys.UnraisableHookArgs) -> None:
        signum = _terminated["signal"]
        if signum is not None and issubclass(unraisable.exc_type, (Terminated, KeyboardInterrupt)):
            # ours, dropped in a finalizer: raised again once the main thread is out of it
            threading.Timer(0.05, _thread.interrupt_main, args=(signum,)).start()
            return
        sys.__unraisablehook__(unraisable)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # Ctrl-C: the same ending, whatever library it meets
    sys.unraisablehook = dropped


def _in_jvm_call(frame: FrameType | None) -> bool:
    """The main thread stands in a call to Spark's JVM (Py4J's client)."""
    while frame is not None:
        if "/py4j/" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _cancel_spark_jobs() -> None:
    """Cancel the jobs of the command's Spark session (the call waiting on one then fails)."""
    pyspark = sys.modules.get("pyspark")  # imported already: the main thread is in the JVM
    context = getattr(getattr(pyspark, "SparkContext", None), "_active_spark_context", None)
    with contextlib.suppress(Exception):  # the session may be stopping already
        if context is not None:
            context.cancelAllJobs()


def _out_of_memory(exc: BaseException) -> bool:
    """DuckDB ran out of the memory ``duckdb_memory_limit`` gives it (DuckDB is imported
    already when it raised; a command that never used it is not made to import it)."""
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.OutOfMemoryException)


def main() -> None:
    """Entry point that turns user errors (and file-system errors: a full disk, a read-only or
    missing folder; DuckDB out of its memory limit) into one clear line and exit code 1, and
    SIGTERM or Ctrl-C into an orderly stop (one line, exit code 143 or 130); ``--verbose``
    adds the traceback."""
    _unwind_on_sigterm()
    try:
        app()
    except (UserError, OSError) as exc:
        if _terminated["signal"] is None:
            if _verbose["on"]:
                console.print_exception()
            text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
            console.print(error_line(text))
            raise SystemExit(1) from None
    except Exception as exc:
        if _terminated["signal"] is None and _out_of_memory(exc):
            if _verbose["on"]:
                console.print_exception()
            console.print(
                error_line(
                    f"{str(exc).splitlines()[0]}: raise duckdb_memory_limit in the settings "
                    "(or set it to null for DuckDB's default, 80% of the machine's memory)"
                )
            )
            raise SystemExit(1) from None
        if _terminated["signal"] is None:
            raise
    except (Terminated, KeyboardInterrupt, SystemExit):
        if _terminated["signal"] is None:
            raise
    if (signum := _terminated["signal"]) is not None:  # whatever the unwinding raised
        import signal

        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        console.print(
            error_line(
                f"stopped by {name}: temporary files removed; outputs switch as a whole or "
                "not at all"
            )
        )
        raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
