"""Local metric frames for an area: WGS84 (lon, lat) <-> metres, both directions.

Planning happens in a transverse Mercator frame centred on the area, so distances and areas within a
few tens of kilometres are true to well under a part in ten thousand. Never do degree arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from gis.errors import CoordinateError

__all__ = ["WGS84", "LocalFrame"]

WGS84 = CRS.from_epsg(4326)


@lru_cache(maxsize=256)
def _transformers(lon0: float, lat0: float) -> tuple[Transformer, Transformer]:
    local = CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat0!r} +lon_0={lon0!r} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
    )
    forward = Transformer.from_crs(WGS84, local, always_xy=True)
    inverse = Transformer.from_crs(local, WGS84, always_xy=True)
    return forward, inverse


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """A metric frame whose origin (0, 0) is at (lon0, lat0); x east, y north, metres."""

    lon0: float
    lat0: float

    def __post_init__(self) -> None:
        if not (-180.0 <= self.lon0 <= 180.0 and -90.0 <= self.lat0 <= 90.0):
            raise CoordinateError(f"frame origin ({self.lon0}, {self.lat0}) is not a WGS84 lon/lat")

    @classmethod
    def around(cls, geometry: BaseGeometry) -> LocalFrame:
        """The frame centred on a WGS84 geometry's bounding box."""
        if geometry.is_empty:
            raise CoordinateError("cannot centre a frame on an empty geometry")
        west, south, east, north = geometry.bounds
        return cls(round((west + east) / 2, 7), round((south + north) / 2, 7))

    @property
    def crs(self) -> CRS:
        """The frame as a pyproj CRS (transverse Mercator on the WGS84 ellipsoid, metres)."""
        return _transformers(self.lon0, self.lat0)[0].target_crs

    def forward(self, lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
        """WGS84 lon/lat (scalars or arrays) -> local x/y metres."""
        return _transformers(self.lon0, self.lat0)[0].transform(lon, lat)

    def inverse(self, x: ArrayLike, y: ArrayLike) -> tuple[Any, Any]:
        """Local x/y metres (scalars or arrays) -> WGS84 lon/lat."""
        return _transformers(self.lon0, self.lat0)[1].transform(x, y)

    def to_local(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a WGS84 geometry into this frame."""
        return _apply(geometry, _transformers(self.lon0, self.lat0)[0])

    def to_wgs84(self, geometry: BaseGeometry) -> BaseGeometry:
        """Project a geometry in this frame back to WGS84."""
        return _apply(geometry, _transformers(self.lon0, self.lat0)[1])


def _apply(geometry: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    def convert(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(geometry, convert)
    if out.geom_type in _POLYGONAL and not out.is_valid and geometry.is_valid:
        out = _repaired(out)
    return out


_POLYGONAL = ("Polygon", "MultiPolygon")


def _repaired(polygonal: BaseGeometry) -> BaseGeometry:
    """A valid polygon again after a projection rounded a sliver or spike into a self-touch.

    Only numerical noise is repaired: the parts make_valid returns that are not areas (the
    collapsed sliver's lines and points) are dropped.
    """
    fixed = shapely.make_valid(polygonal)
    parts = [g for g in shapely.get_parts(fixed) if g.geom_type in _POLYGONAL and g.area > 0]
    if not parts:
        return polygonal
    merged = shapely.union_all(parts)
    if merged.geom_type == "MultiPolygon" and len(merged.geoms) == 1:
        return merged.geoms[0]
    return merged
