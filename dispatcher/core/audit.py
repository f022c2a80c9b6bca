"""The provable history (执法全过程记录): every entry is hashed with the one before it.

``digest`` is the chain's one formula, used when an entry is appended and when the chain is
checked. It hashes a canonical JSON text of the entry's values (keys sorted; floats large
enough to be written with an exponent written as integers), so the same values read back
from PostgreSQL's ``jsonb`` give the same text. :func:`verify` walks the history in ``seq``
order and reports the first entry that was altered, or where an entry was removed or inserted.
The files of enforcement cases are proven through the chain too: a step's entry keeps each
file's SHA-256, and ``dispatch audit verify`` hashes the files again after the walk
(:func:`dispatcher.core.case_files.findings`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from dispatcher.core import jsontext

GENESIS: Final = bytes(32)


def _normal(value: Any) -> Any:
    kind = type(value)  # exact types: this runs over every value of every entry
    if kind is float:
        # only the floats Python writes with an exponent and jsonb gives back as integers
        return int(value) if abs(value) >= 1e16 and value.is_integer() else value
    if kind is dict:
        return {k: _normal(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_normal(v) for v in value]
    return value


def _canonical(values: Any) -> str:
    return jsontext.canonical(values)


def digest(prev: bytes, **entry: Any) -> bytes:
    """The hash of one history entry chained to ``prev`` (the previous entry's hash);
    ``entry`` names the values :func:`text` takes."""
    return hashlib.sha256(prev + text(**entry).encode("utf-8")).digest()


def text(
    *,
    seq: int,
    incident_id: str,
    type: str,
    action: str | None,
    actor: str,
    actor_role: str | None,
    at: datetime,
    state_before: str | None,
    state_after: str | None,
    detail: Any,
    event: Any,
) -> str:
    """The canonical text of one history entry, the text its hash is taken of."""
    values = [
        seq,
        incident_id,
        type,
        action,
        actor,
        actor_role,
        at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        state_before,
        state_after,
        detail,
        event,
    ]
    canonical = _canonical(values)
    if "e+" in canonical:
        # A float of 1e16 or more is written with an exponent here, but PostgreSQL's jsonb
        # gives it back as a plain integer: write such values as integers on both sides.
        # Smaller floats round-trip exactly, so the walk is needed only in this rare case.
        canonical = _canonical(_normal(values))
    return canonical


def around_seq(*, event: dict[str, Any], **entry: Any) -> tuple[str, str]:
    """The canonical text of an entry whose ``seq`` is not known yet, as (middle, tail).

    For any seq S, :func:`text` is ``"[" + S + "," + middle + S + tail`` (S in decimal):
    the seq is the first value, and the event's ``"seq"`` key is the last but one of its
    object (only ``"type"`` sorts after it), which ends the text. So the database can hash
    an entry under the history lock, where its seq is taken (``history_append``, migration
    0008). ``entry`` names the other values :func:`text` takes; ``event`` is the event body,
    with ``seq`` and ``type`` among its keys as :meth:`dispatcher.core.events.Event.body` makes it.
    """
    whole = text(seq=0, event={**event, "seq": 0}, **entry)
    tail = ',"type":' + _canonical(event["type"]) + "}]"
    end = '"seq":0' + tail
    if not whole.startswith("[0,") or not whole.endswith(end):
        raise ValueError("an event body's last keys are seq and type")
    return whole[3 : -len(end)] + '"seq":', tail


@dataclass(frozen=True)
class Finding:
    """The first problem found in the chain."""

    seq: int
    problem: str  # altered | chain_broken | unhashed
    message: str


SELECT_CHAIN: Final = """
SELECT seq, incident_id, type, action, actor, actor_role, at, state_before, state_after,
       detail, event, prev_hash, hash
FROM history ORDER BY seq"""


async def verify(rows: AsyncIterable[Any]) -> tuple[int, Finding | None]:
    """Walk history rows in seq order; answer how many were checked and the first finding."""
    expected_prev = GENESIS
    checked = 0
    async for row in rows:
        checked += 1
        seq = int(row["seq"])
        if row["hash"] is None or row["prev_hash"] is None:
            return checked, Finding(seq, "unhashed", f"entry {seq} carries no hash")
        if bytes(row["prev_hash"]) != expected_prev:
            return checked, Finding(
                seq,
                "chain_broken",
                f"entry {seq} does not follow the entry before it: an entry was removed or "
                "inserted just before it",
            )
        computed = digest(
            bytes(row["prev_hash"]),
            seq=seq,
            incident_id=row["incident_id"],
            type=row["type"],
            action=row["action"],
            actor=row["actor"],
            actor_role=row["actor_role"],
            at=row["at"],
            state_before=row["state_before"],
            state_after=row["state_after"],
            detail=json.loads(row["detail"]),
            event=json.loads(row["event"]),
        )
        if computed != bytes(row["hash"]):
            return checked, Finding(seq, "altered", f"entry {seq} was altered after it was written")
        expected_prev = bytes(row["hash"])
    return checked, None
