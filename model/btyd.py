"""Buy-till-you-die baselines fitted by maximum likelihood: BG/NBD and Gamma-Gamma.

BG/NBD (Fader, Hardie & Lee 2005): while alive a customer buys as a Poisson process with rate
lambda ~ Gamma(r, alpha); after each purchase they drop out with probability p ~ Beta(a, b).
Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"): the mean value of a customer's repeat
purchases, independent of their frequency.

Inputs are the BTYD summary columns of the feature frame: ``btyd_x`` (repeat purchase days),
``btyd_t_x`` (days from first to last purchase), ``btyd_T`` (days from first purchase to the
cutoff), ``btyd_monetary_value`` (mean value of repeat purchases, 0 if none).

The churn score is P(no purchase in the next h days | history) = P(dead) + P(alive) *
((alpha + T) / (alpha + T + h)) ** (r + x); 1 - P(alive) is *not* used, as it calls every one-time
buyer safe (P(alive) = 1 when x = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special


class BTYDFitError(RuntimeError):
    """The likelihood could not be maximised (too little or degenerate data)."""


def _as_arrays(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    x = np.asarray(x, dtype="float64")
    t_x = np.asarray(t_x, dtype="float64")
    T = np.asarray(T, dtype="float64")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(T < t_x - 1e-9):
        raise ValueError("BTYD summary must satisfy x >= 0 and 0 <= t_x <= T")
    return x, t_x, T


def bgnbd_log_likelihood(params: np.ndarray, x, t_x, T) -> np.ndarray:  # noqa: ANN001
    """Per-customer BG/NBD log-likelihood for params (r, alpha, a, b)."""
    r, alpha, a, b = params
    x, t_x, T = _as_arrays(x, t_x, T)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


@dataclass(frozen=True)
class BGNBD:
    """A fitted BG/NBD model; times in days."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x, t_x, T, penalizer: float = 0.0) -> BGNBD:  # noqa: ANN001
        """Maximum-likelihood fit (L-BFGS-B on log-parameters)."""
        x, t_x, T = _as_arrays(x, t_x, T)
        if len(x) < 10:
            raise BTYDFitError(f"BG/NBD needs at least 10 customers, got {len(x)}")
        scale = float(np.mean(T)) or 1.0
        # customers with the same (x, t_x, T) share one likelihood term: days are whole numbers,
        # so grouping them makes the fit many times faster on large data (same optimum)
        rows, counts = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
        x, t_x, T = rows[:, 0], rows[:, 1], rows[:, 2]
        weight = counts / counts.sum()

        def nll(logp: np.ndarray) -> float:
            p = np.exp(logp)
            ll = float(np.dot(weight, bgnbd_log_likelihood(p, x, t_x, T)))
            return -(ll - penalizer * float(np.sum(p**2)))

        start = np.log([1.0, scale / 10, 1.0, 1.0])
        res = optimize.minimize(nll, start, method="L-BFGS-B", bounds=[(-9, 9)] * 4)
        if not np.isfinite(res.fun):
            raise BTYDFitError(f"BG/NBD fit failed: {res.message}")
        r, alpha, a, b = np.exp(res.x)
        return cls(float(r), float(alpha), float(a), float(b))

    def _correction(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The term a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, else 0."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            term = (self.a / np.maximum(self.b + x - 1, 1e-12)) * np.exp(
                (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        return np.where(x > 0, term, 0.0)

    def p_alive(self, x, t_x, T) -> np.ndarray:  # noqa: ANN001
        """P(customer still alive at T | x, t_x, T)."""
        x, t_x, T = _as_arrays(x, t_x, T)
        return 1.0 / (1.0 + self._correction(x, t_x, T))

    def p_no_purchase(self, horizon_days: float, x, t_x, T) -> np.ndarray:  # noqa: ANN001
        """P(no purchase in (T, T + horizon] | history): the churn probability of the baseline."""
        x, t_x, T = _as_arrays(x, t_x, T)
        alive = 1.0 / (1.0 + self._correction(x, t_x, T))
        silent_if_alive = np.exp(
            (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + horizon_days))
        )
        return (1.0 - alive) + alive * silent_if_alive

    def expected_purchases(self, horizon_days: float, x, t_x, T) -> np.ndarray:  # noqa: ANN001
        """E[number of purchases in (T, T + horizon] | history]."""
        x, t_x, T = _as_arrays(x, t_x, T)
        return self._expected(float(horizon_days), x, T, self._correction(x, t_x, T), None)

    def expected_purchases_by(self, horizons, x, t_x, T) -> np.ndarray:  # noqa: ANN001
        """:meth:`expected_purchases` for each of ``horizons``, (customers, horizons): the same
        numbers, faster for many customers and horizons (scoring asks for each month of the CLV
        horizon). The hypergeometric term depends on x and T alone, so it is evaluated once
        per distinct (x, T), about a fifth of a scoring range's customers, and the alive
        correction once for every horizon."""
        x, t_x, T = _as_arrays(x, t_x, T)
        pairs, at = np.unique(x + 1j * T, return_inverse=True)  # distinct (x, T)
        distinct = (pairs.real, pairs.imag, at.reshape(-1))
        correction = self._correction(x, t_x, T)
        out = np.empty((len(x), len(horizons)))
        for k, horizon in enumerate(horizons):
            out[:, k] = self._expected(float(horizon), x, T, correction, distinct)
        return out

    def _expected(
        self,
        t: float,
        x: np.ndarray,
        T: np.ndarray,
        correction: np.ndarray,
        distinct: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> np.ndarray:
        """Expected purchases in (T, T + t]; ``distinct``: the distinct (x, T) and each
        customer's position among them, to evaluate the hypergeometric term once per pair."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hx, hT, at = distinct if distinct is not None else (x, T, None)
        hyp = special.hyp2f1(r + hx, b + hx, a + b + hx - 1, t / (alpha + hT + t))
        hyp = hyp if at is None else hyp[at]
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        numer = (a + b + x - 1) / (a - 1) * (1.0 - ratio * hyp)
        out = numer / (1.0 + correction)
        return np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0), 0.0, None)


def gamma_gamma_log_likelihood(params: np.ndarray, x, m) -> np.ndarray:  # noqa: ANN001
    """Per-customer Gamma-Gamma log-likelihood for params (p, q, v), x > 0, m > 0."""
    p, q, v = params
    x = np.asarray(x, dtype="float64")
    m = np.asarray(m, dtype="float64")
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(v + m * x)
    )


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model."""

    p: float
    q: float
    v: float

    @classmethod
    def fit(cls, x, m) -> GammaGamma:  # noqa: ANN001
        """Maximum-likelihood fit on customers with repeat purchases of positive mean value."""
        x = np.asarray(x, dtype="float64")
        m = np.asarray(m, dtype="float64")
        keep = (x > 0) & (m > 0) & np.isfinite(m)
        x, m = x[keep], m[keep]
        if len(x) < 10:
            raise BTYDFitError(f"Gamma-Gamma needs at least 10 repeat buyers, got {len(x)}")

        def nll(logp: np.ndarray) -> float:
            return -float(gamma_gamma_log_likelihood(np.exp(logp), x, m).mean())

        start = np.log([1.0, 2.0, float(np.mean(m))])
        res = optimize.minimize(nll, start, method="L-BFGS-B", bounds=[(-9, 12)] * 3)
        if not np.isfinite(res.fun):
            raise BTYDFitError(f"Gamma-Gamma fit failed: {res.message}")
        p, q, v = np.exp(res.x)
        if q <= 1:
            raise BTYDFitError(f"Gamma-Gamma fit has q={q:.3f} <= 1: mean spend undefined")
        return cls(float(p), float(q), float(v))

    def expected_spend(self, x, m) -> np.ndarray:  # noqa: ANN001
        """E[mean spend per purchase | x repeat purchases of mean value m]; population mean if x=0."""
        x = np.asarray(x, dtype="float64")
        m = np.nan_to_num(np.asarray(m, dtype="float64"), nan=0.0)
        cond = self.p * (self.v + x * m) / (self.p * x + self.q - 1)
        return np.where(x > 0, cond, self.p * self.v / (self.q - 1))


SUMMARY_COLUMNS = ("btyd_x", "btyd_t_x", "btyd_T", "btyd_monetary_value")
REASON_COLUMNS = ("recency_days", "btyd_x", "btyd_T")  # columns of churn_contributions
POSTERIOR_COLUMNS = {
    "btyd_p_alive": "P(still an active customer) under BG/NBD fitted at the cutoff",
    "btyd_p_silent": "P(no purchase in the label horizon) under BG/NBD fitted at the cutoff",
    "btyd_purchases": "expected purchase days in the label horizon (BG/NBD)",
    "btyd_spend_per_purchase": "expected net spend per purchase day (Gamma-Gamma)",
    "btyd_revenue": "expected revenue in the label horizon: purchases x spend per purchase",
}


def btyd_summary(frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """(x, t_x, T, m) from a feature frame's BTYD columns; a customer without a purchase yet
    counts as x = t_x = T = 0 (the curve of a brand-new customer) and m = 0."""
    x, t_x, T, m = (
        np.where(np.isnan(v), 0.0, v)
        for v in (frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in SUMMARY_COLUMNS)
    )
    return x, t_x, np.maximum(T, t_x), m


@dataclass(frozen=True)
class BTYDModel:
    """BG/NBD purchases and Gamma-Gamma spend fitted on one cutoff's feature frame.

    Fitted from the BTYD summary columns only (history up to the cutoff, never a label window),
    so its posteriors are point-in-time features. When too few repeat buyers make Gamma-Gamma
    unidentifiable, ``spend`` is None and the expected spend per purchase is ``mean_spend``,
    the mean net value of a purchase day at the cutoff.
    """

    purchases: BGNBD
    spend: GammaGamma | None
    mean_spend: float
    reference: tuple[float, float, float] | None = None
    """The typical customer at the fit (median repeat purchases, recency and age in days), the
    point :meth:`churn_contributions` explains scores against."""

    @classmethod
    def fit(cls, frame) -> BTYDModel:  # noqa: ANN001
        """Fit on the customers of ``frame`` with at least one purchase."""
        buyers = frame[frame["btyd_T"].notna()]
        x, t_x, T, m = btyd_summary(buyers)
        purchases = BGNBD.fit(x, t_x, T)
        mean_spend = float(np.nan_to_num(buyers["monetary_mean"].astype("float64").mean()))
        try:
            spend = GammaGamma.fit(x, m)
        except BTYDFitError:
            spend = None
        reference = tuple(float(np.median(v)) for v in (x, T - t_x, T))
        return cls(purchases, spend, max(mean_spend, 0.0), reference)

    def spend_per_purchase(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Expected net spend of a future purchase day."""
        if self.spend is None:
            return np.full(len(x), self.mean_spend)
        return self.spend.expected_spend(x, m)

    def cumulative_purchases(self, frame, days) -> np.ndarray:  # noqa: ANN001
        """Expected purchase days in (cutoff, cutoff + d] for each d of ``days``: (customers, days)."""
        x, t_x, T, _ = btyd_summary(frame)
        return self.purchases.expected_purchases_by([float(d) for d in days], x, t_x, T)

    def posteriors(self, frame, horizon_days: int):  # noqa: ANN001, ANN201
        """The :data:`POSTERIOR_COLUMNS` for every row of ``frame`` (a DataFrame, same index)."""
        import pandas as pd

        x, t_x, T, m = btyd_summary(frame)
        bg = self.purchases
        purchases = bg.expected_purchases(horizon_days, x, t_x, T)
        spend = self.spend_per_purchase(x, m)
        return pd.DataFrame(
            {
                "btyd_p_alive": bg.p_alive(x, t_x, T),
                "btyd_p_silent": bg.p_no_purchase(horizon_days, x, t_x, T),
                "btyd_purchases": purchases,
                "btyd_spend_per_purchase": spend,
                "btyd_revenue": purchases * spend,
            },
            index=frame.index,
        )

    def churn_contributions(self, frame, horizon_days: int) -> np.ndarray:  # noqa: ANN001
        """What raises each customer's BG/NBD churn log-odds, one column per
        :data:`REASON_COLUMNS`: the log-odds of P(no purchase in ``horizon_days``) minus the
        log-odds with that one quantity set to the typical customer's (the others kept).

        BG/NBD has no TreeSHAP; this one-at-a-time comparison with a reference customer says
        which of the three things the model reads (repeat purchases, days since the last
        purchase, days since the first) makes a customer riskier than usual.
        """
        x, t_x, T, _ = btyd_summary(frame)
        ref_x, ref_recency, ref_T = self.reference or (0.0, 0.0, 0.0)
        recency = T - t_x
        bg = self.purchases

        def log_odds(x_, t_x_, T_) -> np.ndarray:  # noqa: ANN001
            p = np.clip(bg.p_no_purchase(horizon_days, x_, t_x_, T_), 1e-12, 1 - 1e-12)
            return np.log(p) - np.log1p(-p)

        base = log_odds(x, t_x, T)
        ref_t_x = np.clip(T - ref_recency, 0.0, T)
        ref_T_arr = np.maximum(np.full(len(x), ref_T), recency)
        return np.stack(
            [
                base - log_odds(x, ref_t_x, T),
                base - log_odds(np.full(len(x), ref_x), t_x, T),
                base - log_odds(x, ref_T_arr - recency, ref_T_arr),
            ],
            axis=1,
        )

    def to_dict(self) -> dict[str, object]:
        """Plain parameters for bundle.json."""
        return {
            "bgnbd": {k: getattr(self.purchases, k) for k in ("r", "alpha", "a", "b")},
            "gamma_gamma": None
            if self.spend is None
            else {k: getattr(self.spend, k) for k in ("p", "q", "v")},
            "mean_spend": self.mean_spend,
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, doc: dict) -> BTYDModel:
        """Inverse of :meth:`to_dict`."""
        gg = doc.get("gamma_gamma")
        ref = doc.get("reference")
        return cls(
            BGNBD(**doc["bgnbd"]),
            None if gg is None else GammaGamma(**gg),
            doc["mean_spend"],
            None if ref is None else tuple(ref),
        )
