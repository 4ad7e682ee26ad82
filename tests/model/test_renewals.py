"""The renewals ahead of a subscriber, by hand and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.renewals import per_renewal_retention, renewal_value, renewals_within


def test_renewal_days_inside_the_horizon() -> None:
    # 13, 43, 73 | 30, 60, 90 (the last day counts) | 213 is after 90 | 213 inside 365
    k = renewals_within(np.array([13, 30, 213, 213]), np.array([30, 30, 365, 365]), 90)
    assert k.tolist() == [3, 3, 0, 0]
    assert renewals_within(np.array([213.0]), np.array([365.0]), 365).tolist() == [1]
    assert renewals_within(np.array([np.nan]), np.array([30.0]), 90).tolist() == [0]


def test_retention_per_renewal_from_the_churn_probability() -> None:
    p = np.array([1 - 0.9**3, 0.2, np.nan])
    q = per_renewal_retention(p, np.array([3, 0, 2]), np.array([0.7, 0.8, 0.6]))
    assert q == pytest.approx([0.9, 0.8, 0.6])


def test_a_subscriber_who_keeps_each_renewal_half_the_time() -> None:
    """Price 10, renewals on days 10, 40 and 70 of a 70-day horizon, q = 0.5, no discount:
    survival 0.5, 0.25, 0.125 -> 0.875 renewals, 8.75 revenue. Leaves at renewal 1 (p 0.5,
    value 0), 2 (0.25, 10), 3 (0.125, 20) or stays (0.125, 30): the 10% quantile is 0, the
    90% quantile 30."""
    v = renewal_value(
        np.array([10.0]), np.array([10.0]), np.array([30.0]), np.array([0.5]), 70, 0.0
    )
    assert v.renewals == pytest.approx([0.875])
    assert v.revenue == pytest.approx([8.75])
    assert v.value == pytest.approx([8.75])
    assert (v.value_low.tolist(), v.value_high.tolist()) == ([0.0], [30.0])
    assert v.value_if_retained == pytest.approx([30.0])


def test_margin_and_discounting() -> None:
    """One renewal in exactly one month at 1% a month, margin 40%, kept for sure."""
    v = renewal_value(
        np.array([100.0]), np.array([365.25 / 12]), np.array([365.0]), np.array([1.0]), 90,
        0.01, gross_margin=0.4,
    )  # fmt: skip
    assert v.value == pytest.approx([0.4 * 100 / 1.01])
    assert v.value_low == pytest.approx(v.value) and v.value_high == pytest.approx(v.value)


@settings(max_examples=40, deadline=None)
@given(
    q=st.floats(0.0, 1.0),
    t1=st.integers(1, 60),
    period=st.sampled_from([7.0, 30.0, 30.4375, 91.0, 365.0]),
    horizon=st.integers(1, 800),
)
def test_expected_value_matches_a_simulation(
    q: float, t1: int, period: float, horizon: int
) -> None:
    v = renewal_value(
        np.array([20.0]), np.array([float(t1)]), np.array([period]), np.array([q]), horizon, 0.02
    )
    rng = np.random.default_rng(0)
    k = int(renewals_within(np.array([t1]), np.array([period]), horizon)[0])
    kept = np.cumprod(rng.random((20_000, max(k, 1))) < q, axis=1)[:, :k]
    disc = (1.02) ** (-(t1 + np.arange(k) * period) / (365.25 / 12))
    sims = (kept * 20.0 * disc).sum(axis=1)
    assert v.value[0] == pytest.approx(sims.mean(), abs=0.05 * 20 * max(k, 1) ** 0.5)
    # quantiles of a discrete outcome: ordered, within what is possible (the mean may lie
    # outside them when nearly everyone leaves at the first renewal)
    assert 0.0 <= v.value_low[0] <= v.value_high[0] <= v.value_if_retained[0] + 1e-9
    assert v.value[0] <= v.value_if_retained[0] + 1e-9
    assert v.renewals[0] == pytest.approx(sum(q**j for j in range(1, k + 1)))
