"""Settings: one pydantic object, loaded once by the CLI from YAML and passed down.

Defaults work without any file. An invalid value raises :class:`SettingsError` naming the key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import UserError

TABLE_NAMES = ("transactions", "events", "customers", "subscriptions")
EARLIEST_DATE = dt.date(1990, 1, 1)
"""Default floor for every input date (``data.earliest_date``) and the API's date floor: a
year-1 or 1900 date is a placeholder, not an order."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TableSource(_Strict):
    """Where one input table lives and how its columns map onto the contract."""

    path: Path | None = Field(
        default=None, description="CSV, Parquet (file or directory) or DuckDB database file."
    )
    format: Literal["auto", "csv", "parquet", "duckdb", "table"] = Field(
        default="auto",
        description="'table': a table in the Spark catalog named by `table` (engine: spark).",
    )
    table: str | None = Field(
        default=None,
        description="Table name inside a DuckDB file, or the Spark catalog table "
        "(e.g. sales.transactions) with format 'table'.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Contract column name -> column name in the user's file, e.g. "
        "{customer_id: cust, amount: dollar_value}.",
    )
    timestamp_format: str | None = Field(
        default=None,
        description="strftime format of the date column, e.g. '%Y%m%d'; default: ISO dates.",
    )
    csv_delimiter: str = ","


class DataSettings(_Strict):
    """Input tables: either a folder of standard-named files, or one source per table."""

    dir: Path | None = Field(
        default=None,
        description="Folder holding transactions/events/customers/subscriptions as .csv, "
        ".parquet or a data.duckdb file with tables of those names.",
    )
    transactions: TableSource = Field(default_factory=TableSource)
    events: TableSource = Field(default_factory=TableSource)
    customers: TableSource = Field(default_factory=TableSource)
    subscriptions: TableSource = Field(
        default_factory=TableSource,
        description="Optional: subscriptions of a subscription business (one row per "
        "subscription and plan period); its customers get contractual churn labels.",
    )
    earliest_date: dt.date = Field(
        default=EARLIEST_DATE,
        description="Rows dated before this day are rejected (placeholder dates such as "
        "0001-01-01 or 1900-01-01).",
    )
    min_id_overlap: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Smallest share of the customer ids of events/customers (or of "
        "transactions) found in the other table; below it the tables do not share ids and "
        "the run stops.",
    )
    truth: Path | None = Field(
        default=None,
        description="Ground truth of simulated data (`churnclv demo-data` writes truth.csv): "
        "when set, `churnclv train` compares the models with what the simulation says happened "
        "after the data end. Read only when set; real data has none.",
    )


class RiskTier(_Strict):
    name: str
    min_probability: float = Field(ge=0.0, le=1.0)


class ValueTier(_Strict):
    name: str
    min_percentile: float = Field(
        ge=0.0,
        le=1.0,
        description="Percentile of the value if retained (fitted in training) from which this tier "
        "starts.",
    )


class SegmentCell(_Strict):
    risk: str
    value: str
    name: str
    action: str


def _default_cells() -> list[SegmentCell]:
    names = {
        ("high", "high"): ("Win back VIPs", "win-back: personal outreach from account manager"),
        ("high", "medium"): ("Rescue regulars", "win-back: targeted incentive offer"),
        ("high", "low"): ("Let go quietly", "low-cost automated re-engagement email"),
        ("medium", "high"): ("Nurture VIPs", "proactive check-in and loyalty perk"),
        ("medium", "medium"): ("Keep warm", "personalised recommendations campaign"),
        ("medium", "low"): ("Watch list", "standard newsletter, monitor"),
        ("low", "high"): ("Champions", "reward and ask for referrals; no discount"),
        ("low", "medium"): ("Loyal core", "cross-sell and upsell"),
        ("low", "low"): ("Steady small", "business as usual"),
    }
    return [SegmentCell(risk=r, value=v, name=n, action=a) for (r, v), (n, a) in names.items()]


class SegmentSettings(_Strict):
    """Risk x value grid. Risk by churn probability, value by the percentile of the value if
    retained (what a customer brings over the CLV horizon if they stay)."""

    risk_tiers: list[RiskTier] = Field(
        default_factory=lambda: [
            RiskTier(name="high", min_probability=0.6),
            RiskTier(name="medium", min_probability=0.3),
            RiskTier(name="low", min_probability=0.0),
        ]
    )
    value_tiers: list[ValueTier] = Field(
        default_factory=lambda: [
            ValueTier(name="high", min_percentile=0.8),
            ValueTier(name="medium", min_percentile=0.4),
            ValueTier(name="low", min_percentile=0.0),
        ]
    )
    cells: list[SegmentCell] = Field(default_factory=_default_cells)
    no_purchase_segment: str = Field(
        default="No purchase yet",
        description="Segment of customers known (signup, events or $0 orders) who have not "
        "made a paid purchase: no churn probability or CLV can be estimated for them yet.",
    )
    no_purchase_action: str = "onboarding: welcome series with a first-purchase offer"

    @model_validator(mode="after")
    def _grid_complete(self) -> SegmentSettings:
        risks = {t.name for t in self.risk_tiers}
        values = {t.name for t in self.value_tiers}
        for tiers, key, field in (
            (self.risk_tiers, "risk_tiers", "min_probability"),
            (self.value_tiers, "value_tiers", "min_percentile"),
        ):
            if not tiers or min(getattr(t, field) for t in tiers) != 0.0:
                raise ValueError(f"segments.{key}: the lowest tier must start at 0.0")
        have = {(c.risk, c.value) for c in self.cells}
        missing = [(r, v) for r in risks for v in values if (r, v) not in have]
        if missing:
            raise ValueError(f"segments.cells: no cell for (risk, value) {sorted(missing)}")
        unknown = [
            (c.risk, c.value) for c in self.cells if c.risk not in risks or c.value not in values
        ]
        if unknown:
            raise ValueError(f"segments.cells: unknown tiers in {unknown}")
        return self


def lightgbm_parameter_names() -> set[str]:
    """Every parameter name LightGBM accepts: its parameters and their aliases, plus the
    scikit-learn wrapper's names (``n_estimators``, ``random_state``...)."""
    import inspect

    import lightgbm
    from lightgbm.basic import _ConfigAliases  # LightGBM's own table of names and aliases

    aliases = _ConfigAliases._get_all_param_aliases()
    names = set(aliases) | {a for group in aliases.values() for a in group}
    return names | (
        set(inspect.signature(lightgbm.LGBMModel.__init__).parameters) - {"self", "kwargs"}
    )


class ModelSettings(_Strict):
    seed: int = 42
    n_snapshots: int = Field(default=6, ge=2, description="Training cutoffs stepping back.")
    snapshot_step_days: int = Field(default=30, gt=0)
    lightgbm: dict[str, Any] = Field(
        # depth 6 and 150 trees: on the demo data the same backtest metrics as 300 trees of
        # unbounded depth (AUC 0.950 vs 0.951, revenue Spearman 0.800 vs 0.800) and 3.5x faster
        # scoring, since TreeSHAP reasons cost trees x leaves x depth^2
        default_factory=lambda: {
            "n_estimators": 150,
            "learning_rate": 0.1,
            "num_leaves": 31,
            "max_depth": 6,
        },
        description="LightGBM parameters of every model (churn and revenue).",
    )
    max_training_customers: int = Field(
        default=100_000,
        gt=0,
        description="Above this many customers, training uses a reproducible random sample of "
        "them (by hash of customer_id and seed); scoring always covers everyone.",
    )
    seasonal_adjustment: bool | Literal["auto"] = Field(
        default="auto",
        description="Seasonal revenue index: 'auto' fits a monthly index when there are 24 "
        "complete months and uses it when some month differs from the trend by 10% or more (a "
        "business that only grows or shrinks has no season); true always uses it when it can be "
        "fitted; false never. With it the revenue models learn seasonally adjusted revenue and "
        "scoring multiplies by the factor of each window ahead. On the demo data it brings the "
        "predicted revenue after the data end from 62% to 97% of the truth and CLV from 82% to "
        "98%.",
    )
    clv_check: bool = Field(
        default=True,
        description="Check CLV over the CLV horizon on its own backtest (training/clv_check.py) "
        "and fit the CLV interval there; it costs about five more feature snapshots and one "
        "revenue fit. Off: the interval is fitted on the churn-horizon test cutoff instead.",
    )
    max_event_types: int = Field(
        default=10,
        ge=0,
        description="Event types of the data beyond the standard five (visit, email_open, "
        "email_click, support_ticket, app_session) that get the standard event features "
        "(counts per window, days since, trend): the most frequent first, up to this many; 0: "
        "none. Chosen on the data up to the backtest's test cutoff and stored with the model.",
    )
    max_category_levels: int = Field(
        default=20,
        ge=1,
        description="Extra text columns of the customers table (the data's own attributes, "
        "e.g. region or plan) become features with their most frequent values up to this "
        "many; the others read 'other'.",
    )
    exclude_attributes: list[str] = Field(
        default_factory=list,
        description="Extra columns of the customers table that are not to become features "
        "(e.g. an e-mail address or a free-text note); every other extra column does.",
    )
    min_customers: int = Field(default=200, gt=0)
    min_class_count: int = Field(default=30, gt=0)
    gate_tolerance_auc: float = Field(default=0.005, ge=0.0)
    gate_tolerance_spearman: float = Field(default=0.01, ge=0.0)

    @property
    def vocabulary_limits(self) -> dict[str, Any]:
        """Keyword arguments of ``features.vocabulary.vocabulary_at``."""
        return {
            "max_event_types": self.max_event_types,
            "max_levels": self.max_category_levels,
            "exclude": tuple(self.exclude_attributes),
        }

    @field_validator("lightgbm")
    @classmethod
    def _known_lightgbm_parameters(cls, v: dict[str, Any]) -> dict[str, Any]:
        """A misspelt LightGBM parameter is an error, not silently ignored (LightGBM itself
        only warns); the names are LightGBM's own, with their aliases and scikit-learn names."""
        unknown = sorted(set(v) - lightgbm_parameter_names())
        if unknown:
            import difflib

            names = sorted(lightgbm_parameter_names())
            hints = [
                f"'{k}'"
                + (
                    f" (did you mean '{m[0]}'?)"
                    if (m := difflib.get_close_matches(k, names, 1))
                    else ""
                )
                for k in unknown
            ]
            raise ValueError(f"unknown LightGBM parameter {', '.join(hints)}")
        return v


class ServingSettings(_Strict):
    """The prediction API and segment page."""

    host: str = "127.0.0.1"
    port: int = Field(default=3000, gt=0, lt=65536)
    api_keys_file: Path | None = Field(
        default=None,
        description="File with one API key per line; keys also come from the environment "
        "variable CHURNCLV_API_KEYS (comma-separated).",
    )
    page_size: int = Field(default=100, gt=0, le=10_000, description="Default rows per page.")
    reload_interval_s: float = Field(
        default=10.0,
        ge=0.0,
        description="How often the service checks for a new score run or champion and "
        "switches to it (0: only on POST /admin/reload).",
    )


class SparkSettings(_Strict):
    """The Spark session of ``engine: spark`` (docs/spark.md)."""

    master: str | None = Field(
        default=None,
        description="Spark master URL; default: the one spark-submit or the platform gives, "
        "else local[*].",
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Any Spark settings, e.g. spark.driver.memory: 8g."
    )


class Settings(_Strict):
    """Everything a run needs. Build with :func:`load_settings`."""

    data: DataSettings = Field(default_factory=DataSettings)
    cutoff: dt.date | None = Field(
        default=None,
        description="Features use data up to and including this date; "
        "default: last date in the transactions.",
    )
    churn_horizon_days: int = Field(default=90, gt=0, le=3650)
    clv_horizon_days: int = Field(default=365, gt=0, le=3650)
    gross_margin: float = Field(default=1.0, gt=0.0, le=1.0)
    monthly_discount_rate: float = Field(default=0.01, ge=0.0, lt=1.0)
    currency: str | None = Field(
        default=None,
        description="ISO 4217 code of the amounts in the data (EUR, USD, GBP...): reasons, "
        "reports, the page and the console show money with its symbol; none: plain numbers.",
    )
    segments: SegmentSettings = Field(default_factory=SegmentSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    output_dir: Path = Path("outputs")
    keep_score_runs: int = Field(
        default=5,
        ge=1,
        description="Score runs kept under output_dir/runs/ (the current one included); older "
        "ones are deleted after a new run is published.",
    )
    chunk_customers: int = Field(
        default=125_000,
        ge=1,
        description="engine duckdb: `churnclv score` and `churnclv features` build features "
        "(and scores) for this many customers at a time, by ranges of customer id, so memory "
        "is bounded by the chunk, not the customer base; the files are the same whatever the "
        "chunk size. 125,000 scores 10M customers within 5.5 GB in the time 250,000 takes "
        "with 6.3 GB (bench/RESULTS.md).",
    )
    duckdb_memory_limit: str | None = Field(
        default="4GB",
        description="engine duckdb: memory the embedded DuckDB may use for the loaded tables "
        "and its queries (e.g. 4GB); beyond it, it spills to a temporary folder instead of "
        "growing. Null: DuckDB's default (80% of the machine's memory).",
    )
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSettings = Field(default_factory=SparkSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str | None) -> str | None:
        from core.money import check_currency

        return check_currency(v) if v else None

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_size(cls, v: str | None) -> str | None:
        import re

        if v is not None and not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)", v.strip()):
            raise ValueError(f"'{v}' is not a size such as 4GB or 512MB")
        return v.strip() if v else v

    @field_validator("cutoff", mode="before")
    @classmethod
    def _parse_cutoff(cls, v: Any) -> Any:
        """Accept YYYY-MM-DD and compact YYYYMMDD (YAML reads the latter as an integer)."""
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        return compact_date(v) or v if isinstance(v, str) else v


def compact_date(text: str) -> dt.date | None:
    """The date of a compact YYYYMMDD text (as cutoffs may be written), else None."""
    text = text.strip()
    if len(text) == 8 and text.isdigit():
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return None


class SettingsError(UserError, ValueError):
    """A settings file or value is invalid; the message names the file and key."""


def _format_errors(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {e['msg']}")
    return "\n".join(lines)


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings from a YAML file (optional) and apply dotted-key overrides.

    Relative paths are relative to the current directory, as usual for a CLI.

    ``overrides`` maps dotted keys (``"data.dir"``, ``"churn_horizon_days"``) to values; ``None``
    values are ignored, so CLI options that were not given change nothing.
    """
    raw: dict[str, Any] = {}
    source = "settings"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: expected a mapping of keys at the top level")
        raw = loaded
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, key, value)
    if overrides and any(v is not None for v in overrides.values()):
        source = f"{source} (with command-line options)"
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc, source)) from None
    return settings
