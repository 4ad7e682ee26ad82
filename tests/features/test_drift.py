"""PSI drift: identical data is stable, a shifted copy is flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.drift import evaluate_drift, fit_drift_reference, psi


def frame(shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60, 5000) + shift
    recency[:250] = np.nan
    return pd.DataFrame(
        {
            "recency_days": recency,
            "orders_90d": rng.poisson(2, 5000),
            "channel": pd.Series(
                rng.choice(["web", "app", "store"], 5000, p=[0.5, 0.3, 0.2]), dtype="str"
            ),
        }
    )


def test_psi_by_hand() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        0.25 * np.log(0.5) * -1 + 0.25 * np.log(1.5)
    )


def test_same_distribution_is_ok_and_shifted_copy_is_flagged() -> None:
    ref = fit_drift_reference(frame(), ["recency_days", "orders_90d", "channel"])
    same = evaluate_drift(frame(seed=1), ref).set_index("feature")
    assert (same["status"] == "ok").all(), same
    shifted = frame(shift=60.0, seed=1)
    shifted["channel"] = "app"
    out = evaluate_drift(shifted, ref).set_index("feature")
    assert out.loc["recency_days", "status"] == "flag"
    assert out.loc["channel", "status"] == "flag"
    assert out.loc["orders_90d", "status"] == "ok"


def test_new_category_level_counts_as_other() -> None:
    ref = fit_drift_reference(frame(), ["channel"])
    new = frame(seed=2).assign(channel="kiosk")
    assert evaluate_drift(new, ref).loc[0, "status"] == "flag"


def test_features_that_age_with_the_calendar_are_not_flagged() -> None:
    """A closed cohort scored 90 days later is 90 days older: not drift."""
    base = frame().assign(tenure_days=np.arange(5000) % 700.0)
    ref = fit_drift_reference(base, ["recency_days", "tenure_days"])
    later = base.assign(tenure_days=base["tenure_days"] + 90)
    out = evaluate_drift(later, ref).set_index("feature")
    assert out.loc["tenure_days", "status"].startswith("not compared")
    assert np.isnan(out.loc["tenure_days", "psi"])
    assert out.loc["recency_days", "status"] == "ok"
