"""One trip for nearby cases (顺路处置): open incidents at one target, offered to a squad together.

This is not 综合查一次, which is one planned inspection of a regulated place covering several
departments' checklists (:mod:`dispatcher.core.inspections`); the route and the names in the
code (``/api/v1/visits``, ``visit_id``, ``DISPATCH_VISIT_RADIUS_M``) keep "visit" so that
clients and deployments need not change.

Open incidents of a squad that are within a few tens of metres of each other, or give the same
address, or name the same business or site (``target_name``), are one target: a squad going
there once handles all of them. :func:`group` answers those groups of two or more as
:class:`Visit` values with a stable id (a digest of their incident ids), so that an operator
can dispatch a visit by id and be told when it has changed meanwhile.

Pure: distances are geodesic, in metres; a coarse grid only limits which pairs are measured.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from dispatcher.core.dedup import box
from dispatcher.core.incidents import Incident, State
from geo.distance import distance_m

#: states whose incidents a visit may dispatch (the others are already with a squad)
TO_DISPATCH: Final = frozenset({State.REGISTERED, State.RETURNED})
#: open states whose incidents a squad's visits are made of
VISITABLE: Final = frozenset({State.REGISTERED, State.RETURNED, State.DISPATCHED, State.ACCEPTED})
#: an address or a name shorter than this says too little to join incidents by
MIN_KEY_LENGTH: Final = 4


def normal(text: str | None) -> str:
    """A name or address for comparing: NFKC, no spaces or punctuation, lower case."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if ch.isalnum())


@dataclass(frozen=True)
class Visit:
    id: str
    incidents: tuple[Incident, ...]
    reasons: tuple[str, ...]

    @property
    def to_dispatch(self) -> tuple[Incident, ...]:
        return tuple(i for i in self.incidents if i.state in TO_DISPATCH)

    def to_json(self, squad_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "squad_id": squad_id,
            "incident_ids": [i.id for i in self.incidents],
            "to_dispatch": [i.id for i in self.to_dispatch],
            "reasons": list(self.reasons),
            "lon": sum(i.lon for i in self.incidents) / len(self.incidents),
            "lat": sum(i.lat for i in self.incidents) / len(self.incidents),
            "address": next((i.address for i in self.incidents if i.address), None),
            "target_name": next(
                (i.extra["target_name"] for i in self.incidents if i.extra.get("target_name")),
                None,
            ),
            "categories": sorted({i.category for i in self.incidents}),
        }


class _Sets:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def visit_id(incidents: Sequence[Incident]) -> str:
    digest = hashlib.sha256(",".join(sorted(i.id for i in incidents)).encode()).hexdigest()
    return "v-" + digest[:16]


def group(incidents: Sequence[Incident], radius_m: float) -> list[Visit]:
    """The visits among ``incidents`` (groups of two or more), largest first."""
    items = [i for i in incidents if i.state in VISITABLE]
    sets = _Sets(len(items))
    why: dict[tuple[int, int], set[str]] = defaultdict(set)

    def link(a: int, b: int, reason: str) -> None:
        sets.join(a, b)
        why[(min(a, b), max(a, b))].add(reason)

    for field in ("address", "target_name"):
        first: dict[str, int] = {}
        for n, incident in enumerate(items):
            raw = incident.address if field == "address" else incident.extra.get("target_name")
            key = normal(raw if isinstance(raw, str) else None)
            if len(key) >= MIN_KEY_LENGTH:
                if key in first:
                    link(first[key], n, f"same_{field}")
                else:
                    first[key] = n
    if radius_m > 0 and items:
        widest = max(items, key=lambda i: abs(i.lat))  # a degree of longitude is shortest there
        x0, y0, x1, y1 = box(widest.lon, widest.lat, radius_m)
        width, height = x1 - x0, y1 - y0
        cells: dict[tuple[int, int], list[int]] = defaultdict(list)
        for n, incident in enumerate(items):
            cells[(math.floor(incident.lon / width), math.floor(incident.lat / height))].append(n)
        for (cx, cy), members in cells.items():
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for b in cells.get((cx + dx, cy + dy), ()):
                        for a in members:
                            if a < b and _close(items[a], items[b], radius_m):
                                link(a, b, "nearby")
    groups: dict[int, list[int]] = defaultdict(list)
    for n in range(len(items)):
        groups[sets.find(n)].append(n)
    visits = []
    for members in groups.values():
        if len(members) < 2:
            continue
        chosen = [items[n] for n in members]
        reasons = sorted({r for (a, b), rs in why.items() if a in members for r in rs})
        visits.append(Visit(visit_id(chosen), tuple(chosen), tuple(reasons)))
    visits.sort(key=lambda v: (-len(v.incidents), v.id))
    return visits


def _close(a: Incident, b: Incident, radius_m: float) -> bool:
    return distance_m(a.lon, a.lat, b.lon, b.lat) <= radius_m
