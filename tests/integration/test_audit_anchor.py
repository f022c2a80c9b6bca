"""The history anchored outside the database, and the photos proven through it.

Real ``dispatch audit checkpoint`` and ``dispatch audit verify --checkpoint`` processes against
the test's database: deleting the newest entries (truncation) and re-hashing the chain from an
entry onward both pass the chain's own walk but not the checkpoint, and each is named; a
checkpoint line written without the key is refused. A photo's upload keeps its SHA-256 in the
history, and a photo replaced or removed afterwards is reported. A server with
``DISPATCH_AUDIT_CHECKPOINT_FILE`` writes checkpoints by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from dispatcher.core import audit
from dispatcher.core.checkpoints import Checkpoint
from tests.integration.support import WEST, Api

KEY = "k" * 40
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 300


def dispatch(
    database_url: str, *args: str, media_dir: Path | None = None, key: str | None = KEY
) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env["DISPATCH_DATABASE_URL"] = database_url
    if key is not None:
        env["DISPATCH_AUDIT_KEY"] = key
    if media_dir is not None:
        env["DISPATCH_MEDIA_DIR"] = str(media_dir)
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def run(
    database_url: str, *args: str, media_dir: Path | None = None, key: str | None = KEY
) -> Any:
    return await asyncio.to_thread(dispatch, database_url, *args, media_dir=media_dir, key=key)


async def some_history(api: Api, count: int) -> None:
    await api.load_town()
    device = await api.token("device")
    for n in range(count):
        status, _ = await api.report(
            device, source="citizen", external_id=f"anchor-{n}", lon=WEST[0] + 0.0005 * n
        )
        assert status == 201


async def tamper(database_url: str, *statements: tuple[str, Any]) -> None:
    """Run ``statements`` as a superuser with the append-only triggers off."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET session_replication_role = replica")
        for sql, *args in statements:
            await conn.execute(sql, *args)
    finally:
        await conn.close()


async def rehash_from(database_url: str, seq: int) -> None:
    """Alter entry ``seq`` and write the whole chain again from it onward, as someone with the
    database (and this code) would: the chain's own walk finds nothing."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            """UPDATE history SET detail = '{"note": "rewritten"}' WHERE seq = $1""", seq
        )
        rows = await conn.fetch(audit.SELECT_CHAIN)
        prev = audit.GENESIS
        for row in rows:
            if row["seq"] >= seq:
                digest = audit.digest(
                    prev,
                    seq=row["seq"],
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
                await conn.execute(
                    "UPDATE history SET prev_hash = $2, hash = $3 WHERE seq = $1",
                    row["seq"],
                    prev,
                    digest,
                )
                prev = digest
            else:
                prev = bytes(row["hash"])
    finally:
        await conn.close()


async def seqs_of(database_url: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return [r["seq"] for r in await conn.fetch("SELECT seq FROM history ORDER BY seq")]
    finally:
        await conn.close()


async def test_a_checkpoint_catches_truncation_that_the_chain_alone_does_not(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    await some_history(api, 4)
    marks = tmp_path / "anchor" / "checkpoints.jsonl"
    written = await run(database_url, "audit", "checkpoint", "--file", str(marks))
    assert written.returncode == 0, written.stderr
    seqs = await seqs_of(database_url)
    assert f"seq {seqs[-1]}" in written.stdout
    (line,) = marks.read_text(encoding="utf-8").splitlines()
    assert set(json.loads(line)) == {"seq", "hash", "at", "mac"}

    intact = await run(database_url, "audit", "verify", "--checkpoint", str(marks))
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "1 checkpoint(s) agree" in intact.stdout

    # the newest two entries deleted: the chain is still whole, and shorter
    await tamper(database_url, ("DELETE FROM history WHERE seq >= $1", seqs[-2]))
    plain = await run(database_url, "audit", "verify")
    assert plain.returncode == 0, plain.stdout
    caught = await run(database_url, "audit", "verify", "--checkpoint", str(marks))
    assert caught.returncode == 1
    assert f"AUDIT FAILED at seq {seqs[-1]} (truncated)" in caught.stdout
    assert f"ends at seq {seqs[-3]}" in caught.stdout


async def test_a_checkpoint_catches_a_chain_rehashed_from_an_entry_onward(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    await some_history(api, 3)
    marks = tmp_path / "checkpoints.jsonl"
    first = await run(database_url, "audit", "checkpoint", "--file", str(marks))
    assert first.returncode == 0, first.stderr
    early = (await seqs_of(database_url))[-1]
    device = await api.token("device")
    await api.report(device, source="citizen", external_id="anchor-late", lon=WEST[0] + 0.003)
    second = await run(database_url, "audit", "checkpoint", "--file", str(marks))
    assert second.returncode == 0, second.stderr
    late = (await seqs_of(database_url))[-1]
    assert late > early

    await rehash_from(database_url, early + 1)
    plain = await run(database_url, "audit", "verify")
    assert plain.returncode == 0, plain.stdout  # the walk alone is fooled
    caught = await run(database_url, "audit", "verify", "--checkpoint", str(marks))
    assert caught.returncode == 1
    assert f"AUDIT FAILED at seq {late} (rehashed)" in caught.stdout
    assert f"after entry {early} and at or before entry {late}" in caught.stdout
    assert f"seq {early} (" not in caught.stdout  # the first checkpoint still agrees


async def test_a_checkpoint_line_without_the_key_is_refused(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    await some_history(api, 1)
    marks = tmp_path / "checkpoints.jsonl"
    assert (await run(database_url, "audit", "checkpoint", "--file", str(marks))).returncode == 0
    seq = (await seqs_of(database_url))[-1]
    forged = Checkpoint(seq + 100, "00" * 32, datetime.now(UTC))
    with marks.open("a", encoding="utf-8") as f:
        f.write(forged.line("another key of forty characters, or more") + "\n")
    caught = await run(database_url, "audit", "verify", "--checkpoint", str(marks))
    assert caught.returncode == 1
    assert f"AUDIT FAILED (forged): line 2 (seq {seq + 100})" in caught.stdout
    # without the key nothing is checked, nor written
    keyless = await run(database_url, "audit", "verify", "--checkpoint", str(marks), key=None)
    assert keyless.returncode == 2
    assert "DISPATCH_AUDIT_KEY" in keyless.stderr
    short = await run(database_url, "audit", "checkpoint", "--file", str(marks), key="short")
    assert short.returncode == 2
    assert "short" not in short.stderr.replace("DISPATCH_AUDIT_KEY", ""), "the key is masked"


async def test_photos_are_hashed_at_upload_and_a_tampered_one_is_reported(
    api_factory: Any, database_url: str, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    api = await api_factory(media_dir=media)
    await api.load_town()
    device = await api.token("device")
    _, incident = await api.report(device, source="citizen", external_id="photo-1", lon=WEST[0])
    operator = await api.token("operator")
    shots = []
    for data in (JPEG, PNG):
        _, shot = await api.call(
            "POST", f"/api/v1/incidents/{incident['id']}/media", operator, data=data, expect=201
        )
        assert shot["sha256"] == hashlib.sha256(data).hexdigest()
        shots.append(shot)
    _, doc = await api.call("GET", f"/api/v1/incidents/{incident['id']}", operator, expect=200)
    attached = [e for e in doc["history"] if e.get("action") == "attach_media"]
    assert [e["detail"]["photo"]["sha256"] for e in attached] == [s["sha256"] for s in shots]

    intact = await run(database_url, "audit", "verify", media_dir=media)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "as do 2 photos" in intact.stdout

    jpeg = media / incident["id"] / shots[0]["id"]
    jpeg.write_bytes(JPEG[:-1] + b"\x00")  # one byte changed
    (media / incident["id"] / shots[1]["id"]).unlink()
    caught = await run(database_url, "audit", "verify", media_dir=media)
    assert caught.returncode == 1
    assert f"(altered): incident {incident['id']}: photo {shots[0]['id']}" in caught.stdout
    assert f"(missing): incident {incident['id']}: photo {shots[1]['id']}" in caught.stdout


async def test_a_server_writes_checkpoints_when_asked(
    api_factory: Any, database_url: str, tmp_path: Path
) -> None:
    marks = tmp_path / "server" / "checkpoints.jsonl"
    api = await api_factory(
        audit_key=KEY, audit_checkpoint_file=marks, audit_checkpoint_minutes=0.001
    )
    await some_history(api, 1)
    head = (await seqs_of(database_url))[-1]
    for _ in range(200):  # the loop writes every 0.06 s: wait for a line that saw the report
        if marks.exists() and any(
            json.loads(line)["seq"] >= head for line in marks.read_text().splitlines()
        ):
            break
        await asyncio.sleep(0.05)
    verified = await run(database_url, "audit", "verify", "--checkpoint", str(marks))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "checkpoint(s) agree" in verified.stdout
