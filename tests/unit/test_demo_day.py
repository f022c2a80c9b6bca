"""The demo's day (dispatcher.demo.day): the daily curve and what the centre does next with a
case, decided the same way for the same seed."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from dispatcher.demo.day import (
    CST,
    HOURLY,
    PER_DAY,
    Actor,
    arrivals,
    case_rng,
    jpeg,
    next_step,
    per_hour,
)


def test_the_curve_gives_about_three_thousand_a_day_few_at_night() -> None:
    assert round(sum(per_hour(h) for h in range(24))) == PER_DAY
    assert per_hour(3) < per_hour(10) / 10
    assert per_hour(19) > per_hour(15)  # the evening peak
    assert len(HOURLY) == 24


def test_arrivals_follow_the_curve() -> None:
    start = datetime(2026, 11, 2, tzinfo=CST)
    found = arrivals(random.Random(1), start, start + timedelta(days=2), 3000)
    assert 5600 < len(found) < 6400
    by_hour = Counter(m.astimezone(CST).hour for m in found)
    assert by_hour[11] > 5 * by_hour[3]
    assert found == sorted(found)


def test_the_same_seed_decides_the_same_step() -> None:
    case = {"state": "accepted", "source": "camera"}
    first = next_step(case_rng(5, "2026110200000001", 4), case)
    again = next_step(case_rng(5, "2026110200000001", 4), case)
    assert first == again


def test_every_state_has_its_people() -> None:
    seen: Counter[str] = Counter()
    actors: dict[str, set[Actor]] = {}
    for n in range(4000):
        for state in ("reported", "registered", "dispatched", "accepted", "resolved", "closed"):
            step = next_step(case_rng(1, f"c{n}", 1), {"state": state, "source": "hotline"})
            assert step is not None
            key = str(step.body["action"])
            if key == "verify":
                key += "-passed" if step.body["passed"] else "-failed"
            seen[key] += 1
            actors.setdefault(key, set()).add(step.actor)
            if step.then is not None:
                seen[str(step.then.body["action"])] += 1
    for action in ("register", "reject", "dispatch", "accept", "return", "resolve", "extend"):
        assert seen[action] > 0, action
    assert seen["approve_extension"] == seen["extend"]
    assert 0.05 < seen["verify-failed"] / (seen["verify-failed"] + seen["verify-passed"]) < 0.15
    assert actors["accept"] == {Actor.SQUAD}
    assert actors["verify-passed"] == {Actor.OPERATOR}
    assert actors["visit"] == {Actor.PLATFORM}
    assert next_step(case_rng(1, "x", 1), {"state": "closed", "source": "camera"}) is None
    assert (
        next_step(case_rng(1, "x", 1), {"state": "closed", "source": "hotline", "visited": True})
        is None
    )
    assert next_step(case_rng(1, "x", 1), {"state": "merged", "source": "camera"}) is None


def test_some_cases_are_left_to_run_late() -> None:
    late = [
        step
        for n in range(2000)
        if (step := next_step(case_rng(2, f"c{n}", 1), {"state": "dispatched", "source": "grid"}))
        and "late" in step.notes
    ]
    assert 20 < len(late) < 120
    assert all(step.delay_s > 30 * 60 for step in late)  # past the 30-minute sign-for limit


def test_photos_are_jpegs() -> None:
    photo = jpeg(random.Random(3))
    assert photo.startswith(b"\xff\xd8\xff")
    assert photo.endswith(b"\xff\xd9")
    assert len(photo) < 300
    assert jpeg(random.Random(3)) == photo


def test_the_night_shift_is_slower_but_never_the_platforms_callback() -> None:
    case = {"state": "resolved", "source": "camera"}
    day_step = next_step(case_rng(4, "n", 1), case, 10)
    night_step = next_step(case_rng(4, "n", 1), case, 3)
    assert day_step is not None
    assert night_step is not None
    assert night_step.delay_s > day_step.delay_s
    closed = {"state": "closed", "source": "hotline"}
    visit_day = next_step(case_rng(4, "n", 1), closed, 10)
    visit_night = next_step(case_rng(4, "n", 1), closed, 3)
    assert visit_day == visit_night
