"""Grid layers for a plan: areas and corridor lines together, and shapes across longitude 180°."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box, mapping

from gis.errors import CoordinateError, FormatError, GeometryError
from gis.io import Feature, read_grids, read_lines, read_no_fly

ROAD = LineString([(120.12, 32.50), (120.13, 32.505)])


def _layer(path: Path, *pairs: tuple[object, dict]) -> Path:
    features = [
        {"type": "Feature", "properties": props, "geometry": mapping(geometry)}
        for geometry, props in pairs
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


def test_lines_are_grids_beside_the_polygons_when_asked(tmp_path: Path, square: Polygon) -> None:
    path = _layer(
        tmp_path / "mixed.geojson",
        (square, {"grid_id": "g"}),
        (ROAD, {"name": "road"}),
        (Point(120.1, 32.5), {"name": "marker"}),
    )
    grids = read_grids(path, lines=True)
    assert [(g.grid_id, g.geometry.geom_type) for g in grids] == [
        ("g", "Polygon"),
        ("road", "LineString"),
    ]
    assert grids[1].properties == {"name": "road"}
    # by default a grid layer is its polygons, as the ground station imports it
    assert [g.grid_id for g in read_grids(path)] == ["g"]


def test_a_line_grid_is_numbered_and_checked_with_the_polygons(square: Polygon) -> None:
    grids = read_grids([Feature(square, {}), Feature(ROAD, {})], lines=True)
    assert [g.grid_id for g in grids] == ["1", "2"]
    with pytest.raises(FormatError, match="grid id 'x' is used by features 1 and 2"):
        read_grids([Feature(square, {"name": "x"}), Feature(ROAD, {"name": "x"})], lines=True)
    joined = MultiLineString(
        [[(120.12, 32.50), (120.13, 32.50)], [(120.13, 32.50), (120.13, 32.51)]]
    )
    (merged,) = read_grids([Feature(joined, {"name": "canal"})], lines=True)
    assert isinstance(merged.geometry, LineString)
    apart = MultiLineString([[(120.12, 32.50), (120.13, 32.50)], [(120.14, 32.50), (120.15, 32.5)]])
    with pytest.raises(GeometryError, match=r"grid canal.*2 disconnected parts"):
        read_grids([Feature(apart, {"name": "canal"})], lines=True)


def test_a_layer_of_markers_holds_no_grids_or_lines() -> None:
    with pytest.raises(
        FormatError, match=r"holds no polygon grids or centre lines \(found 1 Point"
    ):
        read_grids([Feature(Point(120.1, 32.5), {})], lines=True)


ACROSS = box(179.99, 50.0, 180.01, 50.01)  # past +180
WRAPPED = Polygon([(179.99, 50.0), (-179.99, 50.0), (-179.99, 50.01), (179.99, 50.01)])


@pytest.mark.parametrize(
    ("shape", "west", "east"),
    [(ACROSS, "179.99", "180.01"), (WRAPPED, "-179.99", "179.99")],
)
def test_a_grid_across_longitude_180_is_named_as_such(tmp_path: Path, shape, west, east) -> None:
    path = _layer(tmp_path / "g.geojson", (shape, {"grid_id": "Chukotka"}))
    with pytest.raises(CoordinateError) as caught:
        read_grids(path)
    text = str(caught.value)
    assert text.startswith(f"grid Chukotka in {path}: crosses longitude 180° (the antimeridian)")
    assert f"longitudes from {west} to {east}" in text and "not supported" in text
    assert "projected metres" not in text


def test_zones_and_lines_across_longitude_180_are_named_as_such() -> None:
    with pytest.raises(CoordinateError, match=r"no-fly zone 'z'.*antimeridian"):
        read_no_fly([Feature(ACROSS, {"name": "z"})])
    across = LineString([(179.99, 50.0), (180.02, 50.0)])
    with pytest.raises(CoordinateError, match=r"line 'river'.*antimeridian"):
        read_lines([Feature(across, {"name": "river"})])
    with pytest.raises(CoordinateError, match=r"grid river.*antimeridian"):
        read_grids([Feature(across, {"name": "river"})], lines=True)


def test_projected_metres_and_swaps_keep_their_own_messages() -> None:
    metres = box(40_509_000, 3_597_000, 40_510_000, 3_598_000)
    with pytest.raises(CoordinateError, match="projected metres"):
        read_grids([Feature(metres, {"name": "GK"})])
    swapped = box(32.50, 120.10, 32.51, 120.11)
    with pytest.raises(CoordinateError, match="swapped"):
        read_grids([Feature(swapped, {"name": "S"})])


@pytest.mark.parametrize(("lat", "pole"), [(89.99, "North"), (-89.5, "South")])
def test_a_polygon_around_a_pole_is_named_as_such(lat: float, pole: str) -> None:
    """Its longitudes span 360°, which read as crossing longitude 180°: the pole is the problem."""
    around = Polygon([(0, lat), (90, lat), (180, lat), (-90, lat)])
    with pytest.raises(CoordinateError) as caught:
        read_grids([Feature(around, {"grid_id": "P"})], origin="poles.geojson")
    assert str(caught.value).startswith(f"grid P in poles.geojson: encloses the {pole} Pole")
    assert "antimeridian" not in str(caught.value)


def test_grid_ids_are_checked_when_asked_before_their_shapes(square: Polygon) -> None:
    """A plan refuses the ids the ground station refuses; a bad id is never printed raw, even
    in another error."""
    from gis.grids import check_grid_id

    bowtie = Polygon([(120.1, 32.5), (120.11, 32.51), (120.11, 32.5), (120.1, 32.51)])
    bad = [Feature(bowtie, {"grid_id": "<b>\x00"})]
    with pytest.raises(FormatError, match=r"^the given features: grid id '<b>\\x00' holds markup"):
        read_grids(bad, check_ids=True)
    with pytest.raises(GeometryError, match=r"^grid '<b>\\x00' in the given features: invalid"):
        read_grids(bad)  # unchecked (the station checks after reading): quoted, escaped
    with pytest.raises(FormatError, match=r"grid ids 'G' and 'g' differ only in case"):
        read_grids(
            [Feature(square, {"grid_id": "g"}), Feature(square, {"grid_id": "G"})], check_ids=True
        )
    for refused in ("a/b", "a,b", "...", "x\u200b\x7f"):
        with pytest.raises(FormatError):
            check_grid_id(refused)
    for accepted in ("JY-01", "泰州_3", "a.b"):
        check_grid_id(accepted)
