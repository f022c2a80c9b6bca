"""Enforcement cases, pure: the party's codes, the steps' order, the officers, the legal
limits as clocks, the review's correction, the files' types and hashes, the figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatcher.core import case_files
from dispatcher.core import enforcement as core
from dispatcher.core.auth import Principal, Role
from dispatcher.core.case_clocks import Limits
from dispatcher.core.case_figures import CaseRow, figures
from dispatcher.core.clocks import Colour, WorkingCalendar
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.parties import (
    IdType,
    PartyKind,
    credit_code_check,
    make_party,
    mask,
    valid_credit_code,
    valid_resident_id,
)
from dispatcher.core.routing import Squad
from dispatcher.core.times import parse_time

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
OP = Principal(TokenId("op"), Role.OPERATOR, "值班员")
WEST = Principal(TokenId("w"), Role.SQUAD, "西中队", squad_id=SquadId("sq-west"))
EAST = Principal(TokenId("e"), Role.SQUAD, "东中队", squad_id=SquadId("sq-east"))
TWO = [core.Officer("p1", "李", "3201"), core.Officer("p2", "王", "3202")]
CAL = WorkingCalendar(tz=UTC)
LIMITS = Limits()


def test_credit_codes_by_their_check_character() -> None:
    assert valid_credit_code("91350100M000100Y43")  # GB 32100-2015's example
    assert credit_code_check("91350100M000100Y4") == "3"
    assert not valid_credit_code("91350100M000100Y44")
    assert not valid_credit_code("91350100M000100Y4")  # 17 characters
    assert not valid_credit_code("91350100M000100I43")  # I is not of the code's set
    with pytest.raises(ValidationFailed) as refused:
        make_party(PartyKind.COMPANY, "x", credit_code="91350100M000100Y40")
    assert refused.value.field == "party.credit_code"
    assert make_party(PartyKind.COMPANY, "x", credit_code="91350100m000100y43").credit_code == (
        "91350100M000100Y43"
    )


def test_resident_ids_are_checked_and_masked() -> None:
    assert valid_resident_id("11010519491231002X")  # GB 11643-1999's example
    assert not valid_resident_id("110105194912310021")
    assert mask("11010519491231002X") == "110***********002X"
    assert mask("E1234567") == "******67"
    party = make_party(
        PartyKind.PERSON, "张三", id_type=IdType.RESIDENT, id_number="11010519491231002x"
    )
    assert party.to_doc()["id_number"] == "110***********002X"
    assert party.to_record()["id_number"] == "11010519491231002X"
    with pytest.raises(ValidationFailed):
        make_party(PartyKind.PERSON, "张三")
    with pytest.raises(ValidationFailed):
        make_party(PartyKind.PLACE, "某店")


def opened(procedure: core.Procedure = core.Procedure.GENERAL, **extra: object) -> core.Case:
    cmd = core.CaseIn.model_validate(
        {
            "source": {"kind": "incident", "ref": "2026001"},
            "procedure": procedure.value,
            "title": "占道经营",
            "party": {"kind": "place", "name": "某店", "place_id": "pl-1"},
            "officers": ["p1", "p2"],
            **extra,
        }
    )
    party = make_party(PartyKind.PLACE, "某店", place_id="pl-1")
    decision = core.open_case(
        "AJ20260302000001", "城管罚〔2026〕1号", cmd, party, TWO, "sq-west", "2026001", [], OP,
        T0, LIMITS, 0.8,
    )  # fmt: skip
    assert decision.step.type is core.StepType.OPENED
    return decision.case


def step(case: core.Case, action: str, now: datetime = T0, **extra: object) -> core.Case:
    cmd = core.StepIn.model_validate({"step": action, **extra})
    return core.take_step(case, cmd, [], WEST, now, CAL, LIMITS, 0.8).case


def test_two_officers_with_badges_by_law() -> None:
    with pytest.raises(ValidationFailed) as one:
        core.check_officers(TWO[:1])
    assert one.value.field == "officers"
    with pytest.raises(ValidationFailed):
        core.check_officers([TWO[0], TWO[0]])  # the same officer twice is one
    with pytest.raises(ValidationFailed) as unbadged:
        core.check_officers([TWO[0], core.Officer("p3", "赵", "")])
    assert unbadged.value.field == "officers.1"


def test_steps_in_their_order_and_out_of_it_refused() -> None:
    case = opened()
    assert core.next_actions(case) == [core.CaseAction.FILE]
    with pytest.raises(InvalidTransition):
        step(case, "decide")
    with pytest.raises(Forbidden):
        core.take_step(case, core.StepIn(step=core.CaseAction.FILE), [], EAST, T0, CAL, LIMITS, 0.8)
    later = T0 + timedelta(days=1)
    case = step(case, "file", later, date=T0.isoformat())
    assert case.state is core.CaseState.FILED
    assert case.filing.stopped_at == T0
    assert not case.filing.late
    assert case.decision is not None
    assert case.decision.deadline == T0 + timedelta(days=90)  # 《行政处罚法》 第60条
    with pytest.raises(ValidationFailed):  # not before the step before it
        step(case, "investigate", later, date=(T0 - timedelta(days=1)).isoformat())
    with pytest.raises(ValidationFailed):  # not in the future
        step(case, "investigate", later, date=(later + timedelta(days=1)).isoformat())
    case = step(case, "investigate", later)
    case = step(case, "notify", later)
    assert case.statement_until is not None
    assert case.statement_until > later
    with pytest.raises(InvalidTransition):  # the party's 陈述申辩 period runs
        step(case, "decide", later)
    case = step(case, "decide", later, waived=True, fine_yuan=5000)
    assert case.decision is not None
    assert case.decision.stopped_at == later
    for name in ("serve", "execute", "close"):
        case = step(case, name, later)
    assert case.state is core.CaseState.CLOSED
    assert core.next_actions(case) == []
    assert set(case.dates) == {a.value for a in core.ORDER[core.Procedure.GENERAL]}


def test_a_summary_case_has_no_investigation_and_caps_its_fine() -> None:
    case = step(opened(core.Procedure.SUMMARY), "file")
    assert case.decision is None
    with pytest.raises(InvalidTransition):
        step(case, "investigate")
    case = step(case, "notify")
    with pytest.raises(ValidationFailed) as capped:  # 3000 for others, 《行政处罚法》 第51条
        step(case, "decide", waived=True, fine_yuan=3001)
    assert capped.value.field == "fine_yuan"
    assert step(case, "decide", waived=True, fine_yuan=3000).fine_yuan == 3000


def test_the_filing_clock_turns_yellow_then_red() -> None:
    case = opened()
    assert case.filing.deadline == T0 + timedelta(days=15)
    assert case.due_at == T0 + timedelta(days=12)
    assert core.fire(case, T0 + timedelta(days=11)) is None
    yellow = core.fire(case, T0 + timedelta(days=12, seconds=1))
    assert yellow is not None
    assert yellow.step.type is core.StepType.WARNED
    assert yellow.case.colour is Colour.YELLOW
    assert yellow.case.due_at == T0 + timedelta(days=15)
    red = core.fire(yellow.case, T0 + timedelta(days=15, seconds=1))
    assert red is not None
    assert red.step.type is core.StepType.OVERDUE
    assert red.step.detail["clock_label"] == "立案超期"
    assert red.case.colour is Colour.RED
    assert red.case.due_at is None
    filed = step(red.case, "file", T0 + timedelta(days=16))
    assert filed.filing.late
    assert filed.colour is Colour.GREEN  # the 结案 clock runs now, green


def test_an_extension_moves_the_decision_deadline() -> None:
    case = step(opened(), "file")
    with pytest.raises(ValidationFailed):  # the approval is named
        step(case, "extend")
    extended = step(case, "extend", note="局长批准延期")
    assert extended.decision is not None
    assert extended.decision.deadline == T0 + timedelta(days=120)
    assert extended.extensions == 1


def test_a_failed_review_asks_for_a_correction() -> None:
    case = opened(core.Procedure.SUMMARY)
    for name in ("file", "notify"):
        case = step(case, name)
    with pytest.raises(InvalidTransition):
        core.review(case, core.ReviewOutcome(passed=False, sample_id=1), OP, T0)
    for name, extra in (
        ("decide", {"waived": True}),
        ("serve", {}),
        ("execute", {}),
        ("close", {}),
    ):
        case = step(case, name, **extra)
    passed = core.review(case, core.ReviewOutcome(passed=True, sample_id=1), OP, T0)
    assert passed.case.state is core.CaseState.CLOSED
    failed = core.review(case, core.ReviewOutcome(passed=False, note="缺笔录", sample_id=1), OP, T0)
    assert failed.case.state is core.CaseState.CORRECTING
    assert failed.step.detail["officers"] == ["p1", "p2"]
    assert core.next_actions(failed.case) == [core.CaseAction.CORRECT]
    corrected = step(failed.case, "correct", note="已补正")
    assert corrected.state is core.CaseState.CLOSED
    assert corrected.corrections == 1


def test_the_record_round_trips() -> None:
    case = step(step(opened(), "file"), "investigate")
    again = core.from_record(core.to_record(case, UTC), parse_time)
    assert again == case


def test_file_types_by_their_bytes_and_hash_claims() -> None:
    assert case_files.sniff(b"%PDF-1.7\n") == "pdf"
    assert case_files.sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00") == "mp4"
    assert case_files.sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00") == "mov"
    assert case_files.sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert case_files.sniff(b"ID3\x04\x00") == "mp3"
    assert case_files.sniff(b"hello world") is None
    rows = [
        {"incident_id": "AJ1", "seq": 3, "detail": {"documents": [
            {"id": "d1", "file": "d1.pdf", "sha256": "aa"},
            {"id": "d2", "file": "d2.mp4", "sha256": "bb"},
        ]}},
        {"incident_id": "AJ1", "seq": 4, "detail": {}},
    ]  # fmt: skip
    claims = case_files.claims(rows)
    assert [c.document_id for c in claims] == ["d1", "d2"]
    found = case_files.findings(claims, {claims[0]: "aa", claims[1]: None})
    assert [(m.claim.document_id, m.problem) for m in found] == [("d2", "missing")]
    altered = case_files.findings(claims, {claims[0]: "ab", claims[1]: "bb"})
    assert "case AJ1: document d1 (entry 3)" in altered[0].message


def test_figures_roll_up_over_the_tiers() -> None:
    squads = {
        "centre": Squad("centre", "中心", "centre"),
        "sq-west": Squad("sq-west", "西", "street", parent_id="centre"),
        "sq-east": Squad("sq-east", "东", "street", parent_id="centre"),
    }
    day = timedelta(days=1)

    def row(squad: str, *, late: bool = False, closed: bool = True) -> CaseRow:
        return CaseRow(
            "general", squad, "green", T0, T0 + day, T0 + 2 * day if closed else None, late, False
        )

    rows = [row("sq-west"), row("sq-west", late=True), row("sq-east", closed=False)]
    found = figures(rows, T0, T0 + 10 * day, squads, None)
    assert found["total"]["filed"] == 3
    assert found["total"]["filing_rate"] == round(2 / 3, 4)
    assert found["total"]["closing_rate"] == 1.0
    by = {r["squad_id"]: r for r in found["by_squad"]}
    assert (by["centre"]["opened"], by["sq-west"]["opened"], by["sq-east"]["closed"]) == (3, 2, 0)
    west_only = figures(rows, T0, T0 + 10 * day, squads, "sq-west")
    assert west_only["total"]["opened"] == 2
    assert [r["squad_id"] for r in west_only["by_squad"]] == ["sq-west"]
