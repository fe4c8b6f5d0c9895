"""Corridor: a centre line + width -> a corridor polygon and strips that follow the line.

Rivers and roads are flown along, not across: parallel offsets of the centre line placed across
the width exactly as swaths are across a cell (:func:`~missions.planner.swaths.strip_offsets`),
each trimmed at the flat ends like a swath (photos reach ``end_margin`` beyond each end).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import LineString, MultiLineString, Polygon

from missions.errors import PlanningError
from missions.planner.objective import FlightTimeModel
from missions.planner.swaths import CellSwaths, Strip, flown_length, strip_offsets, sweep_time_s

__all__ = ["corridor_polygon", "corridor_swaths"]


def corridor_polygon(line: LineString, *, width_m: float) -> Polygon:
    """The corridor around a centre line: a buffer of half the width with flat end caps."""
    if not width_m > 0:
        raise PlanningError(f"corridor width must be positive, got {width_m!r} m")
    return line.buffer(width_m / 2.0, cap_style="flat", join_style="round")


def _trim(points: np.ndarray, start: float, end: float) -> np.ndarray:
    """The part of a polyline between arc lengths start and end (start <= end)."""
    line = LineString(points)
    if end - start < 1e-9:
        p = line.interpolate(start)
        return np.array([[p.x, p.y], [p.x, p.y]])
    part = shapely.ops.substring(line, start, end)
    return np.asarray(part.coords, dtype=float)


def corridor_swaths(
    line: LineString,
    *,
    width_m: float,
    spacing_m: float,
    footprint_across_m: float,
    footprint_along_m: float,
    trigger_distance_m: float,
    end_margin_m: float,
    objective: FlightTimeModel,
) -> CellSwaths:
    """Strips along the centre line for a corridor of ``width_m`` (local metres)."""
    if isinstance(line, MultiLineString) or not isinstance(line, LineString) or line.length <= 0:
        raise PlanningError("a corridor needs one non-empty centre LineString")
    polygon = corridor_polygon(line, width_m=width_m)
    offsets, spacing = strip_offsets(
        -width_m / 2.0, width_m / 2.0, spacing_m=spacing_m, footprint_across_m=footprint_across_m
    )
    strips = []
    for offset in offsets:
        curve = line.offset_curve(float(offset), join_style="round") if abs(offset) > 1e-9 else line
        if isinstance(curve, MultiLineString):
            curve = max(curve.geoms, key=lambda g: g.length)
        curve = curve.simplify(0.5)
        pts = np.asarray(curve.coords, dtype=float)
        # offset_curve keeps the line's direction for both signs in shapely 2
        length = curve.length
        flown = float(
            flown_length(
                length,
                footprint_along_m=footprint_along_m,
                end_margin_m=end_margin_m,
                trigger_distance_m=trigger_distance_m,
            )
        )
        a = max(0.0, (length - flown) / 2.0)
        strips.append(Strip(tuple(map(tuple, _trim(pts, a, min(length, a + flown))))))
    # across order from one side to the other, all pointing along the line
    angle = math.degrees(math.atan2(*(np.subtract(line.coords[-1], line.coords[0])[::-1])))
    return CellSwaths(
        cell=polygon,
        angle_deg=angle % 360.0,
        strips=tuple(strips),
        spacing_m=spacing,
        time_s=sweep_time_s(strips, objective),
    )
