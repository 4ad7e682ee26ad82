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
from core.settings import DataSettings
from features import build_features
from features.contract import CONTRACT, InputTables
from features.loader import load_tables

END = datetime.date(2026, 9, 30)
STOP = pd.Timestamp(END) + pd.Timedelta(days=1)  # exclusive end of the history
WITHOUT_EVENTS_AND_CUSTOMERS = {"btyd", "transactions-only"}


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
    for table in ("transactions", "events", "customers"):
        frame = getattr(data, table)
        if table != "transactions" and name in WITHOUT_EVENTS_AND_CUSTOMERS:
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
    assert truth[f"churned_{h}d"].equals(truth[f"future_orders_{h}d"] == 0)
    assert (truth[f"future_orders_{h}d"] <= truth[f"future_orders_{c}d"]).all()
    assert truth[f"true_churn_probability_{h}d"].between(0.0, 1.0).all()

    paths = write_demo_data(data, tmp_path, fmt="parquet")
    expected = {"transactions", "truth"}
    if name not in WITHOUT_EVENTS_AND_CUSTOMERS:
        expected |= {"events", "customers"}
    assert set(paths) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.parquet" for n in expected)
    # the loader takes the folder as it is: every transaction row kept, absent tables None
    loaded = load_tables(DataSettings(dir=tmp_path), as_of=datetime.datetime(2030, 1, 1))
    assert loaded.report["transactions"].rows_kept == len(data.transactions)
    assert loaded.report["transactions"].rejected_total == 0
    assert (loaded.tables.events is None) == (data.events is None)
    assert (loaded.tables.customers is None) == (data.customers is None)


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
    for name in ("btyd", "trend"):
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
