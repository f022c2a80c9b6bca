"""The photo upload the squad's phone page uses (dispatcher/api_media.py), without a browser:
types by magic bytes, the size limit, and who may add and see an incident's photos."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest

from tests.browser.conftest import Site
from tests.integration.support import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="session")

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 200


async def dispatched(site: Site) -> tuple[str, str]:
    """A hotline incident (dispatched at once) and the squad it went to."""
    street = site.city.streets[0]
    lon, lat, _ = site.city.random_point(random.Random(1), street)
    created = await site.post(source="hotline", category="200504", lon=lon, lat=lat)
    assert created["squad_id"] == street.squad_id
    return created["id"], street.squad_id


async def upload(site: Site, incident_id: str, body: bytes, token: str) -> tuple[int, Any]:
    async with site.api.session.post(
        f"{site.base}/api/v1/incidents/{incident_id}/media",
        data=io.BytesIO(body),
        headers={**site.api.headers(token), "Content-Type": "image/jpeg"},
    ) as resp:
        return resp.status, await resp.json()


async def test_photos_are_kept_with_the_incident_and_shown_to_who_may_read_it(
    site: Site,
) -> None:
    incident_id, squad_id = await dispatched(site)
    squad = await site.api.token("squad", squad_id)
    other = next(s.squad_id for s in site.city.streets if s.squad_id != squad_id)
    stranger = await site.api.token("squad", other)
    for body, mime in ((JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp")):
        status, answer = await upload(site, incident_id, body, squad)
        assert status == 201, answer
        assert answer["type"] == mime
        assert answer["bytes"] == len(body)
        for token, expected in ((squad, 200), (ADMIN, 200), (stranger, 403)):
            async with site.api.session.get(
                site.base + answer["url"], headers=site.api.headers(token)
            ) as resp:
                assert resp.status == expected
                if expected == 200:
                    assert resp.content_type == mime
                    assert await resp.read() == body
    status, _ = await upload(site, incident_id, JPEG, stranger)
    assert status == 403
    status, _ = await upload(site, incident_id, JPEG, site.tokens["device"])
    assert status == 403
    status, _ = await upload(site, "2099010100000001", JPEG, ADMIN)
    assert status == 404
    async with site.api.session.get(
        f"{site.base}/api/v1/incidents/{incident_id}/media/..%2F..%2Fetc.jpg",
        headers=site.api.headers(ADMIN),
    ) as resp:
        assert resp.status == 404


async def test_only_images_of_a_bounded_size_are_taken(site: Site) -> None:
    incident_id, _ = await dispatched(site)
    status, answer = await upload(site, incident_id, b"<svg xmlns='...'/>" * 10, ADMIN)
    assert status == 415
    assert answer["error"]["code"] == "unsupported_media_type"
    status, answer = await upload(site, incident_id, JPEG + b"\x00" * (10 * 1024 * 1024), ADMIN)
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
