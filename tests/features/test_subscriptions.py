"""Subscription features and contractual churn labels on a tiny table computed by hand.

Cutoff 2024-01-31 (end of that day). Subscriptions (``sub``, plan, period days, price, start,
end, cancel, auto-renew):

* "s1": A basic 30d 10.00 from 2023-10-03; asks to cancel 2024-02-20, ends 2024-03-02 (both
  after the cutoff: unknown then); auto-renews. At the cutoff 120 days in: 4 renewals, the
  5th renewal day is the cutoff itself, so the next is 30 days away.
* "s2": B basic 30d 10.00 from 2023-11-01 until 2023-12-15, then B pro 30d 20.00 from
  2023-12-15 (an upgrade, same subscription), cancel asked 2024-01-20, ends 2024-02-13;
  auto-renew off. At the cutoff: 91 days since B began (3 renewals), 47 days into the pro row
  (17 into its 2nd period: 13 days to renewal), cancellation asked 11 days ago.
* "s3": C annual 365d 100.00 from 2022-06-01 until 2023-06-01 (stopped 244 days before the
  cutoff), then D annual 365d 120.00 from 2023-09-01 (a restart after a gap): 152 days in,
  213 to renewal, 0 renewals; tenure 609 days.
* "s4": E monthly 30d 15.00 from 2023-05-01 until 2023-11-01: lapsed, nothing active.
* "s5": F from 2024-02-10: after the cutoff, not known at all.

Transactions: every customer pays once before the cutoff (so all but "s5" are buyers), "s4"
also after it (2024-02-05, a one-off purchase); the data ends 2024-04-30.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features import build_features, build_labels
from features.contract import InputTables
from features.subscriptions import DAYS_PER_MONTH
from tests.features.tiny import text, transactions, ts

CUTOFF = dt.date(2024, 1, 31)


def subscriptions() -> pd.DataFrame:
    rows = [
        # customer, sub, plan, period, price, start, end, cancel, auto_renew
        ("s1", "A", "basic", 30, 10.0, "2023-10-03", "2024-03-02", "2024-02-20", True),
        ("s2", "B", "basic", 30, 10.0, "2023-11-01", "2023-12-15", None, None),
        ("s2", "B", "pro", 30, 20.0, "2023-12-15", "2024-02-13", "2024-01-20", False),
        ("s3", "C", "annual", 365, 100.0, "2022-06-01", "2023-06-01", None, True),
        ("s3", "D", "annual", 365, 120.0, "2023-09-01", None, None, True),
        ("s4", "E", "monthly", 30, 15.0, "2023-05-01", "2023-11-01", None, True),
        ("s5", "F", "basic", 30, 10.0, "2024-02-10", None, None, True),
    ]
    col = list(zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "customer_id": text(*col[0]),
            "subscription_id": text(*col[1]),
            "start_date": ts(*col[5]),
            "end_date": ts(*col[6]),
            "cancel_date": ts(*col[7]),
            "billing_period_days": pd.Series(col[3], dtype="float64"),
            "price": pd.Series(col[4], dtype="float64"),
            "auto_renew": pd.Series(col[8], dtype="boolean"),
            "plan": text(*col[2]),
            "status": text(*["active"] * len(rows)),
        }
    )


def tables() -> InputTables:
    tx = transactions(
        [
            ("s1", "2024-01-01", 10.0, "subscription"),
            ("s2", "2024-01-15", 20.0, "subscription"),
            ("s3", "2023-09-01", 120.0, "subscription"),
            ("s4", "2023-10-01", 15.0, "subscription"),
            ("s4", "2024-02-05", 30.0, "web"),
            ("s5", "2024-02-10", 10.0, "subscription"),
            ("s1", "2024-04-30", 10.0, "subscription"),
        ]
    )
    return InputTables(transactions=tx, subscriptions=subscriptions())


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return build_features(tables(), CUTOFF).set_index("customer_id")


def test_only_subscriptions_started_by_the_cutoff_are_known(features: pd.DataFrame) -> None:
    assert list(features.index) == ["s1", "s2", "s3", "s4"]


def test_columns_and_dtypes_follow_the_catalogue(features: pd.DataFrame) -> None:
    from features.catalogue import feature_catalogue

    cat = feature_catalogue()
    cat = cat[cat.family == "subscriptions"]
    assert features.columns[-len(cat) :].tolist() == cat.name.tolist()
    for name, dtype in zip(cat.name, cat.dtype, strict=True):
        assert features[name].dtype == dtype, name


def test_active_subscriptions_and_what_they_bring(features: pd.DataFrame) -> None:
    f = features
    assert f["active_subscriptions_count"].to_dict() == {"s1": 1, "s2": 1, "s3": 1, "s4": 0}
    assert f.loc["s1", "monthly_recurring_revenue"] == pytest.approx(10 * DAYS_PER_MONTH / 30)
    assert f.loc["s2", "monthly_recurring_revenue"] == pytest.approx(
        20 * DAYS_PER_MONTH / 30
    )  # the basic row ended
    assert f.loc["s3", "monthly_recurring_revenue"] == pytest.approx(120 * DAYS_PER_MONTH / 365)
    assert pd.isna(f.loc["s4", "monthly_recurring_revenue"])
    assert f["subscription_plan"].dropna().to_dict() == {"s1": "basic", "s2": "pro", "s3": "annual"}
    assert f.loc["s3", "price_per_period"] == 120.0
    assert f.loc["s3", "billing_period_days"] == 365.0


def test_place_in_the_billing_cycle(features: pd.DataFrame) -> None:
    f = features
    # s1: 120 days = 4 periods exactly: renewed on the cutoff day, next in 30 days
    assert (f.loc["s1", "subscription_renewals_count"], f.loc["s1", "days_to_renewal"]) == (4, 30)
    # s2: 91 days since B began (3 renewals), 47 days into the pro row: 30 + 17, 13 to go
    assert (f.loc["s2", "subscription_renewals_count"], f.loc["s2", "days_to_renewal"]) == (3, 13)
    assert (f.loc["s3", "subscription_renewals_count"], f.loc["s3", "days_to_renewal"]) == (0, 213)
    assert pd.isna(f.loc["s4", "days_to_renewal"])
    assert f["subscription_tenure_days"].to_dict() == {"s1": 120, "s2": 91, "s3": 609, "s4": 275}


def test_cancellations_and_renewal_settings_as_known_at_the_cutoff(
    features: pd.DataFrame,
) -> None:
    f = features
    # s1 asks on 2024-02-20, after the cutoff: not known yet
    assert f["cancel_requested"].dropna().to_dict() == {"s1": 0.0, "s2": 1.0, "s3": 0.0}
    assert f.loc["s2", "days_since_cancel_request"] == 11
    assert pd.isna(f.loc["s1", "days_since_cancel_request"])
    assert f.loc["s1", "auto_renew"] == 1.0 and f.loc["s2", "auto_renew"] == 0.0


def test_plan_history(features: pd.DataFrame) -> None:
    f = features
    assert f["plan_upgrades_total"].to_dict() == {"s1": 0, "s2": 1, "s3": 0, "s4": 0}
    assert f["plan_downgrades_total"].sum() == 0
    # s3's D started three months after C ended; s2's pro row started the day basic ended
    assert f["subscription_restarts_total"].to_dict() == {"s1": 0, "s2": 0, "s3": 1, "s4": 0}
    assert f["subscriptions_stopped_total"].to_dict() == {"s1": 0, "s2": 0, "s3": 1, "s4": 1}
    assert f.loc["s3", "days_since_subscription_stop"] == 244
    assert f.loc["s4", "days_since_subscription_stop"] == 91


def test_no_subscriptions_table_no_subscription_features() -> None:
    plain = build_features(InputTables(transactions=tables().transactions), CUTOFF)
    assert "active_subscriptions_count" not in plain.columns


@pytest.mark.parametrize(
    ("horizon", "churned"),
    [
        # day 30 = 2024-03-01: s1 still served (ends 03-02), s2 ended 02-13, s3 annual runs on
        (30, {"s1": False, "s2": True, "s3": False, "s4": False}),
        # day 31 = 2024-03-02: s1's first day without service
        (31, {"s1": True, "s2": True, "s3": False, "s4": False}),
        # day 10 = 2024-02-10: s2 still served
        (10, {"s1": False, "s2": False, "s3": False, "s4": False}),
    ],
)
def test_subscribers_churn_when_no_subscription_runs_at_the_horizon(
    horizon: int, churned: dict[str, bool]
) -> None:
    labels = build_labels(tables(), CUTOFF, horizon).set_index("customer_id")
    # s4 is no subscriber at the cutoff: the retail label, a purchase on 2024-02-05
    assert labels["churned"].to_dict() == churned
    assert labels.loc["s4", "future_revenue"] == 30.0


def test_a_lapsed_subscriber_is_labelled_by_purchases() -> None:
    labels = build_labels(tables(), CUTOFF, 3).set_index("customer_id")
    assert bool(labels.loc["s4", "churned"]) is True  # nothing bought by 2024-02-03


def test_lifetimes_for_the_retention_models() -> None:
    """s1 A: 120 days in, 4 renewals done (lasts longer than 4 periods); s2 B: 91 days since
    it began (3), its plan change kept; s3 C: a year served then ended (churned in period 1),
    s3 D: 152 days of a year (0); s4 E: 184 days of monthly periods, ended in its 7th."""
    from features.engine import to_ibis
    from features.subscriptions import subscription_lifetimes

    t = to_ibis(tables())
    got = t.con.to_pyarrow(subscription_lifetimes(t.subscriptions, CUTOFF)).to_pandas()
    got = got.sort_values("subscription_id").set_index("subscription_id")
    assert got["periods"].to_dict() == {"A": 4, "B": 3, "C": 1, "D": 0, "E": 7}
    assert got["ended"].to_dict() == {"A": False, "B": False, "C": True, "D": False, "E": True}
    assert got["billing_period_days"].to_dict() == {"A": 30, "B": 30, "C": 365, "D": 365, "E": 30}
    assert got.loc["C", "start_year"] == 2022
