"""Duplicates (并案 at intake): a report of a problem already open joins it.

A report is a duplicate of an open incident of the same category whose point lies within the
category's ``dedup_radius_m`` (metres, geodesic) and whose reports span comes within the
category's ``dedup_window_s`` of the report's time. The window slides: it is measured from the
incident's latest report, so a camera that sees the same stall every ten seconds keeps adding
to one incident for as long as the stall stays and the incident is open.

A duplicate still becomes a record of its own (its source, external id, media and answer are
kept, and a replay of it answers the same record), but in state ``merged`` with
``duplicate_of`` naming the open incident, which counts the report and gathers its sources and
media. Reports close to but not quite duplicates (the same place with another category, or
the same category just outside the radius or the window) are noted on the new incident as
``possible_duplicates`` for the operator.

Everything here is pure: :func:`find` decides, :func:`attach` builds the records and events.
:mod:`dispatcher.core.collation` runs it over a batch inside intake's transaction, under the place
locks of :func:`lock_keys`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from dispatcher.core.categories import Category
from dispatcher.core.deadlines import enter_stage
from dispatcher.core.errors import InvalidTransition
from dispatcher.core.events import Event, EventType
from dispatcher.core.incidents import Incident, State, evolve, revision
from dispatcher.core.progress import Progress
from geo.distance import distance_m

#: same-category reports up to this many radii away are offered as possible duplicates
NEAR_FACTOR: Final = 2.0
#: the least distance within which other categories at the same place are offered
NEAR_MIN_M: Final = 50.0
#: how many possible duplicates are noted on an incident, nearest first
NEAR_LIMIT: Final = 5
#: an open incident keeps at most this many media references (every report keeps its own)
MAX_MEDIA: Final = 100
#: the side of a place cell, in degrees (about 1 km): the unit of intake's place locks
CELL_DEG: Final = 0.01
#: a category whose radius is larger than this locks all of its places at once (decided by
#: the radius alone, so that every report of the category locks the same way)
MAX_CELL_RADIUS_M: Final = 2000.0
#: metres per degree of latitude, at least (at the equator), and of longitude at the equator
_M_PER_DEG_LAT: Final = 110_574.0
_M_PER_DEG_LON: Final = 111_319.0


@dataclass(frozen=True)
class Rule:
    """A category's dedup rule: ``radius_m`` 0 or ``window`` 0 turns dedup off."""

    radius_m: float
    window: timedelta

    @classmethod
    def of(cls, category: Category) -> Rule:
        return cls(category.dedup_radius_m, timedelta(seconds=category.dedup_window_s))

    @property
    def enabled(self) -> bool:
        return self.radius_m > 0 and self.window > timedelta(0)

    @property
    def near_m(self) -> float:
        """How far around a report possible duplicates are looked for."""
        return max(self.radius_m * NEAR_FACTOR, NEAR_MIN_M)


@dataclass(frozen=True)
class NearMiss:
    incident_id: str
    category: str
    distance_m: float
    reason: str  # other_category | outside_radius | outside_window

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "category": self.category,
            "distance_m": round(self.distance_m, 1),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Finding:
    """The open incident a report joins (None: it opens its own) and the near-misses."""

    target: Incident | None
    distance_m: float | None = None
    near: tuple[NearMiss, ...] = ()


def reported_at(incident: Incident) -> datetime:
    """When a report saw its problem: ``occurred_at`` if it said, else when it arrived."""
    return incident.occurred_at or incident.received_at


def report_span(incident: Incident) -> tuple[datetime, datetime]:
    """The first and last time the problem of an incident was reported."""
    first, last = incident.progress.first_report_at, incident.progress.last_report_at
    at = reported_at(incident)
    return (first or at, last or at)


def _gap(moment: datetime, span: tuple[datetime, datetime]) -> timedelta:
    first, last = span
    if moment < first:
        return first - moment
    if moment > last:
        return moment - last
    return timedelta(0)


def find(report: Incident, rule: Rule, candidates: Iterable[Incident]) -> Finding:
    """Decide whether ``report`` duplicates one of ``candidates`` (the open incidents near it).

    The nearest qualifying incident wins (the oldest on a tie). Candidates that are closed,
    the report itself, or far away are ignored; near-misses are kept, nearest first.
    """
    best: tuple[float, str, Incident] | None = None
    near: list[NearMiss] = []
    moment = reported_at(report)
    place_m = max(rule.radius_m, NEAR_MIN_M)
    x0, y0, x1, y1 = box(report.lon, report.lat, max(rule.near_m, place_m))
    for other in candidates:
        if not (x0 <= other.lon <= x1 and y0 <= other.lat <= y1):
            continue  # surely farther than any distance that matters: not measured
        if other.id == report.id or not other.state.is_open:
            continue
        d = distance_m(report.lon, report.lat, other.lon, other.lat)
        if other.category != report.category:
            if d <= place_m:
                near.append(NearMiss(other.id, other.category, d, "other_category"))
            continue
        if not rule.enabled:
            continue
        if d <= rule.radius_m:
            if _gap(moment, report_span(other)) <= rule.window:
                if best is None or (d, other.id) < (best[0], best[1]):
                    best = (d, other.id, other)
            else:
                near.append(NearMiss(other.id, other.category, d, "outside_window"))
        elif d <= rule.near_m:
            near.append(NearMiss(other.id, other.category, d, "outside_radius"))
    near.sort(key=lambda n: (n.distance_m, n.incident_id))
    if best is None:
        return Finding(None, None, tuple(near[:NEAR_LIMIT]))
    return Finding(best[2], best[0], ())


def with_near_misses(incident: Incident, near: tuple[NearMiss, ...]) -> Incident:
    """The incident with its possible duplicates noted for the operator (none: unchanged)."""
    if not near:
        return incident
    return evolve(
        incident,
        extra={**incident.extra, "possible_duplicates": [n.to_json() for n in near]},
    )


@dataclass(frozen=True)
class Attachment:
    """A report joined to an open incident: its own merged record and the grown incident."""

    record: Incident
    target: Incident
    events: tuple[Event, ...]


#: what a duplicate record keeps of the extra fields its report was planned with
_RECORD_EXTRA: Final = ("recommended_squad_id", "cap", "target_name", "open311")


def attach(
    report: Incident,
    target: Incident,
    distance: float,
    now: datetime,
    actor: str,
    actor_role: str | None,
) -> Attachment:
    """Join ``report`` (as reported, not admitted) to the open incident ``target``.

    The report becomes a ``merged`` record naming ``target``; ``target`` counts one more
    report, remembers its source, time span and media. The caller stores both and appends
    the events (the record's creation, then the target's update).
    """
    record = replace(
        report,
        state=State.MERGED,
        duplicate_of=target.id,
        closed_at=now,
        updated_at=now,
        progress=Progress(),
        extra={
            **{k: v for k, v in report.extra.items() if k in _RECORD_EXTRA},
            "duplicate_distance_m": round(distance, 1),
        },
    )
    first, last = report_span(target)
    moment = reported_at(report)
    sources = list(target.progress.sources or [target.source.value])
    if report.source.value not in sources:
        sources.append(report.source.value)
    media = list(target.media)
    for ref in report.media:
        if ref not in media and len(media) < MAX_MEDIA:
            media.append(ref)
    confidences = [c for c in (target.confidence, report.confidence) if c is not None]
    grown = replace(
        target,
        report_count=target.report_count + 1,
        media=tuple(media),
        confidence=max(confidences) if confidences else None,
        progress=target.progress.but(
            sources=tuple(sources),
            first_report_at=min(first, moment),
            last_report_at=max(last, moment),
            # an automatic merge is a merge like an operator's: unmerge reads this list
            merged_ids=(*target.progress.merged_ids, record.id),
        ),
    )
    grown = revision(target, grown, now)
    events = (
        Event(
            type=EventType.INCIDENT_CREATED,
            incident=record,
            at=now,
            actor=actor,
            actor_role=actor_role,
            action="report",
            detail={"duplicate_of": target.id, "distance_m": round(distance, 1)},
        ),
        Event(
            type=EventType.INCIDENT_UPDATED,
            incident=grown,
            at=now,
            actor=actor,
            actor_role=actor_role,
            action="duplicate",
            state_before=target.state,
            detail={
                "report": record.id,
                "source": report.source.value,
                "external_id": report.external_id,
                "report_count": grown.report_count,
            },
        ),
    )
    return Attachment(record, grown, events)


def box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box sure to contain every point within ``radius_m`` metres of the point.

    Degrees are used only to prefilter (and to name lock cells); every decision is taken on
    the geodesic distance in metres.
    """
    dlat = radius_m / _M_PER_DEG_LAT * 1.01 + 1e-7
    edge = min(abs(lat) + dlat, 89.9)
    dlon = radius_m / (_M_PER_DEG_LON * math.cos(math.radians(edge))) * 1.01 + 1e-7
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


def _key(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=4).digest(), "big", signed=True
    )


def lock_keys(category: str, lon: float, lat: float, radius_m: float) -> list[int]:
    """The place locks a report of ``category`` takes before looking for its duplicates.

    The plane is cut into fixed cells of :data:`CELL_DEG`; a report locks every cell its
    radius box touches. Two reports within the radius of each other both lock the cell of
    either one, so their transactions take turns: the second sees the first's incident.
    A radius too large for cells locks the whole category.
    """
    if radius_m > MAX_CELL_RADIUS_M:
        return [_key(f"{category}:*")]
    x0, y0, x1, y1 = box(lon, lat, radius_m)
    cx0, cx1 = math.floor(x0 / CELL_DEG), math.floor(x1 / CELL_DEG)
    cy0, cy1 = math.floor(y0 / CELL_DEG), math.floor(y1 / CELL_DEG)
    return [
        _key(f"{category}:{cx}:{cy}") for cx in range(cx0, cx1 + 1) for cy in range(cy0, cy1 + 1)
    ]


def detach(
    record: Incident,
    target: Incident,
    now: datetime,
    actor: str,
    actor_role: str | None,
    reason: str | None,
) -> Attachment:
    """Unmerge: a merged record becomes an incident of its own again, waiting in ``reported``.

    ``target`` (the incident it was merged into) stops counting its reports and its media.
    The operator then registers, dispatches or rejects the record as any new report.
    """
    if record.state is not State.MERGED or record.duplicate_of != target.id:
        raise InvalidTransition(
            f"incident {record.id} is not merged into {target.id}",
            details={"state": record.state.value, "action": "unmerge"},
        )
    restored = enter_stage(
        replace(
            record,
            state=State.REPORTED,
            duplicate_of=None,
            closed_at=None,
            progress=record.progress.but(unmerged_from=target.id),
        ),
        now,
    )
    restored = revision(record, restored, now)
    merged_ids = tuple(i for i in target.progress.merged_ids if i != record.id)
    shrunk = replace(
        target,
        report_count=max(1, target.report_count - record.report_count),
        media=tuple(m for m in target.media if m not in record.media),
        progress=target.progress.but(merged_ids=merged_ids),
    )
    shrunk = revision(target, shrunk, now)
    detail = {"unmerged": record.id, "from": target.id, "reason": reason}
    events = tuple(
        Event(
            type=EventType.INCIDENT_UPDATED,
            incident=changed,
            at=now,
            actor=actor,
            actor_role=actor_role,
            action="unmerge",
            state_before=before,
            detail=detail,
        )
        for changed, before in ((restored, State.MERGED), (shrunk, target.state))
    )
    return Attachment(restored, shrunk, events)
