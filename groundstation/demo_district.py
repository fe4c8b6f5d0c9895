"""The embedded demo district near Jiangyan, Taizhou: a few grids of realistic shapes.

Shapes are drawn in local metres (x east, y north) around the district centre and converted to
WGS84 through :class:`gis.crs.LocalFrame`, so they stay true to size wherever the centre lies.
"""

from __future__ import annotations

from shapely.geometry import LineString, Polygon

from gis.crs import LocalFrame
from gis.grids import Grid

__all__ = ["DISTRICT_CENTRE", "district_grids", "district_water"]

#: (lon, lat) of the district centre: farmland west of Jiangyan town, Taizhou, Jiangsu.
DISTRICT_CENTRE: tuple[float, float] = (120.140, 32.510)


def _village() -> Polygon:
    """A village block with a fish pond cut out of it (the pond is another owner's grid)."""
    shell = [(-95, -35), (-10, -40), (-5, 30), (-40, 42), (-92, 35)]
    pond = [(-62, -8), (-40, -12), (-36, 6), (-58, 10)]
    return Polygon(shell, [pond])


def _fields_west() -> Polygon:
    """Paddy fields south of the village: a skewed quadrilateral along the field roads."""
    return Polygon([(-95, -45), (-10, -50), (-5, -120), (-100, -110)])


def _fields_east() -> Polygon:
    """An L-shaped block of fields east of the village lane."""
    return Polygon([(5, -40), (110, -45), (115, -120), (60, -118), (55, -80), (3, -78)])


_RIVER_LINE = LineString([(-110, 75), (-50, 62), (10, 70), (70, 88), (120, 84)])


def _river() -> Polygon:
    """A river corridor: a gently curving 30 m wide band north of the village."""
    return _RIVER_LINE.buffer(15.0, cap_style="flat", join_style="round")


def _channel() -> Polygon:
    """The river's open water: 22 m wide inside the corridor, leaving 4 m banks."""
    return _RIVER_LINE.buffer(11.0, cap_style="flat", join_style="round")


_QUICK = ("JY-01", "JY-02")
#: Each grid's name (as a Chinese district names it; shown on every page and language) and its
#: kind (village, fields, river) as a property of its own.
_SHAPES = {
    "JY-01": ("前进村村庄", "village", _village),
    "JY-02": ("前进村西片农田", "fields", _fields_west),
    "JY-03": ("前进村东片农田", "fields", _fields_east),
    "JY-04": ("新通扬运河河道", "river", _river),
}


def district_grids(*, quick: bool = False) -> list[Grid]:
    """The district's grids in WGS84; ``quick`` keeps the village and its west fields only."""
    frame = LocalFrame(*DISTRICT_CENTRE)
    codes = _QUICK if quick else tuple(_SHAPES)
    grids = []
    for code in codes:
        name, kind, shape = _SHAPES[code]
        grids.append(
            Grid(code, frame.to_wgs84(shape()), {"grid_id": code, "name": name, "kind": kind})
        )
    return grids


def district_water(*, quick: bool = False) -> list[Polygon]:
    """Open water the world must show inside the district's grids (WGS84): the river channel
    of the corridor grid, when the grid is part of the run."""
    if quick:
        return []
    return [LocalFrame(*DISTRICT_CENTRE).to_wgs84(_channel())]
