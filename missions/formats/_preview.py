"""What the KML and GeoJSON previews draw, computed once from a plan (pure, no I/O).

The route starts at home on the ground, then visits every item that has a position, in mission
order. A take-off without a position climbs above the previous point, a landing without one
descends where the vehicle is, and return-to-launch flies back to home. Altitudes are metres above
home, converted from each item's frame, so one route can mix relative and AMSL items. Each leg of
the route knows whether the distance camera trigger (``DO_SET_CAM_TRIGG_DIST``, p1 > 0 on, p1 = 0
off) was on while it was flown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from gis.crs import LocalFrame
from missions.errors import PlanFileError
from missions.items import Command, FenceCircle, FencePolygon, MissionItem, MissionPlan

__all__ = [
    "Leg",
    "Mark",
    "Preview",
    "build_preview",
    "circle_polygon",
    "command_name",
    "extra_features",
    "fence_polygon",
]

#: Frames whose altitude is above home / above mean sea level / above terrain (MAV_FRAME values).
_RELATIVE_FRAMES = frozenset({3, 6})
_AMSL_FRAMES = frozenset({0, 5})
_TERRAIN_FRAMES = frozenset({10, 11})
_POSITION_FRAMES = _RELATIVE_FRAMES | _AMSL_FRAMES | _TERRAIN_FRAMES
#: MAV_CMD values below this are NAV commands: the only ones whose lat/lon is a place to fly.
_FIRST_NON_NAV_COMMAND = 100
_CIRCLE_SEGMENTS = 64

Coordinate = tuple[float, float, float]  # lon, lat, metres above home


@dataclass(frozen=True, slots=True)
class Mark:
    """A mission item drawn as a point: its sequence number (home is 0) and what it does."""

    seq: int
    command: int
    name: str
    frame: int
    altitude_m: float  # as stored in the item, in its own frame
    coordinate: Coordinate


@dataclass(frozen=True, slots=True)
class Leg:
    """A run of consecutive route legs flown with the camera trigger on (or off)."""

    coordinates: tuple[Coordinate, ...]
    camera: bool


@dataclass(frozen=True, slots=True)
class Preview:
    """The drawable parts of a plan: route, camera legs and item marks."""

    route: tuple[Coordinate, ...]
    legs: tuple[Leg, ...]
    marks: tuple[Mark, ...]


def command_name(command: int) -> str:
    """``NAV_WAYPOINT`` for 16 and so on; ``MAV_CMD_<n>`` for commands without a name here."""
    try:
        return Command(int(command)).name
    except ValueError:
        return f"MAV_CMD_{int(command)}"


def build_preview(plan: MissionPlan) -> Preview:
    """Route, camera legs and marks of ``plan`` (see the module docstring for the rules)."""
    home_lat, home_lon, home_alt = plan.home
    route: list[Coordinate] = [(home_lon, home_lat, 0.0)]
    camera_flags: list[bool] = []  # one per leg route[i] -> route[i + 1]
    marks: list[Mark] = []
    camera = False
    for seq, item in enumerate(plan.items, start=1):
        command = int(item.command)
        if command == Command.DO_SET_CAM_TRIGG_DIST:
            distance = item.params[0]
            camera = math.isfinite(distance) and distance > 0
            continue
        last_lon, last_lat, last_alt = route[-1]
        position = _position(item, home_alt)
        if position is not None:
            altitude = last_alt if math.isnan(position[2]) else position[2]
            vertex = (position[0], position[1], altitude)
            marks.append(
                Mark(seq, command, command_name(command), int(item.frame), item.alt, vertex)
            )
        elif command == Command.NAV_TAKEOFF:
            climb = _relative_altitude(item, home_alt)
            vertex = (last_lon, last_lat, last_alt if math.isnan(climb) else climb)
        elif command == Command.NAV_LAND:
            vertex = (last_lon, last_lat, 0.0)
        elif command == Command.NAV_RETURN_TO_LAUNCH:
            vertex = (home_lon, home_lat, 0.0)
        else:
            continue
        route.append(vertex)
        camera_flags.append(camera)
    return Preview(route=tuple(route), legs=_legs(route, camera_flags), marks=tuple(marks))


def _position(item: MissionItem, home_alt: float) -> Coordinate | None:
    """(lon, lat, metres above home) of a NAV item with a real position, else None."""
    if int(item.command) >= _FIRST_NON_NAV_COMMAND or int(item.frame) not in _POSITION_FRAMES:
        return None
    if not (math.isfinite(item.lat) and math.isfinite(item.lon)):
        return None
    if item.lat == 0.0 and item.lon == 0.0:  # "here": ArduPilot's convention for no position
        return None
    return (item.lon, item.lat, _relative_altitude(item, home_alt))


def _relative_altitude(item: MissionItem, home_alt: float) -> float:
    if int(item.frame) in _AMSL_FRAMES:
        return item.alt - home_alt
    return item.alt  # relative, or above terrain (drawn as above home: no terrain model here)


def _legs(route: Sequence[Coordinate], flags: Sequence[bool]) -> tuple[Leg, ...]:
    legs: list[Leg] = []
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            legs.append(Leg(coordinates=tuple(route[start : i + 1]), camera=flags[start]))
            start = i
    return tuple(legs)


def fence_polygon(fence: FencePolygon) -> Polygon:
    """A fence polygon as a WGS84 (lon, lat) shapely polygon."""
    return Polygon([(lon, lat) for lat, lon in fence.points])


def circle_polygon(circle: FenceCircle) -> Polygon:
    """A fence circle as a WGS84 polygon, buffered in a metric frame centred on it."""
    lat, lon = circle.center
    frame = LocalFrame(lon, lat)
    disc = Point(0.0, 0.0).buffer(circle.radius_m, quad_segs=_CIRCLE_SEGMENTS // 4)
    return frame.to_wgs84(disc)


def extra_features(
    extra: Sequence[tuple[BaseGeometry, Mapping[str, Any]]],
) -> list[tuple[BaseGeometry, dict[str, Any]]]:
    """Check the caller's extra (geometry, properties) pairs; errors name the pair's index."""
    checked = []
    for index, pair in enumerate(extra):
        try:
            geometry, properties = pair
        except (TypeError, ValueError):
            raise PlanFileError(f"extra[{index}] must be a (geometry, properties) pair") from None
        if not isinstance(geometry, BaseGeometry):
            found = type(geometry).__name__
            raise PlanFileError(f"extra[{index}] geometry is a {found}, not a shapely geometry")
        if not isinstance(properties, Mapping):
            found = type(properties).__name__
            raise PlanFileError(f"extra[{index}] properties are a {found}, not a mapping")
        checked.append((geometry, {str(key): value for key, value in properties.items()}))
    return checked
