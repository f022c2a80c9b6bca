"""Distances in metres: geodesics and the local metric plane."""

from __future__ import annotations

import math

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box

from geo.distance import LocalFrame, distance_m
from geo.errors import InvalidCoordinates

# WGS84 constants, for lengths computed by hand.
A = 6378137.0
E2 = 0.0066943799901413165


def test_distance_along_the_equator_is_the_arc_of_the_semi_major_axis() -> None:
    assert distance_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(A * math.pi / 180, abs=0.01)


def test_one_degree_of_latitude_from_the_equator() -> None:
    # The meridian arc from 0° to 1° N is 110,574.4 m on WGS84.
    assert distance_m(121.0, 0.0, 121.0, 1.0) == pytest.approx(110_574.4, abs=0.5)


def test_distance_is_symmetric_and_zero_on_itself() -> None:
    assert distance_m(121.47, 31.23, 121.48, 31.24) == pytest.approx(
        distance_m(121.48, 31.24, 121.47, 31.23)
    )
    assert distance_m(121.47, 31.23, 121.47, 31.23) == 0.0


def test_local_frame_measures_metres_around_its_origin() -> None:
    frame = LocalFrame(121.47, 31.23)
    assert frame.xy(121.47, 31.23) == pytest.approx((0.0, 0.0), abs=1e-6)
    geod = Geod(ellps="WGS84")
    for azimuth, distance in [(90.0, 1000.0), (0.0, 2500.0), (225.0, 8000.0)]:
        lon, lat, _ = geod.fwd(121.47, 31.23, azimuth, distance)
        x, y = frame.xy(lon, lat)
        assert math.hypot(x, y) == pytest.approx(distance, rel=1e-4)
    east_lon, east_lat, _ = geod.fwd(121.47, 31.23, 90.0, 1000.0)
    assert frame.point(east_lon, east_lat).x > 999.0


def test_local_frame_areas_and_round_trip() -> None:
    lat = 31.23
    # Metres per degree at this latitude, from the WGS84 radii of curvature.
    w = math.sqrt(1 - E2 * math.sin(math.radians(lat)) ** 2)
    per_lon = math.radians(1) * A * math.cos(math.radians(lat)) / w
    per_lat = math.radians(1) * A * (1 - E2) / w**3
    square = box(
        121.47, lat - 0.5 / per_lat * 1000, 121.47 + 1000 / per_lon, lat + 0.5 / per_lat * 1000
    )
    frame = LocalFrame.around(*square.bounds)
    assert frame.to_metres(square).area == pytest.approx(1_000_000, rel=1e-3)
    back = frame.to_wgs84(frame.to_metres(square))
    assert shapely.equals_exact(back, square, tolerance=1e-9)
    xs, ys = frame.xy_many([121.47, 121.48], [31.23, 31.24])
    assert (float(xs[1]), float(ys[1])) == pytest.approx(frame.xy(121.48, 31.24))


def test_local_frame_refuses_an_invalid_origin() -> None:
    with pytest.raises(InvalidCoordinates) as caught:
        LocalFrame(121.0, 95.0)
    assert caught.value.field == "lat"
