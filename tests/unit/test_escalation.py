"""Escalation one command tier at a time (逐级督办): which tier hears of an overdue case at which
lateness, counted on the case's own clock (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from dispatcher.core.alarms import (
    CASE_ESCALATION,
    CASE_OVERDUE,
    STAGE_OVERDUE,
    Fired,
    escalation_due,
    fire,
    owed,
)
from dispatcher.core.clocks import SHANGHAI, ClockKind, WorkingCalendar, is_chinese_workday
from dispatcher.core.deadlines import Rules, with_clock
from dispatcher.core.events import EventType
from dispatcher.core.incidents import Incident, State
from dispatcher.core.progress import CaseClock
from dispatcher.core.routing import Squad
from dispatcher.core.tiers import tier_name
from tests.unit.test_lifecycle import reported

#: 支队 → 大队 → 中队, and a 中队 straight under the 支队
TIERS = {
    "zd": Squad("zd", "城管执法支队", "centre"),
    "dd": Squad("dd", "第一大队", "specialist", "zd"),
    "zq": Squad("zq", "西中队", "street", "dd"),
    "zq2": Squad("zq2", "直属中队", "street", "zd"),
}
RULES = Rules(WorkingCalendar())


def local(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


#: Monday 2026-11-23, 10:00 in Shanghai
MONDAY_10 = local(11, 23, 10)


def dispatched(
    at: datetime,
    squad: str = "zq",
    limit: timedelta = timedelta(hours=4),
    kind: ClockKind = ClockKind.WORKING_HOURS,
    rules: Rules = RULES,
) -> Incident:
    """A case dispatched to ``squad`` at ``at`` with ``limit`` on the ``kind`` clock."""
    clock = CaseClock(kind, limit, at)
    base = reported()
    incident = replace(
        base,
        state=State.ACCEPTED,
        squad_id=squad,
        received_at=at,
        updated_at=at,
        progress=base.progress.but(stage_since=at),
    )
    return with_clock(incident, clock, rules, at)


def red(incident: Incident, rules: Rules = RULES) -> Fired:
    assert incident.deadline is not None
    alert = fire(incident, CASE_OVERDUE, rules, incident.deadline, TIERS)
    assert alert is not None
    return alert


def test_red_tells_the_parent_tier_then_each_step_one_tier_up_until_the_top() -> None:
    case = dispatched(MONDAY_10)
    # 4 working hours: 10:00-12:00, 14:00-16:00
    assert case.deadline == local(11, 23, 16)
    assert escalation_due(case, RULES, MONDAY_10) is None  # not red: nothing to climb

    first = red(case)
    assert first.event.type is EventType.DEADLINE_OVERDUE
    assert first.event.detail["escalated_to"] == ["dd"]
    assert "squad:dd" in first.event.topics
    assert "squad:zd" not in first.event.topics
    assert first.supervision is not None
    assert first.supervision[1] == ["dd"]
    assert tier_name("dd", TIERS) == "大队"
    progress = first.incident.progress
    assert (progress.escalated_tiers, progress.tiers_above) == (1, 2)

    # +50% of the limit (2 more working hours): Monday 18:00, the 支队
    step = local(11, 23, 18)
    assert dict(owed(first.incident, RULES, local(11, 23, 16)))[CASE_ESCALATION] == step
    early = step - timedelta(minutes=1)
    assert fire(first.incident, CASE_ESCALATION, RULES, early, TIERS) is None
    second = fire(first.incident, CASE_ESCALATION, RULES, step, TIERS)
    assert second is not None
    assert second.event.type is EventType.DEADLINE_OVERDUE
    assert second.event.detail["escalated_to"] == ["zd"]
    assert second.event.detail["escalation"] == {"step": 2, "tier": "支队", "late_pct": 50}
    assert {"squad:zd", "squad:zq", "all"} <= set(second.event.topics)
    assert second.supervision is not None
    note, told = second.supervision
    assert told == ["zd"]
    assert "支队城管执法支队" in note
    assert "50%" in note
    assert second.incident.version == first.incident.version + 1

    # the top is told: nothing more is armed or given
    top = second.incident
    assert (top.progress.escalated_tiers, top.progress.tiers_above) == (2, 2)
    assert CASE_ESCALATION not in dict(owed(top, RULES, step))
    assert fire(top, CASE_ESCALATION, RULES, step + timedelta(days=30), TIERS) is None
    # nor twice at one step
    assert fire(first.incident, CASE_ESCALATION, RULES, step, TIERS) is not None
    assert fire(top, CASE_ESCALATION, RULES, step, TIERS) is None


def test_a_squad_just_below_the_top_tells_the_top_at_red_and_no_step_is_armed() -> None:
    case = dispatched(MONDAY_10, squad="zq2")
    first = red(case)
    assert first.event.detail["escalated_to"] == ["zd"]
    assert (first.incident.progress.escalated_tiers, first.incident.progress.tiers_above) == (
        1,
        1,
    )
    assert CASE_ESCALATION not in dict(owed(first.incident, RULES, local(11, 23, 16)))


def test_the_top_squads_own_case_tells_nobody_and_arms_nothing() -> None:
    first = red(dispatched(MONDAY_10, squad="zd"))
    assert first.event.detail["escalated_to"] == []
    assert first.supervision is not None
    assert first.supervision[1] == []
    assert first.incident.progress.escalated_tiers == 0
    assert CASE_ESCALATION not in dict(owed(first.incident, RULES, local(11, 23, 16)))


def test_steps_are_counted_in_working_time_across_a_weekend() -> None:
    # Friday 2026-11-27 14:00, 4 working hours: red at 18:00 the same day
    case = dispatched(local(11, 27, 14))
    assert case.deadline == local(11, 27, 18)
    first = red(case)
    # 2 more working hours: not Saturday or Sunday, Monday 08:00-10:00
    assert escalation_due(first.incident, RULES, local(11, 27, 18)) == local(11, 30, 10)
    assert fire(first.incident, CASE_ESCALATION, RULES, local(11, 29, 23), TIERS) is None
    assert fire(first.incident, CASE_ESCALATION, RULES, local(11, 30, 10), TIERS) is not None


def test_steps_skip_a_holiday_of_the_calendar() -> None:
    # the Monday after is a holiday of this deployment: the step moves to Tuesday
    holiday = date(2026, 11, 30)
    rules = Rules(WorkingCalendar().with_workdays(lambda d: d != holiday and is_chinese_workday(d)))
    case = dispatched(local(11, 27, 14), rules=rules)
    first = red(case, rules)
    assert escalation_due(first.incident, rules, local(11, 27, 18)) == local(12, 1, 10)
    assert fire(first.incident, CASE_ESCALATION, rules, local(11, 30, 17), TIERS) is None
    assert fire(first.incident, CASE_ESCALATION, rules, local(12, 1, 10), TIERS) is not None


def test_a_continuous_case_steps_on_the_clock() -> None:
    case = dispatched(MONDAY_10, limit=timedelta(hours=2), kind=ClockKind.CONTINUOUS)
    first = red(case)
    assert escalation_due(first.incident, RULES, local(11, 23, 12)) == local(11, 23, 13)


def test_the_step_is_the_deployments_setting() -> None:
    rules = Rules(WorkingCalendar(), escalation_step=1.0)
    first = red(dispatched(MONDAY_10, rules=rules), rules)
    # +100% of 4 working hours after Monday 16:00: 16:00-18:00, then Tuesday 08:00-10:00
    assert escalation_due(first.incident, rules, local(11, 23, 16)) == local(11, 24, 10)
    second = fire(first.incident, CASE_ESCALATION, rules, local(11, 24, 10), TIERS)
    assert second is not None
    assert second.event.detail["escalation"]["late_pct"] == 100


def test_a_suspended_or_resolved_case_stops_climbing() -> None:
    first = red(dispatched(MONDAY_10))
    step = local(11, 23, 18)
    suspended = replace(first.incident, progress=first.incident.progress.but(suspended=True))
    assert CASE_ESCALATION not in dict(owed(suspended, RULES, step))
    assert fire(suspended, CASE_ESCALATION, RULES, step, TIERS) is None
    clock = first.incident.progress.clock
    assert clock is not None
    stopped = replace(clock, stopped_at=local(11, 23, 17))
    resolved = replace(
        first.incident,
        state=State.RESOLVED,
        progress=first.incident.progress.but(clock=stopped),
    )
    assert CASE_ESCALATION not in dict(owed(resolved, RULES, step))
    assert fire(resolved, CASE_ESCALATION, RULES, step, TIERS) is None


def test_the_stage_clocks_red_tells_the_parent_only_and_does_not_step() -> None:
    case = replace(dispatched(MONDAY_10), state=State.DISPATCHED)
    late = MONDAY_10 + timedelta(minutes=31)
    stage = fire(case, STAGE_OVERDUE, RULES, late, TIERS)
    assert stage is not None
    assert stage.event.detail["escalated_to"] == ["dd"]
    assert stage.incident.progress.escalated_tiers == 0
    assert CASE_ESCALATION not in dict(owed(stage.incident, RULES, late))
