"""HTTP handlers for duty (勤务, docs/API.md §15): posts, shifts, rosters, who is on duty,
check-ins at a post, and the recommendation's use of them.

Routes::

    PUT  /api/v1/duty/posts/{id}      admin, operator: a post (岗点) of a squad
    GET  /api/v1/duty/posts?squad_id=
    PUT  /api/v1/duty/shifts/{id}     admin, operator: a shift (班次)
    GET  /api/v1/duty/shifts?squad_id=
    PUT  /api/v1/duty/rosters/{id}    admin, operator: a roster (排班) with its rotation
    GET  /api/v1/duty/rosters?squad_id=
    GET  /api/v1/duty/now?squad_id=&at=   on-duty strength by squad and post, rolled up by tier
    GET  /api/v1/duty/me              the signed-in officer's stints now and next
    POST /api/v1/duty/check-ins       an officer checks in at a post from the phone

"Now" is the runtime's clock (``Runtime.clock``: tests move it). A check-in (accepted or
refused) is kept; an accepted one is announced to consoles as
``duty.checked_in`` on ``all`` and ``squad:<id>`` (without ``seq``, like units' messages).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from dispatcher.core import duty as core
from dispatcher.core.auth import ACT_ALL, READ_ALL, Principal, Role, require_role
from dispatcher.core.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from dispatcher.core.incidents import Incident
from dispatcher.core.routing import Recommendation
from dispatcher.core.times import format_time, parse_time
from dispatcher.store import duty as store
from dispatcher.web import context as http

PLANNERS: Final = ACT_ALL
READERS: Final = frozenset({*READ_ALL, Role.SQUAD})
MAX_ID: Final = 100
KNOWN_PEOPLE: Final = "SELECT id FROM people WHERE id = ANY($1::text[])"


def _id(request: web.Request) -> str:
    raw = request.match_info["id"]
    if not 0 < len(raw) <= MAX_ID or any(c.isspace() for c in raw):
        raise ValidationFailed("id: 1 to 100 characters without spaces", field="id")
    return raw


def _squad(rt: http.Runtime, squad_id: str) -> None:
    if squad_id not in rt.ref.squads:
        raise ValidationFailed(f"squad_id: no squad {squad_id}", field="squad_id")


def _scope(rt: http.Runtime, who: Principal, requested: str | None) -> list[str] | None:
    """The squads whose duty the caller reads: a tier asked for, the caller's own tier (a
    squad's holder), or every squad (None)."""
    if who.role is Role.SQUAD:
        if requested and not who.covers([requested]):
            raise Forbidden("a squad's holder reads only its own tier's duty")
        if requested:
            return sorted(rt.ref.scope(requested))
        return sorted(who.squads())
    return None if not requested else sorted(rt.ref.scope(requested))


async def put_post(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, PLANNERS, "plan duty")
    rt = http.runtime(request)
    post_id = _id(request)
    body = core.parse(core.PostIn, await request.read())
    _squad(rt, body.squad_id)
    place = body.place.model_dump()
    post = core.Post(post_id, body.squad_id, body.name, place, body.joint_police, body.police_unit)
    created = await store.put_post(rt.pool, post, who.actor, datetime.now(UTC))
    return http.json_response(post.to_json(), status=201 if created else 200)


async def put_shift(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, PLANNERS, "plan duty")
    rt = http.runtime(request)
    shift_id = _id(request)
    body = core.parse(core.ShiftIn, await request.read())
    _squad(rt, body.squad_id)
    if body.starts == body.ends:
        raise ValidationFailed(
            "ends: a shift of no length (give a 24-hour one as two)", field="ends"
        )
    shift = core.Shift(shift_id, body.squad_id, body.name, body.starts, body.ends)
    created = await store.put_shift(rt.pool, shift, who.actor, datetime.now(UTC))
    return http.json_response(shift.to_json(), status=201 if created else 200)


async def put_roster(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, PLANNERS, "plan duty")
    rt = http.runtime(request)
    roster = core.roster_of(_id(request), core.parse(core.RosterIn, await request.read()))
    _squad(rt, roster.squad_id)
    shifts = await store.shifts(rt.pool, [roster.squad_id])
    for team, days in roster.pattern.items():
        for shift_id in days:
            if shift_id is not None and shift_id not in shifts:
                raise ValidationFailed(
                    f"pattern.{team}: no shift {shift_id} of squad {roster.squad_id}",
                    field=f"pattern.{team}",
                )
    posts = {p.id for p in await store.posts(rt.pool, [roster.squad_id])}
    people = sorted({m.person_id for m in roster.members})
    known = {r["id"] for r in await rt.pool.fetch(KNOWN_PEOPLE, people)}
    for m in roster.members:
        if m.post_id not in posts:
            raise ValidationFailed(
                f"members: no post {m.post_id} of squad {roster.squad_id}", field="members"
            )
        if m.person_id not in known:
            raise ValidationFailed(f"members: no person {m.person_id}", field="members")
    created = await store.put_roster(rt.pool, roster, who.actor, datetime.now(UTC))
    return http.json_response(roster.to_json(), status=201 if created else 200)


async def list_posts(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read duty")
    rt = http.runtime(request)
    found = await store.posts(rt.pool, _scope(rt, who, request.query.get("squad_id")))
    return http.json_response({"posts": [p.to_json() for p in found], "count": len(found)})


async def list_shifts(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read duty")
    rt = http.runtime(request)
    found = await store.shifts(rt.pool, _scope(rt, who, request.query.get("squad_id")))
    shifts = [s.to_json() for s in found.values()]
    return http.json_response({"shifts": shifts, "count": len(shifts)})


async def list_rosters(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read duty")
    rt = http.runtime(request)
    found = await store.rosters(rt.pool, _scope(rt, who, request.query.get("squad_id")))
    return http.json_response({"rosters": [r.to_json() for r in found], "count": len(found)})


async def running(
    rt: http.Runtime, at: datetime, squads: Sequence[str] | None = None, *, early: bool = False
) -> list[core.Stint]:
    """The stints running at ``at`` in ``squads`` (None: all); with ``early``, also those
    about to begin (:data:`core.EARLY`)."""
    rosters = await store.rosters(rt.pool, squads)
    shifts = await store.shifts(rt.pool, squads)
    gap = core.EARLY if early else timedelta(0)
    return core.on_duty(rosters, shifts, at, rt.settings.zone, early=gap)


def _at(rt: http.Runtime, raw: str | None) -> datetime:
    if not raw:
        return rt.clock()
    try:
        moment = parse_time(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed("at: an RFC 3339 instant with its offset", field="at")
    return moment


async def strength_json(
    rt: http.Runtime, at: datetime, squads: Sequence[str] | None
) -> dict[str, Any]:
    """On-duty strength at ``at``: each squad's own and its tier's, each post's with names."""
    stints = await running(rt, at, squads)
    posts = await store.posts(rt.pool, squads)
    present = await store.checked_in(rt.pool, stints)
    by_post, by_squad = core.strength(stints, present)
    names = await rt.people.names(s.person_id for s in stints)
    tz = rt.settings.zone
    listed = sorted(squads) if squads is not None else sorted(rt.ref.squads)
    out = []
    for squad_id in listed:
        squad = rt.ref.squads.get(squad_id)
        tier = core.Strength()
        for below in rt.ref.scope(squad_id):
            tier = tier + by_squad.get(below, core.Strength())
        own_posts = []
        for post in (p for p in posts if p.squad_id == squad_id):
            people = [
                {
                    **s.to_json(tz),
                    "name": names.get(s.person_id, s.person_id),
                    "checked_in": (s.person_id, s.post_id) in present,
                }
                for s in stints
                if s.post_id == post.id
            ]
            own_posts.append(
                {
                    "post_id": post.id,
                    "name": post.name,
                    "joint_police": post.joint_police,
                    "police_unit": post.police_unit,
                    **by_post.get(post.id, core.Strength()).to_json(),
                    "people": people,
                }
            )
        out.append(
            {
                "squad_id": squad_id,
                "name": squad.name if squad else squad_id,
                "parent_id": squad.parent_id if squad else None,
                **by_squad.get(squad_id, core.Strength()).to_json(),
                "tier": tier.to_json(),
                "posts": own_posts,
            }
        )
    total = core.Strength()
    for s in by_squad.values():
        total = total + s
    return {"at": format_time(at, tz), "squads": out, "total": total.to_json()}


async def get_now(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read duty")
    rt = http.runtime(request)
    squads = _scope(rt, who, request.query.get("squad_id"))
    return http.json_response(await strength_json(rt, _at(rt, request.query.get("at")), squads))


async def get_me(request: web.Request) -> web.Response:
    """The signed-in officer's stints running now (or about to begin) and today's next."""
    who = http.principal(request)
    require_role(who, READERS, "read duty")
    rt = http.runtime(request)
    now = rt.clock()
    tz = rt.settings.zone
    if not who.person:
        return http.json_response({"person_id": None, "now": [], "posts": []})
    stints = [s for s in await running(rt, now, early=True) if s.person_id == who.actor]
    posts = {p.id: p for p in await store.posts(rt.pool, {s.squad_id for s in stints})}
    return http.json_response(
        {
            "person_id": who.actor,
            "now": [s.to_json(tz) for s in stints],
            "posts": [posts[s.post_id].to_json() for s in stints if s.post_id in posts],
            "radius_m": rt.settings.duty_check_in_radius_m,
        }
    )


async def post_check_in(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, frozenset({Role.SQUAD, *ACT_ALL}), "check in at a post")
    rt = http.runtime(request)
    body = core.parse(core.CheckInIn, await request.read())
    if not who.person:
        raise Forbidden("an officer checks in signed in as a person, not with a token")
    post = await store.post(rt.pool, body.post_id)
    if post is None:
        raise NotFound(f"no post {body.post_id}")
    now = rt.clock()
    stints = await running(rt, now, [post.squad_id], early=True)
    decided = core.check_in(
        who.actor,
        post,
        stints,
        body.lon,
        body.lat,
        now,
        radius_m=rt.settings.duty_check_in_radius_m,
        late_after=timedelta(minutes=rt.settings.duty_late_minutes),
    )
    number = await store.record_check_in(rt.pool, decided)
    tz = rt.settings.zone
    answer = {"id": number, **decided.to_json(tz)}
    if not decided.accepted:
        raise InvalidTransition(decided.reason, details=answer)
    message = {"type": "duty.checked_in", "check_in": answer}
    topics = ["all", *(f"squad:{s}" for s in _above(rt, post.squad_id))]
    await rt.positions.announce(f"duty:{who.actor}", topics, message)
    return http.json_response(answer, status=201)


def _above(rt: http.Runtime, squad_id: str) -> list[str]:
    """The squad and the squads above it (each tier's wall follows its own topic)."""
    found = [squad_id]
    seen = {squad_id}
    parent = rt.ref.squads[squad_id].parent_id if squad_id in rt.ref.squads else None
    while parent and parent not in seen:
        found.append(parent)
        seen.add(parent)
        parent = rt.ref.squads[parent].parent_id if parent in rt.ref.squads else None
    return found


async def with_duty(rt: http.Runtime, incident: Incident, base: Recommendation) -> Recommendation:
    """``base`` with who is on duty and where (``core.on_duty_first``); unchanged when no
    squad keeps rosters."""
    squads = [c.squad_id for c in base.candidates]
    posts = await store.posts(rt.pool)
    here = [p for p in posts if p.holds(incident.lon, incident.lat)]
    wanted = sorted({*squads, *(p.squad_id for p in here)})
    rostered = await store.rostered_squads(rt.pool, wanted)
    if not rostered:
        return base
    stints = await running(rt, rt.clock(), sorted(rostered))
    return core.on_duty_first(base, incident.lon, incident.lat, here, stints, rostered)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_put("/api/v1/duty/posts/{id}", put_post)
    router.add_get("/api/v1/duty/posts", list_posts)
    router.add_put("/api/v1/duty/shifts/{id}", put_shift)
    router.add_get("/api/v1/duty/shifts", list_shifts)
    router.add_put("/api/v1/duty/rosters/{id}", put_roster)
    router.add_get("/api/v1/duty/rosters", list_rosters)
    router.add_get("/api/v1/duty/now", get_now)
    router.add_get("/api/v1/duty/me", get_me)
    router.add_post("/api/v1/duty/check-ins", post_check_in)
