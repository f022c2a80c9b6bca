"""The 双随机 draw (dispatcher.core.draw): reproducible from its seed, fair, never a conflict.

Fairness is checked with a chi-square statistic over many deterministic seeds (no randomness
in the test: the same seeds give the same counts every run). With k − 1 degrees of freedom the
bounds used are the 99.9% quantiles of the chi-square distribution, so a fair draw fails one of
these checks with probability about 1/1000 per check, and the seeds are fixed, so it never
flakes.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.core.draw import Candidate, draw, draw_officers, draw_places, rank, record

#: the 99.9% quantile of the chi-square distribution by degrees of freedom
CHI2_999 = {4: 18.467, 9: 27.877, 19: 43.820}
SEEDS = [f"seed-{n}" for n in range(3000)]


def chi2(counts: Counter[str], keys: list[str], expected: float) -> float:
    return sum((counts[k] - expected) ** 2 / expected for k in keys)


def test_the_rule_is_sha256_of_seed_and_key() -> None:
    # published with the draw: anyone can compute it with any SHA-256 tool
    assert rank("abc", "place|P1") == hashlib.sha256(b"abc|place|P1").hexdigest()


def test_a_published_draw_gives_the_same_places_forever() -> None:
    # pinned: a change to the rule would change a published result, so it must fail here
    population = [f"P{n:03d}" for n in range(1, 21)]
    assert draw_places("2026-12-双随机-公示", population, 4) == ["P003", "P018", "P004", "P019"]
    assert draw_officers("2026-12-双随机-公示", "P007", ["o1", "o2", "o3", "o4"], ["o2"], 2) == [
        "o4",
        "o1",
    ]


@given(
    seed=st.text(min_size=1, max_size=40),
    ids=st.sets(st.text(alphabet="ABCDEFGHJK0123456789", min_size=1, max_size=8), max_size=40),
    n=st.integers(min_value=0, max_value=50),
)
@settings(max_examples=200, deadline=None)
def test_same_seed_and_population_same_result_in_any_order(
    seed: str, ids: set[str], n: int
) -> None:
    listed = sorted(ids)
    first = draw_places(seed, listed, n)
    assert first == draw_places(seed, list(reversed(listed)), n)
    assert len(first) == min(n, len(ids))
    assert len(set(first)) == len(first)
    assert set(first) <= ids


def test_every_place_is_equally_likely() -> None:
    population = [f"P{n:02d}" for n in range(10)]
    counts: Counter[str] = Counter()
    for seed in SEEDS:
        counts.update(draw_places(seed, population, 3))
    assert chi2(counts, population, len(SEEDS) * 3 / 10) < CHI2_999[9]


def test_every_set_of_places_is_equally_likely() -> None:
    population = ["A", "B", "C", "D", "E"]
    subsets = ["".join(c) for c in itertools.combinations(population, 2)]
    counts: Counter[str] = Counter()
    for seed in SEEDS:
        counts["".join(sorted(draw_places(seed, population, 2)))] += 1
    assert set(counts) == set(subsets)
    assert chi2(counts, subsets, len(SEEDS) / 10) < CHI2_999[9]


def test_every_eligible_officer_is_equally_likely_and_the_conflict_never() -> None:
    officers = ["o1", "o2", "o3", "o4", "o5", "o6"]
    counts: Counter[str] = Counter()
    for seed in SEEDS:
        chosen = draw_officers(seed, "P01", officers, ["o3"], 2)
        assert len(chosen) == 2
        assert "o3" not in chosen
        counts.update(chosen)
    eligible = [o for o in officers if o != "o3"]
    assert counts["o3"] == 0
    assert chi2(counts, eligible, len(SEEDS) * 2 / 5) < CHI2_999[4]


def test_officers_of_different_places_are_drawn_independently() -> None:
    # the rank names the place: the same pair is not sent everywhere by one seed
    pairs = {
        tuple(draw_officers("one-seed", f"P{n}", ["a", "b", "c", "d", "e"], [], 2))
        for n in range(30)
    }
    assert len(pairs) > 5


@given(
    seed=st.text(min_size=1, max_size=20),
    last=st.dictionaries(
        st.sampled_from([f"P{n}" for n in range(12)]),
        st.sets(st.sampled_from([f"o{n}" for n in range(8)]), max_size=3),
    ),
)
@settings(max_examples=200, deadline=None)
def test_conflicts_are_never_drawn(seed: str, last: dict[str, set[str]]) -> None:
    population = [Candidate(f"P{n}", "sq-a" if n % 2 else "sq-b") for n in range(12)]
    officers = {"sq-a": ["o0", "o1", "o2", "o3"], "sq-b": ["o4", "o5", "o6", "o7"]}
    drawn = draw(seed, population, 8, officers, last)
    assert len(drawn) == 8
    for d in drawn:
        assert not set(d.officer_ids) & last.get(d.place_id, set())
        assert len(set(d.officer_ids)) == len(d.officer_ids) == 2
        own = set(officers[d.squad_id or ""])
        if len(own - last.get(d.place_id, set())) >= 2:
            assert set(d.officer_ids) <= own  # the place's own squad while it has enough


def test_the_record_is_enough_to_rerun_the_draw() -> None:
    population = [Candidate(f"P{n}", "sq-a") for n in range(20)]
    officers = {"sq-a": ["o1", "o2", "o3", "o4"]}
    last = {"P3": ["o1"]}
    drawn = draw("s" * 16, population, 5, officers, last)
    kept = record("s" * 16, population, 5, officers, last, drawn)
    again = draw(
        kept["seed"],
        [Candidate(p, "sq-a") for p in kept["population"]],
        kept["sample_size"],
        kept["officers"],
        kept["excluded"],
        kept["officers_per_place"],
    )
    assert [
        {"place_id": d.place_id, "squad_id": d.squad_id, "officer_ids": list(d.officer_ids)}
        for d in again
    ] == kept["result"]
    assert kept["algorithm"] == "sha256-rank-v1"
