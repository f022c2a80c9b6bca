"""The files of an enforcement case (卷宗): upload, read back, and evidence taken over.

``POST /api/v1/cases/{id}/documents`` takes one file as the raw body (a photo, a PDF, the
law-enforcement recorder's audio or video, recognised by its first bytes), streams it to disk
while hashing it (SHA-256), and answers 201 ``{"id", "url", "type", "bytes", "sha256"}``; a step
then names the ``id`` in its ``documents`` and its history entry keeps the hash. Bodies larger
than ``Settings.case_document_max_bytes`` answer 413 and leave nothing behind; nothing held
whole in memory. ``GET`` on the ``url`` answers the file (ranges too, for video) to whoever may
read the case.

Files live in the media folder (``dispatcher.web.api_media.MediaStore``), under the case's id:
``{media_dir}/{case id}/documents/{document id}.{ext}``
(:func:`dispatcher.core.case_files.relative_path`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Final

from aiohttp import web

from dispatcher.core import case_files
from dispatcher.core.case_files import Document
from dispatcher.core.errors import NotFound, PayloadTooLarge
from dispatcher.core.incidents import Incident
from dispatcher.web.api_media import MEDIA, MediaStore, UnsupportedMedia

_CHUNK: Final = 256 * 1024
_NAME: Final = re.compile(r"[0-9a-f]{32}")
_PHOTO: Final = re.compile(r"[0-9a-f]{32}\.(jpg|png|webp)")


def folder(media: MediaStore, case_id: str) -> Path:
    return media.folder(case_id) / "documents"


def _open(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")


def _finish(partial: Path, final: Path) -> None:
    partial.replace(final)


def _discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)


async def receive(request: web.Request, case_id: str, limit: int, name: str) -> Document:
    """Stream the request's body into the case's folder, hashing it; the stored document."""
    media: MediaStore = request.app[MEDIA]
    too_large = PayloadTooLarge(f"a file of a case is at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    doc_id = secrets.token_hex(16)
    partial = folder(media, case_id) / f"{doc_id}.part"
    digest = hashlib.sha256()
    size = 0
    head = b""
    out = await asyncio.to_thread(_open, partial)
    try:
        try:
            while chunk := await request.content.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large
                if len(head) < 16:
                    head = (head + chunk)[:16]
                digest.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
        ext = case_files.sniff(head)
        if ext is None:
            raise UnsupportedMedia(
                "a file of a case is a photo (JPEG, PNG, WebP), a PDF, or the recorder's audio"
                " or video (MP4, MOV, AVI, MP3, WAV, M4A)"
            )
        file = f"{doc_id}.{ext}"
        await asyncio.to_thread(_finish, partial, folder(media, case_id) / file)
    except BaseException:
        await asyncio.to_thread(_discard, partial)
        raise
    return Document(doc_id, file, case_files.TYPES[ext], size, digest.hexdigest(), name)


def _copy(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to ``target`` while hashing it: (bytes, sha256)."""
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    with source.open("rb") as src, partial.open("wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    partial.replace(target)
    return size, digest.hexdigest()


def _photos(media: MediaStore, incident: Incident) -> list[Path]:
    """The photos kept for an incident (uploaded to ``/api/v1/incidents/{id}/media``)."""
    try:
        found = media.folder(incident.id).iterdir()
        return sorted(p for p in found if _PHOTO.fullmatch(p.name) and p.is_file())
    except FileNotFoundError:
        return []


async def take_evidence(
    media: MediaStore, case_id: str, incident: Incident
) -> tuple[list[Document], list[str]]:
    """A camera detection's evidence as the case's first documents: the photos this server
    keeps for the incident, copied and hashed; and the incident's media URLs that are not
    files of this server (the camera platform's), kept as references without a hash."""
    prefix = f"/api/v1/incidents/{incident.id}/media/"
    elsewhere = [url for url in incident.media if not url.startswith(prefix)]
    taken: list[Document] = []
    for source in await asyncio.to_thread(_photos, media, incident):
        ext = source.suffix.removeprefix(".")
        doc_id = secrets.token_hex(16)
        file = f"{doc_id}.{ext}"
        size, sha = await asyncio.to_thread(_copy, source, folder(media, case_id) / file)
        url = prefix + source.name
        taken.append(Document(doc_id, file, case_files.TYPES[ext], size, sha, source.name, url))
    return taken, elsewhere


def respond(media: MediaStore, case_id: str, doc: Document) -> web.FileResponse:
    path = folder(media, case_id) / doc.file
    if not path.is_file():
        raise NotFound("no such document")
    headers = {
        "Content-Type": doc.type,
        "Cache-Control": "private, max-age=86400, immutable",
        "X-Content-Type-Options": "nosniff",
        "X-Content-SHA256": doc.sha256,
    }
    if not doc.type.startswith("image/"):
        headers["Content-Disposition"] = f'attachment; filename="{doc.file}"'
    return web.FileResponse(path, headers=headers)


def document_id(raw: str) -> str:
    if not _NAME.fullmatch(raw):
        raise NotFound("no such document")
    return raw


def urls(case_id: str, docs: Sequence[Document]) -> list[str]:
    return [f"/api/v1/cases/{case_id}/documents/{d.id}" for d in docs]
