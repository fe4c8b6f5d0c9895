"""Mission Planner / MAVProxy ``.waypoints`` files ("QGC WPL 110"): the mission list as text.

Layout: the header line ``QGC WPL 110``, then one tab-separated line per item::

    seq  current  frame  command  p1  p2  p3  p4  lat  lon  alt  autocontinue

Line 0 is home (``0 1 0 16 0 0 0 0 lat lon alt 1``, altitude above mean sea level), exactly as
ArduPilot keeps it as mission item 0; the plan's items follow from sequence 1. Floats are written
with full precision (Python's shortest round-trip form), so a file keeps coordinates exactly as
stored; NaN (e.g. "keep the current yaw") is written ``NaN`` as Mission Planner writes it: its .NET
parser refuses pymavlink's lowercase ``nan``, while pymavlink, MAVProxy and QGroundControl read
both. Reading tolerates spaces instead of tabs, CRLF line ends, blank lines and ``#`` comment lines
(MAVProxy writes those).

The format holds the mission list only: geofence and rally points, cruise and hover speed are not
part of it. Mission Planner and MAVProxy keep fence and rally lists in separate files of the same
layout (their items numbered from 0, no home line); :func:`write_fence_waypoints` and
:func:`write_rally_waypoints` write those.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

from missions.errors import PlanFileError
from missions.formats._io import read_text, write_text
from missions.items import (
    Command,
    Frame,
    MissionItem,
    MissionPlan,
    fence_items,
    position_problem,
    rally_items,
)

__all__ = [
    "HEADER",
    "read_waypoints",
    "write_fence_waypoints",
    "write_rally_waypoints",
    "write_waypoints",
]

HEADER = "QGC WPL 110"
_WHAT = "Mission Planner .waypoints file"
_FIELDS = 12


def write_waypoints(path: str | os.PathLike[str], plan: MissionPlan) -> None:
    """Write the mission list of ``plan`` with home as line 0 (fence and rally are not included)."""
    lat, lon, alt = plan.home
    home = MissionItem(command=Command.NAV_WAYPOINT, frame=Frame.GLOBAL, lat=lat, lon=lon, alt=alt)
    lines = [_line(0, home, path, current=True)]
    lines.extend(_line(seq, item, path) for seq, item in enumerate(plan.items, start=1))
    _write(path, lines)


def write_fence_waypoints(path: str | os.PathLike[str], plan: MissionPlan) -> None:
    """Write the plan's geofence as a fence-list file (items from 0, no home line)."""
    _write(path, (_line(seq, item, path) for seq, item in enumerate(fence_items(plan))))


def write_rally_waypoints(path: str | os.PathLike[str], plan: MissionPlan) -> None:
    """Write the plan's rally points as a rally-list file (items from 0, no home line)."""
    _write(path, (_line(seq, item, path) for seq, item in enumerate(rally_items(plan))))


def read_waypoints(path: str | os.PathLike[str]) -> MissionPlan:
    """Read a ``QGC WPL 110`` file: line 0 becomes the plan's home, the rest its items."""
    path = Path(path)
    text = read_text(path, what=_WHAT)
    rows: list[tuple[int, list[str]]] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not header_seen:
            if " ".join(line.split()) != HEADER:
                raise PlanFileError(
                    f"{path}: line {number}: not a {_WHAT}: expected the header {HEADER!r}, "
                    f"found {_short(line)!r}"
                )
            header_seen = True
            continue
        rows.append((number, line.split()))
    if not header_seen:
        raise PlanFileError(f"{path}: not a {_WHAT}: the file is empty")
    if not rows:
        raise PlanFileError(f"{path}: no home line after the {HEADER!r} header")
    items = [_parse(fields, seq, path, number) for seq, (number, fields) in enumerate(rows)]
    home = items[0]
    for value, name in ((home.lat, "latitude"), (home.lon, "longitude"), (home.alt, "altitude")):
        if not math.isfinite(value):
            raise PlanFileError(f"{path}: line {rows[0][0]}: home {name} is {value}")
    if not (-90.0 <= home.lat <= 90.0 and -180.0 <= home.lon <= 180.0):
        raise PlanFileError(
            f"{path}: line {rows[0][0]}: home ({home.lat}, {home.lon}) is not a WGS84 lat, lon"
        )
    return MissionPlan(items=tuple(items[1:]), home=(home.lat, home.lon, home.alt), name=path.stem)


def _line(
    seq: int, item: MissionItem, path: str | os.PathLike[str], *, current: bool = False
) -> str:
    values = [*item.params, item.lat, item.lon, item.alt]
    if len(values) != 7:
        raise PlanFileError(f"{path}: cannot write item {seq}: needs 4 params")
    fields = [
        str(seq),
        "1" if current else "0",
        _integer_text(item.frame, seq, "frame", path),
        _integer_text(item.command, seq, "command", path),
        *(_float_text(value, seq, path) for value in values),
        "1" if item.autocontinue else "0",
    ]
    return "\t".join(fields)


def _write(path: str | os.PathLike[str], lines: Iterable[str]) -> None:
    text = "\n".join([HEADER, *lines]) + "\n"
    write_text(path, text, what=_WHAT)


def _float_text(value: float, seq: int, path: str | os.PathLike[str]) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: cannot write item {seq}: {value!r} is not a number") from exc
    if math.isinf(number):
        raise PlanFileError(f"{path}: cannot write item {seq}: {number} is infinite")
    return "NaN" if math.isnan(number) else repr(number)


def _integer_text(value: int, seq: int, what: str, path: str | os.PathLike[str]) -> str:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise PlanFileError(f"{path}: cannot write item {seq}: {what} {value!r}") from exc
    if number < 0 or number != value:
        raise PlanFileError(f"{path}: cannot write item {seq}: {what} {value!r} is not valid")
    return str(number)


def _parse(fields: list[str], expected_seq: int, path: Path, number: int) -> MissionItem:
    where = f"{path}: line {number}"
    if len(fields) != _FIELDS:
        raise PlanFileError(f"{where}: has {len(fields)} fields, expected {_FIELDS}")
    seq = _parse_integer(fields[0], "sequence number", where)
    if seq != expected_seq:
        raise PlanFileError(f"{where}: sequence number is {seq}, expected {expected_seq}")
    _parse_flag(fields[1], "current", where)
    frame = _parse_integer(fields[2], "frame", where, maximum=255)  # MAVLink uint8
    command = _parse_integer(fields[3], "command", where, maximum=65535)  # MAVLink uint16
    names = ("param1", "param2", "param3", "param4", "latitude", "longitude", "altitude")
    values = [
        _parse_float(text, name, where) for text, name in zip(fields[4:11], names, strict=True)
    ]
    autocontinue = _parse_flag(fields[11], "autocontinue", where)
    item = MissionItem(
        command=command,
        frame=frame,
        params=(values[0], values[1], values[2], values[3]),
        lat=values[4],
        lon=values[5],
        alt=values[6],
        autocontinue=autocontinue,
    )
    problem = position_problem(item) if expected_seq else None  # home: checked by the caller
    if problem is not None:
        raise PlanFileError(f"{where}: {problem}")
    return item


def _parse_float(text: str, name: str, where: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise PlanFileError(f"{where}: {name} {_short(text)!r} is not a number") from None
    if math.isinf(number):
        raise PlanFileError(f"{where}: {name} {text!r} is infinite")
    return number


def _parse_integer(text: str, name: str, where: str, *, maximum: float = math.inf) -> int:
    number = _parse_float(text, name, where)
    if math.isnan(number) or not number.is_integer() or not 0 <= number <= maximum:
        allowed = "a non-negative integer" if math.isinf(maximum) else f"an integer 0-{maximum}"
        raise PlanFileError(f"{where}: {name} {_short(text)!r} is not {allowed}")
    return int(number)


def _parse_flag(text: str, name: str, where: str) -> bool:
    value = _parse_integer(text, name, where)
    if value not in (0, 1):
        raise PlanFileError(f"{where}: {name} is {value}, expected 0 or 1")
    return value == 1


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
