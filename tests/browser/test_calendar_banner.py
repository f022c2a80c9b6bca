"""The desk and the wall say so when the holiday calendar runs out within 60 days, and not
otherwise. The server's "now" is injected (``create_app(clock=...)``); pages are waited on for
their state, never for a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from tests.browser.conftest import OPERATOR, PageErrors, make_person, screenshot
from tests.integration.support import Api, settings_for

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

#: 2026-12-03 10:00 in Shanghai: chinesecalendar's years end 28 days later
RUNNING_OUT = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
#: 2026-06-01: the package covers the next 213 days
COVERED = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
WARNING_ZH = "节假日安排仅录入至 2026-12-31：请录入国务院办公厅 2027 年节假日安排通知"
WARNING_EN = (
    "Holidays are entered only up to 2026-12-31: enter the State Council's 2027 holiday notice"
)


@pytest_asyncio.fixture(loop_scope="session")
async def server_at(
    database_url: str, redis_url: str
) -> AsyncIterator[Callable[[datetime], Awaitable[tuple[Api, str]]]]:
    """Starts a server that takes ``now`` as the calendar's today; answers it and the login
    of an operator who signs in."""
    servers: list[TestServer] = []
    people: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:

        async def start(now: datetime) -> tuple[Api, str]:
            app = create_app(settings_for(database_url, redis_url), clock=lambda: now)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            api = Api(str(server.make_url("")).rstrip("/"), session)
            if not people:  # the servers of a test share one database
                people.append(await make_person(api, OPERATOR, "operator", name="王值班"))
            return api, OPERATOR

        yield start
        for server in servers:
            await server.close()


async def desk(open_page: Callable[..., Any], api: Api, login: str) -> Any:
    page = await open_page(f"{api.base}/static/desk.html", 1600, 900, login=login)
    await page.wait_for_function("window.__desk && window.__desk.calendarChecked()")
    return page


async def wall(open_page: Callable[..., Any], api: Api, login: str) -> Any:
    page = await open_page(f"{api.base}/", 1920, 1080, login=login)
    await page.wait_for_function("window.__screen && window.__screen.calendarChecked()")
    return page


async def test_the_banner_asks_for_next_years_notice(
    server_at: Callable[[datetime], Awaitable[tuple[Api, str]]],
    open_page: Callable[..., Any],
    page_errors: PageErrors,
) -> None:
    api, token = await server_at(RUNNING_OUT)
    page = await desk(open_page, api, token)
    banner = page.locator("#calendar-banner")
    assert await banner.is_visible()
    assert await banner.text_content() == WARNING_ZH
    await screenshot(page, "calendar-banner-desk")
    await page.click("#lang")
    assert await banner.text_content() == WARNING_EN
    await page.click("#lang")  # back to Chinese: the language is kept in the browser's storage
    page = await wall(open_page, api, token)
    banner = page.locator("#calendar-banner")
    assert await banner.is_visible()
    assert await banner.text_content() == WARNING_ZH
    await screenshot(page, "calendar-banner-wall")
    page_errors.check()


async def test_no_banner_while_the_calendar_is_covered(
    server_at: Callable[[datetime], Awaitable[tuple[Api, str]]],
    open_page: Callable[..., Any],
    page_errors: PageErrors,
) -> None:
    api, token = await server_at(COVERED)
    assert not await (await desk(open_page, api, token)).locator("#calendar-banner").is_visible()
    assert not await (await wall(open_page, api, token)).locator("#calendar-banner").is_visible()
    # and once the next year is entered (TEST DATA, not the real notice), none in December
    later, later_token = await server_at(RUNNING_OUT)
    await later.call("PUT", "/api/v1/calendar/2027", body={"holidays": ["2027-01-01"]}, expect=201)
    page = await desk(open_page, later, later_token)
    assert not await page.locator("#calendar-banner").is_visible()
    page_errors.check()
