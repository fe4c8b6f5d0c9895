"""The flight-time model: the one objective every planning stage, the summary and the benchmark use.

Straight legs are flown at cruise speed; every change of heading costs time in proportion to its
angle (``turn_seconds_per_90`` for a right angle, so a boustrophedon U-turn made of two right angles
costs twice that); take-off climbs and landing descends vertically at their own rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from missions.errors import PlanningError

__all__ = ["FlightTimeModel", "heading_changes_deg", "polyline_length"]


def polyline_length(points: np.ndarray) -> float:
    """Length in metres of a polyline given as an (N, 2) array."""
    pts = np.asarray(points, dtype=float)
    if len(pts) < 2:
        return 0.0
    return float(np.hypot(*np.diff(pts, axis=0).T).sum())


def _dedupe(points: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(pts) < 2:
        return pts
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.hypot(*np.diff(pts, axis=0).T) > tolerance
    return pts[keep]


def heading_changes_deg(points: np.ndarray) -> np.ndarray:
    """Heading change (0-180°) at each interior vertex of a polyline; zero-length legs dropped."""
    pts = _dedupe(points)
    if len(pts) < 3:
        return np.zeros(0)
    legs = np.diff(pts, axis=0)
    a, b = legs[:-1], legs[1:]
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    dot = (a * b).sum(axis=1)
    return np.degrees(np.abs(np.arctan2(cross, dot)))


def _angle_between(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """Absolute angle (degrees) between direction vectors, row-wise; 0 where either is zero."""
    h1 = np.asarray(h1, dtype=float)
    h2 = np.asarray(h2, dtype=float)
    cross = h1[..., 0] * h2[..., 1] - h1[..., 1] * h2[..., 0]
    dot = (h1 * h2).sum(axis=-1)
    angle = np.degrees(np.abs(np.arctan2(cross, dot)))
    zero = (np.hypot(h1[..., 0], h1[..., 1]) < 1e-12) | (np.hypot(h2[..., 0], h2[..., 1]) < 1e-12)
    return np.where(zero, 0.0, angle)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightTimeModel:
    """Seconds to fly a route: legs at cruise speed, turns by heading change, climb and descent.

    ``climb_mps`` and ``descent_mps`` default to ArduCopter's WPNAV_SPEED_UP (2.5 m/s) and a
    conservative final-approach descent; the 3 s per 90° turn matches the anchor measurements.
    """

    speed_mps: float
    turn_seconds_per_90: float = 3.0
    climb_mps: float = 2.5
    descent_mps: float = 1.5

    def __post_init__(self) -> None:
        for name in ("speed_mps", "climb_mps", "descent_mps"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise PlanningError(f"flight-time model: {name} must be positive, got {value!r}")
        if not (math.isfinite(self.turn_seconds_per_90) and self.turn_seconds_per_90 >= 0):
            raise PlanningError(
                "flight-time model: turn_seconds_per_90 must be >= 0, "
                f"got {self.turn_seconds_per_90!r}"
            )

    def turn_s(self, angle_deg: float | np.ndarray) -> float | np.ndarray:
        """Seconds for a change of heading (degrees)."""
        if np.ndim(angle_deg):
            return np.abs(np.asarray(angle_deg, dtype=float)) * (self.turn_seconds_per_90 / 90.0)
        return abs(float(angle_deg)) * self.turn_seconds_per_90 / 90.0

    def turn_between_s(self, heading_a: np.ndarray, heading_b: np.ndarray) -> np.ndarray:
        """Seconds to turn from one direction vector to another, row-wise (zero vectors cost 0)."""
        return self.turn_s(_angle_between(heading_a, heading_b))

    def path_s(self, points: np.ndarray) -> float:
        """Seconds to fly a polyline (N, 2): its length plus the turn at every interior vertex."""
        pts = _dedupe(points)
        return polyline_length(pts) / self.speed_mps + float(
            self.turn_s(heading_changes_deg(pts)).sum()
        )

    def vertical_s(self, altitude_m: float) -> float:
        """Seconds to climb to a height after take-off and descend from it to land."""
        return altitude_m / self.climb_mps + altitude_m / self.descent_mps

    def turns(self, points: np.ndarray, *, min_deg: float = 10.0) -> int:
        """How many heading changes of at least ``min_deg`` a polyline makes (for reports)."""
        return int((heading_changes_deg(points) >= min_deg).sum())
