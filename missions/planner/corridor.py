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

from gis.messages import msg
from missions.errors import PlanningError
from missions.planner.objective import FlightTimeModel
from missions.planner.swaths import CellSwaths, Strip, flown_length, strip_offsets, sweep_time_s

__all__ = ["CorridorBendError", "check_corridor", "corridor_polygon", "corridor_swaths"]

#: The shortest strip (metres) an offset of the centre line may leave before the corridor counts
#: as too tightly bent to be flown along.
MIN_STRIP_M = 1.0


class CorridorBendError(PlanningError):
    """The centre line bends too tightly for the width: a strip across it collapses to nothing.

    The corridor is then no band along a line but an area, and :func:`missions.planner.plan`
    flies its polygon like any other grid.
    """


def check_corridor(line: LineString, *, width_m: float) -> None:
    """Refuse a corridor wider than its centre line is long (local metres): that is an area,
    and its strips along a short line would be offsets kilometres away from it."""
    if width_m > line.length:
        raise PlanningError(
            msg(
                "the corridor is %(width)s m wide but its centre line is only %(length)s m long; "
                "a corridor may be at most as wide as its line is long: draw a wider area as a "
                "polygon grid",
                width=f"{width_m:g}",
                length=f"{line.length:.1f}",
            )
        )


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
    polygon: Polygon | None = None,
) -> CellSwaths:
    """Strips along the centre line for a corridor of ``width_m`` (local metres); ``polygon``
    is the corridor's :func:`corridor_polygon` when the caller has made it already."""
    if isinstance(line, MultiLineString) or not isinstance(line, LineString) or line.length <= 0:
        raise PlanningError("a corridor needs one non-empty centre LineString")
    if polygon is None:
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
        if curve.is_empty or curve.length < MIN_STRIP_M:
            # the line turns back within half the width: this side of it has no room for a strip
            raise CorridorBendError(
                msg(
                    "the centre line bends too tightly for a %(width)s m corridor",
                    width=f"{width_m:g}",
                )
            )
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
