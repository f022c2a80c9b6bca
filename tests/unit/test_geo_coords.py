"""Coordinate systems: names, validation, and GCJ-02 / BD-09 against published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from geo.coords import CRS, check_lon_lat, from_wgs84, parse_crs, to_wgs84
from geo.errors import GeoError, InvalidCoordinates

GEOD = Geod(ellps="WGS84")


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


# Test vectors of googollee/eviltransform (go/transform_test.go, javascript/test.js), given
# there as (wgsLat, wgsLng, gcjLat, gcjLng); rewritten here as ((lon, lat), (lon, lat)).
EVILTRANSFORM = {
    "shanghai": ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    "shenzhen": ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    "beijing": ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
}

# wandergis/coordtransform, test/app.js: each function applied to (116.404, 39.915).
CT_INPUT = (116.404, 39.915)
CT_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)
CT_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
CT_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
CT_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)  # its one-step, metre-level inverse


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, CRS.WGS84),
        ("", CRS.WGS84),
        ("wgs84", CRS.WGS84),
        ("WGS-84", CRS.WGS84),
        ("CGCS2000", CRS.WGS84),
        ("epsg:4326", CRS.WGS84),
        ("EPSG:4490", CRS.WGS84),
        ("gcj02", CRS.GCJ02),
        ("GCJ-02", CRS.GCJ02),
        (" Gcj-02 ", CRS.GCJ02),
        ("BD09", CRS.BD09),
        ("bd-09", CRS.BD09),
        ("bd09ll", CRS.BD09),
    ],
)
def test_parse_crs_accepts_names_and_aliases(name: str | None, expected: CRS) -> None:
    assert parse_crs(name) is expected


@pytest.mark.parametrize("name", ["UTM50N", "EPSG:3857", "bd09mc", "gcj", "x" * 500])
def test_parse_crs_refuses_unknown_names_listing_what_is_accepted(name: str) -> None:
    with pytest.raises(InvalidCoordinates) as caught:
        parse_crs(name)
    assert caught.value.field == "crs"
    message = str(caught.value)
    for accepted in ("WGS84", "CGCS2000", "EPSG:4490", "GCJ-02", "BD-09", "BD09LL"):
        assert accepted in message
    assert len(message) < 300


def test_parse_crs_refuses_a_non_string() -> None:
    with pytest.raises(InvalidCoordinates) as caught:
        parse_crs(4326)  # type: ignore[arg-type]
    assert caught.value.field == "crs"
    assert isinstance(caught.value, GeoError)


@pytest.mark.parametrize(
    ("lon", "lat", "field"),
    [
        (180.000001, 31.0, "lon"),
        (-181, 31.0, "lon"),
        (121.0, 90.5, "lat"),
        (121.0, -91, "lat"),
        (math.nan, 31.0, "lon"),
        (121.0, math.inf, "lat"),
        (-math.inf, 31.0, "lon"),
        (True, 31.0, "lon"),
        (121.0, "31.2", "lat"),
        (None, 31.0, "lon"),
        (10**400, 31.0, "lon"),
    ],
)
@pytest.mark.parametrize("crs", list(CRS))
def test_invalid_positions_name_the_field(lon: object, lat: object, field: str, crs: CRS) -> None:
    with pytest.raises(InvalidCoordinates) as caught:
        to_wgs84(lon, lat, crs)  # type: ignore[arg-type]
    assert caught.value.field == field
    with pytest.raises(InvalidCoordinates):
        from_wgs84(lon, lat, crs)  # type: ignore[arg-type]


def test_limits_are_inclusive_and_ints_become_floats() -> None:
    assert check_lon_lat(180, -90) == (180.0, -90.0)
    lon, lat = to_wgs84(121, 31, CRS.WGS84)
    assert (lon, lat) == (121.0, 31.0)
    assert type(lon) is float
    assert type(lat) is float


@pytest.mark.parametrize("city", sorted(EVILTRANSFORM))
def test_gcj02_matches_eviltransform_vectors(city: str) -> None:
    wgs, gcj = EVILTRANSFORM[city]
    assert metres(from_wgs84(*wgs, CRS.GCJ02), gcj) < 0.05
    # eviltransform's own exact inverse is held to 0.5 m.
    assert metres(to_wgs84(*gcj, CRS.GCJ02), wgs) < 0.5
    # The offset is real: hundreds of metres, not a no-op.
    assert 100 < metres(wgs, gcj) < 1000


def test_matches_coordtransform_published_outputs() -> None:
    assert metres(from_wgs84(*CT_INPUT, CRS.GCJ02), CT_WGS84_TO_GCJ02) < 0.05
    # Its GCJ-02 -> WGS84 is a one-step approximation good to a few metres.
    assert metres(to_wgs84(*CT_INPUT, CRS.GCJ02), CT_GCJ02_TO_WGS84) < 3.0
    # BD-09 -> GCJ-02 and GCJ-02 -> BD-09, through WGS84.
    bd_as_gcj = from_wgs84(*to_wgs84(*CT_INPUT, CRS.BD09), CRS.GCJ02)
    assert metres(bd_as_gcj, CT_BD09_TO_GCJ02) < 0.5
    gcj_as_bd = from_wgs84(*to_wgs84(*CT_INPUT, CRS.GCJ02), CRS.BD09)
    assert metres(gcj_as_bd, CT_GCJ02_TO_BD09) < 0.5


def _points_in_china() -> list[tuple[float, float]]:
    rng = np.random.default_rng(20240501)
    lons = rng.uniform(75.0, 134.0, 60)
    lats = rng.uniform(18.0, 53.0, 60)
    cities = [(121.4737, 31.2304), (116.3975, 39.9087), (113.2644, 23.1291), (104.0665, 30.5723)]
    return cities + list(zip(lons.tolist(), lats.tolist(), strict=True))


@pytest.mark.parametrize("crs", [CRS.GCJ02, CRS.BD09])
def test_round_trips_within_half_a_metre(crs: CRS) -> None:
    worst = 0.0
    for wgs in _points_in_china():
        shifted = from_wgs84(*wgs, crs)
        assert metres(shifted, wgs) > 50  # the shift was applied
        worst = max(worst, metres(to_wgs84(*shifted, crs), wgs))
    assert worst < 0.5


def test_wgs84_and_its_aliases_are_unchanged() -> None:
    for name in ("WGS84", "CGCS2000", "EPSG:4490"):
        assert to_wgs84(121.4737, 31.2304, parse_crs(name)) == (121.4737, 31.2304)
        assert from_wgs84(121.4737, 31.2304, parse_crs(name)) == (121.4737, 31.2304)


def test_gcj02_outside_china_is_the_identity_without_warnings() -> None:
    for outside in [(139.7671, 35.6812), (-0.1276, 51.5072), (151.2093, -33.8688)]:
        assert to_wgs84(*outside, CRS.GCJ02) == outside
        assert from_wgs84(*outside, CRS.GCJ02) == outside


def test_bd09_outside_china_keeps_only_baidus_shift() -> None:
    london = (-0.1276, 51.5072)
    shifted = from_wgs84(*london, CRS.BD09)
    assert 500 < metres(shifted, london) < 1500
    assert metres(to_wgs84(*shifted, CRS.BD09), london) < 0.5
