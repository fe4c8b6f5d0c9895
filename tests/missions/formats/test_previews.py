"""KML and GeoJSON previews: route coordinates, camera legs, fences, rally, home and extras."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from shapely.geometry import LinearRing, Point, Polygon, shape

from gis.crs import LocalFrame
from missions.errors import PlanFileError
from missions.formats.geojson import write_geojson
from missions.formats.kml import KML_NAMESPACE, write_kml
from missions.items import MissionPlan

NS = {"k": KML_NAMESPACE}
HOME_LON, HOME_LAT = 120.1301853, 30.2592211
A = (120.13123456789012, 30.26012345678901, 60.0)
B = (120.13123456789012, 30.26512345678901, 60.0)
C = (120.13623456789012, 30.26512345678901, 60.0)
D = (120.13623456789012, 30.26012345678901, 60.0)
E = (120.1333, 30.2581, 60.0)  # stored as 72.5 m AMSL, home is at 12.5 m
#: home on the ground, take-off climb to 40 m, the survey, the AMSL waypoint, return to launch
ROUTE = [(HOME_LON, HOME_LAT, 0.0), (HOME_LON, HOME_LAT, 40.0), A, B, C, D, E,
         (HOME_LON, HOME_LAT, 0.0)]

GRID = Polygon(
    [(120.127, 30.255), (120.140, 30.255), (120.140, 30.270), (120.127, 30.270)],
    holes=[[(120.131, 30.260), (120.132, 30.260), (120.132, 30.261)]],
)
EXTRA = [
    (GRID, {"grid_id": "XH-01", "name": "西湖 <网格> & 一号", "area_m2": 1.93e6,
            "tags": ["农田", "水域"], "bad": math.nan}),
    (Point(120.133, 30.262), {"label": "photo 7"}),
]


def _coordinates(text: str) -> list[tuple[float, ...]]:
    return [tuple(float(v) for v in point.split(",")) for point in text.split()]


def _placemarks(root: ET.Element, style: str) -> list[ET.Element]:
    return [
        p for p in root.iter(f"{{{KML_NAMESPACE}}}Placemark")
        if p.findtext("k:styleUrl", namespaces=NS) == f"#{style}"
    ]


def _data(placemark: ET.Element) -> dict[str, str]:
    return {
        d.get("name"): d.findtext("k:value", default="", namespaces=NS)
        for d in placemark.iterfind("k:ExtendedData/k:Data", NS)
    }


@pytest.fixture
def kml_root(tmp_path: Path, plan: MissionPlan) -> ET.Element:
    path = tmp_path / "grid.kml"
    write_kml(path, plan, extra=EXTRA)
    raw = path.read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert "西湖网格-01".encode() in raw  # UTF-8, not character references
    return ET.fromstring(raw)


def test_kml_route_has_the_right_coordinates(kml_root: ET.Element) -> None:
    assert kml_root.tag == f"{{{KML_NAMESPACE}}}kml"
    assert kml_root.findtext("k:Document/k:name", namespaces=NS) == "西湖网格-01"
    (route,) = _placemarks(kml_root, "route")
    line = route.find("k:LineString", NS)
    assert line.findtext("k:altitudeMode", namespaces=NS) == "relativeToGround"
    assert _coordinates(line.findtext("k:coordinates", namespaces=NS)) == ROUTE


def test_kml_marks_camera_legs(kml_root: ET.Element) -> None:
    (camera,) = _placemarks(kml_root, "camera")
    assert _data(camera)["camera"] == "true"
    assert _coordinates(camera.findtext(".//k:coordinates", namespaces=NS)) == [A, B, C, D]
    transit = _placemarks(kml_root, "transit")
    assert [_coordinates(p.findtext(".//k:coordinates", namespaces=NS)) for p in transit] == [
        ROUTE[:3], ROUTE[5:],
    ]


def test_kml_waypoints_are_numbered_with_command_names(kml_root: ET.Element) -> None:
    marks = _placemarks(kml_root, "waypoint")
    names = [p.findtext("k:name", namespaces=NS) for p in marks]
    assert names == ["3 NAV_WAYPOINT", "5 NAV_WAYPOINT", "6 NAV_WAYPOINT", "7 NAV_WAYPOINT",
                     "9 NAV_WAYPOINT"]
    assert _data(marks[-1])["altitude_m"] == "72.5"
    assert _coordinates(marks[-1].findtext(".//k:coordinates", namespaces=NS)) == [E]


def test_kml_fences_are_styled_green_and_red(kml_root: ET.Element) -> None:
    styles = {s.get("id"): s for s in kml_root.iter(f"{{{KML_NAMESPACE}}}Style")}
    assert styles["fence-inclusion"].findtext("k:LineStyle/k:color", namespaces=NS) == "ff00ff00"
    assert styles["fence-exclusion"].findtext("k:LineStyle/k:color", namespaces=NS) == "ff0000ff"
    (inclusion,) = _placemarks(kml_root, "fence-inclusion")
    ring = inclusion.findtext(".//k:outerBoundaryIs/k:LinearRing/k:coordinates", namespaces=NS)
    assert _coordinates(ring)[:2] == [(120.127, 30.255), (120.127, 30.27)]  # lon,lat order
    exclusions = _placemarks(kml_root, "fence-exclusion")
    assert [_data(p)["shape"] for p in exclusions] == ["polygon", "circle"]


def test_kml_home_rally_and_escaped_extras(kml_root: ET.Element) -> None:
    (home,) = _placemarks(kml_root, "home")
    assert _coordinates(home.findtext(".//k:coordinates", namespaces=NS)) == [
        (HOME_LON, HOME_LAT, 0.0)
    ]
    (rally,) = _placemarks(kml_root, "rally")
    assert _coordinates(rally.findtext(".//k:coordinates", namespaces=NS)) == [
        (120.131, 30.257, 30.0)
    ]
    grid, photo = _placemarks(kml_root, "extra")
    assert grid.findtext("k:name", namespaces=NS) == "西湖 <网格> & 一号"
    data = _data(grid)
    assert data["grid_id"] == "XH-01" and data["tags"] == '["农田", "水域"]'
    assert len(grid.findall(".//k:Polygon/k:innerBoundaryIs", NS)) == 1
    assert photo.findtext("k:name", namespaces=NS) == "Extra 2"
    assert _coordinates(photo.findtext(".//k:Point/k:coordinates", namespaces=NS)) == [
        (120.133, 30.262)
    ]


def test_kml_drops_characters_xml_cannot_hold(tmp_path: Path, plan: MissionPlan) -> None:
    path = tmp_path / "odd.kml"
    write_kml(path, plan, extra=[(Point(120.1, 30.2), {"name": "bell\x07 and nul\x00 网格"})])
    root = ET.parse(path).getroot()
    (extra,) = _placemarks(root, "extra")
    assert extra.findtext("k:name", namespaces=NS) == "bell and nul 网格"


@pytest.fixture
def collection(tmp_path: Path, plan: MissionPlan) -> dict:
    path = tmp_path / "grid.geojson"
    write_geojson(path, plan, extra=EXTRA)
    text = path.read_text(encoding="utf-8")
    assert "西湖网格-01" in text
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))


def _features(collection: dict, kind: str) -> list[dict]:
    return [f for f in collection["features"] if f["properties"]["kind"] == kind]


def test_geojson_route_is_lon_lat_alt(collection: dict) -> None:
    assert collection["type"] == "FeatureCollection"
    (route,) = _features(collection, "route")
    assert route["geometry"]["type"] == "LineString"
    assert [tuple(c) for c in route["geometry"]["coordinates"]] == ROUTE
    assert route["properties"]["name"] == "西湖网格-01"


def test_geojson_legs_and_waypoints(collection: dict) -> None:
    legs = _features(collection, "leg")
    assert [leg["properties"]["camera"] for leg in legs] == [False, True, False]
    assert [tuple(c) for c in legs[1]["geometry"]["coordinates"]] == [A, B, C, D]
    waypoints = _features(collection, "waypoint")
    assert [w["properties"]["index"] for w in waypoints] == [3, 5, 6, 7, 9]
    assert {w["properties"]["command_name"] for w in waypoints} == {"NAV_WAYPOINT"}
    assert waypoints[0]["geometry"] == {"type": "Point", "coordinates": list(A)}
    (home,) = _features(collection, "home")
    assert home["geometry"]["coordinates"] == [HOME_LON, HOME_LAT, 0.0]
    assert home["properties"]["altitude_amsl_m"] == 12.5


def test_geojson_fences_are_counter_clockwise_and_circles_true_to_radius(collection: dict) -> None:
    fences = _features(collection, "fence")
    assert [(f["properties"]["shape"], f["properties"]["inclusion"]) for f in fences] == [
        ("polygon", True), ("polygon", False), ("circle", False)
    ]
    for fence in fences:
        assert LinearRing(fence["geometry"]["coordinates"][0]).is_ccw
    circle = shape(fences[2]["geometry"])
    frame = LocalFrame(120.1290, 30.2575)
    ring = frame.to_local(circle).exterior
    radii = [math.hypot(x, y) for x, y in ring.coords]
    assert len(radii) > 32
    assert min(radii) == pytest.approx(80.0, abs=0.05)
    assert max(radii) == pytest.approx(80.0, abs=0.05)
    assert fences[2]["properties"]["center"] == [120.129, 30.2575]


def test_geojson_rally_and_extras(collection: dict) -> None:
    (rally,) = _features(collection, "rally")
    assert rally["geometry"]["coordinates"] == [120.131, 30.257, 30.0]
    grid, photo = _features(collection, "extra")
    assert grid["properties"]["grid_id"] == "XH-01"
    assert grid["properties"]["tags"] == ["农田", "水域"]
    assert grid["properties"]["bad"] is None  # NaN is not JSON
    assert shape(grid["geometry"]).equals(GRID)
    assert LinearRing(grid["geometry"]["coordinates"][0]).is_ccw
    assert not LinearRing(grid["geometry"]["coordinates"][1]).is_ccw  # holes run clockwise
    assert photo["geometry"] == {"type": "Point", "coordinates": [120.133, 30.262]}


def test_plan_without_positions_has_no_route(tmp_path: Path) -> None:
    plan = MissionPlan(items=(), home=(30.0, 120.0, 5.0))
    path = tmp_path / "empty.geojson"
    write_geojson(path, plan)
    kinds = [f["properties"]["kind"] for f in json.loads(path.read_text())["features"]]
    assert kinds == ["home"]


@pytest.mark.parametrize("writer", [write_kml, write_geojson])
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([("POINT (1 2)", {})], r"extra\[0\] geometry is a str"),
        ([(Point(1, 2), ["name"])], r"extra\[0\] properties are a list"),
        ([Point(1, 2)], r"extra\[0\] must be a \(geometry, properties\) pair"),
    ],
)
def test_bad_extras_raise_plan_file_error(
    tmp_path: Path, plan: MissionPlan, writer, extra, message: str
) -> None:
    path = tmp_path / "bad.out"
    with pytest.raises(PlanFileError, match=rf"bad\.out: cannot write .*{message}"):
        writer(path, plan, extra=extra)
    assert not path.exists()
