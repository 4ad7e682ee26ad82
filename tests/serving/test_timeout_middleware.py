"""The fix to BentoML's request-timeout middleware: same timeout, nothing kept alive after."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import weakref

from bentoml._internal.server.http.traffic import TimeoutMiddleware

from serving.http import install_request_timeout_fix

REQUEST_STATE: contextvars.ContextVar[object] = contextvars.ContextVar("request_state")


class State:
    """Stands for what a request puts in its context (tracing span, request objects)."""


def call(app, timeout: float) -> tuple[list[dict], weakref.ref | None]:  # noqa: ANN001
    """Run one HTTP request through the middleware; return the messages sent and a weak
    reference to the request's state, checked while the event loop is still running."""
    install_request_timeout_fix()
    sent: list[dict] = []
    ref: list[weakref.ref] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def main() -> bool:
        async def request() -> None:  # a task of its own, as the ASGI server runs each request
            state = State()
            ref.append(weakref.ref(state))
            REQUEST_STATE.set(state)
            del state
            await TimeoutMiddleware(app, timeout=timeout)({"type": "http"}, receive, send)

        await asyncio.create_task(request())
        await asyncio.sleep(0)  # one loop turn: the task's done-callbacks let go of it
        gc.collect()
        return ref[0]() is None  # freed while the loop (and any timer) is still alive

    freed = asyncio.run(main())
    return sent, freed


async def fast_app(scope, receive, send) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def slow_app(scope, receive, send) -> None:  # noqa: ANN001
    await asyncio.sleep(5)
    await fast_app(scope, receive, send)


def test_a_finished_request_keeps_nothing_alive_until_the_timeout() -> None:
    sent, freed = call(fast_app, timeout=60)
    assert sent[0]["status"] == 200
    assert freed  # BentoML's own middleware keeps the request context for 60 s


def test_a_slow_request_still_gets_504_in_the_api_error_shape() -> None:
    sent, _ = call(slow_app, timeout=0.05)
    assert sent[0]["status"] == 504
    body = json.loads(sent[1]["body"])
    assert body == {"error": "the request took longer than 0.05 s", "detail": None}


def test_a_503_says_when_to_retry_in_the_error_shape() -> None:
    """Load shed by the batching dispatcher (a 503 of any shape) reaches the client in the API's
    error shape with a Retry-After."""
    from serving.http import RETRY_AFTER_S, _json_errors

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def main() -> None:
        wrapped = _json_errors(send, {"over_limit": False, "timed_out": False})
        await wrapped({"type": "http.response.start", "status": 503, "headers": []})
        await wrapped({"type": "http.response.body", "body": b'[{"error": "busy"}]'})

    asyncio.run(main())
    start, body = sent
    assert start["status"] == 503
    assert (b"retry-after", str(RETRY_AFTER_S).encode()) in start["headers"]
    assert json.loads(body["body"]) == {
        "error": f"the service is busy: retry after {RETRY_AFTER_S} s",
        "detail": None,
    }
