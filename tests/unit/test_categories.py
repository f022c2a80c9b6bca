"""The category catalogue: the shipped default and the validation of PUT /api/v1/categories."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest

from dispatcher.core.categories import (
    CLOCKS,
    DEFAULT_DEDUP_RADIUS_M,
    DEFAULT_DEDUP_WINDOW_S,
    Category,
    CategoryIn,
    InvalidCatalogue,
    Kind,
    Priority,
    load_default_catalogue,
    parse_catalogue,
)
from dispatcher.core.clocks import ClockKind

#: what AI cameras detect (as city projects publish), with the codes cities use where known
CAMERA_KINDS = {
    "200504": "店外经营",
    "200502": "占道经营",
    "200501": "无照经营游商",
    "200201": "非法张贴小广告",
    "200202": "违章张贴悬挂广告牌匾",
    "200203": "占道广告牌",
    "200507": "乱堆物堆料",
    "200506": "共享单车",
    "200102": "暴露垃圾",
    "200303": "渣土撒漏",
    "200101": "私搭乱建",
    "200302": "扬尘",
    "200301": "夜间施工噪声",
    "200114": "露天烧烤",
    "100201": "交通护栏破损",
    "100101": "井盖缺失",
    "100102": "井盖破损",
    "100307": "广告牌匾",
}
#: the codes cities use (GB/T 30428.2 scheme); every other entry must say it follows the scheme
CODES_IN_USE = {"200201", "200202", "200203", "200501", "200504", "200506", "200507", "100307"}
SPECIALTIES = {
    "construction_waste",
    "building_site",
    "environment",
    "advertising",
    "illegal_construction",
}


@pytest.fixture(scope="module")
def catalogue() -> list[Category]:
    return load_default_catalogue()


@pytest.fixture(scope="module")
def by_code(catalogue: list[Category]) -> dict[str, Category]:
    return {c.code: c for c in catalogue}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = resources.files("dispatcher").joinpath("data", "categories.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def good_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "code": "200504",
        "name": "店外经营",
        "priority": "normal",
        "clock": "working_hours",
        "limit": 4,
    }
    entry.update(changes)
    return entry


# --- the default catalogue ---------------------------------------------------------------


def test_default_catalogue_parses_with_enough_kinds(catalogue: list[Category]) -> None:
    assert len(catalogue) >= 40
    assert {c.kind for c in catalogue} == {Kind.EVENT, Kind.COMPONENT}


def test_codes_are_unique(catalogue: list[Category]) -> None:
    codes = [c.code for c in catalogue]
    assert len(codes) == len(set(codes))


def test_codes_follow_the_national_scheme(catalogue: list[Category], raw: dict[str, Any]) -> None:
    majors: dict[str, str] = raw["majors"]
    for c in catalogue:
        assert re.fullmatch(r"\d{6}", c.code), c.code
        assert c.code[0] == ("1" if c.kind is Kind.COMPONENT else "2"), c.code
        assert c.code[1] == "0", c.code
        assert majors[c.code[:4]] == c.major, c.code


def test_majors_are_the_national_ones(catalogue: list[Category]) -> None:
    events = {c.major for c in catalogue if c.kind is Kind.EVENT}
    components = {c.major for c in catalogue if c.kind is Kind.COMPONENT}
    assert {"市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件"} < events
    assert len(events) == 6  # and the local extension class
    assert components == {"公用设施", "交通设施", "市容环境设施", "园林绿化", "其他"}


@pytest.mark.parametrize(("code", "name"), sorted(CAMERA_KINDS.items()))
def test_every_camera_kind_is_present(by_code: dict[str, Category], code: str, name: str) -> None:
    assert name in by_code[code].name


def test_codes_not_seen_in_use_say_they_follow_the_scheme(catalogue: list[Category]) -> None:
    for c in catalogue:
        if c.code not in CODES_IN_USE:
            assert "scheme" in c.note, c.code


def test_every_entry_cites_its_limit_and_has_an_english_name(catalogue: list[Category]) -> None:
    for c in catalogue:
        assert c.source_refs.strip(), c.code
        assert c.name_en.strip(), c.code
        assert c.clock in CLOCKS
        assert c.dedup_radius_m >= 0
        assert c.dedup_window_s >= 0
        assert c.auto_confidence is None or 0.5 <= c.auto_confidence < 1


def test_specialties_are_the_known_ones(catalogue: list[Category]) -> None:
    for c in catalogue:
        assert c.specialty is None or c.specialty in SPECIALTIES, c.code
        assert set(c.joint) <= SPECIALTIES, c.code


def test_limits_follow_published_practice(by_code: dict[str, Category]) -> None:
    def limit(code: str) -> tuple[str, float]:
        return by_code[code].clock, by_code[code].limit

    assert limit("100101") == ("continuous", 2)  # 井盖缺失或移位 with danger
    assert by_code["100101"].priority is Priority.URGENT
    assert limit("100102") == ("working_hours", 4)  # 井盖破损
    assert limit("200102") in {("working_hours", 4), ("working_days", 1)}  # 暴露垃圾
    assert limit("200101") == ("working_hours", 4)  # 私搭乱建: stop work
    assert limit("200118") == ("working_days", 7)  # 私搭乱建: penalty
    assert limit("200114") == ("continuous", 2)  # 露天烧烤
    assert limit("200601") == ("working_days", 2)  # 噪声扰民投诉, 12345 practice
    assert by_code["200601"].hotline_limit_days == 2  # for hotline work orders too


def test_request_types_are_not_categories(by_code: dict[str, Category]) -> None:
    # 咨询, 求助, 投诉, 建议 are a request's type (request_type), not what it is about
    assert not {"200602", "200603", "200604", "200605"} & set(by_code)
    assert [c.code for c in by_code.values() if c.hotline_limit_days is not None] == ["200601"]


def test_a_hotline_limit_is_optional_and_positive_working_days() -> None:
    (category,) = parse_catalogue([good_entry(hotline_limit_days=1.5)])
    assert category.hotline_limit_days == 1.5
    assert category.to_json()["hotline_limit_days"] == 1.5
    assert "hotline_limit_days" not in parse_catalogue([good_entry()])[0].to_json()
    assert [(i, f) for i, f, _ in problems_of([good_entry(hotline_limit_days=0)])] == [
        (0, "hotline_limit_days")
    ]


def test_the_clocks_are_the_clock_module_s(catalogue: list[Category]) -> None:
    assert {k.value for k in ClockKind} == CLOCKS
    for c in catalogue:
        ClockKind(c.clock)


def test_to_json_round_trips(catalogue: list[Category]) -> None:
    assert parse_catalogue([c.to_json() for c in catalogue]) == catalogue
    json.dumps([c.to_json() for c in catalogue])


def test_the_raw_file_is_a_valid_put_body(raw: dict[str, Any]) -> None:
    assert len(parse_catalogue(raw["categories"])) == len(raw["categories"])


# --- one category -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "limit", "expected"),
    [
        ("continuous", 2, timedelta(hours=2)),
        ("working_hours", 4, timedelta(hours=4)),
        ("working_hours", 0.5, timedelta(minutes=30)),
        ("working_days", 13, timedelta(days=13)),
    ],
)
def test_limit_timedelta(clock: str, limit: float, expected: timedelta) -> None:
    (category,) = parse_catalogue([good_entry(clock=clock, limit=limit)])
    assert category.limit_timedelta == expected


def test_defaults_are_filled_in() -> None:
    (category,) = parse_catalogue([good_entry(code="100102", name="井盖破损")])
    assert category.kind is Kind.COMPONENT
    assert category.priority is Priority.NORMAL
    assert category.dedup_radius_m == DEFAULT_DEDUP_RADIUS_M
    assert category.dedup_window_s == DEFAULT_DEDUP_WINDOW_S
    assert category.specialty is None
    assert category.joint == ()
    assert category.dedup_enabled


def test_zero_radius_turns_dedup_off() -> None:
    (category,) = parse_catalogue([good_entry(dedup_radius_m=0)])
    assert not category.dedup_enabled


def test_unknown_fields_are_ignored() -> None:
    (category,) = parse_catalogue([good_entry(colour="red", conditions=["x"])])
    assert category.code == "200504"


def test_the_clock_is_kept_as_a_plain_string() -> None:
    (category,) = parse_catalogue([good_entry()])
    assert type(category.clock) is str
    assert category.to_json()["clock"] == "working_hours"


def test_category_refuses_an_unknown_clock() -> None:
    with pytest.raises(ValueError, match="clock"):
        Category(code="1", name="x", priority=Priority.NORMAL, clock="weekly", limit=1)


def test_category_in_validates_one_entry() -> None:
    entry = CategoryIn.model_validate(good_entry(specialty="advertising", joint=["environment"]))
    assert entry.to_category().specialty == "advertising"


# --- bad catalogues -----------------------------------------------------------------------


def problems_of(items: object) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(InvalidCatalogue) as caught:
        parse_catalogue(items)
    return caught.value.problems


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"clock": "weekly"}, "clock"),
        ({"priority": "high"}, "priority"),
        ({"code": ""}, "code"),
        ({"name": ""}, "name"),
        ({"dedup_radius_m": -5}, "dedup_radius_m"),
        ({"dedup_window_s": -1}, "dedup_window_s"),
        ({"auto_confidence": 1.5}, "auto_confidence"),
        ({"specialty": "Not A Slug"}, "specialty"),
    ],
)
def test_a_bad_field_is_named_with_its_index(change: dict[str, Any], field: str) -> None:
    items = [good_entry(code="200201", name="小广告"), good_entry(**change)]
    assert [(i, f) for i, f, _ in problems_of(items)] == [(1, field)]


def test_missing_fields_are_named() -> None:
    fields = {f for _, f, _ in problems_of([{"code": "200504"}])}
    assert fields == {"name", "clock", "limit"}


def test_every_bad_entry_is_reported_and_the_message_names_them() -> None:
    items = [good_entry(limit=0), good_entry(code="200201", name="x"), good_entry(clock="x")]
    with pytest.raises(InvalidCatalogue) as caught:
        parse_catalogue(items)
    assert [(i, f) for i, f, _ in caught.value.problems] == [(0, "limit"), (2, "clock")]
    assert "[0].limit" in str(caught.value)
    assert "[2].clock" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_duplicate_codes_are_named() -> None:
    items = [good_entry(), good_entry(code="200201", name="x"), good_entry(name="again")]
    ((index, field, reason),) = problems_of(items)
    assert (index, field) == (2, "code")
    assert "200504" in reason
    assert "[0]" in reason


@pytest.mark.parametrize("items", [None, {}, "200504", 3, []])
def test_a_catalogue_must_be_a_non_empty_list(items: object) -> None:
    ((index, _field, _reason),) = problems_of(items)
    assert index is None


def test_an_entry_must_be_an_object() -> None:
    assert problems_of([good_entry(), "200201"])[0][:2] == (1, None)
