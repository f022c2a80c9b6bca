"""Inspection plans and tasks: ``/api/v1/inspection-plans``, ``/api/v1/inspection-tasks``
(docs/API.md §13).

A plan is written by the centre, then drawn (双随机: :mod:`dispatcher.core.draw`) in one unit
of work that records the seed and the result and assigns one task per drawn place, each
covering every department's items (综合查一次); the tasks' steps go to the squads' topics like
dispatches. The draw and the results are published by the export (CSV or JSON: names and
执法证号 of the officers, never their phones). A squad's officers record a task's result on
their phones: each item passed or failed with a note and photos (uploaded to the task, kept
like an incident's), and the place's 亮码 code, which must be the place's own; each failed item
becomes an incident through intake, and the task names the incidents.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from typing import Any, Final

from aiohttp import web

from dispatcher.core import draw as drawing
from dispatcher.core import inspections as core
from dispatcher.core import tiers
from dispatcher.core.auth import ACT_ALL, Role, require_role
from dispatcher.core.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from dispatcher.core.intake import parse_report_object
from dispatcher.core.places import KIND_LABELS
from dispatcher.core.supervision import parse
from dispatcher.core.times import format_time
from dispatcher.store import inspections as store
from dispatcher.store import places as places_store
from dispatcher.store import records
from dispatcher.web import api_places, cases
from dispatcher.web import context as http
from dispatcher.web.api_media import image_file, is_image_name, receive_image

PLANS: Final = "/api/v1/inspection-plans"
TASKS: Final = "/api/v1/inspection-tasks"
WARNINGS: Final = web.AppKey("inspection_warnings", store.WarningLoop)
READERS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SQUAD})
PUBLISHERS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR})
INSPECTORS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.SQUAD})
_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: the source of the incidents a failed item becomes: the officers' own finding on a patrol
FINDING_SOURCE: Final = "grid"


def _squad_name(rt: http.Runtime, squad_id: str | None) -> str | None:
    squad = rt.ref.squads.get(squad_id or "")
    return squad.name if squad else squad_id


def _wake(request: web.Request) -> None:
    loop = request.app.get(WARNINGS)
    if loop is not None:
        loop.wake.set()


def _checked_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise NotFound(f"no {what} {value!r}")
    return value


# -- plans --------------------------------------------------------------------------------------


async def _plan(request: web.Request) -> core.Plan:
    who = http.principal(request)
    require_role(who, READERS, "read inspection plans")
    plan_id = _checked_id(request.match_info["id"], "inspection plan")
    plan = await store.get_plan(http.runtime(request).pool, plan_id)
    if plan is None:
        raise NotFound(f"no inspection plan {plan_id}")
    if who.role is Role.SQUAD and not who.covers([plan.tier_id]):
        raise Forbidden("a squad sees the plans of its own tier")
    return plan


def present_plan(rt: http.Runtime, plan: core.Plan) -> dict[str, Any]:
    doc = plan.to_doc(rt.settings.zone)
    doc["tier_name"] = _squad_name(rt, plan.tier_id)
    if plan.draw is not None:
        doc["draw"] = {k: v for k, v in plan.draw.items() if k not in ("population", "officers")}
        doc["draw"]["population_size"] = len(plan.draw["population"])
    return doc


async def post_plan(request: web.Request) -> web.Response:
    """Write a plan (a draft until drawn)."""
    who = http.principal(request)
    require_role(who, ACT_ALL, "write inspection plans")
    rt = http.runtime(request)
    cmd = parse(core.PlanIn, await request.read())
    if cmd.tier_id not in rt.ref.squads:
        raise ValidationFailed(f"tier_id: no squad {cmd.tier_id}", field="tier_id")
    for n, item in enumerate(cmd.checklist):
        if item.category not in rt.ref.categories:
            raise ValidationFailed(
                f"checklist.{n}.category: unknown category {item.category}",
                field=f"checklist.{n}.category",
            )
    if cmd.campaign_id is not None and await store.get_campaign(rt.pool, cmd.campaign_id) is None:
        raise ValidationFailed(f"campaign_id: no campaign {cmd.campaign_id}", field="campaign_id")
    async with rt.changes.begin() as work:
        number = await store.next_number(work.conn, "inspection_plan_no")
        plan_id = store.plan_id(number, work.now, rt.settings.zone)
        plan, step = core.new_plan(plan_id, cmd, who, work.now, rt.settings.zone)
        await store.insert_plan(work.conn, plan)
        work.record([step])
    return http.json_response(
        present_plan(rt, plan), status=201, headers={"Location": f"{PLANS}/{plan.id}"}
    )


async def list_plans(request: web.Request) -> web.Response:
    who = http.principal(request)
    require_role(who, READERS, "read inspection plans")
    rt = http.runtime(request)
    squads = who.squads() if who.role is Role.SQUAD else None
    found = await store.list_plans(rt.pool, squads, 200)
    return http.json_response({"plans": [present_plan(rt, p) for p in found]})


async def get_plan(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    plan = await _plan(request)
    doc = present_plan(rt, plan)
    found = await store.list_tasks(
        rt.pool, squads=None, states=None, plan_id=plan.id, place_id=None, limit=10_000
    )
    doc["tasks"] = [t.to_doc(rt.settings.zone) for t in found]
    return http.json_response(doc)


async def post_draw(request: web.Request) -> web.Response:
    """Draw the plan (双随机) and assign its tasks, in one unit of work."""
    who = http.principal(request)
    require_role(who, ACT_ALL, "draw inspection plans")
    rt = http.runtime(request)
    plan_id = _checked_id(request.match_info["id"], "inspection plan")
    cmd = parse(core.DrawIn, await request.read())
    tz = rt.settings.zone
    squads = rt.ref.squads
    async with rt.changes.begin() as work:
        plan = await store.lock_plan(work.conn, plan_id)
        if plan is None:
            raise NotFound(f"no inspection plan {plan_id}")
        if plan.state is core.PlanState.DRAWN:
            raise InvalidTransition(f"plan {plan.id} is already drawn (seed {plan.seed})")
        tier = tiers.subtree(plan.tier_id, squads)
        places = {p.id: p for p in await places_store.of_squads(work.conn, tier)}
        population = core.candidates(list(places.values()), plan.population, tier)
        officers = await store.eligible_officers(work.conn, tier)
        last = await store.last_inspectors(work.conn, [c.id for c in population])
        seed = cmd.seed or secrets.token_hex(16)
        drawn = drawing.draw(seed, population, plan.sample_size, officers, last, plan.officers)
        visited = [d for d in drawn if core.items_for(places[d.place_id], plan.checklist)]
        merged = core.merge([core.items_for(places[d.place_id], plan.checklist) for d in drawn])
        record = drawing.record(
            seed, population, plan.sample_size, officers, last, drawn, plan.officers
        )
        record.update(
            visits=merged.visits,
            separate_visits=merged.separate_visits,
            combined_visits=merged.combined_visits,
            visits_saved=merged.saved,
            without_items=[d.place_id for d in drawn if d not in visited],
        )
        numbers = await store.next_task_numbers(work.conn, len(visited)) if visited else []
        rules = work.rules
        assigned = [
            core.assign(
                store.task_id(number, work.now, tz),
                plan,
                places[d.place_id],
                d,
                who,
                work.now,
                rules.calendar,
                rules.warn_at,
                tz,
            )
            for number, d in zip(numbers, visited, strict=True)
        ]
        plan, step = core.drawn_plan(plan, seed, record, who, work.now, tz)
        await store.save_plan(work.conn, plan)
        await store.insert_tasks(work.conn, [t for t, _ in assigned])
        work.record([step, *(s for _, s in assigned)])
    _wake(request)
    doc = present_plan(rt, plan)
    doc["tasks"] = [t.to_doc(tz) for t, _ in assigned]
    return http.json_response(doc)


EXPORT_HEADER: Final = (
    "计划编号",
    "计划名称",
    "抽取种子",
    "抽取规则",
    "监管对象编码",
    "监管对象名称",
    "对象类型",
    "地址",
    "执法中队",
    "执法人员",
    "检查部门",
    "任务编号",
    "检查状态",
    "检查时间",
    "是否按时",
    "发现问题数",
    "检查结果",
)


async def get_export(request: web.Request) -> web.Response:
    """The published draw and results (公开): JSON or CSV (``format``); no phone numbers."""
    who = http.principal(request)
    require_role(who, PUBLISHERS, "export inspection plans")
    rt = http.runtime(request)
    plan = await _plan(request)
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise ValidationFailed("format: json or csv", field="format")
    if plan.draw is None:
        raise ValidationFailed("the plan is not drawn yet", field="id")
    tz = rt.settings.zone
    found = await store.list_tasks(
        rt.pool, squads=None, states=None, plan_id=plan.id, place_id=None, limit=10_000
    )
    by_place = {t.place_id: t for t in found}
    places = await places_store.many(rt.pool, [r["place_id"] for r in plan.draw["result"]])
    names = await store.people_named(rt.pool, {o for t in found for o in t.officer_ids})
    rows = []
    for drawn in plan.draw["result"]:
        place = places.get(drawn["place_id"])
        task = by_place.get(drawn["place_id"])
        rows.append(
            {
                "place_id": drawn["place_id"],
                "place_name": place.name if place else None,
                "kind": place.kind.value if place else None,
                "kind_label": KIND_LABELS[place.kind] if place else None,
                "address": place.address if place else None,
                "squad_id": drawn["squad_id"],
                "squad_name": _squad_name(rt, drawn["squad_id"]),
                "officers": [
                    {"id": o, **names.get(o, {"name": None, "badge_no": None})}
                    for o in drawn["officer_ids"]
                ],
                "task_id": task.id if task else None,
                "departments": list(task.departments) if task else [],
                "state": task.state.value if task else None,
                "done_at": format_time(task.done_at, tz) if task else None,
                "on_time": task.on_time if task else None,
                "findings": task.findings if task else None,
                "results": [r.to_doc() for r in task.results] if task else [],
            }
        )
    if kind == "json":
        body = {"plan": present_plan(rt, plan), "draw": plan.draw, "inspections": rows}
        return http.json_response(body)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADER)
    for row in rows:
        outcome = "、".join(
            f"{r['item_id']}:{'合格' if r['passed'] else '不合格'}" for r in row["results"]
        )
        writer.writerow(
            (
                plan.id,
                plan.name,
                plan.seed,
                drawing.ALGORITHM,
                row["place_id"],
                row["place_name"],
                row["kind_label"],
                row["address"],
                row["squad_name"],
                "；".join(f"{o['name']}({o['badge_no']})" for o in row["officers"]),
                "、".join(row["departments"]),
                row["task_id"],
                {"done": "已检查", "assigned": "待检查"}.get(row["state"] or "", ""),
                row["done_at"] or "",
                {True: "是", False: "否"}.get(row["on_time"], ""),
                row["findings"] if row["findings"] is not None else "",
                outcome,
            )
        )
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{plan.id}.csv"'},
    )


# -- tasks --------------------------------------------------------------------------------------


async def _task(request: web.Request, roles: frozenset[Role] = READERS) -> core.Task:
    who = http.principal(request)
    require_role(who, roles, "read inspection tasks")
    task_id = _checked_id(request.match_info["id"], "inspection task")
    task = await store.get_task(http.runtime(request).pool, task_id)
    if task is None:
        raise NotFound(f"no inspection task {task_id}")
    if who.role is Role.SQUAD and not who.covers([task.squad_id]):
        raise Forbidden("a squad sees the tasks of its own tier")
    return task


async def present_task(rt: http.Runtime, task: core.Task) -> dict[str, Any]:
    doc = task.to_doc(rt.settings.zone)
    place = await places_store.get(rt.pool, task.place_id)
    doc["place"] = api_places.present(rt, place) if place else None
    doc["squad_name"] = _squad_name(rt, task.squad_id)
    names = await store.people_named(rt.pool, task.officer_ids)
    doc["officers"] = [{"id": o, **names.get(o, {})} for o in task.officer_ids]
    return doc


async def list_tasks(request: web.Request) -> web.Response:
    """Tasks, open first by deadline: ``squad`` (and its tier), ``state``, ``plan_id``."""
    who = http.principal(request)
    require_role(who, READERS, "read inspection tasks")
    rt = http.runtime(request)
    squad = request.query.get("squad") or None
    squads: frozenset[str] | None = who.squads() if who.role is Role.SQUAD else None
    if squad is not None:
        if squad not in rt.ref.squads:
            raise ValidationFailed(f"squad: no squad {squad}", field="squad")
        if who.role is Role.SQUAD and not who.covers([squad]):
            raise Forbidden("a squad sees the tasks of its own tier")
        squads = tiers.subtree(squad, rt.ref.squads)
    state = request.query.get("state") or None
    if state is not None and state not in {s.value for s in core.TaskState}:
        raise ValidationFailed(f"state: unknown state {state}", field="state")
    plan_id = request.query.get("plan_id") or None
    if plan_id is not None and not _ID.fullmatch(plan_id):
        raise ValidationFailed("plan_id: not a plan's id", field="plan_id")
    found = await store.list_tasks(
        rt.pool,
        squads=squads,
        states=[state] if state else None,
        plan_id=plan_id,
        place_id=None,
        limit=500,
    )
    return http.json_response({"tasks": [await present_task(rt, t) for t in found]})


async def get_task(request: web.Request) -> web.Response:
    """One task with its place, officers and its steps in the history."""
    rt = http.runtime(request)
    task = await _task(request)
    doc = await present_task(rt, task)
    steps = await records.history_of(rt.pool, task.id)
    for step in steps:
        step["at"] = format_time(step["at"], rt.settings.zone)
        step["label"] = step["detail"].get("label")
    doc["steps"] = steps
    return http.json_response(doc)


def _check_photos(task_id: str, cmd: core.ResultIn) -> None:
    prefix = f"{TASKS}/{task_id}/photos/"
    for n, result in enumerate(cmd.results):
        for m, url in enumerate(result.photos):
            if not (url.startswith(prefix) and is_image_name(url.removeprefix(prefix))):
                raise ValidationFailed(
                    f"results.{n}.photos.{m}: not a photo uploaded to this task",
                    field=f"results.{n}.photos.{m}",
                )


async def post_result(request: web.Request) -> web.Response:
    """Record a task's result: 亮码检查, each item passed or failed; failures become incidents."""
    who = http.principal(request)
    require_role(who, INSPECTORS, "record inspections")
    rt = http.runtime(request)
    seen = await _task(request, INSPECTORS)
    cmd = parse(core.ResultIn, await request.read())
    place = await places_store.get(rt.pool, seen.place_id)
    if place is None:
        raise NotFound(f"no place {seen.place_id}")
    core.check_result(seen, place, cmd)  # refused before any incident is opened
    _check_photos(seen.id, cmd)
    items = {i.id: i for i in seen.items}
    incidents: dict[str, str] = {}
    for result in cmd.results:
        if result.passed:
            continue
        item = items[result.item_id]
        report = parse_report_object(
            {
                "source": FINDING_SOURCE,
                # the same task and item give the same incident when a result is sent again
                "external_id": f"{seen.id}-{item.id}",
                "category": item.category,
                "lon": place.lon,
                "lat": place.lat,
                "address": place.address or place.name,
                "description": (
                    f"检查任务 {seen.id}（{place.name}）发现问题：{item.text}"
                    f"（{item.department}）。{result.note}"
                ).strip(),
            }
        )
        incident, _ = await cases.intake(
            rt,
            report,
            who,
            extra={"inspection_task_id": seen.id, "place_id": place.id, "item_id": item.id},
        )
        incidents[item.id] = incident.id
    async with rt.changes.begin() as work:
        task = await store.lock_task(work.conn, seen.id)
        if task is None:
            raise NotFound(f"no inspection task {seen.id}")
        after, step = core.record_result(
            task, place, cmd, incidents, who, work.now, rt.settings.zone
        )
        await store.save_task(work.conn, after)
        work.record([step])
    return http.json_response(await present_task(rt, after))


async def post_photo(request: web.Request) -> web.Response:
    """Upload a photo for a task's result (JPEG, PNG or WebP, the raw body)."""
    task = await _task(request, INSPECTORS)
    got = await receive_image(request, task.id, "a photo")
    return got.answer(f"{TASKS}/{task.id}/photos/{got.name}")


async def get_photo(request: web.Request) -> web.StreamResponse:
    task = await _task(request)
    return await image_file(request, task.id, request.match_info["name"])


def add_routes(app: web.Application) -> None:
    """The routes, and the warning loop (started after the runtime, ``app.runtime_ctx``)."""
    app.cleanup_ctx.append(
        http.background(
            WARNINGS, lambda rt: store.WarningLoop(rt.pool, rt.changes, lambda: rt.settings.zone)
        )
    )
    router = app.router
    router.add_post(PLANS, post_plan)
    router.add_get(PLANS, list_plans)
    router.add_get(PLANS + "/{id}", get_plan)
    router.add_post(PLANS + "/{id}/draw", post_draw)
    router.add_get(PLANS + "/{id}/export", get_export)
    router.add_get(TASKS, list_tasks)
    router.add_get(TASKS + "/{id}", get_task)
    router.add_post(TASKS + "/{id}/result", post_result)
    router.add_post(TASKS + "/{id}/photos", post_photo)
    router.add_get(TASKS + "/{id}/photos/{name}", get_photo)
