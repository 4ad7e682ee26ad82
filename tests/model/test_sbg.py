"""The shifted-beta-geometric model and Kaplan-Meier: the paper's cohorts, parameter recovery,
closed forms against brute force, and fit errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from model.sbg import (
    SBGFitError,
    ShiftedBetaGeometric,
    cohort_table,
    fit_sbg,
    fit_sbg_by_cohort,
    fit_sbg_cohort,
    kaplan_meier,
    sbg_log_likelihood,
)

# Fader & Hardie (2007), "How to project customer retention", table 1: customers alive at the
# start of years 0..12 of two cohorts of 1000; the paper fits years 0..7 and holds out 8..12.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
FIT_YEARS = 8  # alive[0..7]

TRUE = ShiftedBetaGeometric(alpha=0.7, beta=2.5)

alphas = st.floats(0.05, 50.0)
betas = st.floats(0.05, 50.0)
periods = st.integers(1, 300)


def simulate(
    model: ShiftedBetaGeometric, n: int, max_observed: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(periods, churned) of n sBG customers, each observed for 1..max_observed periods."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(model.alpha, model.beta, n)
    leaves_in = rng.geometric(theta)  # 1, 2, ...: the period of the failed renewal
    observed_for = rng.integers(1, max_observed + 1, n)
    churned = leaves_in <= observed_for
    return np.where(churned, leaves_in, observed_for), churned


# --- the paper's cohorts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alive", "alpha", "beta"),
    [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)],
    ids=["regular", "high-end"],
)
def test_fit_reproduces_the_papers_estimates(alive: list[int], alpha: float, beta: float) -> None:
    """The paper's estimates to its 3 decimals. The regular cohort (37% leave in year 1) has the
    low beta: mean churn alpha / (alpha + beta) = 0.37, against 0.15 for the high end."""
    fit = fit_sbg_cohort(alive[:FIT_YEARS])
    assert fit.alpha == pytest.approx(alpha, abs=6e-4)
    assert fit.beta == pytest.approx(beta, abs=6e-4)


@pytest.mark.parametrize("alive", [REGULAR, HIGH_END], ids=["regular", "high-end"])
def test_projection_of_the_held_out_years_is_within_five_percent(alive: list[int]) -> None:
    fit = fit_sbg_cohort(alive[:FIT_YEARS])
    projected = alive[0] * fit.survival(np.arange(FIT_YEARS, len(alive)))
    np.testing.assert_allclose(projected, alive[FIT_YEARS:], rtol=0.05)


def test_cohort_fit_is_the_individual_likelihood_on_counts() -> None:
    """One customer per row gives the same fit as the table of counts."""
    periods_, churned, counts = cohort_table(REGULAR[:FIT_YEARS])
    rows = np.repeat(np.arange(len(counts)), counts.astype(int))
    individual = fit_sbg(periods_[rows], churned[rows])
    table = fit_sbg_cohort(REGULAR[:FIT_YEARS])
    assert individual.alpha == pytest.approx(table.alpha, rel=1e-6)
    assert individual.beta == pytest.approx(table.beta, rel=1e-6)


def test_cohort_table_reads_churn_from_differences() -> None:
    periods_, churned, counts = cohort_table([10, 6, 5])
    np.testing.assert_array_equal(periods_, [1, 2, 2])
    np.testing.assert_array_equal(churned, [True, True, False])
    np.testing.assert_array_equal(counts, [4, 1, 5])


def test_log_likelihood_is_log_pmf_or_log_survival() -> None:
    ll = sbg_log_likelihood([TRUE.alpha, TRUE.beta], [3, 3], [True, False])
    np.testing.assert_allclose(np.exp(ll), [TRUE.churn_pmf(3), TRUE.survival(3)])


# --- parameter recovery -----------------------------------------------------------------------


def test_recovers_parameters_from_censored_individuals() -> None:
    """20,000 customers observed for 1..24 periods (right-censored); across seeds the estimates
    spread by about 2% (alpha) and 3% (beta)."""
    periods_, churned = simulate(TRUE, 20_000, max_observed=24, seed=11)
    fit = fit_sbg(periods_, churned)
    assert fit.alpha == pytest.approx(TRUE.alpha, rel=0.08)
    assert fit.beta == pytest.approx(TRUE.beta, rel=0.08)


def test_weights_are_repeated_rows() -> None:
    periods_, churned = simulate(TRUE, 2_000, max_observed=12, seed=3)
    weights = np.random.default_rng(4).integers(0, 4, len(periods_))
    repeated = np.repeat(np.arange(len(periods_)), weights)
    weighted = fit_sbg(periods_, churned, weights)
    expanded = fit_sbg(periods_[repeated], churned[repeated])
    assert weighted.alpha == pytest.approx(expanded.alpha, rel=1e-6)
    assert weighted.beta == pytest.approx(expanded.beta, rel=1e-6)


# --- closed forms -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(alpha=alphas, beta=betas, t=periods)
def test_churn_pmf_follows_the_papers_recursion(alpha: float, beta: float, t: int) -> None:
    """P(T=1) = alpha/(alpha+beta), P(T=t) = (beta+t-2)/(alpha+beta+t-1) P(T=t-1)."""
    model = ShiftedBetaGeometric(alpha, beta)
    p = alpha / (alpha + beta)
    for s in range(2, t + 1):
        p *= (beta + s - 2) / (alpha + beta + s - 1)
    assert model.churn_pmf(t) == pytest.approx(p, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(alpha=alphas, beta=betas, t=periods)
def test_survival_is_one_minus_the_churn_so_far(alpha: float, beta: float, t: int) -> None:
    model = ShiftedBetaGeometric(alpha, beta)
    assert model.survival(0) == 1.0
    churned_so_far = model.churn_pmf(np.arange(1, t + 1)).sum()
    assert model.survival(t) == pytest.approx(1.0 - churned_so_far, abs=1e-12)
    assert model.churn_pmf(t) == pytest.approx(
        model.survival(t - 1) - model.survival(t), rel=1e-8, abs=1e-15
    )


@settings(max_examples=60, deadline=None)
@given(alpha=alphas, beta=betas, t=periods)
def test_survival_falls_and_retention_rises(alpha: float, beta: float, t: int) -> None:
    model = ShiftedBetaGeometric(alpha, beta)
    s = model.survival(np.arange(t + 2))
    assert np.all(np.diff(s) < 0)
    r = model.retention_rate(np.arange(1, t + 2))
    assert np.all(np.diff(r) >= 0)
    assert np.all((r > 0) & (r < 1))
    np.testing.assert_allclose(r, s[1:] / s[:-1], rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(alpha=alphas, beta=betas, n=st.integers(0, 300), k=st.integers(0, 100))
def test_renewal_probability_is_a_survival_ratio(alpha: float, beta: float, n: int, k: int) -> None:
    model = ShiftedBetaGeometric(alpha, beta)
    p = model.renewal_probability(n, k)
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(model.survival(n + k) / model.survival(n), rel=1e-9)
    assert model.renewal_probability(n) == pytest.approx(model.retention_rate(n + 1), rel=1e-12)


def test_renewal_probability_broadcasts_over_customers_and_steps() -> None:
    n = np.array([0, 5, 40])
    k = np.array([[1], [12]])
    p = TRUE.renewal_probability(n, k)
    assert p.shape == (2, 3)
    assert p[1, 2] == pytest.approx(TRUE.survival(52) / TRUE.survival(40))


@pytest.mark.parametrize("discount", [0.0, 0.01, 0.1])
def test_expected_renewals_equals_a_brute_force_loop(discount: float) -> None:
    """Per-customer horizons: monthly customers get 12 renewals in a year, annual ones 1."""
    rng = np.random.default_rng(5)
    n = rng.integers(0, 60, 300)
    K = rng.choice([0, 1, 4, 12, 120], 300)
    expected = TRUE.expected_renewals(n, K, discount)
    for i in range(len(n)):
        brute = sum(
            TRUE.renewal_probability(n[i], j) / (1.0 + discount) ** j for j in range(1, K[i] + 1)
        )
        assert expected[i] == pytest.approx(brute, rel=1e-10, abs=1e-15)


def test_expected_renewals_with_one_horizon() -> None:
    got = TRUE.expected_renewals([0, 3], 2)
    want = [
        TRUE.survival(1) + TRUE.survival(2),
        (TRUE.survival(4) + TRUE.survival(5)) / TRUE.survival(3),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize(
    ("alpha", "beta"), [(0.7, 2.5), (1.0, 0.3), (1.7, 40.0), (0.05, 0.05), (25.0, 3.0)]
)
@pytest.mark.parametrize("survived", [0, 7, 400])
@pytest.mark.parametrize("discount", [0.002, 0.01, 0.1])
def test_derl_equals_the_long_discounted_sum(
    alpha: float, beta: float, survived: int, discount: float
) -> None:
    """Fader & Hardie (2010) DERL for n - 1 = ``survived`` renewals made: the next renewal is
    undiscounted, so DERL = (1 + d) x expected_renewals(n - 1, K -> inf, d). K is taken where
    the remaining terms sum to < 1e-13 of the whole. The cases include those where
    scipy.special.hyp2f1 fails (nan at beta + n = 400, a wrong sign at alpha = 1, d small)."""
    model = ShiftedBetaGeometric(alpha, beta)
    K = int(np.ceil(np.log(1e-13 * discount / (1 + discount)) / -np.log1p(discount)))
    truncated = (1 + discount) * model.expected_renewals(survived, K, discount)
    derl = model.discounted_expected_residual_lifetime(survived, discount)
    assert derl == pytest.approx(truncated, rel=1e-9)


def test_derl_is_the_papers_hypergeometric_expression() -> None:
    """Where scipy's hyp2f1 is accurate: (beta+n-1)/(alpha+beta+n-1) 2F1(1, beta+n;
    alpha+beta+n; 1/(1+d)) with n - 1 renewals made."""
    d, made = 0.1, np.array([0, 1, 4])
    n = made + 1
    paper = (
        (TRUE.beta + n - 1)
        / (TRUE.alpha + TRUE.beta + n - 1)
        * special.hyp2f1(1.0, TRUE.beta + n, TRUE.alpha + TRUE.beta + n, 1.0 / (1.0 + d))
    )
    np.testing.assert_allclose(
        TRUE.discounted_expected_residual_lifetime(made, d), paper, rtol=1e-10
    )


def test_undiscounted_residual_lifetime() -> None:
    """d = 0: E[(1 - theta) / theta] under Beta(alpha, beta + n) = (beta + n) / (alpha - 1),
    infinite for alpha <= 1 (too many customers with theta near 0)."""
    model = ShiftedBetaGeometric(alpha=3.0, beta=2.0)
    np.testing.assert_allclose(
        model.discounted_expected_residual_lifetime([0, 10], 0.0), [1.0, 6.0]
    )
    assert np.isinf(TRUE.discounted_expected_residual_lifetime(5, 0.0))


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="positive"):
        ShiftedBetaGeometric(alpha=0.0, beta=1.0)
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        TRUE.churn_pmf(0)
    with pytest.raises(ValueError, match="whole numbers"):
        TRUE.survival(1.5)
    with pytest.raises(ValueError, match="churned has periods >= 1"):
        fit_sbg([0, 2], [True, False])


# --- fit errors -------------------------------------------------------------------------------


def test_fit_errors_say_what_is_wrong() -> None:
    with pytest.raises(SBGFitError, match="at least 10 customers"):
        fit_sbg([1, 2, 3], [True, False, True])
    with pytest.raises(SBGFitError, match="none of the 50 customers churned"):
        fit_sbg(np.full(50, 6), np.zeros(50, dtype=bool))
    with pytest.raises(SBGFitError, match="none renewed"):
        fit_sbg(np.ones(50), np.ones(50, dtype=bool))
    with pytest.raises(SBGFitError, match="one period only"):
        fit_sbg(np.ones(50), np.arange(50) % 2 == 0)
    with pytest.raises(SBGFitError, match="none renewed"):
        fit_sbg_cohort([1000, 0, 0])


# --- by cohort --------------------------------------------------------------------------------


def test_fit_by_cohort_falls_back_to_the_pooled_fit() -> None:
    """Two large cohorts get their own parameters; a small one and a young one without churn
    yet get the pooled fit, with the reason."""
    loyal = ShiftedBetaGeometric(alpha=0.6, beta=4.0)
    p1, c1 = simulate(TRUE, 8_000, max_observed=18, seed=21)
    p2, c2 = simulate(loyal, 8_000, max_observed=18, seed=22)
    p3, c3 = simulate(TRUE, 60, max_observed=18, seed=23)
    p4, c4 = np.ones(500), np.zeros(500, dtype=bool)
    labels = np.repeat(["2024-01", "2024-02", "2024-03", "2024-04"], [8_000, 8_000, 60, 500])
    fits = fit_sbg_by_cohort(
        labels, np.concatenate([p1, p2, p3, p4]), np.concatenate([c1, c2, c3, c4])
    )
    assert fits.by_cohort["2024-01"].alpha == pytest.approx(TRUE.alpha, rel=0.12)
    assert fits.by_cohort["2024-02"].beta == pytest.approx(loyal.beta, rel=0.15)
    assert set(fits.fallback) == {"2024-03", "2024-04"}
    assert "at least 100 customers" in fits.fallback["2024-03"]
    assert "churned" in fits.fallback["2024-04"]
    assert fits.by_cohort["2024-03"] is fits.pooled
    assert fits.model("2025-01") is fits.pooled
    assert fits.model("2024-02") is fits.by_cohort["2024-02"]


# --- Kaplan-Meier -----------------------------------------------------------------------------


def test_kaplan_meier_tiny_example_by_hand() -> None:
    """durations 1 2 2 3 4 5, observed 1 1 0 1 0 1. The censoring at 2 counts as at risk at 2.

    t  at risk  events  S(t)                     Greenwood sum d/(n(n-d))   Var = S^2 x sum
    1  6        1       5/6                      1/30                       25/36 x 1/30
    2  5        1       5/6 x 4/5 = 2/3          1/30 + 1/20 = 1/12         4/9 x 1/12 = 1/27
    3  3        1       2/3 x 2/3 = 4/9          1/12 + 1/6 = 1/4           16/81 x 1/4 = 4/81
    5  1        1       0                        (inf)                      0 (S = 0)
    """
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(km.times, [1, 2, 3, 5])
    np.testing.assert_array_equal(km.at_risk, [6, 5, 3, 1])
    np.testing.assert_array_equal(km.events, [1, 1, 1, 1])
    np.testing.assert_allclose(km.survival_at, [5 / 6, 2 / 3, 4 / 9, 0.0])
    np.testing.assert_allclose(km.greenwood_variance, [25 / 36 / 30, 1 / 27, 4 / 81, 0.0])
    np.testing.assert_allclose(
        km.survival([0, 0.5, 1, 1.5, 2, 4.9, 5, 6]), [1, 1, 5 / 6, 5 / 6, 2 / 3, 4 / 9, 0, 0]
    )


def test_kaplan_meier_log_log_band_by_hand() -> None:
    """At t = 1: sigma = sqrt(1/30) / |log(5/6)| = 1.00138, band (5/6)^exp(+-1.96 sigma) =
    (0.2732, 0.9747)."""
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 0, 1])
    lower, upper = km.confidence_band(0.95)
    assert (lower[0], upper[0]) == pytest.approx((0.2732, 0.9747), abs=1e-4)
    assert np.all(lower <= km.survival_at) and np.all(km.survival_at <= upper)
    assert (lower[-1], upper[-1]) == (0.0, 0.0)


def test_kaplan_meier_weights_are_repeated_rows_and_days_work() -> None:
    days = np.array([30.5, 61.0, 61.0, 92.25, 120.0])
    observed = np.array([1, 0, 1, 1, 0])
    weights = np.array([2, 1, 3, 1, 4])
    weighted = kaplan_meier(days, observed, weights)
    repeated = kaplan_meier(np.repeat(days, weights), np.repeat(observed, weights))
    np.testing.assert_allclose(weighted.survival_at, repeated.survival_at)
    np.testing.assert_allclose(weighted.greenwood_variance, repeated.greenwood_variance)
    assert weighted.survival(61.0) == pytest.approx((1 - 2 / 11) * (1 - 3 / 9))


def test_kaplan_meier_matches_sbg_survival_on_a_large_sample() -> None:
    """200,000 customers observed for 1..30 periods: KM is within 0.005 of S(t) (its standard
    error is at most 0.0015 here; across seeds the largest gap is about 0.002)."""
    periods_, churned = simulate(TRUE, 200_000, max_observed=30, seed=8)
    km = kaplan_meier(periods_, churned)
    t = np.arange(1, 31)
    np.testing.assert_allclose(km.survival(t), TRUE.survival(t), atol=0.005)
