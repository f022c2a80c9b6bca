"""Command tiers (指挥层级): squads form a tree, 支队 → 大队 → 中队 (or district → street → squad).

A squad's ``parent_id`` names the tier above it. A person or token of a squad answers for that
squad and every squad below it (:func:`subtree`): it sees and acts on their incidents,
subscribes to their topics and reads their figures rolled up. An overdue case climbs the tiers
above its squad (:func:`ancestors`) one at a time (``dispatcher.core.alarms``).

Pure: the squads come from the reference snapshot of the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from dispatcher.core.routing import Squad

#: what a tier is called by its depth below the top (0: 支队), when the deployment's squads do
#: not name it: the three tiers of Pudong's and Qingpu's command (支队, 大队, 中队)
TIER_NAMES: Final = ("支队", "大队", "中队")


def ancestors(squad_id: str | None, squads: Mapping[str, Squad]) -> list[str]:
    """The squad's parent, its parent's parent, ...: the tiers above it, nearest first.

    A loop in the parents (a data error) ends the walk at the first squad seen again."""
    found: list[str] = []
    current = squads.get(squad_id) if squad_id else None
    while current is not None and current.parent_id and current.parent_id not in found:
        found.append(current.parent_id)
        current = squads.get(current.parent_id)
    return found


def children(squads: Mapping[str, Squad]) -> dict[str, list[str]]:
    """Each squad's direct children, in id order."""
    below: dict[str, list[str]] = {}
    for squad in sorted(squads.values(), key=lambda s: s.id):
        if squad.parent_id:
            below.setdefault(squad.parent_id, []).append(squad.id)
    return below


def subtree(squad_id: str, squads: Mapping[str, Squad]) -> frozenset[str]:
    """The squad and every squad below it (a loop in the parents is walked once)."""
    below = children(squads)
    found = {squad_id}
    stack = [squad_id]
    while stack:
        for child in below.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return frozenset(found)


def subtrees(squads: Mapping[str, Squad]) -> dict[str, frozenset[str]]:
    """:func:`subtree` of every squad, computed once per reference snapshot."""
    return {squad_id: subtree(squad_id, squads) for squad_id in squads}


def depth(squad_id: str, squads: Mapping[str, Squad]) -> int:
    """How many tiers are above the squad (0 for a top squad)."""
    return len(ancestors(squad_id, squads))


def tier_name(squad_id: str, squads: Mapping[str, Squad]) -> str:
    """支队, 大队 or 中队 by the squad's depth (deeper squads are 中队 too)."""
    return TIER_NAMES[min(depth(squad_id, squads), len(TIER_NAMES) - 1)]
