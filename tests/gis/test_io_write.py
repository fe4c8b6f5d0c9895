"""Writing GeoJSON, KML/KMZ and Shapefile, and reading each back."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.affinity
from pyproj import CRS
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from gis.errors import FormatError
from gis.io import (
    Feature,
    features_to_geojson_dict,
    read_features,
    read_grids,
    write_geojson,
    write_kml,
    write_shapefile,
)


@pytest.fixture
def layer(square: Polygon, holed: Polygon) -> list[Feature]:
    parts = MultiPolygon(
        [shapely.affinity.translate(square, 0.05), shapely.affinity.translate(square, 0.07)]
    )
    return [
        Feature(holed, {"grid_id": "HL-001", "name": "城东一", "area_ha": 4.5, "households": 12}),
        Feature(
            square.reverse(),
            {"grid_id": "HL-002", "name": "城东二", "area_ha": 1.0, "households": 3},
        ),
        Feature(parts, {"grid_id": "HL-003", "name": "三块", "area_ha": 2.25, "households": None}),
    ]


def test_geojson_round_trip_is_exact_and_rfc7946_oriented(tmp_path: Path, layer) -> None:
    path = tmp_path / "out.geojson"
    write_geojson(path, layer)
    back = read_features(path)
    assert [f.properties for f in back] == [f.properties for f in layer]
    for original, read in zip(layer, back, strict=True):
        assert read.geometry.equals(original.geometry)
    # RFC 7946: exteriors counter-clockwise, holes clockwise (the second input was clockwise).
    assert back[1].geometry.exterior.is_ccw
    assert not back[0].geometry.interiors[0].is_ccw
    assert "城东一" in path.read_text(encoding="utf-8")


def test_geojson_dict_is_plain_json(square: Polygon) -> None:
    feature = Feature(
        square,
        {
            "when": dt.date(2024, 5, 1),
            "n": np.int64(3),
            "score": np.float32(0.5),
            "bad": float("nan"),
        },
    )
    document = features_to_geojson_dict([feature])
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["features"][0]["properties"] == {
        "when": "2024-05-01",
        "n": 3,
        "score": 0.5,
        "bad": None,
    }
    assert document["features"][0]["geometry"]["type"] == "Polygon"


@pytest.mark.parametrize("suffix", [".kml", ".kmz"])
def test_kml_round_trip_keeps_holes_parts_and_properties(
    tmp_path: Path, layer, suffix: str
) -> None:
    path = tmp_path / f"grids{suffix}"
    write_kml(path, layer, name="海陵区")
    if suffix == ".kmz":
        assert zipfile.ZipFile(path).namelist() == ["doc.kml"]
    grids = read_grids(path)
    assert [g.grid_id for g in grids] == ["HL-001", "HL-002", "HL-003"]
    for grid, original in zip(grids, layer, strict=True):
        assert grid.geometry.equals(original.geometry)
    # KML ExtendedData holds text: values come back as strings, the name as the placemark's.
    assert grids[0].properties == {
        "name": "城东一",
        "grid_id": "HL-001",
        "area_ha": "4.5",
        "households": "12",
    }
    assert grids[2].properties["households"] == ""


def test_kml_lines_points_and_description(tmp_path: Path) -> None:
    features = [
        Feature(
            LineString([(120.1, 32.5), (120.2, 32.55)]), {"name": "canal", "description": "中干河"}
        ),
        Feature(Point(120.15, 32.52), {"name": "home"}),
    ]
    path = tmp_path / "misc.kml"
    write_kml(path, features, name="misc")
    back = read_features(path)
    assert [f.geometry.geom_type for f in back] == ["LineString", "Point"]
    assert back[0].geometry.equals(features[0].geometry)
    assert back[0].properties == {"name": "canal", "description": "中干河"}
    assert "<Document>" in path.read_text(encoding="utf-8")


def test_shapefile_round_trip(tmp_path: Path, layer) -> None:
    path = tmp_path / "grids.shp"
    write_shapefile(path, layer)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".cpg", ".dbf", ".prj", ".shp", ".shx"]
    assert CRS.from_wkt((tmp_path / "grids.prj").read_text()).to_epsg() == 4326
    grids = read_grids(path)
    assert [g.grid_id for g in grids] == ["HL-001", "HL-002", "HL-003"]
    for grid, original in zip(grids, layer, strict=True):
        assert grid.geometry.equals(original.geometry)
    assert grids[0].properties == {
        "grid_id": "HL-001",
        "name": "城东一",
        "area_ha": 4.5,
        "households": 12,
    }
    assert grids[2].properties["households"] is None


def test_zipped_shapefile_round_trip_with_long_field_names(tmp_path: Path) -> None:
    features = [
        Feature(
            LineString([(120.1, 32.5), (120.2, 32.5)]),
            {"centreline_name": "a", "centreline_note": "b"},
        ),
        Feature(LineString([(120.1, 32.6), (120.2, 32.6)]), {"centreline_name": "c", "flag": True}),
    ]
    path = tmp_path / "lines.zip"
    write_shapefile(path, features)
    back = read_features(path)
    assert [f.geometry.geom_type for f in back] == ["LineString", "LineString"]
    assert back[0].properties == {"centreline": "a", "centreli_1": "b", "flag": None}
    assert back[1].properties["flag"] is True


def test_points_and_multipoints_share_a_multipoint_file(tmp_path: Path) -> None:
    features = [
        Feature(Point(120.1, 32.5), {"n": 1}),
        Feature(shapely.MultiPoint([(120.2, 32.5), (120.3, 32.5)]), {"n": 2}),
    ]
    write_shapefile(tmp_path / "pts.shp", features)
    back = read_features(tmp_path / "pts.shp")
    assert [len(f.geometry.geoms) for f in back] == [1, 2]


def test_shapefile_refuses_mixed_types_and_nothing(tmp_path: Path, square: Polygon) -> None:
    mixed = [Feature(square, {}), Feature(Point(120.1, 32.5), {})]
    with pytest.raises(FormatError, match=r"one geometry type.*Point, Polygon"):
        write_shapefile(tmp_path / "mixed.shp", mixed)
    with pytest.raises(FormatError, match="no features"):
        write_shapefile(tmp_path / "empty.shp", [])
    with pytest.raises(FormatError, match=r"\.shp or \.zip"):
        write_shapefile(tmp_path / "grids.gpkg", [Feature(square, {})])


def test_unwritable_target_is_a_format_error(tmp_path: Path, square: Polygon) -> None:
    with pytest.raises(FormatError, match="cannot be written"):
        write_geojson(tmp_path / "missing" / "out.geojson", [Feature(square, {})])


def test_shapefile_number_column_with_nan_reads_back_empty(tmp_path: Path, square: Polygon) -> None:
    moved = shapely.affinity.translate(square, 0.02)
    features = [Feature(square, {"score": 0.25}), Feature(moved, {"score": float("nan")})]
    write_shapefile(tmp_path / "s.shp", features)
    assert [f.properties["score"] for f in read_features(tmp_path / "s.shp")] == [0.25, None]
