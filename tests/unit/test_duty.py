"""Duty (勤务), pure: rosters with rotations, who is on duty at an instant (across midnight,
through holidays), check-ins at a post, strength, and the recommendation's use of duty."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dispatcher.core import duty
from dispatcher.core.errors import ValidationFailed
from dispatcher.core.routing import Candidate, Recommendation

TZ = ZoneInfo("Asia/Shanghai")
SHIFTS = {
    "early": duty.Shift("early", "sq-west", "早班", time(7), time(15)),
    "middle": duty.Shift("middle", "sq-west", "中班", time(15), time(23)),
    "night": duty.Shift("night", "sq-west", "夜班", time(23), time(7)),
}
# 四班三运转: four teams on an 8-day cycle, two early, two middle, two night, two off; the
# teams two days apart, so that every shift of every day has exactly one team
CYCLE = ["early", "early", "middle", "middle", "night", "night", None, None]


def shifted(k: int) -> list[str | None]:
    return CYCLE[-2 * k :] + CYCLE[: -2 * k] if k else list(CYCLE)


POST_A = duty.Post(
    "post-a",
    "sq-west",
    "南京路岗",
    {
        "type": "Polygon",
        "coordinates": [
            [[121.40, 31.20], [121.41, 31.20], [121.41, 31.21], [121.40, 31.21], [121.40, 31.20]]
        ],
    },
)
POST_B = duty.Post(
    "post-b",
    "sq-east",
    "东站联勤岗",
    {"type": "Point", "coordinates": [121.55, 31.30]},
    joint_police=True,
    police_unit="东站派出所",
)
ROSTER = duty.Roster(
    "r-west",
    "sq-west",
    "西中队四班三运转",
    date(2026, 12, 7),  # a Monday
    None,
    8,
    {team: tuple(shifted(k)) for k, team in enumerate("ABCD")},
    (
        duty.Member("p-a", "A", "post-a"),
        duty.Member("p-b", "B", "post-a"),
        duty.Member("p-c", "C", "post-a"),
        duty.Member("p-d", "D", "post-a"),
    ),
)


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def who(instant: datetime) -> list[tuple[str, str]]:
    return [(s.person_id, s.shift_id) for s in duty.on_duty([ROSTER], SHIFTS, instant, TZ)]


def test_the_rotation_over_a_week_and_across_midnight() -> None:
    # the teams' cycles: A E E M M N N - -, B - - E E M M N N, C N N - - E E M M, D M M N N - - E E
    # day 0 (Mon 7 Dec): A early, D middle, C night, B off
    assert who(at(7, 8)) == [("p-a", "early")]
    assert who(at(7, 16)) == [("p-d", "middle")]
    assert who(at(7, 23, 30)) == [("p-c", "night")]
    # 02:00 on Tuesday: the night shift begun on Monday 23:00 is still running
    assert who(at(8, 2)) == [("p-c", "night")]
    # the shift changes at 07:00: C's night ends (its end excluded), A's second early begins
    assert who(at(8, 6, 59)) == [("p-c", "night")]
    assert who(at(8, 7)) == [("p-a", "early")]
    # day 2 (Wed 9 Dec): the cycle moves on every two days
    assert who(at(9, 8)) == [("p-b", "early")]
    assert who(at(9, 16)) == [("p-a", "middle")]
    assert who(at(9, 23, 30)) == [("p-d", "night")]
    # a week on (Mon 14 Dec, day 7 of the 8-day cycle): A rests, D is early
    assert who(at(14, 8)) == [("p-d", "early")]
    assert who(at(14, 16)) == [("p-c", "middle")]


def test_before_the_roster_starts_nobody_is_on_duty() -> None:
    assert who(at(6, 12)) == []
    # its first night shift, begun on day 0, still counts after midnight; none from day -1
    assert who(at(7, 2)) == []


def test_the_rotation_ignores_holidays() -> None:
    # 1 January 2027 (元旦) is a public holiday: the rotation runs on as on any day.
    # 1 Jan 2027 is day 25 of the cycle from 7 Dec 2026: 25 % 8 = 1: A early again
    assert who(datetime(2027, 1, 1, 8, tzinfo=TZ)) == [("p-a", "early")]
    # nor does a Sunday stop it (day 6: D early)
    assert who(at(13, 8)) == [("p-d", "early")]


def test_a_weekly_plan_with_an_end() -> None:
    weekdays = ("early", "early", "early", "early", "early", None, None)
    roster = duty.Roster(
        "r-week", "sq-west", "周计划", date(2026, 12, 7), date(2026, 12, 20), 7,
        {"day": weekdays}, (duty.Member("p-a", "day", "post-a"),),
    )  # fmt: skip
    on = [s.person_id for s in duty.on_duty([roster], SHIFTS, at(11, 9), TZ)]
    assert on == ["p-a"]  # Friday
    assert duty.on_duty([roster], SHIFTS, at(12, 9), TZ) == []  # Saturday
    assert [s.person_id for s in duty.on_duty([roster], SHIFTS, at(14, 9), TZ)] == ["p-a"]
    assert duty.on_duty([roster], SHIFTS, at(21, 9), TZ) == []  # after its end


def test_early_counts_a_stint_about_to_begin() -> None:
    running = duty.on_duty([ROSTER], SHIFTS, at(7, 6, 40), TZ, early=duty.EARLY)
    assert [s.person_id for s in running] == ["p-a"]


def test_a_check_in_on_post_on_duty_off_duty_off_post_and_late() -> None:
    stints = duty.on_duty([ROSTER], SHIFTS, at(7, 7, 5), TZ, early=duty.EARLY)
    inside = (121.405, 31.205)
    ok = duty.check_in(
        "p-a", POST_A, stints, *inside, at(7, 7, 5), radius_m=200, late_after=timedelta(minutes=10)
    )
    assert ok.accepted
    assert not ok.late
    assert ok.distance_m == 0
    late = duty.check_in(
        "p-a", POST_A, stints, *inside, at(7, 7, 20), radius_m=200, late_after=timedelta(minutes=10)
    )
    assert late.accepted
    assert late.late
    off_duty = duty.check_in(
        "p-d", POST_A, stints, *inside, at(7, 7, 5), radius_m=200, late_after=timedelta(minutes=10)
    )
    assert not off_duty.accepted
    assert "不在班" in off_duty.reason
    # 1 km east of the polygon
    far = duty.check_in(
        "p-a", POST_A, stints, 121.42, 31.205, at(7, 7, 5), radius_m=200,
        late_after=timedelta(minutes=10),
    )  # fmt: skip
    assert not far.accepted
    assert "超出签到范围" in far.reason
    assert 900 < far.distance_m < 1000
    other_post = duty.check_in(
        "p-a", POST_B, stints, 121.55, 31.30, at(7, 7, 5), radius_m=200,
        late_after=timedelta(minutes=10),
    )  # fmt: skip
    assert not other_post.accepted


def test_strength_by_post_and_squad() -> None:
    stints = duty.on_duty([ROSTER], SHIFTS, at(7, 8), TZ)
    by_post, by_squad = duty.strength(stints, {("p-a", "post-a")})
    assert by_post["post-a"] == duty.Strength(1, 1)
    assert by_squad["sq-west"].to_json() == {"on_duty": 1, "checked_in": 1}


def base() -> Recommendation:
    return Recommendation(
        (Candidate("sq-east", ("属地：东街道",)), Candidate("sq-west", ("属地：西街道",))),
        (),
        (),
    )


def test_an_incident_at_a_post_goes_to_its_on_duty_officers_squad_first() -> None:
    stints = duty.on_duty([ROSTER], SHIFTS, at(7, 8), TZ)
    ranked = duty.on_duty_first(base(), 121.405, 31.205, [POST_A], stints, {"sq-west"})
    assert [c.squad_id for c in ranked.candidates] == ["sq-west", "sq-east"]
    assert "岗点：南京路岗在岗 1 人" in ranked.candidates[0].reasons


def test_a_squad_with_nobody_on_duty_ranks_after_one_with_officers() -> None:
    east = duty.Roster(
        "r-east", "sq-east", "东中队", date(2026, 12, 7), None, 1, {"A": ("early",)},
        (duty.Member("p-e", "A", "post-b"),),
    )  # fmt: skip
    stints = duty.on_duty([ROSTER, east], SHIFTS, at(7, 16), TZ)  # west middle on, east off
    ranked = duty.on_duty_first(base(), 121.45, 31.25, [], stints, {"sq-west", "sq-east"})
    assert [c.squad_id for c in ranked.candidates] == ["sq-west", "sq-east"]
    assert ranked.candidates[1].reasons[1] == "当前无人在岗：排在有人在岗的中队之后"
    # in the morning both have someone: the base order stands
    stints = duty.on_duty([ROSTER, east], SHIFTS, at(7, 8), TZ)
    ranked = duty.on_duty_first(base(), 121.45, 31.25, [], stints, {"sq-west", "sq-east"})
    assert [c.squad_id for c in ranked.candidates] == ["sq-east", "sq-west"]


def test_without_rosters_the_recommendation_is_unchanged() -> None:
    assert duty.on_duty_first(base(), 121.405, 31.205, [POST_A], [], set()) == base()


def test_a_joint_post_names_the_police_and_a_bad_place_is_refused() -> None:
    stints = [
        duty.Stint("p-e", "sq-east", "post-b", "early", "r", "A", at(7, 7), at(7, 15)),
    ]
    ranked = duty.on_duty_first(base(), 121.5501, 31.3001, [POST_B], stints, {"sq-east"})
    assert ranked.candidates[0].reasons[1] == "岗点：东站联勤岗在岗 1 人，城警联勤（东站派出所）"
    with pytest.raises(ValidationFailed):
        duty.parse(
            duty.PostIn,
            b'{"squad_id":"s","name":"x","place":{"type":"Point","coordinates":[500,1]}}',
        )
    with pytest.raises(ValidationFailed):
        duty.parse(
            duty.PostIn,
            b'{"squad_id":"s","name":"x","joint_police":true,'
            b'"place":{"type":"Point","coordinates":[121,31]}}',
        )
    with pytest.raises(ValidationFailed):
        duty.parse(
            duty.RosterIn,
            b'{"squad_id":"s","name":"x","starts_on":"2026-12-07","cycle_days":3,'
            b'"pattern":{"A":["early"]},"members":[]}',
        )


@pytest.mark.parametrize(
    "place",
    [
        {"type": "Polygon", "coordinates": {}},
        {"type": "Polygon", "coordinates": [[[121.4, 31.2], [121.5, 31.2], [121.4, 31.2]]]},
        {
            "type": "Polygon",
            "coordinates": [[[121.4, 31.2], [121.5, 31.2], [121.5, 91], [121.4, 31.2]]],
        },
        {"type": "Point", "coordinates": [121.4]},
        {"type": "Point", "coordinates": ["121.4", 31.2]},
        {"type": "Point", "coordinates": [181, 31.2]},
    ],
)
def test_a_post_place_that_is_no_usable_geojson_is_refused_with_its_reason(
    place: dict[str, object],
) -> None:
    with pytest.raises(ValidationError, match="not a usable GeoJSON"):
        duty.PostPlaceIn.model_validate(place)
