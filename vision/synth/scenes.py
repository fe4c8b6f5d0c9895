"""Labelled synthetic imagery for training and evaluation: single tiles and whole scenes.

A tile is one classifier input: a violation of the requested class planted in its central part
(or none, for `background`), rendered at a jittered GSD and passed through camera effects
(lighting, blur, sensor noise, JPEG). A scene is a larger image with several planted violations and
their boxes in pixels — what tiling and merging are tested against.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from shapely.geometry import box

from vision.errors import SynthError
from vision.labels import BACKGROUND, CLASSES, VIOLATIONS
from vision.synth.layout import Layout, plant, random_layout
from vision.synth.render import Lighting, render_window

__all__ = ["SceneObject", "SyntheticScene", "make_tile", "make_scene", "camera_effects"]


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


def _context_layout(rng: np.random.Generator, half: float, label: str) -> Layout:
    water = 0.95 if label == "illegal_fishing" else 0.45
    return random_layout(
        rng,
        (-half, -half, half, half),
        water=water,
        village=0.45,
        ponds=0.35,
        tree_density_per_ha=10.0,
    )


def _planted_layout(rng: np.random.Generator, half: float, size: float, label: str) -> Layout:
    """A context layout with one `label` violation planted near the origin (retrying if needed)."""
    region = box(-size * 0.3, -size * 0.3, size * 0.3, size * 0.3)
    for _ in range(10):
        layout = _context_layout(rng, half, label)
        try:
            return plant(layout, rng, label, region=region, dig_pond=True)
        except SynthError:
            continue
    raise SynthError(f"could not plant {label} in a {size:.0f} m tile after 10 layouts")


def make_tile(
    rng: np.random.Generator,
    label: str,
    *,
    tile_px: int = 128,
    gsd_m: float = 0.2,
    scale_jitter: float = 1.35,
    effects: bool = True,
) -> np.ndarray:
    """One `tile_px`² RGB tile showing `label` (a violation near its centre, or only background)."""
    if label not in CLASSES:
        raise SynthError(f"unknown label {label!r}; labels are {', '.join(CLASSES)}")
    gsd = gsd_m * math.exp(rng.uniform(-math.log(scale_jitter), math.log(scale_jitter)))
    size = tile_px * gsd
    half = max(size, 45.0)
    cx, cy = 0.0, 0.0
    if label == BACKGROUND:
        layout = _context_layout(rng, half, label)
        centre_box = box(-half / 2, -half / 2, half / 2, half / 2)
        anchors = [
            f
            for f in layout.features
            if f.kind in ("water", "roof", "road", "tree", "dike")
            and f.geometry.intersects(centre_box)
        ]
        if anchors and rng.random() < 0.6:
            anchor = anchors[int(rng.integers(len(anchors)))].geometry
            point = anchor.intersection(centre_box).representative_point()
            cx, cy = float(point.x), float(point.y)
    else:
        layout = _planted_layout(rng, half, size, label)
        cx, cy = layout.violations[-1].centre
        cx += rng.uniform(-0.15, 0.15) * size
        cy += rng.uniform(-0.15, 0.15) * size
    image = render_window(
        layout, west=cx - size / 2, north=cy + size / 2, gsd_m=gsd, width=tile_px, height=tile_px
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
