import numpy as np
import pytest
from shapely.geometry import Polygon, box

from missions.planner import PlanSettings
from missions.planner import _swath_generator as swath_generator
from missions.planner.coverage import (
    END_PHOTO_GAP_M,
    closing_photo,
    coverage,
    photo_offsets,
    photo_poses,
)
from missions.planner.swaths import best_swaths, candidate_angles, strip_offsets


def test_strip_offsets_keep_edges_inside_two_footprints() -> None:
    ys, spacing = strip_offsets(0.0, 863.0, spacing_m=45.0, footprint_across_m=150.0)
    assert spacing <= 45.0 + 1e-9
    assert np.allclose(np.diff(ys), spacing)
    # with 70 % side overlap both edges are seen by the two outermost strips
    for edge in (0.0, 863.0):
        assert (np.abs(ys - edge) <= 75.0 + 1e-9).sum() >= 2


def test_strip_offsets_low_overlap_put_outer_strips_half_a_spacing_in() -> None:
    ys, _ = strip_offsets(0.0, 1000.0, spacing_m=127.5, footprint_across_m=150.0)
    assert ys[0] == pytest.approx(127.5 / 2)
    assert 1000.0 - ys[-1] == pytest.approx(127.5 / 2)


def test_narrow_cell_gets_one_strip_down_its_middle(settings: PlanSettings) -> None:
    gen = swath_generator(settings)
    result = gen.generate(box(0, 0, 500, 40), angle_deg=0.0)
    assert len(result.strips) == 1
    (_x0, y0), (_x1, y1) = result.strips[0].points
    assert y0 == pytest.approx(20.0) and y1 == pytest.approx(20.0)


def test_strip_ends_are_trimmed_by_half_a_footprint_less_the_margin(settings: PlanSettings) -> None:
    gen = swath_generator(settings)
    result = gen.generate(box(0, 0, 1000, 300), angle_deg=0.0)
    trim = settings.footprint_m[1] / 2 - settings.edge_margin_m
    for strip in result.strips:
        (x0, _), (x1, _) = strip.points
        assert min(x0, x1) == pytest.approx(trim) and max(x0, x1) == pytest.approx(1000.0 - trim)


def test_a_strip_ending_on_a_distance_photo_is_lengthened_to_the_end_gap(
    settings: PlanSettings,
) -> None:
    trigger = settings.trigger_distance_m
    trim = settings.footprint_m[1] / 2 - settings.edge_margin_m
    extent = 2 * trim + 30 * trigger + 1.0  # the 30th distance photo would be 1 m from the end
    (strip,) = swath_generator(settings).generate(box(0, 0, extent, 40), angle_deg=0.0).strips
    assert strip.length_m == pytest.approx(30 * trigger + END_PHOTO_GAP_M)
    offsets = photo_offsets(strip.length_m, trigger)
    assert len(offsets) == 32 and offsets[-1] == pytest.approx(strip.length_m)
    assert offsets[-1] - offsets[-2] == pytest.approx(END_PHOTO_GAP_M)
    # a distance photo due just before the end: lengthened past it, to the gap after it
    (strip,) = swath_generator(settings).generate(box(0, 0, extent - 2.0, 40), angle_deg=0.0).strips
    assert strip.length_m == pytest.approx(30 * trigger + END_PHOTO_GAP_M)
    (strip,) = swath_generator(settings).generate(box(0, 0, extent + 18, 40), angle_deg=0.0).strips
    assert strip.length_m == pytest.approx(30 * trigger + 19.0)  # 19 m: clear of both ends


def test_photos_at_the_start_every_trigger_distance_and_the_end() -> None:
    assert photo_offsets(100.0, 25.0).tolist() == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert photo_offsets(110.0, 25.0).tolist() == [0.0, 25.0, 50.0, 75.0, 100.0, 110.0]
    assert photo_offsets(110.0, 25.0, closing=False).tolist() == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert photo_offsets(0.0, 25.0).tolist() == [0.0]  # a single-photo strip
    assert not closing_photo(101.0, 25.0) and closing_photo(105.0, 25.0)


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 123.0])
def test_every_point_of_a_convex_cell_is_photographed(settings: PlanSettings, angle: float) -> None:
    cell = Polygon([(0, 0), (700, -80), (900, 400), (300, 650), (-60, 300)])
    result = swath_generator(settings).generate(cell, angle_deg=angle)
    centres, headings = photo_poses([s.array for s in result.strips], settings.trigger_distance_m)
    cov = coverage(cell, centres, headings, footprint_m=settings.footprint_m, required=12)
    assert cov.once == 1.0
    assert cov.design > 0.6


def test_best_angle_runs_along_a_long_rectangle(settings: PlanSettings) -> None:
    result = best_swaths(box(0, 0, 2000, 300), swath_generator(settings))
    assert min(result.angle_deg % 180, 180 - result.angle_deg % 180) < 1.0


def test_best_angle_is_no_worse_than_random_angles(settings: PlanSettings) -> None:
    cell = Polygon([(0, 0), (800, 200), (1000, 700), (200, 900)])
    gen = swath_generator(settings)
    best = best_swaths(cell, gen)
    rng = np.random.default_rng(3)
    for angle in rng.uniform(0, 180, 12):
        assert best.time_s <= gen.generate(cell, angle_deg=float(angle)).time_s + 1e-6
    assert len(candidate_angles(cell)) >= 12
