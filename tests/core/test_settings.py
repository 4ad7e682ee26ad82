"""Settings: defaults, YAML, overrides and errors that name the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, load_settings


def test_defaults_work_without_a_file() -> None:
    s = load_settings()
    assert (s.churn_horizon_days, s.clv_horizon_days, s.gross_margin) == (90, 365, 1.0)
    assert s.cutoff is None
    assert s.mlflow_tracking_uri == "sqlite:///mlflow.db"
    assert s.engine == "duckdb"
    # the default segment grid is complete: 3 risk x 3 value tiers
    assert len(s.segments.cells) == 9


def test_yaml_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("churn_horizon_days: 60\ndata:\n  dir: somewhere\ncutoff: 20240131\n")
    s = load_settings(cfg, {"clv_horizon_days": 180, "data.dir": "elsewhere", "cutoff": None})
    assert s.churn_horizon_days == 60 and s.clv_horizon_days == 180
    assert str(s.data.dir) == "elsewhere"
    assert s.cutoff == dt.date(2024, 1, 31)


def test_repo_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "configs"
    for path in sorted(root.glob("*.yaml")):
        assert isinstance(load_settings(path), Settings), path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("churn_horizon_days: -5\n", "churn_horizon_days: Input should be greater than 0"),
        ("gross_margin: 2\n", "gross_margin: Input should be less than or equal to 1"),
        ("cutoff: not-a-date\n", "cutoff: Input should be a valid date"),
        ("churn_horizon: 30\n", "churn_horizon: Extra inputs are not permitted"),
        ("data:\n  transactions:\n    format: xls\n", "data.transactions.format: Input should be"),
        (
            "segments:\n  cells: []\n",
            "segments: Value error, segments.cells: no cell for (risk, value)",
        ),
        (
            "model:\n  lightgbm: {learning_ratee: 0.5, num_leaves: 7}\n",
            "model.lightgbm: Value error, unknown LightGBM parameter 'learning_ratee' "
            "(did you mean 'learning_rate'?)",
        ),
        ("model:\n  n_snapshot: 3\n", "model.n_snapshot: Extra inputs are not permitted"),
        ("serving:\n  prot: 80\n", "serving.prot: Extra inputs are not permitted"),
        ("currency: euro\n", "currency: Value error, unknown currency 'EURO'"),
    ],
)
def test_invalid_value_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(cfg)
    assert str(cfg) in str(err.value)
    assert message in str(err.value)


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(SettingsError, match="expected a mapping"):
        load_settings(bad)


def test_command_line_override_error_says_so() -> None:
    with pytest.raises(
        SettingsError, match=r"settings \(with command-line options\): churn_horizon_days"
    ):
        load_settings(None, {"churn_horizon_days": 0})


def test_the_embedded_engines_memory_is_limited_by_a_size_setting() -> None:
    from features.engine import default_backend

    assert load_settings(None).duckdb_memory_limit == "4GB"
    con = default_backend(load_settings(None, {"duckdb_memory_limit": "512MB"}).duckdb_memory_limit)
    try:
        limit = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.disconnect()
    assert limit.startswith("488")  # 512 MB in MiB, as DuckDB says it
    with pytest.raises(SettingsError, match="'4 gigs' is not a size such as 4GB"):
        load_settings(None, {"duckdb_memory_limit": "4 gigs"})
