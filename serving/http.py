"""HTTP concerns of the API: API keys, body-size limit, one JSON error shape.

Every error response has the shape BentoML uses for validation errors:
``{"error": "<message>", "detail": <list of problems or null>}``.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import logging
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api_models import MAX_BODY_BYTES
from serving.service_config import ServiceConfig

logger = logging.getLogger("churnclv.api")
# BentoML logs every failed request here with its traceback; for a pydantic ValidationError
# that traceback quotes the request body (customer ids, amounts): see _QuietValidationErrors
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"

# no customer data behind these: health, readiness, the page shell and the API documentation
PUBLIC_PATHS = frozenset(
    {"/livez", "/readyz", "/healthz", "/", "/docs", "/docs.json", "/favicon.ico"}
)
PUBLIC_PREFIXES = ("/static_content/", "/static/")
JSON_MEDIA = b"application/json"


class _QuietValidationErrors(logging.Filter):
    """Log a request refused by validation as one line without the offending input values.

    BentoML logs a refused request body at ERROR level with the pydantic error text, which
    includes ``input_value=...``: customer ids and other body content would end up in the
    server log. Validation errors are the client's, answered with a 400; the log keeps the
    method, path, error count and error types, never the values or field names.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, ValidationError):
            return True
        try:
            found = exc.errors(include_input=False, include_context=False)
        except Exception:  # noqa: BLE001 - logging must never fail
            found = []
        # error types only: a location can quote the body too (a key of an extra field)
        kinds = ", ".join(sorted({str(e.get("type")) for e in found})) or "invalid body"
        path, method = (
            record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", "?")
        )
        record.msg = "%s %s refused (400): %d validation error(s): %s"
        record.args = (method, path, len(found), kinds)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def install_log_filter() -> None:
    """Attach the validation-error filter once (idempotent)."""
    target = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, _QuietValidationErrors) for f in target.filters):
        target.addFilter(_QuietValidationErrors())


def error_payload(message: str, detail: object = None) -> dict[str, object]:
    """The one error shape of every response of the API."""
    return {"error": message, "detail": detail}


# pydantic's prefixes of errors raised by validators: the message is the validator's own
_MSG_PREFIXES = ("Value error, ", "Assertion failed, ")
# BentoML's message for a request body that failed validation names the pydantic model
_BENTOML_VALIDATION = re.compile(r"^\d+ validation errors? for \w+$")


def validation_detail(errors: Iterable[Mapping[str, Any]], where: str | None = None) -> list:
    """Validation errors as the API reports them: ``loc`` (``where`` first when given), ``msg``
    and ``type`` only; never the input, pydantic's context or its documentation URLs."""
    out = []
    for e in errors:
        msg = str(e.get("msg", ""))
        for prefix in _MSG_PREFIXES:
            msg = msg.removeprefix(prefix)
        loc = [*([where] if where else []), *(e.get("loc") or ())]
        out.append({"loc": loc, "msg": msg, "type": str(e.get("type", ""))})
    return out


def clean_validation_error(raw: bytes) -> bytes:
    """BentoML's answer to a body that failed validation (``"N validation errors for
    ScoreRequest"``, a detail with pydantic's URLs) in the API's words: ``invalid request``
    and :func:`validation_detail` with ``loc`` starting at ``body``. Other bodies unchanged."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    if not (
        isinstance(data, dict)
        and isinstance(data.get("error"), str)
        and _BENTOML_VALIDATION.match(data["error"])
        and isinstance(data.get("detail"), list)
    ):
        return raw
    found = [e for e in data["detail"] if isinstance(e, dict)]
    return error_body("invalid request", validation_detail(found, "body"))


def error_body(message: str, detail: object = None) -> bytes:
    """:func:`error_payload` as JSON bytes."""
    return json.dumps(error_payload(message, detail)).encode()


async def send_error(send: Send, status: int, message: str, headers: list | None = None) -> None:
    body = error_body(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ApiGuard:
    """ASGI middleware: API key check, body limit, JSON bodies for every error response.

    Keys are compared in constant time (``hmac.compare_digest``) against every configured key.
    Rejections are logged with method, path and reason, never the key or any body content.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        config = ServiceConfig.from_env()
        self.keys = [k.encode() for k in config.api_keys()]  # NoApiKeyError without any
        self.insecure = config.insecure_local
        install_log_filter()

    def _authorised(self, scope: Scope) -> tuple[bool, str]:
        if self.insecure and not self.keys:
            return True, ""
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if not header:
            return False, "missing API key"
        if scheme.lower() != b"bearer" or not token:
            return False, "malformed Authorization header (expected 'Bearer <key>')"
        ok = False
        for key in self.keys:  # no early exit: timing does not reveal which key matched
            ok |= hmac.compare_digest(token.strip(), key)
        return ok, "" if ok else "invalid API key"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            ok, why = self._authorised(scope)
            if not ok:
                logger.warning("401 %s %s: %s", scope.get("method"), path, why)
                await send_error(send, 401, why, [(b"www-authenticate", b"Bearer")])
                return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await send_error(send, 413, f"request body over the limit of {MAX_BODY_BYTES} bytes")
            return
        # the API takes JSON only; BentoML would also parse form and multipart bodies (and
        # answer a malformed multipart body with a 500). No content type means JSON.
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope.get("method") in ("POST", "PUT", "PATCH") and media not in (b"", JSON_MEDIA):
            await send_error(send, 415, "unsupported media type: send application/json")
            return
        body = {"over_limit": False, "timed_out": False}
        await self.app(scope, _limited(receive, body), _json_errors(send, body))


BODY_TIMEOUT_S = 5.0
"""A request body must arrive within this many seconds (per chunk): a client that announces
more than it sends cannot hold a worker for the whole request timeout (answered 408)."""
RETRY_AFTER_S = 1
"""The Retry-After of a 503 (the service is busy: retry shortly)."""


def _limited(receive: Receive, body: dict[str, bool]) -> Receive:
    """Count streamed body bytes (chunked uploads have no Content-Length) and give up on a
    body that stops arriving."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        try:
            message = await asyncio.wait_for(receive(), BODY_TIMEOUT_S)
        except TimeoutError:
            # as for an oversized body: the app sees an empty final chunk, its error becomes
            # a 408 in _json_errors
            body["timed_out"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                # an empty, final body makes the app see truncated JSON (never a 500); the
                # error it answers with is then replaced by a 413 in _json_errors
                body["over_limit"] = True
                return {"type": "http.request", "body": b"", "more_body": False}
        return message

    return wrapped


def _is_error_shape(raw: bytes) -> bool:
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and set(data) == {"error", "detail"}


def _json_errors(send: Send, body: dict[str, bool]) -> Send:
    """Give every error response the one JSON error shape.

    Plain-text errors (Starlette's 404, 405, ...) and JSON errors of other shapes (FastAPI's
    ``{"detail": ...}``, BentoML's ``[{"error": ...}]`` for a 415) are replaced, keeping the
    status and headers such as Allow; a body cut off at the size limit becomes a 413.
    """
    state: dict[str, object] = {}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            if body["over_limit"] and status >= 400:
                status = 413
            elif body["timed_out"] and status >= 400:
                status = 408
            if status >= 400:
                state["start"] = {**message, "status": status}
                state["chunks"] = []
                return
            await send(message)
            return
        if message["type"] == "http.response.body" and "start" in state:
            chunks: list[bytes] = state["chunks"]  # type: ignore[assignment]
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            start: dict = state.pop("start")  # type: ignore[assignment]
            raw = b"".join(chunks)
            status = start["status"]
            if status not in (413, 408, 503) and _is_error_shape(raw):
                if status == 400:
                    raw = clean_validation_error(raw)
                    start["headers"] = [
                        (k, str(len(raw)).encode() if k.lower() == b"content-length" else v)
                        for k, v in start.get("headers") or []
                    ]
                await send(start)
                await send({"type": "http.response.body", "body": raw})
                return
            message_text = {
                413: f"request body over the limit of {MAX_BODY_BYTES} bytes",
                408: f"request body not received within {BODY_TIMEOUT_S:g} s",
                503: f"the service is busy: retry after {RETRY_AFTER_S} s",
            }.get(status, HTTPStatus(status).phrase.lower())
            keep = [
                (k, v)
                for k, v in start.get("headers") or []
                if k.lower() not in (b"content-type", b"content-length", b"retry-after")
            ]
            if status == 503:
                keep.append((b"retry-after", str(RETRY_AFTER_S).encode()))
            await send_error(send, status, message_text, keep)
            return
        await send(message)

    return wrapped


async def _timeout_call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """BentoML 1.4's ``TimeoutMiddleware.__call__`` with two changes (see the installer)."""
    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    # an empty context: the timer must not keep the request's context variables alive
    timer = loop.call_later(
        self.timeout, self._set_timer_out, waiter, context=contextvars.Context()
    )

    async def _send(message: Message) -> None:
        if not waiter.done():
            waiter.set_result(None)
            timer.cancel()  # the response has started: release the timer now
        await send(message)

    fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
    try:
        await waiter
    except TimeoutError:
        if fut.cancel():
            await send_error(send, 504, f"the request took longer than {self.timeout:g} s")
    else:
        await fut
    finally:
        timer.cancel()


def install_request_timeout_fix() -> None:
    """Make BentoML's request-timeout middleware release its timer when a response starts.

    BentoML 1.4.39 arms a timer per request (``traffic.timeout``, 60 s by default) and never
    cancels it; the timer holds a copy of the request's context variables (tracing span,
    request state), about 60 objects per request. Under sustained load (bench/bench_service.py,
    1,400 requests/s) that kept ~800k objects alive, and every full garbage collection had to
    walk them: 200-400 ms pauses and a p99 latency over 100 ms. This replaces its ``__call__``
    (same behaviour, same timeout) with one whose timer carries an empty context and is
    cancelled as soon as the response starts; the 504 it sends has the API's error shape.
    Called from the service's ``__init__``, before any request; idempotent.
    """
    from bentoml._internal.server.http import traffic

    middleware = getattr(traffic, "TimeoutMiddleware", None)
    if middleware is None or not hasattr(middleware, "_set_timer_out"):
        # another BentoML than the pinned one: keep its own middleware rather than guess
        logging.getLogger(__name__).warning(
            "BentoML's TimeoutMiddleware is not the one this fix was written for; not patched"
        )
        return
    middleware.__call__ = _timeout_call  # type: ignore[method-assign]
