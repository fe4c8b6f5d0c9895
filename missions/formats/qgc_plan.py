"""QGroundControl ``.plan`` files (JSON): mission, geofence and rally points in one file.

GridPatrol writes plain ``SimpleItem`` mission items, numbered ``doJumpId`` 1..n (equal to the
MAVLink sequence numbers, home being 0), with NaN parameters written as ``null`` as QGroundControl
does. Reading accepts what QGroundControl writes, including survey and corridor ``ComplexItem``
entries, whose expanded mission items QGroundControl stores inside
``TransectStyleComplexItem.Items``; ``DO_JUMP`` targets are translated from ``doJumpId`` to
sequence numbers. Anything malformed raises :class:`~missions.errors.PlanFileError` naming the file,
the JSON location and the problem.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from missions.errors import PlanFileError
from missions.formats._io import read_text, write_text
from missions.items import FenceCircle, FencePolygon, MissionItem, MissionPlan, position_problem

__all__ = [
    "FIRMWARE_ARDUPILOT",
    "GROUND_STATION",
    "VEHICLE_QUADROTOR",
    "plan_from_dict",
    "plan_to_dict",
    "read_plan",
    "write_plan",
]

GROUND_STATION = "GridPatrol"
FIRMWARE_ARDUPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = 2  # MAV_TYPE_QUADROTOR

_DO_JUMP = 177  # MAV_CMD_DO_JUMP: param1 is the target's doJumpId in a .plan file
_MAX_COMMAND = 65535  # MAVLink mission item fields: command is uint16, frame uint8
_MAX_FRAME = 255
_CALC_ABOVE_TERRAIN = 3  # QGC AltitudeMode whose AMSL altitude QGC computes at upload time
_WHAT = "QGroundControl .plan file"


# --------------------------------------------------------------------------------------------
# Writing


def plan_to_dict(plan: MissionPlan) -> dict[str, Any]:
    """The ``.plan`` JSON object for ``plan`` (NaN item values become ``None``, i.e. ``null``)."""
    label = f"plan {plan.name!r}" if plan.name else "plan"
    home = [_finite(value, f"{label}: home") for value in plan.home]
    items = [_item_to_dict(item, seq, label) for seq, item in enumerate(plan.items, start=1)]
    polygons = [
        {
            "polygon": [
                [_finite(value, f"{label}: fence polygon {k}") for value in vertex]
                for vertex in polygon.points
            ],
            "inclusion": bool(polygon.inclusion),
            "version": 1,
        }
        for k, polygon in enumerate(plan.fence_polygons)
    ]
    circles = [
        {
            "circle": {
                "center": [_finite(value, f"{label}: fence circle {k}") for value in circle.center],
                "radius": _finite(circle.radius_m, f"{label}: fence circle {k} radius"),
            },
            "inclusion": bool(circle.inclusion),
            "version": 1,
        }
        for k, circle in enumerate(plan.fence_circles)
    ]
    rally = [
        [_finite(value, f"{label}: rally point {k}") for value in point]
        for k, point in enumerate(plan.rally_points)
    ]
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": GROUND_STATION,
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_ARDUPILOT,
            "vehicleType": VEHICLE_QUADROTOR,
            "cruiseSpeed": _finite(plan.cruise_speed_mps, f"{label}: cruise speed"),
            "hoverSpeed": _finite(plan.hover_speed_mps, f"{label}: hover speed"),
            "plannedHomePosition": home,
            "items": items,
        },
        "geoFence": {"version": 2, "polygons": polygons, "circles": circles},
        "rallyPoints": {"version": 2, "points": rally},
    }


def write_plan(path: str | os.PathLike[str], plan: MissionPlan) -> None:
    """Write ``plan`` as a QGroundControl ``.plan`` file (UTF-8 JSON, indented like QGC's)."""
    try:
        data = plan_to_dict(plan)
    except PlanFileError as exc:
        raise PlanFileError(f"{path}: cannot write {_WHAT}: {exc}") from exc
    text = json.dumps(data, indent=4, ensure_ascii=False, allow_nan=False)
    write_text(path, text + "\n", what=_WHAT)


def _item_to_dict(item: MissionItem, seq: int, label: str) -> dict[str, Any]:
    where = f"{label}: item {seq}"
    params = [*item.params, item.lat, item.lon, item.alt]
    if len(params) != 7:
        raise PlanFileError(f"{where}: needs 4 params, has {len(item.params)}")
    return {
        "type": "SimpleItem",
        "command": _integer_value(item.command, f"{where} command"),
        "frame": _integer_value(item.frame, f"{where} frame"),
        "params": [_nullable(value, where) for value in params],
        "autoContinue": bool(item.autocontinue),
        "doJumpId": seq,
    }


def _float(value: float, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"{where}: {value!r} is not a number") from exc


def _finite(value: float, where: str) -> float:
    number = _float(value, where)
    if not math.isfinite(number):
        raise PlanFileError(f"{where}: {number} is not a finite number")
    return number


def _nullable(value: float, where: str) -> float | None:
    number = _float(value, where)
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise PlanFileError(f"{where}: parameter {number} is infinite")
    return number


def _integer_value(value: int, where: str) -> int:
    number = _float(value, where)
    if not (math.isfinite(number) and number.is_integer() and number >= 0):
        raise PlanFileError(f"{where}: {value!r} is not a non-negative integer")
    return int(number)


# --------------------------------------------------------------------------------------------
# Reading


def read_plan(path: str | os.PathLike[str]) -> MissionPlan:
    """Read a ``.plan`` file; the plan is named after the file's stem."""
    path = Path(path)
    text = read_text(path, what=_WHAT)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{path}: not a {_WHAT}: invalid JSON at line {exc.lineno} "
            f"column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise PlanFileError(f"{path}: not a {_WHAT}: JSON nested too deeply") from exc
    return plan_from_dict(data, source=str(path), name=path.stem)


def plan_from_dict(data: Any, *, source: str = "plan", name: str = "") -> MissionPlan:
    """A :class:`MissionPlan` from parsed ``.plan`` JSON; ``source`` names it in error messages."""
    top = _object(data, "top level", source)
    if top.get("fileType") != "Plan":
        raise _error(source, "fileType", f"is {top.get('fileType')!r}, expected 'Plan'")
    if not _is_number(top.get("version")) or top["version"] != 1:
        raise _error(source, "version", f"is {top.get('version')!r}, only version 1 is supported")
    mission = _object(top.get("mission"), "mission", source)
    if not _is_number(mission.get("version")) or mission["version"] != 2:
        raise _error(
            source, "mission.version", f"is {mission.get('version')!r}, only version 2 is supported"
        )
    home = _numbers(mission.get("plannedHomePosition"), 3, "mission.plannedHomePosition", source)
    _check_latlon(home[0], home[1], "mission.plannedHomePosition", source)
    raw_items = mission.get("items")
    if not isinstance(raw_items, list):
        raise _error(source, "mission.items", f"must be a list, found {_kind(raw_items)}")
    cruise = _optional_speed(mission, "cruiseSpeed", source, default=10.0)
    hover = _optional_speed(mission, "hoverSpeed", source, default=5.0)
    polygons, circles = _fence(top.get("geoFence"), source)
    rally = _rally(top.get("rallyPoints"), source)
    return MissionPlan(
        items=_items(raw_items, source),
        home=(home[0], home[1], home[2]),
        fence_polygons=polygons,
        fence_circles=circles,
        rally_points=rally,
        cruise_speed_mps=cruise,
        hover_speed_mps=hover,
        name=name,
    )


def _items(raw_items: list[Any], source: str) -> tuple[MissionItem, ...]:
    items: list[MissionItem] = []
    sequence_of_jump_id: dict[int, int] = {}
    jumps: list[tuple[int, str]] = []  # (index into items, where) of DO_JUMP items
    for k, raw in enumerate(raw_items):
        where = f"mission.items[{k}]"
        entry = _object(raw, where, source)
        kind = entry.get("type")
        if kind == "SimpleItem":
            jump_id = entry.get("doJumpId")
            if _is_integer(jump_id):
                sequence_of_jump_id.setdefault(int(jump_id), len(items) + 1)
            item = _simple_item(entry, where, source)
            if item.command == _DO_JUMP:
                jumps.append((len(items), where))
            items.append(item)
        elif kind == "ComplexItem":
            items.extend(_complex_items(entry, where, source))
        else:
            expected = "expected 'SimpleItem' or 'ComplexItem'"
            raise _error(source, f"{where}.type", f"is {kind!r}, {expected}")
    for index, where in jumps:
        jump = items[index]
        target = jump.params[0]
        known = math.isfinite(target) and target.is_integer()
        if not known or int(target) not in sequence_of_jump_id:
            raise _error(source, where, f"DO_JUMP targets doJumpId {target}, which no item has")
        params = (float(sequence_of_jump_id[int(target)]), *jump.params[1:])
        items[index] = MissionItem(
            command=jump.command,
            frame=jump.frame,
            params=params,  # type: ignore[arg-type]
            lat=jump.lat,
            lon=jump.lon,
            alt=jump.alt,
            autocontinue=jump.autocontinue,
        )
    return tuple(items)


def _complex_items(entry: Mapping[str, Any], where: str, source: str) -> list[MissionItem]:
    kind = entry.get("complexItemType", "?")
    transect = entry.get("TransectStyleComplexItem")
    if not isinstance(transect, Mapping):
        raise _error(
            source,
            where,
            f"ComplexItem {kind!r} stores no expanded mission items (only QGroundControl can "
            "generate them); expand it in QGroundControl or replace it with waypoints",
        )
    inner = transect.get("Items")
    if not isinstance(inner, list) or not inner:
        raise _error(
            source,
            f"{where}.TransectStyleComplexItem.Items",
            f"ComplexItem {kind!r} has no stored mission items; open and save the plan in "
            "QGroundControl so that it stores them",
        )
    items = []
    for j, raw in enumerate(inner):
        inner_where = f"{where}.TransectStyleComplexItem.Items[{j}]"
        inner_entry = _object(raw, inner_where, source)
        if inner_entry.get("type", "SimpleItem") != "SimpleItem":
            found = inner_entry.get("type")
            raise _error(source, f"{inner_where}.type", f"is {found!r}, expected 'SimpleItem'")
        items.append(_simple_item(inner_entry, inner_where, source))
    return items


def _simple_item(entry: Mapping[str, Any], where: str, source: str) -> MissionItem:
    command = _integer(entry.get("command"), f"{where}.command", source, maximum=_MAX_COMMAND)
    frame = _integer(entry.get("frame"), f"{where}.frame", source, maximum=_MAX_FRAME)
    raw_params = entry.get("params")
    if not isinstance(raw_params, list) or len(raw_params) != 7:
        found = _kind(raw_params)
        raise _error(source, f"{where}.params", f"must be 7 numbers or nulls, found {found}")
    params = [
        _number_or_nan(value, f"{where}.params[{i}]", source) for i, value in enumerate(raw_params)
    ]
    if entry.get("AltitudeMode") == _CALC_ABOVE_TERRAIN and math.isnan(params[6]):
        raise _error(
            source,
            where,
            "altitude is 'calculated above terrain' by QGroundControl and not stored in the file; "
            "GridPatrol has no terrain data to compute it",
        )
    autocontinue = entry.get("autoContinue", True)
    if isinstance(autocontinue, bool):
        pass
    elif _is_integer(autocontinue) and autocontinue in (0, 1):
        autocontinue = bool(autocontinue)
    else:
        found = _kind(autocontinue)
        raise _error(source, f"{where}.autoContinue", f"must be true or false, found {found}")
    item = MissionItem(
        command=command,
        frame=frame,
        params=(params[0], params[1], params[2], params[3]),
        lat=params[4],
        lon=params[5],
        alt=params[6],
        autocontinue=autocontinue,
    )
    problem = position_problem(item)
    if problem is not None:
        raise _error(source, f"{where}.params[4:6]", problem)
    return item


def _fence(raw: Any, source: str) -> tuple[tuple[FencePolygon, ...], tuple[FenceCircle, ...]]:
    if raw is None:
        return (), ()
    fence = _object(raw, "geoFence", source)
    version = fence.get("version")
    if version is not None and version != 2:
        raise _error(source, "geoFence.version", f"is {version!r}, only version 2 is supported")
    polygons = []
    for k, entry in enumerate(_list(fence.get("polygons", []), "geoFence.polygons", source)):
        where = f"geoFence.polygons[{k}]"
        polygon = _object(entry, where, source)
        vertices = _list(polygon.get("polygon"), f"{where}.polygon", source)
        if len(vertices) < 3:
            problem = f"has {len(vertices)} vertices, needs 3 or more"
            raise _error(source, f"{where}.polygon", problem)
        points = []
        for i, vertex in enumerate(vertices):
            lat, lon = _numbers(vertex, 2, f"{where}.polygon[{i}]", source)
            _check_latlon(lat, lon, f"{where}.polygon[{i}]", source)
            points.append((lat, lon))
        inclusion = _boolean(polygon.get("inclusion", True), f"{where}.inclusion", source)
        polygons.append(FencePolygon(points=tuple(points), inclusion=inclusion))
    circles = []
    for k, entry in enumerate(_list(fence.get("circles", []), "geoFence.circles", source)):
        where = f"geoFence.circles[{k}]"
        circle = _object(_object(entry, where, source).get("circle"), f"{where}.circle", source)
        lat, lon = _numbers(circle.get("center"), 2, f"{where}.circle.center", source)
        _check_latlon(lat, lon, f"{where}.circle.center", source)
        (radius,) = _numbers([circle.get("radius")], 1, f"{where}.circle.radius", source)
        if radius <= 0:
            raise _error(source, f"{where}.circle.radius", f"is {radius}, must be positive")
        inclusion = _boolean(entry.get("inclusion", True), f"{where}.inclusion", source)
        circles.append(FenceCircle(center=(lat, lon), radius_m=radius, inclusion=inclusion))
    return tuple(polygons), tuple(circles)


def _rally(raw: Any, source: str) -> tuple[tuple[float, float, float], ...]:
    if raw is None:
        return ()
    rally = _object(raw, "rallyPoints", source)
    points = []
    for k, entry in enumerate(_list(rally.get("points", []), "rallyPoints.points", source)):
        lat, lon, alt = _numbers(entry, 3, f"rallyPoints.points[{k}]", source)
        _check_latlon(lat, lon, f"rallyPoints.points[{k}]", source)
        points.append((lat, lon, alt))
    return tuple(points)


def _optional_speed(mission: Mapping[str, Any], key: str, source: str, *, default: float) -> float:
    if key not in mission or mission[key] is None:
        return default
    (speed,) = _numbers([mission[key]], 1, f"mission.{key}", source)
    if speed <= 0:
        raise _error(source, f"mission.{key}", f"is {speed}, must be positive")
    return speed


# --------------------------------------------------------------------------------------------
# Small validators: each returns a clean Python value or raises PlanFileError naming the place.


def _error(source: str, where: str, problem: str) -> PlanFileError:
    return PlanFileError(f"{source}: {where}: {problem}")


def _kind(value: Any) -> str:
    if value is None:
        return "null or nothing"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and float(value).is_integer()


def _object(value: Any, where: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(source, where, f"must be a JSON object, found {_kind(value)}")
    return value


def _list(value: Any, where: str, source: str) -> list[Any]:
    if not isinstance(value, list):
        raise _error(source, where, f"must be a list, found {_kind(value)}")
    return value


def _integer(value: Any, where: str, source: str, *, maximum: int) -> int:
    if not _is_integer(value) or not 0 <= value <= maximum:
        raise _error(source, where, f"must be an integer 0-{maximum}, found {_kind(value)}")
    return int(value)


def _boolean(value: Any, where: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise _error(source, where, f"must be true or false, found {_kind(value)}")
    return value


def _number_or_nan(value: Any, where: str, source: str) -> float:
    if value is None:
        return math.nan
    if not _is_number(value) or math.isinf(value):
        raise _error(source, where, f"must be a number or null, found {_kind(value)}")
    return float(value)


def _numbers(value: Any, count: int, where: str, source: str) -> list[float]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != count
        or not all(_is_number(v) and math.isfinite(v) for v in value)
    ):
        raise _error(source, where, f"must be {count} finite numbers, found {_kind(value)}")
    return [float(v) for v in value]


def _check_latlon(lat: float, lon: float, where: str, source: str) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise _error(source, where, f"({lat}, {lon}) is not a WGS84 latitude, longitude")
