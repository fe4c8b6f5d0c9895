"""Worlds draw given water, and fishing gear goes on it rather than into dug ponds elsewhere."""

from __future__ import annotations

from shapely.geometry import LineString, Point, box

from gis.crs import LocalFrame
from gis.grids import Grid
from vision.synth import build_world

CENTRE = (120.14, 32.51)


def test_fishing_goes_on_the_river_grid_water(tmp_path) -> None:
    frame = LocalFrame(*CENTRE)
    line = LineString([(-60, 20), (60, 28)])
    river = Grid("R", frame.to_wgs84(line.buffer(12.0, cap_style="flat")), {})
    field = Grid("F", frame.to_wgs84(box(-60, -40, 60, -5)), {})
    channel = frame.to_wgs84(line.buffer(9.0, cap_style="flat"))
    world = build_world(
        tmp_path / "w.tif",
        centre=CENTRE,
        size_m=(140, 100),
        gsd_m=0.05,
        grids=[field, river],
        violations={"illegal_fishing": 2, "straw_burning": 1},
        seed=3,
        water=[channel],
    )
    fishing = [v for v in world.violations if v.label == "illegal_fishing"]
    assert len(fishing) == 2
    # the field grid only gets gear if the generated land happens to put water in it too
    on_river = [v for v in fishing if v.grid_id == "R"]
    assert on_river
    for v in on_river:
        assert channel.buffer(2e-5).contains(Point(v.lon, v.lat))
    (fire,) = [v for v in world.violations if v.label == "straw_burning"]
    assert not channel.contains(Point(fire.lon, fire.lat))
