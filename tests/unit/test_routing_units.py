"""Who should go (``routing``): each factor — place, specialty, skill, distance, load,
staleness — deciding a case of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from shapely.geometry import Point

from dispatcher.core.categories import Category, Priority
from dispatcher.core.incidents import Flag
from dispatcher.core.routing import (
    Candidate,
    Recommendation,
    Squad,
    UnitPolicy,
    needed_skill,
    rank_units,
    recommend,
    with_units,
)
from dispatcher.core.units import Position, Unit, UnitState, UnitStatus
from geo.distance import LocalFrame
from geo.zones import ZoneIndex, parse_feature_collection
from tests.integration.support import EAST, SQUADS, TOWN, WEST

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FRAME = LocalFrame(*WEST)
POLICY = UnitPolicy(stale_after_s=300, load_penalty_m=300, per_squad=3)
STALLS = Category("200504", "店外经营", Priority.NORMAL, "working_hours", 4)
ADS = Category("200202", "违章张贴悬挂广告牌匾", Priority.NORMAL, "working_hours", 4,
               specialty="advertising")  # fmt: skip
WASTE = Category("200401", "建筑垃圾", Priority.NORMAL, "working_hours", 4,
                 specialty="construction_waste")  # fmt: skip
SQUAD_MAP = {
    sid: Squad(
        sid, body["name"], body["kind"], body.get("parent_id"), tuple(body.get("skills", ()))
    )
    for sid, body in cast(dict[str, dict[str, Any]], SQUADS).items()
}
INDEX = ZoneIndex(parse_feature_collection(TOWN, list(SQUADS)))


def at_metres(east: float, north: float = 0.0) -> tuple[float, float]:
    """The WGS84 point ``east`` / ``north`` metres from WEST."""
    point = FRAME.to_wgs84(Point(east, north))
    return float(point.x), float(point.y)


def unit(
    uid: str,
    east: float | None,
    *,
    skills: tuple[str, ...] = (),
    load: int = 0,
    age_s: float = 10,
    status: UnitStatus = UnitStatus.AVAILABLE,
    squad: str = "sq-west",
) -> UnitState:
    position = None
    if east is not None:
        lon, lat = at_metres(east)
        position = Position(lon, lat, NOW - timedelta(seconds=age_s))
    return UnitState(Unit(uid, squad, uid, skills, status), position, load)


def ranked_ids(states: list[UnitState], skill: str | None = None) -> list[str]:
    return [r.state.unit.id for r in rank_units(states, *WEST, skill, NOW, POLICY)]


# -- the squad: place and specialty -------------------------------------------------------


def test_place_decides_the_squad() -> None:
    west = recommend(INDEX.match(*WEST), STALLS, SQUAD_MAP, 30)
    east = recommend(INDEX.match(*EAST), STALLS, SQUAD_MAP, 30)
    assert [c.squad_id for c in west.candidates] == ["sq-west"]
    assert [c.squad_id for c in east.candidates] == ["sq-east"]
    assert west.candidates[0].reasons[0].startswith("属地：west")


def test_specialty_decides_the_squad_before_the_place() -> None:
    rec = recommend(INDEX.match(*WEST), WASTE, SQUAD_MAP, 30)
    assert [c.squad_id for c in rec.candidates] == ["brigade-cw", "sq-west"]
    assert rec.candidates[0].reasons[0].startswith("专综结合")


def test_near_a_border_and_in_no_zone_are_flagged_not_guessed() -> None:
    near_border = recommend(INDEX.match(121.4999, 31.25), STALLS, SQUAD_MAP, 30)
    assert Flag.NEAR_BORDER in near_border.flags
    assert not near_border.certain
    nowhere = recommend(INDEX.match(100.0, 10.0), STALLS, SQUAD_MAP, 30)
    assert nowhere.flags == (Flag.NO_ZONE,)
    assert nowhere.candidates == ()


# -- the unit: skill, distance, load, staleness -------------------------------------------


def test_distance_decides_between_units_alike() -> None:
    assert ranked_ids([unit("far", 900), unit("near", 200), unit("mid", 500)]) == [
        "near",
        "mid",
        "far",
    ]
    best = rank_units([unit("near", 200)], *WEST, None, NOW, POLICY)[0]
    assert best.distance_m == pytest.approx(200, abs=0.5)
    assert best.reasons[0].startswith("直线距离 200 米（按直线计算，未按道路")


def test_skill_decides_before_distance() -> None:
    states = [unit("near", 100), unit("liaison", 1500, skills=("advertising",))]
    assert ranked_ids(states, "advertising") == ["liaison", "near"]
    assert ranked_ids(states, None) == ["near", "liaison"]
    reasons = rank_units(states, *WEST, "advertising", NOW, POLICY)
    assert "具备所需专业 advertising（专业执法联络员）" in reasons[0].reasons
    assert any(r.startswith("不具备所需专业 advertising") for r in reasons[1].reasons)


def test_load_decides_between_units_about_as_near() -> None:
    states = [unit("busy-ish", 300, load=2), unit("free", 500, load=0)]
    assert ranked_ids(states) == ["free", "busy-ish"]  # 300 + 2 × 300 > 500
    assert "负载：在办 2 件" in rank_units(states, *WEST, None, NOW, POLICY)[1].reasons
    # far enough apart, distance wins over load
    assert ranked_ids([unit("a", 100, load=1), unit("b", 1500)]) == ["a", "b"]


def test_a_stale_position_is_passed_over() -> None:
    states = [unit("stale", 50, age_s=301), unit("fresh", 2000, age_s=5), unit("unseen", None)]
    ranked = rank_units(states, *WEST, None, NOW, POLICY)
    assert [r.state.unit.id for r in ranked] == ["fresh", "stale", "unseen"]
    assert ranked[1].distance_m is None  # its old position is not used at all
    assert ranked[1].reasons[0] == "位置已过时（5 分钟前）：不参与距离排序"
    assert ranked[2].reasons[0] == "无位置上报：不参与距离排序"
    younger_limit = UnitPolicy(stale_after_s=3600)
    assert rank_units(states, *WEST, None, NOW, younger_limit)[0].state.unit.id == "stale"


def test_only_available_units_are_proposed() -> None:
    states = [
        unit(status.value, 10, status=status)
        for status in UnitStatus
        if status is not UnitStatus.AVAILABLE
    ]
    assert ranked_ids([*states, unit("available", 3000)]) == ["available"]


def test_needed_skill_is_the_specialty_else_the_first_joint_one() -> None:
    assert needed_skill(ADS) == "advertising"
    assert needed_skill(STALLS) is None
    joint = Category("200101", "违法建设", Priority.NORMAL, "working_hours", 4,
                     joint=("illegal_construction", "building_site"))  # fmt: skip
    assert needed_skill(joint) == "illegal_construction"


# -- squads expanded into units -----------------------------------------------------------


def test_each_squad_candidate_becomes_its_best_units() -> None:
    base = recommend(INDEX.match(*WEST), WASTE, SQUAD_MAP, 30)
    units = {
        "brigade-cw": [
            unit("cw-1", 800, skills=("construction_waste",), squad="brigade-cw"),
            unit("cw-2", 300, skills=("construction_waste",), squad="brigade-cw"),
        ],
        "sq-west": [unit(f"w-{n}", 100 * n) for n in range(1, 6)],
    }
    rec = with_units(base, *WEST, WASTE, units, NOW, POLICY)
    assert [(c.squad_id, c.unit_id) for c in rec.candidates] == [
        ("brigade-cw", "cw-2"),
        ("brigade-cw", "cw-1"),
        ("sq-west", "w-1"),
        ("sq-west", "w-2"),
        ("sq-west", "w-3"),
    ]
    first = rec.candidates[0]
    assert first.reasons[0].startswith("专综结合")  # the squad's reason, then the unit's
    assert first.reasons[1].startswith("直线距离 300 米")
    assert first.distance_m == pytest.approx(300, abs=0.5)
    assert rec.squad_id == "brigade-cw"
    assert rec.flags == base.flags


def test_a_squad_without_available_units_stays_a_squad_candidate() -> None:
    base = Recommendation((Candidate("sq-west", ("属地：west",)),), (), ())
    off = {"sq-west": [unit("off", 10, status=UnitStatus.OFF_DUTY)]}
    rec = with_units(base, *WEST, STALLS, off, NOW, POLICY)
    assert rec.candidates == (Candidate("sq-west", ("属地：west", "中队内暂无待命执法单元")),)
