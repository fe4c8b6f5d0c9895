"""Distances on the ground between WGS84 points, for the short ranges a drone flies.

A sphere of the mean Earth radius is enough there (haversine: within 0.5 % of the ellipsoid);
plans, fences and footprints that need metres exactly go through a local projection
(:mod:`gis.crs`) instead.
"""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_M", "ground_distance_m"]

#: The mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8


def ground_distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between ``a`` and ``b``, each ``(lat, lon)`` in degrees.

    >>> round(ground_distance_m((32.0, 120.0), (32.001, 120.0)), 1)
    111.2
    """
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))
