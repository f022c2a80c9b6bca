"""Campaigns (专项整治): a named drive over a period and a scope, with targets.

A campaign (e.g. 占道经营专项整治, 渣土运输专项整治) names its period, its scope (zones,
incident categories, kinds of place) and its targets (inspections to make, incidents to close).
What lies inside is computed when read, never copied: the incidents received in the period of
its categories in its zones, and the inspection tasks of the plans written for it or of places
in its scope. Progress is shown per squad against the targets.

Pure: the body, and progress from facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dispatcher.core.inspection_figures import TaskFacts, figures
from dispatcher.core.places import Kind
from dispatcher.core.routing import Squad
from dispatcher.core.times import format_time
from dispatcher.core.validation import Clean

Short = Annotated[str, Field(min_length=1, max_length=200), Clean]
#: what a target may count
TARGETS: Final = ("inspections", "places_inspected", "incidents_closed")


class CampaignIn(BaseModel):
    """The body of ``POST /api/v1/campaigns``."""

    model_config = ConfigDict(allow_inf_nan=False, str_strip_whitespace=True, extra="forbid")

    name: Short
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    zone_ids: Annotated[list[Short], Field(max_length=200)] = []
    categories: Annotated[list[Short], Field(max_length=200)] = []
    place_kinds: Annotated[list[Kind], Field(max_length=6)] = []
    targets: Annotated[
        dict[str, Annotated[int, Field(ge=0, le=10_000_000)]], Field(max_length=3)
    ] = {}

    @model_validator(mode="after")
    def _checked(self) -> CampaignIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at: the period must end after it starts")
        wrong = [t for t in self.targets if t not in TARGETS]
        if wrong:
            raise ValueError(f"targets: unknown target {wrong[0]} (one of {', '.join(TARGETS)})")
        return self


def to_doc(campaign: Mapping[str, Any], tz: tzinfo) -> dict[str, Any]:
    return {
        "id": campaign["id"],
        "name": campaign["name"],
        "starts_at": format_time(campaign["starts_at"], tz),
        "ends_at": format_time(campaign["ends_at"], tz),
        "zone_ids": list(campaign["zone_ids"]),
        "categories": list(campaign["categories"]),
        "place_kinds": list(campaign["place_kinds"]),
        "targets": dict(campaign["targets"]),
        "created_at": format_time(campaign["created_at"], tz),
        "created_by": campaign["created_by"],
    }


def progress(
    campaign: Mapping[str, Any],
    tasks: Sequence[TaskFacts],
    incidents: Mapping[str | None, tuple[int, int]],
    squads: Mapping[str, Squad],
    now: datetime,
) -> dict[str, Any]:
    """Per squad and in total: the campaign's inspections (planned, done, on time, findings)
    and its incidents (received, closed), and the share of each target reached."""
    keys = sorted({t.squad_id for t in tasks if t.squad_id} | {k for k in incidents if k})
    rows = []
    for key in [*keys, None]:
        mine = [t for t in tasks if key is None or t.squad_id == key]
        received, closed = (
            incidents.get(key, (0, 0))
            if key is not None
            else (sum(v[0] for v in incidents.values()), sum(v[1] for v in incidents.values()))
        )
        squad = squads.get(key or "")
        rows.append(
            {
                "squad_id": key,
                "name": (squad.name if squad else key) if key else "合计",
                **figures(mine, now),
                "incidents": received,
                "incidents_closed": closed,
            }
        )
    total = rows[-1]
    reached = {
        "inspections": total["done"],
        "places_inspected": total["places_inspected"],
        "incidents_closed": total["incidents_closed"],
    }
    targets = dict(campaign["targets"])
    return {
        "squads": rows[:-1],
        "total": total,
        "targets": {
            name: {
                "target": goal,
                "reached": reached[name],
                "share": round(reached[name] / goal, 4) if goal else None,
            }
            for name, goal in targets.items()
        },
    }
