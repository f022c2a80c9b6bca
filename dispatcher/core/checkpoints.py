"""Checkpoints of the history: its head (seq, hash, time) signed and kept outside the database.

The hash chain (:mod:`dispatcher.core.audit`) proves that no entry was altered, removed or
inserted *between* entries; it cannot show that the newest entries were deleted, or that
someone with write access re-hashed the chain from an entry onward. A checkpoint anchors the
head: ``dispatch audit checkpoint`` (or a server, every ``DISPATCH_AUDIT_CHECKPOINT_MINUTES``)
appends one JSON line ``{"seq", "hash", "at", "mac"}`` to a file, the MAC an HMAC-SHA256 under
``DISPATCH_AUDIT_KEY`` of the other three. ``dispatch audit verify --checkpoint FILE`` then
compares every line with the history as it is now (:func:`compare`):

- ``truncated``: the history ends before a checkpointed seq (rows after it were deleted);
- ``missing``: the checkpointed entry itself is gone while later ones are there;
- ``rehashed``: the entry at a checkpointed seq carries another hash (the chain was re-hashed
  from that entry or an earlier one onward);
- ``forged``: a line whose MAC is wrong (written without the key, or edited).

Pure: the key, the lines and the history's hashes come in, findings go out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from dispatcher.core import jsontext

#: the least length of a key (bytes of its text): HMAC-SHA256 wants 32 bytes of entropy
MIN_KEY_LENGTH: Final = 32


@dataclass(frozen=True)
class Checkpoint:
    """The history's head at a moment: its last entry's seq and hash."""

    seq: int
    hash: str  # hex SHA-256 of the entry at seq
    at: datetime

    def _signed_text(self) -> str:
        at = self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return jsontext.canonical({"at": at, "hash": self.hash, "seq": self.seq})

    def mac(self, key: str) -> str:
        """The HMAC-SHA256 of the checkpoint under ``key``, hex."""
        return hmac.new(key.encode(), self._signed_text().encode(), hashlib.sha256).hexdigest()

    def line(self, key: str) -> str:
        """The checkpoint as one JSON line (no newline), signed with ``key``."""
        fields = json.loads(self._signed_text())
        return jsontext.canonical({**fields, "mac": self.mac(key)})


@dataclass(frozen=True)
class Finding:
    problem: str  # truncated | missing | rehashed | forged
    line: int  # the checkpoint file's line (from 1)
    seq: int | None
    message: str


def read(lines: Iterable[str], key: str) -> tuple[list[tuple[int, Checkpoint]], list[Finding]]:
    """The checkpoints of a file's lines whose MAC is right (with their line numbers), and a
    ``forged`` finding for every other non-empty line."""
    good: list[tuple[int, Checkpoint]] = []
    bad: list[Finding] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            fields = json.loads(raw)
            checkpoint = Checkpoint(
                int(fields["seq"]), str(fields["hash"]), datetime.fromisoformat(fields["at"])
            )
            mac = str(fields["mac"])
        except (ValueError, KeyError, TypeError):
            bad.append(Finding("forged", number, None, f"line {number} is not a checkpoint"))
            continue
        if not hmac.compare_digest(mac, checkpoint.mac(key)):
            bad.append(
                Finding(
                    "forged",
                    number,
                    checkpoint.seq,
                    f"line {number} (seq {checkpoint.seq}) does not carry the MAC of"
                    " DISPATCH_AUDIT_KEY: written without the key, or edited",
                )
            )
            continue
        good.append((number, checkpoint))
    return good, bad


def compare(
    checkpoints: Iterable[tuple[int, Checkpoint]],
    head_seq: int | None,
    hashes: Mapping[int, str],
) -> list[Finding]:
    """Each checkpoint the history no longer agrees with. ``head_seq`` is the history's last
    seq (None when it is empty); ``hashes`` the hex hash of each checkpointed seq still there."""
    listed = list(checkpoints)
    agreeing = [cp.seq for _, cp in listed if hashes.get(cp.seq) == cp.hash]
    found: list[Finding] = []
    for number, cp in listed:
        if head_seq is None or head_seq < cp.seq:
            ends = "is empty" if head_seq is None else f"ends at seq {head_seq}"
            found.append(
                Finding(
                    "truncated",
                    number,
                    cp.seq,
                    f"the history {ends}, but the checkpoint of {cp.at.isoformat()} (line"
                    f" {number}) saw it reach seq {cp.seq}: the entries after seq"
                    f" {head_seq or 0} up to {cp.seq} at least were deleted",
                )
            )
        elif cp.seq not in hashes:
            found.append(
                Finding(
                    "missing",
                    number,
                    cp.seq,
                    f"entry {cp.seq}, the head at the checkpoint of {cp.at.isoformat()} (line"
                    f" {number}), is gone while later entries are there",
                )
            )
        elif hashes[cp.seq] != cp.hash:
            before = max((seq for seq in agreeing if seq < cp.seq), default=None)
            since = f"after entry {before} and " if before is not None else ""
            found.append(
                Finding(
                    "rehashed",
                    number,
                    cp.seq,
                    f"entry {cp.seq} carries another hash than at the checkpoint of"
                    f" {cp.at.isoformat()} (line {number}): the chain was re-hashed from an"
                    f" entry {since}at or before entry {cp.seq} onward",
                )
            )
    return found
