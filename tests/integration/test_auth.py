"""Tokens: expiry, brute force slowed, secrets kept out of logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.support import ADMIN, Api


async def test_guessing_tokens_is_slowed_per_address(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    api = await api_factory(auth_failures_per_minute=5)
    for n in range(5):
        assert (await api.call("GET", "/api/v1/incidents", f"guess-{n}"))[0] == 401
    status, body = await api.call("GET", "/api/v1/incidents", "guess-6")
    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    async with api.session.get(api.base + "/api/v1/incidents", headers=api.headers(ADMIN)) as resp:
        # the address is held back whatever token it now shows, until the window passes
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) == 60
    assert (await api.call("GET", "/healthz", None))[0] == 200


async def test_an_expired_token_is_refused(api: Api) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    _, made = await api.call(
        "POST",
        "/api/v1/tokens",
        body={"role": "auditor", "name": "短期审计", "expires_at": soon},
        expect=201,
    )
    assert (await api.call("GET", "/api/v1/incidents", made["token"]))[0] == 200
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    status, body = await api.call(
        "POST", "/api/v1/tokens", body={"role": "auditor", "name": "x", "expires_at": past}
    )
    assert (status, body["error"]["field"]) == (422, "expires_at")
    await asyncio.sleep(1.2)
    status, body = await api.call("GET", "/api/v1/incidents", made["token"])
    assert status == 401
    assert "expired" in body["error"]["message"]


async def test_secrets_never_reach_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.load_town()
    secret = await api.token("device")
    await api.report(secret)
    await api.call("GET", "/api/v1/incidents", "wrong-" + secret)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the check would be empty"
    assert secret not in text
    assert ADMIN not in text
