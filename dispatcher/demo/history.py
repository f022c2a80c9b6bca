"""The demo's 30 days before today: synthetic history so that the trend and the rankings of the
wall and the leader's page are not empty when the demo starts.

Each past report is a body of :func:`dispatcher.demo.simulator.make_report` at an instant of
the daily curve (:func:`dispatcher.demo.day.arrivals`), planned by intake's own
:func:`~dispatcher.core.intake.plan_intake` at that instant, and then taken through the life
cycle's own :func:`~dispatcher.core.lifecycle.decide` (and 12345's
:func:`~dispatcher.core.hotline.decide`) step by step, each at the instant
:func:`dispatcher.demo.day.next_step` gives it. A case whose next step would fall after now is
left where it stands, open, for the live simulator to go on with. The rows and their history
(every entry at its own ``at``) are written as intake's group commit writes them: the incidents
inserted, their timers armed, the events appended to the hash-chained history, a thousand cases
a transaction. Nothing is published (nobody watches the past).

Everything this writes is made up: the report texts, the places (random points in the demo's
streets), the times and what the squads did. The wall and the README say so.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from dispatcher.core import hotline as hotline_core
from dispatcher.core import lifecycle
from dispatcher.core.auth import Principal, Role
from dispatcher.core.events import Entry
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.incidents import Incident, State
from dispatcher.core.intake import parse_report_object, plan_intake
from dispatcher.core.routing import recommend
from dispatcher.demo import day
from dispatcher.demo.city import DemoCity
from dispatcher.demo.simulator import make_report
from dispatcher.store import journal, timers
from dispatcher.store import records as store
from dispatcher.web import cases
from dispatcher.web.context import Runtime
from geo.coords import parse_crs, to_wgs84

log = logging.getLogger(__name__)

#: cases written a transaction
CHUNK: Final = 1000
#: a report this old or older means an earlier run wrote the history already
ALREADY: Final = timedelta(days=2)
SELECT_OLDEST: Final = "SELECT min(received_at) FROM incidents"


@dataclass(frozen=True)
class Actors:
    """Whom the history names for each step (the tokens the live demo acts with)."""

    device: Principal
    operator: Principal
    #: each squad's holder, by squad id
    squads: dict[str, Principal]


def actors(device_id: str, operator_id: str, squad_ids: dict[str, str]) -> Actors:
    """The principals of the demo's tokens, by their ids (``squad_ids``: squad id → token id)."""
    return Actors(
        Principal(TokenId(device_id), Role.DEVICE, "演示设备网关"),
        Principal(TokenId(operator_id), Role.OPERATOR, "演示值班员"),
        {
            squad: Principal(TokenId(token), Role.SQUAD, f"{squad} 移动端", squad_id=SquadId(squad))
            for squad, token in squad_ids.items()
        },
    )


def _view(incident: Incident) -> dict[str, Any]:
    """What :func:`dispatcher.demo.day.next_step` reads of a case."""
    return {
        "state": incident.state.value,
        "source": incident.source.value,
        "rework_count": incident.progress.rework_count,
    }


def _act(
    rt: Runtime, incident: Incident, step: day.Step, who: Actors, at: datetime
) -> tuple[Incident, list[Entry]]:
    """One step of a past case through the core's own decision, at ``at``."""
    if step.actor is day.Actor.SQUAD:
        actor = who.squads.get(incident.squad_id or "", who.operator)
    else:
        actor = who.device if step.actor is day.Actor.PLATFORM else who.operator
    raw = json.dumps(step.body).encode()
    rules = rt.policy.rules
    if step.path == "hotline":
        done = hotline_core.decide(incident, hotline_core.parse_hotline(raw), actor, at, rules)
        return done.incident, list(done.events)
    cmd = lifecycle.parse_action(raw)
    recommendation = None
    if cmd.action is lifecycle.Action.DISPATCH:
        recommendation = cases.recommendation_for(rt, incident)
    ctx = lifecycle.Context(
        category=rt.ref.categories.get(incident.category),
        squads=rt.ref.squads,
        recommended_squad_id=recommendation.squad_id if recommendation else None,
        support_squad_ids=recommendation.support_squad_ids if recommendation else (),
        target=None,
    )
    decision = lifecycle.decide(incident, cmd, actor, at, ctx, rules)
    return decision.incident, list(decision.events)


def live_through(
    rt: Runtime, incident: Incident, who: Actors, now: datetime, seed: int
) -> tuple[Incident, list[Entry]]:
    """Take a case from intake through every step that falls before ``now``."""
    events: list[Entry] = []
    at = incident.received_at
    visited = False
    while True:
        view = {**_view(incident), "visited": visited}
        rng = day.case_rng(seed, incident.id, incident.version)
        step = day.next_step(rng, view, at.astimezone(day.CST).hour)
        if step is None:
            return incident, events
        while step is not None:
            at = at + timedelta(seconds=step.delay_s)
            if at >= now:
                return incident, events
            try:
                incident, more = _act(rt, incident, step, who, at)
            except Exception as exc:  # a refusal of the core: the case stays as it is
                log.debug("history: %s on %s refused: %s", step.body, incident.id, exc)
                return incident, events
            events.extend(more)
            visited = visited or step.path == "hotline"
            step = step.then
        if incident.state is not State.CLOSED:
            visited = False  # reopened (不满意重办): rung back again once closed again


async def backfill(
    rt: Runtime,
    city: DemoCity,
    who: Actors,
    *,
    days: int = 30,
    per_day: float = day.PER_DAY,
    recent_hours: float = 0.0,
    recent_per_day: float = day.PER_DAY,
    seed: int = 30,
    now: datetime | None = None,
) -> int:
    """Write ``days`` days of synthetic history before ``now`` at ``per_day`` reports a day,
    the last ``recent_hours`` of them at ``recent_per_day`` (the live rate: the cases open now
    are as many as the live day's); answer how many cases were written (0 when an earlier run
    wrote them already)."""
    now = now or datetime.now(UTC)
    oldest = await rt.pool.fetchval(SELECT_OLDEST)
    if oldest is not None and oldest <= now - ALREADY:
        return 0
    rng = random.Random(seed)
    recent = now - timedelta(hours=recent_hours)
    moments = day.arrivals(rng, now - timedelta(days=days), recent, per_day)
    moments += day.arrivals(rng, recent, now, recent_per_day)
    rules = rt.policy.rules
    tz = rules.calendar.tz
    written = 0
    for first in range(0, len(moments), CHUNK):
        chunk = moments[first : first + CHUNK]
        async with rt.pool.acquire() as conn, conn.transaction():
            numbers = await store.open_batch(conn, [None] * len(chunk))
            incidents: list[Incident] = []
            events: list[Entry] = []
            for moment, number in zip(chunk, numbers, strict=True):
                assert isinstance(number, int)
                incident, more = _one(rt, city, who, rng, moment, number, now, seed)
                if incident is not None:
                    incidents.append(incident)
                    events.extend(more)
            await store.insert_incidents(conn, [store.encode_doc(i, tz) for i in incidents])
            await timers.rearm(conn, incidents, rules, now)
            await journal.append(conn, sorted(events, key=lambda e: e.at), tz)
        written += len(incidents)
    log.info("demo history: %d synthetic cases over %d days", written, days)
    return written


def _one(
    rt: Runtime,
    city: DemoCity,
    who: Actors,
    rng: random.Random,
    moment: datetime,
    number: int,
    now: datetime,
    seed: int,
) -> tuple[Incident | None, list[Entry]]:
    report = parse_report_object(make_report(rng, city, moment))
    category = rt.ref.categories.get(report.category)
    if category is None:
        return None, []
    lon, lat = to_wgs84(report.lon, report.lat, parse_crs(report.crs))
    match = rt.ref.zones.match(lon, lat)
    recommendation = recommend(match, category, rt.ref.squads, rt.settings.border_margin_m)
    plan = plan_intake(
        report,
        incident_id=journal.incident_id(number, moment, rt.policy.rules.calendar.tz),
        lon=lon,
        lat=lat,
        now=moment,
        actor=who.device,
        match=match,
        category=category,
        recommendation=recommendation,
        policy=rt.policy,
    )
    incident, events = live_through(rt, plan.incident, who, now, seed)
    return incident, [*plan.events, *events]
