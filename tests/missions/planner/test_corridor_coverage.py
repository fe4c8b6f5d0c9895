import numpy as np
import pytest
from shapely.geometry import LineString, box

from missions.planner import _swath_generator as swath_generator
from missions.planner.corridor import corridor_polygon, corridor_swaths
from missions.planner.coverage import (
    coverage,
    design_multiplicity,
    multiplicity,
    outside_length_m,
    photo_poses,
)


def test_design_multiplicity_matches_the_formula() -> None:
    assert design_multiplicity(0.75, 0.70) == 12
    assert design_multiplicity(0.2, 0.15) == 1


def test_one_photo_covers_exactly_its_rotated_footprint() -> None:
    centres = np.array([[0.0, 0.0]])
    heading = np.array([[0.0, 1.0]])  # flying north: across track is east-west
    pts = np.array([[74.0, 0.0], [76.0, 0.0], [0.0, 49.0], [0.0, 51.0]])
    counts = multiplicity(pts, centres, heading, footprint_m=(150.0, 100.0))
    assert counts.tolist() == [1, 0, 1, 0]


def test_photo_poses_follow_a_bent_line() -> None:
    centres, headings = photo_poses([np.array([[0, 0], [50, 0], [50, 50]])], 25.0)
    assert len(centres) == 5
    assert np.allclose(centres[-1], [50, 50])
    assert np.allclose(headings[0], [1, 0]) and np.allclose(headings[-1], [0, 1])


def test_coverage_of_a_square_by_too_few_photos_is_partial() -> None:
    region = box(0, 0, 200, 100)
    cov = coverage(
        region,
        np.array([[50.0, 50.0]]),
        np.array([[1.0, 0.0]]),
        footprint_m=(100.0, 100.0),
        required=1,
    )
    assert cov.once == pytest.approx(0.5, abs=0.02)


def test_outside_length() -> None:
    assert outside_length_m(np.array([[-10, 5], [20, 5]]), box(0, 0, 10, 10)) == pytest.approx(20)


def test_corridor_strips_follow_the_line_and_cover_the_corridor(settings) -> None:
    line = LineString([(0, 0), (800, 0), (1400, 500), (2000, 500)])
    gen = swath_generator(settings)
    block = corridor_swaths(
        line,
        width_m=150.0,
        spacing_m=gen.spacing_m,
        footprint_across_m=gen.footprint_across_m,
        footprint_along_m=gen.footprint_along_m,
        trigger_distance_m=gen.trigger_distance_m,
        end_margin_m=gen.end_margin_m,
        objective=gen.objective,
    )
    corridor = corridor_polygon(line, width_m=150.0)
    assert len(block.strips) == 3  # insets of 30 m, spacing 45 m
    for strip in block.strips:
        assert LineString(strip.array).hausdorff_distance(line) <= 75.0 + 50.0
    centres, headings = photo_poses([s.array for s in block.strips], gen.trigger_distance_m)
    cov = coverage(corridor, centres, headings, footprint_m=settings.footprint_m, required=12)
    assert cov.once >= 0.995
    flown = sum(s.length_m for s in block.strips)
    assert flown < 3 * line.length  # along the line, never across it
