"""Request and response models of the prediction API (pydantic: every field validated).

Limits (documented in the README, enforced here and by the middleware):
- at most MAX_CUSTOMERS_PER_CALL customer ids or customers per call;
- at most MAX_ROWS_PER_CUSTOMER transactions and as many events per customer;
- request bodies up to MAX_BODY_BYTES;
- dates (``as_of``, timestamps, ``signup_date``) from EARLIEST_DATE to today (UTC) plus
  FUTURE_TOLERANCE_DAYS: a scoring date in year 9999 is refused here, before the request can
  join a batch with other clients' requests.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal, NotRequired

import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from core.settings import EARLIEST_DATE
from features.contract import MAX_ABS_VALUE, non_numeric, out_of_range

MAX_CUSTOMERS_PER_CALL = 1000
MAX_ROWS_PER_CUSTOMER = 10_000
MAX_BODY_BYTES = 10_000_000
FUTURE_TOLERANCE_DAYS = 1  # time zones ahead of UTC

MAX_ATTRIBUTES = 50
AttributeName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]


def _attribute_value(value: object) -> str | float | bool:
    """Text, a finite number or true/false; anything else is one plain error."""
    if isinstance(value, bool) or (isinstance(value, str) and len(value) <= MAX_ATTRIBUTE_TEXT):
        return value
    if isinstance(value, int | float) and math.isfinite(value) and abs(value) <= MAX_ABS_VALUE:
        return float(value)
    raise ValueError(
        f"an attribute value is text (up to {MAX_ATTRIBUTE_TEXT:,} characters), a number "
        "within +-1e9 or true/false"
    )


MAX_ATTRIBUTE_TEXT = 1000
AttributeValue = Annotated[
    str | float | bool,
    PlainValidator(_attribute_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT},
                {"type": "number"},
                {"type": "boolean"},
            ]
        }
    ),
]


def _without_nulls(value: object) -> object:
    """Attributes sent as null are unknown: the same as leaving them out."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


CustomerId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]


def _loader_number(column: str) -> BeforeValidator:
    """A JSON number checked by the file loader's rules, in its words: text such as "12.50"
    is refused (a number is sent as a number), as are non-finite and out-of-range values."""

    def check(value: object) -> object:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(non_numeric(column, str(value)))
        if not math.isfinite(value):
            raise ValueError(f"non-finite {column}")
        if abs(value) > MAX_ABS_VALUE:
            raise ValueError(out_of_range(column))
        return float(value)

    return BeforeValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN/Infinity are refused


_ROW_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)
# Transactions and events are typed dicts, not models: a call of 100 customers holds thousands
# of rows, and building a model object per row cost more than scoring them (bench_service.py).


@with_config(_ROW_CONFIG)
class TransactionIn(TypedDict):
    """One purchase, or a refund (a negative amount, netted against spend as the file loader
    does); the same rules as a row of the transactions file."""

    timestamp: dt.datetime
    amount: Annotated[
        float,
        _loader_number("amount"),
        Field(
            description="Net value: positive for an order, negative for a refund, 0 for a free "
            "order; a JSON number within +-1e9."
        ),
    ]
    order_id: NotRequired[str | None]
    quantity: NotRequired[Annotated[float | None, _loader_number("quantity")]]
    channel: NotRequired[str | None]
    category: NotRequired[str | None]


@with_config(_ROW_CONFIG)
class EventIn(TypedDict):
    """One engagement event (visit, email_open, email_click, support_ticket, app_session, ...)."""

    timestamp: dt.datetime
    event_type: Annotated[str, Field(min_length=1, max_length=50)]
    channel: NotRequired[str | None]
    value: NotRequired[Annotated[float | None, _loader_number("value")]]


class SubscriptionIn(_Strict):
    """One subscription row (a plan period); the same rules as a row of the subscriptions
    file. A plan change is a new row of the same subscription_id with a later start_date."""

    subscription_id: Annotated[str, Field(min_length=1, max_length=200)]
    start_date: dt.date = Field(description="First day of service of this row's plan.")
    end_date: dt.date | None = Field(
        None, description="First day without service; null while active."
    )
    cancel_date: dt.date | None = Field(
        None, description="Day the customer asked to cancel; null if never."
    )
    billing_period_days: Annotated[float, _loader_number("billing_period_days")] = Field(
        description="Days between renewals: 30 monthly, 365 annual.", examples=[30]
    )
    price: Annotated[float | None, _loader_number("price")] = Field(
        None, description="Price of one billing period."
    )
    auto_renew: bool | None = None
    plan: str | None = None
    status: str | None = Field(None, description="Informational only, never a feature.")

    @model_validator(mode="after")
    def _loader_rules(self) -> SubscriptionIn:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date before start_date")
        if self.cancel_date is not None and self.cancel_date < self.start_date:
            raise ValueError("cancel_date before start_date")
        if self.billing_period_days <= 0:
            raise ValueError("billing_period_days not positive")
        if self.price is not None and self.price < 0:
            raise ValueError("negative price")
        return self


class CustomerIn(_Strict):
    """A customer's raw history, scored with the same feature code as the batch run."""

    customer_id: CustomerId
    transactions: Annotated[
        list[TransactionIn], Field(min_length=1, max_length=MAX_ROWS_PER_CUSTOMER)
    ]
    events: Annotated[list[EventIn], Field(max_length=MAX_ROWS_PER_CUSTOMER)] = []
    subscriptions: Annotated[list[SubscriptionIn], Field(max_length=MAX_ROWS_PER_CUSTOMER)] = Field(
        default=[],
        description="The customer's subscription rows, as in the subscriptions file "
        "(for a model trained with subscriptions).",
    )
    signup_date: dt.date | None = None
    acquisition_channel: str | None = None
    loyalty_member: bool | None = None
    attributes: Annotated[
        dict[AttributeName, AttributeValue],
        Field(max_length=MAX_ATTRIBUTES),
        BeforeValidator(_without_nulls),
    ] = Field(
        default={},
        description="The customer's other columns, as in the customers file (e.g. region, "
        "plan, age band): those the model was trained with become features, others are "
        "ignored; an unknown value is left out or null. Needs signup_date, as a row of the "
        "customers file does.",
        examples=[{"region": "north", "store_distance_km": 4.2}],
    )
    as_of: dt.date | None = Field(
        default=None,
        description="Score as of the end of this day (default: today, UTC); history after it "
        "is refused.",
    )

    @model_validator(mode="after")
    def _no_future_rows(self) -> CustomerIn:
        latest = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=FUTURE_TOLERANCE_DAYS)
        for what, day in (("as_of", self.as_of), ("signup_date", self.signup_date)):
            if day is not None and not EARLIEST_DATE <= day <= latest:
                raise ValueError(
                    f"{what} {day.isoformat()} is outside {EARLIEST_DATE.isoformat()} to "
                    f"{latest.isoformat()} (today, UTC, plus {FUTURE_TOLERANCE_DAYS} day)"
                )
        scoring_day = self.as_of or dt.datetime.now(dt.UTC).date()
        seen: set[tuple[str, dt.date]] = set()
        for i, sub in enumerate(self.subscriptions):
            if not EARLIEST_DATE <= sub.start_date <= scoring_day:
                raise ValueError(
                    f"subscriptions[{i}].start_date {sub.start_date.isoformat()} is outside "
                    f"{EARLIEST_DATE.isoformat()} to the scoring date {scoring_day.isoformat()}"
                )
            if (sub.subscription_id, sub.start_date) in seen:
                raise ValueError(f"subscriptions[{i}]: duplicate subscription_id and start_date")
            seen.add((sub.subscription_id, sub.start_date))
        earliest = dt.datetime.combine(EARLIEST_DATE, dt.time.min)
        end = dt.datetime.combine(self.as_of or dt.datetime.now(dt.UTC).date(), dt.time.max)
        for kind, rows in (("transactions", self.transactions), ("events", self.events)):
            for i, row in enumerate(rows):
                ts = row["timestamp"]
                if ts.tzinfo:
                    ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
                if ts < earliest:
                    raise ValueError(
                        f"{kind}[{i}].timestamp {row['timestamp'].isoformat()} is before "
                        f"{EARLIEST_DATE.isoformat()}"
                    )
                if ts > end:
                    raise ValueError(
                        f"{kind}[{i}].timestamp {row['timestamp'].isoformat()} is after the scoring date {end.date()}"
                    )
        return self


def tables_from_customers(  # noqa: ANN201 - features.contract.InputTables
    customers: list[CustomerIn], subscriptions: bool = False
):
    """Contract tables built from API customers (same dtypes as the file loader's): the pandas
    frames of :func:`arrow_from_customers`."""
    from features.contract import InputTables

    arrows = arrow_from_customers(customers, subscriptions)
    return InputTables(
        **{
            name: arrow.to_pandas(types_mapper=_pandas_types().get)
            for name, arrow in arrows.items()
        }
    )


def arrow_from_customers(  # noqa: ANN201 - dict[str, pyarrow.Table]
    customers: list[CustomerIn], subscriptions: bool = False
):
    """The contract tables of API customers as Arrow, by table name (subscriptions absent when
    there are none; the service's feature query reads them without a pandas round trip).

    An aware timestamp becomes UTC and a naive one is taken as UTC, as the file loader does.
    ``subscriptions``: give a subscriptions table even when no customer sent a subscription
    (the model reads subscription features: they are then those of a customer without one)."""
    import pyarrow as pa

    from features.contract import CONTRACT
    from features.engine import arrow_type

    def arrow(rows: list[dict], table: str, own: tuple[str, ...] = ()) -> pa.Table:
        spec = CONTRACT[table]
        schema = pa.schema(
            [(c, arrow_type(spec[c][1])) for c in spec] + [(c, pa.string()) for c in own]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    tx = [{"customer_id": c.customer_id, **t} for c in customers for t in c.transactions]
    ev = [
        {"customer_id": c.customer_id, **e, "event_type": e["event_type"].lower()}
        for c in customers
        for e in c.events
    ]
    cust = [
        {
            # the customer's own columns as a CSV gives them (text): the feature code reads
            # numbers from text as it does for the file; they cannot shadow contract columns
            **{k: _as_text(v) for k, v in c.attributes.items() if k not in CONTRACT["customers"]},
            "customer_id": c.customer_id,
            "signup_date": pd.Timestamp(c.signup_date),
            "acquisition_channel": c.acquisition_channel,
            "loyalty_member": c.loyalty_member,
        }
        for c in customers
        if c.signup_date is not None
    ]
    own = tuple(dict.fromkeys(k for row in cust for k in row if k not in CONTRACT["customers"]))
    # empty (not missing) optional tables: the model's engagement and attribute features are
    # then zeros / nulls, as for a batch customer without events, instead of absent columns.
    # Not re-checked with the pandera schemas here (a third of a one-customer /score call):
    # the request models hold every rule, and tests/serving/test_api_models.py checks that
    # what this builds passes the schemas.
    subs = [
        {"customer_id": c.customer_id, **_with_datetimes(r.model_dump())}
        for c in customers
        for r in c.subscriptions
    ]
    tables = {
        "transactions": arrow(tx, "transactions"),
        "events": arrow(ev, "events"),
        "customers": arrow(cust, "customers", own),
    }
    if subs or subscriptions:
        tables["subscriptions"] = arrow(subs, "subscriptions")
    return tables


def _pandas_types() -> dict:
    import pyarrow as pa

    return {pa.bool_(): pd.BooleanDtype()}  # a flag column with gaps stays a flag


def _with_datetimes(row: dict) -> dict:
    """Dates of a row as midnight datetimes (the contract's timestamp type)."""
    return {
        k: dt.datetime.combine(v, dt.time()) if type(v) is dt.date else v for k, v in row.items()
    }


def _as_text(value: object) -> str | None:
    """An attribute value as the customers file would hold it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


# ---- response models: they document the JSON the endpoints return (/docs, /docs.json) -------
# The endpoints build their JSON themselves (records encoded once at start-up, see
# serving.latest); these models describe it and are checked against real answers in the tests.

Money = Annotated[
    float | None,
    Field(description="An amount in the service's currency, to cents; null for a customer "
          "without a paid purchase yet."),
]  # fmt: skip


class ModelVersions(BaseModel):
    """Registry versions of the two models behind the scores."""

    churn_model: str | None = Field(description="Version of the registered churn model.")
    clv_model: str | None = Field(description="Version of the registered CLV model.")


class _Scores(BaseModel):
    """What the batch run and POST /score give every customer."""

    customer_id: str
    churn_probability: float | None = Field(
        description="Chance of no purchase within the churn horizon (4 decimals); null without "
        "a paid purchase yet."
    )
    expected_revenue: Money = Field(description="Expected revenue over the churn horizon.")
    clv: Money = Field(description="Customer lifetime value over the CLV horizon (margin, "
                       "discounting and the chance of churning included).")  # fmt: skip
    clv_low: Money = Field(description="Low end of the customer's 80% CLV range.")
    clv_high: Money = Field(description="High end of the customer's 80% CLV range.")
    value_if_retained: Money = Field(
        description="What the customer brings over the CLV horizon if they stay."
    )
    value_at_risk: Money = Field(
        description="churn_probability x value_if_retained: what is lost if they churn."
    )
    next_renewal_date: dt.date | None = Field(
        None,
        description="Subscription businesses: the day of the next renewal, to time the "
        "contact; null without an active subscription (absent for a model without "
        "subscriptions).",
    )
    monthly_recurring_revenue: Money = Field(
        None, description="Subscription businesses: the active subscriptions' price per month."
    )
    mrr_at_risk: Money = Field(
        None,
        description="Subscription businesses: churn_probability x monthly_recurring_revenue.",
    )
    risk_tier: str | None = Field(description="Churn risk tier; null without a paid purchase.")
    value_tier: str | None = Field(description="Value tier; null without a paid purchase.")
    segment: str = Field(description="Risk x value segment (or the no-purchase segment).")
    reasons: list[str] = Field(description="Up to three plain phrases behind the churn score.")
    preferred_channel: str | None = Field(description="The customer's most used channel.")
    action: str = Field(description="The retention action of the customer's segment.")


class SegmentCustomer(_Scores):
    """One customer of a segment list."""

    control: bool | None = Field(
        None, description="Held out of the campaign (the control group): do not contact."
    )
    campaign: str | None = Field(None, description="The campaign of the scoring run, if any.")


class CustomerScore(_Scores):
    """One scored customer."""

    churn_model_version: str | None
    clv_model_version: str | None
    scoring_date: str = Field(description="The date the scores are as of (YYYY-MM-DD).")
    control: bool | None = Field(
        None,
        description="POST /score_customers only: held out of the campaign (do not contact).",
    )
    campaign: str | None = Field(
        None, description="POST /score_customers only: the campaign of the scoring run."
    )
    status: Literal["ok"]


class UnknownCustomer(BaseModel):
    """An id the last batch run did not score."""

    customer_id: str
    status: Literal["unknown_customer"]


class Problem(BaseModel):
    """One problem of an invalid request."""

    loc: list[str | int] = Field(
        description="Where: 'body', 'query' or 'path', then the field (list positions as numbers)."
    )
    msg: str = Field(description="What is wrong.")
    type: str = Field(description="A short code of the problem, e.g. missing, string_type.")


class ErrorResponse(BaseModel):
    """The one error shape of every error response."""

    error: str = Field(description="What went wrong, in plain words.")
    detail: list[Problem] | None = Field(
        description="For an invalid request, one item per problem; otherwise null."
    )


class CustomerError(ErrorResponse):
    """A customer of POST /score that could not be scored (the others are)."""

    customer_id: str
    status: Literal["error"]


class SegmentSummary(BaseModel):
    """One segment of the last batch run."""

    segment: str
    slug: str = Field(description="The segment's name in paths and file names.")
    risk_tier: str | None
    value_tier: str | None
    action: str
    customers: int = Field(description="Customers in the segment (0: none this run).")
    control: int = Field(description="How many of them the campaign holds out.")
    expected_revenue: float
    value_at_risk: float
    monthly_recurring_revenue: float | None = Field(
        None, description="Subscription businesses: the segment's recurring revenue per month."
    )
    mrr_at_risk: float | None = Field(
        None, description="Subscription businesses: the part of it at risk."
    )


class SegmentsResponse(BaseModel):
    """Every segment of the last batch run."""

    scoring_date: str | None
    scores_run: str | None = Field(description="The batch score run served (its id).")
    model_versions: ModelVersions
    currency: str | None = Field(description="ISO 4217 code of the amounts (null: plain numbers).")
    churn_horizon_days: int
    clv_horizon_days: int
    segments: list[SegmentSummary]


class SegmentPage(BaseModel):
    """One page of a segment's customers, highest value at risk first."""

    segment: str
    page: int
    page_size: int
    total: int = Field(description="Customers in the segment.")
    pages: int
    customers: list[SegmentCustomer]


class ServedModel(BaseModel):
    """Which candidate serves and why (chosen on the backtest)."""

    candidate: str
    why: str


class ClvInterval(BaseModel):
    """The customers' CLV range and its measured coverage."""

    level: float
    coverage: float | None
    horizon_days: int | None


class ScoresInfo(BaseModel):
    """The batch scores the service answers from."""

    run: str | None = Field(description="The batch score run served (its id).")
    scoring_date: str | None
    model_versions: ModelVersions


class ReloadResponse(BaseModel):
    """What POST /admin/reload switched to, and what is served now."""

    changed: list[str] = Field(description="What was switched (empty: nothing was new).")
    scores_run: str | None = Field(description="The batch score run served.")
    scoring_date: str | None
    scores_model_versions: ModelVersions = Field(
        description="The model versions that scored that run."
    )
    model_versions: ModelVersions = Field(description="The models POST /score uses now.")


class ModelInfo(BaseModel):
    """The served models: versions, training, data and backtest."""

    versions: ModelVersions
    trained_at: str | None
    churn_horizon_days: int
    clv_horizon_days: int
    data: dict[str, Any] | None = Field(description="Summary of the training data.")
    served: dict[str, ServedModel] | None = Field(
        description="The serving candidate of churn and of revenue, with the reason."
    )
    backtest: dict[str, Any] | None = Field(
        description="Test metrics per model and baseline, for churn and revenue."
    )
    clv_check: dict[str, Any] | None = Field(description="CLV checked on a past horizon.")
    clv_interval: ClvInterval | None
    scores: ScoresInfo
