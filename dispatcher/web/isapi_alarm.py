"""The camera alarm host (报警主机): ``POST /isapi/alarm`` (docs/API.md §17).

Hikvision cameras set to "HTTP listening" post their ``EventNotificationAlert`` here by
themselves, as ``application/xml`` or as ``multipart/form-data`` with the XML part and JPEG
picture parts. They carry no token: the route answers only the networks of
``DISPATCH_CAMERA_NETWORKS`` (403 to any other, and to everyone while it is empty), and reads
every part bounded (the XML :data:`dispatcher.core.isapi.MAX_XML_BYTES`, each picture
``DISPATCH_MEDIA_MAX_BYTES``, at most :data:`MAX_PICTURES` of them).

Every well-formed alert is answered 200, whatever became of it (a camera retries what is not
200): heartbeats, inactive events, events no rule of the device turns into a category and
alerts from addresses no device has are counted (``dispatch_isapi_alerts``) and go no further.
A matching alert goes through intake like any report (``dispatcher.web.cases.intake``) at the
device's place, with the alert's identity as its ``external_id``, so the same alert posted
again answers the incident it made and makes nothing new.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import BodyPartReader, web

from dispatcher.core import isapi
from dispatcher.core.auth import Principal, Role
from dispatcher.core.devices import Device
from dispatcher.core.errors import BadRequest, Forbidden, PayloadTooLarge, ValidationFailed
from dispatcher.core.ids import TokenId
from dispatcher.core.incidents import Source
from dispatcher.core.intake import parse_report_object
from dispatcher.store import devices as store
from dispatcher.web import api_devices, cases
from dispatcher.web import context as http
from dispatcher.web.api_media import MEDIA, sniff

log = logging.getLogger(__name__)

PATH: Final = "/isapi/alarm"
#: pictures taken from one alert; more are read and dropped
MAX_PICTURES: Final = 4
#: parts of one multipart alert (XML, pictures, anything else) before it is refused
MAX_PARTS: Final = 16
_CHUNK: Final = 64 * 1024
KNOWN: Final = "SELECT id FROM incidents WHERE source = 'camera' AND external_id = $1"


def allowed(address: str, networks: tuple[Any, ...]) -> bool:
    """Whether ``address`` is in one of ``networks`` (an unreadable address never is)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def camera(device: Device) -> Principal:
    """Who the history says reported: the device itself (``device:`` and its id)."""
    return Principal(TokenId(f"device:{device.id}"), Role.DEVICE, device.name)


async def _bounded(part: BodyPartReader, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} is at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: web.Request, picture_limit: int) -> tuple[bytes, list[bytes]]:
    """The alert's XML and its JPEG pictures, each part read within its bound."""
    if request.content_type != "multipart/form-data":
        if (request.content_length or 0) > isapi.MAX_XML_BYTES:
            raise PayloadTooLarge(f"an alert's XML is at most {isapi.MAX_XML_BYTES} bytes")
        body = await request.content.read(isapi.MAX_XML_BYTES + 1)
        if len(body) > isapi.MAX_XML_BYTES:
            raise PayloadTooLarge(f"an alert's XML is at most {isapi.MAX_XML_BYTES} bytes")
        return body, []
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise BadRequest(f"the multipart body cannot be read: {exc}") from None
    xml: bytes | None = None
    pictures: list[bytes] = []
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadRequest("a nested multipart part is not an alert's")
        kind = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if xml is None and (kind.endswith("xml") or kind in ("", "text/plain")):
            data = await _bounded(part, isapi.MAX_XML_BYTES, "an alert's XML")
            if kind.endswith("xml") or data.lstrip().startswith(b"<"):
                xml = data
            continue
        data = await _bounded(part, picture_limit, "a picture")
        if len(pictures) < MAX_PICTURES and (sniff(data[:16]) or ("", ""))[0] == "image/jpeg":
            pictures.append(data)
    else:
        raise BadRequest(f"an alert has at most {MAX_PARTS} parts")
    if xml is None:
        raise BadRequest("the multipart alert has no XML part")
    return xml, pictures


def _save(folder: Any, pictures: list[bytes]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for data in pictures:
        name = f"{secrets.token_hex(16)}.jpg"
        partial = folder / (name + ".part")
        partial.write_bytes(data)
        partial.replace(folder / name)
        names.append(name)
    return names


async def post_alarm(request: web.Request) -> web.Response:
    rt = http.runtime(request)
    counted = rt.metrics.isapi_alerts
    if not allowed(http.client_address(request), rt.settings.camera_networks or ()):
        counted.labels("refused").inc()
        raise Forbidden("alerts are taken only from the video network (DISPATCH_CAMERA_NETWORKS)")
    try:
        xml, pictures = await read_body(request, rt.settings.media_max_bytes)
        alert = isapi.parse_alert(xml)
    except (BadRequest, PayloadTooLarge):
        counted.labels("malformed").inc()
        raise
    now = datetime.now(UTC)
    kind = isapi.disposition(alert)
    device = await store.by_address(rt.pool, alert.mac, alert.ip)
    if device is None:
        await store.sighted(rt.pool, alert.mac, alert.ip, now, alert.event_type)
        return _answer(counted, "unregistered", address=alert.address)
    if store.hearing_is_news(device, now, alert.event_type):
        await store.heard(rt.pool, device.id, now, alert.event_type)
    if kind is not isapi.Disposition.ACTIVE:
        return _answer(counted, kind.value, device_id=device.id)
    rule = device.rule_for(alert.event_type, alert.channel, alert.targets)
    if rule is None:
        return _answer(counted, "no_rule", device_id=device.id)
    key = alert.key(device.id)
    names: list[str] = []
    if pictures:
        # intake knows a retransmission by its key too; asked first, no picture is kept twice
        known = await rt.pool.fetchval(KNOWN, key)
        if known is not None:
            return _answer(counted, "retransmitted", device_id=device.id, incident_id=known)
        folder = api_devices.picture_folder(request.app[MEDIA].root, device.id)
        names = await asyncio.to_thread(_save, folder, pictures)
    try:
        report = parse_report_object(
            {
                "source": Source.CAMERA.value,
                "external_id": key,
                "category": rule.category,
                "lon": device.lon,
                "lat": device.lat,
                "description": isapi.describe(alert, device.name),
                "occurred_at": alert.at,
                "media": [f"{api_devices.PREFIX}/{device.id}/pictures/{n}" for n in names],
                "confidence": rule.confidence,
                "device_id": device.id,
                "address": device.address or None,
            }
        )
        incident, created = await cases.intake(rt, report, camera(device))
    except ValidationFailed as exc:  # the catalogue lost the rule's category since
        log.warning("alert of device %s not taken: %s", device.id, exc.message)
        return _answer(counted, "rejected", device_id=device.id, reason=exc.message)
    result = "created" if created else "retransmitted"
    return _answer(counted, result, device_id=device.id, incident_id=incident.id)


def _answer(counter: Any, result: str, **detail: Any) -> web.Response:
    counter.labels(result).inc()
    return http.json_response({"result": result, **detail})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(PATH, post_alarm)
