"""One-time tickets for /ws (docs/API.md §2, §6): no long-lived secret in a URL.

A ticket is handed out to a token in the header, opens one connection within its TTL, on any
server process sharing the Redis, and stands for its token only while the token is valid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import redis.asyncio as aioredis

from dispatcher.web.tickets import TICKET_TTL_S, ticket_key
from tests.integration.support import ADMIN, Api


async def ticket(api: Api, token: str = ADMIN) -> str:
    _, answer = await api.call("POST", "/api/v1/ws-tickets", token, expect=201)
    assert answer["expires_in"] == TICKET_TTL_S
    return str(answer["ticket"])


async def connect(api: Api, query: str) -> aiohttp.ClientWebSocketResponse:
    return await api.session.ws_connect(api.base.replace("http", "ws", 1) + "/ws?" + query)


async def refused(api: Api, query: str) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        await connect(api, query)
    return refusal.value.status


async def pong(ws: aiohttp.ClientWebSocketResponse) -> str:
    await ws.send_str(json.dumps({"type": "ping"}))
    return str(json.loads((await ws.receive(timeout=5)).data)["type"])


async def test_a_ticket_opens_one_connection_then_never_again(api: Api) -> None:
    given = await ticket(api)
    # at least 128 random bits, url-safe, and not the token
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", given)
    assert ADMIN not in given
    ws = await connect(api, f"ticket={given}")
    assert await pong(ws) == "pong"
    await ws.close()
    assert await refused(api, f"ticket={given}") == 401
    assert await refused(api, "ticket=not-a-ticket") == 401


async def test_a_ticket_is_kept_hashed_and_expires(api: Api, redis_url: str) -> None:
    given = await ticket(api)
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        keys = [str(k) for k in await redis.keys("*")]
        assert ticket_key(given) in keys
        assert not any(given in k for k in keys)
        assert 0 < await redis.ttl(ticket_key(given)) <= TICKET_TTL_S
        # let Redis expire it (no long sleep: its TTL is cut to a millisecond)
        await redis.pexpire(ticket_key(given), 1)
        for _ in range(200):
            if not await redis.exists(ticket_key(given)):
                break
            await asyncio.sleep(0.01)
        assert not await redis.exists(ticket_key(given))
    finally:
        await redis.aclose()
    assert await refused(api, f"ticket={given}") == 401


async def test_a_revoked_tokens_ticket_is_refused(api: Api) -> None:
    await api.load_town()
    _, made = await api.call(
        "POST", "/api/v1/tokens", body={"role": "operator", "name": "值班"}, expect=201
    )
    given = await ticket(api, made["token"])
    await api.call("DELETE", f"/api/v1/tokens/{made['id']}", expect=204)
    assert await refused(api, f"ticket={given}") == 401
    # and the token itself gets no more tickets
    status, _ = await api.call("POST", "/api/v1/ws-tickets", made["token"])
    assert status == 401


async def test_the_token_in_the_url_is_withdrawn(api: Api) -> None:
    assert await refused(api, f"access_token={ADMIN}") == 401
    assert await refused(api, "") == 401


async def test_who_may_ask_for_a_ticket(api: Api) -> None:
    await api.load_town()
    device = await api.token("device")
    status, body = await api.call("POST", "/api/v1/ws-tickets", device)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    assert (await api.call("POST", "/api/v1/ws-tickets", None))[0] == 401
    squad = await api.token("squad", "sq-west")
    ws = await connect(api, f"ticket={await ticket(api, squad)}")
    try:
        # the ticket stands for the squad's token: its own topic only
        await ws.send_str(json.dumps({"type": "subscribe", "topics": ["squad:sq-east"]}))
        assert json.loads((await ws.receive(timeout=5)).data)["code"] == "forbidden"
        await ws.send_str(json.dumps({"type": "subscribe", "topics": ["squad:sq-west"]}))
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "subscribed"
    finally:
        await ws.close()


async def test_a_ticket_works_once_across_processes(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    one, two = await api_factory(), await api_factory()
    given = await ticket(one)
    ws = await connect(two, f"ticket={given}")
    assert await pong(ws) == "pong"
    await ws.close()
    assert await refused(one, f"ticket={given}") == 401
    assert await refused(two, f"ticket={given}") == 401


async def test_tickets_never_reach_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # the access log at INFO, whatever an earlier test's `dispatch` command set it to
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    given = await ticket(api)
    ws = await connect(api, f"ticket={given}")
    await ws.close()
    assert await refused(api, f"ticket={given}") == 401
    assert await refused(api, f"access_token={ADMIN}") == 401
    text = "\n".join(r.getMessage() for r in caplog.records)
    # the access log was written, without the query
    assert any(r.name == "aiohttp.access" and "GET /ws" in r.getMessage() for r in caplog.records)
    assert given not in text
    assert ADMIN not in text
