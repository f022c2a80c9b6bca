"""OASIS CAP 1.2 alerts from cameras, drones and sensors: read safely, checked, turned into reports.

:func:`parse_alert` reads an ``<alert>`` with defusedxml, refusing any DTD, entity or external
reference (so no "billion laughs", no file or network reads) and any nesting deeper than CAP's
own, checks the root is CAP 1.2's, validates it against the OASIS schema
(``data/CAP-v1.2.xsd``, see its provenance note) with xmlschema, and answers an :class:`Alert`.
Unparseable XML is a 400 (``BadRequest``); a document that parses but is not a valid CAP 1.2
alert is a 422 (``ValidationFailed``) naming where (``field`` is the path in the alert).

:func:`drafts` turns an alert into the reports it makes: one per distinct (category, place)
over its ``info`` blocks (translations of one alert into several languages make one report,
its text taken from the Chinese block when there is one). The category is the ``eventCode``
whose ``valueName`` is ``category``; the place is the centre of each ``area/circle`` or the
centroid of each ``area/polygon`` (CAP writes ``lat,lon``; the centroid is taken on a local
plane in metres, not in degrees). Optional ``parameter``s: ``source`` (camera, drone, sensor),
``confidence`` (0..1; else from ``certainty``), ``device_id``, ``crs`` (GCJ02/BD09).

Pure: no I/O besides reading the schema once.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, Final

import defusedxml
import defusedxml.ElementTree as DET
import xmlschema

from dispatcher.core.categories import Category
from dispatcher.core.errors import BadRequest, ValidationFailed

NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
ROOT: Final = f"{{{NS}}}alert"
#: CAP nests five deep (alert/info/area/geocode/value); anything much deeper is refused
MAX_DEPTH: Final = 12
#: confidence given to a detection by its CAP certainty when it states none
CERTAINTY: Final[Mapping[str, float]] = {
    "Observed": 0.95,
    "Likely": 0.75,  # CAP: p > ~50%
    "Possible": 0.4,  # CAP: p <= ~50%
    "Unlikely": 0.1,
}
MACHINE: Final = ("camera", "drone", "sensor")


@functools.cache
def schema() -> xmlschema.XMLSchema:
    """The CAP 1.2 schema, read once per process; it may fetch nothing from anywhere."""
    text = resources.files("dispatcher").joinpath("data", "CAP-v1.2.xsd").read_bytes()
    return xmlschema.XMLSchema(io.BytesIO(text), allow="none", defuse="always")


@dataclass(frozen=True)
class Area:
    desc: str
    points: tuple[tuple[float, float], ...]  # (lon, lat): circle centres, polygon centroids
    radius_m: float | None = None


@dataclass(frozen=True)
class Info:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    codes: Mapping[str, str]
    parameters: Mapping[str, str]
    headline: str = ""
    description: str = ""
    onset: datetime | None = None
    media: tuple[str, ...] = ()
    areas: tuple[Area, ...] = ()


@dataclass(frozen=True)
class Alert:
    sender: str
    identifier: str
    sent: datetime
    status: str
    msg_type: str
    #: (sender, identifier, sent) of the earlier messages an Update or Cancel refers to
    references: tuple[tuple[str, str, str], ...] = ()
    infos: tuple[Info, ...] = field(default_factory=tuple)


def _tree(body: bytes) -> ET.Element:
    depth = 0
    try:
        events = DET.iterparse(io.BytesIO(body), events=("start", "end"), forbid_dtd=True)
        for kind, _ in events:
            depth += 1 if kind == "start" else -1
            if depth > MAX_DEPTH:
                raise ValidationFailed(
                    f"alert: nested deeper than {MAX_DEPTH} elements; CAP is not", field="alert"
                )
        root: ET.Element = events.root
    except defusedxml.DefusedXmlException as exc:
        raise BadRequest(f"XML refused: {exc} (no DTD, entity or external reference)") from None
    except ET.ParseError as exc:
        raise BadRequest(f"the body is not well-formed XML: {exc}") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise BadRequest(f"the body cannot be read as XML: {exc}") from None
    return root


def _path(error: xmlschema.XMLSchemaValidationError) -> str:
    path = error.path or "alert"
    return path.replace(f"{{{NS}}}", "").replace("/alert", "alert", 1).lstrip("/")


def parse_alert(body: bytes) -> Alert:
    """Read, check and validate a CAP 1.2 alert; raise BadRequest or ValidationFailed."""
    if not body.strip():
        raise BadRequest("the body is empty; a CAP 1.2 <alert> is expected")
    root = _tree(body)
    if root.tag != ROOT:
        raise ValidationFailed(
            f"alert: the root element is {root.tag}, not CAP 1.2's {ROOT}", field="alert"
        )
    error = next(iter(schema().iter_errors(root)), None)
    if error is not None:
        reason = (error.reason or str(error.message)).splitlines()[0]
        where = _path(error)
        raise ValidationFailed(f"{where}: not valid CAP 1.2: {reason}", field=where)
    return _alert(root)


def _text(element: ET.Element, name: str) -> str:
    found = element.find(f"{{{NS}}}{name}")
    return (found.text or "").strip() if found is not None else ""


def _pairs(element: ET.Element, name: str) -> dict[str, str]:
    return {
        _text(pair, "valueName"): _text(pair, "value")
        for pair in element.findall(f"{{{NS}}}{name}")
    }


def _alert(root: ET.Element) -> Alert:
    references = tuple(
        tuple(ref.split(",", 2)) for ref in _text(root, "references").split() if ref.count(",") == 2
    )
    infos = tuple(_info(i, n) for n, i in enumerate(root.findall(f"{{{NS}}}info")))
    return Alert(
        sender=_text(root, "sender"),
        identifier=_text(root, "identifier"),
        sent=datetime.fromisoformat(_text(root, "sent")),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        references=references,  # type: ignore[arg-type]
        infos=infos,
    )


def _info(element: ET.Element, n: int) -> Info:
    onset = _text(element, "onset") or _text(element, "effective")
    media = tuple(uri for r in element.findall(f"{{{NS}}}resource") if (uri := _text(r, "uri")))
    areas = tuple(
        _area(a, f"info[{n}].area[{k}]") for k, a in enumerate(element.findall(f"{{{NS}}}area"))
    )
    return Info(
        language=_text(element, "language") or "en-US",
        event=_text(element, "event"),
        urgency=_text(element, "urgency"),
        severity=_text(element, "severity"),
        certainty=_text(element, "certainty"),
        codes=_pairs(element, "eventCode"),
        parameters=_pairs(element, "parameter"),
        headline=_text(element, "headline"),
        description=_text(element, "description"),
        onset=datetime.fromisoformat(onset) if onset else None,
        media=media,
        areas=areas,
    )


def _latlon(text: str, where: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ValidationFailed(f"{where}: {text!r} is not a lat,lon pair", field=where) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat + lon):
        raise ValidationFailed(f"{where}: {text!r} is out of range (CAP: lat,lon)", field=where)
    return lon, lat


def centroid(ring: list[tuple[float, float]]) -> tuple[float, float]:
    """The centroid of a small lon/lat ring, taken on a plane in metres around its first point.

    An equirectangular plane at the ring's latitude keeps areas in proportion to within a
    fraction of a percent over a few kilometres, which is all a centroid needs.
    """
    lon0, lat0 = ring[0]
    k = math.cos(math.radians(lat0))
    xy = [((lon - lon0) * k, lat - lat0) for lon, lat in ring]
    area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in itertools.pairwise(xy):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if abs(area) < 1e-18:  # degenerate: the mean of its points
        return (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))
    return lon0 + cx / (3 * area) / k, lat0 + cy / (3 * area)


def _area(element: ET.Element, where: str) -> Area:
    points: list[tuple[float, float]] = []
    radius: float | None = None
    for k, polygon in enumerate(element.findall(f"{{{NS}}}polygon")):
        here = f"{where}.polygon[{k}]"
        ring = [_latlon(pair, here) for pair in (polygon.text or "").split()]
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise ValidationFailed(
                f"{here}: a CAP polygon is at least four lat,lon pairs, the last the first",
                field=here,
            )
        points.append(centroid(ring))
    for k, circle in enumerate(element.findall(f"{{{NS}}}circle")):
        here = f"{where}.circle[{k}]"
        centre, _, km = (circle.text or "").strip().partition(" ")
        try:
            radius_km = float(km)
        except ValueError:
            raise ValidationFailed(f"{here}: expected 'lat,lon radius_km'", field=here) from None
        if not 0 <= radius_km < 20_000:
            raise ValidationFailed(f"{here}: radius {km} km is out of range", field=here)
        points.append(_latlon(centre, here))
        radius = radius_km * 1000
    return Area(_text(element, "areaDesc"), tuple(points), radius)


@dataclass(frozen=True)
class Draft:
    """A report an alert makes: the fields of ``POST /api/v1/incidents`` and extras."""

    report: dict[str, Any]
    extra: dict[str, Any]


def _confidence(info: Info) -> float | None:
    raw = info.parameters.get("confidence")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 1:
            raise ValidationFailed(
                f"info.parameter confidence: {raw!r} is not a number from 0 to 1",
                field="info.parameter",
            )
        return value
    return CERTAINTY.get(info.certainty)


def external_id(alert: Alert, n: int) -> str:
    """The external id of the n-th report of an alert: stable, at most 200 characters."""
    text = f"{alert.sender}/{alert.identifier}/{n}"
    if len(text) <= 200:
        return text
    return "cap-" + hashlib.sha256(text.encode()).hexdigest() + f"/{n}"


def drafts(alert: Alert, categories: Mapping[str, Category]) -> list[Draft]:
    """The reports ``alert`` makes; raise ValidationFailed for an unknown category or no place."""
    chosen: dict[tuple[str, float, float], tuple[Info, Area, tuple[float, float]]] = {}
    for n, info in enumerate(alert.infos):
        code = info.codes.get("category")
        if not code:
            raise ValidationFailed(
                f"info[{n}].eventCode: no eventCode with valueName 'category'",
                field=f"info[{n}].eventCode",
            )
        if code not in categories:
            raise ValidationFailed(
                f"info[{n}].eventCode: unknown category code {code!r}",
                field=f"info[{n}].eventCode",
            )
        places = [(area, point) for area in info.areas for point in area.points]
        if not places:
            raise ValidationFailed(
                f"info[{n}].area: a circle or a polygon is needed to place the incident",
                field=f"info[{n}].area",
            )
        for area, (lon, lat) in places:
            key = (code, round(lon, 6), round(lat, 6))
            if key not in chosen or (
                info.language.lower().startswith("zh")
                and not chosen[key][0].language.lower().startswith("zh")
            ):
                chosen[key] = (info, area, (lon, lat))
    return [
        _draft(alert, n, code, info, area, point)
        for n, ((code, _, _), (info, area, point)) in enumerate(chosen.items())
    ]


def _draft(
    alert: Alert, n: int, code: str, info: Info, area: Area, point: tuple[float, float]
) -> Draft:
    source = info.parameters.get("source", "sensor")
    if source not in MACHINE:
        raise ValidationFailed(
            f"info.parameter source: {source!r} is not one of {', '.join(MACHINE)}",
            field="info.parameter",
        )
    text = "\n".join(t for t in (info.headline, info.description) if t) or info.event
    report: dict[str, Any] = {
        "source": source,
        "external_id": external_id(alert, n),
        "category": code,
        "lon": point[0],
        "lat": point[1],
        "description": text[:4000],
        "occurred_at": (info.onset or alert.sent).isoformat(),
        "media": list(info.media[:50]),
        "confidence": _confidence(info),
        "device_id": (info.parameters.get("device_id") or alert.sender)[:200],
        "address": area.desc[:500] or None,
    }
    if info.parameters.get("crs"):
        report["crs"] = info.parameters["crs"]
    cap = {
        "sender": alert.sender,
        "identifier": alert.identifier,
        "event": info.event,
        "urgency": info.urgency,
        "severity": info.severity,
        "certainty": info.certainty,
        "area": area.desc,
        "radius_m": area.radius_m,
    }
    return Draft(report, {"cap": cap})
