import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

from missions.planner._geometry import rotate
from missions.planner.decompose import Boustrophedon, merge_cells

U_SHAPE = Polygon(
    [(0, 0), (600, 0), (600, 500), (400, 500), (400, 150), (200, 150), (200, 500), (0, 500)]
)


def _crossings(cell: Polygon, direction_deg: float, step: float = 7.3) -> int:
    """The largest number of pieces any line along the direction cuts the cell into."""
    rotated = rotate(cell, -direction_deg)
    xmin, ymin, xmax, ymax = rotated.bounds
    most = 0
    for y in np.arange(ymin + step / 2, ymax, step):
        piece = rotated.intersection(LineString([(xmin - 1, y), (xmax + 1, y)]))
        most = max(most, len(getattr(piece, "geoms", [piece])))
    return most


def test_convex_polygon_stays_one_cell() -> None:
    square = box(0, 0, 300, 200)
    assert Boustrophedon().decompose(square, direction_deg=30) == [square]


@pytest.mark.parametrize(("direction", "count"), [(0.0, 3), (90.0, 1), (37.0, 3)])
def test_u_shape_cells_are_monotone_and_tile_the_polygon(direction: float, count: int) -> None:
    cells = Boustrophedon().decompose(U_SHAPE, direction_deg=direction)
    assert len(cells) == count
    assert sum(c.area for c in cells) == pytest.approx(U_SHAPE.area, rel=1e-6)
    assert shapely.union_all(cells).symmetric_difference(U_SHAPE).area < 1e-3
    for cell in cells:
        assert _crossings(cell, direction) == 1


def test_holes_are_left_out_of_every_cell() -> None:
    pond = box(150, 150, 250, 250)
    field = box(0, 0, 400, 400).difference(pond)
    cells = Boustrophedon().decompose(field, direction_deg=0)
    assert len(cells) == 4
    assert all(c.intersection(pond).area < 1e-6 for c in cells)
    assert all(_crossings(c, 0.0) == 1 for c in cells)


def test_merge_glues_cells_only_when_the_cost_drops() -> None:
    cells = Boustrophedon().decompose(U_SHAPE, direction_deg=0)

    def fewer_is_cheaper(cs):
        return float(len(cs))

    merged = merge_cells(cells, fewer_is_cheaper)
    assert len(merged) == 1
    assert merged[0].area == pytest.approx(U_SHAPE.area)

    def area_spread(cs):  # penalises big cells: nothing should merge
        return sum(c.area**2 for c in cs)

    assert len(merge_cells(cells, area_spread)) == len(cells)
