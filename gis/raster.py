"""Helpers over open rasterio datasets: windows read at a chosen resolution, pixel <-> world
transforms, and rendering a rotated camera view of a raster in any CRS.

Datasets are opened by the caller and passed in (I/O at the edges; :func:`open_tiff` is the one
opener, TIFF only); everything reads only the part of the raster it needs, so world mosaics
larger than memory work.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader
from rasterio.warp import reproject
from rasterio.windows import from_bounds

from gis.errors import FormatError

__all__ = [
    "TIFF_MAGIC",
    "is_tiff",
    "open_tiff",
    "pixel_to_world",
    "world_to_pixel",
    "read_window_resampled",
    "read_window_valid",
    "view_transform",
    "render_view",
    "view_coverage",
    "to_rgb8",
]


#: The first bytes of a TIFF and a BigTIFF file, little- and big-endian.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_tiff(path: str | Path) -> bool:
    """Whether a file starts with a TIFF or BigTIFF signature (OSError when it cannot be read)."""
    with open(path, "rb") as fh:
        return fh.read(4) in TIFF_MAGIC


def open_tiff(path: str | Path, *, name: str | None = None) -> DatasetReader:
    """Open a TIFF or BigTIFF file with GDAL's GTiff driver only (``name``: how errors call it).

    Left to choose, GDAL opens whatever it recognises: a VRT (XML) named .tif opens, and may
    fetch, the files and URLs it names. So the signature is checked before GDAL sees the file
    (FormatError); GDAL's own errors stay RasterioIOError. A TIFF without georeference opens
    (callers say what they need) without a warning.
    """
    name = name or str(path)
    try:
        tiff = is_tiff(path)
    except OSError as exc:
        raise FormatError(f"{name} cannot be read ({exc.strerror})") from None
    if not tiff:
        raise FormatError(f"{name} is not a TIFF file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path, driver="GTiff")


def pixel_to_world(transform: Affine, row: float, col: float) -> tuple[float, float]:
    """World (x, y) of a pixel's centre."""
    x, y = transform @ (col + 0.5, row + 0.5)
    return float(x), float(y)


def world_to_pixel(transform: Affine, x: float, y: float) -> tuple[float, float]:
    """Fractional (row, col) of a world point; row 0.5, col 0.5 is the first pixel's centre."""
    col, row = ~transform @ (x, y)
    return float(row), float(col)


def read_window_resampled(
    dataset: DatasetReader,
    bounds: tuple[float, float, float, float],
    out_shape: tuple[int, int],
    *,
    indexes: list[int] | None = None,
    resampling: Resampling = Resampling.bilinear,
    fill_value: float = 0,
) -> np.ndarray:
    """Read (west, south, east, north) in the dataset's CRS into a (bands, rows, cols) array.

    Areas outside the raster are `fill_value`; only the window is read from disk.
    """
    height, width = out_shape
    if height <= 0 or width <= 0:
        raise FormatError(f"raster {dataset.name}: output shape {out_shape} must be positive")
    west, south, east, north = bounds
    if not (east > west and north > south):
        raise FormatError(
            f"raster {dataset.name}: bounds {bounds} are empty (west, south, east, north)"
        )
    bands = indexes or list(range(1, dataset.count + 1))
    window = from_bounds(west, south, east, north, transform=dataset.transform)
    return dataset.read(
        bands,
        window=window,
        out_shape=(len(bands), height, width),
        boundless=True,
        fill_value=fill_value,
        resampling=resampling,
    )


def read_window_valid(
    dataset: DatasetReader,
    bounds: tuple[float, float, float, float],
    out_shape: tuple[int, int],
    *,
    indexes: list[int] | None = None,
) -> np.ndarray:
    """Boolean (rows, cols) of the same window as :func:`read_window_resampled`: where the raster
    holds data (GDAL's masks: alpha or mask band, or a nodata value, a pixel being no data only
    when every band holds it, as in GDAL's dataset mask; nothing outside the raster)."""
    bands = indexes or list(range(1, dataset.count + 1))
    west, south, east, north = bounds
    window = from_bounds(west, south, east, north, transform=dataset.transform)
    masks = dataset.read_masks(
        bands, window=window, out_shape=(len(bands), *out_shape), boundless=True
    )
    return np.asarray(masks).astype(bool).any(axis=0)


def view_transform(
    centre: tuple[float, float], heading_deg: float, pixel_size: float, width: int, height: int
) -> Affine:
    """Affine transform of an image centred on `centre` whose top points along `heading_deg`.

    Heading is clockwise from the CRS's north (y axis); columns run to the right of the heading,
    rows backwards, `pixel_size` metres (CRS units) per pixel.
    """
    heading = math.radians(heading_deg)
    forward = (math.sin(heading), math.cos(heading))
    right = (math.cos(heading), -math.sin(heading))
    x0 = centre[0] - right[0] * pixel_size * width / 2 + forward[0] * pixel_size * height / 2
    y0 = centre[1] - right[1] * pixel_size * width / 2 + forward[1] * pixel_size * height / 2
    return Affine(
        right[0] * pixel_size,
        -forward[0] * pixel_size,
        x0,
        right[1] * pixel_size,
        -forward[1] * pixel_size,
        y0,
    )


def render_view(
    dataset: DatasetReader,
    *,
    dst_crs: CRS | str,
    dst_transform: Affine,
    out_shape: tuple[int, int],
    indexes: list[int] | None = None,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Warp the part of a raster seen by a (possibly rotated) grid into (bands, rows, cols).

    GDAL's warper reads only the source blocks it needs; pixels outside the raster are 0.
    """
    bands = indexes or list(range(1, min(dataset.count, 3) + 1))
    destination = np.zeros((len(bands), *out_shape), dtype=dataset.dtypes[bands[0] - 1])
    reproject(
        source=rasterio.band(dataset, bands),
        destination=destination,
        src_transform=dataset.transform,
        src_crs=dataset.crs,
        src_nodata=dataset.nodata,
        dst_transform=dst_transform,
        dst_crs=dst_crs if isinstance(dst_crs, str) else dst_crs.to_wkt(),
        dst_nodata=0,
        resampling=resampling,
    )
    return destination


def view_coverage(
    dataset: DatasetReader,
    *,
    dst_crs: CRS | str,
    dst_transform: Affine,
    out_shape: tuple[int, int],
) -> np.ndarray:
    """Boolean (rows, cols): which pixels of the view :func:`render_view` makes fall on the
    raster's extent (the rest it leaves 0). Warps a 2x2 stand-in of the extent, so it is cheap."""
    extent = np.ones((1, 2, 2), dtype=np.uint8)
    covered = np.zeros((1, *out_shape), dtype=np.uint8)
    reproject(
        source=extent,
        destination=covered,
        src_transform=dataset.transform @ Affine.scale(dataset.width / 2, dataset.height / 2),
        src_crs=dataset.crs,
        src_nodata=0,
        dst_transform=dst_transform,
        dst_crs=dst_crs if isinstance(dst_crs, str) else dst_crs.to_wkt(),
        dst_nodata=0,
        resampling=Resampling.nearest,
    )
    return covered[0].astype(bool)


def to_rgb8(bands: np.ndarray) -> np.ndarray:
    """(bands, rows, cols) of any dtype -> rows x cols x 3 uint8.

    One band is replicated to grey; non-uint8 data is stretched linearly to 0-255.
    """
    if bands.ndim != 3 or bands.shape[0] == 0:
        raise FormatError(f"expected a (bands, rows, cols) array, got shape {bands.shape}")
    rgb = bands[:3] if bands.shape[0] >= 3 else np.repeat(bands[:1], 3, axis=0)
    if rgb.dtype != np.uint8:
        data = rgb.astype(np.float64)
        low, high = float(np.nanmin(data)), float(np.nanmax(data))
        scale = 255.0 / (high - low) if high > low else 0.0
        rgb = np.clip((data - low) * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(rgb, 0, -1))
