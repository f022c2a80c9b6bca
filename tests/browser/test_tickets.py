"""No long-lived secret in a URL (docs/API.md §2): the pages open /ws with one-time tickets.

Every request the pages make is recorded; none carries ``access_token=`` or the bearer token
in its URL, while the live feed works, reconnection with ``since`` included. The token is
given the way a signed-in page keeps it (localStorage), not by the kiosk link's ``#token=``
fragment, which a later issue replaces.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import PageErrors, Site

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def open_recorded(
    open_page: Callable[..., Any], url: str, key: str, token: str, width: int, height: int
) -> tuple[Any, list[str]]:
    """Open ``url`` with ``token`` kept under ``key``, recording every request's and every
    WebSocket's URL."""
    page = await open_page("about:blank", width, height)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    # WebSocket handshakes are reported apart from requests
    page.on("websocket", lambda socket: urls.append(socket.url))
    await page.add_init_script(f"localStorage.setItem({json.dumps(key)}, {json.dumps(token)})")
    await page.goto(url)
    return page, urls


def assert_clean(urls: list[str], token: str) -> list[str]:
    """Check no URL carries a token; answer the /ws URLs."""
    assert urls, "no request was recorded: the check would be empty"
    for url in urls:
        assert "access_token=" not in url, url
        assert token not in url, url
    return [url for url in urls if "/ws?" in url]


async def test_pages_follow_the_feed_without_a_token_in_any_url(
    site: Site, open_page: Callable[..., Any], page_errors: PageErrors
) -> None:
    token = site.tokens["operator"]
    wall, urls = await open_recorded(
        open_page, f"{site.base}/", "dispatch.token", token, 1920, 1080
    )
    await wall.wait_for_function("window.__screen && window.__screen.ready()", timeout=15000)
    rng = random.Random(11)

    async def post() -> str:
        lon, lat, _ = site.city.random_point(rng)
        created = await site.post(source="hotline", category="200504", lon=lon, lat=lat)
        return str(created["id"])

    first = await post()
    await wall.wait_for_function("id => window.__screen.incident(id)", arg=first, timeout=5000)
    # a dropped connection comes back with a fresh ticket and `since`: nothing is missed
    await wall.evaluate("window.__screen.drop()")
    missed = await post()
    await wall.wait_for_function(
        "window.__screen.liveStats().reconnects >= 1"
        " && document.querySelector('#conn').classList.contains('live')",
        timeout=10000,
    )
    await wall.wait_for_function("id => window.__screen.incident(id)", arg=missed, timeout=5000)
    sockets = assert_clean(urls, token)
    tickets = [url.split("ticket=", 1)[1] for url in sockets]
    assert len(tickets) >= 2, sockets
    assert len(set(tickets)) == len(tickets), sockets

    # the desk and the squad's phone too (the phone also asks /ws which squad it is)
    desk, desk_urls = await open_recorded(
        open_page, f"{site.base}/static/desk.html", "dispatch.token", token, 1920, 1080
    )
    await desk.wait_for_function("window.__desk && window.__desk.ready()", timeout=15000)
    await desk.wait_for_selector("#conn.live", timeout=10000)
    assert assert_clean(desk_urls, token)
    squad_token = await site.api.token("squad", site.city.streets[0].squad_id)
    phone, phone_urls = await open_recorded(
        open_page, f"{site.base}/static/squad.html", "dispatch.squadToken", squad_token, 390, 844
    )
    await phone.wait_for_function("window.__squad && window.__squad.ready()", timeout=15000)
    await phone.wait_for_selector("#conn.live", timeout=10000)
    assert len(assert_clean(phone_urls, squad_token)) >= 2
    page_errors.check()
