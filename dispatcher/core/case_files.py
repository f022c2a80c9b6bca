"""The files of an enforcement case (卷宗): photos, PDFs, the law-enforcement recorder's audio
and video (执法记录仪), each kept with the SHA-256 of its bytes.

Pure. :func:`sniff` names a file's type by its first bytes (never by what the client says).
A step of the case names its files with their hashes in the hash-chained history;
:func:`claims` reads those back from the history's rows and :func:`findings` compares them with
the hashes of the files as they are now, so that ``dispatch audit verify`` proves the bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

#: the file types a case keeps: (MIME type, extension)
TYPES: Final = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
}


def sniff(head: bytes) -> str | None:
    """The extension of a kept file type from its first 16 bytes, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}.get(head[8:12])
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        return "m4a" if brand.startswith(b"M4A") else "mp4"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


@dataclass(frozen=True)
class Document:
    """A file of the case, with the SHA-256 of its bytes."""

    id: str
    file: str  # the stored file's name (id and extension)
    type: str  # MIME type, by the file's own bytes
    bytes: int
    sha256: str
    name: str = ""  # what the uploader called it
    source_url: str | None = None  # for evidence taken over from an incident

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "file": self.file,
            "type": self.type,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "name": self.name,
        }
        if self.source_url:
            doc["source_url"] = self.source_url
        return doc


@dataclass(frozen=True)
class Claim:
    """A file a step of a case names, with the hash the history keeps of it."""

    case_id: str
    seq: int
    document_id: str
    file: str
    sha256: str


def claims(rows: Iterable[Mapping[str, Any]]) -> list[Claim]:
    """The files named by history rows (``incident_id``, ``seq``, ``detail`` as a mapping)."""
    found: list[Claim] = []
    for row in rows:
        for doc in row["detail"].get("documents") or ():
            found.append(
                Claim(row["incident_id"], int(row["seq"]), doc["id"], doc["file"], doc["sha256"])
            )
    return found


@dataclass(frozen=True)
class Mismatch:
    claim: Claim
    problem: str  # missing | altered

    @property
    def message(self) -> str:
        c = self.claim
        if self.problem == "missing":
            return f"case {c.case_id}: document {c.document_id} (entry {c.seq}) is missing"
        return (
            f"case {c.case_id}: document {c.document_id} (entry {c.seq}) does not match the"
            f" SHA-256 {c.sha256} the history keeps"
        )


def findings(found: Iterable[Claim], actual: Mapping[Claim, str | None]) -> list[Mismatch]:
    """Each claim whose file is missing (``None``) or hashes otherwise now."""
    wrong: list[Mismatch] = []
    for claim in found:
        now = actual.get(claim)
        if now is None:
            wrong.append(Mismatch(claim, "missing"))
        elif now != claim.sha256:
            wrong.append(Mismatch(claim, "altered"))
    return wrong


def relative_path(case_id: str, file: str) -> str:
    """Where a case's file lives under the media folder (the web stores it there)."""
    return f"{case_id}/documents/{file}"
