"""Real boundary files from ECharts 4.9.0 (tests/data/PROVENANCE.md), decoded for the tests.

ECharts ships its province maps in a compressed GeoJSON (``"UTF8Encoding": true``): each ring
is a string of character pairs, one per vertex. Decoding, as ECharts does it
(``src/coord/geo/parseGeoJson.js``, ``decodePolygon``): subtract 64 from each character's code,
undo the zigzag encoding (``(v >> 1) ^ -(v & 1)``), add the previous vertex (the first vertex
adds the ring's ``encodeOffsets``), and divide by ``UTF8Scale`` (1024 when absent). The
coordinates are GCJ-02, as on every Chinese web map.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent / "echarts"


def decode_ring(encoded: str, offsets: list[int], scale: float) -> list[list[float]]:
    """One ring of ECharts' compressed encoding as ``[[lon, lat], ...]``."""
    x_prev, y_prev = offsets
    ring = []
    for i in range(0, len(encoded), 2):
        x = ord(encoded[i]) - 64
        y = ord(encoded[i + 1]) - 64
        x = (x >> 1) ^ -(x & 1)
        y = (y >> 1) ^ -(y & 1)
        x_prev, y_prev = x + x_prev, y + y_prev
        ring.append([x_prev / scale, y_prev / scale])
    return ring


def decode(collection: dict[str, Any]) -> dict[str, Any]:
    """A plain GeoJSON FeatureCollection from an ECharts map (a copy; plain input unchanged)."""
    out = copy.deepcopy(collection)
    if not out.pop("UTF8Encoding", False):
        return out
    scale = float(out.pop("UTF8Scale", None) or 1024)
    for feature in out["features"]:
        geometry = feature["geometry"]
        offsets = geometry.pop("encodeOffsets")
        if geometry["type"] == "Polygon":
            geometry["coordinates"] = [
                decode_ring(ring, offset, scale)
                for ring, offset in zip(geometry["coordinates"], offsets, strict=True)
            ]
        else:
            geometry["coordinates"] = [
                [decode_ring(ring, offset, scale) for ring, offset in zip(rings, offs, strict=True)]
                for rings, offs in zip(geometry["coordinates"], offsets, strict=True)
            ]
    return out


def province(name: str) -> dict[str, Any]:
    """A province map (``shanghai``, ``beijing``) decoded: its districts (区) in GCJ-02."""
    return decode(json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8")))


def as_zones(collection: dict[str, Any]) -> dict[str, Any]:
    """The map's districts as a zone set: level ``district``, no parent, no squad. A feature
    without an id (Shanghai's 崇明区 has none) gets its name as its id."""
    out = copy.deepcopy(collection)
    for feature in out["features"]:
        feature.setdefault("id", feature["properties"]["name"])
        feature["properties"] = {"name": feature["properties"]["name"], "level": "district"}
    return out
