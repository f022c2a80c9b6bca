"""Devices (cameras, drones, sensors): ``/api/v1/devices`` (docs/API.md §17).

Write one device (``PUT``, admin), import a bureau's sheet (CSV or Excel, Chinese headers; good
rows go in, each bad row is reported by its number), list them with when each was last heard
from, its status, and the addresses that posted alerts without being registered (未登记设备).
The pictures cameras send with their alerts are read back here. The offline watch runs in
every process (:class:`dispatcher.store.devices.OfflineWatch`).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from dispatcher.core import devices as core
from dispatcher.core.auth import Role, require_role
from dispatcher.core.errors import Conflict, NotFound, ValidationFailed
from dispatcher.core.orders_sheet import media_type_of
from dispatcher.core.times import format_time
from dispatcher.core.validation import validation_error
from dispatcher.store import devices as store
from dispatcher.web import context as http
from dispatcher.web.api_media import MEDIA, UnsupportedMedia
from geo.coords import parse_crs, to_wgs84
from geo.errors import InvalidCoordinates

PREFIX: Final = "/api/v1/devices"
READERS: Final = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR})
PICTURE_READERS: Final = READERS | {Role.SQUAD}
#: the folder under the media store that keeps the cameras' pictures, one folder a device
PICTURES: Final = "_devices"
_DEVICE_ID: Final = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_PICTURE: Final = re.compile(r"[0-9a-f]{32}\.jpg")
OFFLINE_WATCH: Final = web.AppKey("device_offline_watch", store.OfflineWatch)


def picture_folder(root: Path, device_id: str) -> Path:
    """Where a device's pictures are kept (the id is checked: nothing else becomes a path)."""
    if not _DEVICE_ID.fullmatch(device_id) or device_id.strip(".") == "":
        raise NotFound(f"no device {device_id!r}")
    return root / PICTURES / device_id


def locate(
    rt: http.Runtime, cmd: core.DeviceIn, now: datetime, before: core.Device | None
) -> core.Device:
    """The device at its WGS84 point, with the zones and squad matched there."""
    core.check_categories(cmd, rt.ref.categories)
    try:
        lon, lat = to_wgs84(cmd.lon, cmd.lat, parse_crs(cmd.crs))
    except InvalidCoordinates as exc:
        raise ValidationFailed(str(exc), field=exc.field) from None
    match = rt.ref.zones.match(lon, lat)
    return core.device_of(cmd, lon, lat, match.zone_ids, match.squad_id, now, before)


async def _write(rt: http.Runtime, cmd: core.DeviceIn, now: datetime) -> tuple[core.Device, bool]:
    if cmd.mac is not None and (other := await store.mac_taken(rt.pool, cmd.mac, cmd.id)):
        raise Conflict(f"mac: {cmd.mac} is the MAC address of device {other}")
    before = await store.get(rt.pool, cmd.id)
    device = locate(rt, cmd, now, before)
    created = await store.upsert(rt.pool, device)
    return device, created


async def put_device(request: web.Request) -> web.Response:
    """Create or replace one device (its id is the bureau's code); 201 when new, 200 after."""
    require_role(http.principal(request), {Role.ADMIN}, "write devices")
    rt = http.runtime(request)
    try:
        cmd = core.DeviceIn.model_validate_json(
            _with_id(await request.read(), request.match_info["id"])
        )
    except ValidationError as exc:
        raise validation_error(exc) from None
    device, created = await _write(rt, cmd, datetime.now(UTC))
    return http.json_response(device.to_doc(rt.settings.zone), status=201 if created else 200)


def _with_id(body: bytes, device_id: str) -> bytes:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return body  # pydantic names the fault
    if isinstance(data, dict):
        data.setdefault("id", device_id)
        if data["id"] != device_id:
            raise ValidationFailed("id: differs from the id in the path", field="id")
    return json.dumps(data).encode()


async def import_sheet(request: web.Request) -> web.Response:
    """Import a 设备台账 (CSV or .xlsx): every good row written, every bad row reported."""
    require_role(http.principal(request), {Role.ADMIN}, "import devices")
    rt = http.runtime(request)
    media_type = media_type_of(request.content_type)
    if media_type is None:
        raise UnsupportedMedia("send the sheet as text/csv or an .xlsx workbook")
    # a body like any other: at most ``max_body_bytes`` (1 MiB, some 10,000 rows), else 413
    rows = core.parse_sheet(await request.read(), media_type)
    now = datetime.now(UTC)
    errors: list[dict[str, Any]] = []
    imported = created = 0
    for row in rows:
        if row.device is None:
            assert row.error is not None
            errors.append(
                {"row": row.number, "field": row.error.field, "message": row.error.message}
            )
            continue
        try:
            _, new = await _write(rt, row.device, now)
        except (ValidationFailed, Conflict) as exc:
            errors.append({"row": row.number, "field": exc.field, "message": exc.message})
            continue
        imported += 1
        created += new
    return http.json_response(
        {
            "rows": len(rows),
            "imported": imported,
            "created": created,
            "updated": imported - created,
            "rejected": len(errors),
            "errors": errors,
        }
    )


async def list_devices(request: web.Request) -> web.Response:
    """Every device with its status and when it was last heard from; ``status`` filters.
    ``unregistered`` are the addresses that posted alerts without being a device here."""
    require_role(http.principal(request), READERS, "read devices")
    rt = http.runtime(request)
    wanted = request.query.get("status") or None
    if wanted is not None and wanted not in {s.value for s in core.Status}:
        raise ValidationFailed(f"status: unknown status {wanted!r}", field="status")
    tz = rt.settings.zone
    found = [d for d in await store.every(rt.pool) if wanted in (None, d.status.value)]
    unregistered = [
        {
            **row,
            "first_seen_at": format_time(row["first_seen_at"], tz),
            "last_seen_at": format_time(row["last_seen_at"], tz),
            "note": "unregistered device seen (未登记设备上报告警)",
        }
        for row in await store.sightings(rt.pool)
    ]
    return http.json_response(
        {"devices": [d.to_doc(tz) for d in found], "unregistered": unregistered}
    )


async def get_device(request: web.Request) -> web.Response:
    """One device."""
    require_role(http.principal(request), READERS, "read devices")
    rt = http.runtime(request)
    device_id = request.match_info["id"]
    device = await store.get(rt.pool, device_id) if _DEVICE_ID.fullmatch(device_id) else None
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    return http.json_response(device.to_doc(rt.settings.zone))


async def get_picture(request: web.Request) -> web.StreamResponse:
    """A picture a camera sent with an alert (an incident's first photo)."""
    require_role(http.principal(request), PICTURE_READERS, "read cameras' pictures")
    root = request.app[MEDIA].root
    name = request.match_info["name"]
    if not _PICTURE.fullmatch(name):
        raise NotFound("no such picture")
    path = picture_folder(root, request.match_info["id"]) / name
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("no such picture")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/jpeg",
            "Cache-Control": "private, max-age=86400, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_routes(app: web.Application) -> None:
    """The routes, and the offline watch (started after the runtime, ``app.runtime_ctx``)."""
    app.cleanup_ctx.append(
        http.background(
            OFFLINE_WATCH,
            lambda rt: store.OfflineWatch(rt.pool, on_offline=rt.metrics.devices_offline.inc),
        )
    )
    router = app.router
    router.add_post(PREFIX + ":import", import_sheet)
    router.add_get(PREFIX, list_devices)
    router.add_put(PREFIX + "/{id}", put_device)
    router.add_get(PREFIX + "/{id}", get_device)
    router.add_get(PREFIX + "/{id}/pictures/{name}", get_picture)
