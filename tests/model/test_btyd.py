"""BG/NBD and Gamma-Gamma: parameter recovery and calibration against simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.btyd import BGNBD, BTYDFitError, BTYDModel, GammaGamma
from model.clv import clv_from_revenue, discount_factors, horizon_weights, period_edges

TRUE = BGNBD(r=0.8, alpha=30.0, a=0.9, b=3.0)
HORIZON = 90.0


def simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    """Simulate BG/NBD customers up to T and over the following horizon."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE.r, 1 / TRUE.alpha, n)
    drop = rng.beta(TRUE.a, TRUE.b, n)
    T = rng.uniform(200, 700, n)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i] + HORIZON:
                break
            if t <= T[i]:
                x[i] += 1
                t_x[i] = t
            else:
                future[i] += 1
            if rng.random() < drop[i]:
                break
    return {"x": x, "t_x": t_x, "T": T, "future": future}


@pytest.fixture(scope="module")
def sim() -> dict[str, np.ndarray]:
    return simulate(4000, seed=7)


def test_bgnbd_recovers_parameters(sim: dict[str, np.ndarray]) -> None:
    fit = BGNBD.fit(sim["x"], sim["t_x"], sim["T"])
    assert fit.r == pytest.approx(TRUE.r, rel=0.15)
    assert fit.alpha == pytest.approx(TRUE.alpha, rel=0.2)
    assert fit.a == pytest.approx(TRUE.a, rel=0.35)
    assert fit.b == pytest.approx(TRUE.b, rel=0.35)


def test_churn_probability_and_expected_purchases_are_calibrated(
    sim: dict[str, np.ndarray],
) -> None:
    p_silent = TRUE.p_no_purchase(HORIZON, sim["x"], sim["t_x"], sim["T"])
    observed_silent = (sim["future"] == 0).mean()
    assert p_silent.mean() == pytest.approx(observed_silent, abs=0.02)
    expected = TRUE.expected_purchases(HORIZON, sim["x"], sim["t_x"], sim["T"])
    assert expected.mean() == pytest.approx(sim["future"].mean(), rel=0.08)
    # high-probability group really is silent more often than the low one
    hi = p_silent > np.quantile(p_silent, 0.8)
    lo = p_silent < np.quantile(p_silent, 0.2)
    assert (sim["future"][hi] == 0).mean() > (sim["future"][lo] == 0).mean() + 0.3


def test_one_time_buyers_are_not_called_safe() -> None:
    # P(alive) is 1 for every one-time buyer; the churn score must still be high for an old one.
    x, t_x, T = np.array([0.0, 5.0]), np.array([0.0, 290.0]), np.array([300.0, 300.0])
    assert TRUE.p_alive(x, t_x, T)[0] == 1.0
    churn = TRUE.p_no_purchase(HORIZON, x, t_x, T)
    assert churn[0] > 0.5
    assert churn[0] > churn[1]  # a frequent recent buyer is safer than a one-time buyer


def test_recent_purchase_lowers_churn_probability() -> None:
    x = np.array([4.0, 4.0])
    churn = TRUE.p_no_purchase(HORIZON, x, np.array([100.0, 390.0]), np.array([400.0, 400.0]))
    assert churn[1] < churn[0]


def test_gamma_gamma_recovers_mean_spend() -> None:
    rng = np.random.default_rng(3)
    p, q, v = 6.0, 4.0, 15.0
    nu = rng.gamma(q, 1 / v, 3000)
    x = rng.integers(1, 10, 3000).astype(float)
    m = rng.gamma(p * x, 1 / (nu * x))
    fit = GammaGamma.fit(x, m)
    assert fit.p * fit.v / (fit.q - 1) == pytest.approx(p * v / (q - 1), rel=0.1)
    spend = fit.expected_spend(np.array([0.0, 20.0]), np.array([0.0, 50.0]))
    assert spend[0] == pytest.approx(fit.p * fit.v / (fit.q - 1))
    assert 40 < spend[1] < 50  # shrunk from 50 towards the population mean (~30)


def test_btyd_clv_grows_with_horizon_and_falls_with_discount(
    sim: dict[str, np.ndarray],
) -> None:
    """The BTYD baseline's CLV goes through the one CLV module; undiscounted it is expected
    purchases over the horizon x expected spend."""
    gg = GammaGamma(p=6.0, q=4.0, v=15.0)
    x, t_x, T, m = sim["x"][:50], sim["t_x"][:50], sim["T"][:50], np.full(50, 30.0)
    spend = gg.expected_spend(x, m)

    def clv(horizon: int, rate: float) -> np.ndarray:
        edges = period_edges(horizon)
        cum = np.stack([TRUE.expected_purchases(e, x, t_x, T) for e in edges[1:]], axis=1)
        label = TRUE.expected_purchases(90, x, t_x, T)
        revenue = label * spend
        return clv_from_revenue(
            revenue, horizon_weights(cum, label), discount_factors(edges, rate), 1.0
        )

    v1, v2, v3 = clv(180, 0.0), clv(365, 0.0), clv(365, 0.05)
    assert np.all(v2 >= v1) and np.all(v3 <= v2) and v2.sum() > v3.sum() > 0
    no_disc = TRUE.expected_purchases(365, x, t_x, T) * spend
    np.testing.assert_allclose(v2, no_disc, rtol=1e-9)


def test_grouped_fit_gives_the_same_optimum_as_one_row_per_customer(
    sim: dict[str, np.ndarray],
) -> None:
    """Customers with equal (x, t_x, T) are fitted as one weighted term: same likelihood."""
    x, t_x, T = (np.round(sim[k]) for k in ("x", "t_x", "T"))
    fit = BGNBD.fit(x, t_x, T)
    from model.btyd import bgnbd_log_likelihood

    params = np.array([fit.r, fit.alpha, fit.a, fit.b])
    best = bgnbd_log_likelihood(params, x, t_x, T).mean()
    for bump in (0.97, 1.03):
        for k in range(4):
            other = params.copy()
            other[k] *= bump
            assert bgnbd_log_likelihood(other, x, t_x, T).mean() <= best + 1e-7


def test_btyd_model_round_trips_and_gives_every_posterior() -> None:
    frame = pd.DataFrame(
        {
            "btyd_x": [0, 3, 10, None],
            "btyd_t_x": [0.0, 100.0, 380.0, None],
            "btyd_T": [50.0, 400.0, 400.0, None],
            "btyd_monetary_value": [0.0, 40.0, 25.0, None],
            "monetary_mean": [20.0, 35.0, 25.0, None],
        }
    )
    model = BTYDModel(TRUE, GammaGamma(6.0, 4.0, 15.0), 30.0)
    post = model.posteriors(frame, 90)
    assert list(post.columns) == [
        "btyd_p_alive",
        "btyd_p_silent",
        "btyd_purchases",
        "btyd_spend_per_purchase",
        "btyd_revenue",
    ]
    assert post.notna().all().all()  # a customer without a purchase gets a new customer's curve
    assert post.loc[2, "btyd_p_silent"] < post.loc[1, "btyd_p_silent"]  # recent frequent buyer
    np.testing.assert_allclose(
        post["btyd_revenue"], post["btyd_purchases"] * post["btyd_spend_per_purchase"]
    )
    again = BTYDModel.from_dict(model.to_dict())
    pd.testing.assert_frame_equal(again.posteriors(frame, 90), post)


def test_too_few_customers_is_a_clear_error() -> None:
    with pytest.raises(BTYDFitError, match="at least 10 customers"):
        BGNBD.fit([1, 2], [3, 4], [5, 6])
    with pytest.raises(ValueError, match="t_x <= T"):
        TRUE.p_alive([1], [10], [5])


def test_expected_purchases_for_many_horizons_are_those_of_one_horizon_at_a_time() -> None:
    """expected_purchases_by (scoring: every month of the CLV horizon) evaluates the
    hypergeometric term once per distinct (x, T): exactly the numbers of one call per horizon,
    repeated histories and brand-new customers (x = T = 0) included."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 6, 400).astype(float)
    T = rng.integers(0, 400, 400).astype(float)
    t_x = np.where(x > 0, np.floor(T * rng.uniform(0, 1, 400)), 0.0)
    x[:50], t_x[:50], T[:50] = 0.0, 0.0, 0.0
    horizons = [30.4375 * k for k in range(1, 13)] + [90.0]
    together = TRUE.expected_purchases_by(horizons, x, t_x, T)
    alone = np.stack([TRUE.expected_purchases(h, x, t_x, T) for h in horizons], axis=1)
    assert together.shape == (400, 13)
    np.testing.assert_array_equal(together, alone)
