"""Both HTML reports as a manager sees them, in headless Chromium: the as-of date, the model
versions and the promotion decision, money with the currency symbol, plain metric names,
captions, the segment grid with sizes, the definitions and the campaign window; no NaN, None or
snake_case anywhere on the page.

The training report is the served world's (tests/serving/conftest.py trains it once per run);
the retention report comes from a campaign scoring run and `churnclv report` on a copy of that
world's outputs. Set CHURNCLV_REPORT_SCREENSHOTS=/some/folder to keep full-page screenshots.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from core.labels import percent
from core.money import format_money
from tests.serving.conftest import run_cli, world  # noqa: F401 - the shared served world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SNAKE_CASE = re.compile(r"\b[A-Za-z0-9]+_[A-Za-z0-9_]+\b")
MISSING = re.compile(r"\b(NaN|nan|None|NaT|null)\b")


@pytest.fixture(scope="module")
def campaign_run(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A copy of the world's outputs with a campaign scored 92 days before the data end and
    measured over its whole 90-day window, and the retention report."""
    work = tmp_path_factory.mktemp("report-pages")
    shutil.copytree(world / "out", work / "out", symlinks=True)
    (work / "config.yaml").write_text(
        f"data: {{dir: {world / 'data'}}}\noutput_dir: out\n"
        f"mlflow_tracking_uri: sqlite:///{world / 'mlflow.db'}\ncurrency: USD\n"
    )
    data_end = dt.date.fromisoformat(_run_info(world / "out")["cutoff"])
    launch = data_end - dt.timedelta(days=92)
    steps = [
        ("score", "--config", "config.yaml", "--cutoff", str(launch), "--holdout", "20",
         "--campaign", "spring"),
        ("report", "--config", "config.yaml", "--campaign", "spring", "--since",
         str(launch + dt.timedelta(days=1))),
    ]  # fmt: skip
    for step in steps:
        proc = run_cli(*step, cwd=work)
        assert proc.returncode == 0, (step, proc.stdout[-3000:], proc.stderr[-3000:])
    return work


def _run_info(out: Path) -> dict:
    return json.loads((out / "current" / "run.json").read_text())


def _visible_text(browser, html: Path, shot: Path) -> tuple[str, object]:  # noqa: ANN001
    """The page's visible text and the page (kept open for locators), with a screenshot."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(html.resolve().as_uri())
    page.screenshot(path=str(shot), full_page=True)
    if folder := os.environ.get("CHURNCLV_REPORT_SCREENSHOTS"):
        shutil.copy(shot, Path(folder) / shot.name)
    assert errors == []
    return page.inner_text("body"), page


WORDS = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("code").forEach((c) => c.remove());
    return body.textContent;
}"""
"""The page's text without setting keys (shown as code, e.g. model.clv_check)."""


def _reads_cleanly(page) -> None:  # noqa: ANN001
    text = page.evaluate(WORDS)
    assert MISSING.findall(text) == []
    assert SNAKE_CASE.findall(text) == []


def _captions_explain(page) -> None:  # noqa: ANN001
    images = page.locator("figure img")
    captions = page.locator("figure figcaption").all_inner_texts()
    assert images.count() == len(captions) > 0
    for caption in captions:  # a sentence on how to read it, not a file name
        assert len(caption.split()) >= 15 and not caption.endswith(".png"), caption


def test_training_report_reads_without_help(browser, world: Path, tmp_path: Path) -> None:  # noqa: ANN001, F811
    text, page = _visible_text(
        browser, world / "out" / "report" / "training_report.html", tmp_path / "training.png"
    )
    data_end = pd.read_csv(world / "data" / "transactions.csv")["timestamp"].max()[:10]
    versions = _run_info(world / "out")["model_versions"]  # what scoring fetched: the champion
    assert f"As of {data_end}" in text
    assert (
        f"Registered churn model version {versions['churn_model']} and CLV model version "
        f"{versions['clv_model']}" in text
    )
    assert "They became the champion" in text and "Why: no champion yet." in text
    for name in ("ROC AUC", "Log loss", "Rank correlation (Spearman)", "Mean absolute error ($)"):
        assert name in text
    assert re.search(r"\$\d[\d,]*", text)  # amounts with the symbol
    assert "over the 90 days after the test cutoff ($)" in text  # horizon and currency
    _captions_explain(page)
    _reads_cleanly(page)
    page.close()


def test_retention_report_reads_without_help(
    browser,  # noqa: ANN001
    campaign_run: Path,
    tmp_path: Path,
) -> None:
    out = campaign_run / "out"
    text, page = _visible_text(browser, out / "reports" / "report.html", tmp_path / "retention.png")
    info = _run_info(out)
    versions = info["model_versions"]
    assert f"As of {info['cutoff']}" in text
    assert (
        f"scoring run {info['run_id']} (churn model version {versions['churn_model']}, CLV "
        f"model version {versions['clv_model']})" in text
    )

    # the grid: every segment's cell with its size, value at risk, control group and action
    summary = pd.read_csv(out / "current" / "summary.csv")
    cells = page.locator("table.cells td").all_inner_texts()
    assert len(cells) == 9  # 3 risk x 3 value tiers
    for row in summary.dropna(subset=["risk_tier"]).itertuples():
        cell = next(c for c in cells if c.startswith(row.segment + "\n"))
        assert f"{row.customers:,} customers" in cell and row.action in cell
        assert f"{format_money(row.value_at_risk, 'USD')} at risk" in cell
        assert (f"{row.control:,} in the control group" in cell) == (row.control > 0)
    assert summary["control"].sum() > 0
    total = summary.set_index("segment").loc["All customers"]
    assert f"All customers: {total['customers']:,} customers" in text

    # the definitions, with this run's churn probability in the explanation
    assert "Retention rate = (E - N) / S x 100" in text
    assert "Churn rate = 100 - retention rate" in text
    mean_p = percent(total["mean_churn_probability"] * 100)
    assert f"have a {mean_p} chance of making no purchase in the next 90 days" in text

    # the campaign: its window has ended, one table row per segment and measure
    assert "the window has ended, these are the final results" in text
    effect = pd.read_csv(out / "reports" / "campaign.csv")
    table = page.locator("table.t").last.inner_text()
    for segment in effect["segment"].unique():
        assert table.count(f"{segment}\t") == 2, segment
    _captions_explain(page)
    assert re.search(r"\$\d[\d,]*", text)
    _reads_cleanly(page)
    page.close()
