"""HTTP handlers for tokens (docs/API.md §2): create (secret shown once), list, revoke; and
one-time tickets for ``/ws`` standing for the caller's token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core.auth import Role, require_role
from dispatcher.core.errors import BadRequest, ValidationFailed
from dispatcher.core.validation import validation_error
from dispatcher.web import context as http


class TokenIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    role: Role
    name: Annotated[str, Field(min_length=1, max_length=200)]
    squad_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    expires_at: AwareDatetime | None = None


def parse_token(body: bytes) -> TokenIn:
    try:
        token = TokenIn.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    if token.role is Role.SQUAD and token.squad_id is None:
        raise ValidationFailed("squad_id: a squad token names its squad", field="squad_id")
    if token.expires_at is not None and token.expires_at <= datetime.now(UTC):
        raise ValidationFailed("expires_at: already in the past", field="expires_at")
    return token


async def post_token(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, {Role.ADMIN}, "create tokens")
    rt = http.runtime(request)
    token = parse_token(await request.read())
    if token.squad_id is not None and token.squad_id not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {token.squad_id}", field="squad_id")
    described, secret = await rt.tokens.create(
        token.role, token.name, token.squad_id, token.expires_at, who.actor, rt.settings.zone
    )
    return http.json_response({**described, "token": secret}, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    require_role(http.principal(request), {Role.ADMIN}, "list tokens")
    rt = http.runtime(request)
    return http.json_response({"tokens": await rt.tokens.list(rt.settings.zone)})


async def delete_token(request: web.Request) -> web.Response:
    require_role(http.principal(request), {Role.ADMIN}, "revoke tokens")
    rt = http.runtime(request)
    token_id = request.match_info["id"]
    if not token_id:
        raise BadRequest("a token id is needed")
    await rt.tokens.revoke(token_id)
    await rt.announce({"type": "token.revoked", "id": token_id})
    return web.Response(status=204)


#: who may follow /ws, and so ask for a ticket to it (a device reports; it follows nothing)
WS_ROLES: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SQUAD})


async def post_ws_ticket(request: web.Request) -> web.Response:
    """A one-time ticket for ``/ws?ticket=`` standing for the caller's token (docs/API.md §2):
    the page connects with it at once; it is good for one connection within ``expires_in``."""
    who = http.principal(request)
    require_role(who, WS_ROLES, "ask for a /ws ticket")
    tickets = http.runtime(request).tickets
    ticket = await tickets.issue(who)
    return http.json_response(
        {"ticket": ticket, "expires_in": tickets.ttl_s},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/tokens", post_token)
    router.add_get("/api/v1/tokens", list_tokens)
    router.add_delete("/api/v1/tokens/{id}", delete_token)
    router.add_post("/api/v1/ws-tickets", post_ws_ticket)
