"""Vector files in and out: GeoJSON, KML/KMZ and ESRI Shapefile, and the grid layer built from them.

Reading turns any supported file (or an uploaded file's bytes) into plain :class:`Feature` records
in WGS84 lon/lat; :func:`read_grids`, :func:`read_no_fly` and :func:`read_lines` then pick and
validate what a plan needs. Every problem with the input surfaces as :class:`gis.errors.FormatError`
(the file itself) or as the :mod:`gis.shapes` errors (a feature's geometry), each naming the file
and the feature. XML is parsed with defusedxml because KML arrives as web uploads.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import logging
import math
import os
import re
import struct
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import shapefile
import shapely
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from pyproj import CRS, Transformer
from pyproj.enums import WktVersion
from pyproj.exceptions import CRSError
from shapely.errors import ShapelyError
from shapely.geometry import (
    GeometryCollection,
    LinearRing,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    mapping,
    shape,
)
from shapely.geometry.base import BaseGeometry

from gis.errors import CoordinateError, FormatError
from gis.grids import Grid, check_grid_id, check_grid_ids, shown_grid_id
from gis.messages import Message, msg
from gis.shapes import check_lonlat, validate_area, validate_line

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Feature",
    "FeatureSource",
    "features_to_geojson_dict",
    "read_features",
    "read_features_bytes",
    "read_grids",
    "read_lines",
    "line_ids",
    "missing_attribute_table",
    "read_no_fly",
    "write_geojson",
    "write_kml",
    "write_shapefile",
]

#: File name endings :func:`read_features` understands (a .zip holds one shapefile, KML or GeoJSON).
SUPPORTED_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".kml", ".kmz", ".shp", ".zip")

KML_NAMESPACE = "http://www.opengis.net/kml/2.2"
NO_FLY_KIND = "no_fly_zone"

_WGS84 = CRS.from_epsg(4326)
_GEOJSON_GEOMETRIES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
_KML_GEOMETRIES = frozenset({"Point", "LineString", "LinearRing", "Polygon", "MultiGeometry"})
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
#: Zip/KMZ guards against bombs in uploads: the most bytes the members read from one archive may
#: inflate to (their sizes as declared, which zipfile never reads past), and the most entries.
_MAX_INFLATED_BYTES = 256 * 1024 * 1024
_MAX_ZIP_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Feature:
    """One geometry (2-D, WGS84 lon/lat) with its attributes, as read from or written to a file."""

    geometry: BaseGeometry
    properties: dict[str, Any] = field(default_factory=dict)


#: What the layer readers accept: a file path, or features already read (e.g. from an upload).
FeatureSource = str | os.PathLike[str] | Sequence[Feature]


# --------------------------------------------------------------------------------------- reading


def read_features(path: str | os.PathLike[str]) -> list[Feature]:
    """Every feature of a GeoJSON, KML, KMZ, Shapefile (.shp beside its .dbf/.prj) or zip file."""
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise FormatError(msg("%(path)s: is a directory", path=path))
        raise FormatError(msg("%(path)s: does not exist", path=path))
    suffix = path.suffix.lower()
    if suffix == ".shp":
        return _read_shapefile(_shapefile_siblings(path), source=str(path))
    return _parse(_read_bytes(path), suffix, source=str(path))


def read_features_bytes(data: bytes, filename: str) -> list[Feature]:
    """Like :func:`read_features` for an upload's content; the format follows ``filename``'s suffix.

    A lone .shp upload has no .dbf or .prj: its shapes are read without attributes, as WGS84.
    """
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix == ".shp":
        return _read_shapefile({".shp": data}, source=filename)
    return _parse(data, suffix, source=filename)


def missing_attribute_table(data: bytes, filename: str) -> str | None:
    """The name of the .dbf (attribute table) an upload's shapefile lacks, else None.

    A shapefile read without its .dbf has shapes but no attributes (ids, names), which the
    readers accept (grids are then numbered by position); a caller that needs the attributes
    names the missing file with this instead of blaming each feature. None too for uploads that
    are no shapefile or that :func:`read_features_bytes` refuses anyway.
    """
    name = PurePosixPath(filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".shp":  # a lone .shp upload never brings its siblings
        return name[: -len(suffix)] + ".dbf"
    if suffix != ".zip":
        return None
    try:
        with _open_zip(data, source=name) as archive:
            names = _zip_names(archive)
    except FormatError:
        return None
    shps = [n for n in names if n.lower().endswith(".shp")]
    if len(shps) != 1:
        return None
    stem = shps[0][:-4]
    if any(n[: len(stem)] == stem and n[len(stem) :].lower() == ".dbf" for n in names):
        return None
    return PurePosixPath(stem).name + ".dbf"


def read_grids(
    source: FeatureSource,
    *,
    id_property: str | None = None,
    skip_kinds: Iterable[str] = (NO_FLY_KIND,),
    lines: bool = False,
    left_out: Counter[str] | None = None,
    origin: str | None = None,
    check_ids: bool = False,
) -> list[Grid]:
    """The grid layer: one validated :class:`Grid` per polygonal feature, in file order.

    With ``check_ids``, ids must also be fit to show and to name a grid in the ground station
    (:func:`gis.grids.check_grid_ids`: no markup or control characters, none differing only in
    case); they are checked before the geometries, so no message prints a bad id raw.

    The id comes from ``id_property`` when given (it must then be present on every grid), else
    ``grid_id``, else ``name``, else the feature's 1-based position in the file. Features whose
    ``kind`` is in ``skip_kinds`` (no-fly zones sharing the layer) and non-polygonal features
    (markers, lines) are not grids and are left out; a layer without any polygon grid, or with one
    id used twice, is a FormatError.

    With ``lines=True`` line features are grids too (corridor centre lines, validated as one
    continuous LineString, see :func:`gis.shapes.validate_line`), numbered and checked for unique
    ids together with the polygons, so a plan gets every area and every line of a mixed layer.
    ``left_out``, when given, counts the features left out, for the caller to tell the user:
    non-polygonal ones by geometry type (``Point``, ``LineString``), those of a skipped kind by
    that kind (``no_fly_zone``). ``origin`` is what messages call features given in memory
    (an upload's file name); a path names itself.
    """
    features, origin = _features_from(source, origin)
    skip = frozenset(skip_kinds)
    grids: list[Grid] = []
    seen: dict[str, int] = {}
    folded: dict[str, list[str]] = {}
    others: Counter[str] = Counter()
    for index, feature in enumerate(features, 1):
        properties = feature.properties
        kind = _id_text(_lookup(properties, "kind"))
        if kind in skip:
            others[kind] += 1  # e.g. no-fly zones sharing the layer: not grids, and said so
            continue
        is_line = lines and isinstance(feature.geometry, LineString | MultiLineString)
        if not (is_line or _is_polygonal(feature.geometry)):
            others[feature.geometry.geom_type] += 1
            continue
        grid_id = _grid_id(properties, index, id_property=id_property, origin=origin)
        if grid_id in seen:
            raise FormatError(
                msg(
                    "%(origin)s: grid id %(id)r is used by features %(first)d and %(second)d; "
                    "grid ids must be unique",
                    origin=origin,
                    id=grid_id,
                    first=seen[grid_id],
                    second=index,
                )
            )
        seen[grid_id] = index
        if check_ids:  # this id, and against the ids before it for case
            try:
                check_grid_ids([*folded.pop(grid_id.casefold(), ()), grid_id])
            except FormatError as exc:
                raise FormatError(
                    msg("%(origin)s: %(problem)s", origin=origin, problem=exc.args[0])
                ) from None
            folded[grid_id.casefold()] = [grid_id]
        name = msg("grid %(id)s in %(origin)s", id=_id_shown(grid_id), origin=origin)
        _check_antimeridian(feature.geometry, name=name)
        if is_line:
            geometry: BaseGeometry = validate_line(feature.geometry, name=name)
        else:
            geometry = validate_area(feature.geometry, name=name)
        grids.append(Grid(grid_id, geometry, dict(properties)))
    if left_out is not None:
        left_out.update(others)
    if not grids:
        found = _found(others, len(features))
        if lines:
            raise FormatError(
                msg(
                    "%(origin)s: holds no polygon grids or centre lines%(found)s",
                    origin=origin,
                    found=found,
                )
            )
        raise FormatError(
            msg("%(origin)s: holds no polygon grids%(found)s", origin=origin, found=found)
        )
    return grids


def line_ids(
    source: FeatureSource,
    *,
    skip_kinds: Iterable[str] = (NO_FLY_KIND,),
    origin: str | None = None,
) -> list[str]:
    """The ids of a layer's line features (LineString, MultiLineString) not of a kind in
    ``skip_kinds``, as :func:`read_grids` with ``lines=True`` names them, without checking the
    lines: what a reader that takes areas only names when it refuses the layer, before any
    centre-line check (a flight route that crosses itself is still a line, not a bad corridor)."""
    features, origin = _features_from(source, origin)
    skip = frozenset(skip_kinds)
    return [
        _grid_id(feature.properties, index, id_property=None, origin=origin)
        for index, feature in enumerate(features, 1)
        if isinstance(feature.geometry, LineString | MultiLineString)
        and _id_text(_lookup(feature.properties, "kind")) not in skip
    ]


def read_no_fly(
    source: FeatureSource,
    *,
    origin: str | None = None,
    skipped: Counter[str] | None = None,
) -> list[Polygon]:
    """Validated no-fly polygons (MultiPolygons split into their parts).

    When any feature carries a ``kind`` property the file is taken to mix layers, and only
    features of kind ``no_fly_zone`` count: the others are skipped, and ``skipped``, when given,
    counts them by kind (``(no kind)`` for those without one). Non-polygonal features are ignored;
    a file with features but no no-fly polygon among them is a FormatError that says which
    features were skipped and why, unless a skipped polygon's coordinates are no WGS84 lon/lat
    (projected, swapped), which is the error then. An empty file-level collection is no zones.
    ``origin`` names features given in memory, as for :func:`read_grids`.
    """
    features, origin = _features_from(source, origin)
    if not features:
        return []
    numbered = list(enumerate(features, 1))
    kinds = [_id_text(_lookup(feature.properties, "kind")) for feature in features]
    passed_over: list[tuple[int, Feature]] = []
    other_kinds: Counter[str] = Counter()
    if any(kind is not None for kind in kinds):
        pairs = list(zip(numbered, kinds, strict=True))
        numbered = [item for item, kind in pairs if kind == NO_FLY_KIND]
        passed_over = [item for item, kind in pairs if kind != NO_FLY_KIND]
        other_kinds.update(kind or "(no kind)" for _, kind in pairs if kind != NO_FLY_KIND)
    if skipped is not None:
        skipped.update(other_kinds)
    zones: list[Polygon] = []
    others: Counter[str] = Counter()
    for index, feature in numbered:
        if not _is_polygonal(feature.geometry):
            others[feature.geometry.geom_type] += 1
            continue
        label = _no_fly_label(feature, index, origin)
        _check_antimeridian(feature.geometry, name=label)
        area = validate_area(feature.geometry, name=label)
        zones.extend(area.geoms if isinstance(area, MultiPolygon) else [area])
    if not zones:
        for index, feature in passed_over:  # coordinate errors first: no kind fixes those
            if _is_polygonal(feature.geometry):
                label = _no_fly_label(feature, index, origin)
                _check_antimeridian(feature.geometry, name=label)
                check_lonlat(feature.geometry, name=label)
        if other_kinds:
            raise FormatError(
                msg(
                    "%(origin)s: holds no no-fly polygons: features whose kind property is "
                    "not %(kind)s are skipped, and %(count)d of its %(total)d features are "
                    "(%(kinds)s); set kind to %(kind)s on the no-fly zones, or remove the kind "
                    "property",
                    origin=origin,
                    kind=NO_FLY_KIND,
                    count=other_kinds.total(),
                    total=len(features),
                    kinds=", ".join(f"{n} {k}" for k, n in sorted(other_kinds.items())),
                )
            )
        raise FormatError(
            msg(
                "%(origin)s: holds no no-fly polygons%(found)s",
                origin=origin,
                found=_found(others, len(features)),
            )
        )
    return zones


def _no_fly_label(feature: Feature, index: int, origin: object) -> Message:
    return msg(
        "no-fly zone %(id)r in %(origin)s",
        id=_feature_name(feature.properties, index),
        origin=origin,
    )


def read_lines(source: FeatureSource, *, origin: str | None = None) -> list[Feature]:
    """Validated corridor centre lines: one LineString feature per line feature, properties kept.

    Other geometry types are ignored; a file with no line at all is a FormatError. ``origin``
    names features given in memory, as for :func:`read_grids`.
    """
    features, origin = _features_from(source, origin)
    lines: list[Feature] = []
    others: Counter[str] = Counter()
    for index, feature in enumerate(features, 1):
        if not isinstance(feature.geometry, LineString | MultiLineString):
            others[feature.geometry.geom_type] += 1
            continue
        label = msg(
            "line %(id)r in %(origin)s", id=_feature_name(feature.properties, index), origin=origin
        )
        _check_antimeridian(feature.geometry, name=label)
        line = validate_line(feature.geometry, name=label)
        lines.append(Feature(line, dict(feature.properties)))
    if not lines:
        found = _found(others, len(features))
        raise FormatError(
            msg("%(origin)s: holds no LineString centre lines%(found)s", origin=origin, found=found)
        )
    return lines


def _features_from(
    source: FeatureSource, origin: str | None = None
) -> tuple[list[Feature], str | Message]:
    if isinstance(source, str | os.PathLike):
        return read_features(source), origin or str(source)
    features = list(source)
    for feature in features:
        if not isinstance(feature, Feature):
            raise TypeError(f"expected gis.io.Feature objects, got {type(feature).__name__}")
    return features, origin or msg("the given features")


def _check_antimeridian(geometry: BaseGeometry, *, name: object) -> None:
    """CoordinateError for a shape across longitude 180° (the antimeridian), which no plan's
    local frame can hold: longitudes past ±180 (179.9 to 180.1, or 0-360° longitudes) with
    latitudes in range, or longitudes that jump from one side to the other (-179.9 and 179.9: a
    span of more than 180°). Anything else is left to :func:`gis.shapes.check_lonlat`."""
    coords = shapely.get_coordinates(geometry)
    if coords.size == 0 or not np.isfinite(coords).all():
        return
    west, east = float(coords[:, 0].min()), float(coords[:, 0].max())
    if float(np.abs(coords[:, 1]).max()) > 90.0 or max(-west, east) > 360.0:
        return  # swapped or projected coordinates: check_lonlat names them
    past = west < -180.0 or east > 180.0
    pole = None if past else _enclosed_pole(geometry)
    if pole == "north":
        raise CoordinateError(
            msg(
                "%(name)s: encloses the North Pole (its outline goes all the way round in "
                "longitude); shapes around a pole are not supported",
                name=name,
            )
        )
    if pole == "south":
        raise CoordinateError(
            msg(
                "%(name)s: encloses the South Pole (its outline goes all the way round in "
                "longitude); shapes around a pole are not supported",
                name=name,
            )
        )
    if past or east - west > 180.0:
        raise CoordinateError(
            msg(
                "%(name)s: crosses longitude 180° (the antimeridian), with longitudes from "
                "%(west)s to %(east)s; shapes across the antimeridian are not supported",
                name=name,
                west=f"{west:g}",
                east=f"{east:g}",
            )
        )


def _enclosed_pole(geometry: BaseGeometry) -> str | None:
    """``north`` or ``south`` if a polygon's outline winds once round the pole (its longitude
    steps, each the short way round, add up to ±360°), else None."""
    polygons = getattr(geometry, "geoms", [geometry])
    for polygon in polygons:
        if not isinstance(polygon, Polygon):
            continue
        coords = np.asarray(polygon.exterior.coords)
        steps = (np.diff(coords[:, 0]) + 180.0) % 360.0 - 180.0
        if abs(float(steps.sum())) > 180.0:
            return "north" if float(coords[:, 1].mean()) > 0 else "south"
    return None


def _is_polygonal(geometry: BaseGeometry) -> bool:
    if isinstance(geometry, Polygon | MultiPolygon):
        return True
    return (
        isinstance(geometry, GeometryCollection)
        and not geometry.is_empty
        and all(isinstance(part, Polygon | MultiPolygon) for part in geometry.geoms)
    )


def _grid_id(
    properties: Mapping[str, Any], index: int, *, id_property: str | None, origin: str | Message
) -> str:
    if id_property is not None:
        value = _id_text(_lookup(properties, id_property))
        if value is None:
            raise FormatError(
                msg(
                    "%(origin)s: feature %(index)s has no %(name)r property (its id)",
                    origin=origin,
                    index=index,
                    name=id_property,
                )
            )
        return value
    for key in ("grid_id", "name"):
        value = _id_text(_lookup(properties, key))
        if value is not None:
            return value
    return str(index)


def _id_shown(grid_id: str) -> str:
    """A grid id as messages name it: as it is, or quoted and escaped when it is not fit to
    print (markup, control characters)."""
    try:
        check_grid_id(grid_id)
    except FormatError:
        return shown_grid_id(grid_id)
    return grid_id


def _lookup(properties: Mapping[str, Any], key: str) -> Any:
    """A property by name, else ignoring case (Shapefile columns are often GRID_ID, NAME)."""
    if key in properties:
        return properties[key]
    wanted = key.casefold()
    return next((v for k, v in properties.items() if str(k).casefold() == wanted), None)


def _id_text(value: Any) -> str | None:
    """An attribute as an id: None for missing/blank; 12.0 (a Shapefile number) reads as '12'."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _feature_name(properties: Mapping[str, Any], index: int) -> str:
    for key in ("name", "grid_id"):
        value = _id_text(_lookup(properties, key))
        if value is not None:
            return value
    return f"feature {index}"


#: Geometry type names as messages name them: messages, so that the ground station shows them
#: in its reader's language (other names, such as a feature's kind, are shown as they are).
_GEOMETRY_TYPE_NAMES: dict[str, Message] = {
    "Point": msg("Point"),
    "MultiPoint": msg("MultiPoint"),
    "LineString": msg("LineString"),
    "MultiLineString": msg("MultiLineString"),
    "LinearRing": msg("LinearRing"),
    "Polygon": msg("Polygon"),
    "MultiPolygon": msg("MultiPolygon"),
    "GeometryCollection": msg("GeometryCollection"),
}


def _found(others: Counter[str], total: int) -> object:
    if not total:
        return msg(" (it has no features)")
    if not others:
        return ""
    entries = [
        msg("%(count)d %(type)s", count=n, type=_GEOMETRY_TYPE_NAMES.get(kind, kind))
        for kind, n in sorted(others.items())
    ]
    found = entries[-1]
    for entry in reversed(entries[:-1]):  # "1 Point, 2 LineString": each part translated
        found = msg("%(first)s, %(rest)s", first=entry, rest=found)
    return msg(" (found %(found)s)", found=found)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FormatError(
            msg("%(path)s: cannot be read: %(reason)s", path=path, reason=exc.strerror or exc)
        ) from None


def _parse(data: bytes, suffix: str, *, source: str) -> list[Feature]:
    if not data.strip():
        raise FormatError(msg("%(source)s: file is empty", source=source))
    if suffix in (".geojson", ".json"):
        return _read_geojson(data, source=source)
    if suffix == ".kml":
        return _read_kml(data, source=source)
    if suffix == ".kmz":
        return _read_kmz(data, source=source)
    if suffix == ".zip":
        return _read_zip(data, source=source)
    raise FormatError(
        msg(
            "%(source)s: unsupported file type %(suffix)r; expected one of %(known)s",
            source=source,
            suffix=suffix or "(no suffix)",
            known=", ".join(SUPPORTED_SUFFIXES),
        )
    )


# --- GeoJSON


#: The json module's error kinds (its English ``msg``) in words the ground station translates.
_JSON_PROBLEMS: dict[str, Message] = {
    "Expecting value": msg("a value is expected"),
    "Expecting property name enclosed in double quotes": msg(
        "a property name in double quotes is expected"
    ),
    "Expecting ':' delimiter": msg("a colon (:) is expected"),
    "Expecting ',' delimiter": msg("a comma (,) is expected"),
    # the file ended inside the string (a line break in it is a control character)
    "Unterminated string starting at": msg(
        "a string starting here runs to the end of the file (cut short?)"
    ),
    "Invalid control character at": msg("a control character (a tab or line break) in a string"),
    "Invalid \\escape": msg("an invalid backslash escape in a string"),
    "Invalid \\uXXXX escape": msg("an invalid backslash escape in a string"),
    "Extra data": msg("more text after the end of the JSON"),
}


def _json_problem(exc: json.JSONDecodeError) -> Message:
    """What is wrong at the error's place, in translatable words (never the parser's English)."""
    if exc.pos >= len(exc.doc.rstrip()):
        return msg("the file ends before the JSON does (cut short?)")
    return _JSON_PROBLEMS.get(exc.msg, msg("a character JSON does not allow here"))


def _read_geojson(data: bytes, *, source: str) -> list[Feature]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FormatError(
            msg("%(source)s: not UTF-8 text (at byte %(at)d)", source=source, at=exc.start)
        ) from None
    except json.JSONDecodeError as exc:
        raise FormatError(
            msg(
                "%(source)s: not valid JSON at line %(line)d column %(column)d: %(problem)s",
                source=source,
                line=exc.lineno,
                column=exc.colno,
                problem=_json_problem(exc),
            )
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise FormatError(
            msg(
                "%(source)s: not GeoJSON: the top level must be an object with a 'type'",
                source=source,
            )
        )
    kind = document["type"]
    if kind == "FeatureCollection":
        members = document.get("features")
        if not isinstance(members, list):
            raise FormatError(
                msg("%(source)s: FeatureCollection has no 'features' list", source=source)
            )
        features = [_geojson_feature(m, i, source=source) for i, m in enumerate(members, 1)]
    elif kind == "Feature":
        features = [_geojson_feature(document, 1, source=source)]
    elif kind == "GeometryCollection":
        members = document.get("geometries")
        if not isinstance(members, list):
            raise FormatError(
                msg("%(source)s: GeometryCollection has no 'geometries' list", source=source)
            )
        features = [
            Feature(
                _geojson_geometry(
                    m, label=msg("%(source)s: geometry %(index)d", source=source, index=i)
                )
            )
            for i, m in enumerate(members, 1)
        ]
    elif kind in _GEOJSON_GEOMETRIES:
        label = msg("%(source)s: geometry", source=source)
        features = [Feature(_geojson_geometry(document, label=label))]
    else:
        raise FormatError(
            msg("%(source)s: not GeoJSON: unknown type %(kind)r", source=source, kind=kind)
        )
    transformer = _geojson_crs(document.get("crs"), source=source)
    return _reprojected(features, transformer)


def _geojson_feature(member: Any, index: int, *, source: str) -> Feature:
    label = msg("%(source)s: feature %(index)d", source=source, index=index)
    if not isinstance(member, dict) or member.get("type") != "Feature":
        raise FormatError(msg("%(feature)s is not a GeoJSON Feature object", feature=label))
    properties = member.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise FormatError(msg("%(feature)s: 'properties' must be an object or null", feature=label))
    properties = dict(properties)
    if member.get("id") is not None:
        properties.setdefault("id", member["id"])
    name = _id_text(properties.get("name"))
    if name is not None:
        label = msg(
            "%(source)s: feature %(index)d (%(name)s)", source=source, index=index, name=repr(name)
        )
    return Feature(_geojson_geometry(member.get("geometry"), label=label), properties)


def _geojson_geometry(member: Any, *, label: Message) -> BaseGeometry:
    if member is None:
        raise FormatError(
            msg(
                "%(feature)s has no geometry (its geometry is null): give it one, or leave the "
                "feature out of the file",
                feature=label,
            )
        )
    kind = member.get("type") if isinstance(member, dict) else None
    if kind not in _GEOJSON_GEOMETRIES and kind != "GeometryCollection":
        raise FormatError(
            msg(
                "%(feature)s: not a GeoJSON geometry (type %(kind)s)",
                feature=label,
                kind=repr(kind),
            )
        )
    key = "geometries" if kind == "GeometryCollection" else "coordinates"
    if not isinstance(member.get(key), list):
        raise FormatError(
            msg(
                "%(feature)s: %(kind)s has no %(key)s list", feature=label, kind=kind, key=repr(key)
            )
        )
    if not _all_finite(member[key]):  # shapely would fail on them with a GEOS message
        raise FormatError(msg("%(name)s: coordinates contain NaN or infinite values", name=label))
    try:
        geometry = shape(member)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ShapelyError) as exc:
        raise FormatError(
            msg(
                "%(feature)s: malformed %(kind)s coordinates: %(detail)s",
                feature=label,
                kind=kind,
                detail=str(exc),
            )
        ) from None
    return shapely.force_2d(geometry)


def _all_finite(value: Any) -> bool:
    """Whether GeoJSON coordinates (or a collection's geometries) hold no NaN or infinite
    number (``NaN``, ``Infinity``: Python's JSON reads them); walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, float) and not math.isfinite(item):
            return False
    return True


def _geojson_crs(member: Any, *, source: str) -> Transformer | None:
    """A transformer to WGS84 for the (pre-RFC 7946) named ``crs`` member, None for lon/lat."""
    if member is None:
        return None
    try:
        name = member["properties"]["name"]
        crs = CRS.from_user_input(name)
    except (TypeError, KeyError, CRSError) as exc:
        raise FormatError(
            msg(
                "%(source)s: unreadable 'crs' member %(member)r: %(detail)s",
                source=source,
                member=member,
                detail=str(exc),
            )
        ) from None
    return _to_wgs84(crs)


# --- KML / KMZ


def _read_kmz(data: bytes, *, source: str) -> list[Feature]:
    with _open_zip(data, source=source) as archive:
        names = [n for n in _zip_names(archive) if n.lower().endswith(".kml")]
        if not names:
            raise FormatError(msg("%(source)s: KMZ archive holds no .kml document", source=source))
        # The KMZ convention: the root doc.kml, else the first .kml nearest the root.
        name = min(names, key=lambda n: (n.lower() != "doc.kml", n.count("/"), n))
        (data,) = _zip_members(archive, [name], source=source)
        return _read_kml(data, source=f"{source}:{name}")


def _read_kml(data: bytes, *, source: str) -> list[Feature]:
    try:
        root = fromstring(data)
    except ParseError as exc:
        raise FormatError(
            msg("%(source)s: not well-formed XML: %(detail)s", source=source, detail=str(exc))
        ) from None
    except DefusedXmlException as exc:
        raise FormatError(
            msg(
                "%(source)s: refused unsafe XML (%(kind)s)",
                source=source,
                kind=type(exc).__name__,
            )
        ) from None
    if _local(root.tag) not in {"kml", "Document", "Folder", "Placemark"}:
        raise FormatError(
            msg(
                "%(source)s: not KML: the root element is <%(tag)s>",
                source=source,
                tag=_local(root.tag),
            )
        )
    features: list[Feature] = []
    placemarks = [el for el in root.iter() if _local(el.tag) == "Placemark"]
    for index, placemark in enumerate(placemarks, 1):
        properties = _kml_properties(placemark)
        label = (
            msg(
                "%(source)s: placemark %(index)d (%(name)r)",
                source=source,
                index=index,
                name=properties["name"],
            )
            if "name" in properties
            else msg("%(source)s: placemark %(index)d", source=source, index=index)
        )
        element = next((c for c in placemark if _local(c.tag) in _KML_GEOMETRIES), None)
        if element is None:
            continue  # a placemark without a geometry (a model, a track): nothing to plan over
        features.append(Feature(_kml_geometry(element, label=label), properties))
    return features


def _kml_properties(placemark: ET.Element) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key in ("name", "description"):
        element = _child(placemark, key)
        if element is not None and element.text and element.text.strip():
            properties[key] = element.text.strip()
    extended = _child(placemark, "ExtendedData")
    if extended is not None:
        for element in extended.iter():
            tag = _local(element.tag)
            key = element.get("name")
            if tag == "Data" and key:
                value = _child(element, "value")
                properties[key] = (value.text or "").strip() if value is not None else ""
            elif tag == "SimpleData" and key:
                properties[key] = (element.text or "").strip()
    return properties


def _kml_geometry(element: ET.Element, *, label: Message) -> BaseGeometry:
    tag = _local(element.tag)
    if tag == "Point":
        coords = _kml_coordinates(element, label=label)
        if len(coords) != 1:
            raise FormatError(
                msg(
                    "%(label)s: a Point needs exactly one coordinate, got %(count)d",
                    label=label,
                    count=len(coords),
                )
            )
        return Point(coords[0])
    if tag in ("LineString", "LinearRing"):
        coords = _kml_coordinates(element, label=label)
        if len(coords) < 2:
            raise FormatError(
                msg("%(label)s: a %(tag)s needs at least two coordinates", label=label, tag=tag)
            )
        return LineString(coords)
    if tag == "Polygon":
        return _kml_polygon(element, label=label)
    children = [child for child in element if _local(child.tag) in _KML_GEOMETRIES]
    parts = [_kml_geometry(child, label=label) for child in children]
    flat = [g for part in parts for g in getattr(part, "geoms", [part])]
    if flat and all(isinstance(g, Polygon) for g in flat):
        return MultiPolygon(flat)
    if flat and all(isinstance(g, LineString) for g in flat):
        return MultiLineString(flat)
    if flat and all(isinstance(g, Point) for g in flat):
        return MultiPoint(flat)
    return GeometryCollection(flat)


def _kml_polygon(element: ET.Element, *, label: Message) -> Polygon:
    outer = _child(element, "outerBoundaryIs")
    shell_ring = _child(outer, "LinearRing") if outer is not None else None
    if shell_ring is None:
        raise FormatError(msg("%(label)s: Polygon has no outerBoundaryIs/LinearRing", label=label))
    shell = _kml_coordinates(shell_ring, label=label)
    holes = [
        _kml_coordinates(ring, label=label)
        for inner in element
        if _local(inner.tag) == "innerBoundaryIs"
        for ring in inner
        if _local(ring.tag) == "LinearRing"
    ]
    try:
        return Polygon(shell, holes)
    except (ValueError, ShapelyError) as exc:
        raise FormatError(
            msg("%(label)s: malformed Polygon rings: %(detail)s", label=label, detail=str(exc))
        ) from None


def _kml_coordinates(element: ET.Element, *, label: Message) -> list[tuple[float, float]]:
    """``lon,lat[,alt]`` tuples separated by whitespace; the altitude is dropped."""
    holder = _child(element, "coordinates")
    if holder is None or not (holder.text or "").strip():
        raise FormatError(
            msg("%(label)s: <%(tag)s> has no coordinates", label=label, tag=_local(element.tag))
        )
    text = re.sub(r"\s*,\s*", ",", holder.text.strip())
    coords = []
    for token in text.split():
        values = token.split(",")
        try:
            if len(values) not in (2, 3):
                raise ValueError
            lon, lat = float(values[0]), float(values[1])
        except ValueError:
            raise FormatError(
                msg("%(label)s: malformed KML coordinate %(token)r", label=label, token=token)
            ) from None
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise FormatError(
                msg("%(name)s: coordinates contain NaN or infinite values", name=label)
            )
        coords.append((lon, lat))
    return coords


def _local(tag: Any) -> str:
    """An element's tag without its namespace (``{http://…/kml/2.2}Placemark`` -> ``Placemark``)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


# --- Shapefile and zip


def _shapefile_siblings(path: Path) -> dict[str, bytes]:
    """The .shp and whichever of .shx/.dbf/.prj/.cpg lie beside it (extension case ignored)."""
    parts = {".shp": _read_bytes(path)}
    for sibling in path.parent.iterdir():
        suffix = sibling.suffix.lower()
        same = sibling.stem.casefold() == path.stem.casefold()
        if same and suffix in _SHAPEFILE_PARTS and suffix != ".shp":
            parts[suffix] = _read_bytes(sibling)
    return parts


def _read_zip(data: bytes, *, source: str) -> list[Feature]:
    with _open_zip(data, source=source) as archive:
        names = _zip_names(archive)
        shps = [n for n in names if n.lower().endswith(".shp")]
        if len(shps) > 1:
            raise FormatError(
                msg(
                    "%(source)s: zip holds %(count)d shapefiles (%(names)s); upload one",
                    source=source,
                    count=len(shps),
                    names=", ".join(shps),
                )
            )
        if shps:
            stem = shps[0][:-4]
            members = [
                n
                for n in names
                if n[: len(stem)] == stem and n[len(stem) :].lower() in _SHAPEFILE_PARTS
            ]
            contents = _zip_members(archive, members, source=source)
            parts = {n[len(stem) :].lower(): c for n, c in zip(members, contents, strict=True)}
            return _read_shapefile(parts, source=f"{source}:{shps[0]}")
        readable = (".geojson", ".json", ".kml")
        others = [n for n in names if PurePosixPath(n).suffix.lower() in readable]
        if len(others) != 1:
            found = msg("%(count)d candidates", count=len(others)) if others else msg("none found")
            raise FormatError(
                msg(
                    "%(source)s: zip must hold exactly one shapefile, KML or GeoJSON file "
                    "(%(found)s)",
                    source=source,
                    found=found,
                )
            )
        name = others[0]
        (member,) = _zip_members(archive, [name], source=source)
        # a member is parsed as GeoJSON or KML only: archives inside archives are never opened
        return _parse(member, PurePosixPath(name).suffix.lower(), source=f"{source}:{name}")


def _open_zip(data: bytes, *, source: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FormatError(msg("%(source)s: not a valid zip archive", source=source)) from None
    if len(archive.infolist()) > _MAX_ZIP_ENTRIES:
        archive.close()
        raise FormatError(
            msg(
                "%(source)s: zip holds more than %(max)d entries",
                source=source,
                max=_MAX_ZIP_ENTRIES,
            )
        )
    return archive


def _zip_names(archive: zipfile.ZipFile) -> list[str]:
    """Member files, leaving out folders and macOS resource-fork litter."""
    return [
        n
        for n in archive.namelist()
        if not n.endswith("/")
        and not n.startswith("__MACOSX/")
        and not PurePosixPath(n).name.startswith("._")
    ]


def _zip_members(archive: zipfile.ZipFile, names: Sequence[str], *, source: str) -> list[bytes]:
    """The members' bytes, read into memory only (never extracted to disk, so member names and
    symlink entries touch no file); refused before reading if together they inflate too far."""
    total = sum(archive.getinfo(name).file_size for name in names)
    if total > _MAX_INFLATED_BYTES:
        raise FormatError(
            msg(
                "%(source)s: %(names)s would inflate to %(total)d bytes, more than the "
                "%(max)d MiB allowed (a zip bomb?)",
                source=source,
                names=", ".join(names),
                total=total,
                max=_MAX_INFLATED_BYTES // 2**20,
            )
        )
    contents = []
    for name in names:
        try:
            contents.append(archive.read(name))
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, ValueError) as exc:
            raise FormatError(
                msg(
                    "%(source)s: cannot extract %(name)s: %(detail)s",
                    source=source,
                    name=name,
                    detail=str(exc),
                )
            ) from None
    return contents


def _read_shapefile(parts: Mapping[str, bytes], *, source: str) -> list[Feature]:
    if not parts.get(".shp"):
        raise FormatError(msg("%(source)s: the .shp file is missing or empty", source=source))
    header = _shp_header_problem(parts[".shp"])
    if header is not None:
        raise FormatError(_unreadable_shapefile(source, header))
    parts, short = _declared_length_fixed(parts)
    transformer = _prj_transformer(parts[".prj"], source=source) if ".prj" in parts else None
    # A .cpg names the .dbf's encoding; without one try UTF-8, then GBK (Chinese GIS offices' ANSI).
    named = _cpg_encoding(parts[".cpg"], source=source) if ".cpg" in parts else None
    encodings = (named,) if named else ("utf-8", "gbk")
    for attempt, encoding in enumerate(encodings, 1):
        try:
            features = _shapefile_features(parts, encoding=encoding, source=source)
            break
        except shapefile.ShapefileException as exc:
            decoding = "decode" in str(exc).lower()
            if decoding and attempt < len(encodings):
                continue
            reason = (
                msg("its attribute table (.dbf) is not %(encoding)s text", encoding=encoding)
                if decoding and named
                else msg("its attribute table (.dbf) is neither UTF-8 nor GBK text")
                if decoding
                else short or msg("a .shp, .shx or .dbf part is damaged")
            )
            raise FormatError(_unreadable_shapefile(source, reason)) from exc
        except KeyError as exc:  # pyshp's lookup of a record's shape type
            reason = short or msg("a record has an unknown shape type (%(type)s)", type=exc.args[0])
            raise FormatError(_unreadable_shapefile(source, reason)) from exc
        except (struct.error, EOFError) as exc:
            reason = short or msg("a record runs past the end of the .shp, .shx or .dbf")
            raise FormatError(_unreadable_shapefile(source, reason)) from exc
        except (ValueError, TypeError, IndexError, LookupError, OSError) as exc:
            reason = short or msg("a .shp, .shx or .dbf part is damaged")
            raise FormatError(_unreadable_shapefile(source, reason)) from exc
    return _reprojected(features, transformer)


#: A .shp begins with the file code 9994 (big-endian) and is at least its 100-byte header long.
_SHP_FILE_CODE = 9994
_SHP_HEADER_BYTES = 100


def _shp_header_problem(shp: bytes) -> Message | None:
    """Why ``shp`` is no shapefile, judged from its header; None if it may be one."""
    if len(shp) < 4 or struct.unpack(">i", shp[:4])[0] != _SHP_FILE_CODE:
        return msg("it does not begin as a shapefile does")
    if len(shp) < _SHP_HEADER_BYTES:
        return msg(
            "it is cut short: %(size)d bytes, less than a shapefile's %(header)d-byte header",
            size=len(shp),
            header=_SHP_HEADER_BYTES,
        )
    return None


def _declared_length_fixed(
    parts: Mapping[str, bytes],
) -> tuple[Mapping[str, bytes], Message | None]:
    """``parts`` with the .shp header's file length set to the file's own (pyshp reads to the
    end of the file anyway, and would print a warning on stderr), and the reason to give if
    reading then fails: a file shorter than its header declares was cut short."""
    shp = parts[".shp"]
    declared = struct.unpack(">i", shp[24:28])[0] * 2
    if declared == len(shp):
        return parts, None
    short = None
    if declared > len(shp):
        short = msg(
            "it is cut short: %(size)d of the %(declared)d bytes its header declares",
            size=len(shp),
            declared=declared,
        )
    fixed = shp[:24] + struct.pack(">i", len(shp) // 2) + shp[28:]
    return {**parts, ".shp": fixed}, short


def _cpg_encoding(cpg: bytes, *, source: str) -> str | None:
    """The encoding a .cpg names (None for an empty one); FormatError if Python knows none."""
    name = cpg.decode("ascii", errors="replace").strip()
    if not name:
        return None
    try:  # ArcGIS writes code page numbers too: 936 for GBK, 65001 for UTF-8
        return codecs.lookup("cp" + name if name.isdigit() else name).name
    except LookupError:
        raise FormatError(
            msg(
                "%(source)s: the .cpg names an unknown encoding: %(detail)s",
                source=source,
                detail=name[:40],
            )
        ) from None


def _unreadable_shapefile(source: str, reason: Message) -> Message:
    return msg("%(source)s: not a readable shapefile (%(reason)s)", source=source, reason=reason)


@contextmanager
def _pyshp_quiet() -> Iterator[None]:
    """pyshp's warnings (logged, e.g. on ring orientation) kept out of the user's terminal."""
    logger = logging.getLogger("shapefile")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _shapefile_features(
    parts: Mapping[str, bytes], *, encoding: str | None, source: str
) -> list[Feature]:
    # the .cpg is read by _cpg_encoding: pyshp would warn on stderr of an empty one
    streams = {key[1:]: io.BytesIO(parts[key]) for key in (".shx", ".dbf") if key in parts}
    with shapefile.Reader(shp=io.BytesIO(parts[".shp"]), encoding=encoding, **streams) as reader:
        if "dbf" in streams:
            pairs = ((r.shape, r.record.as_dict()) for r in reader.iterShapeRecords())
        else:
            pairs = ((s, {}) for s in reader.iterShapes())
        features = []
        for index, (record_shape, properties) in enumerate(pairs, 1):
            if record_shape is None or record_shape.shapeType == shapefile.NULL:
                raise FormatError(
                    msg(
                        "%(source)s: record %(index)d has no geometry (a null shape)",
                        source=source,
                        index=index,
                    )
                )
            try:
                with _pyshp_quiet():  # its ring-orientation notes: validate_area judges the shape
                    geometry = shape(record_shape.__geo_interface__)
            except (ValueError, TypeError, KeyError, IndexError, ShapelyError) as exc:
                raise FormatError(
                    msg(
                        "%(source)s: record %(index)d: malformed shape: %(detail)s",
                        source=source,
                        index=index,
                        detail=str(exc),
                    )
                ) from None
            features.append(Feature(shapely.force_2d(geometry), properties))
    return features


def _prj_transformer(prj: bytes, *, source: str) -> Transformer | None:
    text = prj.decode("utf-8", errors="replace").strip()
    try:
        crs = CRS.from_wkt(text)
    except CRSError as exc:
        raise FormatError(
            msg(
                "%(source)s: its .prj is not a CRS pyproj can read: %(detail)s",
                source=source,
                detail=str(exc),
            )
        ) from None
    return _to_wgs84(crs)


def _to_wgs84(crs: CRS) -> Transformer | None:
    """None when ``crs`` already is WGS84 lon/lat (any axis order or ESRI spelling)."""
    if crs.equals(_WGS84, ignore_axis_order=True) or crs.to_epsg(min_confidence=90) == 4326:
        return None
    return Transformer.from_crs(crs, _WGS84, always_xy=True)


def _reprojected(features: list[Feature], transformer: Transformer | None) -> list[Feature]:
    if transformer is None:
        return features

    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return [Feature(shapely.transform(f.geometry, convert), f.properties) for f in features]


# --------------------------------------------------------------------------------------- writing


def features_to_geojson_dict(features: Iterable[Feature]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection (exterior rings counter-clockwise) ready for ``json.dumps``."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {str(k): _json_value(v) for k, v in f.properties.items()},
                "geometry": _geometry_dict(f.geometry),
            }
            for f in features
        ],
    }


def write_geojson(path: str | os.PathLike[str], features: Iterable[Feature]) -> None:
    """Write features as a UTF-8 GeoJSON FeatureCollection."""
    text = json.dumps(features_to_geojson_dict(features), ensure_ascii=False, indent=1)
    _write_bytes(Path(path), text.encode("utf-8"))


def write_kml(path: str | os.PathLike[str], features: Iterable[Feature], *, name: str) -> None:
    """Write features as a KML Document called ``name`` (zipped as doc.kml when path ends .kmz).

    Placemarks take their name from the ``name`` (else ``grid_id``) property and carry the other
    properties as ExtendedData; geometries are Polygons with holes, LineStrings and Points, with
    MultiGeometry for the multi-part kinds.
    """
    ET.register_namespace("", KML_NAMESPACE)
    root = ET.Element(_kml_tag("kml"))
    document = ET.SubElement(root, _kml_tag("Document"))
    ET.SubElement(document, _kml_tag("name")).text = name
    for index, feature in enumerate(features, 1):
        placemark = ET.SubElement(document, _kml_tag("Placemark"))
        ET.SubElement(placemark, _kml_tag("name")).text = _feature_name(feature.properties, index)
        description = feature.properties.get("description")
        if description is not None:
            ET.SubElement(placemark, _kml_tag("description")).text = str(description)
        extra = {k: v for k, v in feature.properties.items() if k not in ("name", "description")}
        if extra:
            extended = ET.SubElement(placemark, _kml_tag("ExtendedData"))
            for key, value in extra.items():
                data = ET.SubElement(extended, _kml_tag("Data"), name=str(key))
                ET.SubElement(data, _kml_tag("value")).text = _text_value(value)
        placemark.append(_kml_element(feature.geometry))
    tree = ET.ElementTree(root)
    ET.indent(tree, space=" ")
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    content = buffer.getvalue()
    target = Path(path)
    if target.suffix.lower() == ".kmz":
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("doc.kml", content)
        content = packed.getvalue()
    _write_bytes(target, content)


def write_shapefile(path: str | os.PathLike[str], features: Sequence[Feature]) -> None:
    """Write features as an ESRI Shapefile (.shp/.shx/.dbf, .prj WGS84, .cpg UTF-8).

    A shapefile holds one geometry type: polygons (Polygon/MultiPolygon), lines or points; mixing
    them is a FormatError. Field names are cut to the format's 10 bytes (kept unique). A path
    ending .zip writes the parts into one zip archive instead, the usual way to hand one over.
    """
    target = Path(path)
    if target.suffix.lower() not in (".shp", ".zip"):
        raise FormatError(
            msg("%(target)s: a shapefile path must end in .shp or .zip", target=target)
        )
    if not features:
        raise FormatError(
            msg("%(target)s: no features to write; a shapefile needs at least one", target=target)
        )
    shape_type = _shape_type(features, target=target)
    fields = _dbf_fields(features)
    streams = {key: io.BytesIO() for key in ("shp", "shx", "dbf")}
    try:
        with shapefile.Writer(shapeType=shape_type, encoding="utf-8", **streams) as writer:
            for dbf_name, kind, size, decimals, _ in fields:
                writer.field(dbf_name, kind, size, decimals)
            for feature in features:
                writer.shape(_shape_dict(feature.geometry, shape_type))
                writer.record(*(_dbf_value(feature.properties.get(f[4]), f) for f in fields))
    except (shapefile.ShapefileException, ValueError, TypeError) as exc:
        raise FormatError(
            msg("%(target)s: cannot write shapefile: %(detail)s", target=target, detail=str(exc))
        ) from None
    wkt = _WGS84.to_wkt(WktVersion.WKT1_ESRI)
    parts = {f".{key}": stream.getvalue() for key, stream in streams.items()}
    parts |= {".prj": wkt.encode("ascii"), ".cpg": b"UTF-8"}
    if target.suffix.lower() == ".zip":
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            for suffix, content in parts.items():
                archive.writestr(f"{target.stem}{suffix}", content)
        _write_bytes(target, packed.getvalue())
        return
    for suffix, content in parts.items():
        _write_bytes(target.with_suffix(suffix), content)


def _write_bytes(path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise FormatError(
            msg("%(path)s: cannot be written: %(reason)s", path=path, reason=exc.strerror or exc)
        ) from None


def _geometry_dict(geometry: BaseGeometry) -> dict[str, Any]:
    oriented = shapely.orient_polygons(geometry) if not geometry.is_empty else geometry
    return _lists(mapping(oriented))


def _lists(value: Any) -> Any:
    """Tuples (as shapely's mapping gives them) -> lists, recursively, for JSON and pyshp."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def _json_value(value: Any) -> Any:
    """A property value as plain JSON: numpy scalars unwrapped, dates ISO 8601, NaN -> null."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    return str(value)


def _text_value(value: Any) -> str:
    value = _json_value(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _kml_tag(name: str) -> str:
    return f"{{{KML_NAMESPACE}}}{name}"


def _kml_element(geometry: BaseGeometry) -> ET.Element:
    if isinstance(geometry, Point):
        element = ET.Element(_kml_tag("Point"))
        _kml_coordinate_text(element, geometry.coords)
    elif isinstance(geometry, LineString | LinearRing):
        element = ET.Element(_kml_tag("LineString"))
        _kml_coordinate_text(element, geometry.coords)
    elif isinstance(geometry, Polygon):
        element = ET.Element(_kml_tag("Polygon"))
        rings = [("outerBoundaryIs", geometry.exterior)]
        rings += [("innerBoundaryIs", ring) for ring in geometry.interiors]
        for boundary, ring in rings:
            holder = ET.SubElement(element, _kml_tag(boundary))
            _kml_coordinate_text(ET.SubElement(holder, _kml_tag("LinearRing")), ring.coords)
    else:
        element = ET.Element(_kml_tag("MultiGeometry"))
        for part in getattr(geometry, "geoms", []):
            element.append(_kml_element(part))
    return element


def _kml_coordinate_text(element: ET.Element, coords: Iterable[Sequence[float]]) -> None:
    text = " ".join(f"{c[0]!r},{c[1]!r}" for c in coords)
    ET.SubElement(element, _kml_tag("coordinates")).text = text


def _shape_type(features: Sequence[Feature], *, target: Path) -> int:
    kinds = {type(f.geometry) for f in features}
    if kinds <= {Polygon, MultiPolygon}:
        return shapefile.POLYGON
    if kinds <= {LineString, MultiLineString}:
        return shapefile.POLYLINE
    if kinds == {Point}:
        return shapefile.POINT
    if kinds <= {Point, MultiPoint}:
        return shapefile.MULTIPOINT
    names = ", ".join(sorted(k.__name__ for k in kinds))
    raise FormatError(
        msg(
            "%(target)s: a shapefile holds one geometry type (polygons, lines or points), "
            "got %(types)s",
            target=target,
            types=names,
        )
    )


def _shape_dict(geometry: BaseGeometry, shape_type: int) -> dict[str, Any]:
    if shape_type == shapefile.MULTIPOINT and isinstance(geometry, Point):
        geometry = MultiPoint([geometry])
    return _lists(mapping(shapely.force_2d(geometry)))


#: (dbf name, dbf type, size, decimals, property key) per column.
_Field = tuple[str, str, int, int, str]


def _dbf_fields(features: Sequence[Feature]) -> list[_Field]:
    keys: dict[str, None] = {}
    for feature in features:
        keys.update(dict.fromkeys(str(k) for k in feature.properties))
    fields: list[_Field] = []
    used: set[str] = set()
    for key in keys:
        converted = (_json_value(f.properties.get(key)) for f in features)
        values = [v for v in converted if v is not None]
        fields.append((_dbf_name(key, used), *_dbf_type(values), key))
    return fields


def _dbf_name(key: str, used: set[str]) -> str:
    """A unique field name of at most 10 UTF-8 bytes, cut on a character boundary."""
    base = _cut(key or "field", 10)
    candidate, number = base, 1
    while candidate.lower() in used:
        suffix = f"_{number}"
        candidate = _cut(base, 10 - len(suffix)) + suffix
        number += 1
    used.add(candidate.lower())
    return candidate


def _cut(text: str, size: int) -> str:
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def _dbf_type(values: list[Any]) -> tuple[str, int, int]:
    if values and all(isinstance(v, bool) for v in values):
        return "L", 1, 0
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if values and integers and all(abs(v) < 10**17 for v in values):
        return "N", 18, 0
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "F", 19, 11
    widths = [len(_text_value(v).encode("utf-8")) for v in values]
    return "C", max(1, min(254, max(widths, default=1))), 0


def _dbf_value(value: Any, column: _Field) -> Any:
    kind, size = column[1], column[2]
    value = _json_value(value)
    if kind == "C":
        return "" if value is None else _cut(_text_value(value), size)
    return value
