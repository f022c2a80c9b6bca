"""What a CAP ``Update`` or ``Cancel`` does to the incidents of the alerts it references.

Pure. An Update brings the sender's new text, media and confidence to each open incident of
the referenced alerts (the place and the category stay: the incident is already routed; a
different place is a new alert). A Cancel withdraws the alert: an incident still waiting in
``reported`` (no operator has registered it) is rejected; one already registered is only
marked as cancelled by its sender, for the operator to decide, since a squad may be on its
way. Incidents already closed, rejected or merged are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from dispatcher.core.auth import Principal
from dispatcher.core.cap import Alert, Draft
from dispatcher.core.events import Event, EventType
from dispatcher.core.incidents import Incident, State, revision
from geo.distance import distance_m


def _event(
    before: Incident,
    after: Incident,
    action: str,
    who: Principal,
    now: datetime,
    detail: Mapping[str, object],
) -> Event:
    return Event(
        type=EventType.INCIDENT_UPDATED,
        incident=after,
        at=now,
        actor=who.actor,
        actor_role=who.role.value,
        action=action,
        state_before=before.state,
        detail=detail,
    )


def _closest(incident: Incident, drafts: Sequence[Draft]) -> Draft | None:
    same = [d for d in drafts if d.report["category"] == incident.category] or list(drafts)
    if not same:
        return None
    return min(
        same,
        key=lambda d: distance_m(incident.lon, incident.lat, d.report["lon"], d.report["lat"]),
    )


def update(
    incidents: Sequence[Incident],
    alert: Alert,
    drafts: Sequence[Draft],
    who: Principal,
    now: datetime,
) -> list[tuple[Incident, Event]]:
    """The incidents an Update changes, each with its event (open incidents only)."""
    changed = []
    for incident in incidents:
        draft = _closest(incident, drafts)
        if draft is None or not incident.state.is_open:
            continue
        report = draft.report
        media = list(incident.media)
        media.extend(m for m in report["media"] if m not in media)
        cap = {**incident.extra.get("cap", {}), **draft.extra["cap"]}
        after = replace(
            incident,
            description=report["description"],
            media=tuple(media[:100]),
            confidence=report["confidence"]
            if report["confidence"] is not None
            else incident.confidence,
            extra={**incident.extra, "cap": cap},
        )
        after = revision(incident, after, now)
        detail = {"identifier": alert.identifier, "sender": alert.sender, "msg_type": "Update"}
        changed.append((after, _event(incident, after, "cap_update", who, now, detail)))
    return changed


def cancel(
    incidents: Sequence[Incident], alert: Alert, who: Principal, now: datetime
) -> list[tuple[Incident, Event]]:
    """The incidents a Cancel changes: rejected while ``reported``, else marked cancelled."""
    changed = []
    for incident in incidents:
        if not incident.state.is_open:
            continue
        detail: dict[str, object] = {
            "identifier": alert.identifier,
            "sender": alert.sender,
            "msg_type": "Cancel",
        }
        extra = {**incident.extra, "cap_cancelled": alert.identifier}
        if incident.state is State.REPORTED:
            after = replace(incident, state=State.REJECTED, closed_at=now, extra=extra)
            detail["reason"] = "撤销：发送方以 CAP Cancel 撤回告警"
        else:
            after = replace(incident, extra=extra)
            detail["note"] = "发送方已撤回告警；案件已立案，请值班员决定是否继续"
        after = revision(incident, after, now)
        changed.append((after, _event(incident, after, "cap_cancel", who, now, detail)))
    return changed
