"""The segment page in a real headless Chromium (Debian's `chromium`, driven by Playwright).

No browser download: Playwright launches the system Chromium (`apt-get install -y chromium`).
Set CHURNCLV_PAGE_SCREENSHOT=/some/file.png to keep a screenshot of the page with a list open.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.serving.conftest import API_KEYS, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_segment_page_grid_list_and_csv_download(
    browser,  # noqa: ANN001
    server: Server,
    world: Path,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with server.client() as api:
        segments = api.get("/segments").json()
    largest = max(segments["segments"], key=lambda s: s["customers"])
    slug = largest["slug"]
    with server.client() as api:
        page1 = api.get(f"/segments/{slug}").json()
        page2 = api.get(f"/segments/{slug}", params={"page": 2}).json()
    assert page1["pages"] >= 2  # the list has a next page to click to

    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")

    # no key yet: the page asks for one, without an error message
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text("")
    expect(page.locator("#grid button")).to_have_count(0)

    # a wrong key is refused and said so
    page.fill("#key", "not-a-key")
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("That API key was not accepted.")

    page.fill("#key", API_KEYS[1])
    page.click("#login button[type=submit]")
    expect(page.locator("#login")).to_be_hidden()
    versions = segments["model_versions"]
    expect(page.locator("#meta")).to_have_text(
        f"Scores of {segments['scoring_date']} · churn model v{versions['churn_model']}"
        f" · CLV model v{versions['clv_model']}"
        + (f" · amounts in {segments['currency']}" if segments["currency"] else "")
    )
    expect(page.locator("#legend")).to_contain_text(
        f"chance of no purchase in the next {segments['churn_horizon_days']} days"
    )
    cells = page.locator("table.grid button[data-segment]")
    in_grid = [s for s in segments["segments"] if s["risk_tier"]]
    expect(cells).to_have_count(len(in_grid))
    assert sorted(cells.evaluate_all("bs => bs.map(b => b.dataset.segment)")) == sorted(
        s["slug"] for s in in_grid
    )
    # customers without a paid purchase yet: a button below the grid, with their action
    outside = [s for s in segments["segments"] if not s["risk_tier"]]
    assert [s["segment"] for s in outside] == ["No purchase yet"]
    expect(page.locator("#grid button.outside")).to_have_count(1)
    expect(page.locator("#grid button.outside")).to_contain_text(outside[0]["action"])
    expect(page.locator(f'button[data-segment="{slug}"]')).to_contain_text(largest["segment"])

    # a cell shows the segment's list: the rows of /segments/{slug} page 1, in order
    page.locator(f'button[data-segment="{slug}"]').click()
    rows = page.locator("table#customers tr[data-customer]")
    expect(rows).to_have_count(len(page1["customers"]))
    shown = rows.evaluate_all("rs => rs.map(r => r.dataset.customer)")
    assert shown == [c["customer_id"] for c in page1["customers"]]
    expect(page.locator("#page")).to_have_text(f"page 1 of {page1['pages']}")
    expect(page.locator(f'button[data-segment="{slug}"]')).to_have_class(re.compile(r"\bactive\b"))
    if screenshot := os.environ.get("CHURNCLV_PAGE_SCREENSHOT"):
        page.screenshot(path=screenshot)
    page.screenshot(path=str(tmp_path / "page.png"))

    # next page
    page.click("#next")
    expect(page.locator("#page")).to_have_text(f"page 2 of {page1['pages']}")
    shown = rows.evaluate_all("rs => rs.map(r => r.dataset.customer)")
    assert shown == [c["customer_id"] for c in page2["customers"]]

    # the download is the whole segment as one CSV named <slug>.csv
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == f"{slug}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    table = pd.read_csv(saved, dtype={"customer_id": "str"})
    assert len(table) == largest["customers"] == page1["total"]
    assert table["customer_id"].is_unique
    assert table["customer_id"].head(len(page1["customers"])).tolist() == [
        c["customer_id"] for c in page1["customers"]
    ]
    assert (table["segment"] == largest["segment"]).all()
    scores = pd.read_parquet(world / "out" / "current" / "scores.parquet")
    assert set(table["customer_id"]) == set(
        scores.loc[scores["segment"] == largest["segment"], "customer_id"]
    )
    assert errors == []
    context.close()
