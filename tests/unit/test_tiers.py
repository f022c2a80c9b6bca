"""Command tiers (支队 → 大队 → 中队): who answers for which squads (pure)."""

from __future__ import annotations

from dispatcher.core.auth import Principal, Role, may_read_incident, may_subscribe
from dispatcher.core.ids import SquadId, TokenId
from dispatcher.core.routing import Squad
from dispatcher.core.tiers import ancestors, subtree, subtrees, tier_name

SQUADS = {
    "zd": Squad("zd", "城管执法支队", "centre"),
    "dd-a": Squad("dd-a", "东区大队", "street", "zd"),
    "dd-b": Squad("dd-b", "西区大队", "street", "zd"),
    "zh-a1": Squad("zh-a1", "东一中队", "street", "dd-a"),
    "zh-a2": Squad("zh-a2", "东二中队", "street", "dd-a"),
    "zh-b1": Squad("zh-b1", "西一中队", "street", "dd-b"),
}


def holder(squad: str) -> Principal:
    return Principal(
        TokenId(f"tok-{squad}"), Role.SQUAD, squad, SquadId(squad), scope=subtree(squad, SQUADS)
    )


def test_a_tier_is_its_squad_and_every_squad_below() -> None:
    assert subtree("zd", SQUADS) == frozenset(SQUADS)
    assert subtree("dd-a", SQUADS) == {"dd-a", "zh-a1", "zh-a2"}
    assert subtree("zh-b1", SQUADS) == {"zh-b1"}
    assert subtrees(SQUADS)["dd-b"] == {"dd-b", "zh-b1"}
    assert ancestors("zh-a2", SQUADS) == ["dd-a", "zd"]
    assert [tier_name(s, SQUADS) for s in ("zd", "dd-a", "zh-a1")] == ["支队", "大队", "中队"]


def test_a_loop_in_the_parents_is_walked_once() -> None:
    looped = {"a": Squad("a", "a", "street", "b"), "b": Squad("b", "b", "street", "a")}
    assert subtree("a", looped) == {"a", "b"}
    assert ancestors("a", looped) == ["b", "a"]


def test_a_brigade_sees_its_squads_cases_and_not_another_brigades() -> None:
    brigade = holder("dd-a")
    assert may_read_incident(brigade, ["zh-a1"])
    assert may_read_incident(brigade, [None, "zh-b1", "zh-a2"])  # a support squad of its own
    assert not may_read_incident(brigade, ["zh-b1"])
    assert not may_read_incident(holder("zh-a1"), ["zh-a2"])
    assert may_read_incident(holder("zd"), ["zh-b1"])


def test_a_squad_subscribes_to_its_tier_and_never_above() -> None:
    assert may_subscribe(holder("dd-a"), "squad:zh-a2")
    assert may_subscribe(holder("dd-a"), "squad:dd-a")
    assert not may_subscribe(holder("dd-a"), "squad:zh-b1")
    assert not may_subscribe(holder("zh-a1"), "squad:dd-a")
    assert not may_subscribe(holder("zh-a1"), "all")
    assert not may_subscribe(holder("zh-a1"), "squad:zh-a1x")


def test_a_token_without_a_scope_answers_for_its_own_squad() -> None:
    bare = Principal(TokenId("t"), Role.SQUAD, "t", SquadId("zh-a1"))
    assert bare.covers(["zh-a1"])
    assert not bare.covers(["zh-a2"])
    assert bare.squads() == {"zh-a1"}
    assert not Principal(TokenId("o"), Role.SQUAD, "o").covers(["zh-a1"])
