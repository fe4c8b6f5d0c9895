"""Validation of the shapes users hand us: grid areas, corridor centre lines and their coordinates.

Grids come from many tools (QGIS, Google Earth, a district's GIS office, hand-written GeoJSON),
and the usual mistakes are always the same: latitude and longitude swapped, coordinates left in a
projected CRS (metres), bow-tie polygons drawn by hand. Each check turns one of those into an error
that names the feature and says what is wrong, instead of a plan that flies somewhere else.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gis.errors import CoordinateError, GeometryError
from gis.messages import msg

__all__ = ["CHINA_BOUNDS", "check_lonlat", "validate_area", "validate_line"]

#: (west, south, east, north) of mainland China and its islands, degrees; used only to tell a
#: lat/lon swap from a genuine location when both readings are numerically possible.
CHINA_BOUNDS: tuple[float, float, float, float] = (73.0, 3.0, 136.0, 54.0)

_VALIDITY = re.compile(r"^(?P<reason>.*?)\[(?P<x>\S+) (?P<y>\S+)\]$")


def check_lonlat(geometry: BaseGeometry, *, name: object) -> None:
    """Raise :class:`CoordinateError` unless every coordinate reads as WGS84 (lon, lat) degrees.

    Detects non-finite values, projected coordinates (metres: values beyond ±180/±90) and a
    swapped axis order: latitude beyond ±90 while longitude fits ±90, or a location outside China
    whose swapped reading falls inside it (GridPatrol flies Chinese grids; GeoJSON, KML and
    Shapefile all store lon, lat).
    """
    coords = shapely.get_coordinates(geometry)
    if coords.size == 0:
        return
    if not np.isfinite(coords).all():
        raise CoordinateError(
            msg("%(name)s: coordinates contain NaN or infinite values", name=name)
        )
    xs, ys = coords[:, 0], coords[:, 1]
    max_x, max_y = float(np.abs(xs).max()), float(np.abs(ys).max())
    if max_x > 180.0 or max_y > 90.0:
        if max_x <= 90.0 and max_y <= 180.0:
            raise CoordinateError(
                msg(
                    "%(name)s: latitude and longitude look swapped: the second value reaches "
                    "%(value)s, beyond ±90, while the first stays within ±90; coordinates must "
                    "be in (longitude, latitude) order",
                    name=name,
                    value=f"{max_y:g}",
                )
            )
        raise CoordinateError(
            msg(
                "%(name)s: coordinates reach |x|=%(x)s, |y|=%(y)s, beyond WGS84 ±180/±90; they "
                "look like projected metres (e.g. UTM or CGCS2000 Gauss-Krüger): reproject to "
                "WGS84 longitude/latitude (EPSG:4326)",
                name=name,
                x=f"{max_x:.0f}",
                y=f"{max_y:.0f}",
            )
        )
    if not _inside(xs, ys, CHINA_BOUNDS) and _inside(ys, xs, CHINA_BOUNDS):
        lon = (float(xs.min()) + float(xs.max())) / 2
        lat = (float(ys.min()) + float(ys.max())) / 2
        raise CoordinateError(
            msg(
                "%(name)s: latitude and longitude look swapped: read as given the shape lies at "
                "lon %(lon)s, lat %(lat)s, outside China, but swapped it lies at lon %(lat)s, "
                "lat %(lon)s; coordinates must be in (longitude, latitude) order",
                name=name,
                lon=f"{lon:.4f}",
                lat=f"{lat:.4f}",
            )
        )


def validate_area(geometry: BaseGeometry | None, *, name: object) -> Polygon | MultiPolygon:
    """The geometry as a valid 2-D WGS84 Polygon or MultiPolygon, or GeometryError/CoordinateError.

    A GeometryCollection made only of polygons is merged into one MultiPolygon (KML MultiGeometry
    and GeoJSON GeometryCollection carry multi-part grids that way). Invalid polygons are rejected
    with the reason and place GEOS reports, not repaired: a self-intersecting grid boundary is a
    drawing mistake the district must fix, and guessing the intended shape plans the wrong area.
    """
    geometry = _require_geometry(geometry, name=name, wanted=msg("a Polygon or MultiPolygon"))
    if isinstance(geometry, GeometryCollection):
        parts = [part for part in geometry.geoms if not part.is_empty]
        if parts and all(isinstance(part, Polygon | MultiPolygon) for part in parts):
            geometry = MultiPolygon(
                [poly for part in parts for poly in getattr(part, "geoms", [part])]
            )
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise GeometryError(
            msg(
                "%(name)s: is a %(kind)s, expected a Polygon or MultiPolygon area",
                name=name,
                kind=geometry.geom_type,
            )
        )
    geometry = shapely.force_2d(geometry)
    check_lonlat(geometry, name=name)
    # Before validity: GEOS calls a ring whose corners lie on one line a self-intersection.
    if any(not part.convex_hull.area > 0.0 for part in shapely.get_parts(geometry)):
        raise GeometryError(
            msg("%(name)s: polygon has zero area (its corners lie on one line)", name=name)
        )
    if not geometry.is_valid:
        raise GeometryError(
            msg(
                "%(name)s: invalid polygon: %(reason)s",
                name=name,
                reason=_describe_invalidity(geometry),
            )
        )
    return geometry


def validate_line(geometry: BaseGeometry | None, *, name: object) -> LineString:
    """The geometry as one 2-D WGS84 LineString (a corridor centre line), or an error.

    A MultiLineString whose parts join end to end is merged into one line; disjoint parts are
    rejected, since a corridor scan follows one continuous centre line.
    """
    geometry = _require_geometry(geometry, name=name, wanted=msg("a LineString"))
    if isinstance(geometry, MultiLineString):
        merged = shapely.line_merge(geometry)
        if not isinstance(merged, LineString):
            count = len(getattr(merged, "geoms", []))
            raise GeometryError(
                msg(
                    "%(name)s: centre line has %(count)d disconnected parts; a corridor needs "
                    "one continuous LineString",
                    name=name,
                    count=count,
                )
            )
        geometry = merged
    if not isinstance(geometry, LineString):
        raise GeometryError(
            msg(
                "%(name)s: is a %(kind)s, expected a LineString centre line",
                name=name,
                kind=geometry.geom_type,
            )
        )
    geometry = shapely.force_2d(geometry)
    check_lonlat(geometry, name=name)
    coords = shapely.get_coordinates(geometry)
    if len(np.unique(coords, axis=0)) < 2 or not geometry.length > 0.0:
        raise GeometryError(
            msg("%(name)s: centre line has zero length (fewer than two distinct points)", name=name)
        )
    if not geometry.is_simple:
        lon, lat = _self_crossing(geometry)
        raise GeometryError(
            msg(
                "%(name)s: centre line crosses or touches itself near lon %(lon)s, lat %(lat)s; "
                "a corridor follows a line that never meets itself: split it into separate "
                "lines or draw the area as a polygon grid",
                name=name,
                lon=f"{lon:.5f}",
                lat=f"{lat:.5f}",
            )
        )
    return geometry


def _self_crossing(line: LineString) -> tuple[float, float]:
    """A point where a non-simple line meets itself: a node of the noded line where more than
    two of its pieces meet, else a repeated vertex."""
    ends = Counter(
        point
        for piece in getattr(shapely.node(line), "geoms", [])
        for point in (piece.coords[0], piece.coords[-1])
    )
    first, last = line.coords[0], line.coords[-1]
    for point, count in ends.items():
        if count > 2 or (count > 1 and point in (first, last) and first != last):
            return float(point[0]), float(point[1])
    seen: set[tuple[float, ...]] = set()
    for point in line.coords:
        if point in seen:
            return float(point[0]), float(point[1])
        seen.add(point)
    return float(first[0]), float(first[1])


def _require_geometry(
    geometry: BaseGeometry | None, *, name: object, wanted: object
) -> BaseGeometry:
    if geometry is None:
        raise GeometryError(
            msg("%(name)s: has no geometry, expected %(wanted)s", name=name, wanted=wanted)
        )
    if not isinstance(geometry, BaseGeometry):
        kind = type(geometry).__name__
        raise GeometryError(
            msg(
                "%(name)s: %(kind)s is not a geometry, expected %(wanted)s",
                name=name,
                kind=kind,
                wanted=wanted,
            )
        )
    if geometry.is_empty:
        raise GeometryError(
            msg("%(name)s: geometry is empty, expected %(wanted)s", name=name, wanted=wanted)
        )
    return geometry


#: GEOS's usual reasons, as translatable messages (others are shown as GEOS words them).
_REASONS = {
    "self-intersection": msg("self-intersection"),
    "ring self-intersection": msg("ring self-intersection"),
    "too few points": msg("too few points"),
    "hole lies outside shell": msg("hole lies outside shell"),
    "nested holes": msg("nested holes"),
    "nested shells": msg("nested shells"),
    "interior is disconnected": msg("interior is disconnected"),
    "duplicate rings": msg("duplicate rings"),
}


def _describe_invalidity(geometry: BaseGeometry) -> object:
    """GEOS's reason, with its location spelled as lon/lat (e.g. 'self-intersection at lon …')."""
    explanation = explain_validity(geometry)
    match = _VALIDITY.match(explanation)
    if match is None:
        return explanation
    reason = match["reason"].strip().lower()
    try:
        x, y = float(match["x"]), float(match["y"])
    except ValueError:
        return explanation
    return msg(
        "%(reason)s at lon %(lon)s, lat %(lat)s",
        reason=_REASONS.get(reason, reason),
        lon=f"{x:.7f}",
        lat=f"{y:.7f}",
    )


def _inside(xs: np.ndarray, ys: np.ndarray, bounds: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bounds
    return bool(
        (xs >= west).all() and (xs <= east).all() and (ys >= south).all() and (ys <= north).all()
    )
