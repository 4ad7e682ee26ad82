"""The BentoML prediction service and the segment page (`churnclv serve` starts it).

Started by ``bentoml serve serving.service:ChurnCLV``; configured by what ``churnclv serve``
hands over (:class:`serving.service_config.ServiceConfig`, read once). The scoring path is serving.score_customers
only; POST /score builds features with the same feature code as the batch run.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import bentoml
from bentoml.exceptions import ServiceUnavailable
from fastapi import FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ConfigDict, Field

from features.compiled import CompiledFeatures
from serving.api_models import MAX_CUSTOMERS_PER_CALL, CustomerId, CustomerIn
from serving.batch import segment_slug
from serving.batching import Batcher, Busy
from serving.follow import ChampionWatch, ServedModels
from serving.http import ApiGuard, error_payload, install_request_timeout_fix, validation_detail
from serving.openapi import api_document, openapi30

STATIC = Path(__file__).with_name("static")
logger = logging.getLogger("churnclv.service")
# POST /score calls are merged into runs of at most this many customers (serving.batching):
# >= MAX_CUSTOMERS_PER_CALL so no call is split; 5000 scored more customers/s than 1000 when
# /score was overloaded (larger batches share the feature build).
BATCH_MAX_SIZE = 5000

web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@web.exception_handler(HTTPException)
async def _http_error(_request, exc: HTTPException) -> JSONResponse:  # noqa: ANN001
    return JSONResponse(error_payload(str(exc.detail)), status_code=exc.status_code)


@web.exception_handler(RequestValidationError)
async def _validation_error(_request, exc: RequestValidationError) -> JSONResponse:  # noqa: ANN001
    return JSONResponse(
        error_payload("invalid request", validation_detail(exc.errors())), status_code=400
    )


class _JsonBody(bentoml.IODescriptor):
    """A request body: unknown fields are refused (400); schema written for OpenAPI 3.0."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(cls, *args: object, **kwargs: object) -> dict:
        return openapi30(super().model_json_schema(*args, **kwargs))  # type: ignore[return-value]


class ScoreCustomersRequest(_JsonBody):
    """Body of POST /score_customers; unknown top-level fields are refused (400)."""

    customer_ids: Annotated[
        list[CustomerId], Field(min_length=1, max_length=MAX_CUSTOMERS_PER_CALL)
    ]


class ScoreRequest(_JsonBody):
    """Body of POST /score; unknown top-level fields are refused (400)."""

    customers: Annotated[list[CustomerIn], Field(min_length=1, max_length=MAX_CUSTOMERS_PER_CALL)]


REQUEST_TIMEOUT_S = 60
"""BentoML's traffic timeout: a request still running after it gets a 504 (BentoML's default).
Its timers are released when a response starts (serving.http.install_request_timeout_fix), so
the length no longer costs memory or garbage-collection time under load."""


@bentoml.service(name="churnclv", traffic={"timeout": REQUEST_TIMEOUT_S})
@bentoml.asgi_app(web, path="/")
class ChurnCLV:
    """Scores customers with the champion models; serves segment lists and the page."""

    def __init__(self) -> None:
        from serving.latest import LatestScores
        from serving.model_store import load_from_bentoml
        from serving.service_config import ServiceConfig

        config = ServiceConfig.from_env()
        self.settings = config.settings()
        self.catalog = config.catalog(self.settings)
        self.models = ServedModels(*load_from_bentoml(config.model_tag))
        self.latest = LatestScores(self.catalog, self.settings.segments)
        self._reloading = threading.Lock()
        self.page_html = (STATIC / "index.html").read_text()
        self._openapi: dict | None = None
        self.features = CompiledFeatures()  # the feature SQL compiled once per cutoff day
        self._score_history([_warmup_customer()])  # load the feature engine before traffic
        self.batcher = Batcher(self._score_history, BATCH_MAX_SIZE)
        # Garbage collection under load (bench/bench_service.py): BentoML's timeout middleware
        # kept each request's context alive for the whole traffic timeout, so full collections
        # walked ~800k objects (200-400 ms pauses); the fix releases them when the response
        # starts. Freezing takes what was loaded above (libraries, scores) out of every
        # collection.
        install_request_timeout_fix()
        self._champion = ChampionWatch(self.settings.mlflow_tracking_uri)
        if self.settings.serving.reload_interval_s:
            # the follower's first check imports MLflow's client: done here, so that its
            # objects are frozen below instead of lengthening every full collection under
            # load (70 ms pauses in bench/bench_service.py)
            self._champion.versions()
        gc.freeze()
        if self.settings.serving.reload_interval_s:
            threading.Thread(target=self._follow, name="churnclv-follow", daemon=True).start()

    # ---- following new score runs and champions ---------------------------------------
    def _follow(self) -> None:
        """Check for a new score run or champion every ``serving.reload_interval_s``."""
        while True:
            time.sleep(self.settings.serving.reload_interval_s)
            try:
                self.reload(fresh=False)
            except Exception:  # noqa: BLE001 - keep serving what is loaded; try again later
                logger.exception("reload failed; still serving the previous scores and models")

    def reload(self, fresh: bool = True) -> list[str]:
        """Switch to the output folder's published score run and the registry's champion
        where they differ from what is served; returns what changed. ``fresh=False`` (the
        timer): the registry is read only when its store changed (:class:`ChampionWatch`).

        The new scores or models are loaded beside the served ones and then swapped in one
        assignment: requests in flight finish with what they started with, none is dropped.
        """
        from core.runs import current_run_id
        from serving.follow import load_champion
        from serving.latest import LatestScores

        changed = []
        with self._reloading:  # the timer and POST /admin/reload never load twice at once
            run = current_run_id(self.catalog)
            if run is not None and run != self.latest.run_id:
                self.latest = LatestScores(self.catalog, self.settings.segments)
                changed.append(f"scores of run {self.latest.run_id}")
            champion = self._champion.versions(fresh)
            if champion is not None and champion != self.models.versions:
                self.models = load_champion(self.settings.mlflow_tracking_uri)
                changed.append(
                    "models churn_model v{churn_model} and clv_model v{clv_model}".format(
                        **self.models.versions
                    )
                )
        for what in changed:
            logger.info("now serving %s", what)
        return changed

    @web.post("/admin/reload")
    def admin_reload(self) -> dict:
        """Switch now to the latest score run and champion (the service also checks every
        ``serving.reload_interval_s`` seconds); says what changed and what is served."""
        changed = self.reload()
        return {"changed": changed, **self._serving()}

    def _serving(self) -> dict:
        """Which score run and model versions are served."""
        return {
            "scores_run": self.latest.run_id,
            "scoring_date": self.latest.scoring_date,
            "scores_model_versions": self.latest.versions,
            "model_versions": self.models.versions,
        }

    # ---- scoring -----------------------------------------------------------------------
    @bentoml.api(input_spec=ScoreCustomersRequest)
    async def score_customers(
        self,
        customer_ids: Annotated[
            list[CustomerId], Field(min_length=1, max_length=MAX_CUSTOMERS_PER_CALL)
        ],
    ) -> list[dict]:
        """Latest batch scores of known customers; unknown ids come back as unknown_customer."""
        # The JSON of `self.latest.lookup(customer_ids)`, joined from records encoded once at
        # start-up: BentoML would validate and serialise the dicts again on every call (most of
        # the cost of a 100-id call). Not batched: a dictionary lookup gains nothing from it.
        body = self.latest.lookup_json(customer_ids)
        return Response(body, media_type="application/json")

    @bentoml.api(input_spec=ScoreRequest)
    async def score(
        self,
        customers: Annotated[
            list[CustomerIn], Field(min_length=1, max_length=MAX_CUSTOMERS_PER_CALL)
        ],
    ) -> list[dict]:
        """Score customers from their raw history, with the batch run's feature code."""
        try:
            records = await self.batcher.submit(customers)
        except Busy as exc:
            raise ServiceUnavailable(str(exc)) from None
        # the JSON written here, as for /score_customers: BentoML's serialisation of a
        # list[dict] derives the response model's JSON schema again on every call (a tenth of
        # the service's time at 8 one-customer connections, bench/bench_service.py)
        return Response(json.dumps(records), media_type="application/json")

    def _score_history(self, customers: list[CustomerIn]) -> list[dict]:
        from features.subscriptions import uses_subscriptions
        from features.vocabulary import Vocabulary
        from serving.api_models import arrow_from_customers
        from serving.batching import score_apart
        from serving.latest import api_record
        from serving.score import score_customers

        today = dt.datetime.now(dt.UTC).date()
        groups: dict[dt.date, list[int]] = {}
        for i, c in enumerate(customers):
            groups.setdefault(c.as_of or today, []).append(i)

        def score_group(idx: Sequence[int]) -> list[dict]:
            as_of = customers[idx[0]].as_of or today
            # the batcher merges concurrent requests into one call, and one request may
            # repeat an id: each entry gets its own internal id so that histories of different
            # entries are never pooled into one customer (scores do not depend on the id)
            part = [customers[i].model_copy(update={"customer_id": f"#{i}"}) for i in idx]
            models = self.models  # one pair for the whole group, even if a reload swaps it
            tables = arrow_from_customers(part, uses_subscriptions(models.bundle.spec.columns))
            vocabulary = Vocabulary.from_dict(models.bundle.vocabulary)
            feats = self.features.build(tables, as_of, vocabulary)
            feats = feats.set_index("customer_id", drop=False)
            scored = score_customers(
                feats.loc[[c.customer_id for c in part]].reset_index(drop=True),
                models.bundle,
                self.settings.segments,
                scoring_date=as_of,
                model_versions=models.versions,
                currency=self.settings.currency,
            )
            records = []
            for i, rec in zip(idx, scored.to_dict("records"), strict=True):
                rec["customer_id"] = customers[i].customer_id
                records.append(api_record(rec))
            return records

        # one entry that fails cannot fail the other requests batched with it
        out = score_apart(groups, score_group, [c.customer_id for c in customers])
        return [out[i] for i in range(len(customers))]

    # ---- segments, model, page ---------------------------------------------------------
    @web.get("/segments")
    def segments(self) -> dict:
        """Segment names, sizes, expected revenue and value at risk of the last batch run, with
        the currency of the amounts and the horizons they are over."""
        latest, bundle = self.latest, self.models.bundle
        return {
            "scoring_date": latest.scoring_date,
            "scores_run": latest.run_id,
            "model_versions": latest.versions,
            "currency": self.settings.currency,
            "churn_horizon_days": bundle.churn_horizon_days,
            "clv_horizon_days": bundle.clv_horizon_days,
            "segments": latest.segments(),
        }

    @web.get("/segments/{name}")
    def segment_list(
        self,
        name: str,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int | None, Query(ge=1, le=10_000)] = None,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",  # noqa: A002
    ) -> Response:
        """One segment's customers, highest value at risk first, paged; JSON or CSV."""
        latest = self.latest  # one run for the whole answer, even if a reload swaps it
        segment = latest.segment_name(name)
        if segment is None:
            raise HTTPException(404, f"unknown segment '{name}'")
        rows = latest.segment_rows(segment)
        size = page_size or self.settings.serving.page_size
        chunk = rows.iloc[(page - 1) * size : page * size]
        if format == "csv":
            from serving.batch import list_csv_text

            slug = segment_slug(segment)
            return Response(
                list_csv_text(chunk),  # as the list files: rounded, reason_1..3
                media_type="text/csv",
                headers={"content-disposition": f'attachment; filename="{slug}_page{page}.csv"'},
            )
        from serving.latest import api_record

        items = [
            {k: v for k, v in api_record(r).items() if k != "status"}
            for r in chunk.to_dict("records")
        ]
        return JSONResponse(
            {
                "segment": segment,
                "page": page,
                "page_size": size,
                "total": len(rows),
                "pages": max(1, -(-len(rows) // size)),
                "customers": items,
            }
        )

    @web.get("/model")
    def model(self) -> dict:
        """Model versions, training date, data summary and backtest metrics."""
        models, latest = self.models, self.latest
        meta = models.bundle.meta
        return {
            "versions": models.versions,
            "trained_at": meta.get("trained_at"),
            "churn_horizon_days": models.bundle.churn_horizon_days,
            "clv_horizon_days": models.bundle.clv_horizon_days,
            "data": meta.get("data"),
            "served": meta.get("served"),
            "backtest": meta.get("backtest"),
            "clv_check": meta.get("clv_check"),
            "clv_interval": meta.get("clv_interval"),
            "scores": {
                "run": latest.run_id,
                "scoring_date": latest.scoring_date,
                "model_versions": latest.versions,
            },
        }

    @web.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(self) -> HTMLResponse:
        """The segment page for marketing (plain HTML/JS; data comes from the API with a key)."""
        return HTMLResponse(self.page_html)

    @web.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(self) -> HTMLResponse:
        """Swagger UI over the service's OpenAPI document (/docs.json), from local assets."""
        return HTMLResponse((STATIC / "docs.html").read_text())

    @web.get("/docs.json", include_in_schema=False)
    def openapi_document(self) -> JSONResponse:
        """The OpenAPI document (serving.openapi), made once; answered before BentoML's own
        /docs.json, which the mounted app's routes come before."""
        if self._openapi is None:
            self._openapi = api_document(
                ChurnCLV.openapi_spec.asdict(), request_timeout_s=REQUEST_TIMEOUT_S
            )
        return JSONResponse(self._openapi)


ChurnCLV.add_asgi_middleware(ApiGuard)


def _warmup_customer() -> CustomerIn:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return CustomerIn(
        customer_id="warmup",
        transactions=[
            {"timestamp": now - dt.timedelta(days=40), "amount": 10.0},
            {"timestamp": now, "amount": 5.0},
        ],
    )
