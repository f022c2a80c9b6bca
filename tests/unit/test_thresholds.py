"""Thresholds of the figures (考核指标阈值) per indicator and tier, and the breaches of a period
(pure, no database)."""

from __future__ import annotations

import re

import pytest

from dispatcher.core.routing import Squad
from dispatcher.core.stats import COUNTS, RATES
from dispatcher.core.thresholds import Threshold, Thresholds, breaches, rolled_up
from dispatcher.core.tiers import TIER_NAMES
from dispatcher.setting_kinds import SCORED_RATES, TIERS
from dispatcher.setting_kinds import Thresholds as ThresholdsSetting

#: 支队 → two 大队 → their 中队
SQUADS = {
    "zd": Squad("zd", "城管执法支队", "centre"),
    "dd1": Squad("dd1", "第一大队", "specialist", "zd"),
    "dd2": Squad("dd2", "第二大队", "specialist", "zd"),
    "zq1": Squad("zq1", "一中队", "street", "dd1"),
    "zq2": Squad("zq2", "二中队", "street", "dd1"),
    "zq3": Squad("zq3", "三中队", "street", "dd2"),
}
DEFAULT = "disposal_rate>=98%,on_time_rate>=95%,close_rate>=95%,rework_rate<=5%"


def counts(**given: int) -> dict[str, int]:
    return {**dict.fromkeys(COUNTS, 0), **given}


def of(text: str) -> Thresholds:
    return Thresholds.from_entries(ThresholdsSetting.parse(text).entries)


#: the period's counts of each squad's own cases
PERIOD = {
    # 一中队: 100 due, 99 resolved (99%), 97 on time (97%), 100 due to close, 96 closed, 2 reworked
    "zq1": counts(
        due_disposal=100, resolved=99, resolved_on_time=97, due_close=100, closed=96, reworked=2
    ),
    # 二中队: 50 due, 45 resolved (90%), 40 on time (80%), 50 to close, 44 closed, 5 reworked (10%)
    "zq2": counts(
        due_disposal=50, resolved=45, resolved_on_time=40, due_close=50, closed=44, reworked=5
    ),
    # 三中队: all good
    "zq3": counts(
        due_disposal=20, resolved=20, resolved_on_time=20, due_close=20, closed=20, reworked=0
    ),
}


def test_the_settings_know_the_rates_and_tiers_of_the_core() -> None:
    assert tuple(RATES) == SCORED_RATES
    assert TIER_NAMES == TIERS


def test_the_setting_reads_and_writes_thresholds_per_tier() -> None:
    setting = ThresholdsSetting.parse(DEFAULT + ",中队:on_time_rate>=90%")
    assert str(setting) == DEFAULT + ",中队:on_time_rate>=90%"
    found = Thresholds.from_entries(setting.entries)
    assert found.of("支队")["on_time_rate"] == Threshold("on_time_rate", ">=", 0.95)
    assert found.of("中队")["on_time_rate"] == Threshold("on_time_rate", ">=", 0.9)
    assert found.of("中队")["disposal_rate"] == Threshold("disposal_rate", ">=", 0.98)
    assert found.of("大队")["rework_rate"].text == "返工率 ≤ 5%"
    for bad in (
        "disposal_rate>=98",  # no %
        "disposal_rate>98%",
        "disposal_rate>=101%",
        "score>=90%",
        "街道:disposal_rate>=98%",
        "disposal_rate>=98%,disposal_rate>=97%",
    ):
        with pytest.raises(ValueError, match=re.escape(bad)):
            ThresholdsSetting.parse(bad)


def test_rolled_up_sums_a_squads_subtree() -> None:
    dd1 = rolled_up(PERIOD, "dd1", SQUADS)
    assert (dd1["due_disposal"], dd1["resolved"]) == (150, 144)
    assert rolled_up(PERIOD, "zd", SQUADS)["due_disposal"] == 170
    assert rolled_up(PERIOD, "zq3", SQUADS)["due_disposal"] == 20


def test_breaches_of_each_tier_against_its_thresholds() -> None:
    found = breaches(PERIOD, SQUADS, of(DEFAULT))
    judged = [(b.squad_id, b.tier, b.rate, b.value) for b in found]
    assert judged == [
        # 支队: 164/170 resolved = 96.4706%, 157/170 on time = 92.3529%, 160/170 closed
        ("zd", "支队", "disposal_rate", 0.964706),
        ("zd", "支队", "on_time_rate", 0.923529),
        ("zd", "支队", "close_rate", 0.941176),
        # 第一大队: 144/150 = 96%, 137/150 on time, 140/150 closed
        ("dd1", "大队", "disposal_rate", 0.96),
        ("dd1", "大队", "on_time_rate", 0.913333),
        ("dd1", "大队", "close_rate", 0.933333),
        # 一中队 meets every one (99%, 97%, 96%, 2%)
        # 二中队: every one of them
        ("zq2", "中队", "disposal_rate", 0.9),
        ("zq2", "中队", "on_time_rate", 0.8),
        ("zq2", "中队", "close_rate", 0.88),
        ("zq2", "中队", "rework_rate", 0.1),
    ]
    worst = found[-1]
    assert (worst.numerator, worst.denominator) == (5, 50)
    assert worst.threshold.text == "返工率 ≤ 5%"
    body = worst.to_json()
    assert body["indicator"] == "rework_rate"
    assert body["label"] == "返工率"
    assert body["threshold"] == {"op": "<=", "value": 0.05, "text": "返工率 ≤ 5%"}
    assert body["text"] == "二中队（中队）返工率 10%，未达 返工率 ≤ 5%"


def test_a_tiers_own_threshold_overrides_and_a_subtree_is_judged_alone() -> None:
    lenient = of(DEFAULT + ",中队:disposal_rate>=90%,中队:on_time_rate>=80%,中队:close_rate>=85%")
    found = breaches(PERIOD, SQUADS, lenient, "dd1")
    assert [(b.squad_id, b.rate) for b in found] == [
        ("dd1", "disposal_rate"),
        ("dd1", "on_time_rate"),
        ("dd1", "close_rate"),
        ("zq2", "rework_rate"),
    ]
    assert all(b.squad_id not in ("zd", "dd2", "zq3") for b in found)


def test_a_rate_without_a_denominator_is_not_judged() -> None:
    quiet = {"zq3": counts(due_disposal=0, due_close=0)}
    assert breaches(quiet, SQUADS, of(DEFAULT), "dd2") == []
    # a squad without a case of its own is judged on its lower squads'
    assert [b.squad_id for b in breaches(PERIOD, SQUADS, of(DEFAULT), "dd2")] == []
