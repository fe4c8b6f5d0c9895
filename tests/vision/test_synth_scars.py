"""Straw-burning tiles inside large burn scars, and degenerate frames as background."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import box

from vision.synth.scenes import (
    DEGENERATE_SHARE,
    SCAR_INTERIOR_SHARE,
    degenerate_frame,
    make_tile,
    tile_site,
)

TILE_M = 25.6  # 128 px at 0.2 m/px


def test_a_share_of_burning_tiles_lies_mostly_inside_a_burn_scar() -> None:
    sites = [tile_site(np.random.default_rng([21, k]), "straw_burning", TILE_M) for k in range(120)]
    inside = [s for s in sites if s.inside_scar]
    # some plantings grow no scar large enough: the share reached is a little below the target
    assert SCAR_INTERIOR_SHARE * 0.5 <= len(inside) / len(sites) <= SCAR_INTERIOR_SHARE + 0.08
    for site in inside:
        scar = shapely.union_all([f.geometry for f in site.layout.of_kind("burn_scar")])
        x, y = site.centre
        tile = box(x - TILE_M / 2, y - TILE_M / 2, x + TILE_M / 2, y + TILE_M / 2)
        assert tile.intersection(scar).area / tile.area > 0.3
    covered = [s for s in sites if not s.inside_scar and s.layout.of_kind("burn_scar")]
    assert covered, "ordinary burning tiles keep their scars at the edge of the fire"


def test_no_other_class_is_centred_inside_a_scar() -> None:
    for label in ("background", "illegal_construction", "illegal_fishing"):
        sites = [tile_site(np.random.default_rng([22, k]), label, TILE_M) for k in range(30)]
        assert not any(s.inside_scar for s in sites)


def test_degenerate_frames_show_nothing_and_are_a_small_share_of_background() -> None:
    frames = [degenerate_frame(np.random.default_rng(k)) for k in range(40)]
    for frame in frames:
        assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    means = [float(f.mean()) for f in frames]
    spreads = [float(f.std()) for f in frames]
    assert min(means) < 20 and max(means) > 230  # lens cap and over-exposure both drawn
    assert max(spreads) > 40 and min(spreads) < 7  # pure noise and flat frames both drawn
    tiles = [make_tile(np.random.default_rng([23, k]), "background") for k in range(300)]
    blank = sum(_neighbour_correlation(t) < 0.4 for t in tiles)
    assert 0 < blank <= len(tiles) * DEGENERATE_SHARE * 2


def _neighbour_correlation(tile: np.ndarray) -> float:
    """Correlation of horizontally adjacent pixels: ~0 for flat frames with sensor noise and
    for pure noise, above 0.5 for any rendered scene."""
    grey = tile.astype(float).mean(axis=2)
    return float(np.corrcoef(grey[:, :-1].ravel(), grey[:, 1:].ravel())[0, 1])


def test_degenerate_frames_are_deterministic_per_seed() -> None:
    a = degenerate_frame(np.random.default_rng(4))
    assert np.array_equal(a, degenerate_frame(np.random.default_rng(4)))
