"""Rendering: any window of a layout to RGB pixels at any ground sampling distance.

Every shade is a function of the pixel's ground position, so adjacent windows join seamlessly
and a window renders the same alone or inside a larger raster. Periodic textures finer than about
two pixels (crop rows, corrugated steel) fade out instead of aliasing into moiré, as they would in a
photo resampled to a coarse GSD.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio import features as rio_features
from shapely import affinity

from vision.synth.layout import Feature, Layout
from vision.synth.noise import fbm

__all__ = ["Lighting", "render_window", "render_bounds"]


@dataclass(frozen=True, slots=True)
class Lighting:
    """Global illumination of a scene: overall gain, a colour tint and a haze veil (0..1)."""

    gain: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    haze: float = 0.0

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        out = rgb * (self.gain * np.asarray(self.tint, dtype=np.float32))
        if self.haze:
            out = out * (1.0 - self.haze) + 200.0 * self.haze
        return out


def _fade(spacing_m: float, gsd_m: float) -> float:
    """Contrast left of a periodic texture of period `spacing_m` sampled every `gsd_m`."""
    return float(np.clip((spacing_m / gsd_m - 2.0) / 2.0, 0.0, 1.0))


def _local(feature: Feature, xs: np.ndarray, ys: np.ndarray, angle_deg: float | None = None):
    c = feature.geometry.centroid
    a = math.radians(feature.angle_deg if angle_deg is None else angle_deg)
    dx, dy = xs - c.x, ys - c.y
    return dx * math.cos(a) + dy * math.sin(a), -dx * math.sin(a) + dy * math.cos(a)


def _stripes(u: np.ndarray, spacing: float) -> np.ndarray:
    return np.sin(2 * math.pi * u / spacing)


def _field(f: Feature, xs, ys, gsd, under):
    colour = np.asarray(f.colour)
    tone = 1.0 + 0.22 * fbm(xs, ys, 9.0, f.seed) + 0.08 * fbm(xs, ys, 1.5, f.seed + 1)
    u, _ = _local(f, xs, ys)
    fade = _fade(f.spacing_m, gsd)
    contrast = {
        "crop": 0.25,
        "stubble": 0.12,
        "bare": 0.12,
        "vegetable": 0.22,
        "meadow": 0.0,
        "paddy": 0.2,
    }.get(f.style, 0.1)
    tone = tone + contrast * fade * _stripes(u, f.spacing_m)
    if f.style == "stubble":  # straw litter: bright flecks along the swaths
        tone = tone + 0.10 * _fade(0.5, gsd) * fbm(xs, ys, 0.5, f.seed + 2)
    return colour[None, :] * tone[:, None]


def _water(f: Feature, xs, ys, gsd, under):
    colour = np.asarray(f.colour)
    tone = (
        1.0
        + 0.15 * fbm(xs, ys, 25.0, f.seed)
        + 0.05 * _fade(2.0, gsd) * fbm(xs, ys, 2.0, f.seed + 3)
    )
    out = colour[None, :] * tone[:, None]
    glint = np.clip(fbm(xs, ys, 6.0, f.seed + 5) - 0.3, 0, None) * (120 * f.glint)
    return out + glint[:, None]


def _plain(rough: float, scale: float) -> Callable:
    def shade(f: Feature, xs, ys, gsd, under):
        tone = 1.0 + rough * fbm(xs, ys, scale, f.seed)
        return np.asarray(f.colour)[None, :] * tone[:, None]

    return shade


def _scar(f: Feature, xs, ys, gsd, under):
    ash = np.clip((fbm(xs, ys, 3.0, f.seed) + 0.05) * 4, 0, 1)
    base = np.asarray(f.colour)[None, :] * (1 + 0.3 * fbm(xs, ys, 0.8, f.seed + 1))[:, None]
    grey = np.array([105.0, 100.0, 95.0])[None, :]
    return base * (1 - ash[:, None] * 0.6) + grey * ash[:, None] * 0.6


def _shadow(f: Feature, xs, ys, gsd, under):
    return under * (1.0 - f.alpha)


def _tree(f: Feature, xs, ys, gsd, under):
    tone = 1.0 + 0.45 * fbm(xs, ys, 1.2, f.seed)
    return np.asarray(f.colour)[None, :] * tone[:, None]


def _roof(f: Feature, xs, ys, gsd, under):
    colour = np.asarray(f.colour)
    u, v = _local(f, xs, ys)
    if f.style == "flat":
        tone = 1.0 + 0.08 * fbm(xs, ys, 2.0, f.seed)
    else:
        tone = np.where(v > 0, 1.08, 0.82) + 0.12 * _fade(0.3, gsd) * _stripes(u, 0.3)
        tone = tone + 0.05 * fbm(xs, ys, 3.0, f.seed)
    return colour[None, :] * tone[:, None]


def _steel(f: Feature, xs, ys, gsd, under):
    colour = np.asarray(f.colour)
    u, v = _local(f, xs, ys)  # angle_deg already points across the corrugation
    tone = np.where(u > 0, 1.04, 0.9) + 0.12 * _fade(f.spacing_m, gsd) * _stripes(v, f.spacing_m)
    tone = tone + 0.03 * fbm(xs, ys, 4.0, f.seed)
    return np.clip(colour[None, :] * tone[:, None], 0, 255)


def _cage(f: Feature, xs, ys, gsd, under):
    nx, ny = (int(n) for n in f.style.split("x"))
    cell = f.spacing_m
    u, v = _local(f, xs, ys)
    gu = (u + nx * cell / 2) % cell
    gv = (v + ny * cell / 2) % cell
    du = np.minimum(gu, cell - gu)
    dv = np.minimum(gv, cell - gv)
    edge_u = np.abs(np.abs(u) - nx * cell / 2)
    edge_v = np.abs(np.abs(v) - ny * cell / 2)
    half = max(0.3, 0.6 * gsd)
    frame = np.minimum(np.minimum(du, dv), np.minimum(edge_u, edge_v)) < half
    net = under * 0.72 + np.array([20.0, 22.0, 25.0])
    out = np.where(frame[:, None], np.asarray(f.colour)[None, :], net)
    return out


def _stakes(f: Feature, xs, ys, gsd, under):
    u, v = _local(f, xs, ys)
    spacing = f.spacing_m
    du = (u % spacing) - spacing / 2
    radius = max(0.3, 0.7 * gsd)
    dot = du * du + v * v < radius * radius
    line = np.abs(v) < max(0.12, 0.5 * gsd)
    out = np.where(line[:, None], under * 0.55, under)
    return np.where(dot[:, None], np.asarray(f.colour)[None, :], out)


def _boat(f: Feature, xs, ys, gsd, under):
    u, v = _local(f, xs, ys)
    length = f.spacing_m
    cabin = (u > -0.25 * length) & (u < 0.1 * length) & (np.abs(v) < 0.45)
    tone = np.where(cabin, 0.72, 1.0) + 0.05 * fbm(xs, ys, 1.0, f.seed)
    return np.asarray(f.colour)[None, :] * tone[:, None]


def _fire(f: Feature, xs, ys, gsd, under):
    """Flames: flickering yellow-white cores, orange-red edges, dark embers between tongues."""
    heat = np.clip(0.7 + 1.2 * fbm(xs, ys, 1.0, f.seed) + 0.5 * fbm(xs, ys, 4.0, f.seed + 1), 0, 1)
    ember = np.array([70.0, 28.0, 14.0])
    red = np.array([215.0, 60.0, 18.0])
    orange = np.array([250.0, 140.0, 30.0])
    hot = np.array([255.0, 240.0, 170.0])
    h = heat[:, None]
    low = ember + (red - ember) * np.clip(h / 0.3, 0, 1)
    mid = red + (orange - red) * np.clip((h - 0.3) / 0.3, 0, 1)
    top = orange + (hot - orange) * np.clip((h - 0.6) / 0.4, 0, 1)
    return np.where(h < 0.3, low, np.where(h < 0.6, mid, top))


def _smoke(f: Feature, xs, ys, gsd, under):
    """Smoke drifting downwind from the fire: thin over the flames, thickest just past them,
    thinning and breaking up further on, with soft edges."""
    heading = 90.0 - f.angle_deg  # wind bearing -> maths angle of the drift
    u, v = _local(f, xs, ys, heading)
    c = f.geometry.centroid
    frame = affinity.rotate(f.geometry, -heading, origin=c)
    x0, y0, x1, y1 = frame.bounds
    along = np.clip((u - (x0 - c.x)) / max(x1 - x0, 1e-6), 0, 1)  # 0 at the fire, 1 far end
    half = max((y1 - y0) / 2, 1e-6)
    across = np.abs(v - ((y0 + y1) / 2 - c.y)) / (half * (0.45 + 0.55 * along))
    profile = np.clip(along / 0.15, 0.35, 1.0) * (1.1 - 0.7 * along)
    density = profile + 0.6 * fbm(xs, ys, 5.0, f.seed) + 0.25 * fbm(xs, ys, 1.5, f.seed + 1)
    alpha = f.alpha * np.clip(density, 0, 1) * np.clip((1.0 - across) * 2.5, 0, 1)
    colour = np.asarray(f.colour)[None, :] * (1 + 0.08 * fbm(xs, ys, 3.0, f.seed + 2))[:, None]
    return under * (1 - alpha[:, None]) + colour * alpha[:, None]


_SHADERS: dict[str, Callable] = {
    "field": _field,
    "water": _water,
    "dike": _plain(0.18, 3.0),
    "road": _plain(0.06, 2.0),
    "burn_scar": _scar,
    "courtyard": _plain(0.08, 2.5),
    "shadow": _shadow,
    "tree": _tree,
    "roof": _roof,
    "shed": _steel,
    "roof_addition": _steel,
    "cage": _cage,
    "stake_net": _stakes,
    "boat": _boat,
    "fire": _fire,
    "smoke": _smoke,
}


def render_window(
    layout: Layout,
    *,
    west: float,
    north: float,
    gsd_m: float,
    width: int,
    height: int,
    lighting: Lighting | None = None,
) -> np.ndarray:
    """Render `height`×`width` pixels whose top-left corner is at (west, north), north up.

    Returns an HxWx3 uint8 array. Pixel (row, col) covers the ground square whose centre is
    (west + (col + 0.5)·gsd, north − (row + 0.5)·gsd).
    """
    cols = west + (np.arange(width) + 0.5) * gsd_m
    rows = north - (np.arange(height) + 0.5) * gsd_m
    gx, gy = np.meshgrid(cols, rows)
    ground = np.array([118.0, 128.0, 80.0])
    tone = 1.0 + 0.2 * fbm(gx, gy, 6.0, layout.seed + 11)
    canvas = (ground[None, None, :] * tone[..., None]).astype(np.float32)
    transform = Affine(gsd_m, 0.0, west, 0.0, -gsd_m, north)
    window = (west, north - height * gsd_m, west + width * gsd_m, north)
    for feature in layout.features_in(window):
        mask = rio_features.rasterize(
            [(feature.geometry, 1)],
            out_shape=(height, width),
            transform=transform,
            fill=0,
            dtype="uint8",
        )
        rr, cc = np.nonzero(mask)
        if rr.size == 0:
            continue
        xs = gx[rr, cc]
        ys = gy[rr, cc]
        canvas[rr, cc] = _SHADERS[feature.kind](feature, xs, ys, gsd_m, canvas[rr, cc])
    # slow brightness variation (thin cloud shade, vignetting-free) tied to the ground
    canvas *= (1.0 + 0.06 * fbm(gx, gy, 180.0, layout.seed + 13, octaves=2))[..., None]
    if lighting is not None:
        canvas = lighting.apply(canvas)
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def render_bounds(
    layout: Layout,
    bounds: tuple[float, float, float, float],
    gsd_m: float,
    *,
    lighting: Lighting | None = None,
) -> np.ndarray:
    """Render a window given as (west, south, east, north) metres at `gsd_m`."""
    west, south, east, north = bounds
    width = max(1, round((east - west) / gsd_m))
    height = max(1, round((north - south) / gsd_m))
    return render_window(
        layout, west=west, north=north, gsd_m=gsd_m, width=width, height=height, lighting=lighting
    )
