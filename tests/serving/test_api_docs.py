"""The API documentation: the OpenAPI document at /docs.json describes the product, every
endpoint and its errors, and the answers really have the documented shapes.

The served tests run against `churnclv serve` (session fixture in conftest.py); the first ones
check the document and the error wording without a server.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator

import httpx
import pytest
from pydantic import BaseModel

from serving.api_models import (
    CustomerError,
    CustomerScore,
    ErrorResponse,
    ModelInfo,
    SegmentCustomer,
    SegmentPage,
    SegmentsResponse,
    SegmentSummary,
    UnknownCustomer,
)
from serving.http import clean_validation_error, error_body
from tests.serving.conftest import Server

# every endpoint a client may call, as (path, method)
PUBLIC_ENDPOINTS = [
    ("/score", "post"),
    ("/score_customers", "post"),
    ("/segments", "get"),
    ("/segments/{name}", "get"),
    ("/model", "get"),
    ("/admin/reload", "post"),
    ("/livez", "get"),
    ("/readyz", "get"),
    ("/healthz", "get"),
    ("/metrics", "get"),
]
NO_KEY = {"/livez", "/readyz", "/healthz"}
FOREIGN = ("bentoml.com", "slack", "twitter", "github.com", "pypi.org", "http://", "https://")


def check_document(doc: dict) -> None:
    """What /docs.json must say: the product, its version, how to authenticate, and for every
    endpoint a description, a typed 200 response and errors in the one shape."""
    assert doc["openapi"].startswith("3.0")
    info = doc["info"]
    assert info["title"] == "churnclv"
    assert info["version"] == importlib.metadata.version("churnclv")
    assert "retention" in info["description"] and "Bearer" in info["description"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes == {"ApiKey": {**schemes["ApiKey"], "type": "http", "scheme": "bearer"}}
    assert doc["security"] == [{"ApiKey": []}]
    schemas = doc["components"]["schemas"]
    text = json.dumps(doc).lower()
    for word in FOREIGN:
        assert word not in text, word
    assert "422" not in doc["paths"].get("/segments/{name}", {}).get("get", {}).get("responses")
    documented = {(p, m) for p, item in doc["paths"].items() for m in item}
    assert set(PUBLIC_ENDPOINTS) <= documented, set(PUBLIC_ENDPOINTS) - documented
    for path, method in sorted(documented):
        op = doc["paths"][path][method]
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("description"), where
        assert op.get("operationId") and op.get("tags"), where
        assert not [k for k in op if k.startswith("x-bentoml")], where
        ok = op["responses"]["200"]
        assert ok["description"] and ok.get("content"), where
        for media, body in ok["content"].items():
            schema = body["schema"]
            assert "example" in body, (where, media)
            if media == "application/json":  # a model, or a list of models
                refs = [schema] if "$ref" in schema else schema["items"]["anyOf"]
                for ref in refs:
                    name = ref["$ref"].removeprefix("#/components/schemas/")
                    assert schemas[name]["properties"], (where, name)
            else:
                assert schema == {"type": "string"}, (where, media)
        if path in NO_KEY:
            assert op["security"] == [], where
        else:
            assert "security" not in op and "401" in op["responses"], where
        if method == "post" and path != "/admin/reload":  # the one POST without a body
            body = op["requestBody"]["content"]["application/json"]
            assert body["schema"] and body["example"], where
            assert {"400", "413", "415"} <= set(op["responses"]), where
        for status, response in op["responses"].items():
            if status != "200":
                content = response["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
                assert set(content["example"]) == {"error", "detail"}, (where, status)
                assert response["description"], (where, status)
    for name in ("TaskStatusResponse", "InvalidArgument", "HTTPValidationError"):
        assert name not in schemas, name
    # OpenAPI 3.0: no JSON Schema 2019+ forms (type null, const, numeric exclusive bounds)
    assert '"type": "null"' not in text and '"const"' not in text
    assert '"exclusiveminimum": 0' not in text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # BentoML's own, on import
def test_the_document_without_a_server() -> None:
    from serving.openapi import api_document
    from serving.service import REQUEST_TIMEOUT_S, ChurnCLV

    base = ChurnCLV.openapi_spec.asdict()
    doc = api_document(base, request_timeout_s=REQUEST_TIMEOUT_S)
    check_document(doc)
    assert base["info"]["title"] == "churnclv" and "bentoml" in json.dumps(base["info"]).lower()


def test_validation_errors_are_told_in_the_api_words() -> None:
    bentoml_answer = {
        "error": "2 validation errors for ScoreRequest",
        "detail": [
            {
                "type": "value_error",
                "loc": ["customers", 0],
                "msg": "Value error, as_of 2999-01-01 is outside 1990-01-01 to 2026-10-01",
                "url": "https://errors.pydantic.dev/2.14/v/value_error",
            },
            {"type": "missing", "loc": ["customers", 1, "transactions"], "msg": "Field required"},
        ],
    }
    cleaned = json.loads(clean_validation_error(json.dumps(bentoml_answer).encode()))
    assert cleaned == {
        "error": "invalid request",
        "detail": [
            {
                "loc": ["body", "customers", 0],
                "msg": "as_of 2999-01-01 is outside 1990-01-01 to 2026-10-01",
                "type": "value_error",
            },
            {"loc": ["body", "customers", 1, "transactions"], "msg": "Field required",
             "type": "missing"},
        ],
    }  # fmt: skip
    other = error_body("unknown segment 'x'")
    assert clean_validation_error(other) == other


# ---- against the running service ----------------------------------------------------------


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.mark.slow
def test_docs_json_is_the_products_document(server: Server) -> None:
    resp = httpx.get(server.url + "/docs.json", timeout=30)  # no key needed
    assert resp.status_code == 200
    check_document(resp.json())
    page = httpx.get(server.url + "/docs", timeout=30)
    assert page.status_code == 200
    assert "/static_content/swagger-ui-bundle.js" in page.text and "validatorUrl: null" in page.text
    assert "http://" not in page.text and "https://" not in page.text


def conforms(model: type[BaseModel], item: dict) -> None:
    """``item`` has the model's shape: it validates, and has no field the model lacks."""
    model.model_validate(item)
    assert set(item) <= set(model.model_fields), set(item) - set(model.model_fields)


@pytest.mark.slow
def test_answers_have_the_documented_shapes(api: httpx.Client) -> None:
    segments = api.get("/segments").json()
    conforms(SegmentsResponse, segments)
    for s in segments["segments"]:
        conforms(SegmentSummary, s)
    largest = max(segments["segments"], key=lambda s: s["customers"])
    page = api.get(f"/segments/{largest['slug']}", params={"page_size": 5}).json()
    conforms(SegmentPage, page)
    assert page["customers"]
    for c in page["customers"]:
        conforms(SegmentCustomer, c)
    conforms(ModelInfo, api.get("/model").json())
    ids = [page["customers"][0]["customer_id"], "no-such-customer-id"]
    known, unknown = api.post("/score_customers", json={"customer_ids": ids}).json()
    conforms(CustomerScore, known)
    conforms(UnknownCustomer, unknown)
    history = {
        "customer_id": "docs-1",
        "as_of": "2026-09-30",
        "transactions": [{"timestamp": "2026-06-01T10:00:00", "amount": 25.0}],
    }
    (scored,) = api.post("/score", json={"customers": [history]}).json()
    conforms(CustomerScore, scored)
    # an entry that could not be scored (serving.batching.error_item) has its own model
    conforms(CustomerError, {"customer_id": "x", "status": "error", "error": "e", "detail": None})
    # the document's examples have the shapes too
    doc = api.get("/docs.json").json()
    for path, method, model in [
        ("/segments", "get", SegmentsResponse),
        ("/segments/{name}", "get", SegmentPage),
        ("/model", "get", ModelInfo),
    ]:
        example = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        conforms(model, example["example"])
    for path in ("/score", "/score_customers"):
        example = doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        for item in example["example"]:
            conforms(CustomerScore if item["status"] == "ok" else UnknownCustomer, item)


MALFORMED = {
    "truncated JSON": ("/score_customers", b'{"customer_ids": ["000001"'),
    "id a number": ("/score_customers", b'{"customer_ids": [1]}'),
    "null body": ("/score_customers", b"null"),
    "extra field": ("/score_customers", b'{"customer_ids": ["1"], "x": 1}'),
    "score truncated": ("/score", b'{"customers": [{"customer_id": "c"'),
    "score amount a word": (
        "/score",
        b'{"customers": [{"customer_id": "c", "transactions": '
        b'[{"timestamp": "2026-06-01", "amount": "lots"}]}]}',
    ),
    "score history after as_of": (
        "/score",
        b'{"customers": [{"customer_id": "c", "as_of": "2026-01-01", "transactions": '
        b'[{"timestamp": "2026-06-01", "amount": 3}]}]}',
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_bodies_get_plain_errors(api: httpx.Client, case: str) -> None:
    path, raw = MALFORMED[case]
    resp = api.post(path, content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    conforms(ErrorResponse, body)
    assert body["error"] == "invalid request"
    assert body["detail"] and all(set(d) == {"loc", "msg", "type"} for d in body["detail"])
    assert all(d["loc"][0] == "body" for d in body["detail"]), body
    for internal in ("http", "pydantic", "validation error for", "Request", "Value error"):
        assert internal not in resp.text, (internal, resp.text)
