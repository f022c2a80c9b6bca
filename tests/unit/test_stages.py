"""The stages' limits on their clock kinds, their yellow and red, and the escalation of a red
(pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from dispatcher.core.alarms import (
    CASE_OVERDUE,
    STAGE_OVERDUE,
    STAGE_WARNING,
    escalation,
    fire,
    owed,
)
from dispatcher.core.categories import Category, InvalidCatalogue, Priority, parse_catalogue
from dispatcher.core.clocks import SHANGHAI, ClockKind, Colour, WorkingCalendar
from dispatcher.core.deadlines import (
    Rules,
    live_view,
    stage_colour,
    stage_deadline,
    stage_warning_at,
)
from dispatcher.core.events import EventType
from dispatcher.core.incidents import Incident, Source
from dispatcher.core.lifecycle import Action, ActionIn, Context, decide
from dispatcher.core.stages import DEFAULT_STAGE_LIMITS, Stage, StageLimit, StageLimits
from tests.unit.test_lifecycle import OPERATOR, SQUADS, WEST, reported

#: the deployment of docs/DEPLOY.md's defaults: 12345 work orders signed for in 1 working day
HOTLINE = {Stage.ACCEPT: StageLimit(ClockKind.WORKING_DAYS, 1)}
#: a camera's urgent category (占道经营 seen by a camera at a school gate, say): signed for
#: within 15 continuous minutes, dispatched within 5, day or night
URGENT = parse_catalogue(
    [
        {
            "code": "299801",
            "name": "测试：校门口占道（紧急）",
            "priority": "urgent",
            "clock": "continuous",
            "limit": 1,
            "stage_limits": {
                "accept": {"clock": "continuous", "limit": 0.25},
                "dispatch": {"clock": "continuous", "limit": 0.25 / 3},
            },
        }
    ]
)[0]
SHOP = Category("200504", "店外经营", Priority.NORMAL, "working_hours", 4)
RULES = Rules(
    WorkingCalendar(),
    StageLimits(by_source={Source.HOTLINE.value: HOTLINE}).with_categories(
        {URGENT.code: URGENT.own_stage_limits}
    ),
)
#: Friday 2026-11-27, 17:00 in Shanghai (no holiday near)
FRIDAY_5PM = datetime(2026, 11, 27, 17, 0, tzinfo=SHANGHAI)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def act(
    incident: Incident, action: Action, at: datetime, category: Category, **body: Any
) -> Incident:
    cmd = ActionIn.model_validate({"action": action, **body})
    ctx = Context(category, SQUADS, recommended_squad_id="sq-west")
    who = WEST if action in (Action.ACCEPT, Action.RESOLVE) else OPERATOR
    return decide(incident, cmd, who, at, ctx, RULES).incident


def dispatched(source: Source, category: Category, at: datetime) -> Incident:
    """An incident of ``source`` and ``category`` registered and dispatched at ``at``."""
    incident = replace(
        reported(), source=source, category=category.code, received_at=at, updated_at=at
    )
    incident = act(incident, Action.REGISTER, at, category)
    return act(incident, Action.DISPATCH, at, category)


# --- the limits and their clocks --------------------------------------------------------------


def test_the_defaults_are_cj_t_315_practice_continuous() -> None:
    assert {s: (v.clock, v.amount) for s, v in DEFAULT_STAGE_LIMITS.items()} == {
        Stage.REGISTER: (ClockKind.CONTINUOUS, timedelta(minutes=15)),
        Stage.DISPATCH: (ClockKind.CONTINUOUS, timedelta(minutes=15)),
        Stage.ACCEPT: (ClockKind.CONTINUOUS, timedelta(minutes=30)),
        Stage.VERIFY: (ClockKind.CONTINUOUS, timedelta(minutes=30)),
    }
    # a category without stage limits and a source without its own: the defaults
    assert RULES.stages.of(Stage.ACCEPT, "citizen", SHOP.code) == DEFAULT_STAGE_LIMITS[Stage.ACCEPT]


def test_a_hotline_order_dispatched_on_friday_afternoon_is_signed_for_on_monday() -> None:
    order = dispatched(Source.HOTLINE, SHOP, FRIDAY_5PM)
    # 1 working day = 8 working hours: Friday 17:00-18:00, Monday 08:00-12:00, 14:00-17:00
    assert stage_deadline(order, RULES) == local(2026, 11, 30, 17)
    # yellow at 80% (6.4 working hours): Friday's hour, Monday's morning, then 1.4 h
    assert stage_warning_at(order, RULES) == local(2026, 11, 30, 15, 24)
    # the weekend does not count
    assert stage_colour(order, RULES, local(2026, 11, 29, 23)) is Colour.GREEN
    assert stage_colour(order, RULES, local(2026, 11, 30, 15, 24)) is Colour.YELLOW
    view = live_view(order, RULES, local(2026, 11, 30, 16))
    assert view["stage"]["name"] == "accept"
    assert view["stage"]["clock"] == "working_days"
    assert view["stage"]["limit"] == 1
    assert view["stage"]["deadline"] == "2026-11-30T17:00:00.000+08:00"
    assert view["stage"]["colour"] == "yellow"
    assert view["stage"]["overdue"] is False
    assert live_view(order, RULES, local(2026, 11, 30, 17))["stage"]["overdue"] is True
    # the same category reported by a citizen: 30 continuous minutes, on Friday night
    citizen = dispatched(Source.CITIZEN, SHOP, FRIDAY_5PM)
    assert stage_deadline(citizen, RULES) == local(2026, 11, 27, 17, 30)


def test_a_cameras_urgent_category_counts_continuous_minutes() -> None:
    midnight = local(2026, 11, 28, 0, 10)  # Saturday, 00:10: no working time anywhere near
    detected = replace(reported(), source=Source.CAMERA, category=URGENT.code, received_at=midnight)
    registered = act(detected, Action.REGISTER, midnight, URGENT)
    assert stage_deadline(registered, RULES) == midnight + timedelta(minutes=5)
    sent = act(registered, Action.DISPATCH, midnight, URGENT)
    assert stage_deadline(sent, RULES) == midnight + timedelta(minutes=15)
    assert stage_warning_at(sent, RULES) == midnight + timedelta(minutes=12)
    # verify keeps the default: the category left it out
    assert (
        RULES.stages.of(Stage.VERIFY, "camera", URGENT.code) == DEFAULT_STAGE_LIMITS[Stage.VERIFY]
    )


def test_a_categorys_own_limit_comes_before_the_sources() -> None:
    order = dispatched(Source.HOTLINE, URGENT, FRIDAY_5PM)
    assert stage_deadline(order, RULES) == FRIDAY_5PM + timedelta(minutes=15)
    assert (
        RULES.stages.of(Stage.REGISTER, "hotline", SHOP.code)
        == DEFAULT_STAGE_LIMITS[Stage.REGISTER]
    )


def test_a_suspended_incident_has_no_stage_deadline_and_resumes_with_a_fresh_stage() -> None:
    order = dispatched(Source.HOTLINE, SHOP, FRIDAY_5PM)
    suspended = act(order, Action.SUSPEND, FRIDAY_5PM, SHOP, reason="待协调")
    assert stage_deadline(suspended, RULES) is None
    assert owed(suspended, RULES, FRIDAY_5PM) == []
    view = live_view(suspended, RULES, local(2026, 12, 1, 9))
    assert view["stage"]["deadline"] is None
    assert view["stage"]["overdue"] is False
    resumed = act(suspended, Action.RESUME, local(2026, 12, 1, 9), SHOP, reason="恢复")
    # the stage starts again at the resume: Tuesday 09:00 + 8 working hours
    assert stage_deadline(resumed, RULES) == local(2026, 12, 2, 9)


def test_catalogue_entries_without_stage_limits_read_as_before() -> None:
    entry = SHOP.to_json()
    assert "stage_limits" not in entry
    (again,) = parse_catalogue([entry])
    assert again == SHOP
    assert again.own_stage_limits == {}
    assert URGENT.to_json()["stage_limits"] == {
        "dispatch": {"clock": "continuous", "limit": 0.25 / 3},
        "accept": {"clock": "continuous", "limit": 0.25},
    }
    assert parse_catalogue([URGENT.to_json()]) == [URGENT]


@pytest.mark.parametrize(
    ("stage_limits", "field"),
    [
        ({"dispose": {"clock": "continuous", "limit": 1}}, "stage_limits.dispose.[key]"),
        ({"accept": {"clock": "weekly", "limit": 1}}, "stage_limits.accept.clock"),
        ({"accept": {"clock": "continuous", "limit": 0}}, "stage_limits.accept.limit"),
        ({"accept": {"clock": "continuous"}}, "stage_limits.accept.limit"),
    ],
)
def test_bad_stage_limits_name_their_field(stage_limits: dict[str, Any], field: str) -> None:
    entry = {**SHOP.to_json(), "stage_limits": stage_limits}
    with pytest.raises(InvalidCatalogue) as caught:
        parse_catalogue([entry])
    assert [p[1] for p in caught.value.problems] == [field]


# --- the timers: yellow, red, once, escalated ---------------------------------------------------


def test_a_stage_warns_then_goes_red_once_and_escalates_like_the_case_clock() -> None:
    order = dispatched(Source.CITIZEN, SHOP, FRIDAY_5PM)
    timers = dict(owed(order, RULES, FRIDAY_5PM))
    assert timers[STAGE_WARNING] == FRIDAY_5PM + timedelta(minutes=24)
    assert timers[STAGE_OVERDUE] == FRIDAY_5PM + timedelta(minutes=30)

    assert fire(order, STAGE_WARNING, RULES, FRIDAY_5PM, SQUADS) is None  # too early
    yellow = fire(order, STAGE_WARNING, RULES, timers[STAGE_WARNING], SQUADS)
    assert yellow is not None
    assert yellow.event.type is EventType.DEADLINE_WARNING
    assert yellow.event.detail == {
        "clock": "stage",
        "stage": "accept",
        "deadline": timers[STAGE_OVERDUE].isoformat(),
    }
    assert yellow.supervision is None
    assert yellow.incident.version == order.version + 1
    # once: the same entry is not warned again, and is owed only its red
    assert fire(yellow.incident, STAGE_WARNING, RULES, timers[STAGE_WARNING], SQUADS) is None
    assert STAGE_WARNING not in dict(owed(yellow.incident, RULES, timers[STAGE_WARNING]))
    # the case clock's colour is the case clock's
    assert yellow.incident.progress.colour == order.progress.colour

    red = fire(yellow.incident, STAGE_OVERDUE, RULES, timers[STAGE_OVERDUE], SQUADS)
    assert red is not None
    assert red.event.type is EventType.DEADLINE_OVERDUE
    assert red.event.detail["clock"] == "stage"
    # the stage's red tells the parent tier only, as the case clock's red does
    assert red.event.detail["escalated_to"] == ["brigade"]
    assert {"squad:sq-west", "squad:brigade", "all"} <= set(red.event.topics)
    assert "squad:centre" not in red.event.topics
    assert red.supervision == (
        f"签收超时（时限 {timers[STAGE_OVERDUE].isoformat()}）",
        ["brigade"],
    )
    # and it does not step further: the stepping is the case clock's
    assert red.incident.progress.escalated_tiers == 0
    assert fire(red.incident, STAGE_OVERDUE, RULES, timers[STAGE_OVERDUE], SQUADS) is None
    later = dict(owed(red.incident, RULES, timers[STAGE_OVERDUE]))
    assert STAGE_WARNING not in later
    assert STAGE_OVERDUE not in later

    # the next stage entry is owed its own (verify, after the squad resolved it)
    accepted = act(red.incident, Action.ACCEPT, timers[STAGE_OVERDUE], SHOP)
    assert STAGE_OVERDUE not in dict(owed(accepted, RULES, timers[STAGE_OVERDUE]))  # 处置
    done = local(2026, 11, 27, 18)
    resolved = act(accepted, Action.RESOLVE, done, SHOP, outcome="corrected_on_spot")
    assert dict(owed(resolved, RULES, done)) == {
        STAGE_WARNING: done + timedelta(minutes=24),
        STAGE_OVERDUE: done + timedelta(minutes=30),
    }


def test_a_warning_that_finds_the_stage_red_gives_the_red_once() -> None:
    order = dispatched(Source.CITIZEN, SHOP, FRIDAY_5PM)
    late = FRIDAY_5PM + timedelta(hours=2)  # every process was down
    red = fire(order, STAGE_WARNING, RULES, late, SQUADS)
    assert red is not None
    assert red.event.type is EventType.DEADLINE_OVERDUE
    assert red.supervision is not None
    assert fire(red.incident, STAGE_OVERDUE, RULES, late, SQUADS) is None


def test_one_escalation_for_both_clocks() -> None:
    order = dispatched(Source.CITIZEN, SHOP, FRIDAY_5PM)
    assert order.deadline is not None
    case = fire(order, CASE_OVERDUE, RULES, order.deadline, SQUADS)
    stage = fire(order, STAGE_OVERDUE, RULES, FRIDAY_5PM + timedelta(minutes=30), SQUADS)
    assert case is not None
    assert stage is not None
    raised = escalation(order, SQUADS, "x")
    for alert in (case, stage):
        assert alert.event.topics == raised.topics
        assert alert.event.detail["escalated_to"] == list(raised.escalated_to)
        assert alert.supervision is not None
        assert alert.supervision[1] == list(raised.escalated_to)
    assert case.supervision is not None
    assert case.supervision[0].startswith("超期未处置")


def test_a_stage_without_a_squad_opens_a_supervision_telling_nobody_more() -> None:
    waiting = replace(reported(), received_at=FRIDAY_5PM, updated_at=FRIDAY_5PM)
    waiting = replace(waiting, progress=replace(waiting.progress, stage_since=FRIDAY_5PM))
    due = FRIDAY_5PM + timedelta(minutes=15)
    red = fire(waiting, STAGE_OVERDUE, RULES, due, SQUADS)
    assert red is not None
    assert red.event.detail["stage"] == "register"
    assert red.event.detail["escalated_to"] == []
    assert red.supervision == (f"受理超时（时限 {due.isoformat()}）", [])
    # without a case clock, the answer's colour is the stage's
    assert live_view(waiting, RULES, due)["colour"] == "red"
    assert live_view(waiting, RULES, FRIDAY_5PM + timedelta(minutes=13))["colour"] == "yellow"
