"""plan_region: the layout of a part is chosen by the objective among the alternatives it tries."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from missions.planner import _sequence_time_s, _swath_generator, plan_region
from missions.planner.order import GreedyTwoOpt
from missions.planner.path import Router

U_SHAPE = Polygon(
    [(0, 0), (900, 0), (900, 700), (650, 700), (650, 200), (250, 200), (250, 700), (0, 700)]
)


def test_the_given_score_decides_between_merged_cut_and_whole(settings) -> None:
    gen = _swath_generator(settings)
    fewest = plan_region(U_SHAPE, generator=gen, score=len)
    most = plan_region(U_SHAPE, generator=gen, score=lambda blocks: -len(blocks))
    assert len(fewest) == 1  # the whole part, flown over the notch
    assert len(most) >= 3  # a decomposition as cut, not merged
    for blocks in (fewest, most):
        assert sum(b.cell.area for b in blocks) == pytest.approx(U_SHAPE.area, rel=1e-3)


@pytest.mark.parametrize("home", [None, (-300.0, -300.0)])
def test_merging_never_costs_more_than_not_merging(settings, home) -> None:
    gen = _swath_generator(settings)
    start = end = None if home is None else np.array(home)
    orderer, router = GreedyTwoOpt(), Router()

    def exact(blocks) -> float:
        return _sequence_time_s(blocks, orderer, settings.objective, router, start=start, end=end)

    merged = plan_region(U_SHAPE, generator=gen, merge=True, start=start, end=end)
    plain = plan_region(U_SHAPE, generator=gen, merge=False, start=start, end=end)
    assert exact(merged) <= exact(plain) + 1e-6


def test_a_convex_part_takes_the_angle_the_score_prefers(settings) -> None:
    """Longer than a battery, the sorties may favour another of the fastest sweep angles."""
    gen = _swath_generator(settings)
    field = Polygon([(0, 0), (1400, 300), (1300, 900), (100, 700)])
    fastest = plan_region(field, generator=gen)
    assert len(fastest) == 1
    shifted = plan_region(
        field, generator=gen, score=lambda blocks: -abs(blocks[0].angle_deg - fastest[0].angle_deg)
    )
    assert len(shifted) == 1
    assert abs(shifted[0].angle_deg - fastest[0].angle_deg) > 5.0
    assert shifted[0].time_s >= fastest[0].time_s
