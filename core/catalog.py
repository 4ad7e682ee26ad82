"""The output catalog: every file a run reads or writes, named in one place.

A run's output folder is ``output_dir`` in the settings, or ``--out DIR`` on any command; every
command reads and writes there, so `report` and `serve` find what `score` wrote::

    rejects.csv, load_summary.json   every command that reads the inputs (rows not used, why)
    features.parquet                 churnclv features
    model_bundle/, report/           churnclv train (the bundle is also logged to MLflow)
    scores.parquet, segments/, summary.csv, drift.csv, segment_movement.csv
                                     churnclv score: the latest run's set, switched as a whole
    churnclv.duckdb                  churnclv score: the run history (every run's segments)
    reports/                         churnclv report (reads scores and history from here)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HISTORY_TABLE = "score_runs"
"""The table of the run history file (:attr:`OutputCatalog.history`): one row per customer and
score run (segment, control group, campaign, run id, time recorded)."""


@dataclass(frozen=True)
class OutputCatalog:
    """The paths of one output folder (nothing is created until a step writes)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def rejects(self) -> Path:
        """Input rows not used, with the reason (CSV)."""
        return self.root / "rejects.csv"

    @property
    def load_summary(self) -> Path:
        """Rows read, dropped, rejected and kept per input table (JSON)."""
        return self.root / "load_summary.json"

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
        return self.root / "scores.parquet"

    @property
    def segments(self) -> Path:
        """One CSV list per segment, highest value at risk first (folder)."""
        return self.root / "segments"

    def segment_list(self, slug: str) -> Path:
        """The list of one segment."""
        return self.segments / f"{slug}.csv"

    @property
    def summary(self) -> Path:
        """Customers, revenue, CLV and value at risk per segment (CSV)."""
        return self.root / "summary.csv"

    @property
    def drift(self) -> Path:
        """Feature drift against the training reference (CSV)."""
        return self.root / "drift.csv"

    @property
    def movement(self) -> Path:
        """Customers who entered, left or changed segment since the last run (CSV)."""
        return self.root / "segment_movement.csv"

    @property
    def history(self) -> Path:
        """The run history: every score run's segments and control groups (DuckDB)."""
        return self.root / "churnclv.duckdb"

    @property
    def reports(self) -> Path:
        """The retention, cohort, channel and campaign report folder."""
        return self.root / "reports"
