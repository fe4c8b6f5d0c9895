"""Small geometry helpers shared by the planner stages (local metres, rotations, polygon parts)."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = ["rotate", "polygons_of", "is_convex", "edge_angles_deg"]


def rotate(geometry: BaseGeometry, angle_deg: float) -> BaseGeometry:
    """Rotate counter-clockwise by ``angle_deg`` about the origin (vectorised over coordinates)."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    matrix = np.array([[c, s], [-s, c]])  # row-vector form of [[c, -s], [s, c]]
    return shapely.transform(geometry, lambda pts: pts @ matrix)


def rotate_points(points: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate an (N, 2) array counter-clockwise by ``angle_deg`` about the origin."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return np.asarray(points, dtype=float) @ np.array([[c, s], [-s, c]])


def polygons_of(geometry: BaseGeometry, *, min_area: float = 1e-6) -> list[Polygon]:
    """The polygon parts of any geometry, dropping empty and degenerate ones."""
    if geometry.is_empty:
        return []
    if isinstance(geometry, Polygon):
        parts = [geometry]
    elif isinstance(geometry, MultiPolygon):
        parts = list(geometry.geoms)
    elif hasattr(geometry, "geoms"):
        parts = [p for g in geometry.geoms for p in polygons_of(g, min_area=min_area)]
    else:
        parts = []
    return [p for p in parts if isinstance(p, Polygon) and p.area > min_area]


def is_convex(polygon: Polygon, *, tolerance: float = 1e-6) -> bool:
    """True for a hole-free polygon equal (to a relative tolerance) to its convex hull."""
    if polygon.interiors:
        return False
    hull_area = polygon.convex_hull.area
    return hull_area <= 0 or (hull_area - polygon.area) <= tolerance * hull_area


def edge_angles_deg(polygon: Polygon, *, min_length: float = 0.0) -> np.ndarray:
    """Direction (0-180°, counter-clockwise from +x) of each ring edge ≥ ``min_length`` long."""
    angles = []
    for ring in (polygon.exterior, *polygon.interiors):
        pts = np.asarray(ring.coords)
        d = np.diff(pts, axis=0)
        keep = np.hypot(d[:, 0], d[:, 1]) >= max(min_length, 1e-9)
        angles.append(np.degrees(np.arctan2(d[keep, 1], d[keep, 0])) % 180.0)
    return np.concatenate(angles) if angles else np.zeros(0)
