"""The output catalog: every file a run reads or writes, named in one place.

A run's output folder is ``output_dir`` in the settings, or ``--out DIR`` on any command; every
command reads and writes there, so `report` and `serve` find what `score` wrote::

    rejects.csv, load_summary.json   features, train, report: rows not used, and why
    features.parquet                 churnclv features
    model_bundle/, report/           churnclv train (the bundle is also logged to MLflow)
    current -> runs/<run id>         churnclv score: the latest complete score run
    runs/<run id>/                   one score run's whole set: scores.parquet, segments/,
                                     summary.csv, drift.csv, segment_movement.csv, rejects.csv,
                                     load_summary.json, run.json (the last few runs are kept)
    churnclv.duckdb                  churnclv score: the run history (every run's segments)
    reports/                         churnclv report (reads scores and history from here)
    .lock                            held by the command writing here (core/lock.py)

A score run writes into ``runs/.staging-<token>/`` and is published by switching ``current``
in one step (:mod:`core.runs`), so readers see the previous set or the new one, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HISTORY_TABLE = "score_runs"
"""The table of the run history file (:attr:`OutputCatalog.history`): one row per customer and
score run (segment, control group, campaign, run id, time recorded)."""


STAGING_PREFIX = ".staging-"
"""Name prefix of a score run's folder under ``runs/`` while it is being written."""


@dataclass(frozen=True)
class OutputCatalog:
    """The paths of one output folder (nothing is created until a step writes).

    ``run_dir``: the folder of one score run's set; by default the published one
    (``current``), for reading. :meth:`staging` gives a catalog that writes a new run.
    """

    root: Path
    run_dir: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if self.run_dir is not None:
            object.__setattr__(self, "run_dir", Path(self.run_dir))

    @property
    def current(self) -> Path:
        """The link to the latest complete score run."""
        return self.root / "current"

    @property
    def runs(self) -> Path:
        """The folder of the kept score runs."""
        return self.root / "runs"

    @property
    def lock(self) -> Path:
        """The lock file of the folder (held by the command writing here)."""
        return self.root / ".lock"

    def staging(self, token: str) -> OutputCatalog:
        """The catalog of a new score run, written under ``runs/.staging-<token>``."""
        return OutputCatalog(self.root, self.runs / f"{STAGING_PREFIX}{token}")

    def pinned(self) -> OutputCatalog:
        """This catalog with ``current`` resolved once, so that a reader reads one run's files
        even if a newer run is published meanwhile. An output folder from before run folders
        (``scores.parquet`` at the top) is read where it is."""
        if self.run_dir is not None:
            return self
        if self.current.exists():
            return OutputCatalog(self.root, self.current.resolve())
        if (self.root / "scores.parquet").exists():
            return OutputCatalog(self.root, self.root)
        return self

    @property
    def _run(self) -> Path:
        return self.run_dir if self.run_dir is not None else self.current

    @property
    def run_info(self) -> Path:
        """What the score run was: id, cutoff, campaign, model versions, when (JSON)."""
        return self._run / "run.json"

    @property
    def rejects(self) -> Path:
        """Input rows not used, with the reason (CSV); a score run keeps its own."""
        return (self.run_dir or self.root) / "rejects.csv"

    @property
    def load_summary(self) -> Path:
        """Rows read, dropped, rejected and kept per input table (JSON); a score run keeps
        its own."""
        return (self.run_dir or self.root) / "load_summary.json"

    @property
    def features(self) -> Path:
        """The feature frame at the cutoff (Parquet; a directory when Spark wrote it)."""
        return self.root / "features.parquet"

    @property
    def bundle(self) -> Path:
        """The trained model bundle (folder)."""
        return self.root / "model_bundle"

    @property
    def training_report(self) -> Path:
        """The training report folder (HTML, plots, metric tables)."""
        return self.root / "report"

    @property
    def scores(self) -> Path:
        """Every customer's scores (Parquet; a directory when Spark wrote it)."""
        return self._run / "scores.parquet"

    @property
    def run_features(self) -> Path:
        """A score run's feature frame while it runs (the Spark engine writes it once for the
        scoring and the drift sample, then removes it; it is never published)."""
        return self._run / ".features.parquet"

    @property
    def segments(self) -> Path:
        """One CSV list per segment, highest value at risk first (folder)."""
        return self._run / "segments"

    @property
    def control_list(self) -> Path:
        """A campaign run's control group: customers held out of every segment list (CSV)."""
        return self._run / "control.csv"

    def segment_list(self, slug: str) -> Path:
        """The list of one segment."""
        return self.segments / f"{slug}.csv"

    @property
    def summary(self) -> Path:
        """Customers, revenue, CLV and value at risk per segment (CSV)."""
        return self._run / "summary.csv"

    @property
    def drift(self) -> Path:
        """Feature drift against the training reference (CSV)."""
        return self._run / "drift.csv"

    @property
    def movement(self) -> Path:
        """Customers who entered, left or changed segment since the last run (CSV)."""
        return self._run / "segment_movement.csv"

    @property
    def history(self) -> Path:
        """The run history: every score run's segments and control groups (DuckDB)."""
        return self.root / "churnclv.duckdb"

    @property
    def reports(self) -> Path:
        """The retention, cohort, channel and campaign report folder."""
        return self.root / "reports"
