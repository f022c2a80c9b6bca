"""Who may do what, for every /api/v1 route and every role (docs/API.md §2), table-driven.

The table is the OpenAPI document's ``x-roles`` of each operation (the API's own statement of
who may call it); the test checks the server against it: a role the document does not name
gets 403, one it names never gets 401 or 403 (a bad body may still be 400/404/422), and no
token, an expired token or a revoked one gets 401 everywhere. A squad appears twice: calling
about its own squad's things, and about another squad's (refused where the route says "its
own").
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.support import Api

DOC = json.loads(
    (Path(__file__).resolve().parents[2] / "dispatcher" / "data" / "openapi.json").read_text()
)
ROLES = ("admin", "operator", "auditor", "device", "squad")


def operations() -> list[tuple[str, str, list[str]]]:
    found = []
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "x-roles" in op:
                found.append((method.upper(), path, op["x-roles"]))
    return found


def allowed(roles: list[str], role: str) -> tuple[bool, bool]:
    """(may the role call it at all, only about its own squad's things)."""
    for entry in roles:
        name = entry.split(" ", 1)[0]
        if name == role:
            return True, "own" in entry
    return False, False


async def test_every_route_against_every_role(api: Api) -> None:
    await api.load_town()
    tokens = {role: await api.token(role, "sq-west" if role == "squad" else None) for role in ROLES}
    tokens["other-squad"] = await api.token("squad", "sq-east")
    await api.call(
        "PUT",
        "/api/v1/units/w-1",
        body={"squad_id": "sq-west", "name": "西1", "skills": [], "status": "available"},
    )
    _, incident = await api.report(tokens["device"], external_id="roles-1")
    assert incident["squad_id"] == "sq-west"
    _, spare = await api.call("POST", "/api/v1/tokens", body={"role": "auditor", "name": "x"})
    values = {
        "id": incident["id"],
        "incident_id": incident["id"],
        "visit_id": "v-none",
        "name": "none.jpg",
        "year": "2027",
    }

    def concrete(path: str) -> str:
        if path.startswith("/api/v1/units/"):
            return path.replace("{id}", "w-1")
        if path.startswith("/api/v1/tokens/"):
            return path.replace("{id}", spare["id"])
        if path.startswith("/api/v1/samples/"):
            return path.replace("{id}", "1").replace("{incident_id}", incident["id"])
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)

    failures: list[str] = []
    checked = 0
    for method, path, roles in operations():
        if method == "DELETE":
            continue  # revoking a token is checked below, once, on a token of its own
        url = concrete(path)
        for who, token in tokens.items():
            role = "squad" if who == "other-squad" else who
            may, own_only = allowed(roles, role)
            if who == "other-squad" and own_only and "{id}" in path:
                may = False  # another squad's incident or unit
            status, body = await api.call(method, url, token, body={})
            checked += 1
            refused = status in (401, 403)
            if may and refused:
                failures.append(f"{who} refused on {method} {path}: {status} {body}")
            elif not may and status != 403:
                failures.append(f"{who} not refused (403) on {method} {path}: {status}")
    assert not failures, "\n".join(failures)
    assert checked > 150


async def test_no_expired_or_revoked_token_gets_in_anywhere(
    api_factory: Callable[..., Awaitable[Api]],
) -> None:
    # hundreds of refusals from one address: lift the brute-force guard for this test
    api = await api_factory(auth_failures_per_minute=1_000_000)
    await api.load_town()
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    _, expiring = await api.call(
        "POST",
        "/api/v1/tokens",
        body={"role": "admin", "name": "short", "expires_at": soon},
        expect=201,
    )
    _, revoked = await api.call(
        "POST", "/api/v1/tokens", body={"role": "admin", "name": "r"}, expect=201
    )
    await api.call("DELETE", f"/api/v1/tokens/{revoked['id']}", expect=204)
    await asyncio.sleep(1.1)
    for method, path, _ in operations():
        url = re.sub(r"\{\w+\}", "x", path)
        for token in (None, expiring["token"], revoked["token"], "not-a-token"):
            status, body = await api.call(method, url, token, body={})
            assert status == 401, (method, path, token and token[:8], status, body)
