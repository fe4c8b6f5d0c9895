"""Scene layouts: the vector description of a synthetic nadir scene, in metres.

A layout is a list of ground features (fields, water, roads, trees, houses) and planted violations,
each a shapely geometry in a metric frame (x east, y north) with a few style parameters. Rendering
(:mod:`vision.synth.render`) turns any window of it into pixels at any ground sampling distance.
Layouts are built from a seeded :class:`numpy.random.Generator`, so a seed fixes the whole scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from vision.errors import SynthError
from vision.labels import VIOLATIONS

__all__ = [
    "Feature",
    "Violation",
    "Layout",
    "random_layout",
    "plant",
    "add_pond",
    "Z_ORDER",
]

#: Painting order: later kinds are drawn over earlier ones.
Z_ORDER: dict[str, int] = {
    "field": 0,
    "dike": 1,
    "water": 2,
    "road": 3,
    "burn_scar": 4,
    "courtyard": 5,
    "shadow": 6,
    "tree": 7,
    "roof": 8,
    "shed": 9,
    "roof_addition": 10,
    "cage": 11,
    "stake_net": 12,
    "boat": 13,
    "fire": 14,
    "smoke": 15,
}

_FIELD_STYLES = ("crop", "crop", "stubble", "stubble", "bare", "meadow", "vegetable", "paddy")
_LAND_STYLES = {"crop", "stubble", "bare", "meadow", "vegetable"}


@dataclass(frozen=True, slots=True)
class Feature:
    """One painted element of a scene: a geometry in metres and how to shade it.

    `glint` scales the sun glint on water (1 = the standard sparkle; other kinds ignore it).
    """

    kind: str
    geometry: BaseGeometry
    colour: tuple[float, float, float]
    style: str = ""
    angle_deg: float = 0.0
    spacing_m: float = 1.0
    seed: int = 0
    alpha: float = 1.0
    glint: float = 1.0


@dataclass(frozen=True, slots=True)
class Violation:
    """A planted violation: its class, centre and ground footprint in the layout's metres."""

    label: str
    centre: tuple[float, float]
    footprint: Polygon


@dataclass(frozen=True)
class Layout:
    """Features (kept in painting order) and planted violations inside `bounds` (metres)."""

    bounds: tuple[float, float, float, float]
    features: tuple[Feature, ...]
    violations: tuple[Violation, ...] = ()
    seed: int = 0
    _tree: shapely.STRtree = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.features, key=lambda f: Z_ORDER[f.kind]))
        object.__setattr__(self, "features", ordered)
        object.__setattr__(self, "_tree", shapely.STRtree([f.geometry for f in ordered]))

    def features_in(self, window: tuple[float, float, float, float]) -> list[Feature]:
        """Features whose boxes meet a window (west, south, east, north), in paint order."""
        hits = self._tree.query(box(*window))
        return [self.features[i] for i in sorted(int(h) for h in hits)]

    def of_kind(self, *kinds: str) -> list[Feature]:
        return [f for f in self.features if f.kind in kinds]

    def with_features(self, extra: list[Feature], violation: Violation | None = None) -> Layout:
        violations = self.violations if violation is None else (*self.violations, violation)
        return Layout(self.bounds, (*self.features, *extra), violations, self.seed)


def _jitter(rng: np.random.Generator, colour: tuple[float, float, float], amount: float = 12.0):
    return tuple(float(np.clip(c + rng.normal(0.0, amount), 0, 255)) for c in colour)


def _shadow(
    geometry: BaseGeometry, offset_m: float, angle_deg: float, seed: int, alpha: float
) -> Feature:
    """The shadow a raised feature casts: its shape moved south-east, darkening what is under."""
    moved = affinity.translate(geometry, offset_m, -offset_m)
    return Feature("shadow", moved, (0, 0, 0), "shadow", angle_deg, 1.0, seed, alpha)


def _rect(cx: float, cy: float, length: float, width: float, angle_deg: float) -> Polygon:
    rect = box(cx - length / 2, cy - width / 2, cx + length / 2, cy + width / 2)
    return affinity.rotate(rect, angle_deg, origin=(cx, cy))


def _blob(
    rng: np.random.Generator,
    cx: float,
    cy: float,
    radius: float,
    *,
    rough: float = 0.35,
    stretch: float = 1.0,
    angle_deg: float = 0.0,
    points: int = 24,
) -> Polygon:
    """An irregular closed blob (burn scars, smoke, tree crowns)."""
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    harmonics = sum(
        rng.normal(0, rough / k) * np.cos(k * angles + rng.uniform(0, 2 * math.pi))
        for k in (2, 3, 5)
    )
    r = radius * np.clip(1.0 + harmonics, 0.35, 1.8)
    xs = r * np.cos(angles) * stretch
    ys = r * np.sin(angles)
    poly = Polygon(np.column_stack([xs, ys])).buffer(0)
    poly = affinity.rotate(poly, angle_deg, origin=(0, 0))
    return affinity.translate(poly, cx, cy)


# --------------------------------------------------------------------------------------------
# ground layout


def _field_colour(rng: np.random.Generator, style: str) -> tuple[float, float, float]:
    base = {
        "crop": (rng.uniform(60, 110), rng.uniform(105, 150), rng.uniform(35, 70)),
        "stubble": (rng.uniform(165, 205), rng.uniform(145, 178), rng.uniform(90, 125)),
        "bare": (rng.uniform(115, 155), rng.uniform(92, 120), rng.uniform(65, 90)),
        "meadow": (rng.uniform(95, 135), rng.uniform(120, 150), rng.uniform(60, 85)),
        "vegetable": (rng.uniform(70, 105), rng.uniform(115, 145), rng.uniform(55, 80)),
        "paddy": (rng.uniform(70, 95), rng.uniform(95, 120), rng.uniform(85, 105)),
    }[style]
    return base


def _fields(rng: np.random.Generator, bounds, angle: float) -> list[Feature]:
    west, south, east, north = bounds
    cx, cy = (west + east) / 2, (south + north) / 2
    radius = math.hypot(east - west, north - south) / 2 + 5
    clip = box(west - 2, south - 2, east + 2, north + 2)
    features: list[Feature] = []
    v = -radius
    while v < radius:
        strip_width = rng.uniform(22, 70)
        u = -radius - rng.uniform(0, 100)
        while u < radius:
            length = rng.uniform(40, 160)
            gap = rng.uniform(0.6, 1.6)
            pcx, pcy = u + length / 2, v + strip_width / 2
            rect = box(
                pcx - length / 2 + gap / 2,
                pcy - strip_width / 2 + gap / 2,
                pcx + length / 2 - gap / 2,
                pcy + strip_width / 2 - gap / 2,
            )
            rect = affinity.rotate(rect, angle, origin=(0, 0))
            rect = affinity.translate(rect, cx, cy)
            if rect.intersects(clip):
                style = str(rng.choice(_FIELD_STYLES))
                row_angle = angle + (90.0 if rng.random() < 0.5 else 0.0)
                spacing = {
                    "crop": rng.uniform(0.25, 0.45),
                    "stubble": rng.uniform(2.0, 3.2),
                    "vegetable": rng.uniform(1.0, 1.6),
                    "bare": rng.uniform(0.5, 1.0),
                    "meadow": 1.0,
                    "paddy": rng.uniform(0.25, 0.35),
                }[style]
                features.append(
                    Feature(
                        "field",
                        rect.intersection(clip),
                        _field_colour(rng, style),
                        style,
                        row_angle,
                        spacing,
                        int(rng.integers(1 << 30)),
                    )
                )
            u += length
        v += strip_width
    return features


def _river(rng: np.random.Generator, bounds) -> Feature:
    west, south, east, north = bounds
    w, h = east - west, north - south
    angle = rng.uniform(0, math.pi)
    cx, cy = west + w * rng.uniform(0.3, 0.7), south + h * rng.uniform(0.3, 0.7)
    span = math.hypot(w, h)
    t = np.linspace(-span, span, 80)
    wave = rng.uniform(0.03, 0.12) * span * np.sin(t / span * rng.uniform(2, 5) + rng.uniform(0, 6))
    xs = cx + t * math.cos(angle) - wave * math.sin(angle)
    ys = cy + t * math.sin(angle) + wave * math.cos(angle)
    width = rng.uniform(12, min(45.0, 0.25 * min(w, h) + 12))
    geom = LineString(np.column_stack([xs, ys])).buffer(width / 2, quad_segs=4)
    return Feature(
        "water", geom, _jitter(rng, (55, 80, 78), 10), "river", 0.0, 1.0, int(rng.integers(1 << 30))
    )


def add_pond(
    layout: Layout,
    rng: np.random.Generator,
    centre: tuple[float, float],
    *,
    size_m: float | None = None,
    angle_deg: float | None = None,
) -> Layout:
    """Dig a rectangular aquaculture pond (water plus an earth dike) centred on a point."""
    size = size_m if size_m is not None else rng.uniform(25, 70)
    angle = angle_deg if angle_deg is not None else rng.uniform(0, 180)
    length, width = size, size * rng.uniform(0.5, 1.0)
    water = _rect(*centre, length, width, angle)
    dike = _rect(*centre, length + 5, width + 5, angle)
    features = [
        Feature(
            "dike",
            dike,
            _jitter(rng, (135, 128, 95), 10),
            "dike",
            angle,
            1.0,
            int(rng.integers(1 << 30)),
        ),
        _pond_water(rng, water, angle),
    ]
    return layout.with_features(features)


def _pond_water(rng: np.random.Generator, geometry: BaseGeometry, angle: float) -> Feature:
    """A pond's water at `angle` degrees, its colour and texture seed drawn from `rng`."""
    return Feature(
        "water",
        geometry,
        _jitter(rng, (60, 88, 80), 12),
        "pond",
        angle,
        1.0,
        int(rng.integers(1 << 30)),
    )


def _roads(rng: np.random.Generator, bounds, angle: float) -> list[Feature]:
    west, south, east, north = bounds
    cx, cy = (west + east) / 2, (south + north) / 2
    span = math.hypot(east - west, north - south)
    features = []
    for _ in range(int(rng.integers(0, 3))):
        a = math.radians(angle + (0 if rng.random() < 0.5 else 90) + rng.normal(0, 3))
        off = rng.uniform(-0.4, 0.4) * span
        ox, oy = cx - off * math.sin(a), cy + off * math.cos(a)
        line = LineString(
            [
                (ox - span * math.cos(a), oy - span * math.sin(a)),
                (ox + span * math.cos(a), oy + span * math.sin(a)),
            ]
        )
        concrete = rng.random() < 0.6
        width = rng.uniform(4, 7) if concrete else rng.uniform(2.5, 4)
        colour = (rng.uniform(160, 190),) * 3 if concrete else (150.0, 132.0, 102.0)
        features.append(
            Feature(
                "road",
                line.buffer(width / 2, cap_style="flat"),
                _jitter(rng, colour, 6),
                "concrete" if concrete else "dirt",
                math.degrees(a),
                1.0,
                int(rng.integers(1 << 30)),
            )
        )
    return features


def _village(rng: np.random.Generator, bounds, angle: float, avoid: BaseGeometry) -> list[Feature]:
    west, south, east, north = bounds
    cx = rng.uniform(west, east)
    cy = rng.uniform(south, north)
    radius = rng.uniform(25, 0.4 * max(east - west, north - south) + 25)
    roof_palette = [(150, 72, 52), (105, 105, 110), (70, 80, 95), (175, 172, 165), (130, 60, 45)]
    features: list[Feature] = []
    a = math.radians(angle)
    pitch_u, pitch_v = rng.uniform(14, 20), rng.uniform(14, 22)
    n = int(radius // pitch_u) + 1
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            u, v = i * pitch_u + rng.normal(0, 1.0), j * pitch_v + rng.normal(0, 1.0)
            if math.hypot(u, v) > radius or rng.random() < 0.2:
                continue
            hx = cx + u * math.cos(a) - v * math.sin(a)
            hy = cy + u * math.sin(a) + v * math.cos(a)
            length, width = rng.uniform(9, 15), rng.uniform(6.5, 10)
            roof = _rect(hx, hy, length, width, angle)
            yard = _rect(hx, hy - 0.0, length + 2, width + rng.uniform(3, 7), angle)
            if yard.intersects(avoid):
                continue
            seed = int(rng.integers(1 << 30))
            flat = rng.random() < 0.25
            colour = roof_palette[3] if flat else roof_palette[int(rng.integers(len(roof_palette)))]
            features.append(
                Feature(
                    "courtyard", yard, _jitter(rng, (160, 155, 145), 10), "yard", angle, 1.0, seed
                )
            )
            features.append(_shadow(roof, 1.2, angle, seed, 0.45))
            features.append(
                Feature(
                    "roof",
                    roof,
                    _jitter(rng, colour, 8),
                    "flat" if flat else "gable",
                    angle,
                    0.3,
                    seed,
                )
            )
    return features


def _trees(rng: np.random.Generator, bounds, count: int, avoid: BaseGeometry) -> list[Feature]:
    west, south, east, north = bounds
    features = []
    for _ in range(count):
        x, y = rng.uniform(west, east), rng.uniform(south, north)
        crown = _blob(rng, x, y, rng.uniform(1.5, 4.5), rough=0.15, points=16)
        if crown.intersects(avoid):
            continue
        seed = int(rng.integers(1 << 30))
        features.append(_shadow(crown, 1.0, 0.0, seed, 0.4))
        features.append(
            Feature("tree", crown, _jitter(rng, (50, 80, 40), 8), "tree", 0.0, 1.0, seed)
        )
    return features


def random_layout(
    rng: np.random.Generator,
    bounds: tuple[float, float, float, float],
    *,
    water: float = 0.5,
    village: float = 0.4,
    ponds: float = 0.3,
    tree_density_per_ha: float = 8.0,
) -> Layout:
    """A rural scene: a rotated parcel grid of fields, maybe a river, ponds, roads, villages, trees.

    `water`, `village` and `ponds` are probabilities; larger bounds get proportionally more of each.
    """
    west, south, east, north = bounds
    if not (east > west and north > south):
        raise SynthError(f"layout bounds {bounds} are empty")
    area_ha = (east - west) * (north - south) / 1e4
    angle = float(rng.uniform(0, 180))
    features = _fields(rng, bounds, angle)
    scale = max(1.0, area_ha / 25.0)
    if rng.random() < water:
        for _ in range(max(1, round(scale * 0.3))):
            features.append(_river(rng, bounds))
    features += _roads(rng, bounds, angle)
    wet = shapely.unary_union([f.geometry for f in features if f.kind in ("water", "road")])
    for _ in range(int(rng.poisson(village * scale)) + (1 if rng.random() < village else 0)):
        features += _village(rng, bounds, angle, wet)
    solid = shapely.unary_union([f.geometry for f in features if f.kind != "field"])
    layout = Layout(bounds, tuple(features), (), 0)
    for _ in range(int(rng.poisson(ponds * scale)) + (1 if rng.random() < ponds else 0)):
        centre = (float(rng.uniform(west, east)), float(rng.uniform(south, north)))
        if not Point(centre).buffer(20).intersects(solid):
            layout = add_pond(layout, rng, centre)
    solid = shapely.unary_union([f.geometry for f in layout.features if f.kind != "field"])
    trees = _trees(rng, bounds, int(rng.poisson(tree_density_per_ha * area_ha)), solid)
    return layout.with_features(trees)


# --------------------------------------------------------------------------------------------
# planting violations


def _sample_point(rng: np.random.Generator, region: BaseGeometry) -> tuple[float, float]:
    west, south, east, north = region.bounds
    for _ in range(200):
        x, y = rng.uniform(west, east), rng.uniform(south, north)
        if region.contains(Point(x, y)):
            return float(x), float(y)
    point = region.representative_point()
    return float(point.x), float(point.y)


def _site(
    layout: Layout, kinds: tuple[str, ...], styles: set[str] | None, region: BaseGeometry
) -> BaseGeometry:
    """The part of `region` covered by features of `kinds` (and `styles`) and by nothing on top."""
    near = layout.features_in(region.bounds)
    parts = [f.geometry for f in near if f.kind in kinds and (styles is None or f.style in styles)]
    if not parts:
        return Polygon()
    site = shapely.unary_union(parts).intersection(region)
    above = [k for k, z in Z_ORDER.items() if z > min(Z_ORDER[k2] for k2 in kinds)]
    above = [k for k in above if k not in ("shadow", "tree", "smoke", "fire")]
    blocked = [f.geometry for f in near if f.kind in above]
    blocked += [v.footprint.buffer(3) for v in layout.violations]
    if blocked:
        site = site.difference(shapely.unary_union(blocked))
    return site


def _construction(layout: Layout, rng: np.random.Generator, region: BaseGeometry):
    roofs = [
        f
        for f in layout.features_in(region.bounds)
        if f.kind == "roof" and region.contains(f.geometry.centroid)
    ]
    taken = (
        shapely.unary_union([v.footprint for v in layout.violations])
        if layout.violations
        else Polygon()
    )
    roofs = [f for f in roofs if not f.geometry.intersects(taken)]
    if roofs and rng.random() < 0.3:
        roof = roofs[int(rng.integers(len(roofs)))]
        minx, miny, maxx, maxy = affinity.rotate(
            roof.geometry, -roof.angle_deg, origin=roof.geometry.centroid
        ).bounds
        length, width = (
            (maxx - minx) * rng.uniform(0.35, 0.7),
            (maxy - miny) * rng.uniform(0.5, 0.9),
        )
        c = roof.geometry.centroid
        shift = ((maxx - minx) - length) / 2 * rng.choice([-1, 1])
        a = math.radians(roof.angle_deg)
        cx, cy = c.x + shift * math.cos(a), c.y + shift * math.sin(a)
        geom = _rect(cx, cy, length, width, roof.angle_deg)
        colour = _steel_colour(rng)
        feats = [
            Feature(
                "roof_addition",
                geom,
                colour,
                "steel",
                roof.angle_deg + 90,
                rng.uniform(0.3, 0.8),
                int(rng.integers(1 << 30)),
            )
        ]
        return feats, (cx, cy), geom
    site = _site(layout, ("field",), _LAND_STYLES, region)
    if site.is_empty:
        site = region.difference(
            shapely.unary_union(
                [f.geometry for f in layout.features_in(region.bounds) if f.kind == "water"]
                or [Polygon()]
            )
        )
    if site.is_empty:
        raise SynthError("no dry land left to plant an illegal_construction in the region")
    colour = _steel_colour(rng)
    count = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
    scale = 1.0
    for attempt in range(40):
        cx, cy = _sample_point(rng, site)
        angle = float(rng.uniform(0, 180))
        feats: list[Feature] = []
        footprint = Polygon()
        for k in range(count if attempt < 20 else 1):
            length, width = rng.uniform(8, 28) * scale, rng.uniform(5, 13) * scale
            off = k * (width + rng.uniform(1, 3))
            sx = cx - off * math.sin(math.radians(angle))
            sy = cy + off * math.cos(math.radians(angle))
            geom = _rect(sx, sy, length, width, angle)
            seed = int(rng.integers(1 << 30))
            feats.append(_shadow(geom, 1.5, angle, seed, 0.5))
            feats.append(
                Feature("shed", geom, colour, "steel", angle + 90, rng.uniform(0.3, 0.9), seed)
            )
            footprint = footprint.union(geom)
        if site.buffer(1.0).contains(footprint):
            break
        scale = max(0.35, scale * 0.93)
    centre = footprint.centroid
    return feats, (float(centre.x), float(centre.y)), footprint.convex_hull


def _steel_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    if rng.random() < 0.65:
        return _jitter(rng, (45, 105, 190), 18)
    return _jitter(rng, (228, 232, 235), 8)


def _burning(layout: Layout, rng: np.random.Generator, region: BaseGeometry):
    site = _site(layout, ("field",), {"stubble", "crop", "bare", "meadow"}, region)
    if site.is_empty:
        site = _site(layout, ("field",), None, region)
    if site.is_empty:
        raise SynthError("no field left to plant a straw_burning in the region")
    cx, cy = _sample_point(rng, site)
    fields = [
        f
        for f in layout.features_in((cx, cy, cx, cy))
        if f.kind == "field" and f.geometry.contains(Point(cx, cy))
    ]
    parcel = fields[0].geometry if fields else Point(cx, cy).buffer(40)
    wind = float(rng.uniform(0, 360))
    stage = rng.choice(["fire", "fire_scar", "scar"], p=[0.3, 0.45, 0.25])
    feats: list[Feature] = []
    footprint = Polygon()
    ground: BaseGeometry = Polygon()
    seed = int(rng.integers(1 << 30))
    if stage in ("fire_scar", "scar"):
        scar = _blob(
            rng,
            cx,
            cy,
            rng.uniform(6, 25),
            rough=0.3,
            stretch=rng.uniform(1, 2),
            angle_deg=rng.uniform(0, 180),
        ).intersection(parcel.intersection(site))
        if not scar.is_empty and scar.area > 4:
            feats.append(
                Feature("burn_scar", scar, _jitter(rng, (35, 33, 30), 6), "scar", wind, 1.0, seed)
            )
            footprint = footprint.union(scar)
            ground = scar
        elif stage == "scar":
            stage = "fire"
    if stage in ("fire", "fire_scar"):
        fx, fy = cx, cy
        if not ground.is_empty:  # the fire front runs along the scar's downwind edge
            wx, wy = math.sin(math.radians(wind)), math.cos(math.radians(wind))
            reach = math.sqrt(ground.area) * 2
            ray = LineString([(cx, cy), (cx + wx * reach, cy + wy * reach)])
            edge = ray.intersection(ground)
            if not edge.is_empty:
                fx, fy = shapely.get_coordinates(edge)[-1]
        front = _fire_front(rng, float(fx), float(fy), wind)
        feats.append(Feature("fire", front, (255, 190, 60), "flame", wind, 1.0, seed + 1))
        ground = ground.union(front)
        plume = _smoke_plume(rng, front, wind)
        feats.append(
            Feature(
                "smoke",
                plume,
                _jitter(
                    rng, tuple(rng.choice([(222, 220, 214), (180, 180, 178), (200, 204, 210)])), 10
                ),
                "smoke",
                wind,
                1.0,
                seed + 2,
                float(rng.uniform(0.5, 0.92)),
            )
        )
        footprint = footprint.union(front).union(plume)
    # where it burns or burnt (not where the smoke drifts): the centre a finding should report
    if not ground.is_empty:
        cx, cy = float(ground.centroid.x), float(ground.centroid.y)
    return (
        feats,
        (cx, cy),
        footprint.convex_hull if not footprint.is_empty else Point(cx, cy).buffer(3),
    )


def _fire_front(rng: np.random.Generator, cx: float, cy: float, wind: float) -> BaseGeometry:
    """A ragged burning line across the wind, with a few spot fires blown ahead of it."""
    length = rng.uniform(4, 28)
    steps = max(3, int(length / 1.5))
    across = math.radians(90 - wind + 90)  # math angle of the line, perpendicular to the wind
    wx, wy = math.sin(math.radians(wind)), math.cos(math.radians(wind))
    t = np.linspace(-length / 2, length / 2, steps)
    wobble = np.cumsum(rng.normal(0, 0.6, steps))
    wobble -= wobble.mean()
    xs = cx + t * math.cos(across) + wobble * wx
    ys = cy + t * math.sin(across) + wobble * wy
    parts = [
        LineString([(xs[k], ys[k]), (xs[k + 1], ys[k + 1])]).buffer(rng.uniform(0.35, 1.4))
        for k in range(steps - 1)
        if rng.random() > 0.12  # gaps where the flame has died down
    ]
    for _ in range(int(rng.integers(0, 4))):
        k = int(rng.integers(steps))
        ahead = rng.uniform(1.5, 6)
        parts.append(Point(xs[k] + wx * ahead, ys[k] + wy * ahead).buffer(rng.uniform(0.4, 1.2)))
    front = shapely.union_all(parts) if parts else Point(cx, cy).buffer(1.0)
    return front if not front.is_empty else Point(cx, cy).buffer(1.0)


def _smoke_plume(rng: np.random.Generator, front: BaseGeometry, wind: float) -> Polygon:
    """A plume rising from the whole front and drifting downwind, widening as it goes."""
    plume_len = rng.uniform(10, 50)
    wx, wy = math.sin(math.radians(wind)), math.cos(math.radians(wind))
    base = front.buffer(1.5).convex_hull
    spread = 1.3 + plume_len / 50
    far = affinity.scale(base, spread, spread)
    far = affinity.translate(far, wx * plume_len, wy * plume_len)
    plume = shapely.union_all([base, far]).convex_hull
    c = plume.centroid
    wavy = _blob(rng, c.x, c.y, 1.0, rough=0.15, stretch=1.0)
    return plume.intersection(
        affinity.scale(wavy, plume_len * 2, plume_len * 2, origin=(c.x, c.y))
    ).buffer(0)


def _fishing(layout: Layout, rng: np.random.Generator, region: BaseGeometry):
    site = _site(layout, ("water",), None, region).buffer(-2.5)
    if site.is_empty or site.area < 60:
        site = _site(layout, ("water",), None, region).buffer(-1.0)
    if site.is_empty or site.area < 60:
        raise SynthError("no open water in the region for illegal_fishing")
    kind = rng.choice(["cage", "boat", "stake_net"], p=[0.4, 0.3, 0.3])
    cx, cy = _sample_point(rng, site)
    angle = float(rng.uniform(0, 180))
    seed = int(rng.integers(1 << 30))
    if kind == "cage":
        nx, ny = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        cell = rng.uniform(3, 7)
        geom = _rect(cx, cy, nx * cell, ny * cell, angle)
        if not site.buffer(2.5).contains(geom):
            kind = "boat"
        else:
            colour = _jitter(rng, (230, 225, 210) if rng.random() < 0.5 else (230, 120, 40), 10)
            feat = Feature("cage", geom, colour, f"{nx}x{ny}", angle, cell, seed)
            return [feat], (cx, cy), geom
    if kind == "stake_net":
        length = rng.uniform(15, 60)
        a = math.radians(angle)
        line = LineString(
            [
                (cx - length / 2 * math.cos(a), cy - length / 2 * math.sin(a)),
                (cx + length / 2 * math.cos(a), cy + length / 2 * math.sin(a)),
            ]
        )
        line = line.intersection(site.buffer(2.5))
        if line.length >= 8 and line.geom_type == "LineString":
            geom = line.buffer(0.6, cap_style="flat")
            colour = _jitter(rng, (240, 240, 235) if rng.random() < 0.6 else (235, 110, 40), 8)
            feat = Feature("stake_net", geom, colour, "stakes", angle, rng.uniform(1.5, 3.0), seed)
            c = line.interpolate(0.5, normalized=True)
            return [feat], (float(c.x), float(c.y)), line.buffer(1.5, cap_style="flat")
    length, width = rng.uniform(4, 9), rng.uniform(1.3, 2.4)
    hull = _blob(rng, 0, 0, 1.0, rough=0.0, points=20)
    hull = affinity.scale(hull, length / 2, width / 2)
    hull = hull.intersection(box(-length / 2, -width / 2, length * 0.42, width / 2)).union(
        Polygon([(length * 0.3, -width * 0.35), (length / 2, 0), (length * 0.3, width * 0.35)])
    )
    hull = affinity.translate(affinity.rotate(hull, angle, origin=(0, 0)), cx, cy)
    palette = [(235, 235, 230), (60, 110, 170), (150, 110, 70), (200, 60, 45)]
    colour = _jitter(rng, palette[int(rng.integers(len(palette)))], 8)
    feats = [Feature("boat", hull, colour, "boat", angle, length, seed)]
    boats = hull
    if rng.random() < 0.3:  # a second boat alongside
        other = affinity.translate(
            hull,
            -math.sin(math.radians(angle)) * width * 1.3,
            math.cos(math.radians(angle)) * width * 1.3,
        )
        feats.append(Feature("boat", other, colour, "boat", angle, length, seed + 1))
        boats = boats.union(other)
    return feats, (cx, cy), boats.convex_hull


_PLANTERS = {
    "illegal_construction": _construction,
    "straw_burning": _burning,
    "illegal_fishing": _fishing,
}


def plant(
    layout: Layout,
    rng: np.random.Generator,
    label: str,
    *,
    region: BaseGeometry | None = None,
    dig_pond: bool = False,
) -> Layout:
    """Add one violation of `label` where it makes sense, inside `region` (metres) if given.

    Sheds go on fields or as additions on roofs, fires and burn scars on fields, nets, cages and
    boats on water. With `dig_pond`, fishing in a region without open water first digs an
    aquaculture pond on free ground there. Raises :class:`SynthError` when nothing fits.
    """
    if label not in VIOLATIONS:
        raise SynthError(f"cannot plant {label!r}; violation classes are {', '.join(VIOLATIONS)}")
    region = region if region is not None else box(*layout.bounds)
    try:
        feats, centre, footprint = _PLANTERS[label](layout, rng, region)
    except SynthError:
        if not (dig_pond and label == "illegal_fishing"):
            raise
        layout = _dig_pond_in(layout, rng, region)
        feats, centre, footprint = _PLANTERS[label](layout, rng, region)
    violation = Violation(label, (float(centre[0]), float(centre[1])), footprint)
    return layout.with_features(feats, violation)


def _dig_pond_in(layout: Layout, rng: np.random.Generator, region: BaseGeometry) -> Layout:
    """Dig a pond on the freest ground of a region, cut around roads, houses and water."""
    near = layout.features_in(region.bounds)
    occupied = shapely.unary_union(
        [f.geometry for f in near if f.kind not in ("field", "tree", "shadow", "burn_scar")]
        or [Polygon()]
    ).buffer(1.5)
    size = float(min(45.0, max(14.0, math.sqrt(region.area) * 0.6)))
    for margin in (size / 2, size / 4, 0.0):
        free = (region.buffer(-margin) if margin else region).difference(occupied)
        if free.is_empty or free.area < 1:
            continue
        point = free.representative_point()
        angle = float(rng.uniform(0, 180))
        water = _rect(point.x, point.y, size, size * 0.7, angle).difference(occupied)
        water = water.intersection(region)
        if water.is_empty or water.area < 80:
            continue
        return layout.with_features([_pond_water(rng, water, angle)])
    # last resort: clear ground for the pond, cutting roads and dikes, razing houses and trees
    centre = region.representative_point()
    pond_geom = _rect(centre.x, centre.y, size, size * 0.7, 0.0).intersection(region)
    if pond_geom.is_empty or pond_geom.area < 80:
        raise SynthError("region too small to dig a pond for illegal_fishing")
    violation_kinds = {
        "shed",
        "roof_addition",
        "burn_scar",
        "fire",
        "smoke",
        "cage",
        "stake_net",
        "boat",
    }
    kept = []
    for f in layout.features:
        below = f.kind in violation_kinds or Z_ORDER[f.kind] <= Z_ORDER["water"]
        if below or not f.geometry.intersects(pond_geom):
            kept.append(f)
        elif f.kind in ("road",):
            kept.append(replace(f, geometry=f.geometry.difference(pond_geom)))
    pond = _pond_water(rng, pond_geom, 0.0)
    return Layout(layout.bounds, (*kept, pond), layout.violations, layout.seed)
