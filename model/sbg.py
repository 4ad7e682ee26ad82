"""Contractual-churn baselines for subscriptions: the shifted-beta-geometric model and Kaplan-Meier.

Shifted-beta-geometric (sBG; Fader & Hardie 2007, "How to project customer retention",
J. Interactive Marketing 21(1)): at the end of each period a customer fails to renew with
probability theta, constant for the customer, and theta ~ Beta(alpha, beta) across customers.
T in {1, 2, ...} is the period at the end of which the customer leaves (T = 1: never renews), so
a customer who has renewed n times has T > n. With B the beta function:

* P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)  (eq. 5; the recursion of eq. 7 is
  P(T = 1) = alpha / (alpha + beta), P(T = t) = (beta + t - 2) / (alpha + beta + t - 1) P(T = t-1));
* S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta), S(0) = 1  (eq. 6);
* r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)  (eq. 8): the retention rate
  rises with t because the customers with a high theta leave first, not because anyone changes;
* a customer alive after n periods has theta ~ Beta(alpha, beta + n), so P(k more renewals) =
  S(n + k) / S(n) = B(alpha, beta + n + k) / B(alpha, beta + n).

Everything is computed from log-beta functions (``scipy.special.betaln``), never from products of
gamma functions, so large t, alpha or beta neither overflow nor lose precision.

Discounted expected residual lifetime (DERL; Fader & Hardie 2010, "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity", Marketing Science 29(1), eq. 6): for
a customer who has made n - 1 renewals (T > n - 1), standing just before the n-th renewal
decision, the expected number of future renewals with the j-th one discounted by 1/(1+d)^(j-1):

    DERL(d | alpha, beta, n - 1 renewals) = sum_{t>=n} S(t) / S(n-1) / (1 + d)^(t - n)
        = (beta + n - 1) / (alpha + beta + n - 1) * 2F1(1, beta + n; alpha + beta + n; 1/(1+d)).

Here ``periods_survived`` = n - 1 (the renewals made), so
``discounted_expected_residual_lifetime(m, d) = (1 + d) * expected_renewals(m, inf, d)``: DERL
does not discount the next renewal, ``expected_renewals`` discounts it by one period.
``scipy.special.hyp2f1`` is unreliable in this corner (c - a - b = alpha - 1, z close to 1): with
scipy 1.17 it returns nan for beta + n from about 170 and values of the wrong sign near
alpha = 1 with small d. The 2F1 is therefore evaluated from its Gauss continued fraction (the one of the
incomplete beta function, Numerical Recipes 3rd ed. section 6.4, with 2F1(1, p + q; p + 1; z) =
p B_z(p, q) / (z^p (1 - z)^q), p = alpha + beta + n - 1, q = 1 - alpha) by the modified Lentz
method; it converges for every 0 < z < 1 in a few hundred steps (a few thousand for d ~ 1e-5).
At d = 0 the sum is (beta + n - 1) / (alpha - 1) for alpha > 1 and infinite otherwise.

Fitting: maximum likelihood (L-BFGS-B on log-parameters, analytic gradient) with right
censoring: a customer who churned in period t contributes log P(T = t), one still active after
t periods contributes log S(t) (Fader & Hardie 2007, eq. 9, for a cohort observed for T periods).
The cohort fit is this same likelihood on the table of counts.

Kaplan-Meier (Kaplan & Meier 1958): S(t) = prod_{t_i <= t} (1 - d_i / n_i) over the event times,
with ties counted as events before censorings (a customer censored at t_i is at risk at t_i).
Greenwood's (1926) variance S(t)^2 sum d_i / (n_i (n_i - d_i)) and the log-log confidence band
of Kalbfleisch & Prentice (2002, section 1.4): S(t)^exp(+-z sigma(t)) with
sigma(t)^2 = sum d_i / (n_i (n_i - d_i)) / log(S(t))^2. It is a few lines of numpy:
``lifelines`` would add pandas-heavy dependencies for no more than this.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import optimize, special, stats

# alpha, beta in [4.5e-5, 3.3e6]: at the top, a geometric model (no heterogeneity) in practice
_LOG_BOUNDS = (-10.0, 15.0)
_CF_MAX_STEPS = 200_000


class SBGFitError(RuntimeError):
    """The sBG likelihood cannot be maximised: too little or degenerate data."""


def _whole(values: npt.ArrayLike, name: str, minimum: int) -> np.ndarray:
    """``values`` as a float array of whole numbers >= ``minimum`` (ValueError otherwise)."""
    arr = np.asarray(values, dtype="float64")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)) or np.any(arr < minimum):
        raise ValueError(f"{name} must be whole numbers >= {minimum}")
    return arr


def _gauss_cf_2f1(p: np.ndarray, q: np.ndarray, z: float) -> np.ndarray:
    """2F1(1, p + q; p + 1; z) for 0 < z < 1 by the incomplete-beta continued fraction (modified
    Lentz, vectorised over p and q); see the module docstring."""
    tiny = 1e-300

    def guard(v: np.ndarray) -> np.ndarray:
        return np.where(np.abs(v) < tiny, tiny, v)

    c = np.ones_like(p)
    dd = 1.0 / guard(1.0 - (p + q) * z / (p + 1.0))
    h = dd.copy()
    done = np.zeros(p.shape, dtype=bool)
    for m in range(1, _CF_MAX_STEPS + 1):
        for a in (
            m * (q - m) * z / ((p + 2 * m - 1) * (p + 2 * m)),
            -(p + m) * (p + q + m) * z / ((p + 2 * m) * (p + 2 * m + 1)),
        ):
            dd = 1.0 / guard(1.0 + a * dd)
            c = guard(1.0 + a / c)
            step = dd * c
            h = np.where(done, h, h * step)
        done |= np.abs(step - 1.0) < 1e-15
        if done.all():
            return h
    raise RuntimeError("the continued fraction for 2F1 did not converge")


@dataclass(frozen=True)
class ShiftedBetaGeometric:
    """An sBG model: per-period churn probability theta ~ Beta(alpha, beta) across customers.

    Methods take whole numbers of periods (scalars or arrays, broadcast) and return arrays.
    """

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.alpha) and np.isfinite(self.beta)):
            raise ValueError(f"alpha and beta must be finite, got {self.alpha}, {self.beta}")
        if self.alpha <= 0 or self.beta <= 0:
            raise ValueError(f"alpha and beta must be positive, got {self.alpha}, {self.beta}")

    def churn_pmf(self, t: npt.ArrayLike) -> np.ndarray:
        """P(T = t): the customer leaves at the end of period t = 1, 2, ..."""
        t = _whole(t, "t", 1)
        a, b = self.alpha, self.beta
        return np.exp(special.betaln(a + 1.0, b + t - 1.0) - special.betaln(a, b))

    def survival(self, t: npt.ArrayLike) -> np.ndarray:
        """S(t) = P(T > t): still a customer after t periods (t renewals); S(0) = 1."""
        t = _whole(t, "t", 0)
        a, b = self.alpha, self.beta
        return np.exp(special.betaln(a, b + t) - special.betaln(a, b))

    def retention_rate(self, t: npt.ArrayLike) -> np.ndarray:
        """r(t) = S(t) / S(t - 1): the share of period t's customers who renew, t >= 1."""
        t = _whole(t, "t", 1)
        return (self.beta + t - 1.0) / (self.alpha + self.beta + t - 1.0)

    def renewal_probability(
        self, periods_survived: npt.ArrayLike, k: npt.ArrayLike = 1
    ) -> np.ndarray:
        """P(T > n + k | T > n): a customer who has renewed n times renews k more times."""
        n = _whole(periods_survived, "periods_survived", 0)
        k = _whole(k, "k", 0)
        a, b = self.alpha, self.beta
        return np.exp(special.betaln(a, b + n + k) - special.betaln(a, b + n))

    def expected_renewals(
        self,
        periods_survived: npt.ArrayLike,
        periods_ahead: npt.ArrayLike,
        discount_per_period: float = 0.0,
    ) -> np.ndarray:
        """sum_{j=1..K} P(T > n + j | T > n) / (1 + d)^j: the expected (discounted) renewals among
        the next K of a customer who has renewed n times.

        K may differ per customer (billing periods of different lengths in one horizon): one
        cumulative table per distinct n, read at K; its size is (distinct n) x max K.
        """
        n = _whole(periods_survived, "periods_survived", 0)
        K = _whole(periods_ahead, "periods_ahead", 0)
        if not discount_per_period >= 0:
            raise ValueError(f"discount_per_period must be >= 0, got {discount_per_period}")
        n, K = np.broadcast_arrays(n, K)
        k_max = int(K.max()) if K.size else 0
        if k_max == 0:
            return np.zeros(n.shape)
        distinct, where = np.unique(n.ravel(), return_inverse=True)
        j = np.arange(1, k_max + 1, dtype="float64")
        b = self.beta + distinct[:, None]
        log_terms = (
            special.betaln(self.alpha, b + j)
            - special.betaln(self.alpha, b)
            - j * np.log1p(discount_per_period)
        )
        table = np.zeros((len(distinct), k_max + 1))
        table[:, 1:] = np.cumsum(np.exp(log_terms), axis=1)
        return table[where, K.ravel().astype(np.intp)].reshape(n.shape)

    def discounted_expected_residual_lifetime(
        self, periods_survived: npt.ArrayLike, discount: float
    ) -> np.ndarray:
        """DERL of Fader & Hardie (2010) for a customer who has renewed ``periods_survived``
        (= their n - 1) times: expected future renewals, the next one undiscounted and the j-th
        discounted by 1/(1+d)^(j-1). Multiply by the margin per period for the residual value."""
        m = _whole(periods_survived, "periods_survived", 0)
        if not discount >= 0:
            raise ValueError(f"discount must be >= 0, got {discount}")
        a, b = self.alpha, self.beta
        if discount == 0:
            return np.full(m.shape, np.inf) if a <= 1 else (b + m) / (a - 1.0)
        distinct, where = np.unique(m.ravel(), return_inverse=True)
        p = a + b + distinct  # F&H's alpha + beta + n - 1
        hyp = _gauss_cf_2f1(p, np.full_like(p, 1.0 - a), 1.0 / (1.0 + discount))
        return ((b + distinct) / p * hyp)[where].reshape(m.shape)


def sbg_log_likelihood(
    params: npt.ArrayLike, periods: npt.ArrayLike, churned: npt.ArrayLike
) -> np.ndarray:
    """Per-customer sBG log-likelihood for params (alpha, beta): log P(T = t) if churned in
    period t, log S(t) if still a customer after t periods."""
    return _log_likelihood_and_gradient(
        np.asarray(params, dtype="float64"), *_rows(periods, churned)
    )[0]


def _rows(periods: npt.ArrayLike, churned: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = _whole(periods, "periods", 0)
    event = np.asarray(churned)
    if event.shape != t.shape:
        raise ValueError(f"periods and churned differ in shape: {t.shape} vs {event.shape}")
    if event.dtype != bool:
        if not np.all(np.isin(event, (0, 1))):
            raise ValueError("churned must be booleans or 0/1")
        event = event.astype(bool)
    if np.any(event & (t < 1)):
        raise ValueError("a customer who churned has periods >= 1 (the period they left in)")
    return t, event


def _log_likelihood_and_gradient(
    params: np.ndarray, t: np.ndarray, event: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and its gradient in (alpha, beta), shape (2, rows)."""
    a, b = params
    psi_ab = special.digamma(a + b)
    # churned: betaln(a + 1, b + t - 1) - betaln(a, b); censored: betaln(a, b + t) - betaln(a, b)
    a_num = np.where(event, a + 1.0, a)
    b_num = np.where(event, b + t - 1.0, b + t)
    ll = special.betaln(a_num, b_num) - special.betaln(a, b)
    psi_end = special.digamma(a + b + t)
    d_a = special.digamma(a_num) - special.digamma(a) - psi_end + psi_ab
    d_b = special.digamma(b_num) - special.digamma(b) - psi_end + psi_ab
    return ll, np.stack([d_a, d_b])


def fit_sbg(
    periods: npt.ArrayLike,
    churned: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    min_customers: int = 10,
) -> ShiftedBetaGeometric:
    """Maximum-likelihood sBG from right-censored customers.

    ``periods``: the period a customer churned in (``churned`` true: T = t) or the number of
    periods they are known to have survived (``churned`` false: T > t). ``weights``: how many
    customers each row stands for (counts, so a cohort can be given as a table). Customers with
    no completed period (censored at 0) carry no information and are not counted.
    """
    t, event = _rows(periods, churned)
    w = np.ones(t.shape) if weights is None else np.asarray(weights, dtype="float64")
    if w.shape != t.shape:
        raise ValueError(f"weights and periods differ in shape: {w.shape} vs {t.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    t, event, w = t.ravel(), event.ravel(), w.ravel()
    informative = (t >= 1) & (w > 0)
    t, event, w = t[informative], event[informative], w[informative]
    _check_identifiable(t, event, w, min_customers)

    # rows with the same (t, churned) share one likelihood term
    keys, where = np.unique(np.stack([t, event]), axis=1, return_inverse=True)
    t, event = keys[0], keys[1].astype(bool)
    w = np.bincount(where.ravel(), weights=w)
    w = w / w.sum()

    def nll(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        ll, grad = _log_likelihood_and_gradient(params, t, event)
        return -float(w @ ll), -(grad @ w) * params

    at_risk_1 = w.sum()
    churn_1 = w[event & (t == 1)].sum()
    first_churn = float(np.clip(churn_1 / at_risk_1, 0.01, 0.99))
    start = np.log([1.0, (1.0 - first_churn) / first_churn])
    res = optimize.minimize(
        nll,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS] * 2,
        options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000},
    )
    if not np.isfinite(res.fun):
        raise SBGFitError(f"sBG fit failed: {res.message}")
    alpha, beta = np.exp(res.x)
    return ShiftedBetaGeometric(float(alpha), float(beta))


def _check_identifiable(t: np.ndarray, event: np.ndarray, w: np.ndarray, minimum: int) -> None:
    """Raise SBGFitError when the maximum of the likelihood is not a finite (alpha, beta)."""
    total = float(w.sum())
    if total < minimum:
        raise SBGFitError(
            f"sBG needs at least {minimum} customers observed for a period or more, got {total:g}"
        )
    if not np.any(event):
        raise SBGFitError(
            f"none of the {total:g} customers churned: the churn rate cannot be estimated "
            "(the likelihood keeps rising as beta grows)"
        )
    if not np.any((t >= 2) | ~event):
        raise SBGFitError(
            f"all {total:g} customers churned in period 1, none renewed: retention cannot be "
            "estimated (the likelihood keeps rising as beta falls to 0)"
        )
    if not np.any(t >= 2):
        raise SBGFitError(
            "every customer is observed for one period only: that gives the first-period churn "
            "rate alpha / (alpha + beta) but not alpha and beta apart; observe two periods or more"
        )


def cohort_table(alive: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(periods, churned, weights) of a cohort from the counts alive at the start of periods
    0..T (alive[0] the cohort size, alive[t] the customers who renewed t times): alive[t-1] -
    alive[t] churned in period t, alive[T] censored after T periods."""
    n = np.asarray(alive, dtype="float64")
    if n.ndim != 1 or len(n) < 2:
        raise ValueError("alive must be the counts at the start of periods 0..T, T >= 1")
    if not np.all(np.isfinite(n)) or np.any(n < 0) or np.any(np.diff(n) > 0):
        raise ValueError("alive must be non-negative and non-increasing")
    periods_T = len(n) - 1
    periods = np.concatenate([np.arange(1, periods_T + 1), [periods_T]]).astype("float64")
    churned = np.concatenate([np.ones(periods_T, dtype=bool), [False]])
    return periods, churned, np.concatenate([-np.diff(n), n[-1:]])


def fit_sbg_cohort(alive: npt.ArrayLike, *, min_customers: int = 10) -> ShiftedBetaGeometric:
    """sBG fitted to one cohort's counts alive at the start of periods 0..T (Fader & Hardie 2007
    eq. 9): :func:`fit_sbg` on :func:`cohort_table`."""
    return fit_sbg(*cohort_table(alive), min_customers=min_customers)


@dataclass(frozen=True)
class CohortFits:
    """One sBG per cohort label, with the pooled fit standing in for cohorts that cannot have
    their own."""

    pooled: ShiftedBetaGeometric
    by_cohort: dict[Hashable, ShiftedBetaGeometric]
    """Every label seen at the fit: its own model, or ``pooled`` if it fell back."""
    fallback: dict[Hashable, str] = field(default_factory=dict)
    """Labels that use the pooled fit, with the reason."""

    def model(self, label: Hashable) -> ShiftedBetaGeometric:
        """The label's model; the pooled one for a label unseen at the fit."""
        return self.by_cohort.get(label, self.pooled)


def fit_sbg_by_cohort(
    cohorts: npt.ArrayLike,
    periods: npt.ArrayLike,
    churned: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    min_customers: int = 100,
) -> CohortFits:
    """An sBG per cohort label (start month, plan, ...) and a pooled one over all customers.

    A cohort with fewer than ``min_customers`` (weighted) customers observed for a period or
    more, or whose data cannot be fitted (e.g. no churn yet), gets the pooled fit. The pooled
    fit needs ``min_customers`` too: SBGFitError if it cannot be fitted.
    """
    labels = np.asarray(cohorts)
    t, event = _rows(periods, churned)
    w = np.ones(t.shape) if weights is None else np.asarray(weights, dtype="float64")
    if not labels.shape == t.shape == w.shape:
        raise ValueError("cohorts, periods, churned and weights differ in shape")
    pooled = fit_sbg(t, event, w, min_customers=min_customers)
    distinct, where = np.unique(labels.ravel(), return_inverse=True)
    keys = distinct.tolist() if distinct.dtype.kind in "biufUSO" else list(distinct)
    by_cohort: dict[Hashable, ShiftedBetaGeometric] = {}
    fallback: dict[Hashable, str] = {}
    t, event, w = t.ravel(), event.ravel(), w.ravel()
    for i, key in enumerate(keys):
        rows = where.ravel() == i
        try:
            by_cohort[key] = fit_sbg(t[rows], event[rows], w[rows], min_customers=min_customers)
        except SBGFitError as exc:
            by_cohort[key] = pooled
            fallback[key] = str(exc)
    return CohortFits(pooled, by_cohort, fallback)


@dataclass(frozen=True, eq=False)
class KaplanMeier:
    """A Kaplan-Meier survival curve; arrays are per distinct event time, in increasing order."""

    times: np.ndarray
    """Distinct times with at least one event (durations in periods or days)."""
    survival_at: np.ndarray
    """S(t) just after each time (the right-continuous step)."""
    at_risk: np.ndarray
    """Customers (weighted) with duration >= the time: censored at it still count."""
    events: np.ndarray
    """Events (weighted) at each time."""
    greenwood_variance: np.ndarray
    """Greenwood's variance of S at each time; 0 where S has reached 0."""

    def survival(self, t: npt.ArrayLike) -> np.ndarray:
        """S(t) as a step function: 1 before the first event time."""
        t = np.asarray(t, dtype="float64")
        steps = np.concatenate([[1.0], self.survival_at])
        out = steps[np.searchsorted(self.times, t, side="right")]
        return np.where(np.isnan(t), np.nan, out)

    def confidence_band(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) log-log band at ``times``: S^exp(+-z sigma) (Kalbfleisch-Prentice)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        z = stats.norm.ppf(0.5 + level / 2)
        s = self.survival_at
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = np.sqrt(self.greenwood_variance) / (s * np.abs(np.log(s)))
            lower = np.where(s > 0, s ** np.exp(z * sigma), 0.0)
            upper = np.where(s > 0, s ** np.exp(-z * sigma), 0.0)
        return lower, upper


def kaplan_meier(
    durations: npt.ArrayLike, observed: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> KaplanMeier:
    """Kaplan-Meier estimate from durations (periods or days, floats) and whether the event
    (churn) was observed (false: censored). ``weights``: customers each row stands for."""
    time = np.asarray(durations, dtype="float64").ravel()
    event = np.asarray(observed).ravel().astype(bool)
    w = np.ones(time.shape) if weights is None else np.asarray(weights, dtype="float64").ravel()
    if not time.shape == event.shape == w.shape:
        raise ValueError("durations, observed and weights differ in length")
    if time.size == 0:
        raise ValueError("Kaplan-Meier needs at least one duration")
    if not np.all(np.isfinite(time)) or np.any(time < 0):
        raise ValueError("durations must be finite and >= 0")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    distinct, where = np.unique(time, return_inverse=True)
    leaving = np.bincount(where, weights=w, minlength=len(distinct))
    events = np.bincount(where, weights=w * event, minlength=len(distinct))
    at_risk = np.cumsum(leaving[::-1])[::-1]  # duration >= t: events before censorings
    keep = events > 0
    times, events, at_risk = distinct[keep], events[keep], at_risk[keep]
    surv = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(events / (at_risk * (at_risk - events)))
        variance = np.where(surv > 0, surv**2 * greenwood, 0.0)
    return KaplanMeier(times, surv, at_risk, events, variance)
