"""Supervision sampling: reproducible draws, and the review action that a failed check takes."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from dispatcher.core.deadlines import case_clock
from dispatcher.core.errors import Forbidden, InvalidTransition, ValidationFailed
from dispatcher.core.events import EventType
from dispatcher.core.incidents import State
from dispatcher.core.lifecycle import Action
from dispatcher.core.sampling import (
    DEFAULT_STRATA,
    Candidate,
    CheckIn,
    CheckResult,
    Stratum,
    draw,
    items,
    parse_check,
    parse_sample,
    review_command,
    sample_size,
)
from tests.unit.test_lifecycle import AUDITOR, T0, WEST, act, in_state


def population() -> list[Candidate]:
    hotline = [Candidate(f"H{n:04d}", "hotline", "corrected_on_spot") for n in range(300)]
    filed = [Candidate(f"C{n:04d}", "grid", "case_filed") for n in range(40)]
    both = [Candidate(f"B{n:04d}", "hotline", "case_filed") for n in range(10)]
    return hotline + filed + both


def test_the_default_rates_are_one_and_ten_percent() -> None:
    drawn = draw(population(), DEFAULT_STRATA, seed=20261101)
    hotline, filed = drawn
    assert (hotline.population, len(hotline.chosen)) == (310, 4)  # ceil(3.1)
    assert (filed.population, len(filed.chosen)) == (50, 5)
    assert set(hotline.chosen) <= {c.incident_id for c in population() if c.source == "hotline"}
    ids = sorted(c.incident_id for c in population() if c.outcome == "case_filed")
    assert filed.digest == hashlib.sha256("\n".join(ids).encode()).hexdigest()


def test_the_same_seed_and_population_give_the_same_sample() -> None:
    first = draw(population(), DEFAULT_STRATA, seed=7)
    shuffled = list(reversed(population()))
    assert draw(shuffled, DEFAULT_STRATA, seed=7) == first  # the order they come in is moot
    assert draw(population(), DEFAULT_STRATA, seed=8) != first


def test_sample_sizes_round_up_without_float_noise() -> None:
    assert sample_size(0.1, 30) == 3
    assert sample_size(0.01, 1) == 1
    assert sample_size(0.01, 0) == 0
    assert sample_size(1.0, 7) == 7


def test_an_incident_drawn_by_two_strata_is_checked_once() -> None:
    every = (
        Stratum("all_hotline", 1.0, sources=("hotline",)),
        Stratum("filed", 1.0, outcomes=("case_filed",)),
    )
    chosen = items(draw(population(), every, seed=1))
    assert chosen["B0003"] == ["all_hotline", "filed"]
    assert len(chosen) == 350


def test_bodies_are_validated_naming_the_field() -> None:
    sample = parse_sample(
        b'{"from": "2026-10-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}'
    )
    assert sample.chosen_strata() == DEFAULT_STRATA
    with pytest.raises(ValidationFailed) as refused:
        parse_sample(b'{"from": "2026-11-01T00:00:00+08:00", "to": "2026-10-01T00:00:00+08:00"}')
    assert refused.value.field == "to"
    with pytest.raises(ValidationFailed) as refused:
        parse_sample(
            b'{"from": "2026-10-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00",'
            b' "strata": [{"name": "x", "rate": 2}]}'
        )
    assert refused.value.field == "strata.0.rate"
    with pytest.raises(ValidationFailed) as refused:
        parse_check(b'{"result": "meh"}')
    assert refused.value.field == "result"


def test_a_failed_review_reopens_a_closed_case_as_rework() -> None:
    closed = in_state(State.CLOSED)
    later = T0 + timedelta(days=3)
    cmd = review_command(CheckIn(result=CheckResult.REWORK_ORDERED, note="现场复发"), 12)
    assert (cmd.action, cmd.passed) == (Action.REVIEW, False)
    decision = act(closed, Action.REVIEW, at=later, passed=False, note=cmd.note)
    reopened = decision.incident
    assert reopened.state is State.DISPATCHED
    assert (reopened.squad_id, reopened.closed_at, reopened.resolved_at) == ("sq-west", None, None)
    assert reopened.progress.rework_count == 1
    assert [e.type for e in decision.events] == [
        EventType.INCIDENT_UPDATED,
        EventType.DISPATCH_ASSIGNED,
    ]
    assert decision.events[0].detail["passed"] is False
    clock = case_clock(reopened)
    before = case_clock(closed)
    assert clock is not None
    assert before is not None
    assert before.stopped_at is not None
    # the clock runs again; the days it sat closed are a pause, not time used
    assert clock.stopped_at is None
    assert clock.pauses[-1] == (before.stopped_at, later)
    assert reopened.progress.colour == "green"


def test_a_passed_review_keeps_the_case_closed_and_only_operators_review() -> None:
    closed = in_state(State.CLOSED)
    kept = act(closed, Action.REVIEW, passed=True)
    assert kept.incident.state is State.CLOSED
    assert [e.type for e in kept.events] == [EventType.INCIDENT_UPDATED]
    with pytest.raises(InvalidTransition):
        act(in_state(State.RESOLVED), Action.REVIEW, passed=False)
    for who in (WEST, AUDITOR):
        with pytest.raises(Forbidden):
            act(closed, Action.REVIEW, who, passed=False)


def test_a_check_note_at_its_limit_still_makes_a_valid_review() -> None:
    """Found by fuzzing: a 4000-character check note once overflowed the action's note (500)."""
    check = parse_check(json.dumps({"result": "satisfied", "note": "0" * 4000}).encode())
    command = review_command(check, 12345)
    assert command.note is not None
    assert len(command.note) <= 4000
    assert command.note.startswith("抽查 #12345：satisfied；000")
