"""The API's OpenAPI document (/docs.json) and what the docs page (/docs) shows.

BentoML generates a document from the service (request bodies of its APIs, paths and query
parameters of the FastAPI routes); :func:`api_document` turns it into the product's: title and
version of the package, what the API is for and how to authenticate, a bearer security scheme
(so "Try it out" on /docs sends ``Authorization: Bearer <key>``), a summary, description,
typed 200 response (:mod:`serving.api_models`) and examples for every endpoint, and the error
responses each can give, all in the one error shape (:func:`serving.http.error_payload`).
BentoML's own texts, links, tags and error schemas are dropped. The endpoints' JSON is built
by the service itself; the response models only describe it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from core.settings import EARLIEST_DATE
from serving.api_models import (
    MAX_BODY_BYTES,
    MAX_CUSTOMERS_PER_CALL,
    MAX_ROWS_PER_CUSTOMER,
    CustomerError,
    CustomerScore,
    ErrorResponse,
    ModelInfo,
    ReloadResponse,
    SegmentPage,
    SegmentsResponse,
    UnknownCustomer,
)
from serving.http import BODY_TIMEOUT_S, PUBLIC_PATHS, RETRY_AFTER_S, error_payload

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "ApiKey"


def package_version() -> str:
    """The installed churnclv version (the document's and the page's version)."""
    try:
        return version("churnclv")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


DESCRIPTION = f"""\
Scores for retention campaigns. For every customer the API gives the **churn probability**
(no purchase within the churn horizon), the **customer lifetime value** (CLV, with an 80%
range), the **value at risk** (churn probability x value if retained), the risk x value
**segment**, up to three plain-language **reasons** behind the churn score and the segment's
retention **action**.

- `POST /score_customers`: the latest batch scores of known customers, by id.
- `POST /score`: scores computed now from a customer's raw history (transactions, events).
- `GET /segments`, `GET /segments/{{name}}`: segment sizes and value at risk; one segment's
  customers, highest value at risk first (JSON or CSV), to hand to a campaign tool.
- `GET /model`: the models that serve, how they were trained and how they tested.
- `POST /admin/reload`: switch now to the latest batch scores and champion (the service also
  checks every few seconds on its own).

**Authentication.** Every endpoint except health and these docs needs an API key, sent as
`Authorization: Bearer <key>` (keys are configured on the server). Here: press **Authorize**,
enter the key (without "Bearer"), then "Try it out" on any endpoint.

**Limits.** {MAX_CUSTOMERS_PER_CALL:,} customers per call, {MAX_ROWS_PER_CUSTOMER:,}
transactions and as many events per customer, {MAX_BODY_BYTES // 1_000_000} MB per request
body, sent within {BODY_TIMEOUT_S:g} s; bodies are JSON.

**Errors** all have one shape, `{{"error": "<message>", "detail": <list or null>}}`; for an
invalid request `detail` lists each problem with `loc` (where: `body`, `query` or `path`,
then the field), `msg` and `type`.
"""

TAGS = [
    {"name": "scores", "description": "Churn, CLV, value at risk, segment, reasons, action."},
    {"name": "segments", "description": "Segment sizes and customer lists for campaigns."},
    {"name": "model", "description": "The models behind the scores."},
    {"name": "health", "description": "Liveness, readiness and metrics for operations."},
]

# ---- examples (shapes as the endpoints answer; values from a demo run) ---------------------

_SCORES = {
    "customer_id": "000001",
    "churn_probability": 0.4606,
    "expected_revenue": 80.44,
    "clv": 222.63,
    "clv_low": 0.0,
    "clv_high": 316.4,
    "value_if_retained": 214.53,
    "value_at_risk": 98.81,
    "risk_tier": "medium",
    "value_tier": "medium",
    "segment": "Keep warm",
    "reasons": [
        "irregular buying: gaps vary by 100 days",
        "last app session 350 days ago",
        "buys every 122 days on average",
    ],
    "preferred_channel": "email",
    "action": "personalised recommendations campaign",
}
_VERSIONS = {"churn_model": "3", "clv_model": "3"}
SCORED = {
    **_SCORES,
    "churn_model_version": "3",
    "clv_model_version": "3",
    "scoring_date": "2026-09-30",
}
SCORE_CUSTOMERS_REQUEST = {"customer_ids": ["000001", "no-such-id"]}
SCORE_CUSTOMERS_RESPONSE = [
    {**SCORED, "control": False, "campaign": None, "status": "ok"},
    {"customer_id": "no-such-id", "status": "unknown_customer"},
]
SCORE_REQUEST = {
    "customers": [
        {
            "customer_id": "new-42",
            "as_of": "2026-09-30",
            "transactions": [
                {"timestamp": "2026-03-02T10:15:00", "amount": 42.5, "channel": "web"},
                {"timestamp": "2026-06-01T18:40:00", "amount": 25.0, "channel": "store"},
            ],
            "events": [{"timestamp": "2026-09-12T08:00:00", "event_type": "email_open"}],
        }
    ]
}
SCORE_RESPONSE = [{**SCORED, "customer_id": "new-42", "status": "ok"}]
SEGMENTS_RESPONSE = {
    "scoring_date": "2026-09-30",
    "scores_run": "2026-09-30-3e125224",
    "model_versions": _VERSIONS,
    "currency": "USD",
    "churn_horizon_days": 90,
    "clv_horizon_days": 365,
    "segments": [
        {
            "segment": "Keep warm",
            "slug": "keep_warm",
            "risk_tier": "medium",
            "value_tier": "medium",
            "action": "personalised recommendations campaign",
            "customers": 212,
            "control": 0,
            "expected_revenue": 15321.18,
            "value_at_risk": 19876.4,
        },
        {
            "segment": "No purchase yet",
            "slug": "no_purchase_yet",
            "risk_tier": None,
            "value_tier": None,
            "action": "onboarding: welcome series with a first-purchase offer",
            "customers": 31,
            "control": 0,
            "expected_revenue": 0.0,
            "value_at_risk": 0.0,
        },
    ],
}
SEGMENT_PAGE_RESPONSE = {
    "segment": "Keep warm",
    "page": 1,
    "page_size": 100,
    "total": 212,
    "pages": 3,
    "customers": [{**_SCORES, "control": False, "campaign": None}],
}
SEGMENT_CSV = (
    "customer_id,churn_probability,expected_revenue,clv,clv_low,clv_high,value_if_retained,"
    "value_at_risk,risk_tier,value_tier,segment,reason_1,reason_2,reason_3,preferred_channel,"
    "action,control,campaign\n"
    "000001,0.4606,80.44,222.63,0.0,316.4,214.53,98.81,medium,medium,Keep warm,"
    "irregular buying: gaps vary by 100 days,last app session 350 days ago,"
    "buys every 122 days on average,email,personalised recommendations campaign,False,\n"
)
MODEL_RESPONSE = {
    "versions": _VERSIONS,
    "trained_at": "2026-10-01T06:12:44",
    "churn_horizon_days": 90,
    "clv_horizon_days": 365,
    "data": {"customers": 5000, "data_start": "2023-10-01", "data_end": "2026-09-30"},
    "served": {
        "churn": {"candidate": "blend", "why": "lowest test log-loss"},
        "revenue": {"candidate": "lightgbm", "why": "highest test Spearman"},
    },
    "backtest": {"churn": {"blend": {"roc_auc": 0.951, "log_loss": 0.269}}},
    "clv_check": None,
    "clv_interval": {"level": 0.8, "coverage": 0.797, "horizon_days": 365},
    "scores": {
        "run": "2026-09-30-3e125224",
        "scoring_date": "2026-09-30",
        "model_versions": _VERSIONS,
    },
}
RELOAD_RESPONSE = {
    "changed": ["scores of run 2026-10-31-8a0f2c11"],
    "scores_run": "2026-10-31-8a0f2c11",
    "scoring_date": "2026-10-31",
    "scores_model_versions": _VERSIONS,
    "model_versions": _VERSIONS,
}

# ---- endpoints ----------------------------------------------------------------------------


def _json(schema: dict[str, Any], example: object) -> dict[str, Any]:
    return {"application/json": {"schema": schema, "example": example}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _text(example: str, media: str = "text/plain") -> dict[str, Any]:
    return {media: {"schema": {"type": "string"}, "example": example}}


def _error_examples(request_timeout_s: float) -> dict[int, tuple[str, dict[str, Any]]]:
    """Status -> (when, example body), as serving.http and the service answer them."""
    invalid = error_payload(
        "invalid request",
        [{"loc": ["body", "customer_ids", 0], "msg": "Input should be a valid string",
          "type": "string_type"}],
    )  # fmt: skip
    return {
        400: ("Invalid request: what is wrong and where, in `detail`.", invalid),
        401: (
            "No API key, a wrong one, or not as `Authorization: Bearer <key>`.",
            error_payload("missing API key"),
        ),
        404: ("No segment of that name or slug.", error_payload("unknown segment 'vips'")),
        408: (
            f"The request body did not arrive within {BODY_TIMEOUT_S:g} s.",
            error_payload(f"request body not received within {BODY_TIMEOUT_S:g} s"),
        ),
        413: (
            f"The request body is over {MAX_BODY_BYTES:,} bytes.",
            error_payload(f"request body over the limit of {MAX_BODY_BYTES} bytes"),
        ),
        415: (
            "The body is not JSON (send `Content-Type: application/json`).",
            error_payload("unsupported media type: send application/json"),
        ),
        500: ("Not ready yet (still starting).", error_payload("internal server error")),
        503: (
            f"Busy: about 10 s of scoring work is queued; retry after `Retry-After` "
            f"({RETRY_AFTER_S} s).",
            error_payload(f"the service is busy: retry after {RETRY_AFTER_S} s"),
        ),
        504: (
            f"The request took longer than {request_timeout_s:g} s.",
            error_payload(f"the request took longer than {request_timeout_s:g} s"),
        ),
    }


@dataclass(frozen=True)
class Endpoint:
    """How one operation is documented."""

    summary: str
    description: str
    tag: str
    operation_id: str
    ok: dict[str, Any]  # media type -> {schema, example}
    errors: tuple[int, ...] = ()
    request_example: object = None
    ok_description: str = "Success."
    headers: dict[str, Any] = field(default_factory=dict)


_POST_ERRORS = (400, 401, 408, 413, 415, 504)
_HEALTH_TEXT = "\n"
_METRICS_TEXT = (
    "# HELP bentoml_api_server_request_total Multiprocess metric\n"
    '# TYPE bentoml_api_server_request_total counter\nbentoml_api_server_request_total{endpoint="/score",http_response_code="200",service_name="churnclv",service_version="not available"} 12.0\n'
)


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("/score_customers", "post"): Endpoint(
        summary="Latest scores of known customers",
        description=(
            "The latest batch run's scores of the given customer ids, one item per id in the "
            f"order asked (at most {MAX_CUSTOMERS_PER_CALL:,} ids). An id the batch run did not "
            'score comes back as `{"customer_id": ..., "status": "unknown_customer"}`. '
            "`control` marks customers a campaign holds out (do not contact them)."
        ),
        tag="scores",
        operation_id="score_customers",
        ok=_json(
            {"type": "array", "items": {"anyOf": [_ref(CustomerScore), _ref(UnknownCustomer)]}},
            SCORE_CUSTOMERS_RESPONSE,
        ),
        errors=_POST_ERRORS,
        request_example=SCORE_CUSTOMERS_REQUEST,
        ok_description="One item per id, in order.",
    ),
    ("/score", "post"): Endpoint(
        summary="Score customers from their raw history",
        description=(
            "Scores computed now from each customer's transactions (and optional events, "
            "signup date, loyalty flag) with the same feature code and models as the batch "
            "run, as of the end of `as_of` (default: today, UTC). History after `as_of` or "
            f"before {EARLIEST_DATE.isoformat()} is refused (400). An entry that fails to score comes back as "
            '`{"customer_id": ..., "status": "error", "error": ..., "detail": null}` '
            "without failing the others. Concurrent calls are batched; when about 10 s of "
            "work is queued the call is refused with 503 and `Retry-After`."
        ),
        tag="scores",
        operation_id="score",
        ok=_json(
            {"type": "array", "items": {"anyOf": [_ref(CustomerScore), _ref(CustomerError)]}},
            SCORE_RESPONSE,
        ),
        errors=(*_POST_ERRORS, 503),
        request_example=SCORE_REQUEST,
        ok_description="One item per customer, in order.",
    ),
    ("/segments", "get"): Endpoint(
        summary="Segments of the last batch run",
        description=(
            "Every segment (risk tier x value tier, and customers without a paid purchase "
            "yet) with its action, size, how many the campaign holds out, expected revenue "
            "and value at risk; the scoring date, model versions, currency and horizons of "
            "the amounts. A configured segment that this run left empty is listed with 0."
        ),
        tag="segments",
        operation_id="segments",
        ok=_json(_ref(SegmentsResponse), SEGMENTS_RESPONSE),
        errors=(401,),
    ),
    ("/segments/{name}", "get"): Endpoint(
        summary="One segment's customers",
        description=(
            "The customers of one segment (by name or slug, as in `GET /segments`), highest "
            "value at risk first, a page at a time; `format=csv` gives the page as a CSV file "
            "(the columns of the batch run's segment lists). An empty segment gives an empty "
            "page, not 404."
        ),
        tag="segments",
        operation_id="segment_list",
        ok={
            **_json(_ref(SegmentPage), SEGMENT_PAGE_RESPONSE),
            **_text(SEGMENT_CSV, "text/csv"),
        },
        errors=(400, 401, 404),
        ok_description="One page of the segment (JSON, or CSV with `format=csv`).",
    ),
    ("/model", "get"): Endpoint(
        summary="The models behind the scores",
        description=(
            "Registry versions of the churn and CLV models, when they were trained, the "
            "horizons, a summary of the training data, which candidate serves and why, the "
            "backtest metrics beside the baselines, the CLV check and interval coverage, and "
            "the batch scores the service answers from."
        ),
        tag="model",
        operation_id="model",
        ok=_json(_ref(ModelInfo), MODEL_RESPONSE),
        errors=(401,),
    ),
    ("/admin/reload", "post"): Endpoint(
        summary="Switch to the latest scores and champion now",
        description=(
            "The service checks on its own every `serving.reload_interval_s` seconds (10 by "
            "default) for a newly published batch score run and a new champion in the model "
            "registry; this call checks now. What is new is loaded beside what is served and "
            "switched in one step: requests in flight finish with what they started with. "
            "Says what changed and what is served."
        ),
        tag="model",
        operation_id="admin_reload",
        ok=_json(_ref(ReloadResponse), RELOAD_RESPONSE),
        errors=(401,),
    ),
    ("/livez", "get"): Endpoint(
        summary="Liveness",
        description="200 while the server process runs. No API key needed.",
        tag="health",
        operation_id="livez",
        ok=_text(_HEALTH_TEXT),
    ),
    ("/healthz", "get"): Endpoint(
        summary="Liveness (alias of /livez)",
        description="The same as `GET /livez`. No API key needed.",
        tag="health",
        operation_id="healthz",
        ok=_text(_HEALTH_TEXT),
    ),
    ("/readyz", "get"): Endpoint(
        summary="Readiness",
        description=(
            "200 once the models and the batch scores are loaded and the service takes "
            "traffic. No API key needed."
        ),
        tag="health",
        operation_id="readyz",
        ok=_text(_HEALTH_TEXT),
        errors=(500,),
    ),
    ("/metrics", "get"): Endpoint(
        summary="Prometheus metrics",
        description="Request counts and latencies in the Prometheus text format.",
        tag="health",
        operation_id="metrics",
        ok=_text(_METRICS_TEXT),
        errors=(401,),
    ),
}

RESPONSE_MODELS: list[type[BaseModel]] = [
    CustomerScore,
    UnknownCustomer,
    CustomerError,
    SegmentsResponse,
    SegmentPage,
    ModelInfo,
    ReloadResponse,
    ErrorResponse,
]
# what BentoML and FastAPI add that this API does not answer with
DROPPED_SCHEMAS = (
    "TaskStatusResponse",
    "InvalidArgument",
    "NotFound",
    "InternalServerError",
    "HTTPValidationError",
    "ValidationError",
)


def openapi30(schema: object) -> object:
    """JSON Schema from pydantic made valid for the OpenAPI 3.0 document the service serves.

    pydantic writes ``exclusiveMinimum: 0`` (a number, JSON Schema 2019+); OpenAPI 3.0 (the
    version /docs.json declares) wants ``minimum: 0, exclusiveMinimum: true``. Tools that read
    the document as 3.0 (schemathesis, client generators) otherwise fail on POST /score.
    ``anyOf: [X, {type: null}]`` (an optional field) becomes X with ``nullable: true``, which
    3.0 knows and the docs page shows as the field's type; ``const`` becomes a one-value
    ``enum``.
    """
    if isinstance(schema, list):
        return [openapi30(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: openapi30(v) for k, v in schema.items()}
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[bound], out[exclusive] = value, True
    if "const" in out:  # JSON Schema 2019+; OpenAPI 3.0 has enum
        out["enum"] = [out.pop("const")]
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1:
            (only,) = rest
            del out["anyOf"]
            out.update({"allOf": [only]} if "$ref" in only else only)
            out["nullable"] = True
    return out


def response_schemas() -> dict[str, Any]:
    """Components of the response models (OpenAPI 3.0)."""
    _, top = models_json_schema([(m, "serialization") for m in RESPONSE_MODELS], ref_template=REF)
    return openapi30(top["$defs"])  # type: ignore[return-value]


def _operation(path: str, base: dict[str, Any], ep: Endpoint, timeout: float) -> dict[str, Any]:
    op = {k: v for k, v in base.items() if not k.startswith("x-bentoml")}
    op.update(summary=ep.summary, description=ep.description, tags=[ep.tag])
    op["operationId"] = ep.operation_id
    if path in PUBLIC_PATHS:
        op["security"] = []  # no key needed
    if ep.request_example is not None and "requestBody" in op:
        body = op["requestBody"]
        body["required"] = True
        body["content"]["application/json"]["example"] = ep.request_example
    examples = _error_examples(timeout)
    op["responses"] = {
        "200": {"description": ep.ok_description, "content": ep.ok},
        **{
            str(status): {
                "description": examples[status][0],
                "content": _json(_ref(ErrorResponse), examples[status][1]),
            }
            for status in ep.errors
        },
    }
    return op


def api_document(base: dict[str, Any], *, request_timeout_s: float) -> dict[str, Any]:
    """The product's OpenAPI document from the one BentoML generates (``base`` unchanged).

    Paths the table :data:`ENDPOINTS` does not know are kept as BentoML wrote them (the tests
    require a description and typed 200 response of every path, so a new endpoint is caught).
    """
    doc = copy.deepcopy(base)
    doc["info"] = {"title": "churnclv", "version": package_version(), "description": DESCRIPTION}
    doc["tags"] = TAGS
    # no servers: the API is where the document is ("servers: ." showed as a server picker)
    doc.pop("servers", None)
    paths = doc.get("paths", {})
    for path, item in paths.items():
        for method, op in list(item.items()):
            ep = ENDPOINTS.get((path, method))
            if ep is not None:
                item[method] = _operation(path, op, ep, request_timeout_s)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in DROPPED_SCHEMAS:
        schemas.pop(name, None)
    schemas.update(response_schemas())
    components["schemas"] = openapi30(schemas)
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key configured on the server, sent as "
            "`Authorization: Bearer <key>`.",
        }
    }
    doc["security"] = [{SECURITY_SCHEME: []}]
    doc["paths"] = openapi30(paths)
    return doc
