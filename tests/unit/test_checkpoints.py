"""Signed checkpoints of the history's head (dispatcher.core.checkpoints), and the photos'
claims (dispatcher.core.photos): pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from dispatcher.core import photos
from dispatcher.core.checkpoints import Checkpoint, compare, read

KEY = "a key of at least thirty-two characters"
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def cp(seq: int, hash_: str, minutes: int = 0) -> Checkpoint:
    return Checkpoint(seq, hash_, T0 + timedelta(minutes=minutes))


def test_a_line_reads_back_with_its_mac_and_any_change_is_forged() -> None:
    line = cp(7, "ab" * 32).line(KEY)
    assert set(json.loads(line)) == {"at", "hash", "mac", "seq"}
    (good,), bad = read([line, ""], KEY)
    assert good == (1, cp(7, "ab" * 32))
    assert bad == []
    edited = line.replace('"seq":7', '"seq":8')
    _, (forged,) = read([edited], KEY)
    assert (forged.problem, forged.line, forged.seq) == ("forged", 1, 8)
    _, (other_key,) = read([line], KEY + "!")
    assert other_key.problem == "forged"
    _, (garbage,) = read(["not json"], KEY)
    assert (garbage.problem, garbage.seq) == ("forged", None)


def test_the_mac_covers_the_time_in_utc_whatever_its_zone() -> None:
    shanghai = cp(3, "cd" * 32).at.astimezone(datetime.now().astimezone().tzinfo)
    assert Checkpoint(3, "cd" * 32, shanghai).mac(KEY) == cp(3, "cd" * 32).mac(KEY)


def test_compare_names_truncation_missing_and_rehashing() -> None:
    marks = [(1, cp(10, "aa")), (2, cp(20, "bb", 60)), (3, cp(30, "cc", 120))]
    assert compare(marks, 35, {10: "aa", 20: "bb", 30: "cc"}) == []
    (cut,) = compare(marks, 25, {10: "aa", 20: "bb"})
    assert (cut.problem, cut.seq, cut.line) == ("truncated", 30, 3)
    assert "ends at seq 25" in cut.message
    (empty, *_) = compare(marks, None, {})
    assert "is empty" in empty.message
    (gone,) = compare(marks, 35, {10: "aa", 30: "cc"})
    assert (gone.problem, gone.seq) == ("missing", 20)
    rewritten = compare(marks, 35, {10: "aa", 20: "xx", 30: "yy"})
    assert [(f.problem, f.seq) for f in rewritten] == [("rehashed", 20), ("rehashed", 30)]
    assert "after entry 10 and at or before entry 20" in rewritten[0].message


def test_photo_claims_and_findings() -> None:
    rows = [
        {"incident_id": "I1", "seq": 4, "detail": {"photo": {"id": "a.jpg", "sha256": "11"}}},
        {"incident_id": "I1", "seq": 5, "detail": {}},
        {"incident_id": "I2", "seq": 6, "detail": {"photo": {"id": "b.png", "sha256": "22"}}},
    ]
    first, second = photos.claims(rows)
    assert first == photos.Claim("I1", 4, "a.jpg", "11")
    assert photos.relative_path("I2", "b.png") == "I2/b.png"
    found = photos.findings([first, second], {first: "11", second: None})
    assert [(m.claim, m.problem) for m in found] == [(second, "missing")]
    (altered,) = photos.findings([first], {first: "99"})
    assert (
        altered.message
        == "incident I1: photo a.jpg (entry 4) does not match the SHA-256 11 the history keeps"
    )
