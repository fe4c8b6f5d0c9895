"""KML preview of a plan for Google Earth and GIS tools, written with :mod:`xml.etree`; write only.

Folders: Route (the whole route, plus its legs styled by camera trigger: orange where the distance
trigger is on, grey transit elsewhere), Waypoints (numbered by mission sequence, with the command
name), Home, Geofence (green inclusion, red exclusion; circles drawn as polygons), Rally points and
Extra (the caller's geometries with their properties as ExtendedData). Route altitudes are metres
above home, written as ``relativeToGround`` (KML has no "above home" mode). Text is UTF-8 and
escaped by the XML writer, so Chinese grid names survive; characters XML cannot hold are dropped.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shapely.geometry import (
    GeometryCollection,
    LinearRing,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
)
from shapely.geometry.base import BaseGeometry

from gis.errors import GisError
from missions.errors import PlanFileError
from missions.formats._io import write_bytes
from missions.formats._preview import (
    build_preview,
    circle_polygon,
    extra_features,
    fence_polygon,
)
from missions.items import MissionPlan

__all__ = ["KML_NAMESPACE", "plan_to_kml", "write_kml"]

KML_NAMESPACE = "http://www.opengis.net/kml/2.2"
_WHAT = "KML preview"

#: Style id -> (line colour, line width, fill colour or None, icon colour or None); KML colours are
#: aabbggrr hex.
_STYLES: dict[str, tuple[str, float, str | None, str | None]] = {
    "route": ("ffff8000", 2.0, None, None),
    "camera": ("ff00a5ff", 4.0, None, None),
    "transit": ("ffb0b0b0", 2.0, None, None),
    "fence-inclusion": ("ff00ff00", 2.0, "4000ff00", None),
    "fence-exclusion": ("ff0000ff", 2.0, "400000ff", None),
    "home": ("ffffffff", 1.0, None, "ffffffff"),
    "waypoint": ("ffff8000", 1.0, None, "ffff8000"),
    "rally": ("ffff00ff", 1.0, None, "ffff00ff"),
    "extra": ("ff00ffff", 2.0, "2000ffff", "ff00ffff"),
}
#: Characters XML 1.0 cannot contain, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def write_kml(
    path: str | os.PathLike[str],
    plan: MissionPlan,
    *,
    extra: Sequence[tuple[BaseGeometry, Mapping[str, Any]]] = (),
) -> None:
    """Write the KML preview of ``plan`` plus ``extra`` (WGS84 geometry, properties) pairs."""
    try:
        root = plan_to_kml(plan, extra=extra)
    except (PlanFileError, GisError) as exc:
        raise PlanFileError(f"{path}: cannot write {_WHAT}: {exc}") from exc
    ET.indent(root)
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    write_bytes(path, data + b"\n", what=_WHAT)


def plan_to_kml(
    plan: MissionPlan, *, extra: Sequence[tuple[BaseGeometry, Mapping[str, Any]]] = ()
) -> ET.Element:
    """The preview as a ``<kml>`` element tree (default namespace KML 2.2)."""
    preview = build_preview(plan)
    checked_extra = extra_features(extra)
    root = ET.Element("kml", {"xmlns": KML_NAMESPACE})
    document = _sub(root, "Document")
    _sub(document, "name", plan.name or "GridPatrol mission")
    for style_id, (line, width, fill, icon) in _STYLES.items():
        _style(document, style_id, line=line, width=width, fill=fill, icon=icon)

    route = _folder(document, "Route")
    if len(preview.route) >= 2:
        placemark = _placemark(route, plan.name or "Route", "route", {"kind": "route"})
        _line(placemark, preview.route, relative=True)
    for number, leg in enumerate(preview.legs, start=1):
        title = f"Leg {number}: camera {'on' if leg.camera else 'off'}"
        style = "camera" if leg.camera else "transit"
        placemark = _placemark(route, title, style, {"kind": "leg", "camera": leg.camera})
        _line(placemark, leg.coordinates, relative=True)

    waypoints = _folder(document, "Waypoints")
    for mark in preview.marks:
        data = {
            "kind": "waypoint",
            "index": mark.seq,
            "command": mark.command,
            "command_name": mark.name,
            "frame": mark.frame,
            "altitude_m": mark.altitude_m,
        }
        placemark = _placemark(waypoints, f"{mark.seq} {mark.name}", "waypoint", data)
        _point(placemark, mark.coordinate, relative=True)

    home_lat, home_lon, home_alt = plan.home
    home = _folder(document, "Home")
    placemark = _placemark(home, "Home", "home", {"kind": "home", "altitude_amsl_m": home_alt})
    _point(placemark, (home_lon, home_lat, 0.0), relative=True)

    fence = _folder(document, "Geofence")
    for number, polygon in enumerate(plan.fence_polygons, start=1):
        kind = "inclusion" if polygon.inclusion else "exclusion"
        data = {"kind": "fence", "shape": "polygon", "inclusion": polygon.inclusion}
        placemark = _placemark(fence, f"Fence {number} ({kind})", f"fence-{kind}", data)
        _geometry(placemark, fence_polygon(polygon))
    for number, circle in enumerate(plan.fence_circles, start=1):
        kind = "inclusion" if circle.inclusion else "exclusion"
        data = {
            "kind": "fence",
            "shape": "circle",
            "inclusion": circle.inclusion,
            "radius_m": circle.radius_m,
        }
        placemark = _placemark(fence, f"Fence circle {number} ({kind})", f"fence-{kind}", data)
        _geometry(placemark, circle_polygon(circle))

    rally = _folder(document, "Rally points")
    for number, (lat, lon, alt) in enumerate(plan.rally_points, start=1):
        data = {"kind": "rally", "index": number, "altitude_m": alt}
        placemark = _placemark(rally, f"Rally {number}", "rally", data)
        _point(placemark, (lon, lat, alt), relative=True)

    if checked_extra:
        extras = _folder(document, "Extra")
        for number, (geometry, properties) in enumerate(checked_extra, start=1):
            title = properties.get("name") or properties.get("grid_id") or f"Extra {number}"
            placemark = _placemark(extras, str(title), "extra", properties)
            _geometry(placemark, geometry)
    return root


# --------------------------------------------------------------------------------------------
# Element helpers


def _text(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = ""
    elif isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return _NOT_XML.sub("", text)


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = _text(text)
    return element


def _style(
    document: ET.Element,
    style_id: str,
    *,
    line: str,
    width: float,
    fill: str | None,
    icon: str | None,
) -> None:
    style = ET.SubElement(document, "Style", {"id": style_id})
    if icon is not None:
        icon_style = _sub(style, "IconStyle")
        _sub(icon_style, "color", icon)
        _sub(icon_style, "scale", "1.0")
    line_style = _sub(style, "LineStyle")
    _sub(line_style, "color", line)
    _sub(line_style, "width", repr(width))
    poly_style = _sub(style, "PolyStyle")
    if fill is None:
        _sub(poly_style, "fill", "0")
    else:
        _sub(poly_style, "color", fill)


def _folder(document: ET.Element, name: str) -> ET.Element:
    folder = _sub(document, "Folder")
    _sub(folder, "name", name)
    return folder


def _placemark(folder: ET.Element, name: str, style: str, data: Mapping[str, Any]) -> ET.Element:
    placemark = _sub(folder, "Placemark")
    _sub(placemark, "name", name)
    _sub(placemark, "styleUrl", f"#{style}")
    if not data:
        return placemark
    extended = _sub(placemark, "ExtendedData")
    for key, value in data.items():
        item = ET.SubElement(extended, "Data", {"name": _text(key)})
        _sub(item, "value", value)
    return placemark


def _coordinates(points: Iterable[Sequence[float]]) -> str:
    return " ".join(",".join(repr(float(v)) for v in point) for point in points)


def _altitude_mode(element: ET.Element, relative: bool) -> None:
    _sub(element, "altitudeMode", "relativeToGround" if relative else "clampToGround")


def _point(parent: ET.Element, coordinate: Sequence[float], *, relative: bool = False) -> None:
    point = _sub(parent, "Point")
    _altitude_mode(point, relative)
    _sub(point, "coordinates", _coordinates([coordinate]))


def _line(
    parent: ET.Element, coordinates: Iterable[Sequence[float]], *, relative: bool = False
) -> None:
    line = _sub(parent, "LineString")
    _sub(line, "tessellate", "0" if relative else "1")
    _altitude_mode(line, relative)
    _sub(line, "coordinates", _coordinates(coordinates))


def _ring(parent: ET.Element, ring: LinearRing) -> None:
    element = _sub(parent, "LinearRing")
    _sub(element, "coordinates", _coordinates(ring.coords))


def _geometry(parent: ET.Element, geometry: BaseGeometry) -> None:
    """Append the KML form of a shapely geometry (clamped to the ground); empty adds nothing."""
    if geometry.is_empty:
        return
    if isinstance(geometry, Point):
        _point(parent, geometry.coords[0])
    elif isinstance(geometry, LineString):  # LinearRing included
        _line(parent, geometry.coords)
    elif isinstance(geometry, Polygon):
        polygon = _sub(parent, "Polygon")
        _sub(polygon, "tessellate", "1")
        _altitude_mode(polygon, False)
        _ring(_sub(polygon, "outerBoundaryIs"), geometry.exterior)
        for hole in geometry.interiors:
            _ring(_sub(polygon, "innerBoundaryIs"), hole)
    elif isinstance(geometry, MultiPoint | MultiLineString | MultiPolygon | GeometryCollection):
        multi = _sub(parent, "MultiGeometry")
        for part in geometry.geoms:
            _geometry(multi, part)
    else:  # pragma: no cover - shapely has no other geometry types
        raise PlanFileError(f"cannot draw a {geometry.geom_type} in KML")
