"""The latest scores the service answers from: every configured segment is known."""

from __future__ import annotations

from pathlib import Path

from core.catalog import OutputCatalog
from core.settings import load_settings
from serving.batch import segment_slug
from serving.latest import LatestScores
from tests.serving.test_batch import scores


def test_configured_segments_without_customers_are_listed_with_size_zero(tmp_path: Path) -> None:
    frame = scores(300).assign(churn_model_version="3", clv_model_version="3")
    catalog = OutputCatalog(tmp_path, run_dir=tmp_path)
    frame.to_parquet(catalog.scores)
    settings = load_settings(None).segments
    latest = LatestScores(catalog, settings)
    listed = {s["segment"]: s for s in latest.segments()}
    configured = {c.name for c in settings.cells} | {settings.no_purchase_segment}
    assert configured <= set(listed)  # the run filled three of them
    empty = listed["Rescue regulars"]
    assert empty["customers"] == 0 and empty["value_at_risk"] == 0.0
    assert (empty["risk_tier"], empty["value_tier"]) == ("high", "medium")
    assert latest.segment_name(segment_slug("Rescue regulars")) == "Rescue regulars"
    assert latest.segment_rows("Rescue regulars").empty
    assert listed["Champions"]["customers"] == int((frame["segment"] == "Champions").sum())
    assert latest.segment_name("no-such-segment") is None
