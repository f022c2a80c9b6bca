"""Reading zone sets from real boundary files (``geo.importer``), written here by geopandas."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from geo.coords import CRS, from_wgs84
from geo.importer import FieldMap, format_report, read_zone_file
from geo.zones import ZoneIndex, parse_feature_collection
from tests.data import boundaries
from tests.data.boundaries import IN_C3, IN_G1, SQUADS


def _index_of(result_collection: dict[str, object]) -> ZoneIndex:
    return ZoneIndex(parse_feature_collection(result_collection, SQUADS))


@pytest.mark.parametrize(
    ("name", "crs"),
    [
        ("district.geojson", 4326),
        ("district.shp", 4326),
        ("district.zip", 4326),
        ("district.gpkg", 4326),
        ("district_cgcs2000_gk120.gpkg", 4549),
        ("district_utm51n.shp", 32651),
        ("district_cgcs2000.geojson", 4490),
    ],
)
def test_every_format_and_projection_reads_to_the_same_zones(
    tmp_path: Path, name: str, crs: int
) -> None:
    path = boundaries.write(tmp_path, name, crs=crs)
    result = read_zone_file(path, known_squads=SQUADS)
    assert result.ok, format_report(result, dry_run=True)
    assert result.features == 10
    assert f"EPSG:{crs}" in result.crs_note
    if crs != 4326:
        assert result.crs_note.endswith("WGS84")
    index = _index_of(result.collection or {})
    match = index.match(*IN_G1)
    assert match.zone_ids == ("D", "S1", "C1", "G1")
    assert match.squad_id == "sq-1"
    assert index.match(*IN_C3).squad_id == "sq-2"
    # reprojected vertices land within centimetres of the originals
    original = {z["id"]: z["geometry"] for z in boundaries.rows()}
    for feature in (result.collection or {})["features"]:
        read = shape(feature["geometry"])
        assert read.hausdorff_distance(original[feature["id"]]) < 1e-6  # ~0.1 m
    warnings = [w.id for w in result.warnings]
    assert warnings == ["C1"]  # its four grid cells cover a third of it: reported, accepted


def test_fields_are_mapped_by_name(tmp_path: Path) -> None:
    rename = {"id": "CODE", "name": "MC", "parent_id": "SJ", "squad_id": "ZD"}
    zones = [{k: v for k, v in z.items() if k != "level"} for z in boundaries.rows()]
    grids = [z for z in zones if z["id"].startswith("G")]
    path = boundaries.write(tmp_path, "grids.shp", grids, rename=rename)
    fields = FieldMap(id="CODE", name="MC", level="grid", parent="SJ", squad="ZD")
    result = read_zone_file(path, fields=fields)
    report = format_report(result, dry_run=True)
    # the parents are not in this file: every cell names a missing parent
    assert [p.id for p in result.problems] == ["G1", "G2", "G3", "G4"], report
    assert all("parent_id 'C1' names no feature" in p.reason for p in result.problems)
    unmapped = read_zone_file(path)
    notes = " ".join(unmapped.notes)
    assert "no id field 'id'" in notes
    assert "CODE" in notes
    assert "MC" in notes
    assert {p.reason for p in unmapped.problems} >= {
        "feature has no id (give the feature an id, or properties.id)"
    }


def test_a_broken_file_is_refused_with_each_problem_named(tmp_path: Path) -> None:
    path = boundaries.write(tmp_path, "broken.gpkg", boundaries.broken(), crs=4549)
    result = read_zone_file(path, known_squads=SQUADS)
    assert not result.ok
    report = format_report(result, dry_run=False)
    by_id: dict[str | None, list[str]] = {}
    for problem in result.problems:
        by_id.setdefault(problem.id, []).append(problem.reason)
    assert "EPSG:4549" in result.crs_note
    assert len(by_id["G2"]) == 1
    assert by_id["G2"][0].startswith("invalid geometry: self-intersection at (121.")
    assert "ring touches itself" in by_id["G3"][0] or "self-intersection" in by_id["G3"][0]
    assert by_id[None] == ["feature has no id (give the feature an id, or properties.id)"]
    assert any("overlaps its sibling 'C2'" in r for r in by_id["C1"])
    assert any("overlaps its sibling 'C1'" in r for r in by_id["C2"])
    assert any("lies partly outside its parent 'C1'" in r for r in by_id["G4"])
    assert "REFUSED" in report
    assert "--repair fixes what make_valid can" in report
    for name in ("'G2'", "'G3'", "'C1'", "'C2'", "'G4'", "(no id)"):
        assert name in report


def test_repair_makes_invalid_rings_valid_and_reports_each(tmp_path: Path) -> None:
    path = boundaries.write(tmp_path, "repairable.gpkg", boundaries.repairable(), crs=4549)
    refused = read_zone_file(path, known_squads=SQUADS)
    assert [p.id for p in refused.problems] == ["G2", "G3"]
    repaired = read_zone_file(path, known_squads=SQUADS, repair=True)
    assert repaired.ok, format_report(repaired, dry_run=True)
    assert [(r.id, r.index) for r in repaired.repairs] == [("G2", 7), ("G3", 8)]
    report = format_report(repaired, dry_run=True)
    assert "repairs (2):" in report
    assert "repaired by make_valid" in report
    assert "dry run: 10 zone(s) are valid; nothing was changed" in report
    assert _index_of(repaired.collection or {}).match(*IN_G1).squad_id == "sq-1"


def test_a_file_without_a_coordinate_system_needs_crs(tmp_path: Path) -> None:
    path = boundaries.write(tmp_path, "silent.shp", crs=4549, declare_crs=False)
    silent = read_zone_file(path)
    assert not silent.ok
    assert "declares no coordinate system" in silent.problems[0].reason
    named = read_zone_file(path, crs="EPSG:4549", known_squads=SQUADS)
    assert named.ok, format_report(named, dry_run=True)
    assert _index_of(named.collection or {}).match(*IN_G1).squad_id == "sq-1"
    wrong = read_zone_file(path, crs="EPSG:99999")
    assert "is not a coordinate system" in wrong.problems[0].reason


def test_a_file_in_gcj02_labelled_wgs84_is_corrected_with_crs(tmp_path: Path) -> None:
    zones = boundaries.rows()
    for zone in zones:
        zone["geometry"] = shapely.transform(
            zone["geometry"],
            lambda xy: [list(from_wgs84(float(x), float(y), CRS.GCJ02)) for x, y in xy],
        )
    path = boundaries.write(tmp_path, "amap.geojson", zones)
    taken_as_is = read_zone_file(path, known_squads=SQUADS)
    # GCJ-02 is about 500 m off here: the point of G1 is not in G1 when taken as WGS84
    assert "G1" not in _index_of(taken_as_is.collection or {}).match(*IN_G1).zone_ids
    corrected = read_zone_file(path, crs="GCJ02", known_squads=SQUADS)
    assert corrected.ok
    assert corrected.crs_note == "GCJ02 → WGS84 (point by point)"
    assert "--crs overrides it" in " ".join(corrected.notes)
    assert _index_of(corrected.collection or {}).match(*IN_G1).zone_ids[-1] == "G1"


def test_metres_read_as_degrees_are_named_per_feature(tmp_path: Path) -> None:
    path = boundaries.write(tmp_path, "wrong.shp", crs=4549)
    result = read_zone_file(path, crs="EPSG:4326")  # the .prj is right; --crs is wrong
    assert len(result.problems) == 10
    assert all("outside -180..180" in p.reason for p in result.problems)


def test_unreadable_and_missing_files_are_reported(tmp_path: Path) -> None:
    missing = read_zone_file(tmp_path / "nothing.gpkg")
    assert "cannot read nothing.gpkg" in missing.problems[0].reason
    junk = tmp_path / "junk.geojson"
    junk.write_text("{not json", encoding="utf-8")
    assert "cannot read junk.geojson" in read_zone_file(junk).problems[0].reason


def test_other_fields_are_kept_as_properties(tmp_path: Path) -> None:
    zones = boundaries.rows()
    for n, zone in enumerate(zones):
        zone["area_code"] = 310101000 + n
        zone["note"] = None
    path = boundaries.write(tmp_path, "extra.gpkg", zones)
    result = read_zone_file(path, known_squads=SQUADS)
    assert result.ok
    first = (result.collection or {})["features"][0]
    assert first["properties"]["area_code"] == 310101000
    assert first["properties"]["note"] is None
    assert first["id"] == "D"
