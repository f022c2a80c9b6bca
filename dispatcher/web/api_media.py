"""Photos of an incident (before/after, verification): upload and read back.

``POST /api/v1/incidents/{id}/media`` takes one image as the raw body (JPEG, PNG or WebP,
recognised by its magic bytes, not by what the client claims) and answers 201 ``{"id", "url",
"type", "bytes", "sha256"}``; the caller then names ``url`` in an action's ``media`` (docs/API.md
§5: ``resolve``, ``verify``). The upload is an entry of the incident's hash-chained history
(``attach_media``, :mod:`dispatcher.core.photos`) that keeps the photo's SHA-256, so that
``dispatch audit verify`` proves the file's bytes. ``GET`` on that ``url`` answers the image to
every principal who may read the incident, and to no one else.

Files live under the folder ``Settings.media_dir`` (``DISPATCH_MEDIA_DIR``), one folder per
incident, named by a random id: nothing the client sends becomes part of a path. Bodies larger
than ``Settings.media_max_bytes`` (``DISPATCH_MEDIA_MAX_BYTES``) answer 413; the limit is
checked while reading, so an oversized body is never held whole in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from dispatcher.core.auth import ACT_ALL, Principal, Role, require_read_incident
from dispatcher.core.errors import DispatchError, Forbidden, NotFound, PayloadTooLarge
from dispatcher.core.incidents import Incident
from dispatcher.core.photos import Photo, attached
from dispatcher.settings import Settings
from dispatcher.store import records as store
from dispatcher.web import context as http

#: magic bytes → (MIME type, file extension)
_JPEG: Final = (b"\xff\xd8\xff", "image/jpeg", "jpg")
_PNG: Final = (b"\x89PNG\r\n\x1a\n", "image/png", "png")
_TYPES_BY_EXT: Final = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_INCIDENT_ID: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NAME: Final = re.compile(r"([0-9a-f]{32})\.(jpg|png|webp)")
_CHUNK: Final = 64 * 1024


class UnsupportedMedia(DispatchError):
    """The body is not a JPEG, PNG or WebP image."""

    status = 415
    code = "unsupported_media_type"


def sniff(head: bytes) -> tuple[str, str] | None:
    """The (MIME type, extension) of an image from its first bytes, or None."""
    for magic, mime, ext in (_JPEG, _PNG):
        if head.startswith(magic):
            return mime, ext
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


@dataclass(frozen=True)
class MediaStore:
    """Where the photos are kept and how large one may be."""

    root: Path
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaStore:
        """The store of ``settings``; a relative folder is taken from the working folder now."""
        return cls(settings.media_dir.resolve(), settings.media_max_bytes)

    def folder(self, incident_id: str) -> Path:
        if not _INCIDENT_ID.fullmatch(incident_id) or incident_id.strip(".") == "":
            raise NotFound(f"no incident {incident_id}")
        return self.root / incident_id


MEDIA: Final = web.AppKey("media", MediaStore)


def may_add_media(who: Principal, incident: Incident) -> bool:
    """Operators and admins, and the squads the incident is dispatched to (or their tiers)."""
    if who.role in ACT_ALL:
        return True
    return who.role is Role.SQUAD and who.covers(incident.squad_ids)


async def _incident(request: web.Request) -> Incident:
    incident = await store.get_incident(http.runtime(request).pool, request.match_info["id"])
    if incident is None:
        raise NotFound(f"no incident {request.match_info['id']}")
    return incident


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a photo is at most {limit} bytes")
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"a photo is at most {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(path)


@dataclass(frozen=True)
class Received:
    """An image taken from a request's body and kept under a record's folder."""

    name: str
    mime: str
    size: int
    path: Path
    data: bytes

    def answer(self, url: str) -> web.Response:
        """The 201 answer that names the image's address."""
        body = {"id": self.name, "url": url, "type": self.mime, "bytes": self.size}
        return http.json_response(body, status=201, headers={"Location": url})


async def receive_image(request: web.Request, folder_id: str, what: str) -> Received:
    """Read the body (at most ``DISPATCH_MEDIA_MAX_BYTES``), check it is a JPEG, PNG or WebP
    image and keep it under ``folder_id`` with a random name; ``what`` names it in errors."""
    media: MediaStore = request.app[MEDIA]
    data = await _read_limited(request, media.max_bytes)
    kind = sniff(data[:16])
    if kind is None:
        raise UnsupportedMedia(f"{what} is a JPEG, PNG or WebP image")
    mime, ext = kind
    name = f"{secrets.token_hex(16)}.{ext}"
    path = media.folder(folder_id) / name
    await asyncio.to_thread(_write, path, data)
    return Received(name, mime, len(data), path, data)


def is_image_name(name: str) -> bool:
    """Whether ``name`` is one :func:`receive_image` could have given."""
    return _NAME.fullmatch(name) is not None


async def image_file(request: web.Request, folder_id: str, name: str) -> web.StreamResponse:
    """The image ``name`` kept under ``folder_id`` (the caller has checked who may see it)."""
    media: MediaStore = request.app[MEDIA]
    match = _NAME.fullmatch(name)
    if match is None:
        raise NotFound("no such image")
    path = media.folder(folder_id) / match.group(0)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("no such image")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _TYPES_BY_EXT[match.group(2)],
            "Cache-Control": "private, max-age=86400, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def post_media(request: web.Request) -> web.Response:
    who = http.principal(request)
    incident = await _incident(request)
    if not may_add_media(who, incident):
        raise Forbidden("this token may not add photos to that incident")
    got = await receive_image(request, incident.id, "a photo")
    path, name = got.path, got.name
    sha256 = await asyncio.to_thread(lambda: hashlib.sha256(got.data).hexdigest())
    url = f"/api/v1/incidents/{incident.id}/media/{name}"
    photo = Photo(name, url, got.mime, got.size, sha256)
    try:  # the upload in the history, with the hash: a photo outside it is not kept
        async with http.runtime(request).changes.begin([incident.id]) as work:
            current = work.incident(incident.id)
            if current is None:
                raise NotFound(f"no incident {incident.id}")
            work.record([attached(current, photo, who, work.now)])
    except BaseException:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.unlink)
        raise
    return http.json_response(photo.to_doc(), status=201, headers={"Location": url})


async def get_media(request: web.Request) -> web.StreamResponse:
    # who may see the incident first: the answer must not tell others what exists
    incident = await _incident(request)
    require_read_incident(http.principal(request), incident.squad_ids)
    return await image_file(request, incident.id, request.match_info["name"])


def add_routes(app: web.Application) -> None:
    """Routes and the media store, made from the application's settings."""
    app[MEDIA] = MediaStore.from_settings(app[http.SETTINGS])
    app.router.add_post("/api/v1/incidents/{id}/media", post_media)
    app.router.add_get("/api/v1/incidents/{id}/media/{name}", get_media)
