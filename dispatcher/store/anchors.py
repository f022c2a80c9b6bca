"""What ``dispatch audit`` reads of the history besides the chain's walk: its head, the hashes
at checkpointed seqs (:mod:`dispatcher.core.checkpoints`) and the photos its entries name
(:mod:`dispatcher.core.photos`)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Final

from dispatcher.core import photos
from dispatcher.store import records as store

SELECT_HEAD: Final = "SELECT seq, hash FROM history ORDER BY seq DESC LIMIT 1"
SELECT_HASHES: Final = "SELECT seq, hash FROM history WHERE seq = ANY($1::bigint[])"
SELECT_PHOTOS: Final = """
SELECT incident_id, seq, detail FROM history WHERE action = $1 ORDER BY seq"""


async def head(conn: store.Connection) -> tuple[int, str] | None:
    """The history's last entry: its seq and hash (hex); None when the history is empty."""
    row = await conn.fetchrow(SELECT_HEAD)
    if row is None or row["hash"] is None:
        return None
    return int(row["seq"]), bytes(row["hash"]).hex()


async def hashes_at(conn: store.Connection, seqs: Collection[int]) -> dict[int, str]:
    """The hash (hex) of each of ``seqs`` still in the history."""
    rows = await conn.fetch(SELECT_HASHES, sorted(set(seqs)))
    return {int(r["seq"]): bytes(r["hash"]).hex() for r in rows if r["hash"] is not None}


async def photo_claims(conn: store.Connection) -> list[photos.Claim]:
    """The photos every upload entry names, with their hashes."""
    rows = await conn.fetch(SELECT_PHOTOS, photos.ATTACH_MEDIA)
    return photos.claims(
        {"incident_id": r["incident_id"], "seq": r["seq"], "detail": json.loads(r["detail"])}
        for r in rows
    )
