"""Swaths: a cell + a sweep angle -> parallel camera strips placed edge-aware; angle search.

Placement (in the frame where strips run along +x):
- across track the outermost strips lie ``inset = max(spacing/2, footprint/2 − spacing)`` inside
  the cell's edges and the strips between are spread evenly at no more than the spacing: with side
  overlap ≥ 50 % every edge point is then seen by the two outermost strips (the edge is covered at
  full side overlap, like the interior between two neighbouring strips), below 50 % the edge is
  seen with a margin of footprint·side_overlap/2 — never left to chance. Each strip is responsible
  for the band half-way to its neighbours (the outermost ones out to the edge);
- along track each strip spans the x-extent of its whole band (not just of its centre line, so
  slanted edges are covered) minus ``footprint_along/2 − end_margin`` at each end: photos are taken
  at its start, every trigger distance and at its end (the camera-off item's closing photo), so
  the first and last reach ``end_margin`` beyond the band's ends at full front overlap without
  flying on to a whole number of trigger distances. A strip whose last distance photo would fall
  within ``end_gap_m`` (5 m) of its end, before or after it, is lengthened so that it falls that
  far before: a photo due right where the vehicle reaches the end waypoint may or may not be taken.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon

from missions.planner._geometry import edge_angles_deg, rotate, rotate_points
from missions.planner.coverage import end_gap_m, trigger_steps
from missions.planner.objective import FlightTimeModel, polyline_length

__all__ = [
    "Strip",
    "CellSwaths",
    "SwathGenerator",
    "EdgeAwareSwaths",
    "best_swaths",
    "ranked_swaths",
    "candidate_angles",
    "sweep_time_s",
    "strip_offsets",
    "flown_length",
]


@dataclass(frozen=True, slots=True)
class Strip:
    """A camera-on polyline in local metres (≥ 2 points; start == end for a single photo)."""

    points: tuple[tuple[float, float], ...]

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=float)

    @property
    def length_m(self) -> float:
        return polyline_length(self.array)


@dataclass(frozen=True, slots=True)
class CellSwaths:
    """A cell's strips, in across-track order, all pointing the same way (``angle_deg``)."""

    cell: Polygon
    angle_deg: float  # math angle of the strips in the local frame
    strips: tuple[Strip, ...]
    spacing_m: float
    time_s: float = field(default=0.0, compare=False)  # flown alone as a boustrophedon


class SwathGenerator(Protocol):
    """Stage 2: lay strips over a cell at an angle."""

    def generate(self, cell: Polygon, *, angle_deg: float) -> CellSwaths: ...


def sweep_time_s(strips: Sequence[Strip], objective: FlightTimeModel) -> float:
    """Seconds to fly strips in order as a boustrophedon (alternate directions)."""
    if not strips:
        return 0.0
    pts = [s.array if k % 2 == 0 else s.array[::-1] for k, s in enumerate(strips)]
    return objective.path_s(np.concatenate(pts))


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeAwareSwaths:
    """The default swath generator (see the module docstring for the placement rules)."""

    spacing_m: float
    footprint_across_m: float
    footprint_along_m: float
    trigger_distance_m: float
    end_margin_m: float
    objective: FlightTimeModel

    def generate(self, cell: Polygon, *, angle_deg: float) -> CellSwaths:
        rotated = rotate(cell, -angle_deg)
        xmin, ymin, xmax, ymax = rotated.bounds
        ys, spacing = strip_offsets(
            ymin, ymax, spacing_m=self.spacing_m, footprint_across_m=self.footprint_across_m
        )
        eps = 1e-6
        lows = np.concatenate([[ymin], (ys[1:] + ys[:-1]) / 2.0])
        highs = np.concatenate([(ys[1:] + ys[:-1]) / 2.0, [ymax]])
        bands = shapely.box(xmin - 1.0, lows - eps, xmax + 1.0, highs + eps)
        bounds = shapely.bounds(shapely.intersection(rotated, bands))
        keep = ~np.isnan(bounds[:, 0])
        ys, x0, x1 = ys[keep], bounds[keep, 0], bounds[keep, 2]
        length = flown_length(
            x1 - x0,
            footprint_along_m=self.footprint_along_m,
            end_margin_m=self.end_margin_m,
            trigger_distance_m=self.trigger_distance_m,
        )
        mid = (x0 + x1) / 2.0
        starts = rotate_points(np.column_stack([mid - length / 2.0, ys]), angle_deg)
        ends = rotate_points(np.column_stack([mid + length / 2.0, ys]), angle_deg)
        strips = tuple(
            Strip((tuple(a), tuple(b))) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
        )
        return CellSwaths(
            cell=cell,
            angle_deg=angle_deg % 180.0,
            strips=strips,
            spacing_m=spacing,
            time_s=sweep_time_s(strips, self.objective),
        )


def strip_offsets(
    low: float, high: float, *, spacing_m: float, footprint_across_m: float
) -> tuple[np.ndarray, float]:
    """Across-track positions of the strips over [low, high] and the spacing actually used."""
    inset = max(spacing_m / 2.0, footprint_across_m / 2.0 - spacing_m)
    span = (high - low) - 2.0 * inset
    if span <= 1e-9:
        return np.array([(low + high) / 2.0]), spacing_m
    n = math.ceil(span / spacing_m - 1e-9) + 1
    spacing = span / (n - 1)
    return low + inset + np.arange(n) * spacing, spacing


def flown_length(
    extent_m: float | np.ndarray,
    *,
    footprint_along_m: float,
    end_margin_m: float,
    trigger_distance_m: float,
) -> np.ndarray:
    """The flown length of strips spanning ``extent_m``: the extent minus
    ``footprint_along/2 − end_margin`` at each end, lengthened where the last distance photo
    would fall within ``coverage.end_gap_m`` of the end (on either side) to lie that far before
    it: the photos are then certain (``coverage.photo_offsets``)."""
    trim = footprint_along_m / 2.0 - end_margin_m
    need = np.maximum(0.0, np.asarray(extent_m, dtype=float) - 2.0 * trim)
    gap = end_gap_m(trigger_distance_m)
    n = trigger_steps(need, trigger_distance_m)
    rest = need - n * trigger_distance_m
    length = np.where(rest < gap, n * trigger_distance_m + gap, need)
    length = np.where(rest > trigger_distance_m - gap, (n + 1) * trigger_distance_m + gap, length)
    return np.where(need > 0.0, length, 0.0)


def candidate_angles(cell: Polygon, *, step_deg: float = 15.0) -> np.ndarray:
    """Angles worth trying: every edge direction of the cell and its hull, plus a regular sweep."""
    hull = cell.convex_hull
    edges = [edge_angles_deg(cell, min_length=1.0)]
    if isinstance(hull, Polygon):
        edges.append(edge_angles_deg(hull))
    angles = np.concatenate([*edges, np.arange(0.0, 180.0, step_deg)])
    return np.unique(np.round(angles % 180.0, 2))


def _estimate_s(
    cell: Polygon,
    angles: np.ndarray,
    spacing: float,
    footprint_across: float,
    objective: FlightTimeModel,
) -> np.ndarray:
    """A cheap per-angle estimate: area/spacing flown plus connectors and U-turns."""
    pts = shapely.get_coordinates(cell.convex_hull)
    normals = np.stack([-np.sin(np.radians(angles)), np.cos(np.radians(angles))], axis=1)
    proj = pts @ normals.T
    height = proj.max(axis=0) - proj.min(axis=0)
    inset = max(spacing / 2.0, footprint_across / 2.0 - spacing)
    span = np.maximum(height - 2.0 * inset, 0.0)
    n = np.where(span > 1e-9, np.ceil(span / spacing - 1e-9) + 1, 1)
    w = np.where(n > 1, span / np.maximum(n - 1, 1), spacing)
    return (cell.area / w + (n - 1) * w) / objective.speed_mps + (n - 1) * objective.turn_s(180.0)


def ranked_swaths(
    cell: Polygon,
    generator: EdgeAwareSwaths,
    *,
    angles: Sequence[float] | None = None,
    keep: int = 4,
    allowed: Callable[[CellSwaths], bool] | None = None,
) -> list[CellSwaths]:
    """The cell's layouts at the ``keep`` most promising angles, fastest first by the objective.

    Every candidate angle is ranked by a cheap estimate; the best are generated and timed. With
    ``allowed`` (e.g. "no strip enters a no-fly zone") only accepted layouts count: further
    candidates are tried until ``keep`` are accepted (the list is empty when none is).
    """
    cand = candidate_angles(cell) if angles is None else np.asarray(angles, dtype=float)
    estimate = _estimate_s(
        cell, cand, generator.spacing_m, generator.footprint_across_m, generator.objective
    )
    results: list[CellSwaths] = []
    for i in np.argsort(estimate, kind="stable"):
        result = generator.generate(cell, angle_deg=float(cand[i]))
        if allowed is None or allowed(result):
            results.append(result)
        if len(results) >= keep:
            break
    return sorted(results, key=lambda r: r.time_s)


def best_swaths(
    cell: Polygon,
    generator: EdgeAwareSwaths,
    *,
    angles: Sequence[float] | None = None,
    keep: int = 4,
    allowed: Callable[[CellSwaths], bool] | None = None,
) -> CellSwaths | None:
    """The cell's strips at the angle that flies it fastest (see :func:`ranked_swaths`).

    ``None`` when ``allowed`` accepts no layout.
    """
    ranked = ranked_swaths(cell, generator, angles=angles, keep=keep, allowed=allowed)
    return ranked[0] if ranked else None
