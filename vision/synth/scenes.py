"""Labelled synthetic imagery for training and evaluation: single tiles and whole scenes.

A tile is one classifier input: a violation of the requested class planted in its central part
(or none, for `background`), rendered at a jittered GSD and passed through camera effects
(lighting, blur, sensor noise, JPEG). A scene is a larger image with several planted violations and
their boxes in pixels — what tiling and merging are tested against.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace

import numpy as np
import shapely
from PIL import Image, ImageFilter
from shapely.geometry import Point, box

from vision.errors import SynthError
from vision.labels import BACKGROUND, CLASSES, VIOLATIONS
from vision.synth.layout import Layout, plant, random_layout
from vision.synth.render import Lighting, render_window

__all__ = [
    "GENERATOR_VERSION",
    "WATER_NEGATIVE_SHARE",
    "SCAR_INTERIOR_SHARE",
    "DEGENERATE_SHARE",
    "GLINT_RANGE",
    "SceneObject",
    "SyntheticScene",
    "TileSite",
    "tile_site",
    "degenerate_frame",
    "make_tile",
    "make_scene",
    "camera_effects",
]

#: Bumped whenever generated tiles change for a given seed (it names cached tile sets).
GENERATOR_VERSION = 3
#: Share of background tiles centred on open water or its shore: dark water with sun glint
#: beside fields is the likeliest false alarm (read as smoke over a burn scar, or as gear).
WATER_NEGATIVE_SHARE = 0.3
#: Share of straw_burning tiles centred inside a burn scar larger than the tile, so that tiles
#: wholly within a large scar read as burning too (not only those on its edge or fire front).
SCAR_INTERIOR_SHARE = 0.25
#: Share of background tiles that are degenerate frames a camera really delivers: lens cap or
#: night (near black), over-exposed (near white), flat colour, pure sensor noise.
DEGENERATE_SHARE = 0.04
#: Range of the sun-glint strength drawn for every water body of a tile (1 = standard).
GLINT_RANGE = (0.5, 3.0)
#: Range of the brightness factor of a tile's water (deep or turbid water, dark or light).
WATER_TONE_RANGE = (0.7, 1.15)


@dataclass(frozen=True, slots=True)
class SceneObject:
    """A planted violation in a scene image: class and box (x0, y0, x1, y1) in pixels."""

    label: str
    box_px: tuple[float, float, float, float]
    centre_px: tuple[float, float]


@dataclass(frozen=True, slots=True)
class SyntheticScene:
    """A rendered scene (HxWx3 uint8), its layout and the planted violations in pixels."""

    image: np.ndarray
    gsd_m: float
    layout: Layout
    objects: tuple[SceneObject, ...]


def camera_effects(
    image: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0
) -> np.ndarray:
    """Random lighting, defocus blur, sensor noise and JPEG compression, as a real camera adds."""
    lighting = Lighting(
        gain=float(rng.uniform(1 - 0.25 * strength, 1 + 0.25 * strength)),
        tint=tuple(float(t) for t in rng.uniform(1 - 0.08 * strength, 1 + 0.08 * strength, 3)),
        haze=float(rng.uniform(0, 0.25 * strength)),
    )
    out = lighting.apply(image.astype(np.float32))
    out += rng.normal(0.0, rng.uniform(0, 4.0 * strength), out.shape).astype(np.float32)
    pil = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    radius = float(rng.uniform(0, 1.1 * strength))
    if radius > 0.15:
        pil = pil.filter(ImageFilter.GaussianBlur(radius))
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=int(rng.integers(35, 96)))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


@dataclass(frozen=True, slots=True)
class TileSite:
    """Where a tile is taken: its layout, centre (metres), and whether it is a water negative
    or centred inside a burn scar."""

    layout: Layout
    centre: tuple[float, float]
    water_negative: bool = False
    inside_scar: bool = False


def _context_layout(
    rng: np.random.Generator, half: float, label: str, *, water: float | None = None
) -> Layout:
    if water is None:
        water = 0.95 if label == "illegal_fishing" else 0.45
    return random_layout(
        rng,
        (-half, -half, half, half),
        water=water,
        village=0.45,
        ponds=0.35,
        tree_density_per_ha=10.0,
    )


def _planted_layout(
    rng: np.random.Generator, half: float, size: float, label: str, *, reach: float = 0.3
) -> Layout:
    """A context layout with one `label` violation planted within `reach` tile sizes of the
    origin (retrying if needed); the violation cannot grow beyond that region."""
    region = box(-size * reach, -size * reach, size * reach, size * reach)
    for _ in range(10):
        layout = _context_layout(rng, half, label)
        try:
            return plant(layout, rng, label, region=region, dig_pond=True)
        except SynthError:
            continue
    raise SynthError(f"could not plant {label} in a {size:.0f} m tile after 10 layouts")


def _vary_water(layout: Layout, rng: np.random.Generator) -> Layout:
    """The layout with every water body given its own glint strength and brightness."""
    features = []
    for f in layout.features:
        if f.kind == "water":
            tone = float(rng.uniform(*WATER_TONE_RANGE))
            colour = tuple(float(np.clip(c * tone, 0, 255)) for c in f.colour)
            f = replace(f, colour=colour, glint=float(rng.uniform(*GLINT_RANGE)))
        features.append(f)
    return Layout(layout.bounds, tuple(features), layout.violations, layout.seed)


def _water_point(
    layout: Layout, rng: np.random.Generator, area: shapely.Geometry
) -> tuple[float, float] | None:
    """A point of `area` on the shore of open water (half the time) or on the water itself."""
    water = shapely.union_all([f.geometry for f in layout.of_kind("water")] or [Point()])
    inside = water.intersection(area)
    if inside.is_empty or inside.area < 1.0:
        return None
    if rng.random() < 0.5:
        shore = water.boundary.intersection(area)
        points = shapely.get_coordinates(shapely.segmentize(shore, 1.0))
        if len(points):
            x, y = points[int(rng.integers(len(points)))]
            return float(x), float(y)
    west, south, east, north = inside.bounds
    for _ in range(100):
        x, y = float(rng.uniform(west, east)), float(rng.uniform(south, north))
        if inside.contains(Point(x, y)):
            return x, y
    point = inside.representative_point()
    return float(point.x), float(point.y)


def _scar_interior_site(rng: np.random.Generator, half: float, size_m: float) -> TileSite | None:
    """A straw_burning site centred inside a burn scar, at least a fifth to a half of the tile
    from its edge, or None if a few plantings grew no scar that large."""
    inset = float(rng.uniform(0.2, 0.5)) * size_m
    for _ in range(8):
        # a region wide enough for scars up to the planter's largest (about 50 x 100 m)
        layout = _planted_layout(rng, max(half, 2 * size_m), size_m, "straw_burning", reach=1.5)
        scars = [f.geometry for f in layout.of_kind("burn_scar")]
        interior = shapely.union_all(scars).buffer(-inset) if scars else Point()
        if interior.is_empty or interior.area < 1.0:
            continue
        west, south, east, north = interior.bounds
        for _ in range(100):
            x, y = float(rng.uniform(west, east)), float(rng.uniform(south, north))
            if interior.contains(Point(x, y)):
                return TileSite(_vary_water(layout, rng), (x, y), inside_scar=True)
    return None


def tile_site(rng: np.random.Generator, label: str, size_m: float) -> TileSite:
    """The layout and centre of a `size_m` tile of `label` (see :func:`make_tile`).

    A :data:`SCAR_INTERIOR_SHARE` of straw_burning tiles are centred inside a large burn scar.
    Background tiles are centred on a house, road, tree, dike or water most of the time, and a
    :data:`WATER_NEGATIVE_SHARE` of them on open water or its shore (hard negatives). Water
    everywhere gets a random glint strength and brightness, so neither tells the classes apart.
    """
    if label not in CLASSES:
        raise SynthError(f"unknown label {label!r}; labels are {', '.join(CLASSES)}")
    half = max(size_m, 45.0)
    if label == "straw_burning" and rng.random() < SCAR_INTERIOR_SHARE:
        site = _scar_interior_site(rng, half, size_m)
        if site is not None:
            return site
    if label != BACKGROUND:
        layout = _vary_water(_planted_layout(rng, half, size_m, label), rng)
        cx, cy = layout.violations[-1].centre
        cx += rng.uniform(-0.15, 0.15) * size_m
        cy += rng.uniform(-0.15, 0.15) * size_m
        return TileSite(layout, (cx, cy))
    water_negative = bool(rng.random() < WATER_NEGATIVE_SHARE)
    layout = _context_layout(rng, half, label, water=1.0 if water_negative else None)
    layout = _vary_water(layout, rng)
    centre_box = box(-half / 2, -half / 2, half / 2, half / 2)
    if water_negative:
        point = _water_point(layout, rng, centre_box)
        if point is not None:
            return TileSite(layout, point, water_negative=True)
    anchors = [
        f
        for f in layout.features
        if f.kind in ("water", "roof", "road", "tree", "dike") and f.geometry.intersects(centre_box)
    ]
    if anchors and rng.random() < 0.6:
        anchor = anchors[int(rng.integers(len(anchors)))].geometry
        point = anchor.intersection(centre_box).representative_point()
        return TileSite(layout, (float(point.x), float(point.y)))
    return TileSite(layout, (0.0, 0.0))


def degenerate_frame(rng: np.random.Generator, tile_px: int = 128) -> np.ndarray:
    """A `tile_px`² frame that shows nothing: near black (lens cap, night), near white
    (over-exposed), one flat colour, or pure sensor noise (grey or per channel, maybe blurred)."""
    kind = rng.choice(["black", "white", "flat", "noise"])
    shape = (tile_px, tile_px, 3)
    if kind == "noise":
        if rng.random() < 0.5:
            out = rng.uniform(0, 256, shape)
        else:
            out = np.repeat(rng.uniform(0, 256, (tile_px, tile_px, 1)), 3, axis=2)
        pil = Image.fromarray(out.astype(np.uint8))
        radius = float(rng.uniform(0, 2.0))
        if radius > 0.3:
            pil = pil.filter(ImageFilter.GaussianBlur(radius))
        return np.asarray(pil)
    level = {
        "black": lambda: rng.uniform(0, 18, 3),
        "white": lambda: rng.uniform(232, 255, 3),
        "flat": lambda: rng.uniform(0, 255, 3),
    }[str(kind)]()
    out = level[None, None, :] + rng.normal(0.0, rng.uniform(0.5, 6.0), shape)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def make_tile(
    rng: np.random.Generator,
    label: str,
    *,
    tile_px: int = 128,
    gsd_m: float = 0.2,
    scale_jitter: float = 1.35,
    effects: bool = True,
) -> np.ndarray:
    """One `tile_px`² RGB tile showing `label` (a violation near its centre, or only background,
    a :data:`DEGENERATE_SHARE` of it degenerate frames; an unknown label is refused by
    :func:`tile_site`)."""
    if label == BACKGROUND and rng.random() < DEGENERATE_SHARE:
        return degenerate_frame(rng, tile_px)
    gsd = gsd_m * math.exp(rng.uniform(-math.log(scale_jitter), math.log(scale_jitter)))
    size = tile_px * gsd
    site = tile_site(rng, label, size)
    cx, cy = site.centre
    image = render_window(
        site.layout,
        west=cx - size / 2,
        north=cy + size / 2,
        gsd_m=gsd,
        width=tile_px,
        height=tile_px,
    )
    if effects:
        image = camera_effects(image, rng)
    return image


def make_scene(
    seed: int,
    *,
    size_px: tuple[int, int] = (1024, 768),
    gsd_m: float = 0.2,
    violations: dict[str, int] | None = None,
    effects: bool = True,
) -> SyntheticScene:
    """A `size_px` (width, height) scene with planted violations and their pixel boxes.

    `violations` gives a count per class (default one of each). Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    width, height = size_px
    w_m, h_m = width * gsd_m, height * gsd_m
    counts = violations if violations is not None else {label: 1 for label in VIOLATIONS}
    layout = random_layout(
        rng,
        (0.0, 0.0, w_m, h_m),
        water=0.9 if counts.get("illegal_fishing") else 0.4,
        village=0.5,
        ponds=0.4,
    )
    inner = box(0.12 * w_m, 0.12 * h_m, 0.88 * w_m, 0.88 * h_m)
    # water first: a pond may need digging before sheds and fires take the free ground
    for label, count in sorted(counts.items(), key=lambda kv: kv[0] != "illegal_fishing"):
        for _ in range(count):
            layout = plant(layout, rng, label, region=inner, dig_pond=True)
    image = render_window(layout, west=0.0, north=h_m, gsd_m=gsd_m, width=width, height=height)
    if effects:
        image = camera_effects(image, rng, strength=0.6)
    objects = []
    for violation in layout.violations:
        x0, y0, x1, y1 = violation.footprint.bounds
        px_box = (x0 / gsd_m, (h_m - y1) / gsd_m, x1 / gsd_m, (h_m - y0) / gsd_m)
        centre = (violation.centre[0] / gsd_m, (h_m - violation.centre[1]) / gsd_m)
        objects.append(SceneObject(violation.label, px_box, centre))
    return SyntheticScene(image, gsd_m, layout, tuple(objects))
