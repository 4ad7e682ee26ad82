"""What the command line shows: the flows' results rendered with rich, and their live progress.

The flows of :mod:`churnclv.pipeline` compute and write; they tell a :class:`Reporter` what
happened while they run (inputs read, notes) and return a result, which the CLI hands back to
the reporter to print. All formatting of the terminal output lives here, none in the flows.
Names from the user's files and settings are escaped, never read as rich markup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from core.money import format_money

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from churnclv.pipeline import FeaturesRun, ReportRun, ScoringRun, TrainRun
    from features.loader import LoadResult
    from training.promotion import ChampionChange
    from training.train import TrainingResult


class MofNOrStepColumn(ProgressColumn):
    """'3/12' for a task with a known total, 'step 3' for one whose steps are not counted
    ahead (training), never '3/None'."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"step {task.completed:g}")
        return Text(f"{task.completed:g}/{task.total:g}")


class Reporter:
    """Renders on one rich console (stderr for the CLI): live progress, then results."""

    def __init__(self, console: Console) -> None:
        self.console = console

    # live, while a flow runs
    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner with ``message`` while the block runs."""
        with self.console.status(message):
            yield

    def progress(self) -> Progress:
        """The progress bar every long step uses."""
        return Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNOrStepColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )

    def loaded(self, result: LoadResult, rejects_path: Path) -> None:
        """The input tables: one line when every row was kept, else a table of rows read,
        dropped, rejected and kept, with the reasons."""
        rows = result.summary_rows()
        if not any(r["rejected"] or r["duplicates_dropped"] for r in rows):
            kept = ", ".join(f"{r['rows_kept']:,} {r['table']}" for r in rows)
            self.console.print(f"input: {kept}; every row kept")
            return
        table = Table(title="Input data")
        for col in (
            "table",
            "rows read",
            "duplicates dropped",
            "rejected",
            "kept",
            "reject reasons",
        ):
            table.add_column(col)
        for row in rows:
            table.add_row(
                str(row["table"]),
                f"{row['rows_read']:,}",
                f"{row['duplicates_dropped']:,}",
                f"{row['rejected']:,}",
                f"{row['rows_kept']:,}",
                escape(str(row["reject_reasons"])),  # column names from the user's files
            )
        self.console.print(table)
        if len(result.rejects):
            self.console.print(
                f"[yellow]{len(result.rejects):,} rejected rows[/], reasons in "
                f"{escape(str(rejects_path))}"
            )

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]note:[/] {escape(message)}")

    def message(self, message: str) -> None:
        """A plain line (no markup)."""
        self.console.print(escape(message))

    # results, printed by the CLI when a flow returns
    def features_written(self, run: FeaturesRun) -> None:
        self.console.print(
            f"cutoff {run.cutoff}: {run.customers:,} customers x {run.features} "
            f"features{run.engine_label}"
        )
        if run.own_columns:
            self.console.print(escape(run.own_columns))
        self.console.print(f"[green]features written to[/] {escape(str(run.path))}")

    def trained(self, run: TrainRun) -> None:
        result = run.result
        if result.plan is not None:
            self._backtest(result)
        for kind, what in (("churn", "churn scores"), ("revenue", "revenue and CLV")):
            self.console.print(
                f"{what} served by [bold]{escape(result.served[kind])}[/]: "
                f"{escape(result.selection[kind])}"
            )
        reg = run.registration
        if not reg.versions:  # an experiment
            self.console.print(f"{escape(reg.reason)}; MLflow run {reg.run_id}")
        else:
            status = "champion" if reg.promoted else "challenger"
            self.console.print(
                f"registered churn_model v{reg.versions['churn_model']} and clv_model "
                f"v{reg.versions['clv_model']} as [bold]{status}[/] ({escape(reg.reason)}); "
                f"MLflow run {reg.run_id}"
            )
        self.console.print(f"report: {escape(str(run.report))}")

    def models(self, rows: list[dict[str, object]], history: list[ChampionChange]) -> None:
        """The registered pairs (newest first) and the champion history."""
        table = Table(title="Registered models (churn_model and clv_model pairs, newest first)")
        heads = {
            "churn_model": "churn",
            "clv_model": "CLV",
            "aliases": "alias",
            "registered": "registered",
            "data_end": "data end",
            "test_cutoff": "tested at",
            "churn_horizon_days": "horizon",
            "churn_roc_auc": "churn ROC AUC",
            "revenue_spearman": "revenue Spearman",
        }
        for head in heads.values():
            table.add_column(head)
        for row in rows:
            cells = []
            for key in heads:
                value = row.get(key)
                if isinstance(value, float):
                    value = f"{value:.3f}"
                elif key in ("churn_model", "clv_model") and value is not None:
                    value = f"v{value}"
                cells.append(escape("" if value is None else str(value)))
            table.add_row(*cells)
        self.console.print(table)
        for row in rows:
            if row.get("decision"):
                self.console.print(escape(f"v{row['churn_model']}: {row['decision']}"))
        if history:
            self.console.print("Champion history (latest last):")
        for change in history[-5:]:
            self.console.print(self._change_text(change, "champion"))

    def champion_changed(self, change: ChampionChange) -> None:
        """A promote or roll back: the pair now champion, who and why."""
        self.console.print(self._change_text(change, "now champion"))

    @staticmethod
    def _change_text(change: ChampionChange, what: str) -> str:
        v = change.versions
        return escape(
            f"{change.at}: churn_model v{v['churn_model']} and clv_model v{v['clv_model']} "
            f"{what}, by {change.by}: {change.why}"
        )

    def _backtest(self, result: TrainingResult) -> None:
        """The backtest's metric tables, the CLV check and the interval's coverage."""
        self.console.print(
            metric_table(
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
        self.console.print(
            metric_table(
                "Revenue over the horizon",
                result.revenue_metrics,
                {
                    "Spearman": ("spearman", "{:.3f}"),
                    "norm. Gini": ("normalized_gini", "{:.3f}"),
                    "top-20% capture": ("revenue_capture_top20", "{:.1%}"),
                    "total pred/actual %": ("total_pred_vs_actual_pct", "{:.0f}%"),
                },
            )
        )
        check = result.clv_check
        if check is not None:
            self.console.print(
                metric_table(
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
            self.console.print(
                f"CLV {cov.level:.0%} interval: {cov.coverage:.1%} of customers' actual "
                f"{cov.horizon_days}-day revenue inside on the backtest"
            )

    def scored(self, run: ScoringRun) -> None:
        """The segment table, control group, drift warnings and where the outputs are."""
        import pandas as pd

        from serving.batch import movement_summary

        summary = run.summary.merge(movement_summary(run.movement), on="segment", how="left")
        table = Table(
            title=f"Segments at {run.cutoff} (churn_model v{run.versions.get('churn_model')})"
        )
        ranged = summary["clv_total_low"].notna().any()
        mrr = "mrr_at_risk" in summary
        for col in (
            "segment",
            "customers",
            "expected revenue",
            "CLV total (80% range)" if ranged else "CLV total",
            "value at risk",
            *(["recurring revenue at risk a month"] if mrr else []),
            "entered",
            "left",
        ):
            table.add_column(col)
        for _, row in summary.iterrows():
            clv = format_money(row["clv"], run.currency)
            if pd.notna(row.get("clv_total_low")):
                low, high = (
                    format_money(row[c], run.currency) for c in ("clv_total_low", "clv_total_high")
                )
                clv += f" ({low} to {high})"
            table.add_row(
                escape(str(row["segment"])),  # names from the settings
                f"{row['customers']:,}",
                format_money(row["expected_revenue"], run.currency),
                clv,
                format_money(row["value_at_risk"], run.currency),
                *([format_money(row["mrr_at_risk"], run.currency)] if mrr else []),
                "" if pd.isna(row.get("entered")) else f"{int(row['entered']):,}",
                "" if pd.isna(row.get("left")) else f"{int(row['left']):,}",
            )
        self.console.print(table)
        if run.holdout_percent:
            self.console.print(
                f"control group for campaign '{escape(str(run.campaign))}': "
                f"{run.control_count:,} customers ({run.holdout_percent:g}% of each segment), "
                "flagged in column 'control'"
            )
        drift = run.drift
        for _, row in drift[drift["status"].isin(["warn", "flag"])].iterrows():
            colour = "red" if row["status"] == "flag" else "yellow"
            self.console.print(
                f"[{colour}]drift {row['status']}:[/] {escape(str(row['feature']))} "
                f"PSI {row['psi']:.2f}"
            )
        self.message(
            f"scores: {run.paths['scores']}; lists: {run.lists}; summary: {run.paths['summary']}"
        )
        if run.newcomers:
            self.message(
                f"{run.newcomers:,} known customers without a paid purchase yet are in the "
                f"segment '{run.no_purchase_segment}' (no churn probability or CLV yet)."
            )
        if run.drift_sample < 1.0:
            self.message(
                f"drift checked on a random {run.drift_sample:.1%} sample of the customers"
            )

    def reported(self, run: ReportRun) -> None:
        if run.effect is not None:
            from reports.marketing import POOLED, campaign_verdict, campaign_window_text

            self.message(campaign_window_text(run.effect))
            for r in run.effect[run.effect["segment"] == POOLED].itertuples():
                self.message(campaign_verdict(r, run.currency))
            self.message("per segment: campaign.csv beside the report")
        self.message(f"report: {run.paths['report']} (CSV files beside it)")


def metric_table(title: str, metrics: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> Table:
    """A rich table of chosen metric columns, one row per model or baseline."""
    table = Table(title=title)
    for header in ("model", *columns):
        table.add_column(header)
    for _, row in metrics.iterrows():
        table.add_row(
            escape(str(row["model"])), *(fmt.format(row[col]) for col, fmt in columns.values())
        )
    return table
