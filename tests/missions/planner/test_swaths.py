import numpy as np
import pytest
from shapely.geometry import Polygon, box

from missions.planner import PlanSettings
from missions.planner import _swath_generator as swath_generator
from missions.planner.coverage import coverage, photo_poses
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


def test_strip_ends_are_trimmed_to_whole_trigger_distances(settings: PlanSettings) -> None:
    gen = swath_generator(settings)
    result = gen.generate(box(0, 0, 1000, 300), angle_deg=0.0)
    for strip in result.strips:
        length = strip.length_m
        assert length / settings.trigger_distance_m == pytest.approx(round(length / 25.0))
        assert length < 1000.0  # photos reach beyond the ends, the flight does not
        assert length >= 1000.0 - 2 * (50.0 - settings.edge_margin_m) - 1e-6


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
