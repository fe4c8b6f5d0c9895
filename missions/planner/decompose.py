"""Decompose: a region (local metres, holes and no-fly zones already removed) -> convex-ish cells.

The default is a boustrophedon decomposition: cut the region into slabs at every vertex along a
direction, then glue slab pieces back together wherever the glue is one-to-one, which leaves cells
that every line parallel to the direction crosses at most once (so parallel strips never fly over
a concavity or a hole). :func:`merge_cells` then glues neighbouring cells back together wherever
flying them as one is cheaper by the objective (a small notch is cheaper to overfly than to split).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from missions.planner._geometry import is_convex, polygons_of, rotate

__all__ = ["Decomposer", "Boustrophedon", "merge_cells", "partitions"]


class Decomposer(Protocol):
    """Stage 1: split a region into cells that can each be swept by parallel strips."""

    def decompose(self, region: BaseGeometry, *, direction_deg: float) -> list[Polygon]: ...


@dataclass(frozen=True, slots=True)
class Boustrophedon:
    """Boustrophedon cells along ``direction_deg`` (math angle of the cutting lines)."""

    tolerance: float = 1e-9  # relative to the polygon's size

    def decompose(self, region: BaseGeometry, *, direction_deg: float) -> list[Polygon]:
        cells: list[Polygon] = []
        for part in polygons_of(region):
            if is_convex(part):
                cells.append(part)
            else:
                cells.extend(self._split(part, direction_deg))
        return cells

    def _split(self, polygon: Polygon, direction_deg: float) -> list[Polygon]:
        rotated = rotate(polygon, -direction_deg)
        coords = shapely.get_coordinates(rotated)
        xmin, ymin, xmax, ymax = rotated.bounds
        # slabs stop a hair short of each vertex level, so pieces that only touch at a vertex
        # (the apex of a notch) come out as separate pieces
        gap = self.tolerance * max(1.0, xmax - xmin, ymax - ymin)
        ys = np.unique(np.round(coords[:, 1] / gap) * gap)
        if len(ys) < 3:
            return [polygon]
        lows, highs = ys[:-1] + gap, ys[1:] - gap
        keep = highs > lows
        lows, highs = lows[keep], highs[keep]
        slabs = shapely.box(xmin - 1.0, lows, xmax + 1.0, highs)
        flat: list[Polygon] = []
        slab_of: list[int] = []
        for k, piece in enumerate(shapely.intersection(rotated, slabs)):
            parts = polygons_of(piece, min_area=gap * gap)
            flat.extend(parts)
            slab_of.extend([k] * len(parts))
        if not flat:
            return [polygon]
        geoms = np.asarray(flat, dtype=object)
        bounds = shapely.bounds(geoms)
        tops = _interval_at(geoms, bounds[:, 3], xmin, xmax)
        bottoms = _interval_at(geoms, bounds[:, 1], xmin, xmax)
        bottoms = np.where(np.isfinite(bottoms), bottoms, bounds[:, [0, 2]])
        slab_arr = np.asarray(slab_of)
        index = np.arange(len(flat))
        upper: dict[int, list[int]] = {i: [] for i in index.tolist()}
        lower: dict[int, list[int]] = {i: [] for i in index.tolist()}
        for k in range(len(lows) - 1):
            if highs[k] + 2.5 * gap < lows[k + 1]:
                continue  # a degenerate slab between: do not glue across it
            below, above = index[slab_arr == k], index[slab_arr == k + 1]
            if not len(below) or not len(above):
                continue
            lo = np.maximum(tops[below][:, None, 0], bottoms[above][None, :, 0])
            hi = np.minimum(tops[below][:, None, 1], bottoms[above][None, :, 1])
            for i, j in zip(*np.nonzero(hi - lo > 10 * gap), strict=True):
                upper[int(below[i])].append(int(above[j]))
                lower[int(above[j])].append(int(below[i]))
        parent = list(range(len(flat)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, ups in upper.items():
            if len(ups) == 1 and len(lower[ups[0]]) == 1:
                parent[find(ups[0])] = find(i)
        groups: dict[int, list[int]] = {}
        for i in range(len(flat)):
            groups.setdefault(find(i), []).append(i)
        cells = []
        for members in groups.values():
            # fill the hair-thin gap under each piece, across its bottom edge, down to the piece
            # below: glues a group together and makes neighbouring cells share their boundary
            bridges = shapely.box(
                bottoms[members, 0] - gap,
                bounds[members, 1] - 2.0 * gap,
                bottoms[members, 1] + gap,
                bounds[members, 1],
            )
            glued = shapely.union_all([*geoms[members], *bridges]).intersection(rotated)
            parts = polygons_of(glued, min_area=gap)
            cells.extend(rotate(p, direction_deg) for p in parts)
        return cells


def _interval_at(geoms: np.ndarray, ys: np.ndarray, xmin: float, xmax: float) -> np.ndarray:
    """(N, 2) x-interval where each piece meets the horizontal line at its own ys[i]."""
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([np.full(len(ys), xmin - 1.0), ys]),
                np.column_stack([np.full(len(ys), xmax + 1.0), ys]),
            ],
            axis=1,
        )
    )
    b = shapely.bounds(shapely.intersection(geoms, lines))
    return np.where(np.isnan(b[:, [0, 2]]), np.inf, b[:, [0, 2]])


def partitions(cells: Sequence[Polygon], region: BaseGeometry, *, rel: float = 1e-3) -> bool:
    """Whether cells tile the region: together as large as it, and no larger where they meet."""
    if not cells:
        return region.area == 0
    tolerance = rel * region.area
    total = sum(c.area for c in cells)
    covered = shapely.union_all(cells).area
    return abs(total - region.area) <= tolerance and abs(covered - region.area) <= tolerance


def merge_cells(
    cells: Sequence[Polygon],
    total_cost: Callable[[Sequence[Polygon]], float],
    *,
    max_rounds: int = 50,
) -> list[Polygon]:
    """Greedily glue touching cells while that lowers ``total_cost`` (seconds) of the whole set."""
    current = list(cells)
    best = total_cost(current)
    for _ in range(max_rounds):
        if len(current) < 2:
            break
        arr = np.asarray(current, dtype=object)
        touching = shapely.length(shapely.intersection(arr[:, None], arr[None, :]))
        candidates = [(i, j) for i, j in zip(*np.nonzero(np.triu(touching > 1e-3, 1)), strict=True)]
        improvement = None
        for i, j in candidates:
            union = shapely.union_all([current[i], current[j]]).buffer(0)
            parts = polygons_of(union)
            if len(parts) != 1 or not partitions([current[i], current[j]], union, rel=1e-6):
                continue  # only neighbours that touch (never overlap) are glued
            trial = [c for k, c in enumerate(current) if k not in (i, j)] + parts
            cost = total_cost(trial)
            if cost < best - 1e-6 and (improvement is None or cost < improvement[0]):
                improvement = (cost, trial)
        if improvement is None:
            break
        best, current = improvement
    return current
