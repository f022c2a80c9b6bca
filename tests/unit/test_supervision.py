"""Supervision items (督办单): their states, deadlines on the working calendar, warnings and
escalation (pure, no database)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dispatcher.core import audit
from dispatcher.core import supervision as sv
from dispatcher.core.auth import Principal, Role
from dispatcher.core.clocks import SHANGHAI, ClockKind, Colour, WorkingCalendar
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.routing import Squad
from dispatcher.setting_kinds import SUPERVISION_KINDS
from dispatcher.settings import Settings

OPERATOR = Principal(TokenId("op"), Role.OPERATOR, "值班员")
WEST = Principal(TokenId("w"), Role.SQUAD, "西中队", SquadId("sq-west"))
EAST = Principal(TokenId("e"), Role.SQUAD, "东中队", SquadId("sq-east"))
BRIGADE = Principal(
    TokenId("b"),
    Role.SQUAD,
    "大队",
    SquadId("brigade"),
    scope=frozenset({"brigade", "sq-west"}),
)
SQUADS = {
    "centre": Squad("centre", "中心", "centre"),
    "brigade": Squad("brigade", "大队", "specialist", "centre"),
    "sq-west": Squad("sq-west", "西", "street", "brigade"),
    "sq-east": Squad("sq-east", "东", "street", "centre"),
}
CAL = WorkingCalendar()
DAYS = Settings("postgresql://x", "redis://x").supervision_days.as_dict()
KINDS = {sv.Kind(k): v for k, v in DAYS.items()}
# Monday 2026-11-23, 10:00 in Shanghai
MONDAY = datetime(2026, 11, 23, 10, tzinfo=SHANGHAI)


def opened(**overrides: object) -> sv.Decision:
    body = {"kind": "leader_instruction", "doc_no": "区府批〔2026〕12号", "doc_text": "请速办"}
    body |= {"tier_id": "sq-west", "incident_ids": ["2026112300000001"], **overrides}
    cmd = sv.ItemIn.model_validate(body)
    return sv.open_item("DB20261123000001", cmd, OPERATOR, MONDAY, CAL, 0.8, KINDS)


def test_the_kinds_of_the_settings_are_the_cores() -> None:
    assert tuple(k.value for k in sv.Kind) == SUPERVISION_KINDS
    assert set(sv.KIND_LABELS) == set(sv.Kind)
    assert sv.KIND_LABELS[sv.Kind.DEPUTIES_PROPOSAL] == "人大建议/政协提案"


def test_an_item_opens_on_the_kinds_working_days_and_warns_at_the_share() -> None:
    decision = opened()
    item = decision.item
    assert item.state is sv.State.OPEN
    assert item.colour is Colour.GREEN
    # 领导批示: 5 working days by default, Monday 10:00 -> the next Monday 10:00
    assert item.deadline == CAL.add(MONDAY, timedelta(days=5), ClockKind.WORKING_DAYS)
    assert item.deadline == datetime(2026, 11, 30, 10, tzinfo=SHANGHAI)
    # yellow at 80% of the 40 working hours: 32 working hours on, Thursday 10:00 + 8 h
    assert item.yellow_at == datetime(2026, 11, 27, 10, tzinfo=SHANGHAI)
    assert item.due_at == item.yellow_at
    step = decision.step
    assert step.type is sv.StepType.OPENED
    assert step.state_before is None
    assert step.subject == item.id
    assert step.state_after is sv.State.OPEN
    assert step.detail["actor_name"] == "值班员"
    assert {"all", f"supervision:{item.id}", "incident:2026112300000001", "squad:sq-west"} <= set(
        step.topics
    )


def test_a_given_deadline_or_days_and_not_both() -> None:
    given = MONDAY + timedelta(days=2)
    assert opened(deadline=given.isoformat()).item.deadline == given
    assert opened(days=1).item.deadline == datetime(2026, 11, 24, 10, tzinfo=SHANGHAI)
    with pytest.raises(ValidationFailed) as both:
        opened(deadline=given.isoformat(), days=1)
    assert both.value.field == "deadline"
    with pytest.raises(ValidationFailed):
        opened(deadline=(MONDAY - timedelta(hours=1)).isoformat())


def test_yellow_then_red_escalated_to_the_tier_above_once() -> None:
    item = opened().item
    assert sv.fire(item, item.yellow_at - timedelta(seconds=1), SQUADS) is None
    yellow = sv.fire(item, item.yellow_at, SQUADS)
    assert yellow is not None
    assert yellow.item.colour is Colour.YELLOW
    assert yellow.step.type is sv.StepType.WARNED
    assert yellow.item.due_at == item.deadline
    assert sv.fire(yellow.item, item.yellow_at + timedelta(hours=1), SQUADS) is None
    red = sv.fire(yellow.item, item.deadline, SQUADS)
    assert red is not None
    assert red.item.colour is Colour.RED
    assert red.step.type is sv.StepType.OVERDUE
    assert red.item.escalated_to == ("brigade",)  # the tier above sq-west, not all of them
    assert red.step.detail["escalated_to"] == ["brigade"]
    assert "squad:brigade" in red.step.topics
    assert red.item.due_at is None
    assert sv.fire(red.item, item.deadline + timedelta(days=3), SQUADS) is None


def test_reply_return_reply_accept_close() -> None:
    item = opened().item
    answer = sv.ReplyIn(text="已整改", attachments=[])
    with pytest.raises(Forbidden):
        sv.reply(item, answer, EAST, MONDAY)
    first = sv.reply(item, answer, WEST, MONDAY + timedelta(hours=1))
    assert first.item.state is sv.State.REPLIED
    assert first.item.round == 1
    assert first.item.due_at is None  # no warning while the centre reviews
    with pytest.raises(InvalidTransition):
        sv.reply(first.item, answer, WEST, MONDAY)
    with pytest.raises(Forbidden):
        sv.review(first.item, sv.ReviewIn(accepted=True), WEST, MONDAY, CAL, 0.8)
    with pytest.raises(ValidationFailed) as no_reason:
        sv.review(first.item, sv.ReviewIn(accepted=False), OPERATOR, MONDAY, CAL, 0.8)
    assert no_reason.value.field == "reason"
    back = sv.review(
        first.item, sv.ReviewIn(accepted=False, reason="照片不清"), OPERATOR, MONDAY, CAL, 0.8
    )
    assert back.item.state is sv.State.RETURNED
    assert back.step.detail["reason"] == "照片不清"
    assert back.item.due_at == item.yellow_at  # the clock runs again on the same deadline
    # a tier above the answering tier may reply too
    second = sv.reply(back.item, answer, BRIGADE, MONDAY + timedelta(hours=2))
    assert second.item.round == 2
    assert second.step.detail["round"] == 2
    with pytest.raises(InvalidTransition):
        sv.close(second.item, sv.CloseIn(), OPERATOR, MONDAY)
    accepted = sv.review(second.item, sv.ReviewIn(accepted=True), OPERATOR, MONDAY, CAL, 0.8)
    assert accepted.item.state is sv.State.ACCEPTED
    closed = sv.close(accepted.item, sv.CloseIn(note="办结"), OPERATOR, MONDAY)
    assert closed.item.state is sv.State.CLOSED
    assert closed.item.closed_at == MONDAY
    assert closed.item.version == item.version + 5


def test_a_return_may_give_a_new_deadline() -> None:
    item = sv.reply(opened().item, sv.ReplyIn(text="x"), WEST, MONDAY).item
    later = datetime(2026, 12, 7, 10, tzinfo=SHANGHAI)
    back = sv.review(
        item, sv.ReviewIn(accepted=False, reason="r", deadline=later), OPERATOR, MONDAY, CAL, 0.8
    )
    assert back.item.deadline == later
    assert back.item.colour is Colour.GREEN


def test_who_reads() -> None:
    item = opened().item
    assert sv.may_read(WEST, item)
    assert sv.may_read(BRIGADE, item)
    assert sv.may_read(OPERATOR, item)
    assert not sv.may_read(EAST, item)


def test_an_incidents_source_opens_its_kind() -> None:
    made = sv.open_for_incident(
        "DB1", "2026112300000002", "media", "sq-east", "报道", MONDAY, CAL, 0.8, KINDS
    )
    assert made.item.kind is sv.Kind.MEDIA
    assert made.item.incident_ids == ("2026112300000002",)
    assert made.item.deadline == CAL.add(MONDAY, timedelta(days=3), ClockKind.WORKING_DAYS)
    assert made.step.actor == "system"


def test_a_step_is_chained_like_an_incidents_event() -> None:
    step = opened().step
    body = step.body(0, SHANGHAI)
    middle, tail = audit.around_seq(
        incident_id=step.subject,
        type=step.type.value,
        action=step.action,
        actor=step.actor,
        actor_role=step.actor_role,
        at=step.at,
        state_before=None,
        state_after=step.state_after.value,
        detail=dict(step.detail),
        event=body,
    )
    whole = audit.text(
        seq=7,
        incident_id=step.subject,
        type=step.type.value,
        action=step.action,
        actor=step.actor,
        actor_role=step.actor_role,
        at=step.at,
        state_before=None,
        state_after=step.state_after.value,
        detail=dict(step.detail),
        event={**body, "seq": 7},
    )
    assert whole == "[7," + middle + "7" + tail
