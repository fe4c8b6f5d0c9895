"""Polygon and line validation: each common input mistake becomes an error naming the feature."""

from __future__ import annotations

import pytest
import shapely
from shapely.affinity import translate
from shapely.geometry import (
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPolygon,
    Point,
    Polygon,
)

from gis.crs import LocalFrame
from gis.errors import CoordinateError, GeometryError
from gis.shapes import check_lonlat, validate_area, validate_line

BOWTIE = Polygon([(120.10, 32.50), (120.11, 32.51), (120.11, 32.50), (120.10, 32.51)])


def test_valid_polygon_passes_unchanged(holed: Polygon) -> None:
    assert validate_area(holed, name="g1").equals(holed)


def test_multipolygon_passes(square: Polygon) -> None:
    parts = MultiPolygon([square, translate(square, 0.02, 0.0)])
    assert validate_area(parts, name="g1").equals(parts)


def test_collection_of_polygons_becomes_a_multipolygon(square: Polygon) -> None:
    result = validate_area(GeometryCollection([square, translate(square, 0.02)]), name="g1")
    assert isinstance(result, MultiPolygon) and len(result.geoms) == 2


def test_z_coordinates_are_dropped(square: Polygon) -> None:
    raised = shapely.force_3d(square, 5.0)
    assert raised.has_z
    assert not validate_area(raised, name="g1").has_z


def test_bowtie_is_rejected_with_the_crossing_point() -> None:
    with pytest.raises(GeometryError) as caught:
        validate_area(BOWTIE, name="grid 'g7'")
    message = str(caught.value)
    assert "grid 'g7'" in message
    assert "self-intersection at lon 120.105" in message and "lat 32.505" in message


def test_hole_outside_shell_is_rejected(square: Polygon) -> None:
    stray = translate(square, 0.05).exterior.coords
    with pytest.raises(GeometryError, match="g2: invalid polygon: hole lies outside shell"):
        validate_area(Polygon(square.exterior.coords, [stray]), name="g2")


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (None, "no geometry"),
        (Polygon(), "empty"),
        (Point(120.1, 32.5), "is a Point"),
        (LineString([(120.1, 32.5), (120.2, 32.5)]), "is a LineString"),
        (GeometryCollection([Point(120.1, 32.5)]), "is a GeometryCollection"),
        ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "not a geometry"),
    ],
)
def test_non_polygonal_input_is_rejected(geometry: object, message: str) -> None:
    with pytest.raises(GeometryError, match=message) as caught:
        validate_area(geometry, name="grid 'g3'")  # type: ignore[arg-type]
    assert "grid 'g3'" in str(caught.value)


def test_degenerate_ring_is_rejected() -> None:
    flat = Polygon([(120.1, 32.5), (120.2, 32.5), (120.3, 32.5), (120.1, 32.5)])
    with pytest.raises(GeometryError, match="g4"):
        validate_area(flat, name="g4")


def test_zero_area_ring_is_called_zero_area_not_self_intersecting(square: Polygon) -> None:
    flat = Polygon([(120.1, 32.5), (120.2, 32.5), (120.3, 32.5), (120.1, 32.5)])
    for geometry in (flat, MultiPolygon([square, flat])):
        with pytest.raises(GeometryError) as caught:
            validate_area(geometry, name="g4")
        message = str(caught.value)
        assert message.startswith("g4: polygon has zero area") and "intersection" not in message


def test_swapped_taizhou_is_detected(square: Polygon) -> None:
    swapped = shapely.transform(square, lambda c: c[:, ::-1])  # (32.5, 120.1): latitude first
    with pytest.raises(CoordinateError, match="swapped") as caught:
        validate_area(swapped, name="grid 'taizhou'")
    assert "grid 'taizhou'" in str(caught.value)


def test_swap_inside_both_ranges_is_detected_through_chinas_box() -> None:
    # Kashgar (75.99 E, 39.47 N) written lat-first reads as (39.47, 75.99): in range, not in China.
    kashgar = Polygon([(39.47, 75.99), (39.48, 75.99), (39.48, 76.00), (39.47, 76.00)])
    with pytest.raises(CoordinateError, match=r"swapped.*lon 75\.99"):
        check_lonlat(kashgar, name="kashgar")


def test_projected_metres_are_detected(square: Polygon) -> None:
    # The same square in a CGCS2000-like Gauss-Krüger frame: hundreds of kilometres of metres.
    metres = translate(LocalFrame(120.0, 0.0).to_local(square), 500_000.0, 0.0)
    with pytest.raises(CoordinateError, match="projected metres") as caught:
        validate_area(metres, name="grid 'gk'")
    assert "grid 'gk'" in str(caught.value) and "EPSG:4326" in str(caught.value)


def test_non_finite_coordinates_are_detected() -> None:
    with pytest.raises(CoordinateError, match="NaN"):
        check_lonlat(Point(float("nan"), 32.5), name="p")


def test_places_outside_china_are_not_called_swapped() -> None:
    for lon, lat in [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9)]:
        check_lonlat(Point(lon, lat), name="elsewhere")


def test_line_passes_and_merges_touching_parts() -> None:
    line = LineString([(120.10, 32.50), (120.11, 32.51)])
    assert validate_line(line, name="river").equals(line)
    joined = MultiLineString(
        [[(120.10, 32.50), (120.11, 32.51)], [(120.11, 32.51), (120.12, 32.5)]]
    )
    merged = validate_line(joined, name="river")
    assert isinstance(merged, LineString) and len(merged.coords) == 3


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (
            MultiLineString([[(120.1, 32.5), (120.11, 32.5)], [(120.2, 32.5), (120.21, 32.5)]]),
            "2 disconnected parts",
        ),
        (LineString([(120.1, 32.5), (120.1, 32.5)]), "zero length"),
        (Polygon([(120.1, 32.5), (120.2, 32.5), (120.2, 32.6)]), "is a Polygon"),
        (LineString([(32.5, 120.1), (32.6, 120.1)]), "swapped"),
        (LineString(), "empty"),
    ],
)
def test_bad_lines_are_rejected(geometry: object, message: str) -> None:
    with pytest.raises((GeometryError, CoordinateError), match=message) as caught:
        validate_line(geometry, name="line 'canal'")  # type: ignore[arg-type]
    assert "line 'canal'" in str(caught.value)
