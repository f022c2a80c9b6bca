"""Regulated places' sheets, 综合查一次, inspection tasks' results and clocks, and the figures
(dispatcher.core.places, inspections, inspection_figures, campaigns; pure, no database)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from openpyxl import Workbook

from dispatcher.core import inspections as core
from dispatcher.core.auth import Principal, Role
from dispatcher.core.campaigns import CampaignIn, progress
from dispatcher.core.clocks import SHANGHAI, Colour, WorkingCalendar
from dispatcher.core.draw import Drawn
from dispatcher.core.errors import InvalidTransition, ValidationFailed
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.inspection_figures import TaskFacts, by_squad, figures
from dispatcher.core.orders_sheet import CSV, XLSX
from dispatcher.core.places import (
    Kind,
    PlaceIn,
    Risk,
    check_qr,
    default_qr_code,
    parse_sheet,
    place_of,
)
from dispatcher.core.routing import Squad

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)  # a Tuesday
CAL = WorkingCalendar()
WEST = Principal(TokenId("w"), Role.SQUAD, "西中队", SquadId("sq-west"))
HEADER = "监管对象编码,名称,对象类型,地址,经度,纬度,证照编号,监管部门,风险等级,二维码\n"


def sheet(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode("utf-8-sig")


def test_a_sheet_gives_good_rows_and_names_each_bad_one() -> None:
    rows = parse_sheet(
        sheet(
            "SH001,老王面馆,门店,西街1号,121.405,31.205,JY123;92310000X,城管;市场监管,A类,",
            "SH002,,门店,西街2号,121.405,31.205,,城管,B,",  # no name
            "SH003,张记水果摊,摊点,西街3号,121.405,not-a-number,,城管,低,",
            "SH004,沪A渣土车,车辆,,121.41,31.21,准运证77,城管、交通,D,LM-CAR-4",
            "SH001,again,门店,,121.4,31.2,,,B,",  # the same code twice
            ",,,,,,,,,",  # empty: skipped
            "SH006,某工地,火箭发射场,,121.4,31.2,,,B,",  # unknown kind
        ),
        CSV,
    )
    assert [r.number for r in rows] == [2, 3, 4, 5, 6, 8]
    good = {r.number: r.place for r in rows if r.place is not None}
    bad = {r.number: r.error for r in rows if r.error is not None}
    assert sorted(good) == [2, 5]
    assert sorted(bad) == [3, 4, 6, 8]
    first = good[2]
    assert first is not None
    assert first.kind is Kind.SHOP
    assert first.risk is Risk.A
    assert first.licences == ["JY123", "92310000X"]
    assert first.departments == ["城管", "市场监管"]
    assert good[5] is not None
    assert good[5].kind is Kind.VEHICLE
    assert good[5].risk is Risk.D
    assert good[5].departments == ["城管", "交通"]
    assert bad[3] is not None
    assert bad[3].field == "name"
    assert "名称" in bad[3].message
    assert bad[4] is not None
    assert bad[4].field == "lat"
    assert bad[6] is not None
    assert "given twice" in bad[6].message
    assert bad[8] is not None
    assert bad[8].field == "kind"


def test_an_excel_sheet_reads_like_the_csv() -> None:
    book = Workbook()
    sheet_ = book.active
    assert sheet_ is not None
    sheet_.append(HEADER.strip().split(","))
    sheet_.append([10086, "广告牌甲", "广告牌", "东路", 121.55, 31.3, None, "城管", "C", None])
    out = io.BytesIO()
    book.save(out)
    (row,) = parse_sheet(out.getvalue(), XLSX)
    assert row.place is not None
    assert row.place.id == "10086"
    assert row.place.kind is Kind.BILLBOARD


def test_a_header_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="经度"):
        parse_sheet("监管对象编码,名称,对象类型\nA,b,门店\n".encode(), CSV)


def place(
    pid: str = "SH001", departments: tuple[str, ...] = ("城管", "燃气", "消防")
) -> core.Place:
    cmd = PlaceIn(
        id=pid, name="老王面馆", kind=Kind.SHOP, lon=121.4, lat=31.2, departments=list(departments)
    )
    return place_of(cmd, 121.4, 31.2, ("west",), "sq-west", NOW)


CHECKLIST = tuple(
    core.ChecklistItem(i, dept, kinds, text, "200504")
    for i, dept, kinds, text in [
        ("c1", "城管", (Kind.SHOP,), "门前三包"),
        ("c2", "城管", (Kind.SHOP,), "店外经营"),
        ("g1", "燃气", (Kind.SHOP,), "燃气报警器"),
        ("f1", "消防", (), "灭火器"),
        ("w1", "城管", (Kind.VEHICLE,), "密闭运输"),
        ("m1", "市场监管", (Kind.SHOP,), "亮照经营"),
    ]
)


def test_one_visit_covers_every_department_that_regulates_the_place() -> None:
    items = core.items_for(place(), CHECKLIST)
    assert [i.id for i in items] == ["c1", "c2", "g1", "f1"]  # not the vehicle's, not 市场监管
    assert core.departments_of(items) == ("城管", "燃气", "消防")
    one = core.items_for(place("B", ("城管",)), CHECKLIST)
    merged = core.merge([items, one, ()])
    assert (merged.visits, merged.separate_visits, merged.combined_visits) == (2, 4, 1)
    assert merged.saved == 2


def assigned() -> core.Task:
    drawn = Drawn("SH001", "sq-west", ("p1", "p2"))
    plan = core.Plan(
        "JH1",
        "x",
        "sq-west",
        CHECKLIST,
        core.Population(),
        1,
        2,
        2.0,
        NOW,
        NOW + timedelta(days=30),
        None,
        core.PlanState.DRAWN,
        NOW,
        "op",
    )
    task, step = core.assign("XC1", plan, place(), drawn, WEST, NOW, CAL, 0.75, SHANGHAI)
    assert step.topics == ("all", "inspection:XC1", "squad:sq-west")
    assert step.body(1, SHANGHAI)["inspection"]["place"]["name"] == "老王面馆"
    return task


def result(qr: str, *failed: str) -> core.ResultIn:
    return core.ResultIn(
        qr_code=qr,
        results=[
            core.ItemResultIn(item_id=i, passed=i not in failed, note="占道" if i in failed else "")
            for i in ("c1", "c2", "g1", "f1")
        ],
    )


def test_a_result_needs_the_place_s_own_code_and_every_item_once() -> None:
    task = assigned()
    assert task.deadline == datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI)  # two working days
    with pytest.raises(ValidationFailed, match="亮码不符") as refused:
        core.check_result(task, place(), result("LM-WRONG"))
    assert refused.value.field == "qr_code"
    code = default_qr_code("SH001")
    check_qr(place(), code.lower())  # case does not matter when typed
    partial = core.ResultIn(qr_code=code, results=[core.ItemResultIn(item_id="c1", passed=True)])
    with pytest.raises(ValidationFailed, match="not answered"):
        core.check_result(task, place(), partial)
    done, step = core.record_result(
        task, place(), result(code, "c2"), {"c2": "2026120100001"}, WEST, NOW, SHANGHAI
    )
    assert done.state is core.TaskState.DONE
    assert done.findings == 1
    assert done.incident_ids == ("2026120100001",)
    assert done.on_time is True
    assert done.due_at is None
    assert step.type is core.StepType.DONE
    assert step.detail["findings"] == 1
    with pytest.raises(InvalidTransition):
        core.check_result(done, place(), result(code))


def test_the_task_s_clock_goes_yellow_then_red() -> None:
    task = assigned()
    assert task.due_at == task.yellow_at
    assert core.fire(task, task.yellow_at - timedelta(seconds=1), SHANGHAI) is None
    fired = core.fire(task, task.yellow_at, SHANGHAI)
    assert fired is not None
    assert fired[0].colour is Colour.YELLOW
    assert fired[1].type is core.StepType.WARNED
    assert fired[0].due_at == task.deadline
    red = core.fire(fired[0], task.deadline, SHANGHAI)
    assert red is not None
    assert red[0].colour is Colour.RED
    assert red[0].due_at is None


def facts(squad: str, done: bool, late: bool = False, departments: int = 2) -> TaskFacts:
    deadline = NOW + timedelta(days=2)
    done_at = (deadline + timedelta(hours=1) if late else NOW) if done else None
    return TaskFacts(squad, f"P-{squad}-{done}-{late}", done, deadline, done_at, departments, 1)


def test_the_figures_and_their_roll_up() -> None:
    tasks = [
        facts("sq-west", True),
        facts("sq-west", True, late=True, departments=1),
        facts("sq-west", False),
        facts("sq-east", True, departments=3),
    ]
    total = figures(tasks, NOW + timedelta(days=5))
    assert total["planned"] == 4
    assert total["done"] == 3
    assert total["on_time"] == 2
    assert total["overdue_open"] == 1
    assert total["places_inspected"] == 3
    assert total["combined"] == 2
    assert total["combined_share"] == round(2 / 3, 4)
    assert total["visits_saved"] == 1 + 0 + 1 + 2
    assert total["findings_per_100"] == 100.0
    squads = {
        "centre": Squad("centre", "中心", "centre"),
        "sq-west": Squad("sq-west", "西", "street", "centre"),
        "sq-east": Squad("sq-east", "东", "street", "centre"),
    }
    rows = {r["key"]: r for r in by_squad(tasks, squads, NOW, rolled_up=True)}
    assert rows["centre"]["planned"] == 4
    assert rows["sq-west"]["planned"] == 3
    assert rows[None]["name"] == "合计"


def test_a_campaign_s_progress_against_its_targets() -> None:
    cmd = CampaignIn(
        name="占道经营专项整治",
        starts_at=NOW,
        ends_at=NOW + timedelta(days=30),
        targets={"inspections": 4, "incidents_closed": 10},
    )
    body = progress(
        {"targets": cmd.targets},
        [facts("sq-west", True), facts("sq-east", False)],
        {"sq-west": (6, 5), None: (1, 0)},
        {},
        NOW,
    )
    assert [r["squad_id"] for r in body["squads"]] == ["sq-east", "sq-west"]
    assert body["total"]["incidents"] == 7
    assert body["total"]["incidents_closed"] == 5
    assert body["targets"]["inspections"] == {"target": 4, "reached": 1, "share": 0.25}
    with pytest.raises(ValueError, match="unknown target"):
        CampaignIn(name="x", starts_at=NOW, ends_at=NOW + timedelta(days=1), targets={"x": 1})
