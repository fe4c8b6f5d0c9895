"""Imagery for the web maps: captured photos and orthomosaics as north-up WGS84 PNG overlays.

Leaflet's ``L.imageOverlay`` stretches a picture over a (south, west, north, east) box, so every
image is warped here, on the server, into an EPSG:4326 grid whose bounds are that box:

* a nadir photo is placed by its geotag and the flight's camera (see :mod:`vision.georef`: the
  GPS position is the image centre, the top points along the yaw, one pixel covers the GSD at the
  relative altitude), warped with :func:`rasterio.warp.reproject` from a local transverse Mercator
  frame, downscaled to at most 1024 px and made transparent outside the photo;
* an orthomosaic (a GeoTIFF in any CRS, opened with GDAL's GTiff driver only) is read
  decimated (GDAL picks overviews when present, and never materialises the full-resolution
  raster), then warped to at most 2048 px with its mask as the alpha band.

The computations are pure functions of arrays and placements; reading and writing files happens
in the ``render_*`` / ``inspect_*`` functions at the edge. Results are cached on disk by callers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from PIL import Image, UnidentifiedImageError
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.transform import from_bounds
from rasterio.warp import reproject, transform_bounds

from gis import raster as gis_raster
from gis.camera import Camera
from gis.crs import LocalFrame
from gis.errors import CoordinateError, GisError
from gis.exif import GeoTag
from gis.raster import to_rgb8, view_transform
from groundstation.config import DEFAULTS
from groundstation.errors import NotFoundError, TooLargeError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.i18n import lazy_reason
from vision.georef import PhotoGeoref, RasterGeoref, photo_georef, photo_gsd_m

__all__ = [
    "PHOTO_OVERLAY_MAX_PX",
    "PREVIEW_MAX_PX",
    "MAX_ORTHOMOSAIC_PIXELS",
    "Bounds",
    "OrthoInfo",
    "RasterPlacement",
    "raster_placement",
    "nadir_georef",
    "photo_placement",
    "photo_bounds",
    "fit_size",
    "warp_photo",
    "render_photo_overlay",
    "open_geotiff",
    "inspect_orthomosaic",
    "render_orthomosaic_preview",
    "cache_key",
]

PHOTO_OVERLAY_MAX_PX = 1024
PREVIEW_MAX_PX = 2048
#: Most pixels an orthomosaic may declare (setting ``MAX_ORTHOMOSAIC_PIXELS``): 400 MP is a
#: 1 km² grid at 5 cm/px. The preview, rendered during the upload, decodes every pixel of a file
#: without overviews (a sparse 400 MP GeoTIFF takes about 7 s), and a 5 MB sparse GeoTIFF can
#: declare 40 gigapixels (minutes). The setting's default; the app passes its configured value.
MAX_ORTHOMOSAIC_PIXELS: int = DEFAULTS["MAX_ORTHOMOSAIC_PIXELS"]
WGS84 = "EPSG:4326"


@dataclass(frozen=True, slots=True)
class Bounds:
    """A WGS84 box: west, south, east, north in degrees (rasterio's order)."""

    west: float
    south: float
    east: float
    north: float

    def leaflet(self) -> list[list[float]]:
        """``[[south, west], [north, east]]``, the corner pair ``L.imageOverlay`` takes."""
        return [[self.south, self.west], [self.north, self.east]]

    def contains(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


@dataclass(frozen=True, slots=True)
class OrthoInfo:
    """What a validated orthomosaic is: size, bands, CRS and its footprint in both CRSs."""

    width: int
    height: int
    count: int
    dtype: str
    crs: str
    native_bounds: tuple[float, float, float, float]
    bounds: Bounds


# -- photos ------------------------------------------------------------------------------------


def photo_placement(
    *,
    lon: float | None,
    lat: float | None,
    relative_altitude_m: float | None,
    yaw_deg: float | None,
    camera: Camera,
    width: int,
    height: int,
    what: str = "photo",
) -> PhotoGeoref:
    """A nadir photo's placement from its stored geotag fields and the flight's camera.

    ``width``×``height`` is the photo's size as stored (may be downscaled from the sensor's).
    """
    if lon is None or lat is None:
        raise NotFoundError(
            _l("%(what)s has no GPS position: it cannot be placed on the map", what=what)
        )
    tag = GeoTag(lat, lon, 0.0, relative_altitude_m=relative_altitude_m, yaw_deg=yaw_deg)
    gsd = photo_gsd_m(tag, camera, max(width, height))
    if gsd is None:
        raise NotFoundError(
            _l(
                "%(what)s has no height above ground (relative altitude): its scale is unknown",
                what=what,
            )
        )
    return photo_georef(tag, gsd_m=gsd, width=width, height=height)


@dataclass(frozen=True, slots=True)
class RasterPlacement:
    """A georeferenced TIFF photo placed by its own geotransform and CRS (``georef``), as the
    classifier places its findings, not by a GPS geotag and the camera; ``nadir`` is the same
    photo as a :class:`PhotoGeoref` (centre, metres per pixel, heading of its top, size), and
    ``bounds`` its exact WGS84 box."""

    georef: RasterGeoref
    nadir: PhotoGeoref
    bounds: Bounds

    def to_lonlat(self, cols, rows) -> tuple[np.ndarray, np.ndarray]:
        """Continuous pixel coordinates -> WGS84 lon, lat (see :class:`RasterGeoref`)."""
        return self.georef.to_lonlat(cols, rows)


def nadir_georef(placement: PhotoGeoref | RasterPlacement) -> PhotoGeoref:
    """A photo's centre, metres per pixel, heading and size, whichever way it was placed."""
    return placement.nadir if isinstance(placement, RasterPlacement) else placement


def raster_placement(path: Path, *, what: str = "photo") -> RasterPlacement | None:
    """The placement of a TIFF with a CRS and a geotransform (a GeoTIFF); None for any other
    file (a JPEG, a plain TIFF, one with a transform but no CRS, one GDAL cannot open: those
    are placed, or refused, as photos). A GeoTIFF whose corners its CRS cannot place (a wrong
    CRS label) is a ValidationError naming ``what``: read on, it would land nowhere."""
    try:
        if not gis_raster.is_tiff(path):
            return None
        with gis_raster.open_tiff(path, name=what) as src:
            if src.crs is None or src.transform.is_identity or src.transform.is_degenerate:
                return None
            transform, crs, width, height = src.transform, src.crs, src.width, src.height
            native = tuple(src.bounds)
    except (OSError, GisError, RasterioError):
        return None
    try:
        gis_raster.check_extent(crs, transform, width, height, name=what)
        west, south, east, north = transform_bounds(crs, WGS84, *native, densify_pts=21)
    except CoordinateError as exc:
        raise ValidationError(lazy_reason(exc)) from None
    except Exception as exc:  # pyproj/GDAL refusing the CRS
        raise ValidationError(
            _l(
                "%(name)s: its CRS %(crs)s cannot be converted to WGS84 (%(detail)s)",
                name=what,
                crs=crs,
                detail=exc,
            )
        ) from None
    georef = RasterGeoref(transform, crs.to_wkt())
    lon, lat = georef.to_lonlat([width / 2], [height / 2])
    # the heading of the image's top (rows decreasing) in the CRS, clockwise from its north
    yaw = math.degrees(math.atan2(-transform.b, -transform.e)) % 360.0
    nadir = PhotoGeoref(float(lon[0]), float(lat[0]), georef.pixel_size_m, yaw, width, height)
    return RasterPlacement(
        georef=georef,
        nadir=nadir,
        bounds=Bounds(float(west), float(south), float(east), float(north)),
    )


def place_photo(photo: Any, camera: Camera) -> PhotoGeoref | RasterPlacement:
    """A stored photo's placement (``photo``: a :class:`groundstation.models.Photo` or alike):
    a GeoTIFF's by its geotransform (:func:`raster_placement`), any other's by its geotag and
    ``camera``. NotFoundError when its file is gone or unreadable, or its geotag cannot place
    it; ValidationError for a GeoTIFF labelled with the wrong CRS."""
    if Path(photo.path).suffix.lower() in (".tif", ".tiff"):
        raster = raster_placement(Path(photo.path), what=f"photo {photo.id}")
        if raster is not None:
            return raster
    try:
        with Image.open(photo.path) as image:
            width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow will not open a photo this large; placing it needs only its header's size
        width, height = _declared_size(Path(photo.path), refusal=exc)
    except FileNotFoundError:
        raise NotFoundError(
            _l("photo %(id)s: file %(name)s is gone", id=photo.id, name=Path(photo.path).name)
        ) from None
    except (OSError, UnidentifiedImageError) as exc:
        name = Path(photo.path).name
        raise NotFoundError(
            _l(
                "photo %(id)s: %(name)s is unreadable (%(detail)s)",
                id=photo.id,
                name=name,
                detail=exc,
            )
        ) from None
    return photo_placement(
        lon=photo.lon,
        lat=photo.lat,
        relative_altitude_m=photo.relative_altitude_m,
        yaw_deg=photo.yaw_deg,
        camera=camera,
        width=width,
        height=height,
        what=f"photo {photo.id}",
    )


def _pixel_limit_error(path: Path, *, refusal: Exception) -> TooLargeError:
    """Our error for a stored photo Pillow refused to open as a decompression bomb (a photo
    registered from a folder is not checked as an upload is)."""
    from groundstation.uploads import pixel_limit_error  # uploads → ingest → reflight → here

    pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    return pixel_limit_error(
        path.read_bytes(), name=path.name, max_pixels=pillow_limit, refusal=refusal
    )


def _declared_size(path: Path, *, refusal: Exception) -> tuple[int, int]:
    """The size a stored photo's header declares, which Pillow refused to open (``refusal``);
    our error when not even that is readable."""
    from groundstation.uploads import declared_size

    size = declared_size(path.read_bytes())
    if size is None:
        raise _pixel_limit_error(path, refusal=refusal)
    return size


def photo_bounds(georef: PhotoGeoref | RasterPlacement) -> Bounds:
    """The WGS84 box around the photo's four (rotated) corners (a GeoTIFF's: around its
    densified edges, the box its overlay is rendered into)."""
    if isinstance(georef, RasterPlacement):
        return georef.bounds
    lon, lat = georef.to_lonlat(
        [0, georef.width, georef.width, 0], [0, 0, georef.height, georef.height]
    )
    return Bounds(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


def fit_size(bounds: Bounds, *, pixel_deg: tuple[float, float], max_px: int) -> tuple[int, int]:
    """(width, height) of a north-up grid over ``bounds`` at about ``pixel_deg`` (x, y) degrees
    per pixel, shrunk so that neither side exceeds ``max_px``; never below one pixel."""
    width = (bounds.east - bounds.west) / pixel_deg[0]
    height = (bounds.north - bounds.south) / pixel_deg[1]
    scale = min(1.0, max_px / max(width, height, 1e-9))
    return max(1, min(max_px, round(width * scale))), max(1, min(max_px, round(height * scale)))


def warp_photo(
    rgb: np.ndarray, georef: PhotoGeoref, *, max_px: int = PHOTO_OVERLAY_MAX_PX
) -> tuple[np.ndarray, Bounds]:
    """Warp a rows×cols×3 uint8 photo north-up into WGS84: (rows×cols×4 RGBA, its bounds).

    ``rgb`` may be smaller than ``georef.width``×``georef.height`` (a thumbnail of the photo);
    its pixels are scaled to cover the same ground. Outside the photo the result is transparent.
    """
    rows, cols = rgb.shape[:2]
    frame = LocalFrame(georef.lon, georef.lat)
    centre = tuple(float(v) for v in frame.forward(georef.lon, georef.lat))
    pixel_m = georef.gsd_m * georef.width / cols
    src_transform = view_transform(centre, georef.yaw_deg, pixel_m, cols, rows)
    bounds = photo_bounds(georef)
    # the photo's pixel size in degrees at its centre, as the target resolution before capping
    lon_deg = pixel_m / (111_320.0 * math.cos(math.radians(georef.lat)))
    lat_deg = pixel_m / 110_574.0
    width, height = fit_size(bounds, pixel_deg=(lon_deg, lat_deg), max_px=max_px)
    dst_transform = from_bounds(bounds.west, bounds.south, bounds.east, bounds.north, width, height)
    source = np.concatenate(
        [np.moveaxis(rgb, -1, 0), np.full((1, rows, cols), 255, dtype=np.uint8)]
    )
    out = np.zeros((4, height, width), dtype=np.uint8)
    reproject(
        source=source,
        destination=out,
        src_transform=src_transform,
        src_crs=frame.crs.to_wkt(),
        dst_transform=dst_transform,
        dst_crs=WGS84,
        src_nodata=None,
        dst_nodata=0,
        resampling=Resampling.bilinear,
    )
    return np.ascontiguousarray(np.moveaxis(out, 0, -1)), bounds


def _write_png(image: np.ndarray, dest: Path) -> None:
    """Write atomically, so a concurrent reader never sees half a PNG."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".png.part")
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(image).save(fh, "PNG", optimize=False)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_photo_overlay(
    photo_path: Path,
    dest: Path,
    *,
    georef_fields: Mapping[str, float | None],
    camera: Camera,
    max_px: int = PHOTO_OVERLAY_MAX_PX,
    what: str = "photo",
) -> Bounds:
    """Read a photo, place it (``georef_fields``: lon, lat, relative_altitude_m, yaw_deg), warp it
    and write the RGBA PNG to ``dest``; return its bounds. The photo is thumbnailed to
    ``max_px`` before warping, so a 20 MP original never goes through the warper whole."""
    try:
        with Image.open(photo_path) as image:
            width, height = image.size
            image = image.convert("RGB")
            image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
            rgb = np.asarray(image, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # our message and the limit in force, not Pillow's English one
        raise _pixel_limit_error(Path(photo_path), refusal=exc) from None
    except FileNotFoundError:
        raise NotFoundError(
            _l("%(what)s: file %(name)s is gone", what=what, name=Path(photo_path).name)
        ) from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValidationError(
            _l(
                "%(what)s: %(name)s is unreadable (%(detail)s)",
                what=what,
                name=Path(photo_path).name,
                detail=exc,
            )
        ) from None
    georef = photo_placement(
        lon=georef_fields.get("lon"),
        lat=georef_fields.get("lat"),
        relative_altitude_m=georef_fields.get("relative_altitude_m"),
        yaw_deg=georef_fields.get("yaw_deg"),
        camera=camera,
        width=width,
        height=height,
        what=what,
    )
    rgba, bounds = warp_photo(rgb, georef, max_px=max_px)
    _write_png(rgba, dest)
    return bounds


def cache_key(*parts: Any) -> str:
    """A short stable hash of everything an overlay depends on."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- orthomosaics ------------------------------------------------------------------------------


def open_geotiff(path: Path, *, name: str) -> DatasetReader:
    """Open a TIFF or BigTIFF file with GDAL's GTiff driver only (``name``: how errors call it;
    see :func:`gis.raster.open_tiff`): not a TIFF is a ValidationError, GDAL's own errors are
    RasterioError."""
    try:
        tiff = gis_raster.is_tiff(path)
    except OSError as exc:
        raise ValidationError(
            _l("%(name)s cannot be read (%(detail)s)", name=name, detail=exc.strerror)
        ) from None
    if not tiff:
        raise ValidationError(_l("%(name)s is not a TIFF file: a GeoTIFF is needed", name=name))
    return gis_raster.open_tiff(path, name=name)


def inspect_orthomosaic(
    path: Path, *, name: str = "orthomosaic", max_pixels: int = MAX_ORTHOMOSAIC_PIXELS
) -> OrthoInfo:
    """Open a GeoTIFF and check it can be a map layer: a TIFF of at most ``max_pixels`` pixels
    (TooLargeError), with a CRS and a real transform."""
    try:
        with open_geotiff(path, name=repr(name)) as src:
            if src.crs is None:
                raise ValidationError(
                    _l("%(name)s is not georeferenced: it has no CRS", name=repr(name))
                )
            if src.transform == Affine.identity() or src.transform.is_degenerate:
                raise ValidationError(
                    _l(
                        "%(name)s is not georeferenced: it has no geotransform (GCP-only or plain "
                        "TIFF); export it as a GeoTIFF with a transform",
                        name=repr(name),
                    )
                )
            if src.count < 1 or src.width < 1 or src.height < 1:
                raise ValidationError(_l("%(name)s has no pixels", name=repr(name)))
            if src.width * src.height > max_pixels:
                raise TooLargeError(
                    _l(
                        "%(name)s is %(width)d×%(height)d pixels, more than the %(max)s allowed",
                        name=repr(name),
                        width=src.width,
                        height=src.height,
                        max=f"{max_pixels:,}",
                    )
                )
            try:
                bounds = transform_bounds(src.crs, WGS84, *src.bounds, densify_pts=21)
            except Exception as exc:
                raise ValidationError(
                    _l(
                        "%(name)s: its CRS %(crs)s cannot be converted to WGS84 (%(detail)s)",
                        name=repr(name),
                        crs=src.crs,
                        detail=exc,
                    )
                ) from None
            west, south, east, north = (float(v) for v in bounds)
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90) or not all(
                math.isfinite(v) for v in bounds
            ):
                raise ValidationError(
                    _l(
                        "%(name)s: its footprint %(bounds)s is not a valid WGS84 box",
                        name=repr(name),
                        bounds=bounds,
                    )
                )
            return OrthoInfo(
                width=src.width,
                height=src.height,
                count=src.count,
                dtype=src.dtypes[0],
                crs=src.crs.to_string(),
                native_bounds=tuple(float(v) for v in src.bounds),  # type: ignore[arg-type]
                bounds=Bounds(west, south, east, north),
            )
    except RasterioError as exc:
        raise ValidationError(
            _l("%(name)s is not a readable GeoTIFF (%(detail)s)", name=repr(name), detail=exc)
        ) from None


def _decimated_shape(width: int, height: int, target: int) -> tuple[int, int]:
    """(rows, cols) of a read at most ``target`` px on its long side (never upsampled)."""
    scale = min(1.0, target / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def render_orthomosaic_preview(
    path: Path, dest: Path, *, max_px: int = PREVIEW_MAX_PX, name: str = "orthomosaic"
) -> tuple[Bounds, tuple[int, int]]:
    """Write the web preview of a GeoTIFF: EPSG:4326, ≤ ``max_px`` px, PNG with alpha.

    The source is read once, decimated to about twice the preview size (``out_shape``: GDAL
    uses overviews when the file has them), then warped. Returns (bounds, (width, height)) where
    the bounds are exactly those of the written grid; pixels that cannot be read are a
    ValidationError naming ``name``.
    """
    try:
        with open_geotiff(path, name=repr(name)) as src:
            rows, cols = _decimated_shape(src.width, src.height, 2 * max_px)
            bands = [1, 2, 3] if src.count >= 3 else [1]
            out_shape = (len(bands), rows, cols)
            data = src.read(bands, out_shape=out_shape, resampling=Resampling.average)
            mask = src.dataset_mask(out_shape=(rows, cols), resampling=Resampling.nearest)
            src_transform = src.transform @ Affine.scale(src.width / cols, src.height / rows)
            src_crs = src.crs
            west, south, east, north = transform_bounds(src.crs, WGS84, *src.bounds, densify_pts=21)
    except RasterioError as exc:  # a header that opens over pixels that do not (a cut-off copy)
        raise ValidationError(
            _l(
                "%(name)s is not a readable GeoTIFF: its pixels cannot be read (%(detail)s)",
                name=repr(name),
                detail=exc,
            )
        ) from None
    valid = mask > 0
    rgb = to_rgb8(data if valid.all() else np.where(valid, data, data[:, valid].min(initial=0)))
    bounds = Bounds(float(west), float(south), float(east), float(north))
    # target resolution: the decimated grid's pixel count spread over the WGS84 box, capped
    aspect = (bounds.east - bounds.west) / (bounds.north - bounds.south)
    long_side = max(rows, cols)
    width, height = (
        (long_side, max(1, round(long_side / aspect)))
        if aspect >= 1
        else (max(1, round(long_side * aspect)), long_side)
    )
    scale = min(1.0, max_px / max(width, height))
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    dst_transform = from_bounds(bounds.west, bounds.south, bounds.east, bounds.north, width, height)
    source = np.concatenate([np.moveaxis(rgb, -1, 0), np.where(valid, 255, 0)[None].astype("u1")])
    out = np.zeros((4, height, width), dtype=np.uint8)
    passes = ((slice(0, 3), Resampling.bilinear), (slice(3, 4), Resampling.nearest))
    for index, resampling in passes:
        reproject(
            source=source[index],
            destination=out[index],
            src_transform=src_transform,
            src_crs=src_crs,
            dst_transform=dst_transform,
            dst_crs=CRS.from_epsg(4326),
            src_nodata=None,
            dst_nodata=0,
            resampling=resampling,
        )
    _write_png(np.ascontiguousarray(np.moveaxis(out, 0, -1)), dest)
    return bounds, (width, height)
