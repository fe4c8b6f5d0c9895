"""The "RTL getting no closer" warning measures progress to where ArduPilot's RTL goes: the nearest
of home and the mission's rally points. An RTL heading to a rally point away from home is no stall
(it comes closer to the rally point while its distance to home does not shrink), and a stalled one
names the rally point it cannot reach."""

from __future__ import annotations

import math

import pytest

from missions.items import MissionPlan
from missions.link.flight import rally_positions
from missions.link.safety import RETURN_STALL_S, FlightWarnings, ReturnWatch
from missions.link.telemetry import LandedState, MissionProgress, Position, Telemetry

HOME = (32.0, 120.0)
M_PER_DEG_LAT = math.radians(1) * 6_371_008.8


def rtl_at(north_m: float, east_m: float, *, mode: str = "RTL", speed: float = 5.0) -> Telemetry:
    """The vehicle flying in ``mode`` at ``north_m``/``east_m`` metres from HOME."""
    lat = HOME[0] + north_m / M_PER_DEG_LAT
    lon = HOME[1] + east_m / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0])))
    return Telemetry(
        time_s=0.0, mode=mode, armed=True,
        position=Position(lat, lon, 60.0, 40.0, 90.0, speed, 0.0),
        attitude=None, battery=None, gps=None, ekf_ok=True, landed_state=LandedState.IN_AIR,
        home=(*HOME, 20.0), mission=MissionProgress(current=3, total=10, reached=(1, 2)), photos=0,
    )  # fmt: skip


def fly_circle_round(watch: ReturnWatch, centre_east_m: float, radius_m: float) -> list[str]:
    """Feed ``watch`` an RTL circling at ``radius_m`` around a point ``centre_east_m`` east of
    home for 2 * RETURN_STALL_S (one snapshot a second): no closer to that point all along."""
    said = []
    for t in range(int(2 * RETURN_STALL_S) + 1):
        angle = t / 10.0
        north, east = radius_m * math.sin(angle), centre_east_m + radius_m * math.cos(angle)
        said += [str(n.text) for n in watch.update(rtl_at(north, east), float(t))]
    return said


def test_an_rtl_heading_for_a_rally_point_away_from_home_is_no_stall() -> None:
    """RTL 700 m east of home, nearer a rally point 900 m east, which it makes for: ever
    farther from home, ever closer to the rally point."""
    rally = ((HOME[0], HOME[1] + 900 / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0])))),)
    with_rally, home_only = ReturnWatch(rally), ReturnWatch()
    heard_with, heard_without = [], []
    for t in range(int(2 * RETURN_STALL_S) + 1):
        snapshot = rtl_at(0.0, 700.0 + 3.0 * t)
        heard_with += with_rally.update(snapshot, float(t))
        heard_without += home_only.update(snapshot, float(t))
    assert heard_with == []
    # measured to home only, the same RTL is taken for one that cannot make headway
    assert [n.kind for n in heard_without] == ["return_stalled"]


def test_a_stalled_rtl_is_measured_to_the_nearest_rally_point_and_names_it() -> None:
    east = 2000 / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0])))
    watch = ReturnWatch([(HOME[0], HOME[1] + east)])
    said = fly_circle_round(watch, centre_east_m=2000.0, radius_m=100.0)
    assert len(said) == 1
    assert said[0].startswith(
        "returning to launch but getting no closer: 100 m from the nearest rally point, no "
        "closer for 30 s"
    )


def test_without_rally_points_the_warning_still_speaks_of_home() -> None:
    said = fly_circle_round(ReturnWatch(), centre_east_m=0.0, radius_m=150.0)
    assert len(said) == 1
    assert said[0].startswith("returning to launch but getting no closer: 150 m from home")


def test_at_a_rally_point_the_vehicle_is_there_not_stalled() -> None:
    east = 800 / (M_PER_DEG_LAT * math.cos(math.radians(HOME[0])))
    watch = FlightWarnings(rally=[(HOME[0], HOME[1] + east)])
    heard = []
    for t in range(int(2 * RETURN_STALL_S) + 1):  # hovering (descending) over the rally point
        heard += watch.update(rtl_at(3.0, 800.0, speed=0.0), float(t))
    assert heard == []


def test_rally_points_come_from_the_plan_and_bad_ones_are_refused() -> None:
    plan = MissionPlan(items=(), home=(*HOME, 20.0), rally_points=((32.01, 120.02, 30.0),))
    assert rally_positions(plan) == ((32.01, 120.02),)
    with pytest.raises(ValueError, match=r"rally point nan, 120\.0 is not a position"):
        ReturnWatch([(math.nan, 120.0)])
    with pytest.raises(ValueError, match=r"rally point 95\.0, 120\.0 is not a position"):
        ReturnWatch([(95.0, 120.0)])
