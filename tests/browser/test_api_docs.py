"""The API reference page (/api/docs): Swagger UI, vendored, renders the server's own OpenAPI
document without anyone signing in, and asks nothing of any other host (it works offline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import Site, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_the_viewer_renders_the_document_offline(
    site: Site, open_page: Callable[..., Any], page_errors: Any
) -> None:
    base = site.api.base
    asked: list[str] = []
    page = await open_page(f"{base}/api/docs", 1400, 900)
    page.on("request", lambda request: asked.append(request.url))
    assert page.url.endswith("/static/api-docs.html")
    await page.wait_for_selector(".swagger-ui .opblock-tag", timeout=20000)
    await page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    title = await page.inner_text(".swagger-ui .info .title")
    assert "城管综合行政执法指挥中心" in title
    tags = await page.eval_on_selector_all(
        ".swagger-ui .opblock-tag", "els => els.map(e => e.getAttribute('data-tag'))"
    )
    assert {"incidents", "open311", "realtime", "service"} <= set(tags)
    await page.click(".swagger-ui .opblock-tag[data-tag='open311']")
    await page.wait_for_selector(
        ".swagger-ui .opblock-summary-path[data-path='/open311/v2/requests.{fmt}']", timeout=10000
    )
    await screenshot(page, "api-docs")
    host = urlsplit(base).netloc
    assert all(urlsplit(url).netloc == host for url in asked if url.startswith("http")), asked
    page_errors.check()
