"""World rasters: a georeferenced synthetic landscape with planted violations, for the SITL camera.

`build_world` lays out a rural scene over an area in its UTM zone, plants violations where they
make sense (optionally forced into given grid polygons), writes a tiled, compressed GeoTIFF block
by block (never the whole raster in memory) and returns the planted truth, also saved as GeoJSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely.geometry import Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from gis.grids import Grid
from vision.errors import SynthError
from vision.labels import VIOLATIONS
from vision.synth.layout import Feature, Layout, plant, random_layout
from vision.synth.render import Lighting, render_window

__all__ = ["PlantedViolation", "WorldTruth", "build_world", "load_truth", "utm_crs_for"]

MAX_WORLD_GSD_M = 0.05


@dataclass(frozen=True, slots=True)
class PlantedViolation:
    """A violation planted in a world: class, centre and footprint in WGS84, grid it was put in."""

    label: str
    lon: float
    lat: float
    footprint: Polygon
    grid_id: str | None = None


@dataclass(frozen=True, slots=True)
class WorldTruth:
    """What was written: the raster, its CRS and grid, and every planted violation."""

    raster_path: Path
    truth_path: Path
    crs: str
    bounds: tuple[float, float, float, float]  # west, south, east, north in `crs` metres
    gsd_m: float
    violations: tuple[PlantedViolation, ...]

    def to_geojson(self) -> dict:
        return {
            "type": "FeatureCollection",
            "properties": {
                "raster": str(self.raster_path),
                "crs": self.crs,
                "gsd_m": self.gsd_m,
                "bounds": list(self.bounds),
            },
            "features": [
                {
                    "type": "Feature",
                    "geometry": mapping(v.footprint),
                    "properties": {
                        "class": v.label,
                        "lon": v.lon,
                        "lat": v.lat,
                        "grid_id": v.grid_id,
                    },
                }
                for v in self.violations
            ],
        }


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone CRS containing a point."""
    zone = min(60, int((lon + 180.0) // 6.0) + 1)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _counts(violations: int | Mapping[str, int] | None, area_m2: float) -> dict[str, int]:
    if violations is None:
        n = max(1, round(area_m2 / 40_000))  # about one of each class per 4 ha
        return {label: n for label in VIOLATIONS}
    if isinstance(violations, int):
        return {label: violations for label in VIOLATIONS}
    unknown = set(violations) - set(VIOLATIONS)
    if unknown:
        raise SynthError(
            f"unknown violation classes {sorted(unknown)}; use {', '.join(VIOLATIONS)}"
        )
    return {label: int(violations.get(label, 0)) for label in VIOLATIONS}


#: A grid with less open water than this (m²) gets a dug pond for fishing gear instead.
_MIN_FISHING_WATER_M2 = 400.0
#: Kinds that cannot stand in open water: drawn water removes them where they overlap it.
_DRY_KINDS = frozenset({"roof", "courtyard", "shadow", "tree", "dike"})


def _with_water(layout: Layout, rng: np.random.Generator, water: BaseGeometry) -> Layout:
    """The layout with `water` (metres) drawn as a river channel; houses, yards and trees in
    its way are removed (roads cross it as bridges)."""
    if water.is_empty:
        return layout
    kept = tuple(
        f for f in layout.features if not (f.kind in _DRY_KINDS and f.geometry.intersects(water))
    )
    channel = Feature(
        "water", water, (55.0, 80.0, 78.0), "river", 0.0, 1.0, int(rng.integers(1 << 30))
    )
    return Layout(layout.bounds, (*kept, channel), layout.violations, layout.seed)


def _plant_in(
    layout: Layout, rng: np.random.Generator, label: str, region: BaseGeometry, where: str
) -> Layout:
    try:
        return plant(layout, rng, label, region=region, dig_pond=True)
    except SynthError as exc:
        raise SynthError(f"cannot place {label} in {where}: {exc}") from None


def build_world(
    path: str | Path,
    *,
    bounds_wgs84: tuple[float, float, float, float] | None = None,
    centre: tuple[float, float] | None = None,
    size_m: tuple[float, float] | float | None = None,
    gsd_m: float = 0.05,
    grids: Iterable[Grid] | None = None,
    violations: int | Mapping[str, int] | None = None,
    seed: int = 0,
    truth_path: str | Path | None = None,
    block_px: int = 512,
    compress: str = "jpeg",
    water: Iterable[BaseGeometry] = (),
) -> WorldTruth:
    """Write a synthetic world GeoTIFF and return (and save as GeoJSON) its planted truth.

    The area is `bounds_wgs84` (west, south, east, north degrees) or `centre` (lon, lat) plus
    `size_m` (width, height metres). `violations` is a count per class (an int for every class; by
    default about one of each per 4 ha). With `grids`, violations are spread over the grids in turn
    and planted inside them. `water` (WGS84 polygons, e.g. a river grid's channel) is drawn as
    open water over the generated land; fishing gear then goes to the grids holding open water
    (in turn), and a pond is dug only when no grid has any. The raster is RGB uint8 in the
    area's UTM zone, tiled and compressed, with overviews; `truth_path` defaults to the raster's
    path with suffix `.truth.geojson`.
    """
    if not 0 < gsd_m <= MAX_WORLD_GSD_M:
        raise SynthError(f"world GSD must be in (0, {MAX_WORLD_GSD_M}] m, got {gsd_m}")
    if bounds_wgs84 is None:
        if centre is None or size_m is None:
            raise SynthError("build_world needs bounds_wgs84, or centre and size_m")
        width_m, height_m = (size_m, size_m) if isinstance(size_m, int | float) else size_m
        lon0, lat0 = centre
    else:
        west, south, east, north = bounds_wgs84
        if not (west < east and south < north):
            raise SynthError(f"bounds {bounds_wgs84} are not (west, south, east, north)")
        lon0, lat0 = (west + east) / 2, (south + north) / 2
    crs = utm_crs_for(lon0, lat0)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    if bounds_wgs84 is None:
        cx, cy = to_utm.transform(lon0, lat0)
        utm_bounds = (cx - width_m / 2, cy - height_m / 2, cx + width_m / 2, cy + height_m / 2)
    else:
        utm_bounds = to_utm.transform_bounds(*bounds_wgs84, densify_pts=21)
    west, south, east, north = utm_bounds
    west, north = math.floor(west / gsd_m) * gsd_m, math.ceil(north / gsd_m) * gsd_m
    width = math.ceil((east - west) / gsd_m)
    height = math.ceil((north - south) / gsd_m)
    if width < 16 or height < 16:
        raise SynthError(f"world of {width}x{height} px is too small; enlarge the area or the GSD")
    bounds = (west, north - height * gsd_m, west + width * gsd_m, north)

    rng = np.random.default_rng(seed)
    layout = random_layout(rng, bounds, water=0.6, village=0.5, ponds=0.5)
    layout = Layout(layout.bounds, layout.features, (), seed)

    def to_local(geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(
            geom, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))
        )

    channels = [to_local(g) for g in water]
    if channels:
        layout = _with_water(layout, rng, shapely.union_all(channels).intersection(box(*bounds)))
    counts = _counts(violations, (bounds[2] - bounds[0]) * (bounds[3] - bounds[1]))
    grid_list = list(grids or [])
    regions: list[tuple[BaseGeometry, str | None]] = []
    area = box(*bounds).buffer(-5)
    for grid in grid_list:
        local = to_local(grid.geometry)
        inside = local.intersection(area)
        if inside.is_empty:
            raise SynthError(f"grid {grid.grid_id!r} lies outside the world bounds")
        regions.append((inside, grid.grid_id))
    if not regions:
        regions.append((area, None))
    open_water = shapely.union_all(
        [f.geometry for f in layout.features if f.kind == "water"] or [Polygon()]
    )
    wet = [r for r in regions if r[0].intersection(open_water).area >= _MIN_FISHING_WATER_M2]
    grid_of_violation: list[str | None] = []
    k = wet_k = 0
    # water first: a pond may need digging before sheds and fires take the free ground
    for label in sorted(VIOLATIONS, key=lambda name: name != "illegal_fishing"):
        for _ in range(counts[label]):
            if label == "illegal_fishing" and wet:
                region, grid_id = wet[wet_k % len(wet)]
                wet_k += 1
            else:
                region, grid_id = regions[k % len(regions)]
                k += 1
            where = f"grid {grid_id!r}" if grid_id else "the world area"
            layout = _plant_in(layout, rng, label, region, where)
            grid_of_violation.append(grid_id)

    lighting = Lighting(
        gain=float(rng.uniform(0.92, 1.08)),
        tint=tuple(float(t) for t in rng.uniform(0.97, 1.03, 3)),
        haze=0.0,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": from_origin(west, north, gsd_m, gsd_m),
        "tiled": True,
        "blockxsize": block_px,
        "blockysize": block_px,
        "compress": compress,
    }
    if compress.lower() == "jpeg":
        profile.update(photometric="YCBCR", jpeg_quality=92)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, height, block_px):
            for col in range(0, width, block_px):
                w, h = min(block_px, width - col), min(block_px, height - row)
                pixels = render_window(
                    layout,
                    west=west + col * gsd_m,
                    north=north - row * gsd_m,
                    gsd_m=gsd_m,
                    width=w,
                    height=h,
                    lighting=lighting,
                )
                dst.write(np.moveaxis(pixels, -1, 0), window=Window(col, row, w, h))
        factors = [f for f in (2, 4, 8, 16, 32) if max(width, height) / f >= 256]
        if factors:
            dst.build_overviews(factors, Resampling.average)

    def to_wgs84(geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(
            geom, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
        )

    planted = []
    for violation, grid_id in zip(layout.violations, grid_of_violation, strict=True):
        lon, lat = to_wgs.transform(*violation.centre)
        planted.append(
            PlantedViolation(
                violation.label, float(lon), float(lat), to_wgs84(violation.footprint), grid_id
            )
        )
    truth_file = Path(truth_path) if truth_path else path.with_suffix(".truth.geojson")
    truth = WorldTruth(path, truth_file, crs.to_string(), bounds, gsd_m, tuple(planted))
    truth_file.write_text(json.dumps(truth.to_geojson(), indent=1), encoding="utf-8")
    return truth


def load_truth(path: str | Path) -> WorldTruth:
    """Read a truth GeoJSON written by :func:`build_world`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        props = data["properties"]
        violations = tuple(
            PlantedViolation(
                f["properties"]["class"],
                f["properties"]["lon"],
                f["properties"]["lat"],
                shape(f["geometry"]),
                f["properties"].get("grid_id"),
            )
            for f in data["features"]
        )
        return WorldTruth(
            Path(props["raster"]),
            path,
            props["crs"],
            tuple(props["bounds"]),
            float(props["gsd_m"]),
            violations,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SynthError(f"world truth {path} is not readable: {exc}") from None
