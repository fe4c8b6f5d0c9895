"""The flight-time model: the one objective every planning stage, the summary and the benchmark use.

Straight legs are flown at cruise speed; every change of heading costs time in proportion to its
angle (``turn_seconds_per_90`` for a right angle, so a boustrophedon U-turn made of two right angles
costs twice that); take-off climbs vertically, and the return ends as ArduCopter's RTL does: a hover
of RTL_LOIT_TIME over home, a descent at WPNAV_SPEED_DN down to LAND_ALT_LOW, then LAND_SPEED to the
ground (ArduCopter's defaults below; the SITL flies the same).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from missions.errors import PlanningError

__all__ = [
    "LAND_ALT_LOW_M",
    "LAND_SPEED_MPS",
    "RTL_LOIT_TIME_S",
    "FlightTimeModel",
    "heading_changes_deg",
    "polyline_length",
]

#: ArduCopter's LAND_SPEED default (50 cm/s): the descent rate of the last LAND_ALT_LOW metres.
LAND_SPEED_MPS = 0.5
#: ArduCopter's LAND_ALT_LOW default (1000 cm): below this the landing slows to LAND_SPEED.
LAND_ALT_LOW_M = 10.0
#: ArduCopter's RTL_LOIT_TIME default (5000 ms): the hover over home before an RTL descends.
RTL_LOIT_TIME_S = 5.0


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

    ``climb_mps`` and ``descent_mps`` default to ArduCopter's WPNAV_SPEED_UP (2.5 m/s) and
    WPNAV_SPEED_DN (1.5 m/s, LAND_SPEED_HIGH 0 descends at it); ``land_speed_mps``,
    ``land_alt_low_m`` and ``rtl_loiter_s`` to LAND_SPEED, LAND_ALT_LOW and RTL_LOIT_TIME. The
    3 s per 90° turn matches the anchor measurements.
    """

    speed_mps: float
    turn_seconds_per_90: float = 3.0
    climb_mps: float = 2.5
    descent_mps: float = 1.5
    land_speed_mps: float = LAND_SPEED_MPS
    land_alt_low_m: float = LAND_ALT_LOW_M
    rtl_loiter_s: float = RTL_LOIT_TIME_S

    def __post_init__(self) -> None:
        for name in ("speed_mps", "climb_mps", "descent_mps", "land_speed_mps"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise PlanningError(f"flight-time model: {name} must be positive, got {value!r}")
        for name in ("turn_seconds_per_90", "land_alt_low_m", "rtl_loiter_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise PlanningError(f"flight-time model: {name} must be >= 0, got {value!r}")

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
        """Seconds to climb to a height after take-off and come down from it at the end: the
        RTL's hover over home, then :meth:`descent_s`.

        >>> round(FlightTimeModel(speed_mps=10.0).vertical_s(60.0), 1)  # 24 + 5 + 33.3 + 20
        82.3
        """
        return altitude_m / self.climb_mps + self.rtl_loiter_s + self.descent_s(altitude_m)

    def descent_s(self, altitude_m: float) -> float:
        """Seconds to land from a height: ``descent_mps`` down to ``land_alt_low_m``, then
        ``land_speed_mps`` to the ground (ArduCopter's LAND_SPEED_HIGH, then LAND_SPEED)."""
        low = min(max(altitude_m, 0.0), self.land_alt_low_m)
        return max(altitude_m - low, 0.0) / self.descent_mps + low / self.land_speed_mps

    def turns(self, points: np.ndarray, *, min_deg: float = 10.0) -> int:
        """How many heading changes of at least ``min_deg`` a polyline makes (for reports)."""
        return int((heading_changes_deg(points) >= min_deg).sum())
