"""The prediction service over real HTTP: happy paths, bad input, API keys, logs, fuzzing.

Runs against `churnclv serve` started by the session fixture in conftest.py (demo data, trained
models, batch scores, two API keys).
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import math
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from core.settings import SegmentSettings
from features.contract import CONTRACT
from serving.api_models import MAX_BODY_BYTES, MAX_CUSTOMERS_PER_CALL
from serving.batch import DECIMALS
from serving.http import BODY_TIMEOUT_S
from tests.serving.conftest import (
    API_KEYS,
    Server,
    free_port,
    group_alive,
    run_cli,
    running_server,
    server_env,
)

pytestmark = pytest.mark.slow

TX = [{"timestamp": "2026-06-01T10:00:00", "amount": 25.0}]
ONE_CUSTOMER = {"customers": [{"customer_id": "c-1", "as_of": "2026-09-30", "transactions": TX}]}
JSON_HEADERS = {"content-type": "application/json"}


# ---- helpers and fixtures ------------------------------------------------------------------


def assert_error(resp: httpx.Response, status: int) -> dict:
    """The one JSON error shape: {"error": "<message>", "detail": <list or null>}."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"].strip(), body
    assert body["detail"] is None or isinstance(body["detail"], list), body
    return body


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def scores(world: Path) -> pd.DataFrame:
    """The batch run's scores, the truth the service must serve."""
    return pd.read_parquet(world / "out" / "current" / "scores.parquet").set_index("customer_id")


@pytest.fixture(scope="module")
def scoring_date(scores: pd.DataFrame) -> str:
    return str(pd.Timestamp(scores["scoring_date"].iloc[0]).date())


def batch_order(scores: pd.DataFrame, segment: str) -> list[str]:
    """A segment's customer ids as the lists sort them: value at risk desc, then id."""
    rows = scores[scores["segment"] == segment].reset_index()
    rows = rows.sort_values(["value_at_risk", "customer_id"], ascending=[False, True])
    return rows["customer_id"].tolist()


def same_value(served: object, batch: object, column: str = "") -> bool:
    if isinstance(batch, float) and math.isnan(batch):
        return served is None
    if isinstance(batch, float) and column in DECIMALS:  # money to cents, probabilities to 4
        return served == round(batch, DECIMALS[column])
    if isinstance(batch, float):
        return isinstance(served, float) and served == pytest.approx(batch, rel=1e-12, abs=1e-12)
    if isinstance(batch, pd.Timestamp):
        return served == batch.date().isoformat()
    if isinstance(batch, np.ndarray):  # reasons: numpy array of phrases
        return served == list(batch.tolist())
    return served == batch


# ---- 1. happy paths ------------------------------------------------------------------------


def test_score_customers_known_and_unknown_ids_in_order(
    api: httpx.Client, scores: pd.DataFrame
) -> None:
    buyers = scores[scores["segment"] != "No purchase yet"]
    known = buyers.index[[0, 7, 500]].tolist()
    ids = ["no-such-customer-1", known[0], known[1], "no-such-customer-2", known[2], known[0]]
    resp = api.post("/score_customers", json={"customer_ids": ids})
    assert resp.status_code == 200, resp.text
    items = resp.json()
    assert [i["customer_id"] for i in items] == ids  # order preserved, duplicates kept
    assert [i["status"] for i in items] == [
        "unknown_customer",
        "ok",
        "ok",
        "unknown_customer",
        "ok",
        "ok",
    ]
    assert items[0] == {"customer_id": "no-such-customer-1", "status": "unknown_customer"}
    expected_fields = set(scores.columns) | {"customer_id", "status"}  # control, campaign too
    for item in (i for i in items if i["status"] == "ok"):
        assert set(item) == expected_fields
        row = scores.loc[item["customer_id"]]
        for col in expected_fields - {"customer_id", "status"}:
            assert same_value(item[col], row[col], col), (item["customer_id"], col, item[col])
        assert item["risk_tier"] in {"low", "medium", "high"}
        assert item["value_tier"] in {"low", "medium", "high"}
        assert isinstance(item["segment"], str) and item["segment"]
        assert isinstance(item["reasons"], list) and 1 <= len(item["reasons"]) <= 3
        assert all(isinstance(r, str) and r for r in item["reasons"])
        assert 0.0 <= item["churn_probability"] <= 1.0


def test_score_a_new_customer_from_raw_history(api: httpx.Client, scores: pd.DataFrame) -> None:
    customer = {
        "customer_id": "brand-new-007",
        "as_of": "2026-09-30",
        "signup_date": "2025-11-02",
        "acquisition_channel": "referral",
        "loyalty_member": True,
        "transactions": [
            {"timestamp": "2025-11-02T12:00:00", "amount": 80.0, "channel": "web"},
            {"timestamp": "2026-02-14T09:30:00+01:00", "amount": 45.5, "category": "shoes"},
            {"timestamp": "2026-08-20", "amount": 60.0, "quantity": 2, "order_id": "A-3"},
        ],
        "events": [
            {"timestamp": "2026-09-01T08:00:00", "event_type": "email_open", "channel": "email"},
            {"timestamp": "2026-09-01T08:05:00", "event_type": "EMAIL_CLICK"},
            {"timestamp": "2026-09-10T18:00:00", "event_type": "support_ticket", "value": 4},
        ],
    }
    resp = api.post("/score", json={"customers": [customer]})
    assert resp.status_code == 200, resp.text
    [item] = resp.json()
    assert item["status"] == "ok" and item["customer_id"] == "brand-new-007"
    assert 0.0 <= item["churn_probability"] <= 1.0
    assert item["clv_low"] <= item["clv"] <= item["clv_high"]
    assert item["value_at_risk"] == pytest.approx(  # each rounded to cents or 4 decimals
        item["churn_probability"] * item["value_if_retained"],
        abs=0.01 + item["value_if_retained"] * 1e-4,
    )
    assert item["segment"] in {c.name for c in SegmentSettings().cells}
    assert item["risk_tier"] in {"low", "medium", "high"}
    assert isinstance(item["reasons"], list) and 1 <= len(item["reasons"]) <= 3
    assert item["scoring_date"] == "2026-09-30"
    assert item["churn_model_version"] == scores["churn_model_version"].iloc[0]


def _history(world: Path, ids: list[str], as_of: str) -> list[dict]:
    """The customers' own rows from the demo data files, as POST /score bodies."""
    data = world / "data"
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    tx = pd.read_csv(data / "transactions.csv", dtype={"customer_id": "str", "order_id": "str"})
    ev = pd.read_csv(data / "events.csv", dtype={"customer_id": "str"}).drop_duplicates()
    cu = pd.read_csv(data / "customers.csv", dtype={"customer_id": "str"})

    def clean(record: dict) -> dict:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()
        }

    def iso(ts: str) -> str:
        return ts.replace(" ", "T")

    bodies = []
    for cid in ids:
        own_tx = tx[(tx["customer_id"] == cid) & (pd.to_datetime(tx["timestamp"]) < end)]
        own_ev = ev[(ev["customer_id"] == cid) & (pd.to_datetime(ev["timestamp"]) < end)]
        attrs = cu[cu["customer_id"] == cid].iloc[0]
        own = {k: v for k, v in clean(attrs.to_dict()).items() if k not in CONTRACT["customers"]}
        bodies.append(
            {
                "customer_id": cid,
                "as_of": as_of,
                "signup_date": attrs["signup_date"],
                "acquisition_channel": attrs["acquisition_channel"],
                "loyalty_member": bool(attrs["loyalty_member"]),
                "attributes": own,  # the data's own columns (region, age band, distance)
                "transactions": [
                    clean(r | {"timestamp": iso(r["timestamp"])})
                    for r in own_tx.drop(columns="customer_id").to_dict("records")
                ],
                "events": [
                    clean(r | {"timestamp": iso(r["timestamp"])})
                    for r in own_ev.drop(columns="customer_id").to_dict("records")
                ],
            }
        )
    return bodies


def test_scoring_own_history_gives_the_batch_result(
    api: httpx.Client, world: Path, scores: pd.DataFrame, scoring_date: str
) -> None:
    tx = pd.read_csv(world / "data" / "transactions.csv", dtype={"customer_id": "str"})
    # refunds (negative amounts) go through the API as through the file loader: customers
    # with returns are picked first, and still get the batch result
    with_returns = set(tx.loc[tx["amount"] < 0, "customer_id"])
    assert with_returns
    eligible = scores[scores["churn_probability"].notna()]
    returned = eligible.index.isin(with_returns)
    eligible = pd.concat([eligible[returned].sort_index(), eligible[~returned].sort_index()])
    # one customer of each segment (one with returns where the segment has one), several
    picked = eligible.reset_index().groupby("segment")["customer_id"].first().tolist()
    assert len(picked) >= 4, picked
    assert set(picked) & with_returns, picked
    bodies = _history(world, picked, scoring_date)
    assert all(b["attributes"] for b in bodies)
    resp = api.post("/score", json={"customers": bodies})
    assert resp.status_code == 200, resp.text[:2000]
    for item in resp.json():
        batch = scores.loc[item["customer_id"]]
        # the same numbers as the batch run, rounded as the API rounds them
        assert item["churn_probability"] == round(batch["churn_probability"], 4), item
        assert item["clv"] == round(batch["clv"], 2)
        for col in ("segment", "risk_tier", "value_tier", "action"):
            assert item[col] == batch[col], (item["customer_id"], col)
        assert item["reasons"] == list(batch["reasons"])
    assert [i["customer_id"] for i in resp.json()] == picked


def test_the_data_own_columns_are_model_inputs_and_reasons(
    world: Path, scores: pd.DataFrame
) -> None:
    """The served world's data has three more event types and customer columns (scenario
    own-columns): the model was trained with them and reasons name them."""
    import json

    bundle = json.loads((world / "out" / "model_bundle" / "bundle.json").read_text())
    assert bundle["vocabulary"]["event_types"] == ["product_view", "cart_add", "complaint"]
    columns = [a["column"] for a in bundle["vocabulary"]["attributes"]]
    assert columns == ["region", "age_band", "store_distance_km"]
    reasons = [r for rs in scores["reasons"] for r in rs]
    assert any("product view" in r for r in reasons), reasons[:20]


def test_concurrent_requests_for_one_id_are_scored_apart(server: Server) -> None:
    """Adaptive batching merges concurrent calls; histories must never be pooled."""

    def body(k: int) -> dict:
        tx = [
            {"timestamp": f"2026-0{1 + k}-0{1 + k}T10:00:00", "amount": 10.0 + 50 * k}
            for _ in range(1 + 2 * k)
        ]
        return {
            "customers": [{"customer_id": "same-id", "as_of": "2026-09-30", "transactions": tx}]
        }

    def score(k: int) -> float:
        with server.client() as client:
            resp = client.post("/score", json=body(k))
        assert resp.status_code == 200, resp.text
        return resp.json()[0]["churn_probability"]

    alone = [score(k) for k in range(6)]
    with cf.ThreadPoolExecutor(6) as pool:
        together = list(pool.map(score, range(6)))
    assert together == pytest.approx(alone, rel=1e-12)
    assert len(set(alone)) > 1  # the histories really differ


def test_a_bad_request_among_concurrent_good_ones_fails_alone(server: Server) -> None:
    """A scoring date in year 9999 once crashed the feature code inside a merged batch and
    took every request batched with it down (500): it is refused before it can join one."""
    good = {"customers": [{"customer_id": "g", "as_of": "2026-09-30", "transactions": TX}]}
    bad = {"customers": [{"customer_id": "b", "as_of": "9999-12-31", "transactions": TX}]}

    def post(body: dict) -> int:
        with server.client() as client:
            return client.post("/score", json=body).status_code

    # eight at once: within the /score queue (about 10 s of work), so no 503 either
    for _ in range(3):
        with cf.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, [good] * 3 + [bad] + [good] * 4))
        assert statuses == [200] * 3 + [400] + [200] * 4


def test_segments_totals_equal_the_scored_customers(
    api: httpx.Client, scores: pd.DataFrame, scoring_date: str
) -> None:
    resp = api.get("/segments")
    assert resp.status_code == 200
    data = resp.json()
    assert data["scoring_date"] == scoring_date
    assert data["model_versions"] == {
        "churn_model": scores["churn_model_version"].iloc[0],
        "clv_model": scores["clv_model_version"].iloc[0],
    }
    segs = data["segments"]
    assert sum(s["customers"] for s in segs) == len(scores)
    filled = {s["segment"]: s["customers"] for s in segs if s["customers"]}
    assert filled == scores["segment"].value_counts().to_dict()
    assert len(segs) == 10  # every configured segment (9 cells, no purchase yet), empty ones too
    assert sum(s["value_at_risk"] for s in segs) == pytest.approx(scores["value_at_risk"].sum())
    for s in segs:
        assert s["slug"] == s["segment"].lower().replace(" ", "_")
        if s["segment"] == "No purchase yet":  # known customers without a paid purchase
            assert s["risk_tier"] is None and s["value_tier"] is None
            continue
        assert s["risk_tier"] in {"low", "medium", "high"}
        assert s["value_tier"] in {"low", "medium", "high"}


def test_segment_list_pages_sorted_by_value_at_risk(
    api: httpx.Client, scores: pd.DataFrame
) -> None:
    segment = scores["segment"].value_counts().index[0]  # the largest
    slug = segment.lower().replace(" ", "_")
    order = batch_order(scores, segment)
    resp = api.get(f"/segments/{slug}", params={"page": 2, "page_size": 5})
    assert resp.status_code == 200
    data = resp.json()
    assert (data["segment"], data["page"], data["page_size"]) == (segment, 2, 5)
    assert data["total"] == len(order) and data["pages"] == -(-len(order) // 5)
    assert [c["customer_id"] for c in data["customers"]] == order[5:10]
    var = [c["value_at_risk"] for c in data["customers"]]
    assert var == sorted(var, reverse=True)
    first = api.get(f"/segments/{slug}", params={"page_size": 5}).json()["customers"]
    assert first[-1]["value_at_risk"] >= var[0]
    # by name as well as by slug; a page past the end is empty, not an error
    by_name = api.get(f"/segments/{segment}", params={"page": 2, "page_size": 5}).json()
    assert by_name["customers"] == data["customers"]
    past = api.get(f"/segments/{slug}", params={"page": 10_000}).json()
    assert past["customers"] == [] and past["total"] == len(order)
    # default page size from the settings (100)
    default = api.get(f"/segments/{slug}").json()
    assert default["page_size"] == 100
    assert [c["customer_id"] for c in default["customers"]] == order[:100]


def test_segment_list_as_csv(api: httpx.Client, scores: pd.DataFrame) -> None:
    segment = scores["segment"].value_counts().index[1]
    slug = segment.lower().replace(" ", "_")
    order = batch_order(scores, segment)
    resp = api.get(f"/segments/{segment}", params={"format": "csv", "page_size": 10_000})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == f'attachment; filename="{slug}_page1.csv"'
    table = pd.read_csv(io.StringIO(resp.text), dtype={"customer_id": "str"})
    assert table["customer_id"].tolist() == order
    assert (table["segment"] == segment).all()
    assert table["value_at_risk"].is_monotonic_decreasing
    row = scores.loc[order[0]]
    slots = table.loc[0, ["reason_1", "reason_2", "reason_3"]].fillna("").tolist()
    assert slots == [*row["reasons"], "", "", ""][:3]  # one column per reason, as list files
    assert table["clv"].iloc[0] == round(row["clv"], 2)
    paged = api.get(f"/segments/{slug}", params={"format": "csv", "page": 2, "page_size": 5})
    assert (
        pd.read_csv(io.StringIO(paged.text), dtype={"customer_id": "str"})["customer_id"].tolist()
        == (order[5:10])
    )


def test_model_versions(
    api: httpx.Client, scores: pd.DataFrame, scoring_date: str, world: Path
) -> None:
    from core.catalog import OutputCatalog
    from core.runs import current_run_id

    resp = api.get("/model")
    assert resp.status_code == 200
    data = resp.json()
    assert data["versions"] == {"churn_model": "1", "clv_model": "1"}
    assert data["scores"] == {
        "run": current_run_id(OutputCatalog(world / "out")),
        "scoring_date": scoring_date,
        "model_versions": {"churn_model": "1", "clv_model": "1"},
    }
    assert (scores["churn_model_version"] == "1").all()
    assert data["churn_horizon_days"] == 90 and data["clv_horizon_days"] == 365
    assert data["trained_at"] and data["backtest"]["churn"]
    # which candidate serves and why, and the CLV interval's measured coverage
    assert data["served"]["churn"]["candidate"] in data["backtest"]["churn"]
    assert data["served"]["revenue"]["why"]
    assert 0 < data["clv_interval"]["coverage"] <= 1


def test_health_needs_no_key(server: Server) -> None:
    for path in ("/livez", "/readyz", "/healthz"):
        assert httpx.get(server.url + path, timeout=10).status_code == 200, path


def test_docs_and_openapi_are_reachable_without_key(server: Server) -> None:
    docs = httpx.get(server.url + "/docs", timeout=10)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert httpx.get(server.url + "/static_content/swagger-ui-bundle.js").status_code == 200
    spec = httpx.get(server.url + "/docs.json", timeout=10)
    assert spec.status_code == 200
    doc = spec.json()
    assert doc["openapi"].startswith("3.0")
    for path in ("/score", "/score_customers", "/segments", "/segments/{name}", "/model"):
        assert path in doc["paths"], path
    # OpenAPI 3.0: exclusive bounds are booleans (a number there breaks 3.0 tools)
    text = json.dumps(doc)
    assert not re.search(r'"exclusive(Minimum|Maximum)": -?\d', text)
    page = httpx.get(server.url + "/", timeout=10)
    assert page.status_code == 200 and 'id="grid"' in page.text


# ---- 2. bad input: a clear 4xx in the one JSON shape, never a 5xx ---------------------------


def _customer(**changes: object) -> dict:
    return {
        "customers": [{"customer_id": "c-1", "as_of": "2026-09-30", "transactions": TX} | changes]
    }


def _tx(**changes: object) -> dict:
    return _customer(transactions=[{"timestamp": "2026-06-01T10:00:00", "amount": 25.0} | changes])


BAD_JSON_BODIES = {
    # name: (path, body, expected status)
    "ids as numbers": ("/score_customers", {"customer_ids": [1, 2]}, 400),
    "ids not a list": ("/score_customers", {"customer_ids": "000001"}, 400),
    "id empty": ("/score_customers", {"customer_ids": [""]}, 400),
    "id blank": ("/score_customers", {"customer_ids": ["  "]}, 400),
    "id null": ("/score_customers", {"customer_ids": [None]}, 400),
    "ids missing": ("/score_customers", {}, 400),
    "ids empty list": ("/score_customers", {"customer_ids": []}, 400),
    "extra field score_customers": ("/score_customers", {"customer_ids": ["1"], "x": 1}, 400),
    "body a list": ("/score_customers", ["000001"], 400),
    "customers missing": ("/score", {}, 400),
    "customers empty list": ("/score", {"customers": []}, 400),
    "customers not a list": ("/score", {"customers": {"customer_id": "c"}}, 400),
    "customer id missing": ("/score", {"customers": [{"transactions": TX}]}, 400),
    "customer id a number": ("/score", _customer(customer_id=42), 400),
    "transactions missing": ("/score", {"customers": [{"customer_id": "c"}]}, 400),
    "transactions empty": ("/score", _customer(transactions=[]), 400),
    "amount missing": ("/score", _customer(transactions=[{"timestamp": "2026-06-01"}]), 400),
    "timestamp missing": ("/score", _customer(transactions=[{"amount": 3.0}]), 400),
    "timestamp not a date": ("/score", _tx(timestamp="yesterday"), 400),
    "amount a word": ("/score", _tx(amount="a lot"), 400),
    "amount as text": ("/score", _tx(amount="12.50"), 400),
    "amount a bool": ("/score", _tx(amount=True), 400),
    "amount string NaN": ("/score", _tx(amount="NaN"), 400),
    "amount string Infinity": ("/score", _tx(amount="Infinity"), 400),
    "amount too large": ("/score", _tx(amount=1e15), 400),
    "quantity as text": ("/score", _tx(quantity="2"), 400),
    "as_of not a date": ("/score", _customer(as_of="30/09/2026"), 400),
    "loyalty not a bool": ("/score", _customer(loyalty_member="maybe"), 400),
    "extra field top": ("/score", ONE_CUSTOMER | {"debug": True}, 400),
    "extra field customer": ("/score", _customer(vip=True), 400),
    "extra field transaction": ("/score", _tx(discount=3), 400),
    "extra field event": (
        "/score",
        _customer(events=[{"timestamp": "2026-06-01", "event_type": "visit", "x": 1}]),
        400,
    ),
    "event type missing": ("/score", _customer(events=[{"timestamp": "2026-06-01"}]), 400),
    "event value too large": (
        "/score",
        _customer(
            events=[{"timestamp": "2026-06-01", "event_type": "support_ticket", "value": 1e13}]
        ),
        400,
    ),
    "transaction after as_of": ("/score", _tx(timestamp="2026-10-01T00:00:00"), 400),
    "transaction after as_of (time zone)": (
        "/score",
        _tx(timestamp="2026-09-30T23:30:00-05:00"),
        400,
    ),
    "event after as_of": (
        "/score",
        _customer(events=[{"timestamp": "2026-10-02", "event_type": "visit"}]),
        400,
    ),
    "as_of in year 9999": ("/score", _customer(as_of="9999-12-31"), 400),
    "as_of in 2100": ("/score", _customer(as_of="2100-01-01"), 400),
    "signup in 2099": ("/score", _customer(signup_date="2099-01-01"), 400),
    "transaction in year 1": ("/score", _tx(timestamp="0001-01-01T00:00:00"), 400),
    "transaction in the future (no as_of)": (
        "/score",
        {
            "customers": [
                {"customer_id": "c", "transactions": [{"timestamp": "2999-01-01", "amount": 1}]}
            ]
        },
        400,
    ),
}


@pytest.mark.parametrize("case", list(BAD_JSON_BODIES), ids=list(BAD_JSON_BODIES))
def test_bad_json_body_is_a_clear_400(api: httpx.Client, case: str) -> None:
    path, body, status = BAD_JSON_BODIES[case]
    body = assert_error(api.post(path, json=body), status)
    assert body["detail"], body  # says what is wrong and where
    assert all({"loc", "msg", "type"} <= set(d) for d in body["detail"]), body


RAW_BODIES = {
    "malformed JSON": ("/score_customers", b'{"customer_ids": ["000001"', 400),
    "not JSON at all": ("/score_customers", b"customer_ids=000001", 400),
    "empty body": ("/score_customers", b"", 400),
    "null body": ("/score_customers", b"null", 400),
    "NaN amount": (
        "/score",
        b'{"customers": [{"customer_id": "c", "transactions": [{"timestamp": "2026-06-01", "amount": NaN}]}]}',
        400,
    ),
    "Infinity amount": (
        "/score",
        b'{"customers": [{"customer_id": "c", "transactions": [{"timestamp": "2026-06-01", "amount": Infinity}]}]}',
        400,
    ),
    "-Infinity amount": (
        "/score",
        b'{"customers": [{"customer_id": "c", "transactions": [{"timestamp": "2026-06-01", "amount": -Infinity}]}]}',
        400,
    ),
    "invalid UTF-8": ("/score_customers", b'{"customer_ids": ["\xff\xfe"]}', 400),
    "deep nesting": ("/score_customers", b"[" * 5000 + b"]" * 5000, 400),
}


@pytest.mark.parametrize("case", list(RAW_BODIES), ids=list(RAW_BODIES))
def test_unparseable_body_is_a_clear_400(api: httpx.Client, case: str) -> None:
    path, raw, status = RAW_BODIES[case]
    assert_error(api.post(path, content=raw, headers=JSON_HEADERS), status)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/vnd.bentoml+pickle",
        "application/xml",
    ],
)
def test_body_that_is_not_json_is_a_415(api: httpx.Client, content_type: str) -> None:
    resp = api.post(
        "/score_customers", content=b"customer_ids=1", headers={"content-type": content_type}
    )
    assert_error(resp, 415)


def test_too_many_customers_in_one_call(api: httpx.Client) -> None:
    n = MAX_CUSTOMERS_PER_CALL + 1
    body = assert_error(
        api.post("/score_customers", json={"customer_ids": [f"id{i}" for i in range(n)]}), 400
    )
    assert body["detail"][0]["type"] == "too_long"
    customers = [
        {"customer_id": f"c{i}", "as_of": "2026-09-30", "transactions": TX} for i in range(n)
    ]
    body = assert_error(api.post("/score", json={"customers": customers}), 400)
    assert body["detail"][0]["type"] == "too_long"
    # the limit itself is accepted
    ok = api.post("/score_customers", json={"customer_ids": [f"id{i}" for i in range(n - 1)]})
    assert ok.status_code == 200 and len(ok.json()) == n - 1


def _oversized_json() -> bytes:
    return b'{"customer_ids": ["' + b"x" * (MAX_BODY_BYTES + 10) + b'"]}'


def test_oversized_body_with_content_length_is_a_413(api: httpx.Client) -> None:
    raw = _oversized_json()
    resp = api.post("/score_customers", content=raw, headers=JSON_HEADERS)
    assert resp.request.headers["content-length"] == str(len(raw))
    body = assert_error(resp, 413)
    assert str(MAX_BODY_BYTES) in body["error"]


def test_declared_oversized_body_is_refused_before_it_is_sent(server: Server) -> None:
    # a client announcing too much gets its 413 without sending the body (raw socket: httpx
    # does not send a Content-Length it cannot honour)
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"POST /score_customers HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_KEYS[0]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"content-type: application/json" in head.lower()
    assert set(json.loads(body)) == {"error", "detail"}


def test_a_body_shorter_than_announced_is_a_408_within_seconds(server: Server) -> None:
    # a client that announces 1,000 bytes and sends 20 must not hold a worker for the 60 s
    # request timeout
    host, port = server.url.removeprefix("http://").split(":")
    request = (
        f"POST /score_customers HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_KEYS[0]}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\nConnection: close\r\n\r\n" + '{"customer_ids": ["1"'
    )
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    waited = time.monotonic() - started
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert json.loads(body)["error"] == f"request body not received within {BODY_TIMEOUT_S:g} s"
    assert BODY_TIMEOUT_S <= waited < BODY_TIMEOUT_S + 10


def test_oversized_chunked_body_is_a_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        raw = _oversized_json()
        for start in range(0, len(raw), 1_000_000):
            yield raw[start : start + 1_000_000]

    resp = api.post("/score_customers", content=chunks(), headers=JSON_HEADERS)
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in resp.request.headers
    body = assert_error(resp, 413)
    assert str(MAX_BODY_BYTES) in body["error"]
    # a chunked body under the limit is fine
    small = api.post("/score_customers", content=iter([b'{"customer_ids": ', b'["1"]}']))
    assert small.status_code == 200, small.text


@pytest.mark.parametrize(
    ("method", "path", "params", "status"),
    [
        ("GET", "/segments/no_such_segment", {}, 404),
        ("GET", "/segments/champions", {"page": 0}, 400),
        ("GET", "/segments/champions", {"page": -1}, 400),
        ("GET", "/segments/champions", {"page": "two"}, 400),
        ("GET", "/segments/champions", {"page_size": 0}, 400),
        ("GET", "/segments/champions", {"page_size": 10_001}, 400),
        ("GET", "/segments/champions", {"format": "xml"}, 400),
        ("GET", "/no/such/path", {}, 404),
        ("GET", "/segments/champions/extra", {}, 404),
        ("GET", "/score_customers", {}, 405),
        ("PUT", "/score", {}, 405),
        ("DELETE", "/segments", {}, 405),
        ("POST", "/model", {}, 405),
        ("POST", "/segments/champions", {}, 405),
    ],
)
def test_bad_path_method_or_query(
    api: httpx.Client, method: str, path: str, params: dict, status: int
) -> None:
    body = assert_error(api.request(method, path, params=params), status)
    if path.endswith("no_such_segment"):
        assert "no_such_segment" in body["error"]
    if status == 400:
        assert body["detail"][0]["loc"][0] == "query"


# ---- 3. API keys ---------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/segments", None),
    ("GET", "/segments/champions", None),
    ("GET", "/segments/champions?format=csv", None),
    ("GET", "/model", None),
    ("GET", "/metrics", None),
    ("POST", "/score_customers", {"customer_ids": ["000001"]}),
    ("POST", "/score", ONE_CUSTOMER),
]
WRONG_KEY = "tk-wrong-0f9e8d7c6b5a4321"
BAD_HEADERS = {
    "missing": ({}, "missing API key"),
    "wrong key": ({"Authorization": f"Bearer {WRONG_KEY}"}, "invalid API key"),
    "key with a suffix": ({"Authorization": f"Bearer {API_KEYS[0]}x"}, "invalid API key"),
    "no scheme": ({"Authorization": API_KEYS[0]}, "malformed"),
    "basic scheme": ({"Authorization": "Basic dXNlcjpwYXNz"}, "malformed"),
    "bearer without key": ({"Authorization": "Bearer"}, "malformed"),
    "other header": ({"X-API-Key": API_KEYS[0]}, "missing API key"),
}


@pytest.mark.parametrize("variant", list(BAD_HEADERS), ids=list(BAD_HEADERS))
def test_protected_endpoints_refuse_without_a_valid_key(server: Server, variant: str) -> None:
    headers, message = BAD_HEADERS[variant]
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for method, path, body in PROTECTED:
            resp = client.request(method, path, json=body)
            err = assert_error(resp, 401)
            assert message in err["error"], (path, err)
            assert resp.headers.get("www-authenticate") == "Bearer"
            assert API_KEYS[0] not in resp.text and WRONG_KEY not in resp.text


@pytest.mark.parametrize("key", API_KEYS, ids=["first key", "second key"])
def test_each_configured_key_works(server: Server, key: str) -> None:
    with server.client(key) as client:
        for method, path, body in PROTECTED:
            resp = client.request(method, path, json=body)
            assert resp.status_code == 200, (path, resp.text[:300])
    # the scheme is case-insensitive
    lower = httpx.get(f"{server.url}/model", headers={"Authorization": f"bearer {key}"})
    assert lower.status_code == 200


LEAK_IDS = ("leakcheck-id-71a3", "leakcheck-id-82b4", "leakcheck-id-93c5", "leakcheck-id-a4d6")


def test_no_key_and_no_customer_id_in_the_server_log(server: Server) -> None:
    # requests carrying keys and customer ids: accepted and refused ones
    with server.client(API_KEYS[0]) as one, server.client(API_KEYS[1]) as two:
        assert one.post("/score_customers", json={"customer_ids": [LEAK_IDS[0]]}).is_success
        history = {"customer_id": LEAK_IDS[1], "as_of": "2026-09-30", "transactions": TX}
        assert two.post("/score", json={"customers": [history]}).is_success
        # validation errors quote the input in pydantic's text: it must not reach the log
        future = {"customer_id": LEAK_IDS[2], "as_of": "2026-01-01", "transactions": TX}
        assert one.post("/score", json={"customers": [future]}).status_code == 400
        truncated = b'{"customer_ids": ["' + LEAK_IDS[3].encode() + b'", 5'
        assert (
            one.post("/score_customers", content=truncated, headers=JSON_HEADERS).status_code == 400
        )
        assert (
            one.post("/score_customers", json={"customer_ids": [LEAK_IDS[3], 5]}).status_code == 400
        )
        assert one.post("/score", json=_customer(customer_id=LEAK_IDS[3], x=1)).status_code == 400
    wrong = httpx.get(f"{server.url}/segments", headers={"Authorization": f"Bearer {WRONG_KEY}"})
    assert wrong.status_code == 401
    # wait until the last request is in the log (the access line of a sentinel path)
    sentinel = "/segments/log_sentinel_" + str(time.monotonic_ns())
    with server.client() as client:
        assert client.get(sentinel).status_code == 404
    deadline = time.monotonic() + 15
    while sentinel not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log_text()
    assert sentinel in log, "the server log does not record requests"
    assert "refused (400)" in log and "401 GET /segments: invalid API key" in log
    for secret in (*API_KEYS, WRONG_KEY, *LEAK_IDS):
        assert secret not in log, f"{secret!r} appears in the server log"
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]


def test_serve_refuses_to_start_without_a_key(world: Path) -> None:
    proc = run_cli(
        "serve",
        "--config",
        "config.yaml",
        "--port",
        str(free_port()),
        cwd=world,
        env=server_env(world, keys=None),
        timeout=120,
    )
    assert proc.returncode != 0
    assert "no API key configured" in proc.stderr, proc.stderr[-2000:]
    assert "--insecure-local" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_insecure_local_serves_without_a_key(world: Path, server: Server) -> None:
    log = world / "insecure.log"
    with running_server(world, log, None, "--insecure-local") as local:
        assert local.url != server.url
        resp = httpx.get(f"{local.url}/segments", timeout=30)
        assert resp.status_code == 200, resp.text
        assert sum(s["customers"] for s in resp.json()["segments"]) > 0
        pgid = local.proc.pid
    assert local.proc.poll() is not None
    assert not group_alive(pgid), "a process of the stopped server survived"


# ---- 4. schemathesis over the OpenAPI document --------------------------------------------

SCHEMATHESIS_CONFIG = """\
# fixed segment name: the fuzzing reaches the paging code instead of 404s
[parameters]
"path.name" = "champions"
"""


def test_schemathesis_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{server.url}/docs.json",
        "--url",
        server.url,
        "--header",
        f"Authorization: Bearer {API_KEYS[0]}",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "50",
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert "No issues found" in out, out[-8000:]
    assert API_KEYS[0] not in out  # schemathesis masks the Authorization header


def test_the_api_words_problems_as_the_rejects_file_does(api: httpx.Client) -> None:
    """A number sent as text, a value beyond the limits: the same reason as a rejected file row."""
    for amount, why in (
        ("12.50", "non-numeric amount: '12.50'"),
        (2e9, "amount out of range (beyond +-1e+09)"),
    ):
        resp = api.post("/score", json=_tx(amount=amount))
        assert resp.status_code == 400
        assert [d["msg"] for d in resp.json()["detail"]] == [why]


def test_a_refund_is_netted_as_the_file_loader_nets_it(api: httpx.Client) -> None:
    tx = [
        {"timestamp": "2026-05-01T10:00:00", "amount": 100.0},
        {"timestamp": "2026-06-01T10:00:00", "amount": 60.0},
    ]
    refund = {"timestamp": "2026-06-03T10:00:00", "amount": -60.0}
    plain, returned = (
        api.post("/score", json=_customer(transactions=rows)).json()[0]
        for rows in (tx, [*tx, refund])
    )
    assert plain["status"] == returned["status"] == "ok"
    assert returned["clv"] != plain["clv"]  # the refund lowers what the customer is worth
