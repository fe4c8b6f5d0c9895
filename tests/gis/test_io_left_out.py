"""What a grid layer holds besides grids is counted for the caller (no-fly zones by their kind,
markers by geometry type); features given in memory are named as the caller says; NaN
coordinates are said as such, not as a GEOS error."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from shapely.geometry import Point, Polygon, box

from gis.errors import FormatError, GeometryError
from gis.io import NO_FLY_KIND, Feature, read_features_bytes, read_grids, read_no_fly

SQUARE = box(120.10, 32.50, 120.11, 32.51)
EAST = box(120.11, 32.50, 120.12, 32.51)


def test_no_fly_zones_and_markers_are_counted_as_left_out() -> None:
    features = [
        Feature(SQUARE, {"grid_id": "G1"}),
        Feature(EAST, {"name": "school", "kind": NO_FLY_KIND}),
        Feature(EAST, {"name": "barracks", "kind": NO_FLY_KIND}),
        Feature(Point(120.105, 32.505), {"name": "label"}),
    ]
    left_out: Counter[str] = Counter()
    grids = read_grids(features, left_out=left_out)
    assert [g.grid_id for g in grids] == ["G1"]
    assert left_out == {NO_FLY_KIND: 2, "Point": 1}
    assert len(read_no_fly(features)) == 2  # the same layer still gives its zones


def test_features_in_memory_are_named_by_their_origin() -> None:
    bowtie = Polygon([(120.10, 32.50), (120.11, 32.51), (120.11, 32.50), (120.10, 32.51)])
    features = [Feature(bowtie, {"grid_id": "BOW"})]
    with pytest.raises(GeometryError, match=r"^grid BOW in district\.kml: invalid polygon"):
        read_grids(features, origin="district.kml")
    with pytest.raises(GeometryError, match="in the given features"):
        read_grids(features)  # no origin: as before


@pytest.mark.parametrize("closing", [True, False])
def test_nan_coordinates_in_geojson_are_said_as_such(closing) -> None:
    ring = [list(p) for p in SQUARE.exterior.coords]
    ring[0 if closing else 1][0] = float("nan")
    if closing:
        ring[-1][0] = float("nan")
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    data = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    with pytest.raises(FormatError) as caught:
        read_features_bytes(data, "g.geojson")
    assert str(caught.value) == "g.geojson: feature 1: coordinates contain NaN or infinite values"


def test_nan_coordinates_in_kml_are_said_as_such() -> None:
    kml = (
        b"<kml><Placemark><name>a</name><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        b"nan,32.5 120.11,32.5 120.11,32.51 nan,32.5</coordinates></LinearRing></outerBoundaryIs>"
        b"</Polygon></Placemark></kml>"
    )
    with pytest.raises(FormatError, match=r"placemark 1 \('a'\): coordinates contain NaN"):
        read_features_bytes(kml, "g.kml")


def test_a_null_geometry_says_what_to_do() -> None:
    data = b'{"type": "Feature", "properties": {"name": "g1"}, "geometry": null}'
    with pytest.raises(FormatError) as caught:
        read_features_bytes(data, "g.geojson")
    assert str(caught.value) == (
        "g.geojson: feature 1 ('g1') has no geometry (its geometry is null): give it one, or "
        "leave the feature out of the file"
    )
