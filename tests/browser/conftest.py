"""Fixtures for the browser tests: one headless Chromium for the session, a server per test.

Playwright's async API runs in the same event loop as the in-process server (aiohttp's
TestServer on 127.0.0.1, as ``tests/integration``'s ``api_factory`` starts it), so the server,
the API client and the browser are driven from one loop with no threads: the sync API would
start a loop of its own and clash with pytest-asyncio's. The loop is the session's (one
browser launch for every test); each test still gets its own database, Redis and server.

The pages sign in as people do (docs/API.md §2a): ``open_page(url, w, h, login="duty.op")``
fills the sign-in form with the person's name and ``PASSWORD``. Every request and WebSocket a
page makes is recorded, and when the test ends ``open_page`` asserts that no URL carries a
token, a ticket, the session's secret or its CSRF token.

The tests skip, saying why, when ``DISPATCH_NO_BROWSER=1`` is set or no Chromium binary is
installed; they never download a browser.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from dispatcher.app import create_app
from dispatcher.demo.city import DemoCity, build_demo_city
from dispatcher.web.access_log import PathOnlyAccessLogger
from tests.integration.support import ADMIN, Api, settings_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]
#: routes other issues are still building; a page asks and shows "—" while they answer 404
OPTIONAL_ROUTES = ("/api/v1/units", "/api/v1/stats")
#: every person the tests create signs in with this password
PASSWORD = "Xq7-城管-2026"
#: the people every site has: the centre's duty operator (值班长), an admin and the wall
OPERATOR, ADMIN_PERSON, WALL = "duty.op", "admin.li", "wall"
#: what no URL may carry: a token (dct_…), a ticket, a session or CSRF value, a password
SECRET_IN_URL = re.compile(r"dct_|ticket=|token=|access_token|csrf|session=|password", re.I)


async def make_person(
    api: Api, login: str, role: str, squad_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """Create a person through the API (as the admin token) who signs in with PASSWORD."""
    body: dict[str, Any] = {"login": login, "name": name or login, "role": role}
    body["password"] = PASSWORD
    if squad_id:
        body["squad_id"] = squad_id
    _, answer = await api.call("POST", "/api/v1/people", body=body, expect=201)
    return dict(answer)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("DISPATCH_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = None
    if os.environ.get("DISPATCH_NO_BROWSER") == "1":
        reason = "DISPATCH_NO_BROWSER=1: browser tests are switched off"
    elif chromium_path() is None:
        reason = "no Chromium binary (apt-get install chromium) for the browser tests"
    here = Path(__file__).parent
    for item in items:
        # tests that open pages (they use the browser, through open_page); the media API
        # tests beside them need no browser and always run
        uses_browser = "browser" in getattr(item, "fixturenames", ())
        if Path(str(item.fspath)).parent == here and uses_browser:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def demo_city() -> DemoCity:
    return build_demo_city()


def light_zones(city: DemoCity) -> dict[str, Any]:
    """The demo city's zones without its 2,000 grid cells: the wall looks the same, loads fast."""
    features = [f for f in city.zones_geojson["features"] if f["properties"].get("level") != "grid"]
    return {"type": "FeatureCollection", "features": features}


@dataclass
class Site:
    """A running server with the demo district loaded, and a client for its API."""

    api: Api
    city: DemoCity
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.api.base

    async def post(self, token: str = ADMIN, **body: Any) -> dict[str, Any]:
        """Post an incident; with the admin token it counts as an operator's (trusted)."""
        status, answer = await self.api.call("POST", "/api/v1/incidents", token, body=body)
        assert status in (200, 201), answer
        return dict(answer)

    async def incident(self, incident_id: str) -> dict[str, Any]:
        _, answer = await self.api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200)
        return dict(answer)

    async def person(
        self, login: str, role: str, squad_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        return await make_person(self.api, login, role, squad_id, name)


@pytest_asyncio.fixture(loop_scope="session")
async def site(
    database_url: str,
    redis_url: str,
    demo_city: DemoCity,
    tmp_path: Path,
) -> AsyncIterator[Site]:
    settings = settings_for(database_url, redis_url, media_dir=tmp_path / "media")
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server(access_log_class=PathOnlyAccessLogger)
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(str(server.make_url("")).rstrip("/"), session)
            for squad in demo_city.squads:
                body = {k: v for k, v in squad.items() if k != "id"}
                await api.call("PUT", f"/api/v1/squads/{squad['id']}", body=body, expect=None)
            await api.call("PUT", "/api/v1/zones", body=light_zones(demo_city), expect=200)
            site = Site(api, demo_city)
            site.tokens["operator"] = await api.token("operator")
            site.tokens["device"] = await api.token("device")
            await site.person(OPERATOR, "operator", name="王值班")
            await site.person(ADMIN_PERSON, "admin", name="李管理")
            await site.person(WALL, "auditor", name="指挥大屏")
            yield site
    finally:
        await server.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class PageErrors:
    """Uncaught exceptions and console errors of the pages a test opens."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

        def on_console(msg: Any) -> None:
            if msg.type != "error":
                return
            url = (msg.location or {}).get("url", "")
            if "status of 404" in msg.text and any(r in url for r in OPTIONAL_ROUTES):
                return  # a backend piece not built yet: the page shows "—"
            if url.endswith("/api/v1/session") and re.search(r"status of (401|429)", msg.text):
                return  # who is signed in? nobody yet (or a refused sign-in): the form shows
            self.errors.append(f"console: {msg.text} ({url})")

        page.on("console", on_console)
        return page

    def check(self) -> None:
        assert not self.errors, "\n".join(self.errors)


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


class Requests:
    """Every URL the pages of a test asked for (requests and WebSockets), and the secrets
    they were given (session cookies, CSRF tokens), to check no URL carries one."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.secrets: set[str] = set()
        self.pending: list[asyncio.Future[Any]] = []

    def watch(self, context: Any) -> None:
        context.on("request", lambda request: self.urls.append(request.url))

        def on_response(response: Any) -> None:
            if response.url.endswith("/api/v1/session") and response.status == 200:
                self.pending.append(asyncio.ensure_future(self.keep_csrf(response)))

        context.on("response", on_response)

    def watch_page(self, page: Any) -> None:
        page.on("websocket", lambda ws: self.urls.append(ws.url))

    async def keep_csrf(self, response: Any) -> None:
        with contextlib.suppress(Exception):
            cookie = (await response.all_headers()).get("set-cookie", "")
            value = cookie.split("=", 1)[-1].split(";", 1)[0].strip('"')
            if cookie.startswith("dispatch_session=") and len(value) >= 16:
                self.secrets.add(value)
            body = await response.json()
            if isinstance(body, dict) and body.get("csrf_token"):
                self.secrets.add(str(body["csrf_token"]))

    async def check(self, contexts: list[Any]) -> None:
        await asyncio.gather(*self.pending, return_exceptions=True)
        for context in contexts:
            with contextlib.suppress(Exception):
                cookies = await context.cookies()
                self.secrets.update(c["value"] for c in cookies if len(c["value"]) >= 16)
        for url in self.urls:
            assert not SECRET_IN_URL.search(url), f"a secret in a URL: {url}"
            for secret in self.secrets:
                assert secret not in url, f"a session secret in a URL: {url}"


@pytest.fixture
def requests_seen() -> Requests:
    return Requests()


async def sign_in(page: Any, login: str, password: str = PASSWORD) -> None:
    """Fill the page's sign-in form and wait for the header to name the person."""
    await page.wait_for_selector("#login-name", state="visible", timeout=15000)
    await page.fill("#login-name", login)
    await page.fill("#login-password", password)
    await page.click("#login-go")
    await page.wait_for_selector("#who .who-name", state="visible", timeout=15000)


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(
    browser: Any, page_errors: PageErrors, requests_seen: Requests
) -> AsyncIterator[Callable[..., Any]]:
    """Open a page in a context of its own (its own cookies and storage):
    ``await open_page(url, w, h, login="duty.op")`` signs in as that person."""
    contexts: list[Any] = []

    async def opener(
        url: str,
        width: int,
        height: int,
        *,
        scale: float = 1.0,
        at: tuple[float, float] | None = None,
        login: str | None = None,
        context: Any = None,
    ) -> Any:
        """``at`` (lon, lat) is where the browser's geolocation says the phone is;
        ``context``: open the page beside another (the same cookies) instead."""
        if context is None:
            context = await browser.new_context(
                viewport={"width": width, "height": height},
                device_scale_factor=scale,
                timezone_id="Asia/Shanghai",
                locale="zh-CN",
                permissions=["geolocation"] if at else [],
                geolocation={"longitude": at[0], "latitude": at[1]} if at else None,
            )
            requests_seen.watch(context)
            contexts.append(context)
        page = page_errors.watch(await context.new_page())
        requests_seen.watch_page(page)
        await page.goto(url)
        if login:
            await sign_in(page, login)
        return page

    yield opener
    await requests_seen.check(contexts)
    for context in contexts:
        with contextlib.suppress(Exception):
            await context.close()


async def screenshot(page: Any, name: str, *, docs: bool = False, doc_scale: float = 1.0) -> Path:
    """Save under artifacts/screenshots/; with DISPATCH_UPDATE_SCREENSHOTS=1 also under
    docs/screenshots/, scaled by ``doc_scale`` (the browser scales it) to keep the file small."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    png = await page.screenshot(path=str(path))
    if docs and os.environ.get("DISPATCH_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        if doc_scale != 1.0:
            png = base64.b64decode(
                await page.evaluate(SHRINK_JS, [base64.b64encode(png).decode(), doc_scale])
            )
        target = DOCS_SHOTS / f"{name}.png"
        target.write_bytes(png)
        quantizer = shutil.which("pngquant")  # optional (Debian: pngquant): a third the size
        if quantizer:
            await asyncio.to_thread(
                subprocess.run,
                [
                    quantizer,
                    "--force",
                    "--skip-if-larger",
                    "--output",
                    str(target),
                    "256",
                    str(target),
                ],
                check=False,
            )
    return path


SHRINK_JS = """async ([b64, k]) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = Math.round(img.width * k); c.height = Math.round(img.height * k);
  const g = c.getContext('2d'); g.imageSmoothingQuality = 'high';
  g.drawImage(img, 0, 0, c.width, c.height);
  return c.toDataURL('image/png').split(',')[1];
}"""
