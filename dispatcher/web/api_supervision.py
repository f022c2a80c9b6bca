"""Supervision items (督办单): ``/api/v1/supervision-items`` (docs/API.md §12).

Open (the centre), the queue (filters by state, colour and tier; a squad's holder sees the
items of its tier and the tiers below), one item with its replies and its steps (from the
hash-chained history), reply (the answering tier, a tier above it or the centre), review
(accept, or return with a reason), close, and the reply's attachments (images, kept like an
incident's photos, ``dispatcher.web.api_media``). The states and their rules are the core's
(:mod:`dispatcher.core.supervision`); each step goes through the one change path
(:mod:`dispatcher.store.supervision`). Answers name squads, kinds, states and colours in
zh-CN beside their codes, so that a page needs no table of its own.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from dispatcher.core import supervision as core
from dispatcher.core import tiers
from dispatcher.core.auth import Principal, Role, require_role
from dispatcher.core.errors import Forbidden, NotFound, ValidationFailed
from dispatcher.core.times import format_time
from dispatcher.store import records as store
from dispatcher.store import supervision as items
from dispatcher.web import context as http
from dispatcher.web.api_media import image_file, is_image_name, receive_image

PREFIX: Final = "/api/v1/supervision-items"
WARNINGS: Final = web.AppKey("supervision_warnings", items.WarningLoop)
_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ROLES: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SQUAD})
REPLIERS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.SQUAD})
SELECT_KNOWN_INCIDENTS: Final = "SELECT id FROM incidents WHERE id = ANY($1::text[])"


def _squad(rt: http.Runtime, squad_id: str | None) -> dict[str, Any] | None:
    if squad_id is None:
        return None
    squads = rt.ref.squads
    found = squads.get(squad_id)
    return {
        "id": squad_id,
        "name": found.name if found else squad_id,
        "tier": tiers.tier_name(squad_id, squads) if found else None,
    }


def present(rt: http.Runtime, item: core.Item) -> dict[str, Any]:
    """An item as the API answers it: the core's document with the squads named."""
    doc = item.to_doc(rt.settings.zone)
    doc["doc_text"] = item.doc_text
    doc["tier"] = _squad(rt, item.tier_id)
    doc["escalated"] = [_squad(rt, s) for s in item.escalated_to]
    doc["opened_by"] = {"actor": item.opened_by, "name": item.opened_by_name}
    doc["due_at"] = format_time(item.due_at, rt.settings.zone)
    return doc


def _principal(request: web.Request) -> Principal:
    who = http.principal(request)
    require_role(who, _ROLES, "read supervision items")
    return who


async def _readable(request: web.Request) -> core.Item:
    who = _principal(request)
    if not _ID.fullmatch(request.match_info["id"]):
        raise NotFound(f"no supervision item {request.match_info['id']!r}")
    item = await items.get(http.runtime(request).pool, request.match_info["id"])
    if item is None:
        raise NotFound(f"no supervision item {request.match_info['id']}")
    if not core.may_read(who, item):
        raise Forbidden("a squad sees the items of its own tier and the tiers below it")
    return item


def _days(rt: http.Runtime) -> dict[core.Kind, float]:
    return {core.Kind(k): v for k, v in rt.settings.supervision_days.as_dict().items()}


def _wake(request: web.Request) -> None:
    loop = request.app.get(WARNINGS)
    if loop is not None:
        loop.wake.set()


async def post_item(request: web.Request) -> web.Response:
    """Open a supervision item (督办单)."""
    who = http.principal(request)
    core.require_centre(who, "open a supervision item")
    rt = http.runtime(request)
    cmd = core.parse(core.ItemIn, await request.read())
    if cmd.tier_id not in rt.ref.squads:
        raise ValidationFailed(f"tier_id: no squad {cmd.tier_id}", field="tier_id")
    async with rt.changes.begin() as work:
        if cmd.incident_ids:
            known = {
                r["id"] for r in await work.conn.fetch(SELECT_KNOWN_INCIDENTS, cmd.incident_ids)
            }
            missing = [i for i in cmd.incident_ids if i not in known]
            if missing:
                raise ValidationFailed(
                    f"incident_ids: no incident {missing[0]}", field="incident_ids"
                )
        rules = work.rules
        (new_id,) = await items.next_ids(work.conn, 1, work.now, rules.calendar.tz)
        decision = core.open_item(
            new_id, cmd, who, work.now, rules.calendar, rules.warn_at, _days(rt)
        )
        await items.insert(work.conn, [decision.item])
        work.record([decision.step])
    _wake(request)
    location = f"{PREFIX}/{decision.item.id}"
    return http.json_response(
        present(rt, decision.item), status=201, headers={"Location": location}
    )


def _clean(request: web.Request, name: str) -> str | None:
    value = request.query.get(name) or None
    if value is not None and "\x00" in value:
        raise ValidationFailed(f"{name}: may not contain the NUL character", field=name)
    return value


def _listed(request: web.Request, name: str, allowed: set[str]) -> list[str] | None:
    raw = request.query.get(name)
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise ValidationFailed(f"{name}: unknown value {wrong[0]}", field=name)
    return values


async def list_items(request: web.Request) -> web.Response:
    """The supervision queue."""
    who = _principal(request)
    rt = http.runtime(request)
    states = _listed(request, "state", {s.value for s in core.State})
    colours = _listed(request, "colour", {"green", "yellow", "red"})
    tier = _clean(request, "tier")
    tier_ids: list[str] | None = None
    if tier is not None:
        if tier not in rt.ref.squads:
            raise ValidationFailed(f"tier: no squad {tier}", field="tier")
        if who.role is Role.SQUAD and not who.covers([tier]):
            raise Forbidden("a squad sees the items of its own tier and the tiers below it")
        tier_ids = sorted(tiers.subtree(tier, rt.ref.squads))
    elif who.role is Role.SQUAD:
        tier_ids = sorted(who.squads())
    try:
        limit = min(max(int(request.query.get("limit", "200")), 1), 1000)
    except ValueError:
        raise ValidationFailed("limit: a whole number", field="limit") from None
    found = await items.queue(
        rt.pool,
        states=states,
        colours=colours,
        tiers=tier_ids,
        incident_id=_clean(request, "incident_id"),
        limit=limit,
    )
    return http.json_response({"items": [present(rt, i) for i in found]})


async def get_item(request: web.Request) -> web.Response:
    """One item with its replies and every step of it in the history."""
    rt = http.runtime(request)
    item = await _readable(request)
    doc = present(rt, item)
    zone = rt.settings.zone
    replies = await items.replies(rt.pool, item.id)
    for entry in replies:
        for key in ("replied_at", "reviewed_at"):
            entry[key] = format_time(entry[key], zone)
    doc["replies"] = replies
    steps = await store.history_of(rt.pool, item.id)
    for step in steps:
        step["at"] = format_time(step["at"], zone)
        step["actor_name"] = step["detail"].get("actor_name")
        step["label"] = step["detail"].get("label")
    doc["steps"] = steps
    return http.json_response(doc)


async def _step(request: web.Request, doing: str) -> web.Response:
    who = http.principal(request)
    rt = http.runtime(request)
    item_id = request.match_info["id"]
    # who may do this at all before anything is read: a refusal must not depend on the item
    if doing == "reply":
        require_role(who, REPLIERS, "reply to supervision items")
    else:
        core.require_centre(who, f"{doing} supervision items")
    seen = await _readable(request)
    if doing == "reply":
        if not core.may_reply(who, seen):
            raise Forbidden("only the answering tier, a tier above it or the centre may reply")
        reply_in = core.parse(core.ReplyIn, await request.read())
        _check_attachments(item_id, reply_in.attachments)
    elif doing == "review":
        core.require_centre(who, "review a reply")
        review_in = core.parse(core.ReviewIn, await request.read())
    elif doing == "assign":
        assign_in = core.parse(core.AssignIn, await request.read())
        if assign_in.tier_id not in rt.ref.squads:
            raise ValidationFailed(f"tier_id: no squad {assign_in.tier_id}", field="tier_id")
    else:
        core.require_centre(who, "close an item")
        close_in = core.parse(core.CloseIn, await request.read())
    async with rt.changes.begin() as work:
        item = await items.lock(work.conn, item_id)
        if item is None:
            raise NotFound(f"no supervision item {item_id}")
        rules = work.rules
        if doing == "reply":
            decision = core.reply(item, reply_in, who, work.now)
            await items.add_reply(work.conn, decision.step)
        elif doing == "review":
            decision = core.review(item, review_in, who, work.now, rules.calendar, rules.warn_at)
            await items.add_review(work.conn, decision.step)
        elif doing == "assign":
            decision = core.assign(item, assign_in, who, work.now)
        else:
            decision = core.close(item, close_in, who, work.now)
        await items.save(work.conn, decision.item)
        work.record([decision.step])
    _wake(request)
    return http.json_response(present(rt, decision.item))


async def post_assign(request: web.Request) -> web.Response:
    """The centre names (or changes) the tier that must answer."""
    return await _step(request, "assign")


async def post_reply(request: web.Request) -> web.Response:
    """The answering tier's reply, with attachments."""
    return await _step(request, "reply")


async def post_review(request: web.Request) -> web.Response:
    """The centre's review of the reply: accepted, or returned with a reason."""
    return await _step(request, "review")


async def post_close(request: web.Request) -> web.Response:
    """The centre closes an accepted item (办结)."""
    return await _step(request, "close")


def _check_attachments(item_id: str, urls: list[str]) -> None:
    for n, url in enumerate(urls):
        prefix = f"{PREFIX}/{item_id}/attachments/"
        if not (url.startswith(prefix) and is_image_name(url.removeprefix(prefix))):
            raise ValidationFailed(
                f"attachments.{n}: not an attachment uploaded to this item",
                field=f"attachments.{n}",
            )


async def post_attachment(request: web.Request) -> web.Response:
    """Upload an image for a reply (JPEG, PNG or WebP, the raw body)."""
    who = http.principal(request)
    require_role(who, REPLIERS, "attach to replies")
    item = await _readable(request)
    if not core.may_reply(who, item):
        raise Forbidden("only those who may reply may attach to a reply")
    got = await receive_image(request, item.id, "an attachment")
    return got.answer(f"{PREFIX}/{item.id}/attachments/{got.name}")


async def get_attachment(request: web.Request) -> web.StreamResponse:
    """An attachment of an item's reply, to whoever may read the item."""
    item = await _readable(request)
    return await image_file(request, item.id, request.match_info["name"])


def add_routes(app: web.Application) -> None:
    """The routes, and the warning loop (started after the runtime, ``app.runtime_ctx``)."""
    app.cleanup_ctx.append(
        http.background(
            WARNINGS, lambda rt: items.WarningLoop(rt.pool, rt.changes, lambda: rt.ref.squads)
        )
    )
    router = app.router
    router.add_post(PREFIX, post_item)
    router.add_get(PREFIX, list_items)
    router.add_get(PREFIX + "/{id}", get_item)
    router.add_post(PREFIX + "/{id}/reply", post_reply)
    router.add_post(PREFIX + "/{id}/review", post_review)
    router.add_post(PREFIX + "/{id}/close", post_close)
    router.add_post(PREFIX + "/{id}/assign", post_assign)
    router.add_post(PREFIX + "/{id}/attachments", post_attachment)
    router.add_get(PREFIX + "/{id}/attachments/{name}", get_attachment)
