"""The ground truth of simulated data is compared only for the horizon it has outcomes for."""

from __future__ import annotations

import pandas as pd

from training.truth import truth_mismatch

TRUTH = pd.DataFrame(
    {"customer_id": ["1"], "churned_90d": [True], "churned_365d": [False], "future_spend_90d": [0]}
)


def test_a_truth_with_the_horizon_is_compared() -> None:
    assert truth_mismatch(TRUTH, 90, "truth.csv") is None


def test_a_truth_for_other_horizons_is_a_note_naming_them() -> None:
    assert truth_mismatch(TRUTH, 60, "data/truth.csv") == (
        "The ground truth in data/truth.csv has no outcomes for the 60-day churn horizon "
        "(it has 90 and 365 days): the models are not compared with it."
    )
    assert "(it has none)" in truth_mismatch(TRUTH[["customer_id"]], 60, "t.csv")
