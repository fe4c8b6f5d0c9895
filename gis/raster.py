"""Helpers over open rasterio datasets: windows read at a chosen resolution, pixel <-> world
transforms, and rendering a rotated camera view of a raster in any CRS.

Datasets are opened by the caller and passed in (I/O at the edges; :func:`open_tiff` is the one
opener, TIFF only); everything reads only the part of the raster it needs, so world mosaics
larger than memory work.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import DatasetReader
from rasterio.warp import reproject
from rasterio.windows import from_bounds
from shapely.geometry import Point, Polygon

from gis.errors import CoordinateError, FormatError
from gis.messages import Message, msg

__all__ = [
    "TIFF_MAGIC",
    "is_tiff",
    "open_tiff",
    "looks_like_degrees",
    "suggested_epsg",
    "crs_hint",
    "check_extent",
    "Footprint",
    "raster_footprint",
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


#: The largest pixel (CRS units) read as degrees: 0.01° is about 1 km, far coarser than any
#: aerial image, while a metric pixel is rarely finer than 1 cm.
DEGREE_PIXEL_MAX = 0.01
#: How far (degrees) a raster may reach beyond its CRS's area of use: UTM and Gauss-Kruger zones
#: are often used a few degrees past their strip, never tens of degrees.
AREA_OF_USE_MARGIN_DEG = 5.0
#: Zone-prefixed CGCS2000 Gauss-Kruger eastings (zone * 1,000,000 + easting): the zone numbers
#: of the 3-degree and the 6-degree zones, and the EPSG code of each family's first zone.
_GK_3_DEGREE_ZONES, _GK_3_DEGREE_FIRST_EPSG = range(25, 46), 4513
_GK_6_DEGREE_ZONES, _GK_6_DEGREE_FIRST_EPSG = range(13, 24), 4491


def _corners(transform: Affine, width: int, height: int) -> np.ndarray:
    """World (x, y) of a raster's four outer corners, a 4x2 array."""
    cols = np.array([0.0, width, width, 0.0])
    rows = np.array([0.0, 0.0, height, height])
    xs, ys = transform @ (cols, rows)
    return np.column_stack([xs, ys])


def _pixel_size(transform: Affine) -> float:
    """Side of a square pixel of the same area as the transform's (CRS units)."""
    return math.sqrt(abs(transform.determinant))


def looks_like_degrees(transform: Affine, width: int, height: int) -> bool:
    """Whether a raster's coordinates read as degrees: every corner within longitude ±180 and
    latitude ±90 and pixels smaller than :data:`DEGREE_PIXEL_MAX`; otherwise they are metres."""
    corners = _corners(transform, width, height)
    return bool(
        np.all(np.abs(corners[:, 0]) <= 180.0)
        and np.all(np.abs(corners[:, 1]) <= 90.0)
        and _pixel_size(transform) < DEGREE_PIXEL_MAX
    )


def _zone_prefix(corners: np.ndarray) -> int | None:
    """The zone number every corner's easting starts with (``40`` in ``40 500 000``), when the
    eastings are CGCS2000 Gauss-Kruger ones with their zone prefixed; else None."""
    zones = {int(x // 1_000_000) for x in corners[:, 0]}
    if len(zones) != 1 or not np.all((corners[:, 1] > 0) & (corners[:, 1] < 10_000_000)):
        return None
    (zone,) = zones
    return zone if zone in _GK_3_DEGREE_ZONES or zone in _GK_6_DEGREE_ZONES else None


def _zone_crs(zone: int) -> CRS:
    """The CGCS2000 Gauss-Kruger CRS whose eastings carry ``zone`` as their prefix."""
    if zone in _GK_3_DEGREE_ZONES:
        return CRS.from_epsg(_GK_3_DEGREE_FIRST_EPSG + zone - _GK_3_DEGREE_ZONES.start)
    return CRS.from_epsg(_GK_6_DEGREE_FIRST_EPSG + zone - _GK_6_DEGREE_ZONES.start)


def suggested_epsg(transform: Affine, width: int, height: int) -> int | None:
    """The EPSG code a raster's coordinates point to, when they tell one: 4326 for degrees, the
    Gauss-Kruger zone of eastings prefixed with its number; None for other metres."""
    if looks_like_degrees(transform, width, height):
        return 4326
    zone = _zone_prefix(_corners(transform, width, height))
    return None if zone is None else _zone_crs(zone).to_epsg()


def crs_hint(transform: Affine, width: int, height: int, *, labelled: CRS | None = None) -> Message:
    """What CRS a raster's coordinates suggest, said as honestly as they allow: degrees point to
    EPSG:4326; eastings prefixed with a Gauss-Kruger zone number name that zone; other metres
    name only the kind of CRS, as no coordinate tells the zone. ``labelled``: the projected CRS
    the file wrongly names, not to be suggested again."""
    if looks_like_degrees(transform, width, height):
        return msg(
            "its coordinates look like degrees of longitude and latitude: most likely "
            "EPSG:4326 (WGS 84)"
        )
    zone = _zone_prefix(_corners(transform, width, height))
    if zone is not None:
        crs = _zone_crs(zone)
        return msg(
            "its coordinates look like metres whose eastings start with Gauss-Kruger zone "
            "number %(zone)d: most likely EPSG:%(code)s (%(name)s)",
            zone=zone,
            code=crs.to_epsg(),
            name=crs.name,
        )
    if labelled is not None and labelled.is_projected:
        return msg(
            "its coordinates look like metres of another projected CRS (another zone or "
            "hemisphere, say); the coordinates alone cannot tell which: ask whoever made the file"
        )
    return msg(
        "its coordinates look like metres of a projected CRS, such as EPSG:32650 (WGS 84 / UTM "
        "zone 50N) or EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E); the coordinates "
        "alone cannot tell which CRS or zone: ask whoever made the file"
    )


def _number(value: float) -> str:
    """A coordinate for a message: whole metres, or six significant digits of degrees."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.6g}"


def _span(corners: np.ndarray) -> dict[str, str]:
    """The x and y ranges of corners, formatted for a message (``x0``, ``x1``, ``y0``, ``y1``)."""
    return {
        "x0": _number(float(corners[:, 0].min())),
        "x1": _number(float(corners[:, 0].max())),
        "y0": _number(float(corners[:, 1].min())),
        "y1": _number(float(corners[:, 1].max())),
    }


def _crs_label(crs: CRS) -> str:
    """``EPSG:4326 (WGS 84)``, or the CRS's name alone when it has no EPSG code."""
    code = crs.to_epsg()
    return f"EPSG:{code} ({crs.name})" if code is not None else crs.name


def _inside_area(lonlat: np.ndarray, area: tuple[float, float, float, float]) -> bool:
    """Whether every (lon, lat) lies in a west, south, east, north area widened by
    :data:`AREA_OF_USE_MARGIN_DEG` (an area across longitude 180 has west > east)."""
    west, south, east, north = area
    m = AREA_OF_USE_MARGIN_DEG
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    if west <= east:
        in_lon = (lon >= west - m) & (lon <= east + m)
    else:
        in_lon = (lon >= west - m) | (lon <= east + m)
    return bool(
        np.all(np.isfinite(lonlat)) and np.all(in_lon & (lat >= south - m) & (lat <= north + m))
    )


def check_extent(crs: CRS | str, transform: Affine, width: int, height: int, *, name: str) -> None:
    """Refuse (CoordinateError naming ``name``) a raster whose corners lie outside the valid
    range of its own CRS: beyond ±180/±90 in a CRS of degrees, or, in a projected CRS, where it
    cannot place them or far outside its area of use. Such a file is labelled with the wrong
    CRS: read on, its findings would land nowhere, or nowhere near their place, without a word.

    ``crs`` is anything pyproj reads (WKT, ``"EPSG:4326"``, a pyproj CRS).
    """
    crs = CRS.from_user_input(crs)
    corners = _corners(transform, width, height)
    values = {
        "name": name,
        "crs": _crs_label(crs),
        "hint": crs_hint(transform, width, height, labelled=crs),
        **_span(corners),
    }
    if crs.is_geographic:
        slack = _pixel_size(transform)  # a global grid's edge pixels may reach half a pixel over
        if np.all(np.abs(corners[:, 0]) <= 180.0 + slack) and np.all(
            np.abs(corners[:, 1]) <= 90.0 + slack
        ):
            return
        raise CoordinateError(
            msg(
                "%(name)s: its CRS %(crs)s counts in degrees, but its corners run from x %(x0)s "
                "to %(x1)s and y %(y0)s to %(y1)s, beyond longitude ±180 and latitude ±90: the "
                "file is labelled with the wrong CRS; %(hint)s",
                **values,
            )
        )
    if crs.geodetic_crs is None:  # an engineering (local) CRS: no range to check against
        return
    to_lonlat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lons, lats = to_lonlat.transform(corners[:, 0], corners[:, 1], errcheck=False)
    lonlat = np.column_stack([lons, lats])
    area = crs.area_of_use
    if area is not None and _inside_area(lonlat, area.bounds):
        return
    if area is None and np.all(np.isfinite(lonlat)):
        return
    if area is None:
        raise CoordinateError(
            msg(
                "%(name)s: its corners (x %(x0)s to %(x1)s, y %(y0)s to %(y1)s) cannot be "
                "converted to longitude and latitude by its CRS %(crs)s: the file is labelled "
                "with the wrong CRS; %(hint)s",
                **values,
            )
        )
    west, south, east, north = (f"{v:g}" for v in area.bounds)
    raise CoordinateError(
        msg(
            "%(name)s: its corners (x %(x0)s to %(x1)s, y %(y0)s to %(y1)s) lie outside the "
            "area its CRS %(crs)s is made for (longitude %(west)s to %(east)s, latitude "
            "%(south)s to %(north)s): the file is most likely labelled with the wrong CRS; "
            "%(hint)s",
            west=west,
            east=east,
            south=south,
            north=north,
            **values,
        )
    )


@dataclass(frozen=True, slots=True)
class Footprint:
    """The ground a raster covers, in WGS84: its outline as (lon, lat) vertices (edges sampled,
    so a raster in a projected CRS keeps its curved outline) and its west, south, east, north
    bounds."""

    outline: tuple[tuple[float, float], ...]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        lons = [lon for lon, _ in self.outline]
        lats = [lat for _, lat in self.outline]
        return min(lons), min(lats), max(lons), max(lats)

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point (degrees) lies on the raster (its edge included)."""
        return bool(Polygon(self.outline).covers(Point(lon, lat)))

    def outside(self, points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        """The (lon, lat) points that lie off the raster, in their order."""
        polygon = Polygon(self.outline)
        return [(lon, lat) for lon, lat in points if not polygon.covers(Point(lon, lat))]

    def text(self) -> str:
        """``latitude 40.612345 to 41.123456, longitude -78.212345 to -77.612345``: where the
        raster lies, to six decimals (about 0.1 m), so a raster a few metres wide has two edges."""
        west, south, east, north = self.bounds
        return f"latitude {south:.6f} to {north:.6f}, longitude {west:.6f} to {east:.6f}"


def raster_footprint(
    crs: CRS | str, transform: Affine, width: int, height: int, *, samples: int = 16
) -> Footprint:
    """The WGS84 :class:`Footprint` of a raster (pure): its outer edges, ``samples`` points
    each, converted from ``crs`` (anything pyproj reads) to longitude and latitude.

    >>> from rasterio.transform import from_bounds
    >>> f = raster_footprint("EPSG:4326", from_bounds(120, 32, 121, 33, 100, 100), 100, 100)
    >>> f.contains(120.5, 32.5), f.contains(119.5, 32.5)
    (True, False)
    """
    crs = CRS.from_user_input(crs)
    steps = np.linspace(0.0, 1.0, samples, endpoint=False)
    cols = np.concatenate([steps * width, np.full(samples, float(width)),
                           (1 - steps) * width, np.zeros(samples)])  # fmt: skip
    rows = np.concatenate([np.zeros(samples), steps * height,
                           np.full(samples, float(height)), (1 - steps) * height])  # fmt: skip
    xs, ys = transform @ (cols, rows)
    wgs84 = CRS.from_epsg(4326)
    if crs != wgs84:
        to_lonlat = Transformer.from_crs(crs, wgs84, always_xy=True)
        xs, ys = to_lonlat.transform(xs, ys, errcheck=False)
    outline = tuple((float(x), float(y)) for x, y in zip(xs, ys, strict=True))
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in outline):
        raise CoordinateError(msg("the raster cannot be placed in longitude and latitude"))
    return Footprint(outline)


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
