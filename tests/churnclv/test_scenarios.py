"""Tests of the demo-data scenarios (churnclv.scenarios) and `demo-data --scenario`."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churnclv.cli import app
from churnclv.demo_data import (
    OWN_ATTRIBUTES,
    OWN_EVENT_TYPES,
    REGIONS,
    DemoData,
    generate_demo_data,
    write_demo_data,
)
from churnclv.scenarios import (
    BTYD_HISTORY_DAYS,
    SCENARIOS,
    TREND_RATE_PER_YEAR,
    generate_btyd_data,
    generate_scenario,
    scenario_settings,
)
from churnclv.subscription_demo import (
    SUBSCRIPTION_EVENT_TYPES,
    SubscriptionWorld,
    price_increase_date,
    simulate_subscription_business,
)
from core.settings import DataSettings
from features import build_features
from features.contract import CONTRACT, InputTables
from features.loader import load_tables

END = datetime.date(2026, 9, 30)
STOP = pd.Timestamp(END) + pd.Timedelta(days=1)  # exclusive end of the history
WITHOUT_EVENTS_AND_CUSTOMERS = {"btyd", "transactions-only"}
WITH_SUBSCRIPTIONS = {"subscription"}


@pytest.fixture(scope="module")
def small() -> dict[str, DemoData]:
    return {name: generate_scenario(name, 300, seed=4) for name in SCENARIOS}


# --- every scenario ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_writes_the_promised_tables_and_truth(
    name: str, small: dict[str, DemoData], tmp_path: Path
) -> None:
    data = small[name]
    settings = scenario_settings(name)
    h, c = settings.churn_horizon_days, settings.clv_horizon_days
    for table in ("transactions", "events", "customers", "subscriptions"):
        frame = getattr(data, table)
        if (table == "subscriptions" and name not in WITH_SUBSCRIPTIONS) or (
            table in ("events", "customers") and name in WITHOUT_EVENTS_AND_CUSTOMERS
        ):
            assert frame is None
            continue
        own = set(OWN_ATTRIBUTES) if (name, table) == ("own-columns", "customers") else set()
        assert set(frame.columns) <= set(CONTRACT[table]) | own, table
        for col in set(frame.columns) - own:
            assert str(frame[col].dtype) == CONTRACT[table][col][1], (table, col)
    assert data.transactions["timestamp"].max() < STOP
    truth = data.truth
    assert len(truth) == 300 and truth["customer_id"].is_unique
    assert set(data.transactions["customer_id"]) <= set(truth["customer_id"])
    for col in (
        f"churned_{h}d",
        f"future_orders_{h}d",
        f"future_spend_{h}d",
        f"true_churn_probability_{h}d",
        f"future_orders_{c}d",
        f"future_spend_{c}d",
    ):
        assert col in truth.columns, col
    # the retail label everywhere but for the subscription scenario's subscribers at the end
    retail_label = ~truth["subscriber_at_end"] if name in WITH_SUBSCRIPTIONS else slice(None)
    assert truth.loc[retail_label, f"churned_{h}d"].equals(
        truth.loc[retail_label, f"future_orders_{h}d"] == 0
    )
    assert (truth[f"future_orders_{h}d"] <= truth[f"future_orders_{c}d"]).all()
    assert truth[f"true_churn_probability_{h}d"].between(0.0, 1.0).all()

    paths = write_demo_data(data, tmp_path, fmt="parquet")
    expected = {"transactions", "truth"}
    if name not in WITHOUT_EVENTS_AND_CUSTOMERS:
        expected |= {"events", "customers"}
    if name in WITH_SUBSCRIPTIONS:
        expected |= {"subscriptions"}
    assert set(paths) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.parquet" for n in expected)
    # the loader takes the folder as it is: every transaction row kept, nothing rejected (two
    # events in one second are one), absent tables None
    loaded = load_tables(DataSettings(dir=tmp_path), as_of=datetime.datetime(2030, 1, 1))
    assert loaded.report["transactions"].rows_kept == len(data.transactions)
    for table in expected - {"truth"}:
        report = loaded.report[table]
        assert report.rejected_total == 0, table
        assert report.rows_kept + report.duplicates_dropped == len(getattr(data, table)), table
    for table in ("events", "customers", "subscriptions"):
        assert (getattr(loaded.tables, table) is None) == (getattr(data, table) is None), table


def test_scenario_settings_and_horizons() -> None:
    assert list(SCENARIOS) == [
        "retail",
        "btyd",
        "short",
        "launch",
        "transactions-only",
        "zero-amounts",
        "own-columns",
        "trend",
        "subscription",
    ]
    assert (scenario_settings("btyd").churn_horizon_days, SCENARIOS["btyd"].clv_horizon_days) == (
        91,
        364,
    )
    for name in set(SCENARIOS) - {"btyd"}:
        s = scenario_settings(name)
        assert (s.churn_horizon_days, s.clv_horizon_days) == (90, 365), name
    with pytest.raises(ValueError, match="unknown scenario 'nope'.*retail, btyd"):
        scenario_settings("nope")
    t = generate_scenario("zero-amounts", 100, seed=1, churn_horizon_days=30).truth
    assert {"churned_30d", "future_spend_30d", "future_spend_365d"} <= set(t.columns)
    t = generate_scenario("btyd", 100, seed=1, clv_horizon_days=180).truth
    assert {"churned_91d", "oracle_revenue_91d", "oracle_revenue_180d"} <= set(t.columns)


def test_retail_is_the_demo_generator(small: dict[str, DemoData]) -> None:
    demo = generate_demo_data(300, seed=4)
    for name in ("transactions", "events", "customers", "truth"):
        pd.testing.assert_frame_equal(getattr(small["retail"], name), getattr(demo, name))


def test_scenarios_are_deterministic_in_the_seed() -> None:
    for name in ("btyd", "trend", "subscription"):
        a, b = generate_scenario(name, 200, seed=9), generate_scenario(name, 200, seed=9)
        pd.testing.assert_frame_equal(a.transactions, b.transactions)
        pd.testing.assert_frame_equal(a.truth, b.truth)
        assert not generate_scenario(name, 200, seed=10).transactions.equals(a.transactions)


# --- retail variants --------------------------------------------------------------------------


def test_short_history_is_under_a_year(small: dict[str, DemoData]) -> None:
    tx = small["short"].transactions
    span = STOP - tx["timestamp"].min()
    assert pd.Timedelta(days=250) < span <= pd.Timedelta(days=292)
    assert (STOP - small["short"].customers["signup_date"].min()).days <= 292


def test_launch_is_shorter_than_a_backtest_needs(small: dict[str, DemoData]) -> None:
    """75 days: under the 88 days a backtest needs, over the 30 the label-free model needs."""
    from training.backtest import MIN_BACKTEST_DAYS, MIN_BTYD_HISTORY_DAYS

    span = (STOP - small["launch"].transactions["timestamp"].min()).days
    assert MIN_BTYD_HISTORY_DAYS < span < MIN_BACKTEST_DAYS


def test_transactions_only_writes_no_events_or_customers(
    small: dict[str, DemoData], tmp_path: Path
) -> None:
    data = small["transactions-only"]
    assert data.events is None and data.customers is None
    # the same simulation as retail: same transactions and truth for the same seed
    pd.testing.assert_frame_equal(data.transactions, small["retail"].transactions)
    pd.testing.assert_frame_equal(data.truth, small["retail"].truth)
    paths = write_demo_data(data, tmp_path / "csv")
    assert sorted(p.name for p in paths.values()) == ["transactions.csv", "truth.csv"]
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "transactions.csv",
        "truth.csv",
    ]
    # a stale events file from an earlier run would be read with the new data: refused
    write_demo_data(small["retail"], tmp_path / "old")
    with pytest.raises(FileExistsError, match="events.csv exists"):
        write_demo_data(data, tmp_path / "old")


def test_zero_amount_customers_and_orders() -> None:
    data = generate_scenario("zero-amounts", 2000, seed=3)
    tx, truth = data.transactions, data.truth
    flagged = truth.set_index("customer_id")["zero_amount_customer"]
    assert 0.005 < flagged.mean() < 0.03
    by_customer = tx.groupby("customer_id")["amount"]
    only_zero = by_customer.max().eq(0) & by_customer.min().eq(0)
    assert only_zero.sum() >= 10  # customers with transactions, every one $0
    assert only_zero[flagged[flagged].index.intersection(only_zero.index)].all()
    others = tx[~tx["customer_id"].map(flagged)]
    assert 0.02 < (others["amount"] == 0).mean() < 0.04
    zero_orders = set(tx.loc[tx["amount"] == 0, "order_id"])
    returns = tx.loc[tx["amount"] < 0, "order_id"].str.removesuffix("-R")
    assert len(returns) > 0 and not returns.isin(zero_orders).any()  # $0 orders are not returned
    # truth counts paid orders only: zero-only customers always "churn", with certainty
    z = truth[truth["zero_amount_customer"]]
    assert z["churned_90d"].all() and (z["future_spend_365d"] == 0).all()
    assert (z["true_churn_probability_90d"] == 1.0).all()
    p = truth["true_churn_probability_90d"]
    assert abs(p.mean() - truth["churned_90d"].mean()) < 0.03


def _orders_and_active(data: DemoData) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """History days, orders placed and customers alive on each day."""
    days = pd.date_range(STOP - pd.Timedelta(days=round(3 * 365.25)), END)
    start = np.sort(data.customers["signup_date"].to_numpy())
    stop = data.truth["dropout_date"].fillna(STOP).clip(upper=STOP)
    stop = np.sort(stop.to_numpy())
    d = days.to_numpy()
    active = np.searchsorted(start, d, side="right") - np.searchsorted(stop, d, side="right")
    orders = data.transactions[data.transactions["amount"] > 0]
    per_day = orders.groupby(orders["timestamp"].dt.floor("D")).size().reindex(days, fill_value=0)
    return days, per_day.to_numpy(), active


def test_trend_has_no_seasonality_and_a_growing_revenue_with_falling_rates() -> None:
    data = generate_scenario("trend", 2000, seed=1)
    days, orders, active = _orders_and_active(data)
    # each customer's purchase rate (orders per alive customer-day) falls year after year...
    year = np.minimum(np.arange(days.size) // 365, 2)
    by_year = [orders[year == k].sum() / active[year == k].sum() for k in range(3)]
    assert by_year[0] > by_year[1] > by_year[2]
    assert by_year[2] < 0.85 * by_year[0]
    # ...and, that trend removed, no month stands out (the retail demo's Dec/Jul is about 2)
    trend = (1.0 + TREND_RATE_PER_YEAR) ** ((np.arange(days.size) + 0.5) / 365.25)
    exposure = pd.Series(active * trend).groupby(days.month).sum()
    by_month = pd.Series(orders).groupby(days.month).sum() / exposure
    assert by_month.max() / by_month.min() < 1.25
    # ...while signups grow so fast that total monthly revenue rises steadily
    tx = data.transactions
    monthly = tx.groupby(tx["timestamp"].dt.to_period("M"))["amount"].sum().iloc[1:-1]
    idx = np.arange(len(monthly))
    assert np.polyfit(idx, monthly.to_numpy(), 1)[0] > 0
    assert pd.Series(monthly.to_numpy()).corr(pd.Series(idx), method="spearman") > 0.9
    assert monthly.iloc[-6:].sum() > 3 * monthly.iloc[:6].sum()


# --- btyd -------------------------------------------------------------------------------------


def test_btyd_transactions_and_cohorts() -> None:
    data = generate_btyd_data(2000, seed=5)
    tx = data.transactions
    assert list(tx.columns) == ["customer_id", "timestamp", "amount", "order_id"]
    assert data.events is None and data.customers is None
    assert tx["order_id"].is_unique and tx["timestamp"].is_monotonic_increasing
    assert (tx["amount"] >= 0.01).all()
    assert np.allclose(tx["amount"], tx["amount"].round(2))
    first = tx.groupby("customer_id")["timestamp"].min()
    assert len(first) == 2000  # every customer's first purchase is in the history
    start = STOP - pd.Timedelta(days=BTYD_HISTORY_DAYS)
    assert first.min() >= start and tx["timestamp"].max() < STOP
    age = (STOP - first).dt.days
    counts = np.histogram(age, bins=6, range=(0, BTYD_HISTORY_DAYS))[0]
    assert counts.min() > 0.8 * 2000 / 6  # cohorts spread evenly over the 78 weeks
    t = data.truth
    for col in (
        "churned_91d",
        "future_spend_91d",
        "future_orders_91d",
        "future_spend_364d",
        "future_orders_364d",
        "true_churn_probability_91d",
        "oracle_revenue_91d",
        "oracle_revenue_364d",
    ):
        assert col in t.columns, col
    dead = ~t["alive_at_end"]
    assert dead.any() and (t.loc[dead, "future_orders_364d"] == 0).all()
    assert (t.loc[dead, "latent_churn_probability_91d"] == 1.0).all()
    # realistic: the median customer buys every few months
    assert 40 < 1 / t["purchase_rate_per_day"].median() < 150


def test_btyd_history_summary_equals_the_features() -> None:
    data = generate_btyd_data(400, seed=6)
    features = build_features(InputTables(data.transactions), END)
    joined = data.truth.merge(features, on="customer_id", how="left", validate="1:1")
    assert len(features) == 400
    assert (joined["x"] == joined["btyd_x"]).all()
    assert (joined["x"] > 0).mean() > 0.3
    np.testing.assert_array_equal(joined["t_x"], joined["btyd_t_x"])
    np.testing.assert_array_equal(joined["T"], joined["btyd_T"])
    np.testing.assert_allclose(joined["monetary_value"], joined["btyd_monetary_value"], atol=1e-9)


def test_btyd_oracle_is_calibrated_and_beats_naive_rates() -> None:
    t = generate_btyd_data(20_000, seed=7).truth
    y = t["churned_91d"].to_numpy()
    p = t["true_churn_probability_91d"].to_numpy()
    assert abs(p.mean() - y.mean()) < 0.02
    deciles = pd.qcut(p, 10, labels=False, duplicates="drop")
    by_decile = pd.DataFrame({"p": p, "y": y}).groupby(deciles).mean()
    assert (by_decile["p"] - by_decile["y"]).abs().max() < 0.05
    # a naive purchase rate (no dropout) is badly calibrated; the oracle beats it and the base rate
    naive = np.exp(-91 * (t["x"] + 1) / (t["T"] + 1)).to_numpy()
    assert abs(naive.mean() - y.mean()) > 0.2
    brier = np.mean((p - y) ** 2)
    assert brier < np.mean((naive - y) ** 2)
    assert brier < 0.85 * np.mean((y.mean() - y) ** 2)
    # expected revenue: right in total over both horizons, and it ranks
    for h in (91, 364):
        ratio = t[f"oracle_revenue_{h}d"].sum() / t[f"future_spend_{h}d"].sum()
        assert 0.9 < ratio < 1.1, (h, ratio)
    assert t["oracle_revenue_364d"].corr(t["future_spend_364d"], method="spearman") > 0.5


# --- command line -----------------------------------------------------------------------------


def test_cli_demo_data_scenario_btyd(tmp_path: Path) -> None:
    out = tmp_path / "btyd"
    result = CliRunner().invoke(
        app, ["demo-data", "--scenario", "btyd", "--customers", "300", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["transactions.csv", "truth.csv"]
    truth = pd.read_csv(out / "truth.csv", dtype={"customer_id": str})
    assert len(truth) == 300 and truth["customer_id"].iloc[0] == "000001"
    assert {"churned_91d", "oracle_revenue_364d"} <= set(truth.columns)
    assert "--churn-horizon 91 --clv-horizon 364" in result.output

    result = CliRunner().invoke(
        app, ["demo-data", "--scenario", "nope", "--customers", "300", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "unknown scenario 'nope'" in result.output


def test_own_columns_add_event_types_and_attributes_and_change_nothing_else(
    small: dict[str, DemoData],
) -> None:
    own, retail = small["own-columns"], small["retail"]
    for name in ("transactions", "truth"):
        pd.testing.assert_frame_equal(getattr(own, name), getattr(retail, name))
    pd.testing.assert_frame_equal(own.customers[retail.customers.columns], retail.customers)
    assert list(own.customers.columns[-3:]) == list(OWN_ATTRIBUTES)
    assert own.customers["region"].isin(REGIONS).all()
    assert own.customers["store_distance_km"].gt(0).all()
    types = own.events["event_type"].value_counts()
    assert set(OWN_EVENT_TYPES) <= set(types.index)
    assert types["product_view"] > types["cart_add"] > 0 and types["complaint"] > 0
    # the standard events are the retail ones
    standard = own.events[~own.events["event_type"].isin(OWN_EVENT_TYPES)].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        standard.sort_values(["timestamp", "customer_id", "event_type"], kind="stable").reset_index(
            drop=True
        ),
        retail.events.sort_values(
            ["timestamp", "customer_id", "event_type"], kind="stable"
        ).reset_index(drop=True),
    )


# --- subscription -----------------------------------------------------------------------------

H, C = 90, 365
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def world() -> SubscriptionWorld:
    """A few thousand customers: enough for the rates and the calibration."""
    return simulate_subscription_business(4000, seed=21)


def _active_on(rows: pd.DataFrame, day: pd.Timestamp) -> set[str]:
    """Customers with a subscription row active on ``day`` (start <= day < end)."""
    on = (rows["start_date"] <= day) & (rows["end_date"].isna() | (rows["end_date"] > day))
    return set(rows.loc[on, "customer_id"])


def test_subscription_tables_are_point_in_time(world: SubscriptionWorld) -> None:
    data = world.data
    end = pd.Timestamp(END)
    assert data.transactions["timestamp"].max() < STOP
    assert data.events["timestamp"].max() < STOP
    assert data.customers["signup_date"].max() <= end
    subs = data.subscriptions
    for col in ("start_date", "end_date", "cancel_date"):
        assert subs[col].max() <= end, col
    assert set(data.events["event_type"]) == set(SUBSCRIPTION_EVENT_TYPES)
    InputTables(data.transactions, data.events, None, subs).validate()  # no loyalty_member
    assert list(subs.columns) == list(CONTRACT["subscriptions"])
    assert list(data.transactions.columns) == list(CONTRACT["transactions"])
    for col in ("customer_id", "subscription_id", "billing_period_days", "price", "auto_renew"):
        assert subs[col].notna().all(), col
    # the extract is the full simulation cut at the end: rows started by then, with the end
    # and cancel dates that had happened
    full = world.rows[world.rows["start_date"] <= end].reset_index(drop=True)
    pd.testing.assert_series_equal(subs["customer_id"], full["customer_id"])
    pd.testing.assert_series_equal(subs["start_date"], full["start_date"])
    assert subs["end_date"].equals(full["end_date"].where(full["end_date"] <= end))
    assert subs["cancel_date"].equals(full["cancel_date"].where(full["cancel_date"] <= end))
    # a cancellation requested by the end with service after it: cancel date, no end date
    cancelling = subs["status"] == "cancelling"
    assert cancelling.sum() >= 5
    assert subs.loc[cancelling, "end_date"].isna().all()
    assert (full.loc[cancelling, "end_date"] > end).all()
    assert (
        subs["end_date"].isna() == subs["status"].isin(["active", "cancelling", "past_due"])
    ).all()
    # exactly the customers with an open row at the end are subscribers (as the loader's
    # point-in-time view reads them)
    open_rows = set(subs.loc[subs["end_date"].isna(), "customer_id"])
    truth = data.truth.set_index("customer_id")
    assert open_rows == set(truth.index[truth["subscriber_at_end"]])
    assert open_rows == _active_on(full, end)
    # one subscription per customer; plan changes and price increases as later rows
    assert (subs["subscription_id"] == "S" + subs["customer_id"]).all()
    assert {"repriced", "upgraded", "downgraded", "paused", "unpaid", "expired"} <= set(
        subs["status"]
    )


def test_subscription_charges_match_the_rows(world: SubscriptionWorld) -> None:
    """One charge per billing period while a row is active, amount = the row's price, on the
    period's first day or a retry within 7 days; none for an unpaid period."""
    subs, tx = world.data.subscriptions, world.data.transactions
    end = subs["end_date"].fillna(pd.Timestamp(STOP))
    period = pd.to_timedelta(subs["billing_period_days"], unit="D")
    n_periods = np.ceil((end - subs["start_date"]) / period).astype(int).to_numpy()
    k = np.concatenate([np.arange(m) for m in n_periods])
    rows = subs.loc[subs.index.repeat(n_periods)].reset_index(drop=True)
    rows["due"] = rows["start_date"] + pd.to_timedelta(k * rows["billing_period_days"], unit="D")
    rows["last"] = np.concatenate([np.arange(m) == m - 1 for m in n_periods])
    charges = tx[tx["category"] == "subscription"].sort_values("timestamp")
    assert (charges["channel"] == "subscription").all() and (charges["quantity"] == 1).all()
    matched = pd.merge_asof(
        rows.sort_values("due"),
        charges[["customer_id", "timestamp", "amount", "order_id"]],
        left_on="due",
        right_on="timestamp",
        by="customer_id",
        direction="forward",
        tolerance=pd.Timedelta(days=8),
    )
    unpaid = matched["last"] & matched["status"].isin(["unpaid", "past_due"])
    assert unpaid.sum() > 0
    assert matched.loc[unpaid, "order_id"].isna().all()
    paid = matched[~unpaid]
    assert paid["order_id"].notna().all()
    assert (paid["amount"] == paid["price"]).all()
    assert paid["order_id"].is_unique and len(paid) == len(charges)  # no other charge
    late = paid["timestamp"] - paid["due"]
    assert set(late.dt.days) == {0, 3, 7}
    # the price increase: basic rows starting on or after it carry the new prices
    basic = subs[subs["plan"] == "basic"]
    after = basic["start_date"] >= pd.Timestamp(price_increase_date(END))
    assert set(basic.loc[after, "price"]) == {11.99, 119.0}
    assert set(basic.loc[~after, "price"]) == {9.99, 99.0}


def test_subscription_truth_follows_the_continued_simulation(world: SubscriptionWorld) -> None:
    truth = world.data.truth.set_index("customer_id")
    end = pd.Timestamp(END)
    rows, tx = world.rows, world.transactions
    subscribers = _active_on(rows, end)
    active_later = _active_on(rows, end + H * DAY)
    for h in (H, C):
        win = tx[(tx["timestamp"] >= STOP) & (tx["timestamp"] < STOP + h * DAY)]
        paid = win[win["amount"] > 0]
        orders = paid.groupby("customer_id").size().reindex(truth.index, fill_value=0)
        assert (truth[f"future_orders_{h}d"] == orders).all()
        spend = win.groupby("customer_id")["amount"].sum().reindex(truth.index, fill_value=0.0)
        np.testing.assert_allclose(truth[f"future_spend_{h}d"], spend, atol=1e-6)
        charges = win[win["kind"] == "subscription"].groupby("customer_id")["amount"].sum()
        np.testing.assert_allclose(
            truth[f"future_renewal_revenue_{h}d"],
            charges.reindex(truth.index, fill_value=0.0),
            atol=1e-6,
        )
    bought = set(
        tx.loc[(tx["timestamp"] >= STOP) & (tx["timestamp"] < STOP + H * DAY), "customer_id"]
    )
    expected = [
        (cid not in active_later) if cid in subscribers else (cid not in bought)
        for cid in truth.index
    ]
    assert truth["subscriber_at_end"].tolist() == [cid in subscribers for cid in truth.index]
    assert truth[f"churned_{H}d"].tolist() == expected
    # by hand: a requested cancellation churns exactly when its end falls in the horizon
    status = truth["status_at_end"]
    last_row = rows.groupby("customer_id").tail(1).set_index("customer_id")
    for cid in status.index[status == "cancelling"][:10]:
        stop = last_row.loc[cid, "end_date"]
        assert truth.loc[cid, "service_end_date"] == stop
        assert truth.loc[cid, f"churned_{H}d"] == (stop <= end + H * DAY)
        assert truth.loc[cid, f"true_churn_probability_{H}d"] == float(stop <= end + H * DAY)
    # a paused customer resumes with a charge: not churned, with certainty
    paused = status.index[status == "paused"]
    assert len(paused) > 0
    assert not truth.loc[paused, f"churned_{H}d"].any()
    assert (truth.loc[paused, f"true_churn_probability_{H}d"] == 0).all()
    # ended customers without one-off purchases have churned for sure, and bring no renewals
    gone = truth[(status == "ended") & (truth["one_off_rate_per_day"] == 0)]
    assert gone[f"churned_{H}d"].all() and (gone[f"true_churn_probability_{H}d"] == 1).all()
    assert (gone[f"expected_renewal_revenue_{C}d"] == 0).all()


def test_subscription_truth_is_calibrated(world: SubscriptionWorld) -> None:
    truth = world.data.truth
    p, y = truth[f"true_churn_probability_{H}d"], truth[f"churned_{H}d"]
    s = truth["subscriber_at_end"]
    assert 0.4 < s.mean() < 0.8 and 0.05 < y[s].mean() < 0.25
    assert abs(p.mean() - y.mean()) < 0.02
    assert abs(p[s].mean() - y[s].mean()) < 0.03
    fifths = pd.qcut(p[s], 5, labels=False, duplicates="drop")
    by = pd.DataFrame({"p": p[s], "y": y[s]}).groupby(fifths).mean()
    assert (by["p"] - by["y"]).abs().max() < 0.06
    # better than a renewal-rate baseline that knows the offer only (a pure sBG's view)
    base = y[s].groupby(truth.loc[s, "offer"]).transform("mean")
    assert np.mean((p[s] - y[s]) ** 2) < 0.9 * np.mean((base - y[s]) ** 2)
    # the subscription CLV target: renewal revenue within +-5% of the truth
    for h in (H, C):
        ratio = (
            truth[f"expected_renewal_revenue_{h}d"].sum()
            / truth[f"future_renewal_revenue_{h}d"].sum()
        )
        assert abs(ratio - 1) < 0.05, (h, ratio)


def test_subscription_business_is_realistic(world: SubscriptionWorld) -> None:
    data, truth = world.data, world.data.truth
    first = data.subscriptions.groupby("customer_id").head(1)
    assert 0.7 < (first["billing_period_days"] == 30).mean() < 0.8  # most customers monthly
    assert set(first["price"]) <= {9.99, 19.99, 99.0, 199.0, 11.99, 119.0}
    tx = data.transactions
    one_off = tx[tx["category"] != "subscription"]
    assert 0.12 < one_off["customer_id"].nunique() / len(truth) < 0.22
    assert one_off["order_id"].is_unique and tx["order_id"].is_unique
    # a driver: subscribers without auto-renew churn more
    s = truth[truth["subscriber_at_end"]]
    assert (
        s.loc[~s["auto_renew"], "churned_90d"].mean() > s.loc[s["auto_renew"], "churned_90d"].mean()
    )
    # usage fades in the weeks before a cancellation
    ev = data.events[data.events["event_type"].isin(["login", "app_session"])]
    cancels = data.subscriptions.dropna(subset=["cancel_date"])
    cancels = cancels[cancels["cancel_date"] - cancels["start_date"] > pd.Timedelta(days=120)]
    joined = ev.merge(cancels[["customer_id", "cancel_date"]], on="customer_id")
    before = (joined["cancel_date"] - joined["timestamp"]).dt.days
    recent = ((before >= 0) & (before < 14)).sum() / 14
    earlier = ((before >= 60) & (before < 90)).sum() / 30
    assert recent < 0.6 * earlier
    # payment failures show as events; some end the subscription (unpaid)
    failed = data.events[data.events["event_type"] == "payment_failed"]
    assert set(failed["value"]) == {1.0, 2.0, 3.0}
    assert (data.subscriptions["status"] == "unpaid").sum() > 0


def test_subscription_inputs_do_not_depend_on_the_horizons() -> None:
    a = generate_scenario("subscription", 300, seed=8)
    b = generate_scenario("subscription", 300, seed=8, churn_horizon_days=30, clv_horizon_days=60)
    for name in ("transactions", "events", "customers", "subscriptions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert {"churned_30d", "expected_renewal_revenue_60d"} <= set(b.truth.columns)
    assert not generate_scenario("subscription", 300, seed=9).subscriptions.equals(a.subscriptions)


def test_cli_demo_data_scenario_subscription(tmp_path: Path) -> None:
    out = tmp_path / "sub"
    args = ["demo-data", "--scenario", "subscription", "--customers", "200", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    names = ["customers", "events", "subscriptions", "transactions", "truth"]
    assert sorted(p.name for p in out.iterdir()) == [f"{n}.csv" for n in names]
    loaded = load_tables(DataSettings(dir=out), as_of=datetime.datetime(2030, 1, 1))
    assert loaded.rejects.empty
    subs = loaded.tables.subscriptions
    assert subs is not None and subs["auto_renew"].notna().all()
    assert subs["cancel_date"].notna().any() and subs["end_date"].isna().any()
    truth = pd.read_csv(out / "truth.csv", dtype={"customer_id": str})
    assert {"subscriber_at_end", "churned_90d", "expected_renewal_revenue_365d"} <= set(
        truth.columns
    )
    # a stale subscriptions file would be read with another scenario's data: refused
    result = CliRunner().invoke(app, ["demo-data", "--customers", "50", "--out", str(out)])
    assert result.exit_code == 1
    assert "subscriptions.csv exists" in result.output


def test_subscription_demo_in_shards(tmp_path: Path) -> None:
    from functools import partial

    from churnclv.demo_data import write_demo_shards

    make = partial(generate_scenario, "subscription")
    out = write_demo_shards(make, 250, 7, tmp_path, "parquet", shard=100)  # type: ignore[arg-type]
    assert sorted(out) == ["customers", "events", "subscriptions", "transactions", "truth"]
    loaded = load_tables(DataSettings(dir=tmp_path), as_of=datetime.datetime(2030, 1, 1))
    assert loaded.rejects.empty
    subs = loaded.tables.subscriptions
    assert subs["customer_id"].nunique() == 250 and len(subs) == out["subscriptions"][1]
    assert (subs["subscription_id"] == "S" + subs["customer_id"]).all()
