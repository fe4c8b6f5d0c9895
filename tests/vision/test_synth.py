"""The scene generator: determinism, seamless windows, sensible placement, world rasters."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from shapely.geometry import Point, box

from gis.grids import Grid
from vision.errors import SynthError
from vision.synth import build_world, load_truth, make_scene, make_tile, plant, random_layout
from vision.synth.render import render_window


def test_tiles_and_scenes_are_deterministic_per_seed() -> None:
    a = make_tile(np.random.default_rng(5), "straw_burning")
    b = make_tile(np.random.default_rng(5), "straw_burning")
    c = make_tile(np.random.default_rng(6), "straw_burning")
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    s1 = make_scene(3, size_px=(320, 240))
    s2 = make_scene(3, size_px=(320, 240))
    assert np.array_equal(s1.image, s2.image) and s1.objects == s2.objects


def test_windows_join_seamlessly() -> None:
    layout = random_layout(np.random.default_rng(1), (0, 0, 60, 40), water=1.0, village=1.0)
    whole = render_window(layout, west=0, north=40, gsd_m=0.25, width=240, height=160)
    left = render_window(layout, west=0, north=40, gsd_m=0.25, width=120, height=160)
    right = render_window(layout, west=30, north=40, gsd_m=0.25, width=120, height=160)
    assert np.array_equal(whole, np.concatenate([left, right], axis=1))


def test_violations_go_where_they_make_sense() -> None:
    rng = np.random.default_rng(11)
    layout = random_layout(rng, (0, 0, 250, 250), water=1.0, village=1.0, ponds=1.0)
    for _ in range(4):
        for label in ("illegal_construction", "straw_burning", "illegal_fishing"):
            layout = plant(layout, rng, label)
    water = [f.geometry for f in layout.of_kind("water")]
    fields = [f.geometry for f in layout.of_kind("field")]
    roofs = [f.geometry for f in layout.of_kind("roof")]
    for v in layout.violations:
        centre = Point(v.centre)
        on_water = any(w.buffer(0.5).contains(centre) for w in water)
        if v.label == "illegal_fishing":
            assert on_water, v
        elif v.label == "straw_burning":
            assert any(f.contains(centre) for f in fields) and not on_water, v
        else:
            assert any(g.buffer(0.5).contains(centre) for g in fields + roofs), v


def test_scene_objects_carry_pixel_boxes() -> None:
    scene = make_scene(
        8,
        size_px=(400, 300),
        gsd_m=0.2,
        violations={"illegal_construction": 2, "illegal_fishing": 1},
    )
    assert scene.image.shape == (300, 400, 3)
    assert sorted(o.label for o in scene.objects) == [
        "illegal_construction",
        "illegal_construction",
        "illegal_fishing",
    ]
    for obj in scene.objects:
        x0, y0, x1, y1 = obj.box_px
        assert x0 < obj.centre_px[0] < x1 and y0 < obj.centre_px[1] < y1
        assert 0 <= obj.centre_px[0] <= 400 and 0 <= obj.centre_px[1] <= 300


def test_plant_rejects_unknown_classes() -> None:
    layout = random_layout(np.random.default_rng(0), (0, 0, 50, 50))
    with pytest.raises(SynthError, match="violation classes"):
        plant(layout, np.random.default_rng(0), "background")


def test_world_raster_is_tiled_georeferenced_and_truthful(tmp_path) -> None:
    grid = Grid("A1", box(120.0001, 32.0001, 120.0004, 32.0004))
    truth = build_world(
        tmp_path / "world.tif",
        bounds_wgs84=(120.0, 32.0, 120.0006, 32.0005),
        gsd_m=0.05,
        grids=[grid],
        violations=1,
        seed=4,
    )
    with rasterio.open(truth.raster_path) as ds:
        assert ds.crs.to_epsg() == 32651  # UTM zone 51N
        assert ds.res == pytest.approx((0.05, 0.05))
        assert ds.profile["tiled"] and ds.compression is not None
        assert ds.count == 3 and ds.dtypes[0] == "uint8"
    assert sorted(v.label for v in truth.violations) == [
        "illegal_construction",
        "illegal_fishing",
        "straw_burning",
    ]
    for v in truth.violations:
        assert v.grid_id == "A1" and grid.geometry.contains(Point(v.lon, v.lat))
        assert v.footprint.intersects(grid.geometry)
    loaded = load_truth(truth.truth_path)
    assert [v.label for v in loaded.violations] == [v.label for v in truth.violations]
    assert loaded.crs == truth.crs


def test_world_rejects_coarse_gsd(tmp_path) -> None:
    with pytest.raises(SynthError, match="GSD"):
        build_world(tmp_path / "w.tif", centre=(120.0, 32.0), size_m=50, gsd_m=0.2)
