"""A grid: one cell of a district's governance layer, with its id and WGS84 geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import MultiPolygon, Polygon

__all__ = ["Grid"]


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid polygon in WGS84 (x = longitude, y = latitude) with the id grid workers know it by."""

    grid_id: str
    geometry: Polygon | MultiPolygon
    properties: dict[str, Any] = field(default_factory=dict, compare=False)
