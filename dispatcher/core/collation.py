"""Collating a batch of reports with what is already open: duplicates and repeat complaints.

:func:`collate` is pure. It takes the plans of one intake batch (in order), the open incidents
near them and the recent complaints near them (as the store found them under the place locks),
and answers what to write: each plan as it must be inserted (a duplicate turned into its
merged record), the incidents already stored that changed (they counted a report, were
corroborated and sent out, or became repeat complaints), and the supervision records to open.
Reports of one batch see each other in order, exactly as if they had come one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from dispatcher.core import dedup, repeats
from dispatcher.core.events import Event
from dispatcher.core.incidents import Incident
from dispatcher.core.intake import IntakePlan, promote


@dataclass
class Collation:
    #: the plans to insert, in batch order
    plans: list[IntakePlan] = field(default_factory=list)
    #: incidents already stored that changed, by id (their last version)
    changed: dict[str, Incident] = field(default_factory=dict)
    #: supervision records to open: (incident id, note)
    supervisions: list[tuple[str, str]] = field(default_factory=list)


class _Batch:
    """The working state while a batch is collated: every open incident at its last version."""

    def __init__(self, nearby: Sequence[Incident]) -> None:
        self.open: dict[str, Incident] = {i.id: i for i in nearby if i.state.is_open}
        self.new_at: dict[str, int] = {}
        self.out = Collation()

    def add(self, plan: IntakePlan) -> None:
        self.out.plans.append(plan)
        if plan.incident.state.is_open:
            self.open[plan.incident.id] = plan.incident
            self.new_at[plan.incident.id] = len(self.out.plans) - 1

    def put(self, incident: Incident) -> None:
        """Record a new version of an open incident, new in this batch or stored before."""
        self.open[incident.id] = incident
        index = self.new_at.get(incident.id)
        if index is None:
            self.out.changed[incident.id] = incident
        else:
            self.out.plans[index] = replace(self.out.plans[index], incident=incident)

    def tell(self, events: Sequence[Event]) -> None:
        """Append events to the plan added last (they are stored with it, in order)."""
        last = self.out.plans[-1]
        self.out.plans[-1] = replace(last, events=(*last.events, *events))


def collate(
    plans: Sequence[IntakePlan],
    nearby: Sequence[Incident],
    complaints: Sequence[repeats.Complaint],
    repeat_rule: repeats.RepeatRule,
    now: datetime,
) -> Collation:
    """Decide, report by report, which open a new incident and which join an open one.

    ``nearby`` must hold every open incident within :meth:`dedup.Rule.near_m` of each
    report, and ``complaints`` every complaint within its category's radius in the repeat
    window; plans without a category (made by other means) pass through unchanged.
    """
    batch = _Batch(nearby)
    found: list[repeats.Complaint] = list(complaints)
    for plan in plans:
        if plan.base is None or plan.admission is None:
            batch.add(plan)
            continue
        admission = plan.admission
        who, role = admission.actor.actor, admission.actor.role.value
        rule = dedup.Rule.of(admission.category)
        report = plan.base
        finding = dedup.find(report, rule, list(batch.open.values()))
        if finding.target is not None and finding.distance_m is not None:
            joined = dedup.attach(report, finding.target, finding.distance_m, now, who, role)
            grown, promoted = promote(joined.target, admission, now, joined.record.id)
            batch.add(IntakePlan(joined.record, (*joined.events, *promoted), report, admission))
            batch.put(grown)
            subject = grown
        else:
            incident = dedup.with_near_misses(plan.incident, finding.near)
            events = tuple(
                replace(e, incident=incident) if e.incident is plan.incident else e
                for e in plan.events
            )
            batch.add(IntakePlan(incident, events, report, admission))
            subject = incident
        if not (rule.enabled and repeats.is_complaint(report)):
            continue
        complained = repeats.count(report, rule.radius_m, found, repeat_rule, now)
        found.append(repeats.Complaint.of(report))
        marked, event, note = repeats.mark(subject, complained, repeat_rule, now, who, role)
        if marked is not subject:
            batch.put(marked)
        if event is not None:
            batch.tell([event])
        if note is not None:
            batch.out.supervisions.append((subject.id, note))
    return batch.out
