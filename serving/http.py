"""HTTP concerns of the API: API keys, body-size limit, one JSON error shape.

Every error response has the shape BentoML uses for validation errors:
``{"error": "<message>", "detail": <list of problems or null>}``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from http import HTTPStatus
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.api_models import MAX_BODY_BYTES

logger = logging.getLogger("churnclv.api")

KEYS_ENV = "CHURNCLV_API_KEYS"
KEYS_FILE_ENV = "CHURNCLV_API_KEYS_FILE"
INSECURE_ENV = "CHURNCLV_INSECURE_LOCAL"
# no customer data behind these: health, readiness, the page shell and the API documentation
PUBLIC_PATHS = frozenset(
    {"/livez", "/readyz", "/healthz", "/", "/docs", "/docs.json", "/favicon.ico"}
)
PUBLIC_PREFIXES = ("/static_content/", "/static/")


class NoApiKeyError(RuntimeError):
    """No API key is configured and insecure local mode was not asked for."""


def load_api_keys(keys_file: Path | None = None) -> list[str]:
    """Keys from CHURNCLV_API_KEYS (comma-separated) and a file (one per line, # comments)."""
    keys = [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
    path = keys_file or (Path(os.environ[KEYS_FILE_ENV]) if os.environ.get(KEYS_FILE_ENV) else None)
    if path is not None:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise NoApiKeyError(f"cannot read API key file {path}: {exc.strerror}") from exc
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return keys


def error_body(message: str, detail: object = None) -> bytes:
    return json.dumps({"error": message, "detail": detail}).encode()


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
        self.keys = [k.encode() for k in load_api_keys()]
        self.insecure = os.environ.get(INSECURE_ENV) == "1"
        if not self.keys and not self.insecure:
            raise NoApiKeyError(
                f"no API key configured: set {KEYS_ENV} or a key file, or start with "
                "--insecure-local for a local trial"
            )

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
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            await send_error(send, 413, f"request body over the limit of {MAX_BODY_BYTES} bytes")
            return
        await self.app(scope, _limited(receive), _json_errors(send))


def _limited(receive: Receive) -> Receive:
    """Count streamed body bytes (chunked uploads have no Content-Length)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                # an empty, final body makes the app see truncated JSON: a 400, never a 500
                return {"type": "http.request", "body": b"", "more_body": False}
        return message

    return wrapped


def _json_errors(send: Send) -> Send:
    """Turn plain-text error responses (404, 405, ...) into the JSON error shape."""
    state: dict[str, object] = {}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = dict(message.get("headers") or [])
            is_json = headers.get(b"content-type", b"").startswith(b"application/json")
            if status >= 400 and not is_json:
                state["replace"] = status
                return
            await send(message)
            return
        if message["type"] == "http.response.body" and "replace" in state:
            if message.get("more_body"):
                return
            status = int(state.pop("replace"))  # type: ignore[arg-type]
            await send_error(send, status, HTTPStatus(status).phrase.lower())
            return
        await send(message)

    return wrapped
