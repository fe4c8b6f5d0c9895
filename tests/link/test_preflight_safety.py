"""Pre-flight safety: the vehicle must stand at the plan's home, and a plan's geofence must be
uploaded, verified and enabled on the vehicle (FENCE_ENABLE=1, read back) with no circle or
altitude fence of the vehicle's cutting the mission; our simulator enforces an enabled fence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from missions.items import Command, FencePolygon, MissionItem, MissionPlan
from missions.link import FlightAborted, PreflightError, connect, fly
from missions.link.flight import FenceStatus, estimate_mission, preflight_checks, prepare_fence
from tests.link.conftest import HOME
from tests.link.test_sitl import LOOPBACK, lawnmower, offset
from tests.link.test_telemetry import fed_tracker, small_plan

ENABLED = FenceStatus(enabled=True, fence_type=7, radius_m=1500.0, alt_max_m=120.0)


def checks_of(snapshot, plan, **kwargs) -> dict[str, tuple[bool, str]]:
    checks = preflight_checks(snapshot, plan, verified=True, endurance_s=1200, reserve_pct=20,
                              **kwargs)  # fmt: skip
    return {c.name: (c.ok, str(c.detail)) for c in checks}


def fenced(plan: MissionPlan) -> MissionPlan:
    corners = ((30.27, 120.15), (30.28, 120.15), (30.28, 120.16), (30.27, 120.16))
    return replace(plan, fence_polygons=(FencePolygon(corners, True),))


def test_a_vehicle_far_from_the_plans_home_fails_the_checks() -> None:
    snapshot = fed_tracker().snapshot()
    far = replace(snapshot, home=(30.2741 + 4900 / 111_195, 120.1551, 12.0))
    assert checks_of(far, small_plan())["home at plan"] == (
        False, "4900 m from the plan's home, at most 50 m: take off where the plan was made, "
               "or plan again from here",
    )  # fmt: skip
    assert checks_of(snapshot, small_plan())["home at plan"] == (
        True, "15 m from the plan's home (at most 50 m)",  # advice only when it fails
    )  # fmt: skip


def test_passed_checks_carry_no_advice() -> None:
    """The QA report: a passed "home at plan" told the pilot to take off elsewhere or plan
    again. No passed check may tell the pilot to do anything (advice follows a colon)."""
    snapshot = fed_tracker().snapshot()
    fence = FenceStatus(enabled=True, fence_type=7, radius_m=5000.0, alt_max_m=500.0)
    for plan in (small_plan(), fenced(small_plan())):
        checks = preflight_checks(snapshot, plan, verified=True, endurance_s=1200,
                                  reserve_pct=20, fence=fence)  # fmt: skip
        passed = [c for c in checks if c.ok]
        assert len(passed) == len(checks), [(c.name, str(c.detail)) for c in checks]
        for check in passed:
            assert ":" not in str(check.detail), (check.name, str(check.detail))


def test_a_plan_without_home_says_so_and_its_battery_estimate_stays_sane() -> None:
    snapshot = fed_tracker().snapshot()
    homeless = replace(small_plan(), home=(0.0, 0.0, 0.0))  # Mission Planner without GPS
    checks = checks_of(snapshot, homeless)
    assert checks["home at plan"] == (
        False, "the plan has no home position (0, 0): set its home where the vehicle takes off",
    )  # fmt: skip
    assert estimate_mission(homeless).distance_m < estimate_mission(small_plan()).distance_m + 1


def test_a_plans_fence_must_be_enabled_on_the_vehicle() -> None:
    snapshot, plan = fed_tracker().snapshot(), fenced(small_plan())
    assert checks_of(snapshot, plan, fence=ENABLED)["geofence"] == (
        True, "uploaded, verified and enabled",
    )  # fmt: skip
    refused = checks_of(snapshot, plan, fence=FenceStatus(enabled=False))["geofence"]
    assert refused == (
        False, "uploaded and verified, but the vehicle did not enable it (FENCE_ENABLE is 0)",
    )  # fmt: skip
    assert checks_of(snapshot, plan)["geofence"][0] is False  # never read back
    circle = checks_of(snapshot, plan, fence=replace(ENABLED, radius_m=50.0))["geofence"]
    assert circle == (False, "the vehicle's circular fence (FENCE_RADIUS 50 m) cuts the mission: "
                             "a waypoint is 132 m from home")  # fmt: skip
    low = checks_of(snapshot, plan, fence=replace(ENABLED, alt_max_m=25.0))["geofence"]
    assert low == (False, "the vehicle's altitude fence (FENCE_ALT_MAX 25 m) is below the "
                          "mission's 30 m")  # fmt: skip
    no_fence = checks_of(snapshot, small_plan(), require_fence=True, fence=ENABLED)["geofence"]
    assert no_fence == (False, "the plan has no geofence")


class _Refusing:
    """A vehicle that keeps FENCE_ENABLE at 0 whatever it is told."""

    def __init__(self) -> None:
        self.sets: list[tuple[str, float]] = []

    def set_param(self, name: str, value: float) -> float:
        self.sets.append((name, value))
        return 0.0

    def get_param(self, name: str) -> float:
        return {"FENCE_TYPE": 4.0, "FENCE_RADIUS": 300.0, "FENCE_ALT_MAX": 100.0}.get(name, 0.0)


def test_prepare_fence_enables_a_plans_fence_and_reports_a_refusal() -> None:
    vehicle = _Refusing()
    status = prepare_fence(vehicle, fenced(small_plan()))
    assert vehicle.sets == [("FENCE_ENABLE", 1)]
    assert status == FenceStatus(enabled=False, fence_type=4, radius_m=300.0, alt_max_m=100.0)
    # a plan without a fence changes nothing, but the vehicle's own fence is read all the same
    vehicle = _Refusing()
    status = prepare_fence(vehicle, small_plan())
    assert vehicle.sets == []
    assert status == FenceStatus(enabled=False, fence_type=4, radius_m=300.0, alt_max_m=100.0)


def test_the_vehicles_own_fence_can_fail_a_plan_without_one() -> None:
    """A fence the pilot enabled on the vehicle triggers its failsafe whether or not the plan
    has a fence: the check names it before arming, and an unused one does not matter."""
    snapshot, plan = fed_tracker().snapshot(), small_plan()
    circle = checks_of(snapshot, plan, fence=replace(ENABLED, radius_m=50.0))["geofence"]
    assert circle == (False, "the vehicle's circular fence (FENCE_RADIUS 50 m) cuts the mission: "
                             "a waypoint is 132 m from home")  # fmt: skip
    low = checks_of(snapshot, plan, fence=replace(ENABLED, alt_max_m=25.0))["geofence"]
    assert low == (False, "the vehicle's altitude fence (FENCE_ALT_MAX 25 m) is below the "
                          "mission's 30 m")  # fmt: skip
    off = FenceStatus(enabled=False, fence_type=7, radius_m=50.0, alt_max_m=25.0)
    for fence in (off, ENABLED, FenceStatus(enabled=None), None):
        assert checks_of(snapshot, plan, fence=fence)["geofence"] == (
            True, "the plan has no geofence",
        )  # fmt: skip


def test_fly_refuses_a_plan_without_fence_that_the_vehicles_circle_cuts() -> None:
    from simulator import Sitl

    items = (
        MissionItem(Command.NAV_TAKEOFF, alt=20.0),
        MissionItem(Command.NAV_WAYPOINT, lat=offset(200, 0)[0], lon=offset(200, 0)[1], alt=20.0),
        MissionItem(Command.NAV_RETURN_TO_LAUNCH),
    )
    plan = MissionPlan(items=items, home=HOME, cruise_speed_mps=10.0)
    params = {"FENCE_ENABLE": 1, "FENCE_TYPE": 3, "FENCE_RADIUS": 100}
    with Sitl(home=HOME, speedup=20, params=params) as sitl, connect(
        sitl.connection_string, timeout=10, settings=LOOPBACK
    ) as vehicle:  # fmt: skip
        with pytest.raises(PreflightError, match=r"geofence \(the vehicle's circular fence "
                                                 r"\(FENCE_RADIUS 100 m\)"):  # fmt: skip
            fly(vehicle, plan, preflight_timeout_s=1.0)
        assert not sitl.snapshot().armed


def test_fly_refuses_a_vehicle_4_9_km_from_the_plans_home() -> None:
    from simulator import Sitl

    away = (HOME[0] + 4850 / 111_320, HOME[1], HOME[2])
    with Sitl(home=away, speedup=20) as sitl, connect(sitl.connection_string, timeout=10,
                                                       settings=LOOPBACK) as vehicle:  # fmt: skip
        with pytest.raises(PreflightError, match=r"home at plan \(48\d\d m from the plan's home"):
            fly(vehicle, lawnmower(8), preflight_timeout_s=1.0)
        assert not sitl.snapshot().armed


def test_our_simulator_flies_the_fence_enabled_and_its_breach_ends_the_flight(tmp_path) -> None:
    """fly() enables the plan's fence; a waypoint outside it triggers the fence failsafe (RTL)."""
    from simulator import Sitl

    items = (
        MissionItem(Command.NAV_TAKEOFF, alt=20.0),
        MissionItem(Command.NAV_WAYPOINT, lat=offset(40, 0)[0], lon=offset(40, 0)[1], alt=20.0),
        MissionItem(Command.NAV_WAYPOINT, lat=offset(200, 0)[0], lon=offset(200, 0)[1], alt=20.0),
        MissionItem(Command.NAV_RETURN_TO_LAUNCH),
    )
    corners = (offset(-60, -60), offset(100, -60), offset(100, 60), offset(-60, 60))
    plan = MissionPlan(items=items, home=HOME, fence_polygons=(FencePolygon(corners, True),),
                       cruise_speed_mps=10.0)  # fmt: skip
    with Sitl(home=HOME, speedup=20, params={"RTL_LOIT_TIME": 0}) as sitl:
        assert sitl.params["FENCE_ENABLE"] == 0
        with (
            connect(sitl.connection_string, timeout=10, settings=LOOPBACK) as vehicle,
            pytest.raises(FlightAborted, match="Fence Breached") as aborted,
        ):
            fly(vehicle, plan, log_dir=tmp_path)
        assert sitl.params["FENCE_ENABLE"] == 1
    assert aborted.value.result.landed
    assert 3 not in aborted.value.result.reached  # the waypoint beyond the fence was not flown
