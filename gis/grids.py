"""A grid: one cell of a district's governance layer, with its id and WGS84 geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import LineString, MultiPolygon, Polygon

__all__ = ["Grid"]


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid in WGS84 (x = longitude, y = latitude) with the id grid workers know it by.

    Its geometry is the area to survey, or a LineString: the centre line of a corridor (a river
    or road flown along), which a plan needs a corridor width for.
    """

    grid_id: str
    geometry: Polygon | MultiPolygon | LineString
    properties: dict[str, Any] = field(default_factory=dict, compare=False)
