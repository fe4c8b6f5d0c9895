"""build_mission: planner output -> mission items, fence and rally points."""

from __future__ import annotations

import pytest
from shapely.geometry import Point, Polygon, box

from gis.crs import LocalFrame
from gis.grids import Grid
from missions.build import build_mission, build_missions
from missions.errors import PlanningError
from missions.items import Command, Frame
from missions.planner import plan


@pytest.fixture(scope="module")
def planned(settings):
    frame = LocalFrame(119.95, 32.45)
    grid = Grid("B1", frame.to_wgs84(box(0, 0, 900, 600)))
    zone = frame.to_wgs84(Point(450, 800).buffer(100))
    return plan([grid], settings, no_fly=[zone], home=frame.inverse(450.0, 1100.0))


def test_takeoff_first_rtl_last_and_speed_set(planned) -> None:
    mission = build_mission(planned, 0)
    items = mission.items
    assert items[0].command == Command.NAV_TAKEOFF
    assert items[0].alt == pytest.approx(100.0)
    assert items[1].command == Command.DO_CHANGE_SPEED and items[1].params[1] == 10.0
    assert items[-1].command == Command.NAV_RETURN_TO_LAUNCH
    assert all(i.frame == Frame.GLOBAL_RELATIVE_ALT for i in items if i.command == 16)
    assert mission.home[:2] == pytest.approx((planned.home[1], planned.home[0]))


def test_camera_triggers_pair_on_and_off(planned, settings) -> None:
    items = build_mission(planned, 0).items
    triggers = [i.params[0] for i in items if i.command == Command.DO_SET_CAM_TRIGG_DIST]
    assert triggers, "no camera commands"
    assert triggers[::2] == [pytest.approx(settings.trigger_distance_m)] * len(triggers[::2])
    assert triggers[1::2] == [0.0] * len(triggers[1::2])
    assert len(triggers) % 2 == 0
    on = [i for i in items if i.command == Command.DO_SET_CAM_TRIGG_DIST and i.params[0] > 0]
    assert all(i.params[2] == 1.0 for i in on)  # first photo right at the strip start
    off = [i for i in items if i.command == Command.DO_SET_CAM_TRIGG_DIST and i.params[0] == 0]
    assert all(i.params[2] == 1.0 for i in off)  # and a closing one at its end
    flags = [w[3] for w in planned.sorties[0].waypoints]
    starts = sum(1 for k, f in enumerate(flags) if f and (k == 0 or not flags[k - 1]))
    assert len(on) == starts > 0


def test_fence_contains_the_route_and_excludes_the_no_fly_zone(planned) -> None:
    mission = build_mission(planned, 0)
    inclusion = [f for f in mission.fence_polygons if f.inclusion]
    exclusion = [f for f in mission.fence_polygons if not f.inclusion]
    assert len(inclusion) == 1 and len(exclusion) == 1
    fence = Polygon([(lon, lat) for lat, lon in inclusion[0].points])
    assert fence.is_valid
    for item in mission.items:
        if item.command in (Command.NAV_WAYPOINT, Command.NAV_TAKEOFF):
            assert fence.contains(Point(item.lon, item.lat))
    keep_out = Polygon([(lon, lat) for lat, lon in exclusion[0].points])
    assert keep_out.equals_exact(planned.no_fly[0], 1e-9) or keep_out.area > 0
    assert mission.rally_points[0][:2] == pytest.approx((planned.home[1], planned.home[0]))


def test_one_mission_per_sortie_and_bad_index_refused(planned) -> None:
    missions = build_missions(planned)
    assert len(missions) == len(planned.sorties)
    with pytest.raises(PlanningError, match="sortie 99"):
        build_mission(planned, 99)
