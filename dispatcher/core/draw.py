"""The 双随机 draw: random places, and for each random officers, reproducible from a seed.

双随机一公开 (国务院 国办发〔2015〕58 号; 2019 年部门联合双随机): the places inspected are drawn at
random from the population a plan names (随机抽取检查对象), the officers who inspect each are
drawn at random from those qualified (随机选派执法检查人员), and the draw and the results are
published (公开). Anyone must be able to check that the draw was not steered, so it is a
function of what is published: the seed, the population and the rule.

The rule (:data:`ALGORITHM`, ``sha256-rank-v1``), which anyone can re-run::

    rank(x) = SHA-256 of the UTF-8 text  seed + "|" + x  as lowercase hex
    places:   sort the population's ids by (rank("place|" + id), id); take the first n
    officers: for each drawn place, the eligible officers (active, holding a 执法证号, of the
              place's squad; of the plan's whole tier when the squad has too few), less the
              officers who inspected that place last time (回避: a conflict), sorted by
              (rank("officer|" + place_id + "|" + officer_id), officer_id); take the first k

SHA-256 behaves as a random function of its input, so for a seed nobody could choose after
seeing the population every n-subset of the population (and every k-subset of a place's
officers) is equally likely; and unlike a seeded PRNG the rank does not depend on a language's
generator or version, nor on the order in which ids are listed.

Pure: ids in, the draw out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

ALGORITHM: Final = "sha256-rank-v1"
RULE: Final = (
    "rank(x) = sha256(seed + '|' + x) as hex; places: the n smallest rank('place|' + id); "
    "officers of each place: the k smallest rank('officer|' + place_id + '|' + officer_id) "
    "among the place's squad's active officers with a 执法证号 (the plan's tier when the squad "
    "has fewer than k), less those who inspected the place last time; ties by id"
)


def rank(seed: str, key: str) -> str:
    """The place of ``key`` in the draw of ``seed`` (smaller is drawn first)."""
    return hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()


def draw_places(seed: str, population: Collection[str], n: int) -> list[str]:
    """The ``n`` places of ``population`` the seed draws, in the order drawn."""
    return sorted(set(population), key=lambda pid: (rank(seed, f"place|{pid}"), pid))[:n]


def draw_officers(
    seed: str, place_id: str, eligible: Collection[str], excluded: Collection[str], k: int
) -> list[str]:
    """The ``k`` officers of ``eligible`` the seed draws for ``place_id``, never one of
    ``excluded`` (fewer when fewer are left)."""
    pool = set(eligible) - set(excluded)
    return sorted(pool, key=lambda oid: (rank(seed, f"officer|{place_id}|{oid}"), oid))[:k]


@dataclass(frozen=True)
class Candidate:
    """A place of the population as the draw needs it."""

    id: str
    squad_id: str | None


@dataclass(frozen=True)
class Drawn:
    place_id: str
    squad_id: str | None
    officer_ids: tuple[str, ...]
    #: officers excluded for this place as last time's inspectors (回避)
    excluded: tuple[str, ...] = ()


def draw(
    seed: str,
    population: Sequence[Candidate],
    n: int,
    officers: Mapping[str, Sequence[str]],
    last_inspectors: Mapping[str, Collection[str]],
    k: int = 2,
) -> list[Drawn]:
    """Draw ``n`` places and ``k`` officers for each (see the module's rule).

    ``officers``: the eligible officers of each squad of the plan's tier (squad id → person
    ids); ``last_inspectors``: each place's previous inspectors, excluded for it."""
    squads = {c.id: c.squad_id for c in population}
    tier = sorted({o for ids in officers.values() for o in ids})
    found = []
    for place_id in draw_places(seed, squads, n):
        excluded = tuple(sorted(last_inspectors.get(place_id, ())))
        own = officers.get(squads[place_id] or "", ())
        pool: Collection[str] = own if len(set(own) - set(excluded)) >= k else tier
        chosen = draw_officers(seed, place_id, pool, excluded, k)
        found.append(Drawn(place_id, squads[place_id], tuple(chosen), excluded))
    return found


def record(
    seed: str,
    population: Sequence[Candidate],
    n: int,
    officers: Mapping[str, Sequence[str]],
    last_inspectors: Mapping[str, Collection[str]],
    drawn: Sequence[Drawn],
    k: int = 2,
) -> dict[str, Any]:
    """What is kept and published of a draw: everything needed to re-run it, and its result."""
    return {
        "algorithm": ALGORITHM,
        "rule": RULE,
        "seed": seed,
        "sample_size": n,
        "officers_per_place": k,
        "population": sorted(c.id for c in population),
        "officers": {s: sorted(ids) for s, ids in sorted(officers.items())},
        "excluded": {p: sorted(ids) for p, ids in sorted(last_inspectors.items()) if ids},
        "result": [
            {"place_id": d.place_id, "squad_id": d.squad_id, "officer_ids": list(d.officer_ids)}
            for d in drawn
        ],
    }
