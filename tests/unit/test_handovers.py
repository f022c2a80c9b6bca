"""Hand-overs to other departments (移送), pure: the steps, the incident leaving its squad and
coming back, the clock paused while the department holds it, the time each side held it, and
the figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatcher.core import departments as core
from dispatcher.core.auth import Principal, Role
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules
from dispatcher.core.errors import Forbidden, InvalidTransition
from dispatcher.core.handover import Handover, HandoverState
from dispatcher.core.ids import IncidentId, SquadId, TokenId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.core.lifecycle import Action, ActionIn, Context, decide
from dispatcher.core.progress import Progress
from dispatcher.core.routing import Squad

RULES = Rules(WorkingCalendar())
OPERATOR = Principal(TokenId("op"), Role.OPERATOR, "值班员")
SCJG = Principal(TokenId("tok-scjg"), Role.DEVICE, "市场监管局")
WEST = Principal(TokenId("w"), Role.SQUAD, "西中队", SquadId("sq-west"))
MARKET = core.Department("scjg", "市场监管")
DEPARTMENTS = {"scjg": MARKET, "police": core.Department("police", "公安")}
# Monday 2026-11-23, 08:00 in Shanghai (working hours 08:00-12:00 and 14:00-18:00)
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SHOP = Category("200504", "店外经营", Priority.NORMAL, "working_hours", 8)
SQUADS = {"sq-west": Squad("sq-west", "西", "street")}


def dispatched() -> Incident:
    reported = Incident(
        id=IncidentId("I1"),
        source=Source.CITIZEN,
        external_id=None,
        category="200504",
        state=State.REPORTED,
        priority="normal",
        lon=121.4,
        lat=31.2,
        received_at=T0,
        updated_at=T0,
    )
    incident = reported
    for action, body in ((Action.REGISTER, {}), (Action.DISPATCH, {"squad_id": "sq-west"})):
        cmd = ActionIn.model_validate({"action": action, **body})
        incident = decide(incident, cmd, OPERATOR, T0, Context(SHOP, SQUADS), RULES).incident
    return incident


def step(
    incident: Incident, who: Principal, at: datetime, department: str | None = None, **body: Any
) -> core.Decision:
    handover = incident.progress.handover
    assert handover is not None
    cmd = core.HandoverActionIn.model_validate(body)
    return core.act(incident, handover, cmd, who, department, at, RULES)


def test_refused_once_then_accepted_reported_and_closed() -> None:
    incident = dispatched()
    assert incident.squad_id == "sq-west"
    first = core.hand_over(incident, MARKET, "无照经营属市场监管", "YS1", OPERATOR, T0, RULES)
    held = first.incident
    assert (held.state, held.squad_id, held.progress.suspended) == (State.REGISTERED, None, True)
    assert first.event.action == "handover.hand_over"
    assert "squad:sq-west" in (first.event.only_topics or ())  # the squad learns it left
    # refused after two working hours: the incident comes back to its squad, its clock runs
    refused = step(held, SCJG, T0 + 2 * HOUR, "scjg", action="refuse", reason="不属本局职责")
    h = refused.handover
    assert h.state is HandoverState.REFUSED
    assert h.department_held_s == 2 * 3600
    assert h.centre_held_s == 0
    assert (refused.incident.squad_id, refused.incident.progress.suspended) == ("sq-west", False)
    # handed over again an hour later, accepted with a receipt, reported back at 16:00 (the
    # lunch break is not working time), closed at 17:00
    second = core.hand_over(refused.incident, MARKET, "补充材料后再次移送", "YS2", OPERATOR,
                            T0 + 3 * HOUR, RULES)  # fmt: skip
    assert second.handover.centre_since == T0 + 2 * HOUR
    accepted = step(second.incident, SCJG, T0 + 3.5 * HOUR, "scjg", action="accept",
                    receipt_no="市监回执〔2026〕18号")  # fmt: skip
    assert accepted.handover.receipt_no == "市监回执〔2026〕18号"
    reported = step(accepted.incident, SCJG, T0 + 8 * HOUR, "scjg", action="report",
                    result="已立案查处，责令停止无照经营")  # fmt: skip
    assert reported.handover.department_held_s == 3 * 3600  # 11-12, 14-16
    assert reported.incident.squad_id is None  # still out of the squad's queue
    assert not reported.incident.progress.suspended  # the centre holds it again
    closed = step(reported.incident, OPERATOR, T0 + 9 * HOUR, action="close")
    h = closed.handover
    assert h.state is HandoverState.CLOSED
    assert h.centre_held_s == 2 * 3600  # an hour before handing over, an hour after the report
    incident = closed.incident
    assert (incident.state, incident.squad_id) == (State.CLOSED, "sq-west")
    assert incident.progress.outcome == "handed_to_department"
    assert incident.progress.resolution_note == "已立案查处，责令停止无照经营"
    assert incident.progress.clock is not None
    assert incident.progress.clock.stopped_at == T0 + 9 * HOUR
    # the time the department held it is not counted: 10-11 and 16-17, 2 hours of the 9
    used = incident.progress.clock.used(RULES.calendar, T0 + 9 * HOUR)
    assert used == 2 * HOUR
    groups, total = core.handover_figures([refused.handover, h], DEPARTMENTS)
    assert [g.key for g in groups] == ["scjg"]
    row = total.to_json()
    assert (row["handed_over"], row["accepted"], row["refused"], row["closed"]) == (2, 1, 1, 1)
    assert row["department_held_hours"] == 5.0
    assert row["centre_held_hours"] == 2.0


def test_who_may_take_which_step() -> None:
    held = core.hand_over(dispatched(), MARKET, "移送", "YS1", OPERATOR, T0, RULES).incident
    with pytest.raises(Forbidden):
        core.hand_over(dispatched(), MARKET, "移送", "YS1", WEST, T0, RULES)
    with pytest.raises(Forbidden):  # another department's token
        step(held, SCJG, T0, "sthj", action="accept", receipt_no="1")
    with pytest.raises(Forbidden):  # the department does not close
        step(held, SCJG, T0, "scjg", action="close")
    with pytest.raises(InvalidTransition):  # report before accepting
        step(held, SCJG, T0, "scjg", action="report", result="x")
    with pytest.raises(InvalidTransition):  # one open hand-over at a time
        core.hand_over(held, MARKET, "移送", "YS2", OPERATOR, T0, RULES)
    # the centre enters a paper receipt for the department
    assert step(held, OPERATOR, T0, action="accept", receipt_no="纸质回执").handover.state is (
        HandoverState.ACCEPTED
    )


def test_taken_back_returns_it_to_the_squad_to_dispatch() -> None:
    held = core.hand_over(dispatched(), MARKET, "移送", "YS1", OPERATOR, T0, RULES).incident
    back = step(held, OPERATOR, T0 + 3 * HOUR, action="take_back", reason="超时未接收，收回")
    assert back.handover.state is HandoverState.TAKEN_BACK
    assert back.handover.department_held_s == 3 * 3600
    assert (back.incident.state, back.incident.squad_id) == (State.REGISTERED, "sq-west")
    assert back.event.detail["reason"] == "超时未接收，收回"


def test_the_typed_fact_survives_the_document() -> None:
    held = core.hand_over(dispatched(), MARKET, "移送", "YS1", OPERATOR, T0, RULES).incident
    again = Progress.from_doc(held.progress.to_doc())
    assert again.handover == held.progress.handover
    assert isinstance(again.handover, Handover)


def test_a_closed_or_resolved_incident_is_not_handed_over() -> None:
    incident = dispatched()
    for state in (State.RESOLVED, State.CLOSED, State.REPORTED):
        with pytest.raises(InvalidTransition):
            core.hand_over(
                Incident(**{**incident.__dict__, "state": state}),
                MARKET,
                "移送",
                "YS1",
                OPERATOR,
                T0,
                RULES,
            )


def test_departments_setting_form() -> None:
    assert core.parse_departments("scjg:市场监管, police:公安") == (
        MARKET,
        core.Department("police", "公安"),
    )
    with pytest.raises(ValueError, match="code:名称"):
        core.parse_departments("scjg")
