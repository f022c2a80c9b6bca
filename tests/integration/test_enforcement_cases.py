"""Enforcement cases (行政处罚案件) on real PostgreSQL and Redis: a camera's detection opening an
off-site case with its evidence, every step to 结案 with documents whose hashes ``dispatch audit
verify`` checks (and a tampered file reported); steps out of order refused; two officers; the
立案 clock turning yellow then red; the case-file review's correction; the figures."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from dispatcher.app import create_app
from dispatcher.core import audit
from dispatcher.core.times import parse_time
from dispatcher.store.enforcement import WarningLoop
from dispatcher.web.context import RUNTIME, Runtime
from tests.integration.support import Api, settings_for

CASES = "/api/v1/cases"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
PDF = b"%PDF-1.7\n" + b"x" * 500
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(4000)
#: GB 32100-2015's example of a valid code
CREDIT_CODE = "91350100M000100Y43"


@dataclass
class Served:
    api: Api
    rt: Runtime
    media: Path
    database_url: str


@pytest_asyncio.fixture
async def served(database_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    app = create_app(settings_for(database_url, redis_url, media_dir=tmp_path))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        try:
            api = Api(str(server.make_url("")).rstrip("/"), session)
            yield Served(api, app[RUNTIME], tmp_path, database_url)
        finally:
            await server.close()


def at(text: str) -> datetime:
    found = parse_time(text)
    assert found is not None
    return found


async def officers(rt: Runtime, *, badge: bool = True) -> list[str]:
    """Two officers of 西街道中队 (with 执法证号 unless ``badge`` is false) and one without."""
    rows = [
        ("p-li", "李执法", "32010001" if badge else None),
        ("p-wang", "王执法", "32010002"),
        ("p-zhao", "赵协管", None),
    ]
    for pid, name, no in rows:
        await rt.pool.execute(
            "INSERT INTO people (id, login, name, badge_no, squad_id, role, password_hash,"
            " created_by) VALUES ($1, $1, $2, $3, 'sq-west', 'squad', 'x', 'test')"
            " ON CONFLICT (id) DO NOTHING",
            pid,
            name,
            no,
        )
    return ["p-li", "p-wang"]


def body(source: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "source": source,
        "procedure": "general",
        "title": "擅自占道经营",
        "facts": "当事人在人行道摆摊经营。",
        "party": {"kind": "company", "name": "某某餐饮有限公司", "credit_code": CREDIT_CODE},
        "officers": ["p-li", "p-wang"],
        **extra,
    }


async def upload(api: Api, case_id: str, token: str, data: bytes, name: str) -> dict[str, Any]:
    _, doc = await api.call(
        "POST", f"{CASES}/{case_id}/documents?name={name}", token, data=data, expect=201
    )
    assert isinstance(doc, dict)
    return doc


def verify(served: Served) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DISPATCH_DATABASE_URL": served.database_url,
        "DISPATCH_MEDIA_DIR": str(served.media),
    }
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_camera_detection_through_every_step_to_closure(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    await officers(rt)
    op = await api.token("operator")
    west = await api.token("squad", "sq-west")
    east = await api.token("squad", "sq-east")
    _, detection = await api.report(
        await api.token("device"),
        source="camera",
        confidence=0.97,
        media=["https://cam.example/snap/1.jpg"],
        description="摄像头识别：占道经营",
    )
    await api.call("POST", f"/api/v1/incidents/{detection['id']}/media", op, data=PNG, expect=201)
    camera = {"kind": "camera", "ref": detection["id"]}
    # the law: two officers, each with a 执法证号 (《行政处罚法》 第42条)
    status, one = await api.call("POST", CASES, op, body=body(camera, officers=["p-li"]))
    assert (status, one["error"]["field"]) == (422, "officers")
    status, unbadged = await api.call(
        "POST", CASES, op, body=body(camera, officers=["p-li", "p-zhao"])
    )
    assert (status, unbadged["error"]["field"]) == (422, "officers.1")
    bad_code = {"kind": "company", "name": "x", "credit_code": CREDIT_CODE[:-1] + "4"}
    status, wrong = await api.call("POST", CASES, op, body=body(camera, party=bad_code))
    assert (status, wrong["error"]["field"]) == (422, "party.credit_code")
    await api.call("POST", CASES, east, body=body(camera), expect=403)

    _, case = await api.call("POST", CASES, west, body=body(camera), expect=201)
    cid = case["id"]
    assert cid.startswith("AJ")
    year = at(case["opened_at"]).year
    assert case["number"] == f"城管罚〔{year}〕1号"
    assert (case["state"], case["colour"], case["source"]["label"]) == (
        "pending",
        "green",
        "非现场执法",
    )
    assert case["next_steps"] == ["file"]
    # the camera's photo is the case's first document, with its hash
    whole = (await api.call("GET", f"{CASES}/{cid}", op, expect=200))[1]
    (evidence,) = whole["documents"]
    assert evidence["bytes"] == len(PNG)
    opened = whole["steps"][0]
    assert opened["type"] == "case.opened"
    assert opened["detail"]["documents"][0]["sha256"] == evidence["sha256"]
    assert opened["detail"]["evidence_urls"] == ["https://cam.example/snap/1.jpg"]

    # out of order: 409
    status, early = await api.call("POST", f"{CASES}/{cid}/steps", west, body={"step": "decide"})
    assert status == 409
    assert early["error"]["code"] == "invalid_transition"

    photo = await upload(api, cid, west, PNG, "现场.png")
    video = await upload(api, cid, west, MP4, "执法记录仪.mp4")
    assert video["type"] == "video/mp4"
    await api.call("POST", f"{CASES}/{cid}/documents", west, data=b"plain text", expect=415)
    step = f"{CASES}/{cid}/steps"
    await api.call("POST", step, west, body={"step": "file", "documents": [photo["id"]]})
    # a document is named by one step only
    status, again = await api.call(
        "POST", step, west, body={"step": "investigate", "documents": [photo["id"]]}
    )
    assert (status, again["error"]["field"]) == (422, "documents.0")
    await api.call(
        "POST", step, west, body={"step": "investigate", "documents": [video["id"]]}, expect=200
    )
    _, notified = await api.call("POST", step, west, body={"step": "notify"}, expect=200)
    assert notified["statement_until"] is not None
    # the party's 陈述申辩 period runs: a decision now needs its waiver
    await api.call("POST", step, west, body={"step": "decide", "fine_yuan": 500}, expect=409)
    notice = await upload(api, cid, west, PDF, "处罚决定书.pdf")
    _, decided = await api.call(
        "POST",
        step,
        west,
        body={"step": "decide", "fine_yuan": 500, "waived": True, "documents": [notice["id"]]},
        expect=200,
    )
    assert decided["clocks"]["decision"]["stopped_at"] is not None
    for name in ("serve", "execute", "close"):
        _, after = await api.call("POST", step, west, body={"step": name}, expect=200)
    assert (after["state"], after["state_label"]) == ("closed", "已结案")
    assert after["next_steps"] == []
    whole = (await api.call("GET", f"{CASES}/{cid}", op, expect=200))[1]
    assert [s["type"] for s in whole["steps"]] == [
        "case.opened",
        "case.filed",
        "case.investigated",
        "case.notified",
        "case.decided",
        "case.served",
        "case.executed",
        "case.closed",
    ]
    assert whole["party"]["credit_code"] == CREDIT_CODE
    async with api.session.get(api.base + video["url"], headers=api.headers(op)) as resp:
        assert resp.status == 200
        assert await resp.read() == MP4
        assert resp.headers["X-Content-SHA256"] == video["sha256"]
    async with api.session.get(api.base + video["url"], headers=api.headers(east)) as resp:
        assert resp.status == 403

    # the chain holds, and every document still matches its hash
    intact = await asyncio.to_thread(verify, served)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "4 documents of cases match their hashes" in intact.stdout
    # a tampered recording is named
    stored = served.media / cid / "documents" / f"{video['id']}.mp4"
    stored.write_bytes(MP4[:-1] + b"\x01")
    tampered = await asyncio.to_thread(verify, served)
    assert tampered.returncode == 1
    assert f"case {cid}: document {video['id']}" in tampered.stdout
    assert "altered" in tampered.stdout


async def test_a_person_party_is_masked_and_a_summary_fine_is_capped(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    await officers(rt)
    op = await api.token("operator")
    _, incident = await api.report(await api.token("device"))
    person = {
        "kind": "person",
        "name": "张三",
        "id_type": "resident_id",
        "id_number": "11010519491231002X",
    }
    source = {"kind": "incident", "ref": incident["id"]}
    wrong_id = {**person, "id_number": "110105194912310021"}
    status, bad = await api.call("POST", CASES, op, body=body(source, party=wrong_id))
    assert (status, bad["error"]["field"]) == (422, "party.id_number")
    _, case = await api.call(
        "POST", CASES, op, body=body(source, party=person, procedure="summary"), expect=201
    )
    assert case["party"]["id_number"] == "110***********002X"
    history = await rt.pool.fetchval(
        "SELECT event::text FROM history WHERE incident_id = $1", case["id"]
    )
    assert "11010519491231002X" not in history
    step = f"{CASES}/{case['id']}/steps"
    await api.call("POST", step, op, body={"step": "file"}, expect=200)
    # 简易程序: no 调查取证 step
    await api.call("POST", step, op, body={"step": "investigate"}, expect=409)
    await api.call("POST", step, op, body={"step": "notify"}, expect=200)
    status, capped = await api.call(
        "POST", step, op, body={"step": "decide", "fine_yuan": 300, "waived": True}
    )
    assert (status, capped["error"]["field"]) == (422, "fine_yuan")
    await api.call(
        "POST", step, op, body={"step": "decide", "fine_yuan": 100, "waived": True}, expect=200
    )


def loop_at(rt: Runtime, now: datetime) -> WarningLoop:
    return WarningLoop(rt.pool, rt.changes, lambda: rt.settings.zone, clock=lambda: now)


async def test_a_case_over_its_filing_limit_turns_yellow_then_red(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    await officers(rt)
    op = await api.token("operator")
    source = {"kind": "inspection", "ref": "task-77"}
    status, unnamed = await api.call("POST", CASES, op, body=body(source))
    assert (status, unnamed["error"]["field"]) == (422, "squad_id")
    found = datetime.now(rt.settings.zone) - timedelta(days=1)
    _, case = await api.call(
        "POST",
        CASES,
        op,
        body=body(source, squad_id="sq-west", discovered_at=found.isoformat()),
        expect=201,
    )
    clock = case["clocks"]["filing"]
    yellow_at, deadline = at(clock["yellow_at"]), at(clock["deadline"])
    # 15 natural days from the discovery, yellow at warn_at (0.8) of them
    assert abs(deadline - found - timedelta(days=15)) < timedelta(milliseconds=1)
    assert abs(yellow_at - found - timedelta(days=12)) < timedelta(milliseconds=1)
    assert await loop_at(rt, yellow_at - timedelta(seconds=1)).run_once() == 0
    assert await loop_at(rt, yellow_at + timedelta(seconds=1)).run_once() == 1
    assert await loop_at(rt, yellow_at + timedelta(seconds=2)).run_once() == 0
    _, yellow = await api.call("GET", f"{CASES}/{case['id']}", op, expect=200)
    assert (yellow["colour"], yellow["colour_label"]) == ("yellow", "黄色预警")
    assert await loop_at(rt, deadline + timedelta(seconds=1)).run_once() == 1
    _, red = await api.call("GET", f"{CASES}/{case['id']}", op, expect=200)
    assert red["colour"] == "red"
    assert red["due_at"] is None
    assert [s["detail"].get("clock_label") for s in red["steps"][1:]] == ["立案超期", "立案超期"]
    _, listed = await api.call("GET", f"{CASES}?colour=red&tier=sq-west", op, expect=200)
    assert [c["id"] for c in listed["cases"]] == [case["id"]]
    assert listed["counts"] == {"red": 1, "yellow": 0}
    _, figures = await api.call("GET", "/api/v1/stats/cases", op, expect=200)
    assert figures["total"]["overdue_open"] == 1
    async with rt.pool.acquire() as conn, conn.transaction(readonly=True):
        _, finding = await audit.verify(conn.cursor(audit.SELECT_CHAIN))
    assert finding is None


async def test_a_failed_review_asks_the_officers_for_a_correction(served: Served) -> None:
    api, rt = served.api, served.rt
    await api.load_town()
    await officers(rt)
    op = await api.token("operator")
    west = await api.token("squad", "sq-west")
    late = datetime.now(rt.settings.zone) - timedelta(days=20)
    _, case = await api.call(
        "POST",
        CASES,
        op,
        body=body(
            {"kind": "inspection", "ref": "task-1"},
            squad_id="sq-west",
            procedure="summary",
            discovered_at=late.isoformat(),
        ),
        expect=201,
    )
    assert case["colour"] == "red"  # already over its 立案 limit
    step = f"{CASES}/{case['id']}/steps"
    for name in ("file", "notify", "decide", "serve", "execute", "close"):
        extra = {"waived": True} if name == "decide" else {}
        await api.call("POST", step, west, body={"step": name, **extra}, expect=200)
    now = datetime.now(rt.settings.zone)
    _, sample = await api.call(
        "POST",
        "/api/v1/samples",
        op,
        body={
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
            "strata": [{"name": "case_filed", "rate": 1.0, "outcomes": ["case_filed"]}],
        },
        expect=201,
    )
    assert [i["incident_id"] for i in sample["items"]] == [case["id"]]
    check = f"/api/v1/samples/{sample['id']}/items/{case['id']}/check"
    _, checked = await api.call(
        "POST", check, op, body={"result": "rework_ordered", "note": "缺少询问笔录"}, expect=200
    )
    assert checked["item"]["result"] == "rework_ordered"
    assert (checked["case"]["state"], checked["case"]["next_steps"]) == ("correcting", ["correct"])
    await api.call("POST", check, op, body={"result": "satisfied"}, expect=409)
    record = await upload(api, case["id"], west, PDF, "询问笔录.pdf")
    _, corrected = await api.call(
        "POST",
        step,
        west,
        body={"step": "correct", "note": "补充询问笔录", "documents": [record["id"]]},
        expect=200,
    )
    assert (corrected["state"], corrected["corrections"]) == ("closed", 1)
    _, whole = await api.call("GET", f"{CASES}/{case['id']}", op, expect=200)
    assert [s["type"] for s in whole["steps"][-2:]] == ["case.correction_asked", "case.corrected"]
    assert whole["steps"][-2]["detail"]["officers"] == ["p-li", "p-wang"]
    # the figures: filed late, closed on time (a 简易 case has no 结案 limit)
    _, figures = await api.call("GET", "/api/v1/stats/cases?squad_id=centre", op, expect=200)
    total = figures["total"]
    assert (total["filed"], total["filed_on_time"], total["filing_rate"]) == (1, 0, 0.0)
    assert (total["closed"], total["closing_rate"]) == (1, 1.0)
    assert figures["by_procedure"]["summary"]["opened"] == 1
    rows = {r["squad_id"]: r for r in figures["by_squad"]}
    assert rows["centre"]["closed"] == rows["sq-west"]["closed"] == 1  # rolled up
    east = await api.token("squad", "sq-east")
    await api.call("GET", "/api/v1/stats/cases?squad_id=sq-west", east, expect=403)
