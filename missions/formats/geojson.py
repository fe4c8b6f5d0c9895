"""GeoJSON preview of a plan (RFC 7946): route, camera legs, items, fence, rally, home and extras.

A FeatureCollection for GIS tools and web maps; not read back. Coordinates are ``[lon, lat, alt]``
with the altitude in metres above home (see :mod:`missions.formats._preview`). Every feature has a
``kind`` property: ``route``, ``leg`` (``camera: true`` where the distance trigger is on),
``waypoint`` (``index`` = mission sequence number, ``command``, ``command_name``), ``home``,
``fence`` (``inclusion``, ``shape`` polygon or circle), ``rally`` and ``extra`` (with the caller's
properties, e.g. grid outlines, cells or photo footprints; a ``kind`` among them wins). Polygons
follow the right-hand rule (exteriors counter-clockwise).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from gis.errors import GisError
from missions.errors import PlanFileError
from missions.formats._io import write_text
from missions.formats._preview import (
    build_preview,
    circle_polygon,
    extra_features,
    fence_polygon,
)
from missions.items import MissionPlan

__all__ = ["plan_to_geojson", "write_geojson"]

_WHAT = "GeoJSON preview"


def write_geojson(
    path: str | os.PathLike[str],
    plan: MissionPlan,
    *,
    extra: Sequence[tuple[BaseGeometry, Mapping[str, Any]]] = (),
) -> None:
    """Write the GeoJSON preview of ``plan`` plus ``extra`` (WGS84 geometry, properties) pairs."""
    try:
        collection = plan_to_geojson(plan, extra=extra)
        text = json.dumps(collection, ensure_ascii=False, allow_nan=False, indent=1)
    except (PlanFileError, GisError, ValueError) as exc:
        raise PlanFileError(f"{path}: cannot write {_WHAT}: {exc}") from exc
    write_text(path, text + "\n", what=_WHAT)


def plan_to_geojson(
    plan: MissionPlan, *, extra: Sequence[tuple[BaseGeometry, Mapping[str, Any]]] = ()
) -> dict[str, Any]:
    """The preview as a GeoJSON FeatureCollection dict (JSON-ready: no NaN, lists not tuples)."""
    preview = build_preview(plan)
    home_lat, home_lon, home_alt = plan.home
    features: list[dict[str, Any]] = []
    if len(preview.route) >= 2:
        features.append(
            _feature(_line(preview.route), {"kind": "route", "name": plan.name or "route"})
        )
    for leg in preview.legs:
        features.append(_feature(_line(leg.coordinates), {"kind": "leg", "camera": leg.camera}))
    for mark in preview.marks:
        properties = {
            "kind": "waypoint",
            "index": mark.seq,
            "command": mark.command,
            "command_name": mark.name,
            "frame": mark.frame,
            "altitude_m": mark.altitude_m,
        }
        point = {"type": "Point", "coordinates": list(mark.coordinate)}
        features.append(_feature(point, properties))
    features.append(
        _feature(
            {"type": "Point", "coordinates": [home_lon, home_lat, 0.0]},
            {"kind": "home", "index": 0, "altitude_amsl_m": home_alt},
        )
    )
    for fence in plan.fence_polygons:
        features.append(
            _feature(
                _geometry(fence_polygon(fence)),
                {"kind": "fence", "shape": "polygon", "inclusion": fence.inclusion},
            )
        )
    for circle in plan.fence_circles:
        properties = {
            "kind": "fence",
            "shape": "circle",
            "inclusion": circle.inclusion,
            "radius_m": circle.radius_m,
            "center": [circle.center[1], circle.center[0]],
        }
        features.append(_feature(_geometry(circle_polygon(circle)), properties))
    for index, (lat, lon, alt) in enumerate(plan.rally_points, start=1):
        features.append(
            _feature(
                {"type": "Point", "coordinates": [lon, lat, alt]},
                {"kind": "rally", "index": index, "altitude_m": alt},
            )
        )
    for geometry, properties in extra_features(extra):
        features.append(_feature(_geometry(geometry), {"kind": "extra", **properties}))
    return {"type": "FeatureCollection", "features": features}


def _feature(geometry: dict[str, Any] | None, properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": _clean(properties)}


def _line(coordinates: Sequence[tuple[float, float, float]]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [list(c) for c in coordinates]}


def _geometry(geometry: BaseGeometry) -> dict[str, Any] | None:
    if geometry.is_empty:
        return None
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    return _clean(mapping(oriented))


def _clean(value: Any) -> Any:
    """JSON-ready: tuples to lists, NaN/inf to null, numpy values to Python, others to text."""
    if isinstance(value, Mapping):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays
        return _clean(value.tolist())
    return str(value)
