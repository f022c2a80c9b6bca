"""Photos of an incident in the provable history: each upload is an entry with the photo's SHA-256.

``POST /api/v1/incidents/{id}/media`` hashes the photo's bytes as it stores them and appends
an ``incident.updated`` entry with the action ``attach_media`` whose detail names the photo
(:func:`attached`). ``dispatch audit verify`` reads those entries back (:func:`claims`) and
hashes the files again (:func:`findings`): a photo replaced or removed afterwards is reported,
as the documents of enforcement cases are (:mod:`dispatcher.core.case_files`).

Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from dispatcher.core.auth import Principal
from dispatcher.core.events import Event, EventType
from dispatcher.core.incidents import Incident

#: the history action of a photo's upload
ATTACH_MEDIA: Final = "attach_media"


@dataclass(frozen=True)
class Photo:
    """A stored photo of an incident, with the SHA-256 of its bytes."""

    id: str  # the stored file's name: a random id and the extension
    url: str
    type: str  # MIME type, by the file's own bytes
    bytes: int
    sha256: str

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "type": self.type,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def attached(incident: Incident, photo: Photo, who: Principal, now: datetime) -> Event:
    """The history entry of ``photo``'s upload to ``incident`` (which it leaves as it is)."""
    return Event(
        type=EventType.INCIDENT_UPDATED,
        incident=incident,
        at=now,
        actor=who.actor,
        actor_role=who.role.value,
        action=ATTACH_MEDIA,
        state_before=incident.state,
        detail={"photo": photo.to_doc()},
    )


@dataclass(frozen=True)
class Claim:
    """A photo an entry names, with the hash the history keeps of it."""

    incident_id: str
    seq: int
    file: str
    sha256: str


def claims(rows: Iterable[Mapping[str, Any]]) -> list[Claim]:
    """The photos named by ``attach_media`` rows (``incident_id``, ``seq``, ``detail``)."""
    found: list[Claim] = []
    for row in rows:
        photo = row["detail"].get("photo")
        if isinstance(photo, Mapping):
            found.append(
                Claim(row["incident_id"], int(row["seq"]), str(photo["id"]), str(photo["sha256"]))
            )
    return found


def relative_path(incident_id: str, file: str) -> str:
    """Where an incident's photo lives under the media folder (``api_media`` stores it there)."""
    return f"{incident_id}/{file}"


@dataclass(frozen=True)
class Mismatch:
    claim: Claim
    problem: str  # missing | altered

    @property
    def message(self) -> str:
        c = self.claim
        if self.problem == "missing":
            return f"incident {c.incident_id}: photo {c.file} (entry {c.seq}) is missing"
        return (
            f"incident {c.incident_id}: photo {c.file} (entry {c.seq}) does not match the"
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
