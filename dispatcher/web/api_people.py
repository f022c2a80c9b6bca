"""People and sign-in (docs/API.md §2a): who the people are, and their sessions in the pages.

    POST   /api/v1/session            sign in with {login, password}: a session cookie
    GET    /api/v1/session            who is calling (and, signed in, the CSRF token)
    DELETE /api/v1/session            sign out
    POST   /api/v1/session/password   change one's own password
    POST   /api/v1/people             admin: a new person
    GET    /api/v1/people             admin, operator, auditor; a squad's holder its tier's
    GET    /api/v1/people/{id}
    PATCH  /api/v1/people/{id}        admin: change, re-assign, disable, reset the password
    GET    /api/v1/directory          the names of people, tokens and squads, for the pages

The cookie (``dispatch_session``) is HttpOnly and SameSite=Strict, Secure over HTTPS; it holds
a random secret of which the database keeps only the hash. A changing request made with the
cookie must carry the session's CSRF token in ``X-CSRF-Token`` (checked in ``app``'s
middleware); requests with a bearer token need none. Sign-in attempts count against the same
brute-force guard as tokens, per address and per sign-in name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.core import tiers
from dispatcher.core.auth import READ_ALL, Principal, Role, require_role
from dispatcher.core.errors import (
    BadRequest,
    Forbidden,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from dispatcher.core.people import ROLE_NAMES, Person, check_badge, check_password, check_role
from dispatcher.core.times import format_time
from dispatcher.core.validation import validation_error
from dispatcher.store.people import PersonChange
from dispatcher.web import context as http

COOKIE: Final = "dispatch_session"
CSRF_HEADER: Final = "X-CSRF-Token"

Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class SignIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    login: Text200
    password: Annotated[str, Field(min_length=1, max_length=256)]


class PersonIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    login: Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[0-9A-Za-z._@-]+$")]
    name: Text200
    role: Role
    password: Annotated[str, Field(max_length=256)]
    squad_id: Text200 | None = None
    badge_no: str | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+() -]*$")] | None = None


class PersonPatch(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Text200 | None = None
    role: Role | None = None
    squad_id: Annotated[str, Field(max_length=200)] | None = None
    badge_no: str | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^[0-9+() -]*$")] | None = None
    disabled: bool | None = None
    password: Annotated[str, Field(max_length=256)] | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Annotated[str, Field(max_length=256)]


def _parse(model: type[Any], body: bytes) -> Any:
    if not body:
        raise BadRequest("a JSON body is needed")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _known_squad(rt: http.Runtime, squad_id: str | None) -> None:
    if squad_id and squad_id not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {squad_id}", field="squad_id")


def person_json(rt: http.Runtime, person: Person) -> dict[str, Any]:
    squad = rt.ref.squads.get(person.squad_id) if person.squad_id else None
    return {**person.to_json(rt.settings.zone), "squad_name": squad.name if squad else None}


def caller_json(rt: http.Runtime, who: Principal) -> dict[str, Any]:
    """Who is calling, with names: what the pages show in their header."""
    squads = rt.ref.squads
    squad = squads.get(who.squad_id) if who.squad_id else None
    return {
        "kind": "person" if who.person else "token",
        "id": who.actor,
        "name": who.name,
        "role": who.role.value,
        "role_name": ROLE_NAMES[who.role],
        "squad_id": who.squad_id,
        "squad_name": squad.name if squad else None,
        "tier_name": tiers.tier_name(who.squad_id, squads) if squad and who.squad_id else None,
        "scope": sorted(who.squads()),
        "expires_at": format_time(who.expires_at, rt.settings.zone),
    }


# -- sessions --------------------------------------------------------------------------------


def secure_request(request: web.Request) -> bool:
    if request.secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto", "")
    return http.runtime(request).settings.trust_forwarded and forwarded.lower() == "https"


async def sign_in(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    form: SignIn = _parse(SignIn, await request.read())
    address = http.client_address(request)
    name_key = "login:" + form.login.casefold()
    for key in (address, name_key):
        try:
            await rt.guard.check(key)
        except RateLimited:
            raise RateLimited(
                "too many failed sign-ins; wait a minute and retry", retry_after=60
            ) from None
    try:
        session, secret = await rt.sessions.sign_in(form.login, form.password, datetime.now(UTC))
    except Unauthorized:
        await rt.guard.failed(address)
        await rt.guard.failed(name_key)
        raise
    response = http.json_response(
        {
            "person": person_json(rt, session.person),
            "csrf_token": session.csrf_token,
            "expires_at": format_time(session.expires_at, rt.settings.zone),
        }
    )
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=secure_request(request),
    )
    return response


async def get_session(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    who = http.principal(request)
    body = caller_json(rt, who)
    session = request.get(http.SESSION)
    if session is not None:
        body["csrf_token"] = session.csrf_token
    return http.json_response(body)


async def sign_out(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    secret = request.cookies.get(COOKIE)
    if secret:
        await rt.sessions.end(secret)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def change_password(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    who = http.principal(request)
    if not who.person:
        raise Forbidden("only a person who signed in has a password")
    form: PasswordChange = _parse(PasswordChange, await request.read())
    check_password(form.new_password, "new_password")
    await rt.people.change_own_password(who.actor, form.current_password, form.new_password)
    return web.Response(status=204)


# -- people ----------------------------------------------------------------------------------


async def post_person(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, {Role.ADMIN}, "create people")
    rt = http.runtime(request)
    form: PersonIn = _parse(PersonIn, await request.read())
    check_role(form.role, form.squad_id)
    _known_squad(rt, form.squad_id)
    check_password(form.password)
    person = await rt.people.create(
        login=form.login,
        name=form.name,
        role=form.role,
        password=form.password,
        created_by=who.actor,
        squad_id=form.squad_id,
        badge_no=check_badge(form.badge_no or None),
        phone=form.phone or None,
    )
    return http.json_response(person_json(rt, person), status=201)


async def list_people(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, {*READ_ALL, Role.SQUAD}, "list people")
    rt = http.runtime(request)
    people = await rt.people.list()
    if who.role not in READ_ALL:
        people = [p for p in people if p.squad_id and who.covers([p.squad_id])]
    return http.json_response({"people": [person_json(rt, p) for p in people]})


async def get_person(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, {*READ_ALL, Role.SQUAD}, "read people")
    rt = http.runtime(request)
    person = await rt.people.get(request.match_info["id"])
    if who.role not in READ_ALL and not (person.squad_id and who.covers([person.squad_id])):
        raise Forbidden("a squad's holder reads only its own tier's people")
    return http.json_response(person_json(rt, person))


async def patch_person(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, {Role.ADMIN}, "change people")
    rt = http.runtime(request)
    person_id = request.match_info["id"]
    form: PersonPatch = _parse(PersonPatch, await request.read())
    if form.password is not None:
        check_password(form.password)
    before = await rt.people.get(person_id)
    clear = form.squad_id == ""
    role = form.role or before.role
    squad_id = None if clear else (form.squad_id or before.squad_id)
    check_role(role, squad_id)
    _known_squad(rt, squad_id)
    if person_id == who.actor and (form.disabled or (form.role and form.role is not Role.ADMIN)):
        raise ValidationFailed("an admin cannot disable or demote themself", field="role")
    change = PersonChange(
        name=form.name,
        role=form.role,
        squad_id=form.squad_id or None,
        clear_squad=clear,
        badge_no=check_badge(form.badge_no or None),
        phone=form.phone,
        disabled=form.disabled,
        password=form.password,
    )
    person = await rt.people.change(person_id, change, datetime.now(UTC))
    # every process drops the person's cached sessions and closes their WebSockets: a
    # disabled person is out at once, a re-assigned one reconnects with the new tier
    await rt.announce({"type": "person.changed", "id": person_id})
    return http.json_response(person_json(rt, person))


async def directory(request: web.Request) -> web.Response:
    """The names the pages show for ids: every person's, squad's and token's name."""
    who = http.principal(request)
    require_role(who, {*READ_ALL, Role.SQUAD}, "read the directory")
    rt = http.runtime(request)
    people = await rt.people.list()
    tokens = await rt.tokens.list()
    squads = rt.ref.squads
    return http.json_response(
        {
            "people": {
                p.id: {"name": p.name, "squad_id": p.squad_id, "role_name": ROLE_NAMES[p.role]}
                for p in people
            },
            "tokens": {t["id"]: {"name": t["name"], "role": t["role"]} for t in tokens},
            "squads": {
                s.id: {
                    "name": s.name,
                    "parent_id": s.parent_id,
                    "tier_name": tiers.tier_name(s.id, squads),
                }
                for s in squads.values()
            },
        }
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/v1/session", sign_in)
    router.add_get("/api/v1/session", get_session)
    router.add_delete("/api/v1/session", sign_out)
    router.add_post("/api/v1/session/password", change_password)
    router.add_post("/api/v1/people", post_person)
    router.add_get("/api/v1/people", list_people)
    router.add_get("/api/v1/people/{id}", get_person)
    router.add_patch("/api/v1/people/{id}", patch_person)
    router.add_get("/api/v1/directory", directory)
