"""Names and numbers as the reports show them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.labels import DASH, cell, plain_name, plain_words, readable_table


def test_cells_by_kind() -> None:
    assert cell(4640.0, "customers") == "4,640"
    assert cell(0.81234, "roc_auc") == "0.812"
    assert cell(0.543, "base_rate") == "54.3%"
    assert cell(96.64, "retention_rate_pct") == "96.6%"
    assert cell(1234.5, "clv", "USD") == "$1,234"
    assert cell(4.314, "mae", "EUR") == "€4.31"
    assert cell(0.001, "actual_mean", "USD") == "$0"
    assert cell(True) == "yes"
    assert cell(pd.Timestamp("2026-09-30")) == "2026-09-30"
    for empty in (None, np.nan, pd.NaT, pd.NA):
        assert cell(empty, "clv", "USD") == DASH


def test_names_in_words_with_the_currency() -> None:
    assert plain_name("roc_auc") == "ROC AUC"
    assert plain_name("log_loss") == "Log loss"
    assert plain_name("spearman") == "Rank correlation (Spearman)"
    assert plain_name("value_at_risk", "USD") == "Value at risk ($)"
    assert plain_name("clv", "USD", {"clv": "CLV over the next 365 days"}) == (
        "CLV over the next 365 days ($)"
    )
    assert plain_name("some_new_column") == "Some new column"


def test_machine_sentences_in_words() -> None:
    text = "not promoted: churn roc_auc 0.7000 < champion 0.7512 (vs bgnbd 0.3417, rfm_cells)"
    assert plain_words(text, {"bgnbd": "BG/NBD"}) == (
        "not promoted: churn ROC AUC 0.7 < champion 0.751 (vs BG/NBD 0.342, rfm cells)"
    )


def test_a_table_without_missing_values_or_short_names() -> None:
    frame = pd.DataFrame({"segment": ["A", None], "customers": [1200, 3], "clv": [np.nan, 12.5]})
    out = readable_table(frame, "USD")
    assert list(out.columns) == ["Segment", "Customers", "CLV ($)"]
    assert out.to_numpy().tolist() == [["A", "1,200", DASH], [DASH, "3", "$12"]]
