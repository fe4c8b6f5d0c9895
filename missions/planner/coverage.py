"""Coverage: how well a set of photos covers a region, counted on a lattice of sample points.

Every photo is the camera's footprint rectangle (``across`` × ``along`` metres) centred on its
trigger point and turned to the heading flown there. A sample point's multiplicity is how many
rectangles contain it. Reported: the fraction seen at least once, and the fraction at full design
overlap, i.e. seen at least ⌊1/(1−front)⌋·⌊1/(1−side)⌋ times (the interior multiplicity of a
regular survey: 12 at 75/70 %), and the metres of a route that lie outside the region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

__all__ = [
    "Coverage",
    "photo_count",
    "photo_offsets",
    "closing_photo",
    "end_gap_m",
    "trigger_steps",
    "photo_poses",
    "coverage",
    "outside_length_m",
    "design_multiplicity",
]


@dataclass(frozen=True, slots=True)
class Coverage:
    """Fractions of the region's sample points covered once and at design overlap."""

    once: float
    design: float
    samples: int
    required: int


def design_multiplicity(front_overlap: float, side_overlap: float) -> int:
    """⌊1/(1−front)⌋·⌊1/(1−side)⌋: how many photos see an interior point of a regular survey."""
    return math.floor(1.0 / (1.0 - front_overlap) + 1e-9) * math.floor(
        1.0 / (1.0 - side_overlap) + 1e-9
    )


#: How far from a strip's end its last distance-triggered photo falls at least (on either side of
#: it; a quarter of the trigger distance when that is less); the camera-off item at the end takes
#: a closing photo. A vehicle counts a waypoint reached a few metres early (WPNAV_RADIUS) and its
#: distance trigger drifts by as much after the turn in: a distance photo due within that of the
#: end may or may not be taken before the camera is switched off.
END_PHOTO_GAP_M = 5.0


def end_gap_m(trigger_distance_m: float) -> float:
    """The margin kept between a strip's end and its last distance photo (END_PHOTO_GAP_M)."""
    return min(END_PHOTO_GAP_M, trigger_distance_m / 4.0)


def trigger_steps(length_m: float | np.ndarray, trigger_distance_m: float) -> np.ndarray:
    """Whole trigger distances along a camera-on length: its distance photos after the first."""
    return np.floor(np.asarray(length_m, dtype=float) / trigger_distance_m + 1e-6)


def closing_photo(length_m: float, trigger_distance_m: float) -> bool:
    """Whether a camera-on polyline ends with a closing photo: its last distance-triggered photo
    falls more than half :func:`end_gap_m` short of its end."""
    last = float(trigger_steps(length_m, trigger_distance_m)) * trigger_distance_m
    return length_m - last > end_gap_m(trigger_distance_m) / 2.0


def photo_offsets(
    length_m: float, trigger_distance_m: float, *, closing: bool = True
) -> np.ndarray:
    """Distances along a camera-on polyline at which photos are taken: one at the start, one per
    trigger distance and, with ``closing``, one at the end if :func:`closing_photo`."""
    n = int(trigger_steps(length_m, trigger_distance_m))
    offsets = np.arange(n + 1) * trigger_distance_m
    if closing and closing_photo(length_m, trigger_distance_m):
        offsets = np.append(offsets, length_m)
    return offsets


def photo_count(length_m: float, trigger_distance_m: float) -> int:
    """Photos taken flying one of our strips (see :func:`photo_offsets`)."""
    return len(photo_offsets(length_m, trigger_distance_m))


def photo_poses(
    strips: Sequence[np.ndarray], trigger_distance_m: float, *, closing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2) and unit headings (N, 2) of the photos taken along camera-on polylines
    (``closing``: with our closing photos, see :func:`photo_offsets`)."""
    centres, headings = [], []
    for pts in strips:
        pts = np.asarray(pts, dtype=float)
        seg = np.diff(pts, axis=0)
        lengths = np.hypot(seg[:, 0], seg[:, 1])
        total = float(lengths.sum())
        s = photo_offsets(total, trigger_distance_m, closing=closing)
        if total <= 1e-9:
            centres.append(pts[:1])
            headings.append(np.array([[1.0, 0.0]]))
            continue
        cum = np.concatenate([[0.0], np.cumsum(lengths)])
        idx = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
        valid = lengths[idx] > 1e-12
        # skip zero-length segments for headings by carrying the next real one
        if not valid.all():
            good = np.nonzero(lengths > 1e-12)[0]
            idx = good[np.clip(np.searchsorted(good, idx), 0, len(good) - 1)]
        frac = np.clip((s - cum[idx]) / lengths[idx], 0.0, 1.0)
        centres.append(pts[idx] + seg[idx] * frac[:, None])
        headings.append(seg[idx] / lengths[idx, None])
    if not centres:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.concatenate(centres), np.concatenate(headings)


def _samples(region: BaseGeometry, max_samples: int) -> np.ndarray:
    xmin, ymin, xmax, ymax = region.bounds
    step = max(math.sqrt(region.area / max_samples), 0.5)
    xs = np.arange(xmin + step / 2, xmax, step)
    ys = np.arange(ymin + step / 2, ymax, step)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.column_stack([gx.ravel(), gy.ravel()])
    inside = shapely.contains_xy(region, pts[:, 0], pts[:, 1])
    pts = pts[inside]
    if not len(pts):  # a sliver: sample its boundary instead
        line = region.boundary
        pts = shapely.get_coordinates(
            shapely.line_interpolate_point(line, np.linspace(0, line.length, 64))
        )
    return pts


def multiplicity(
    points: np.ndarray,
    centres: np.ndarray,
    headings: np.ndarray,
    *,
    footprint_m: tuple[float, float],
    chunk: int = 2_000_000,
) -> np.ndarray:
    """How many footprint rectangles contain each point."""
    across, along = footprint_m
    counts = np.zeros(len(points), dtype=np.int32)
    if not len(centres):
        return counts
    step = max(1, chunk // max(1, len(centres)))
    for k in range(0, len(points), step):
        p = points[k : k + step]
        dx = p[:, None, 0] - centres[None, :, 0]
        dy = p[:, None, 1] - centres[None, :, 1]
        a = np.abs(dx * headings[None, :, 0] + dy * headings[None, :, 1])
        c = np.abs(-dx * headings[None, :, 1] + dy * headings[None, :, 0])
        counts[k : k + step] = ((a <= along / 2 + 1e-6) & (c <= across / 2 + 1e-6)).sum(axis=1)
    return counts


def coverage(
    region: BaseGeometry,
    centres: np.ndarray,
    headings: np.ndarray,
    *,
    footprint_m: tuple[float, float],
    required: int,
    max_samples: int = 20_000,
) -> Coverage:
    """Coverage of ``region`` (local metres) by photos at ``centres`` with ``headings``."""
    if region.is_empty or region.area <= 0:
        return Coverage(once=1.0, design=1.0, samples=0, required=required)
    pts = _samples(region, max_samples)
    counts = multiplicity(pts, centres, headings, footprint_m=footprint_m)
    return Coverage(
        once=float((counts >= 1).mean()),
        design=float((counts >= required).mean()),
        samples=len(pts),
        required=required,
    )


def outside_length_m(route: np.ndarray, region: BaseGeometry) -> float:
    """Metres of a route polyline that lie outside a region."""
    pts = np.asarray(route, dtype=float)
    if len(pts) < 2:
        return 0.0
    return float(shapely.difference(LineString(pts), region).length)
