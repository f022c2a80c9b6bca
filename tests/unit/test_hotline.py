"""12345 接诉即办 as pure rules: platform deadlines, contact, 退单, 回访 and their figures."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from dispatcher.core.alarms import CONTACT_OVERDUE, CONTACT_WARNING, fire, owed
from dispatcher.core.auth import Principal, Role
from dispatcher.core.categories import Category, Priority
from dispatcher.core.clocks import WorkingCalendar
from dispatcher.core.deadlines import Rules, contact_colour, live_view
from dispatcher.core.errors import BadRequest, Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.events import EventType
from dispatcher.core.hotline import HotlineIn, decide, parse_hotline, sendback_closes_at, standing
from dispatcher.core.ids import IncidentId, SquadId, TokenId
from dispatcher.core.incidents import Incident, Source, State
from dispatcher.core.intake import parse_report_object, work_order
from dispatcher.core.lifecycle import dispatch, register
from dispatcher.core.orders_sheet import CSV, XLSX, parse_sheet
from dispatcher.core.progress import Progress
from dispatcher.core.reports import HOTLINE_SHEET, NOTES_SHEET, write_csv, write_xlsx
from dispatcher.core.routing import Squad
from dispatcher.core.stats import OrderStanding, hotline_figures
from dispatcher.core.workorder import HotlineRules, WorkOrder
from tests.unit.test_reports import META, WEIGHTS, sample

RULES = Rules(WorkingCalendar())
OPERATOR = Principal(TokenId("op"), Role.OPERATOR, "值班员")
WEST = Principal(TokenId("w"), Role.SQUAD, "西中队", SquadId("sq-west"))
EAST = Principal(TokenId("e"), Role.SQUAD, "东中队", SquadId("sq-east"))
PLATFORM = Principal(TokenId("hotline"), Role.DEVICE, "12345 平台")
CAMERA = Principal(TokenId("cam"), Role.DEVICE, "摄像头")
SHOP = Category("200504", "店外经营", Priority.NORMAL, "working_hours", 4)
# Monday 2026-11-23, 10:00 in Shanghai
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def order(now: datetime = T0, **fields: object) -> Incident:
    """A 12345 work order received at ``now``, registered and dispatched to sq-west."""
    report = parse_report_object(
        {"source": "hotline", "category": "200504", "lon": 121.4, "lat": 31.2, **fields}
    )
    incident = Incident(
        id=IncidentId("INC-1"),
        source=Source.HOTLINE,
        external_id="12345-1",
        category="200504",
        state=State.REPORTED,
        priority="normal",
        lon=121.4,
        lat=31.2,
        received_at=now,
        updated_at=now,
        reported_by="hotline",
        progress=Progress(stage_since=now, hotline=work_order(report, now, RULES)),
    )
    return dispatch(register(incident, SHOP, RULES, now), "sq-west", (), None, now)


def act(incident: Incident, who: Principal, at: datetime, **body: object) -> Incident:
    return decide(incident, HotlineIn.model_validate(body), who, at, RULES).incident


def closed(incident: Incident, at: datetime) -> Incident:
    clock = incident.progress.clock
    assert clock is not None
    stopped = replace(clock, stopped_at=at)
    progress = incident.progress.but(clock=stopped)
    return replace(incident, state=State.CLOSED, closed_at=at, progress=progress)


# -- platform deadlines ---------------------------------------------------------------------


def test_the_platforms_closure_deadline_is_the_case_deadline() -> None:
    due = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    made = order(closure_deadline=due.isoformat())
    assert made.deadline == due
    assert made.progress.hotline is not None
    assert made.progress.hotline.closure_deadline == due
    # without one, the category's limit: 4 working hours, Monday 10:00 → 16:00 Shanghai
    assert order().deadline == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_a_closure_deadline_already_past_gives_a_red_case_at_once() -> None:
    made = order(closure_deadline=(T0 - HOUR).isoformat())
    assert made.deadline == T0
    assert live_view(made, RULES, T0 + HOUR)["colour"] == "red"


def test_the_contact_deadline_defaults_to_two_working_hours_or_is_the_platforms() -> None:
    made = order()
    assert made.progress.hotline is not None
    assert made.progress.hotline.contact_deadline == T0 + 2 * HOUR
    assert not made.progress.hotline.contact_set_by_platform
    # Monday 17:00 Shanghai: one working hour that day, the next at 08:00 Tuesday
    late_in_day = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    evening = order(late_in_day).progress.hotline
    assert evening is not None
    assert evening.contact_deadline == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    given = T0 + 30 * HOUR
    set_by_platform = order(contact_deadline=given.isoformat()).progress.hotline
    assert set_by_platform is not None
    assert (set_by_platform.contact_deadline, set_by_platform.contact_set_by_platform) == (
        given,
        True,
    )


def test_platform_deadlines_are_for_hotline_orders_only_and_must_be_times() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_report_object(
            {"source": "grid", "category": "200504", "lon": 121.4, "lat": 31.2,
             "closure_deadline": "2026-11-25T18:00:00+08:00"}
        )  # fmt: skip
    assert caught.value.field == "closure_deadline"
    with pytest.raises(ValidationFailed) as caught:
        parse_report_object(
            {"source": "hotline", "category": "200504", "lon": 121.4, "lat": 31.2,
             "contact_deadline": "2026-11-25 18:00"}
        )  # fmt: skip
    assert caught.value.field == "contact_deadline"
    assert caught.value.status == 422


def test_a_work_order_reads_back_from_its_document() -> None:
    made = order(closure_deadline="2026-11-25T18:00:00+08:00")
    made = act(made, WEST, T0 + HOUR, action="contact", method="phone", note="已电话联系")
    doc = json.loads(json.dumps(made.to_doc(UTC)))
    again = Incident.from_doc(doc)
    assert again.progress.hotline == made.progress.hotline
    assert "hotline" not in again.extra


# -- contact ----------------------------------------------------------------------------------


def test_a_contact_in_time_is_green_and_not_late() -> None:
    made = order()
    assert contact_colour(made, RULES, T0 + HOUR) is not None
    assert live_view(made, RULES, T0 + HOUR)["contact"]["colour"] == "green"
    done = act(made, WEST, T0 + HOUR, action="contact", method="phone")
    facts = done.progress.hotline
    assert facts is not None
    assert (facts.contacted_at, facts.contacted_late, facts.contacted_by) == (T0 + HOUR, False, "w")
    view = live_view(done, RULES, T0 + 10 * HOUR)["contact"]
    assert (view["contacted"], view["late"], view["colour"]) == (True, False, "green")


def test_a_contact_after_the_deadline_is_recorded_late() -> None:
    made = order()
    at = T0 + 5 * HOUR  # Monday 15:00: three working hours after receipt
    assert live_view(made, RULES, at)["contact"] == {
        "deadline": "2026-11-23T12:00:00.000+08:00",
        "colour": "red",
        "contacted": False,
        "late": True,
    }
    decision = decide(made, HotlineIn(action="contact", method="sms"), OPERATOR, at, RULES)
    facts = decision.incident.progress.hotline
    assert facts is not None
    assert facts.contacted_late is True
    (event,) = decision.events
    assert (event.action, event.detail["late"], event.type) == (
        "contact",
        True,
        EventType.INCIDENT_UPDATED,
    )


def test_the_contact_clock_warns_then_goes_red_once_unless_the_caller_is_contacted() -> None:
    squads = {
        "centre": Squad("centre", "指挥中心", "centre"),
        "sq-west": Squad("sq-west", "西中队", "street", "centre"),
    }
    made = order()  # contact deadline 12:00, two working hours after 10:00
    timers = dict(owed(made, RULES, T0))
    # yellow at 80% of the two working hours: 11:36 Shanghai
    assert timers[CONTACT_WARNING] == T0 + timedelta(minutes=96)
    assert timers[CONTACT_OVERDUE] == T0 + 2 * HOUR
    assert fire(made, CONTACT_WARNING, RULES, T0 + HOUR, squads) is None  # still green

    yellow = fire(made, CONTACT_WARNING, RULES, T0 + timedelta(minutes=100), squads)
    assert yellow is not None
    assert yellow.event.type is EventType.DEADLINE_WARNING
    assert yellow.event.detail["clock"] == "contact"
    assert yellow.supervision is None
    warned = yellow.incident
    assert CONTACT_WARNING not in dict(owed(warned, RULES, T0))
    assert fire(warned, CONTACT_WARNING, RULES, T0 + timedelta(minutes=110), squads) is None

    red = fire(warned, CONTACT_OVERDUE, RULES, T0 + 2 * HOUR, squads)
    assert red is not None
    assert red.event.type is EventType.DEADLINE_OVERDUE
    assert red.supervision is not None
    note, told = red.supervision
    assert told == ["centre"]
    assert "未按时联系诉求人" in note
    assert "squad:centre" in red.event.topics
    assert not {CONTACT_WARNING, CONTACT_OVERDUE} & dict(owed(red.incident, RULES, T0)).keys()
    assert fire(red.incident, CONTACT_OVERDUE, RULES, T0 + 3 * HOUR, squads) is None

    # contacted in time: no contact timer is owed, and one still armed gives nothing
    done = act(made, WEST, T0 + HOUR, action="contact", method="phone")
    assert not {CONTACT_WARNING, CONTACT_OVERDUE} & dict(owed(done, RULES, T0 + HOUR)).keys()
    assert fire(done, CONTACT_OVERDUE, RULES, T0 + 2 * HOUR, squads) is None


def test_a_contact_is_recorded_once_at_a_sensible_time_by_its_squad() -> None:
    made = order()
    with pytest.raises(ValidationFailed) as caught:
        act(made, WEST, T0, action="contact", method="phone", contacted_at=T0 + HOUR)
    assert caught.value.field == "contacted_at"
    with pytest.raises(ValidationFailed):
        act(made, WEST, T0 + HOUR, action="contact", method="phone", contacted_at=T0 - HOUR)
    with pytest.raises(Forbidden):
        act(made, EAST, T0 + HOUR, action="contact", method="phone")
    with pytest.raises(Forbidden):
        act(made, PLATFORM, T0 + HOUR, action="contact", method="phone")
    done = act(made, WEST, T0 + HOUR, action="contact", method="visit")
    with pytest.raises(InvalidTransition):
        act(done, OPERATOR, T0 + HOUR, action="contact", method="phone")


def test_only_work_orders_have_hotline_actions() -> None:
    grid = replace(order(), source=Source.GRID, progress=order().progress.but(hotline=None))
    with pytest.raises(InvalidTransition):
        act(grid, OPERATOR, T0, action="contact", method="phone")


def test_actions_name_what_they_need() -> None:
    for body, field in (
        (b'{"action": "contact"}', "method"),
        (b'{"action": "ask_sendback", "reason_code": "not_competent"}', "reason"),
        (b'{"action": "decide_sendback"}', "approved"),
        (b'{"action": "visit"}', "satisfaction"),
        (b'{"action": "visit", "satisfaction": "ok"}', "satisfaction"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            parse_hotline(body)
        assert caught.value.field == field, body


# -- 退单 ---------------------------------------------------------------------------------------


def test_a_sendback_asked_by_the_squad_and_approved_ends_the_order() -> None:
    made = order()
    asked = act(
        made, WEST, T0 + HOUR, action="ask_sendback", reason_code="not_competent",
        reason="占道经营在商场红线内，属物业管理",
    )  # fmt: skip
    assert asked.state is State.DISPATCHED
    facts = asked.progress.hotline
    assert facts is not None
    assert facts.pending_sendback is not None
    with pytest.raises(InvalidTransition):  # one at a time
        act(asked, WEST, T0 + HOUR, action="ask_sendback", reason_code="other", reason="x")
    with pytest.raises(Forbidden):  # the centre decides, not the squad
        act(asked, WEST, T0 + HOUR, action="decide_sendback", approved=True)
    decision = decide(
        asked, HotlineIn(action="decide_sendback", approved=True), OPERATOR, T0 + 2 * HOUR, RULES
    )
    gone = decision.incident
    assert (gone.state, gone.closed_at) == (State.REJECTED, T0 + 2 * HOUR)
    assert not gone.state.is_open
    assert gone.progress.clock is not None
    assert gone.progress.clock.stopped_at == T0 + 2 * HOUR
    facts = gone.progress.hotline
    assert facts is not None
    assert facts.sent_back is not None
    assert facts.sent_back.decided_by == "op"
    assert decision.events[0].detail["sent_back"] is True
    assert decision.events[0].state_before is State.DISPATCHED


def test_a_refused_sendback_leaves_the_order_with_its_squad() -> None:
    asked = act(
        order(), OPERATOR, T0, action="ask_sendback", reason_code="outside_area", reason="x"
    )
    kept = act(
        asked, OPERATOR, T0 + HOUR, action="decide_sendback", approved=False, note="属本辖区"
    )
    assert kept.state is State.DISPATCHED
    facts = kept.progress.hotline
    assert facts is not None
    assert [s.status for s in facts.sendbacks] == ["refused"]
    assert facts.sent_back is None
    with pytest.raises(InvalidTransition):
        act(kept, OPERATOR, T0 + HOUR, action="decide_sendback", approved=True)
    # asked again, within the window
    again = act(kept, WEST, T0 + HOUR, action="ask_sendback", reason_code="other", reason="y")
    assert again.progress.hotline is not None
    assert len(again.progress.hotline.sendbacks) == 2


def test_a_sendback_outside_the_window_is_refused() -> None:
    made = order()
    closes = sendback_closes_at(made, RULES)
    # 8 working hours from Monday 10:00: Tuesday 10:00 Shanghai
    assert closes == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    with pytest.raises(InvalidTransition) as caught:
        act(made, WEST, closes + HOUR, action="ask_sendback", reason_code="other", reason="x")
    assert caught.value.details == {"window_closed_at": closes.isoformat()}
    # asked in time, approved too late: only refusal is left
    asked = act(made, WEST, closes, action="ask_sendback", reason_code="other", reason="x")
    with pytest.raises(InvalidTransition):
        act(asked, OPERATOR, closes + HOUR, action="decide_sendback", approved=True)
    act(asked, OPERATOR, closes + HOUR, action="decide_sendback", approved=False)


# -- 回访 ---------------------------------------------------------------------------------------


def test_a_visit_needs_a_closed_order_and_the_platform_may_record_it() -> None:
    made = order()
    with pytest.raises(InvalidTransition):
        act(made, OPERATOR, T0 + HOUR, action="visit", satisfaction="satisfied")
    done = closed(made, T0 + 3 * HOUR)
    with pytest.raises(Forbidden):  # a device that did not send the order
        act(done, CAMERA, T0 + 4 * HOUR, action="visit", satisfaction="satisfied")
    visited = act(done, PLATFORM, T0 + 4 * HOUR, action="visit", satisfaction="basically_satisfied")
    assert visited.state is State.CLOSED
    facts = visited.progress.hotline
    assert facts is not None
    assert facts.satisfaction is not None
    assert facts.satisfaction.name_zh == "基本满意"
    with pytest.raises(InvalidTransition):  # once each time it is closed
        act(visited, OPERATOR, T0 + 5 * HOUR, action="visit", satisfaction="satisfied")


def test_a_dissatisfied_caller_sends_the_order_back_to_its_squad() -> None:
    done = closed(order(), T0 + 3 * HOUR)
    decision = decide(
        done, HotlineIn(action="visit", satisfaction="dissatisfied"), OPERATOR, T0 + 5 * HOUR, RULES
    )
    again = decision.incident
    assert (again.state, again.squad_id, again.closed_at) == (State.DISPATCHED, "sq-west", None)
    assert again.progress.rework_count == 1
    facts = again.progress.hotline
    assert facts is not None
    assert facts.rehandled == 1
    clock = again.progress.clock
    assert clock is not None
    assert clock.stopped_at is None
    assert clock.pauses[-1] == (T0 + 3 * HOUR, T0 + 5 * HOUR)  # the time closed is not counted
    assert [e.type for e in decision.events] == [
        EventType.INCIDENT_UPDATED,
        EventType.DISPATCH_ASSIGNED,
    ]
    assert decision.events[1].only_topics == ("squad:sq-west",)
    # handled again and closed: visited again
    second = closed(again, T0 + 7 * HOUR)
    visited = act(second, OPERATOR, T0 + 8 * HOUR, action="visit", satisfaction="satisfied")
    assert visited.progress.hotline is not None
    assert [v.satisfaction.value for v in visited.progress.hotline.visits] == [
        "dissatisfied",
        "satisfied",
    ]


# -- figures ----------------------------------------------------------------------------------


def test_satisfaction_rate_counts_basically_satisfied_as_the_deployment_says() -> None:
    standings = [
        OrderStanding(closed=True, contacted=True, satisfaction="satisfied"),
        OrderStanding(closed=True, contacted=True, satisfaction="basically_satisfied"),
        OrderStanding(closed=True, contacted=True, contacted_late=True, satisfaction="dissatisfied",
                      rehandled=True),
        OrderStanding(closed=True, contact_overdue=True),
        OrderStanding(open_inside_limit=True),
        OrderStanding(sent_back=True),
        OrderStanding(merged=True),
    ]  # fmt: skip
    counted = hotline_figures(standings, basically_counts=True)
    assert counted.counts == {
        "orders": 7,
        "sent_back": 1,
        "due_close": 4,
        "closed": 4,
        "due_contact": 4,
        "contacted_on_time": 2,
        "contacted_late": 1,
        "visited": 3,
        "satisfied": 1,
        "basically_satisfied": 1,
        "dissatisfied": 1,
        "rehandled": 1,
    }
    assert counted.rates == {
        "close_reply_rate": 1.0,
        "contact_rate": 0.5,
        "satisfaction_rate": 0.666667,
        "rehandle_rate": 0.333333,
    }
    strict = hotline_figures(standings, basically_counts=False)
    assert strict.rates["satisfaction_rate"] == 0.333333
    assert hotline_figures([], basically_counts=True).rates["satisfaction_rate"] is None


def test_an_order_stands_as_its_recorded_instants_say() -> None:
    made = act(order(), WEST, T0 + HOUR, action="contact", method="phone")
    done = closed(made, T0 + 3 * HOUR)
    visited = act(done, OPERATOR, T0 + 5 * HOUR, action="visit", satisfaction="dissatisfied")
    before = standing(visited, T0 + 30 * 60 * timedelta(seconds=1))
    assert (before.contacted, before.satisfaction, before.rehandled) == (False, None, False)
    after = standing(visited, T0 + 6 * HOUR)
    assert (after.contacted, after.satisfaction, after.rehandled, after.closed) == (
        True,
        "dissatisfied",
        True,
        False,  # handled again, no longer closed
    )
    assert standing(replace(visited, state=State.MERGED), T0 + 6 * HOUR).merged


def test_the_default_rules_are_documented_defaults() -> None:
    assert HotlineRules() == HotlineRules(contact_hours=2, sendback_hours=8, basically_counts=True)
    assert WorkOrder().sent_back is None


def test_the_monthly_report_carries_the_hotline_figures() -> None:
    counted = hotline_figures(
        [OrderStanding(closed=True, satisfaction="satisfied"), OrderStanding(sent_back=True)],
        basically_counts=False,
    )
    book = openpyxl.load_workbook(io.BytesIO(write_xlsx(sample(), META, WEIGHTS, counted)))
    assert book.sheetnames[-2:] == [HOTLINE_SHEET, NOTES_SHEET]
    rows = {r[1]: r[2] for r in book[HOTLINE_SHEET].iter_rows(min_row=4, values_only=True)}
    assert (rows["orders"], rows["sent_back"], rows["satisfaction_rate"]) == (2, 1, 1.0)
    assert rows["contact_rate"] == "—"
    notes = dict(book[NOTES_SHEET].iter_rows(min_row=2, values_only=True))
    assert notes["满意率口径"] == "基本满意不计入满意率（本部署的设定）"
    assert "办结数 ÷ 应办结数" in notes["办结回复率（close_reply_rate）"]
    lines = list(csv.reader(io.StringIO(write_csv(sample(), counted).decode("utf-8-sig"))))
    mine = [line for line in lines if line[0] == HOTLINE_SHEET]
    assert mine[0] == [HOTLINE_SHEET, "orders", "受理工单数", "2"]
    assert [HOTLINE_SHEET, "satisfaction_rate", "满意率", "1.0"] in mine


def test_a_bureaus_sheet_reads_as_reports_row_by_row() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["工单编号", "问题类别", "诉求类型", "经度", "纬度", "办结时限", "备注"])
    sheet.append([20261123001, 200504, "投诉", 121.4, 31.2, datetime(2026, 11, 25, 18, 0), "x"])
    sheet.append([None, None, None, None, None, None, None])  # blank rows are skipped
    sheet.append(["A-2", "200504", "表扬", 121.4, 31.2, None, None])
    sheet.append([None, "200504", "投诉", 121.4, 31.2, None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    tz = RULES.calendar.tz
    lines = parse_sheet(buffer.getvalue(), XLSX, tz)
    assert [line.number for line in lines] == [2, 4, 5]
    report = lines[0].report
    assert report is not None
    assert (report.external_id, report.category, report.source.value) == (
        "20261123001",
        "200504",
        "hotline",
    )
    assert report.closure_deadline == datetime(2026, 11, 25, 18, 0, tzinfo=tz)
    assert lines[1].error is not None
    assert lines[1].error.field == "request_type"
    assert lines[2].error is not None
    assert lines[2].error.field == "external_id"
    with pytest.raises(ValidationFailed):
        parse_sheet("问题类别\n200504\n".encode(), CSV, tz)
    with pytest.raises(BadRequest):
        parse_sheet(b"not a workbook", XLSX, tz)
