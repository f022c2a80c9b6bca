"""The life cycle's state machine and the clocks of one incident (pure, no database)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.alarms import (
    CASE_ESCALATION,
    CASE_OVERDUE,
    CASE_WARNING,
    STAGE_OVERDUE,
    STAGE_WARNING,
    fire,
    owed,
)
from dispatcher.core.audit import around_seq, digest
from dispatcher.core.audit import text as audit_text
from dispatcher.core.auth import Principal, Role
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules, case_clock, live_view
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.events import EventType
from dispatcher.core.ids import IncidentId, SquadId, TokenId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.core.lifecycle import (
    ALLOWED_FROM,
    Action,
    ActionIn,
    Context,
    Decision,
    decide,
    parse_action,
)
from dispatcher.core.routing import Squad
from dispatcher.core.tiers import ancestors

RULES = Rules(WorkingCalendar())
OPERATOR = Principal(TokenId("op"), Role.OPERATOR, "值班员")
WEST = Principal(TokenId("w"), Role.SQUAD, "西中队", SquadId("sq-west"))
EAST = Principal(TokenId("e"), Role.SQUAD, "东中队", SquadId("sq-east"))
AUDITOR = Principal(TokenId("a"), Role.AUDITOR, "监督")
SHOP = Category("200504", "店外经营", Priority.NORMAL, "working_hours", 4)
SQUADS = {
    "centre": Squad("centre", "中心", "centre"),
    "brigade": Squad("brigade", "支队", "specialist", "centre"),
    "sq-west": Squad("sq-west", "西", "street", "brigade"),
    "sq-east": Squad("sq-east", "东", "street", "centre"),
}
# Monday 2026-11-23, 10:00 in Shanghai
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

BODIES: dict[Action, dict[str, Any]] = {
    Action.REGISTER: {},
    Action.REJECT: {"reason": "非本部门职责"},
    Action.DISPATCH: {"squad_id": "sq-west"},
    Action.ACCEPT: {},
    Action.RETURN: {"reason": "不属于本辖区"},
    Action.RESOLVE: {"outcome": "corrected_on_spot", "note": "已整改"},
    Action.VERIFY: {"passed": True},
    Action.MERGE: {"into": "OTHER"},
    Action.EXTEND: {"hours": 2, "reason": "需协调"},
    Action.APPROVE_EXTENSION: {},
    Action.SUSPEND: {"reason": "工程类，挂账"},
    Action.RESUME: {"reason": "恢复"},
    Action.SUPERVISE: {"note": "请加快处置"},
    Action.REMIND: {"note": "催办"},
    Action.REVIEW: {"passed": True},
}


def reported() -> Incident:
    return Incident(
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
        zone_ids=("d", "west"),
    )


def act(
    incident: Incident,
    action: Action,
    who: Principal = OPERATOR,
    at: datetime = T0,
    target: Incident | None = None,
    **body: Any,
) -> Decision:
    cmd = ActionIn.model_validate({"action": action, **BODIES[action], **body})
    ctx = Context(SHOP, SQUADS, recommended_squad_id="sq-west", target=target)
    return decide(incident, cmd, who, at, ctx, RULES)


def in_state(state: State) -> Incident:
    """An incident brought to ``state`` through the real actions."""
    path = {
        State.REPORTED: [],
        State.REGISTERED: [Action.REGISTER],
        State.DISPATCHED: [Action.REGISTER, Action.DISPATCH],
        State.ACCEPTED: [Action.REGISTER, Action.DISPATCH, Action.ACCEPT],
        State.RESOLVED: [Action.REGISTER, Action.DISPATCH, Action.ACCEPT, Action.RESOLVE],
        State.CLOSED: [
            Action.REGISTER,
            Action.DISPATCH,
            Action.ACCEPT,
            Action.RESOLVE,
            Action.VERIFY,
        ],
        State.RETURNED: [Action.REGISTER, Action.DISPATCH, Action.RETURN],
        State.REJECTED: [Action.REJECT],
    }
    incident = reported()
    for action in path[state]:
        incident = act(incident, action).incident
    assert incident.state is state
    return incident


TARGETS = {
    Action.REGISTER: State.REGISTERED,
    Action.REJECT: State.REJECTED,
    Action.DISPATCH: State.DISPATCHED,
    Action.ACCEPT: State.ACCEPTED,
    Action.RETURN: State.RETURNED,
    Action.RESOLVE: State.RESOLVED,
    Action.VERIFY: State.CLOSED,
    Action.MERGE: State.MERGED,
}
STATES = [s for s in State if s is not State.MERGED]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(Action))
def test_every_transition_is_allowed_or_refused_as_the_table_says(
    state: State, action: Action
) -> None:
    incident = in_state(state)
    if action is Action.RESUME and state in ALLOWED_FROM[action]:
        incident = act(incident, Action.SUSPEND).incident
    if action is Action.APPROVE_EXTENSION and state in ALLOWED_FROM[action]:
        incident = act(incident, Action.EXTEND).incident
    target = replace(reported(), id=IncidentId("OTHER"))
    if state in ALLOWED_FROM[action]:
        decision = act(incident, action, target=target)
        expected = TARGETS.get(action, state)
        assert decision.incident.state is expected
        assert decision.incident.version == incident.version + 1
        assert decision.events[0].state_before is state
        assert decision.events[0].action == action.value
    else:
        with pytest.raises(InvalidTransition) as refused:
            act(incident, action, target=target)
        assert refused.value.code == "invalid_transition"
        assert refused.value.status == 409


def test_the_happy_path_with_a_rework_in_the_middle() -> None:
    incident = in_state(State.RESOLVED)
    assert incident.progress.outcome == "corrected_on_spot"
    rework = act(incident, Action.VERIFY, passed=False, note="现场仍有占道")
    assert rework.incident.state is State.DISPATCHED
    assert rework.incident.squad_id == "sq-west"
    assert rework.incident.progress.rework_count == 1
    assert [e.type for e in rework.events] == [
        EventType.INCIDENT_UPDATED,
        EventType.DISPATCH_ASSIGNED,
    ]
    clock = case_clock(rework.incident)
    assert clock is not None
    assert clock.stopped_at is None  # the case clock runs again
    again = act(
        act(act(rework.incident, Action.ACCEPT, WEST).incident, Action.RESOLVE, WEST).incident,
        Action.VERIFY,
    )
    assert again.incident.state is State.CLOSED
    assert again.incident.closed_at == T0


def test_return_clears_the_squad_and_redispatch_is_marked() -> None:
    returned = act(in_state(State.DISPATCHED), Action.RETURN, WEST).incident
    assert returned.squad_id is None
    assert returned.progress.return_count == 1
    again = act(returned, Action.DISPATCH, squad_id="sq-east")
    assert again.incident.squad_id == "sq-east"
    assert again.events[0].detail["redispatch"] is True
    assert again.events[1].topics == ("squad:sq-east",)


def test_squads_act_only_on_their_own_and_only_their_actions() -> None:
    dispatched = in_state(State.DISPATCHED)
    assert act(dispatched, Action.ACCEPT, WEST).incident.state is State.ACCEPTED
    with pytest.raises(Forbidden):
        act(dispatched, Action.ACCEPT, EAST)
    with pytest.raises(Forbidden):
        act(dispatched, Action.MERGE, WEST, target=replace(reported(), id=IncidentId("OTHER")))
    with pytest.raises(Forbidden):
        act(in_state(State.REPORTED), Action.REGISTER, WEST)
    with pytest.raises(Forbidden):
        act(dispatched, Action.SUPERVISE, AUDITOR)


def test_bodies_name_what_is_missing() -> None:
    for body, field in [
        ({"action": "reject"}, "reason"),
        ({"action": "return", "reason": ""}, "reason"),
        ({"action": "resolve"}, "outcome"),
        ({"action": "resolve", "outcome": "magic"}, "outcome"),
        ({"action": "verify"}, "passed"),
        ({"action": "merge"}, "into"),
        ({"action": "extend"}, "hours"),
        ({"action": "fly"}, "action"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            parse_action(json.dumps(body).encode())
        assert refused.value.field == field, body


def test_dispatch_to_an_unknown_squad_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        act(in_state(State.REGISTERED), Action.DISPATCH, squad_id="nobody")
    assert refused.value.field == "squad_id"


def test_extension_needs_approval_adds_at_most_one_limit_and_at_most_twice() -> None:
    accepted = in_state(State.ACCEPTED)
    deadline = accepted.deadline
    assert deadline == T0 + timedelta(hours=6)  # 4 working hours: 10-12, 14-16
    asked = act(accepted, Action.EXTEND, WEST, hours=4).incident
    assert asked.deadline == deadline  # not yet approved
    approved = act(asked, Action.APPROVE_EXTENSION).incident
    # 16:00 + 4 working hours: 16:00-18:00, then 08:00-10:00 the next day
    assert approved.deadline == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    with pytest.raises(ValidationFailed):
        act(approved, Action.EXTEND, WEST, hours=5)  # more than one original limit
    second = act(act(approved, Action.EXTEND, WEST, hours=1).incident, Action.APPROVE_EXTENSION)
    with pytest.raises(InvalidTransition):
        act(second.incident, Action.EXTEND, WEST, hours=1)  # a third
    late = T0 + timedelta(days=3)
    with pytest.raises(InvalidTransition):
        act(accepted, Action.EXTEND, WEST, at=late)  # after the deadline


def test_a_rejected_extension_changes_nothing_and_frees_the_slot() -> None:
    asked = act(in_state(State.ACCEPTED), Action.EXTEND, WEST).incident
    refused = act(asked, Action.APPROVE_EXTENSION, approved=False, reason="不予延期").incident
    assert refused.deadline == in_state(State.ACCEPTED).deadline
    assert (
        act(refused, Action.EXTEND, WEST).incident.progress.clock.extensions[-1].status == "pending"
    )


def test_suspension_stops_the_clock_exactly() -> None:
    accepted = in_state(State.ACCEPTED)
    one_hour = T0 + timedelta(hours=1)
    suspended = act(accepted, Action.SUSPEND, at=one_hour).incident
    assert suspended.progress.suspended is True
    assert owed(suspended, RULES, one_hour) == []
    # resumed the next morning at 09:00 Shanghai (01:00 UTC): 3 working hours were left
    resumed_at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    resumed = act(suspended, Action.RESUME, at=resumed_at).incident
    assert resumed.progress.suspended is False
    assert resumed.deadline == datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 09:00 + 3 h = 12:00
    view = live_view(resumed, RULES, resumed_at)
    assert view["remaining_s"] == 3 * 3600


def test_a_squad_asks_for_suspension_and_an_operator_grants_it() -> None:
    accepted = in_state(State.ACCEPTED)
    asked = act(accepted, Action.SUSPEND, WEST).incident
    assert asked.progress.suspension_requested.by == "w"
    assert asked.progress.suspended is not True
    granted = act(asked, Action.SUSPEND).incident
    assert granted.progress.suspended is True
    assert "suspension_requested" not in granted.extra


def test_merge_moves_reports_into_the_target() -> None:
    target = replace(in_state(State.DISPATCHED), id=IncidentId("OTHER"), report_count=2)
    decision = act(in_state(State.REGISTERED), Action.MERGE, target=target)
    assert decision.incident.state is State.MERGED
    assert decision.incident.duplicate_of == "OTHER"
    assert decision.target is not None
    assert decision.target.report_count == 3
    assert decision.target.progress.merged_ids == ("I1",)
    with pytest.raises(ValidationFailed):
        act(in_state(State.REGISTERED), Action.MERGE, target=None)


def test_timers_owed_and_fired_once() -> None:
    dispatched = in_state(State.DISPATCHED)
    timers = dict(owed(dispatched, RULES, T0))
    assert set(timers) == {CASE_WARNING, CASE_OVERDUE, STAGE_WARNING, STAGE_OVERDUE}
    assert timers[CASE_OVERDUE] == dispatched.deadline
    assert timers[STAGE_OVERDUE] == T0 + timedelta(minutes=30)  # signing for: 30 min
    assert timers[STAGE_WARNING] == T0 + timedelta(minutes=24)  # yellow at 80%
    # 80% of 4 working hours = 3 h 12 min: 10:00-12:00, then 14:00-15:12
    assert timers[CASE_WARNING] == datetime(2026, 11, 23, 7, 12, tzinfo=UTC)

    assert fire(dispatched, CASE_WARNING, RULES, T0, SQUADS) is None  # too early: stale
    yellow = fire(dispatched, CASE_WARNING, RULES, timers[CASE_WARNING], SQUADS)
    assert yellow is not None
    assert yellow.event.type is EventType.DEADLINE_WARNING
    assert yellow.incident.progress.colour == "yellow"
    assert fire(yellow.incident, CASE_WARNING, RULES, timers[CASE_WARNING], SQUADS) is None
    red = fire(yellow.incident, CASE_OVERDUE, RULES, timers[CASE_OVERDUE], SQUADS)
    assert red is not None
    assert red.event.type is EventType.DEADLINE_OVERDUE
    # red tells the parent tier only; the tier above it waits for 50% more lateness
    assert {"squad:brigade", "squad:sq-west", "all"} <= set(red.event.topics)
    assert "squad:centre" not in red.event.topics
    assert red.supervision is not None
    assert red.supervision[1] == ["brigade"]
    assert (red.incident.progress.escalated_tiers, red.incident.progress.tiers_above) == (1, 2)
    assert owed(red.incident, RULES, timers[CASE_OVERDUE]) == [
        # 150% of 4 working hours from Monday 10:00: 18:00
        (CASE_ESCALATION, datetime(2026, 11, 23, 10, 0, tzinfo=UTC)),
        (STAGE_WARNING, T0 + timedelta(minutes=24)),
        (STAGE_OVERDUE, T0 + timedelta(minutes=30)),
    ]
    assert fire(red.incident, CASE_OVERDUE, RULES, timers[CASE_OVERDUE], SQUADS) is None


def test_ancestors_stop_at_the_top_and_at_cycles() -> None:
    assert ancestors("sq-west", SQUADS) == ["brigade", "centre"]
    assert ancestors("centre", SQUADS) == []
    looped = {"a": Squad("a", "a", "street", "b"), "b": Squad("b", "b", "street", "a")}
    assert ancestors("a", looped) == ["b", "a"]


def test_the_audit_digest_survives_jsonb_round_trips_of_numbers() -> None:
    at = datetime(2026, 11, 23, 2, 0, 0, 123456, tzinfo=UTC)
    common = {
        "seq": 7,
        "incident_id": "I",
        "type": "t",
        "action": None,
        "actor": "a",
        "actor_role": None,
        "at": at,
        "state_before": None,
        "state_after": "closed",
    }
    written = {"n": [5.0, 0.1 + 0.2, 1e-7, 1e16, 1.5e16, 2**60, -3.25]}
    # what PostgreSQL's jsonb gives back for those numbers, read with json.loads
    read_back = {"n": [5.0, 0.30000000000000004, 1e-07, 10**16, 15 * 10**15, 2**60, -3.25]}
    assert digest(b"", **common, detail=written, event={}) == digest(
        b"", **common, detail=read_back, event={}
    )
    assert digest(b"", **common, detail={"n": [5.0]}, event={}) != digest(
        b"", **common, detail={"n": [6.0]}, event={}
    )


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(
    seq=st.integers(1, 10**15),
    detail=st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
    incident=st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
    action=st.none() | st.text(max_size=10),
    prev=st.binary(min_size=32, max_size=32),
)
def test_the_text_around_a_seq_is_the_text_digest_hashes(
    seq: int, detail: dict[str, Any], incident: dict[str, Any], action: str | None, prev: bytes
) -> None:
    """The database hashes '[' || seq || ',' || middle || seq || tail (history_append): for
    every seq that must be the text ``digest`` hashes when the chain is checked."""
    entry = {
        "incident_id": "20261124000001",
        "type": "incident.updated",
        "action": action,
        "actor": "tok-1",
        "actor_role": "operator",
        "at": datetime(2026, 11, 24, 1, 2, 3, 4000, tzinfo=UTC),
        "state_before": "reported",
        "state_after": "registered",
        "detail": detail,
    }
    event = {"seq": 0, "type": "incident.updated", "at": "x", "incident": incident}
    if action is not None:
        event |= {"action": action, "actor": "tok-1", "detail": detail}
    middle, tail = around_seq(event=event, **entry)
    text = f"[{seq},{middle}{seq}{tail}"
    assert text == audit_text(seq=seq, event={**event, "seq": seq}, **entry)
    assert hashlib.sha256(prev + text.encode()).digest() == digest(
        prev, seq=seq, event={**event, "seq": seq}, **entry
    )


def test_an_event_body_whose_last_keys_are_not_seq_and_type_is_refused() -> None:
    entry = {
        "incident_id": "I",
        "type": "t",
        "action": None,
        "actor": "a",
        "actor_role": None,
        "at": datetime(2026, 11, 24, tzinfo=UTC),
        "state_before": None,
        "state_after": "closed",
        "detail": {},
    }
    with pytest.raises(ValueError, match="seq and type"):
        around_seq(event={"seq": 0, "type": "t", "zone": "z"}, **entry)
