"""Tests of the synthetic demo retailer (churnclv.demo_data)."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnclv.demo_data import DemoData, generate_demo_data, write_demo_data
from features.contract import CONTRACT, InputTables

END = datetime.date(2026, 9, 30)
HISTORY_STOP = pd.Timestamp(END) + pd.Timedelta(days=1)  # exclusive end of the history
ENGAGEMENT = ["visit", "email_open", "email_click", "app_session"]


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate_demo_data(3000, seed=1)


@pytest.fixture(scope="module")
def orders(data: DemoData) -> pd.DataFrame:
    return data.transactions[data.transactions["amount"] > 0]


def _active_days_by_month(data: DemoData) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Calendar days of the history and the number of alive customers on each day."""
    days = pd.date_range(HISTORY_STOP - pd.Timedelta(days=3 * 365 + 1), END)
    start = np.sort(data.customers["signup_date"].to_numpy())
    stop = data.truth["dropout_date"].fillna(HISTORY_STOP).clip(upper=HISTORY_STOP)
    stop = np.sort(stop.to_numpy())
    d = days.to_numpy()
    active = np.searchsorted(start, d, side="right") - np.searchsorted(stop, d, side="right")
    return days, active


# --- schema -------------------------------------------------------------------------------


def test_tables_match_the_contract_exactly(data: DemoData) -> None:
    InputTables(data.transactions, data.events, data.customers).validate()
    for name, columns in CONTRACT.items():
        frame = getattr(data, name)
        if name == "subscriptions":  # the retailer has none (the subscription scenario has)
            assert frame is None
            continue
        assert list(frame.columns) == list(columns), name
        for col, (_req, dtype, _meaning) in columns.items():
            assert str(frame[col].dtype) == dtype, (name, col)
            if col != "value":  # value is only filled for support tickets
                assert frame[col].notna().all(), (name, col)
    assert data.customers["customer_id"].is_unique
    assert len(data.customers) == len(data.truth) == 3000


def test_customer_ids_are_zero_padded_strings(data: DemoData) -> None:
    ids = data.customers["customer_id"]
    assert ids.str.fullmatch(r"\d{6}").all()
    assert ids.iloc[0] == "000001" and ids.iloc[-1] == "003000"
    assert "000042" in set(data.transactions["customer_id"]) | set(data.events["customer_id"])
    assert set(data.transactions["customer_id"]) <= set(ids)
    assert set(data.events["customer_id"]) <= set(ids)
    assert data.truth["customer_id"].equals(ids)


def test_nothing_after_end_date_and_nothing_before_signup(data: DemoData) -> None:
    assert data.transactions["timestamp"].max() < HISTORY_STOP
    assert data.events["timestamp"].max() < HISTORY_STOP
    assert data.customers["signup_date"].max() <= pd.Timestamp(END)
    assert (data.customers["signup_date"] == data.customers["signup_date"].dt.normalize()).all()
    signup = data.customers.set_index("customer_id")["signup_date"]
    for table in (data.transactions, data.events):
        assert (table["timestamp"] >= table["customer_id"].map(signup)).all()


def test_custom_end_date_and_history_length() -> None:
    d = generate_demo_data(300, seed=3, end_date=datetime.date(2024, 2, 29), years=1.5)
    stop = pd.Timestamp("2024-03-01")
    assert d.transactions["timestamp"].max() < stop
    assert d.events["timestamp"].max() < stop
    assert d.customers["signup_date"].min() >= stop - pd.Timedelta(days=548)


def test_signups_are_staggered_with_growth(data: DemoData) -> None:
    age = (HISTORY_STOP - data.customers["signup_date"]).dt.days
    first_year, last_year = (age > 2 * 365).sum(), (age <= 365).sum()
    assert first_year > 300 and last_year > 1.5 * first_year
    assert (age <= 90).sum() > 150  # brand-new customers exist


def test_order_ids_unique_and_returns_rare_negative_and_linked(data: DemoData) -> None:
    tx = data.transactions
    assert tx["order_id"].is_unique
    returns = tx[tx["amount"] < 0]
    n_orders = (tx["amount"] > 0).sum()
    assert (tx["amount"] != 0).all()
    assert 0.02 <= len(returns) / n_orders <= 0.04
    assert (returns["quantity"] < 0).all() and (tx.loc[tx["amount"] > 0, "quantity"] >= 1).all()
    assert returns["order_id"].str.endswith("-R").all()
    parents = tx.set_index("order_id").loc[returns["order_id"].str.removesuffix("-R")]
    assert (parents["customer_id"].to_numpy() == returns["customer_id"].to_numpy()).all()
    assert (parents["category"].to_numpy() == returns["category"].to_numpy()).all()
    assert (-returns["amount"].to_numpy() <= parents["amount"].to_numpy()).all()
    delay = (returns["timestamp"].to_numpy() - parents["timestamp"].to_numpy()) / pd.Timedelta(
        days=1
    )
    assert delay.min() >= 2 and np.median(delay) < 10


def test_categorical_columns_use_the_documented_values(data: DemoData) -> None:
    tx, ev = data.transactions, data.events
    assert set(tx["channel"]) == {"web", "app", "store"}
    assert 3 <= tx["category"].nunique() <= 8
    assert set(ev["event_type"]) == {
        "visit",
        "email_open",
        "email_click",
        "support_ticket",
        "app_session",
    }
    expected = {
        "visit": {"web"},
        "app_session": {"app"},
        "email_open": {"email"},
        "email_click": {"email"},
        "support_ticket": {"phone", "chat", "email"},
    }
    for event_type, channels in expected.items():
        assert set(ev.loc[ev["event_type"] == event_type, "channel"]) == channels, event_type
    tickets = ev["event_type"] == "support_ticket"
    assert ev.loc[tickets, "value"].isin([1.0, 2.0, 3.0, 4.0, 5.0]).all()
    assert ev.loc[~tickets, "value"].isna().all()
    assert set(data.customers["acquisition_channel"]) == {
        "organic_search",
        "paid_social",
        "referral",
        "email",
        "affiliate",
    }


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_frames_different_seed_different() -> None:
    a, b = generate_demo_data(400, seed=11), generate_demo_data(400, seed=11)
    for name in ("transactions", "events", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = generate_demo_data(400, seed=12)
    assert not c.transactions.equals(a.transactions)
    assert not c.truth["purchase_rate_per_day"].equals(a.truth["purchase_rate_per_day"])


# --- behaviour ------------------------------------------------------------------------------


def test_no_transactions_after_dropout(data: DemoData) -> None:
    dropout = data.truth.set_index("customer_id")["dropout_date"]
    tx = data.transactions
    after = tx["timestamp"] > tx["customer_id"].map(dropout)  # NaT compares False
    assert not after.any()  # neither orders nor returns
    dropped = data.truth.loc[~data.truth["alive_at_end"], "dropout_date"]
    assert dropped.notna().all() and (dropped < HISTORY_STOP).all()
    assert (
        data.truth.loc[data.truth["alive_at_end"], "dropout_date"].dropna() >= HISTORY_STOP
    ).all()


def test_only_residual_email_opens_after_dropout(data: DemoData) -> None:
    ev = data.events
    after = ev["timestamp"] > ev["customer_id"].map(
        data.truth.set_index("customer_id")["dropout_date"]
    )
    assert after.sum() > 0
    assert set(ev.loc[after, "event_type"]) == {"email_open"}
    dropped = data.truth[~data.truth["alive_at_end"]]
    years_dead = ((HISTORY_STOP - dropped["dropout_date"]).dt.days / 365.25).sum()
    assert after.sum() / years_dead < 4  # a trickle: a few opens a year


def test_engagement_falls_and_tickets_sour_before_dropout(data: DemoData) -> None:
    truth = data.truth.merge(data.customers, on="customer_id")
    history = truth["dropout_date"] - truth["signup_date"]
    sel = truth[(truth["dropout_date"] < HISTORY_STOP) & (history > pd.Timedelta(days=240))]
    assert len(sel) > 200
    ev = data.events.merge(sel[["customer_id", "dropout_date"]], on="customer_id")
    days_before = (ev["dropout_date"] - ev["timestamp"]) / pd.Timedelta(days=1)
    engaged = ev["event_type"].isin(ENGAGEMENT)
    late = (engaged & (days_before > 0) & (days_before <= 60)).sum() / (60 * len(sel))
    early = (engaged & (days_before > 60) & (days_before <= 240)).sum() / (180 * len(sel))
    assert late < 0.7 * early
    tickets = ev["event_type"] == "support_ticket"
    late_t = tickets & (days_before > 0) & (days_before <= 60)
    early_t = tickets & (days_before > 60) & (days_before <= 240)
    assert late_t.sum() / 60 > 2 * early_t.sum() / 180  # tickets become more likely
    assert ev.loc[late_t, "value"].mean() < ev.loc[early_t, "value"].mean() - 1.0


def test_orders_are_preceded_by_visits(data: DemoData, orders: pd.DataFrame) -> None:
    online = orders[orders["channel"] != "store"][["customer_id", "timestamp"]]
    visits = data.events[data.events["event_type"].isin(["visit", "app_session"])]
    prior = pd.merge_asof(
        online.assign(order_time=online["timestamp"]),
        visits[["customer_id", "timestamp"]].assign(visit_time=visits["timestamp"]),
        on="timestamp",
        by="customer_id",
        tolerance=pd.Timedelta(days=1),
        direction="backward",
    )
    assert prior["visit_time"].notna().mean() > 0.8


def test_seasonality_peaks_in_november_december(data: DemoData, orders: pd.DataFrame) -> None:
    days, active = _active_days_by_month(data)
    month = orders["timestamp"].dt.month

    def rate(months: list[int]) -> float:
        return month.isin(months).sum() / active[days.month.isin(months)].sum()

    assert rate([11, 12]) > 1.5 * rate([6, 7])


def test_loyalty_and_acquisition_channels_shift_behaviour(
    data: DemoData, orders: pd.DataFrame
) -> None:
    cust = data.customers.set_index("customer_id")
    cust["orders"] = orders.groupby("customer_id").size().reindex(cust.index, fill_value=0)
    cust["spend"] = (
        data.transactions.groupby("customer_id")["amount"].sum().reindex(cust.index, fill_value=0)
    )
    cust["alive"] = data.truth.set_index("customer_id")["alive_at_end"]
    by_loyalty = cust.groupby("loyalty_member")[["orders", "alive"]].mean()
    assert by_loyalty.loc[True, "orders"] > 1.5 * by_loyalty.loc[False, "orders"]
    assert by_loyalty.loc[True, "alive"] > by_loyalty.loc[False, "alive"] + 0.1
    assert 0.1 < cust["loyalty_member"].mean() < 0.5
    by_channel = cust.groupby("acquisition_channel")[["orders", "spend", "alive"]].mean()
    assert by_channel.loc["referral", "spend"] > 2 * by_channel.loc["paid_social", "spend"]
    assert by_channel.loc["paid_social", "alive"] < by_channel.loc["organic_search", "alive"]
    assert by_channel.loc["referral", "alive"] > by_channel.loc["organic_search", "alive"]


def test_volumes_per_customer_are_realistic(data: DemoData) -> None:
    assert 10 < len(data.transactions) / 3000 < 20
    assert 30 < len(data.events) / 3000 < 55
    some_orders = data.customers["customer_id"].isin(data.transactions["customer_id"]).mean()
    assert 0.85 < some_orders < 1.0  # a few sign-ups never buy


# --- truth ----------------------------------------------------------------------------------


def test_truth_columns_and_consistency(data: DemoData) -> None:
    t = data.truth
    for col in (
        "customer_id",
        "dropout_date",
        "alive_at_end",
        "purchase_rate_per_day",
        "mean_spend",
        "future_orders_90d",
        "future_spend_90d",
        "churned_90d",
        "future_spend_365d",
        "true_churn_probability_90d",
    ):
        assert col in t.columns, col
    assert str(t["dropout_date"].dtype) == "datetime64[us]"
    assert t["alive_at_end"].dtype == bool and t["churned_90d"].dtype == bool
    assert (t["purchase_rate_per_day"] > 0).all() and (t["mean_spend"] > 0).all()
    assert t["churned_90d"].equals(t["future_orders_90d"] == 0)
    assert (t["future_orders_90d"] <= t["future_orders_365d"]).all()
    dead = ~t["alive_at_end"]
    assert (t.loc[dead, "future_orders_365d"] == 0).all()
    assert (t.loc[dead, "future_spend_365d"] == 0).all()
    # spend is net of returns by timestamp: a return of an older order can fall in the window
    assert (t.loc[t["churned_90d"], "future_spend_90d"] <= 0).all()
    assert t.loc[~t["churned_90d"], "future_spend_90d"].gt(0).mean() > 0.99


def test_true_churn_probability_is_calibrated(data: DemoData) -> None:
    t = data.truth
    p = t["true_churn_probability_90d"]
    assert p.between(0.0, 1.0).all()
    assert (p[~t["alive_at_end"]] == 1.0).all()
    assert (p[t["alive_at_end"]] < 1.0).all()
    assert abs(p.mean() - t["churned_90d"].mean()) < 0.03
    alive = t["alive_at_end"]
    assert abs(p[alive].mean() - t.loc[alive, "churned_90d"].mean()) < 0.03
    # it ranks: the riskiest alive third churns much more often than the safest third
    tercile = pd.qcut(p[alive], 3, labels=False)
    churn = t.loc[alive, "churned_90d"].groupby(tercile).mean()
    assert churn[2] > churn[0] + 0.2
    # expected future orders given the latent state match the simulated ones on average
    assert t["future_orders_365d"].mean() == pytest.approx(
        t["expected_orders_365d"].mean(), rel=0.1
    )


def test_truth_column_names_follow_the_horizons() -> None:
    t = generate_demo_data(300, seed=5, truth_horizon_days=30, clv_horizon_days=180).truth
    assert {
        "future_orders_30d",
        "future_spend_30d",
        "churned_30d",
        "true_churn_probability_30d",
        "future_spend_180d",
    } <= set(t.columns)
    assert not any("90d" in c or "365d" in c for c in t.columns)
    assert (t["future_orders_30d"] <= t["future_orders_180d"]).all()


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_customers"):
        generate_demo_data(0)
    with pytest.raises(ValueError, match="years"):
        generate_demo_data(10, years=0)
    with pytest.raises(ValueError, match="horizon"):
        generate_demo_data(10, truth_horizon_days=0)


# --- writing --------------------------------------------------------------------------------


def test_write_csv_round_trip(tmp_path, data: DemoData) -> None:
    paths = write_demo_data(data, tmp_path / "demo", fmt="csv")
    assert set(paths) == {"transactions", "events", "customers", "truth"}
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(
        f"{name}.csv" for name in paths
    )
    tx = pd.read_csv(paths["transactions"], dtype=str)
    assert list(tx.columns) == list(data.transactions.columns)
    assert tx["customer_id"].tolist() == data.transactions["customer_id"].tolist()
    assert tx["customer_id"].iloc[0].startswith("0")
    assert tx["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert np.allclose(tx["amount"].astype(float), data.transactions["amount"])
    customers = pd.read_csv(paths["customers"], dtype=str)
    assert customers["customer_id"].iloc[41] == "000042"
    assert customers["signup_date"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    events = pd.read_csv(paths["events"], dtype=str, keep_default_na=False)
    assert events["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    parsed = pd.to_datetime(events["timestamp"]).astype("datetime64[us]")
    assert parsed.equals(data.events["timestamp"])
    truth = pd.read_csv(paths["truth"], dtype={"customer_id": str})
    assert truth["customer_id"].tolist() == data.truth["customer_id"].tolist()
    assert truth["churned_90d"].tolist() == data.truth["churned_90d"].tolist()


def test_write_parquet_round_trip(tmp_path) -> None:
    small = generate_demo_data(200, seed=2)
    paths = write_demo_data(small, tmp_path, fmt="parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "customers.parquet",
        "events.parquet",
        "transactions.parquet",
        "truth.parquet",
    ]
    for name, path in paths.items():
        pd.testing.assert_frame_equal(pd.read_parquet(path), getattr(small, name))


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch) -> None:
    small = generate_demo_data(50, seed=2)

    def boom(self, path, **kwargs):
        with open(path, "w") as fh:
            fh.write("partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        write_demo_data(small, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_large_demo_is_simulated_in_shards_into_one_file_per_table(
    tmp_path: Path, fmt: str
) -> None:
    """Above DEMO_SHARD customers the demo is simulated a shard at a time (memory holds one)
    and appended: ids run on across shards, order ids stay unique, every table is one file."""
    from functools import partial

    from churnclv.demo_data import write_demo_shards
    from churnclv.scenarios import generate_scenario
    from core.settings import DataSettings
    from features.loader import load_tables

    make = partial(generate_scenario, "retail")
    done: list[int] = []
    out = write_demo_shards(make, 250, 7, tmp_path, fmt, shard=100, progress=done.append)  # type: ignore[arg-type]
    assert done == [100, 200, 250]
    assert sorted(out) == ["customers", "events", "transactions", "truth"]
    result = load_tables(DataSettings(dir=tmp_path), as_of=datetime.datetime(2026, 10, 1))
    assert result.rejects.empty  # nothing a shard wrote breaks the contract (e.g. order ids)
    tables = result.tables
    ids = tables.customers["customer_id"]
    assert ids.is_unique and len(ids) == 250 and ids.min() == "000001" and ids.max() == "000250"
    tx = tables.transactions
    assert set(tx["customer_id"]) <= set(ids) and len(tx) == out["transactions"][1]
    orders = tx.loc[~tx["order_id"].str.endswith("-R"), "order_id"]
    assert orders.is_unique and orders.str.match(r"^O[012]-\d{7,}$").all()
