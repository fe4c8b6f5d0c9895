"""Hard negatives: background tiles on water and its shore, with varied sun glint."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import shapely
from shapely.geometry import box

from vision.synth.layout import Feature, Layout
from vision.synth.render import render_window
from vision.synth.scenes import GLINT_RANGE, WATER_NEGATIVE_SHARE, make_tile, tile_site

TILE_M = 25.6  # 128 px at 0.2 m/px


def _sites(seed: int, n: int, label: str = "background"):
    return [tile_site(np.random.default_rng([seed, k]), label, TILE_M) for k in range(n)]


def test_a_share_of_background_tiles_is_centred_on_water_or_its_shore() -> None:
    sites = _sites(3, 300)
    negatives = [s for s in sites if s.water_negative]
    share = len(negatives) / len(sites)
    assert abs(share - WATER_NEGATIVE_SHARE) < 0.07, share
    for site in negatives:
        water = shapely.union_all([f.geometry for f in site.layout.of_kind("water")])
        assert water.distance(shapely.Point(site.centre)) < 0.5, site.centre
        assert not site.layout.violations


def test_water_glint_and_tone_vary_within_their_range() -> None:
    glints = [
        f.glint
        for site in _sites(4, 60) + _sites(4, 30, "illegal_fishing")
        for f in site.layout.of_kind("water")
    ]
    low, high = GLINT_RANGE
    assert glints and all(low <= g <= high for g in glints)
    assert min(glints) < 1.0 < 1.5 < max(glints)


def test_sites_and_tiles_are_deterministic_per_seed() -> None:
    a, b = _sites(9, 20), _sites(9, 20)
    assert [s.centre for s in a] == [s.centre for s in b]
    assert [s.water_negative for s in a] == [s.water_negative for s in b]
    tile = make_tile(np.random.default_rng(12), "background")
    assert np.array_equal(tile, make_tile(np.random.default_rng(12), "background"))


def test_stronger_glint_only_brightens_water() -> None:
    water = Feature("water", box(0, 0, 60, 60), (55.0, 80.0, 78.0), "river", seed=5)
    standard = Layout((0, 0, 60, 60), (water,))
    strong = Layout((0, 0, 60, 60), (replace(water, glint=3.0),))
    window = {"west": 0.0, "north": 60.0, "gsd_m": 0.2, "width": 300, "height": 300}
    a = render_window(standard, **window).astype(int)
    b = render_window(strong, **window).astype(int)
    assert (b >= a).all() and (b > a + 10).any()
