"""Findings on the ground: image pixels -> WGS84 for nadir photos and GeoTIFFs, then -> grid id.

A nadir photo is placed by its geotag: the GPS position is the image centre, the top of the image
points along the yaw (degrees clockwise from true north; north-up when unknown), the image's width
lies across track, and one pixel covers the camera's GSD at the relative altitude. A GeoTIFF is
placed by its affine transform and CRS. Pixel coordinates are continuous: (0, 0) is the top-left
corner of the top-left pixel, (col + 0.5, row + 0.5) its centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import Point, Polygon

from gis.camera import PRESETS, Camera
from gis.crs import LocalFrame
from gis.exif import GeoTag
from gis.grids import Grid
from gis.raster import view_transform

__all__ = [
    "PhotoGeoref",
    "RasterGeoref",
    "Georef",
    "photo_gsd_m",
    "photo_georef",
    "camera_for_size",
    "scaled_camera",
    "box_polygon",
    "grid_for",
]


@dataclass(frozen=True, slots=True)
class PhotoGeoref:
    """A nadir photo's placement: centre (lon, lat), metres per pixel, yaw, size in pixels."""

    lon: float
    lat: float
    gsd_m: float
    yaw_deg: float
    width: int
    height: int

    def to_lonlat(self, cols, rows) -> tuple[np.ndarray, np.ndarray]:
        """Continuous pixel coordinates -> WGS84 lon, lat, through the view transform the
        simulator renders its photos with, in a metric frame centred on the photo."""
        to_metres = view_transform((0.0, 0.0), self.yaw_deg, self.gsd_m, self.width, self.height)
        east, north = to_metres @ (np.asarray(cols, dtype=float), np.asarray(rows, dtype=float))
        lon, lat = LocalFrame(self.lon, self.lat).inverse(east, north)
        return np.asarray(lon), np.asarray(lat)


@dataclass(frozen=True, slots=True)
class RasterGeoref:
    """A georeferenced raster's placement: its affine transform and CRS (WKT or EPSG text)."""

    transform: Affine
    crs: str

    def to_lonlat(self, cols, rows) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = self.transform @ (np.asarray(cols, dtype=float), np.asarray(rows, dtype=float))
        transformer = Transformer.from_crs(
            CRS.from_user_input(self.crs), "EPSG:4326", always_xy=True
        )
        lon, lat = transformer.transform(xs, ys)
        return np.asarray(lon), np.asarray(lat)

    @property
    def pixel_size_m(self) -> float:
        """Ground size of a pixel in metres (degrees converted at the centre if geographic)."""
        size = math.sqrt(
            abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)
        )
        crs = CRS.from_user_input(self.crs)
        if crs.is_geographic:
            lat = self.transform.f
            return size * 111_320.0 * math.cos(math.radians(lat))
        return size * (crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0)


Georef = PhotoGeoref | RasterGeoref


def camera_for_size(width: int, height: int) -> Camera | None:
    """The one preset camera whose images are exactly this size (either orientation), if any."""
    matches = [
        c for c in PRESETS.values() if {c.image_width_px, c.image_height_px} == {width, height}
    ]
    return matches[0] if len(matches) == 1 else None


def scaled_camera(camera: Camera, width: int, height: int) -> Camera:
    """The camera as seen through a photo of `width`×`height` pixels (either orientation).

    A copy downscaled from the sensor's native size has proportionally fewer, larger pixels: the
    focal length in pixels scales with the image's long side, while the sensor and lens stay the
    same, so ``gsd_m`` and ``footprint_m`` of the result hold for the photo as stored.
    """
    long_side, short_side = max(width, height), min(width, height)
    if long_side <= 0 or short_side <= 0:
        raise ValueError(f"photo size {width}x{height} is empty")
    if long_side == camera.image_width_px and short_side == camera.image_height_px:
        return camera
    return replace(camera, image_width_px=long_side, image_height_px=short_side)


def photo_gsd_m(tag: GeoTag, camera: Camera, long_side_px: int) -> float | None:
    """Metres per pixel of a nadir photo whose long side has `long_side_px` pixels (the camera's
    full width, or fewer for a downscaled copy); None without a relative altitude."""
    if tag.relative_altitude_m is None or tag.relative_altitude_m <= 0:
        return None
    short_side = max(1, round(long_side_px * camera.image_height_px / camera.image_width_px))
    return scaled_camera(camera, long_side_px, short_side).gsd_m(tag.relative_altitude_m)


def photo_georef(tag: GeoTag, *, gsd_m: float, width: int, height: int) -> PhotoGeoref:
    """Place a photo from its geotag (yaw 0 = north up when the tag has none)."""
    return PhotoGeoref(tag.lon, tag.lat, gsd_m, tag.yaw_deg or 0.0, width, height)


def box_polygon(georef: Georef, box_px: Sequence[float]) -> Polygon:
    """A pixel box (x0, y0, x1, y1) as a WGS84 polygon (rotated with the photo)."""
    x0, y0, x1, y1 = box_px
    lon, lat = georef.to_lonlat([x0, x1, x1, x0], [y0, y0, y1, y1])
    return Polygon(np.column_stack([lon, lat]))


def grid_for(polygon: Polygon, centre: tuple[float, float], grids: Sequence[Grid]) -> str | None:
    """The grid holding a finding's centre, else the one its polygon overlaps most, else None."""
    point = Point(centre)
    for grid in grids:
        if grid.geometry.covers(point):
            return grid.grid_id
    best, best_area = None, 0.0
    for grid in grids:
        area = grid.geometry.intersection(polygon).area
        if area > best_area:
            best, best_area = grid.grid_id, area
    return best
