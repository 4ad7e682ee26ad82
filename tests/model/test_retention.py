"""Retention baselines per billing period: sBG by cohort and Kaplan-Meier, on simulated
subscriptions at known parameters."""

from __future__ import annotations

import numpy as np
import pytest

from model.retention import SubscriptionRetention
from model.sbg import ShiftedBetaGeometric

MONTHLY = ShiftedBetaGeometric(alpha=0.8, beta=3.0)
ANNUAL = ShiftedBetaGeometric(alpha=1.5, beta=6.0)


def lifetimes(n: int, truth: ShiftedBetaGeometric, period: float, seed: int):
    """Subscriptions started over 36 periods before the cutoff: churn period ~ sBG, those not
    churned by the cutoff are censored at their completed renewals."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(truth.alpha, truth.beta, n)
    churn_period = rng.geometric(theta)  # 1, 2, ...
    observed = rng.integers(0, 36, n)  # renewals completed by the cutoff if still there
    ended = churn_period <= observed
    periods = np.where(ended, churn_period, observed)
    years = 2020 + observed // 12
    return np.full(n, period), years, periods, ended


def test_each_billing_period_gets_its_own_curves() -> None:
    m = lifetimes(20_000, MONTHLY, 30.4375, 1)
    a = lifetimes(8_000, ANNUAL, 365.0, 2)
    fitted = SubscriptionRetention.fit(*(np.concatenate(p) for p in zip(m, a, strict=True)))
    assert set(fitted.sbg) == {30, 365} and set(fitted.km) == {30, 365}
    n = np.array([0, 3, 12])
    for period, truth in ((30.0, MONTHLY), (365.0, ANNUAL)):
        want = truth.renewal_probability(n, 3)
        for method in ("sbg", "kaplan_meier"):
            got = fitted.keeps(method, np.full(3, period), np.full(3, 2022), n, 3)
            assert got == pytest.approx(want, abs=0.03), method
    # an unknown billing period has no model
    assert np.isnan(fitted.keeps("sbg", np.array([7.0]), np.array([2022]), np.array([1]), 1))[0]


def test_a_period_with_too_few_subscriptions_is_left_out_and_the_fit_round_trips() -> None:
    m = lifetimes(5_000, MONTHLY, 30.0, 3)
    few = lifetimes(50, ANNUAL, 365.0, 4)
    fitted = SubscriptionRetention.fit(*(np.concatenate(p) for p in zip(m, few, strict=True)))
    assert set(fitted.sbg) == {30}
    again = SubscriptionRetention.from_dict(fitted.to_dict())
    args = (np.full(4, 30.0), np.array([2020, 2021, 2022, 2019]), np.array([0, 1, 5, 9]), 2)
    np.testing.assert_allclose(again.keeps("sbg", *args), fitted.keeps("sbg", *args))
    churn = fitted.churn_probability("sbg", *args)
    assert ((churn > 0) & (churn < 1)).all()
