"""The promotion gate on headline backtest metrics."""

from __future__ import annotations

from core.settings import load_settings
from training.promotion import gate

SETTINGS = load_settings(
    None, {"model.gate_tolerance_auc": 0.01, "model.gate_tolerance_spearman": 0.02}
)


def test_first_model_becomes_champion() -> None:
    assert gate({"churn": 0.7, "revenue": 0.5}, None, SETTINGS) == (True, "no champion yet")


def test_worse_model_is_not_promoted_and_the_reason_names_the_metric() -> None:
    ok, reason = gate({"churn": 0.70, "revenue": 0.60}, {"churn": 0.75, "revenue": 0.60}, SETTINGS)
    assert not ok
    assert reason == "not promoted: churn roc_auc 0.7000 < champion 0.7500 - 0.01"


def test_within_tolerance_is_promoted() -> None:
    ok, reason = gate(
        {"churn": 0.745, "revenue": 0.585}, {"churn": 0.75, "revenue": 0.60}, SETTINGS
    )
    assert ok and reason.startswith("not worse than champion")


def test_a_model_without_backtest_is_champion_only_when_there_is_none() -> None:
    """The label-free fallback cannot show it is not worse than a tested champion."""
    assert gate(None, None, SETTINGS) == (True, "no champion yet (this model has no backtest)")
    ok, reason = gate(None, {"churn": 0.75, "revenue": 0.60}, SETTINGS)
    assert not ok and reason == "not promoted: no backtest to compare with the champion's"


def test_a_champion_without_backtest_gives_way_to_a_newer_model() -> None:
    assert gate({"churn": 0.6, "revenue": 0.3}, {}, SETTINGS) == (
        True,
        "the champion has no backtest",
    )
    assert gate(None, {}, SETTINGS)[0]
