"""The API documentation page (/docs) in a real headless Chromium, offline.

Every request that does not go to the service on the loopback address is blocked: the page
must load, show the product and work with nothing from elsewhere. "Authorize" with an API key,
then "Try it out" on GET /segments, sends the key as a bearer token and gets a 200.
"""

from __future__ import annotations

import importlib.metadata
from urllib.parse import urlparse

import pytest

from tests.serving.conftest import API_KEYS, HOST, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_docs_page_offline_authorize_and_try_it_out(browser, server: Server) -> None:  # noqa: ANN001
    from playwright.sync_api import Route, expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def loopback_only(route: Route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname == HOST:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    bad_status: list[str] = []
    api_calls: list[tuple[str, str | None]] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on(
        "response", lambda r: bad_status.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.on(
        "request",
        lambda r: (
            api_calls.append((r.url, r.headers.get("authorization")))
            if urlparse(r.url).path == "/segments"
            else None
        ),
    )

    page.goto(server.url + "/docs")
    title = page.locator(".information-container .info .title")
    expect(title).to_contain_text("churnclv")
    expect(title.locator("pre.version").first).to_have_text(importlib.metadata.version("churnclv"))
    expect(page.locator(".information-container .description")).to_contain_text("Bearer")
    for path in ("/score", "/score_customers", "/segments", "/segments/{name}", "/model"):
        expect(page.locator(f'.opblock-summary-path[data-path="{path}"]')).to_have_count(1)
    assert "BentoML" not in page.locator("#swagger-ui").inner_text()

    # Authorize with a test key
    page.locator(".auth-wrapper button.authorize").click()
    page.fill("#auth-bearer-value", API_KEYS[0])
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.locator(".auth-btn-wrapper button.btn-done").click()

    # Try it out: GET /segments
    op = page.locator("#operations-segments-segments")
    op.locator(".opblock-summary").first.click()
    op.locator("button.try-out__btn").click()
    op.locator("button.execute").click()
    expect(op.locator(".live-responses-table tr.response .response-col_status").first).to_have_text(
        "200"
    )
    expect(
        op.locator(".live-responses-table tr.response .response-col_description")
    ).to_contain_text("scoring_date")
    assert api_calls == [(server.url + "/segments", f"Bearer {API_KEYS[0]}")], api_calls

    assert blocked == [], f"the page asked for something off the loopback address: {blocked}"
    assert failed == [] and bad_status == [], (failed, bad_status)
    assert errors == [], errors
    context.close()
