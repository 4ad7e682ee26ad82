"""Time-based backtest plan: which cutoffs train, calibrate and test; short-history handling.

Layout (h = label horizon, s = snapshot step), every label window ends before the next fold:

    fit cutoffs:  ..., c_fit - 2s, c_fit - s, c_fit     (labels end by c_cal)
    calibration:  c_cal  = c_test - h                   (labels end at c_test)
    test:         c_test = data end - h                 (labels end at data end)

So no training or calibration label looks past the test cutoff: no leakage into the test.
The production models are then refit with the same recipe moved forward by one horizon
(calibrated on the test cutoff, fitted on the cutoffs before it), so they use the newest data.

When the history holds two label windows but not three, the calibration cutoff is dropped
(``calibration_cutoff`` None): the fit cutoffs end their labels at the test cutoff and the heads
are fitted on out-of-fold predictions of the fit cutoffs (customers split into folds), so the
history is not halved for the sake of a separate fold. Only when even that does not fit is the
label horizon halved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from core.errors import UserError

MIN_HISTORY_DAYS = 60  # a fit cutoff needs this much data before it
MIN_LABEL_HORIZON_DAYS = 14
MIN_BACKTEST_DAYS = 2 * MIN_LABEL_HORIZON_DAYS + MIN_HISTORY_DAYS
MIN_BTYD_HISTORY_DAYS = 30  # below a backtest's minimum the label-free BG/NBD serves, from here


class InsufficientDataError(UserError, ValueError):
    """Too little history, customers or outcomes to train a meaningful model."""


@dataclass(frozen=True)
class BacktestPlan:
    """Cutoffs of every fold and the label horizon actually used."""

    data_start: dt.date
    data_end: dt.date
    horizon_days: int
    label_horizon_days: int
    test_cutoff: dt.date
    calibration_cutoff: dt.date | None  # None: heads fitted out of fold on the fit cutoffs
    fit_cutoffs: tuple[dt.date, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def production_fit_cutoffs(self) -> tuple[dt.date, ...]:
        """Fit cutoffs of the production refit: the backtest's, one label horizon later."""
        step = dt.timedelta(days=self.label_horizon_days)
        return tuple(c + step for c in self.fit_cutoffs)


def _layout(
    end: dt.date, h: int, n: int, step: int, cross_fitted: bool
) -> tuple[dt.date, dt.date | None, list[dt.date]]:
    test = end - dt.timedelta(days=h)
    cal = None if cross_fitted else test - dt.timedelta(days=h)
    last_fit = (test if cal is None else cal) - dt.timedelta(days=h)
    fits = [last_fit - dt.timedelta(days=step * k) for k in range(n)]
    return test, cal, sorted(fits)


def _fitting_layout(
    start: dt.date, end: dt.date, h: int, n_snapshots: int, step: int
) -> tuple[int, dt.date, dt.date | None, list[dt.date]] | None:
    """The layout with a calibration cutoff if it fits, else cross-fitted; most fit cutoffs."""
    for cross_fitted in (False, True):
        for n in range(n_snapshots, 0, -1):
            test, cal, fits = _layout(end, h, n, step, cross_fitted)
            if (fits[0] - start).days >= MIN_HISTORY_DAYS:
                return n, test, cal, fits
    return None


def plan_backtest(
    data_start: dt.date,
    data_end: dt.date,
    horizon_days: int,
    n_snapshots: int,
    step_days: int,
) -> BacktestPlan:
    """Choose cutoffs; shorten the label horizon (and say so) when the history is too short.

    Raises InsufficientDataError when even the shortest label horizon and a single fit cutoff
    do not fit in the data.
    """
    notes: list[str] = []
    span = (data_end - data_start).days
    h = horizon_days
    while True:
        found = _fitting_layout(data_start, data_end, h, n_snapshots, step_days)
        if found is not None:
            n, test, cal, fits = found
            break
        if h // 2 < MIN_LABEL_HORIZON_DAYS:
            need = MIN_BACKTEST_DAYS
            raise InsufficientDataError(
                f"history of {span} days ({data_start} to {data_end}) is too short for a "
                f"time-based backtest, which needs at least {need} days (two label windows of "
                f"{MIN_LABEL_HORIZON_DAYS} days after {MIN_HISTORY_DAYS} days of history); the "
                f"label-free BG/NBD model needs {MIN_BTYD_HISTORY_DAYS} days"
            )
        h //= 2
    if h != horizon_days:
        notes.append(
            f"Short history: {span} days of data cannot hold two {horizon_days}-day label "
            f"windows after {MIN_HISTORY_DAYS} days of history, so models learn a {h}-day horizon. "
            f"Scores are carried to {horizon_days} days with each customer's own BG/NBD curve: "
            "revenue by their expected purchases over the two horizons, the churn probability by "
            f"BG/NBD's own change in odds from {h} to {horizon_days} days."
        )
    if cal is None:
        notes.append(
            f"The history holds two {h}-day label windows but not three: instead of a later "
            "calibration cutoff, the candidates' heads are fitted on out-of-fold predictions "
            "of the training cutoffs (customers split into folds)."
        )
    if n < n_snapshots:
        notes.append(
            f"Only {n} of the {n_snapshots} requested training cutoffs fit in the history."
        )
    return BacktestPlan(
        data_start=data_start,
        data_end=data_end,
        horizon_days=horizon_days,
        label_horizon_days=h,
        test_cutoff=test,
        calibration_cutoff=cal,
        fit_cutoffs=tuple(fits),
        notes=tuple(notes),
    )
