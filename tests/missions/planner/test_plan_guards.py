"""Plans that must be refused in one clear line, or planned sanely: mixed layers, corridors wider
than their line, bends tighter than the corridor, failing geometry, speeds and photo intervals."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import LineString, Polygon, box

from gis.crs import LocalFrame
from gis.grids import Grid
from missions.errors import PlanningError
from missions.planner import PlanSettings, plan
from missions.planner import _swath_generator as swath_generator
from missions.planner.corridor import CorridorBendError, corridor_swaths
from missions.planner.settings import MAX_SPEED_MPS, MIN_SPEED_MPS

FRAME = LocalFrame(120.14, 32.51)
#: A U-turn 100 m across and 300 m long, in WGS84.
U_TURN = FRAME.to_wgs84(LineString([(0, 0), (100, 0), (100, 100), (0, 100)]))


def _corridor(settings: PlanSettings, width_m: float) -> PlanSettings:
    return PlanSettings(camera=settings.camera, altitude_m=100, corridor_width_m=width_m)


def test_polygons_and_lines_are_planned_together(settings) -> None:
    field = Grid("g", FRAME.to_wgs84(Polygon([(0, 0), (300, 0), (300, 300), (0, 300)])))
    road = Grid("road", FRAME.to_wgs84(LineString([(500, 0), (1500, 200)])))
    result = plan([field, road], _corridor(settings, 50))
    by_id = {g.grid_id: g for g in result.grids}
    assert set(by_id) == {"g", "road"}
    assert not by_id["g"].corridor and by_id["road"].corridor
    assert all(g.coverage_once >= 0.995 for g in result.grids)


def test_a_corridors_polygon_is_made_once_and_is_the_grids_area(settings, monkeypatch) -> None:
    """The photo-count cap, the grid's area and its strips' cell share one buffer of the line."""
    import missions.planner
    import missions.planner.corridor as corridor

    made: list[Polygon] = []
    original = corridor.corridor_polygon

    def counted(line, *, width_m):
        made.append(original(line, width_m=width_m))
        return made[-1]

    monkeypatch.setattr(missions.planner, "corridor_polygon", counted)
    monkeypatch.setattr(corridor, "corridor_polygon", counted)
    road = Grid("road", FRAME.to_wgs84(LineString([(0, 0), (900, 0), (1500, 300)])))
    (grid,) = plan([road], _corridor(settings, 50)).grids
    assert grid.corridor and len(made) == 1
    assert grid.grid_area_m2 == pytest.approx(made[0].area)


@pytest.mark.parametrize("width", [300.0, 5000.0, 100_000.0])
def test_a_corridor_wider_than_its_line_is_long_is_refused(settings, width) -> None:
    with pytest.raises(PlanningError) as caught:
        plan([Grid("u", U_TURN)], _corridor(settings, width))
    text = str(caught.value)
    assert text.startswith(f"grid u: the corridor is {width:g} m wide")
    assert "its centre line is only 300.0 m long" in text


def test_strips_that_collapse_in_a_tight_bend_are_a_corridor_bend_error(settings) -> None:
    gen = swath_generator(settings)
    line = LineString([(0, 0), (100, 0), (100, 100), (0, 100)])
    with pytest.raises(CorridorBendError, match="bends too tightly for a 200 m corridor"):
        corridor_swaths(
            line,
            width_m=200.0,
            spacing_m=gen.spacing_m,
            footprint_across_m=gen.footprint_across_m,
            footprint_along_m=gen.footprint_along_m,
            trigger_distance_m=gen.trigger_distance_m,
            end_margin_m=gen.end_margin_m,
            objective=gen.objective,
        )


def test_a_corridor_bent_tighter_than_its_width_is_flown_as_an_area(settings) -> None:
    (grid,) = plan([Grid("u", U_TURN)], _corridor(settings, 200)).grids
    assert not grid.corridor  # the corridor polygon, planned like any grid
    assert grid.coverage_once >= 0.995
    assert grid.grid_area_m2 == pytest.approx(
        FRAME.to_local(U_TURN).buffer(100, cap_style="flat").area, rel=0.01
    )


def test_failing_geometry_is_a_planning_error_naming_the_grid(settings, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise shapely.errors.GEOSException("TopologyException: side location conflict")

    monkeypatch.setattr("missions.planner.corridor_swaths", broken)
    with pytest.raises(PlanningError, match="grid road: geometry failed while planning: Topo"):
        plan(
            [Grid("road", FRAME.to_wgs84(LineString([(0, 0), (900, 0)])))], _corridor(settings, 50)
        )


def test_failing_geometry_after_the_grids_names_them_all(settings, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise shapely.errors.GEOSException("IllegalArgumentException: bad")

    monkeypatch.setattr("missions.planner.build_path", broken)
    grids = [
        Grid("a", box(120.10, 32.50, 120.102, 32.502)),
        Grid("b", box(120.11, 32.5, 120.112, 32.502)),
    ]
    with pytest.raises(PlanningError, match="grids a, b: geometry failed while planning: Illegal"):
        plan(grids, settings)


def test_grids_on_both_sides_of_longitude_180_are_refused(settings) -> None:
    east = Grid("east", box(179.990, 50.0, 179.995, 50.005))
    west = Grid("west", box(-179.995, 50.0, -179.990, 50.005))
    with pytest.raises(PlanningError, match=r"across longitude 180° \(the antimeridian\)"):
        plan([east, west], settings)


@pytest.mark.parametrize("speed", [0.0, 0.5, 30.5, 1000.0, float("nan")])
def test_speed_outside_the_range_the_web_page_offers_is_refused(camera, speed) -> None:
    with pytest.raises(PlanningError, match="settings: speed must be between 1 and 30 m/s"):
        PlanSettings(camera=camera, altitude_m=100, speed_mps=speed)
    assert (MIN_SPEED_MPS, MAX_SPEED_MPS) == (1.0, 30.0)


def test_photos_faster_than_the_camera_can_take_them_are_refused(camera) -> None:
    # 100 m, front 90 %: a photo every 10 m, at 10 m/s one a second: just fits
    assert PlanSettings(camera=camera, altitude_m=100, front_overlap=0.9).speed_mps == 10.0
    with pytest.raises(PlanningError, match="needs 1 s between photos: fly at most 8 m/s"):
        PlanSettings(camera=camera, altitude_m=100, front_overlap=0.92)  # a photo every 8 m
    with pytest.raises(PlanningError, match="needs 2 s between photos: fly at most 5 m/s"):
        PlanSettings(camera=camera, altitude_m=100, front_overlap=0.9, min_photo_interval_s=2)
    slow = PlanSettings(camera=camera, altitude_m=100, front_overlap=0.92, speed_mps=8)
    assert slow.trigger_distance_m / slow.speed_mps == pytest.approx(1.0)
    with pytest.raises(PlanningError, match="even the slowest speed cannot give"):
        PlanSettings(camera=camera, altitude_m=100, front_overlap=0.999)  # every 0.1 m
    fast_camera = PlanSettings(
        camera=camera, altitude_m=100, front_overlap=0.95, min_photo_interval_s=0.5
    )
    assert fast_camera.trigger_distance_m == pytest.approx(5.0)


def test_an_interval_just_below_the_cameras_is_not_rounded_up_to_it(camera) -> None:
    # a photo every 10 m at 10.02 m/s: every 0.998 s, never shown as "1 s" beside a 1 s minimum
    with pytest.raises(PlanningError, match=r"is one every 0\.998 s, but the camera needs 1 s"):
        PlanSettings(camera=camera, altitude_m=100, front_overlap=0.9, speed_mps=10.02)
