"""No secret in a URL (docs/API.md §2, §2a): the pages sign in and open /ws with the session
cookie from their own origin, so nothing secret travels in a URL.

Every request and WebSocket the pages make is recorded (the ``open_page`` fixture checks each
against the session's cookie, its CSRF token and every token pattern when the test ends); here
the live feed is also followed across a dropped connection, ``since`` included, and nothing is
kept in the browser's storage that could sign anyone in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import OPERATOR, WALL, PageErrors, Requests, Site

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

STORAGE = "() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"


async def test_pages_follow_the_feed_with_no_secret_in_any_url(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors, requests_seen: Requests
) -> None:
    wall = await open_page(f"{site.base}/", 1920, 1080, login=WALL)
    await wall.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    rng = random.Random(11)

    async def post() -> str:
        lon, lat, _ = site.city.random_point(rng)
        created = await site.post(source="hotline", category="200504", lon=lon, lat=lat)
        return str(created["id"])

    first = await post()
    await wall.wait_for_function("id => window.__screen.incident(id)", arg=first, timeout=5000)
    # a dropped connection comes back with the same cookie and `since`: nothing is missed
    await wall.evaluate("window.__screen.drop()")
    missed = await post()
    await wall.wait_for_function(
        "window.__screen.liveStats().reconnects >= 1"
        " && document.querySelector('#conn').classList.contains('live')",
        timeout=10000,
    )
    await wall.wait_for_function("id => window.__screen.incident(id)", arg=missed, timeout=5000)

    desk = await open_page(f"{site.base}/static/desk.html", 1920, 1080, login=OPERATOR)
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.wait_for_selector("#conn.live", timeout=10000)
    squad_id = site.city.streets[0].squad_id
    await site.person("zd.first", "squad", squad_id, name="一中队队员")
    phone = await open_page(f"{site.base}/static/squad.html", 390, 844, login="zd.first")
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.wait_for_selector("#conn.live", timeout=10000)

    sockets = [url for url in requests_seen.urls if url.startswith("ws")]
    assert len(sockets) >= 4, sockets  # the wall twice, the desk, the phone
    assert all(url.endswith("/ws") for url in sockets), sockets  # no query at all
    # nothing that signs anyone in is kept in the browser's storage
    for page in (wall, desk, phone):
        kept = await page.evaluate(STORAGE)
        assert "dct_" not in kept, kept
        assert "csrf" not in kept.lower(), kept
        assert "token" not in kept.lower(), kept
    # the session cookie is HttpOnly: the page cannot read it
    assert "dispatch_session" not in await desk.evaluate("document.cookie")
    page_errors.check()
