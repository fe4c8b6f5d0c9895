"""Mission items and the mission plan a vehicle receives: mission list, geofence and rally points.

Items keep float degrees as written in plan files; conversion to degE7 happens only on the wire.
The plan's `items` never include home: ArduPilot's sequence 0 is added by the link when uploading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "Command",
    "Frame",
    "GLOBAL_FRAMES",
    "MissionType",
    "MissionItem",
    "position_problem",
    "FencePolygon",
    "FenceCircle",
    "MissionPlan",
    "fence_items",
    "rally_items",
]


class Command(IntEnum):
    """MAV_CMD values GridPatrol writes and reads."""

    NAV_WAYPOINT = 16
    NAV_LOITER_UNLIM = 17
    NAV_LOITER_TIME = 19
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    DO_CHANGE_SPEED = 178
    DO_SET_HOME = 179
    DO_DIGICAM_CONTROL = 203
    DO_SET_CAM_TRIGG_DIST = 206
    NAV_FENCE_RETURN_POINT = 5000
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


class Frame(IntEnum):
    """MAV_FRAME values used in missions."""

    GLOBAL = 0  # altitude above mean sea level
    MISSION = 2  # no position
    GLOBAL_RELATIVE_ALT = 3  # altitude above home


#: MAV_FRAMEs whose x, y are latitude and longitude (the _INT and terrain variants included).
GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})


class MissionType(IntEnum):
    """MAV_MISSION_TYPE: the three lists a vehicle stores."""

    MISSION = 0
    FENCE = 1
    RALLY = 2


@dataclass(frozen=True, slots=True)
class MissionItem:
    """One MAVLink mission item: command, frame, params 1-4 (NaN allowed), position in degrees."""

    command: int
    frame: int = Frame.GLOBAL_RELATIVE_ALT
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    lat: float = 0.0
    lon: float = 0.0
    alt: float = 0.0
    autocontinue: bool = True

    def same_as(self, other: MissionItem, *, position_tolerance_deg: float = 1e-7) -> bool:
        """Equal as a vehicle stores it: command, frame, params (NaN == NaN), position to 1e-7°."""
        return (
            int(self.command) == int(other.command)
            and int(self.frame) == int(other.frame)
            and all(_float_equal(a, b) for a, b in zip(self.params, other.params, strict=True))
            and _position_equal(self.lat, other.lat, position_tolerance_deg)
            and _position_equal(self.lon, other.lon, position_tolerance_deg)
            and _float_equal(self.alt, other.alt, tolerance=1e-3)
            and bool(self.autocontinue) == bool(other.autocontinue)
        )


def _position_equal(a: float, b: float, tolerance_deg: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance_deg


def _float_equal(a: float, b: float, tolerance: float = 1e-4) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def position_problem(item: MissionItem) -> str | None:
    """Why a global-frame item's position is no WGS84 lat, lon (NaN, "unset", is fine); or None."""
    if item.frame not in GLOBAL_FRAMES:
        return None
    lat_ok = math.isnan(item.lat) or -90.0 <= item.lat <= 90.0
    lon_ok = math.isnan(item.lon) or -180.0 <= item.lon <= 180.0
    return None if lat_ok and lon_ok else f"({item.lat}, {item.lon}) is not a WGS84 lat, lon"


@dataclass(frozen=True, slots=True)
class FencePolygon:
    """A geofence polygon as (lat, lon) vertices; inclusion=False is a keep-out zone."""

    points: tuple[tuple[float, float], ...]
    inclusion: bool


@dataclass(frozen=True, slots=True)
class FenceCircle:
    """A geofence circle around (lat, lon); inclusion=False is a keep-out zone."""

    center: tuple[float, float]
    radius_m: float
    inclusion: bool


@dataclass(frozen=True, slots=True)
class MissionPlan:
    """Everything uploaded to a vehicle for one sortie: mission, fence and rally lists, and home."""

    items: tuple[MissionItem, ...]
    home: tuple[float, float, float]  # lat, lon, altitude AMSL (m)
    fence_polygons: tuple[FencePolygon, ...] = ()
    fence_circles: tuple[FenceCircle, ...] = ()
    rally_points: tuple[tuple[float, float, float], ...] = ()  # lat, lon, altitude above home
    cruise_speed_mps: float = 10.0
    hover_speed_mps: float = 5.0
    name: str = field(default="", compare=False)


def fence_items(plan: MissionPlan) -> list[MissionItem]:
    """The fence list as MAVLink items (mission type 1): one item per polygon vertex or circle."""
    items: list[MissionItem] = []
    for polygon in plan.fence_polygons:
        command = (
            Command.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if polygon.inclusion
            else Command.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        for lat, lon in polygon.points:
            items.append(
                MissionItem(
                    command=command,
                    frame=Frame.GLOBAL,
                    params=(float(len(polygon.points)), 0.0, 0.0, 0.0),
                    lat=lat,
                    lon=lon,
                )
            )
    for circle in plan.fence_circles:
        command = (
            Command.NAV_FENCE_CIRCLE_INCLUSION
            if circle.inclusion
            else Command.NAV_FENCE_CIRCLE_EXCLUSION
        )
        items.append(
            MissionItem(
                command=command,
                frame=Frame.GLOBAL,
                params=(float(circle.radius_m), 0.0, 0.0, 0.0),
                lat=circle.center[0],
                lon=circle.center[1],
            )
        )
    return items


def rally_items(plan: MissionPlan) -> list[MissionItem]:
    """The rally list as MAVLink items (mission type 2)."""
    return [
        MissionItem(
            command=Command.NAV_RALLY_POINT,
            frame=Frame.GLOBAL_RELATIVE_ALT,
            lat=lat,
            lon=lon,
            alt=alt,
        )
        for lat, lon, alt in plan.rally_points
    ]
