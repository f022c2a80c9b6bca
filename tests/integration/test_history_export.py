"""The history exported as CSV names who acted: a person by name, a token by its name, the
system as 系统; each row carries its entry's seq and hash, as the chain holds them."""

from __future__ import annotations

import csv
import io

import aiohttp
import asyncpg

from tests.integration.support import Api

PASSWORD = "Xq7-export-2026"


async def test_the_export_names_every_actor_and_carries_the_hashes(
    api: Api, database_url: str
) -> None:
    await api.load_town()
    _, person = await api.call(
        "POST",
        "/api/v1/people",
        body={"login": "zhao.lei", "name": "赵磊", "role": "operator", "password": PASSWORD},
        expect=201,
    )
    # the person signs in (a cookie jar that keeps a cookie of 127.0.0.1, as a browser does)
    # and reports; a device token reports too
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as page:
        async with page.post(
            api.base + "/api/v1/session", json={"login": "zhao.lei", "password": PASSWORD}
        ) as resp:
            assert resp.status == 200
            csrf = (await resp.json())["csrf_token"]
        report = {"source": "citizen", "category": "200504", "lon": 121.405, "lat": 31.205}
        async with page.post(
            api.base + "/api/v1/incidents", json=report, headers={"X-CSRF-Token": csrf}
        ) as resp:
            assert resp.status == 201, await resp.text()
            made = await resp.json()
    _, device = await api.call(
        "POST", "/api/v1/tokens", body={"role": "device", "name": "路口摄像头 cam-7"}, expect=201
    )
    await api.report(device["token"], external_id="cam-7-1", source="camera", lon=121.55, lat=31.3)
    auditor = await api.token("auditor")

    async with api.session.get(
        api.base + "/api/v1/history/export", headers=api.headers(auditor)
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    names = {r["操作人 actor"]: r["操作人姓名 actor_name"] for r in rows}
    assert names[person["id"]] == "赵磊"
    assert names[device["id"]] == "路口摄像头 cam-7"
    assert any(r["对象 subject"] == made["id"] for r in rows)

    conn = await asyncpg.connect(database_url)
    try:
        chain = {
            str(r["seq"]): r["hash"].hex()
            for r in await conn.fetch("SELECT seq, hash FROM history")
        }
    finally:
        await conn.close()
    assert {r["序号 seq"]: r["哈希 hash"] for r in rows} == chain

    # a squad may not export; a period the wrong way round is refused, naming the field
    squad = await api.token("squad", "sq-west")
    await api.call("GET", "/api/v1/history/export", squad, expect=403)
    status, wrong = await api.call(
        "GET", "/api/v1/history/export?from=2026-12-02&to=2026-12-01", auditor
    )
    assert (status, wrong["error"]["field"]) == (422, "to")
