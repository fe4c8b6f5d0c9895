"""`fly` and the vehicle's own failsafes, from the SITL QA report: a failsafe during the takeoff
climb is named and watched down, fly's heartbeat keeps a sped-up vehicle's GCS failsafe quiet,
a mode change fly did not make is said at once, a landing after the GPS was lost gives only
the last known position, and fly run again takes over a vehicle already flying its plan."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from groundstation.cli import cli
from missions.formats import save_mission
from missions.items import Command, FencePolygon, Frame, MissionItem, MissionPlan
from missions.link import FlightAborted, connect, fly
from missions.link.errors import VehicleArmed
from tests.link.conftest import HOME
from tests.link.test_sitl import LOOPBACK, lawnmower, offset

pytestmark = pytest.mark.slow

PARAMS = {"RTL_LOIT_TIME": 0}


def _sitl(speedup: float = 20.0, **params):
    from simulator import Sitl

    return Sitl(home=HOME, speedup=speedup, params={**PARAMS, **params})


def _document(log_dir) -> dict:
    return json.loads((log_dir / "flight.json").read_text())


def _wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.05)


def _small_fenced(*, half_m: float, altitude: float = 40.0) -> MissionPlan:
    """Four waypoints 20 m around home inside a square fence ``2 * half_m`` wide."""
    items = [
        MissionItem(Command.NAV_TAKEOFF, alt=altitude),
        *(MissionItem(Command.NAV_WAYPOINT, lat=lat, lon=lon, alt=altitude)
          for lat, lon in (offset(20, 0), offset(20, 20), offset(0, 20), offset(0, 0))),
        MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION),
    ]  # fmt: skip
    corners = tuple(offset(n, e) for n, e in ((-half_m, -half_m), (half_m, -half_m),
                                              (half_m, half_m), (-half_m, half_m)))  # fmt: skip
    return MissionPlan(items=tuple(items), home=HOME, fence_polygons=(FencePolygon(corners, True),))


def test_a_low_battery_failsafe_during_the_climb_is_named_and_watched_down(tmp_path) -> None:
    """QA: a failsafe RTL during the takeoff climb left fly waiting for altitude for 60 s, then
    exiting 1 with "takeoff ... not done", the vehicle in the air and no failsafe in flight.json."""
    plan = lawnmower(12, altitude=60.0)
    heard: list[str] = []
    with _sitl() as sitl, connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as v:

        def low_battery_on_the_way_up(snapshot) -> None:
            p = snapshot.position
            if snapshot.mode == "GUIDED" and p is not None and p.relative_alt_m > 2.0:
                sitl.params.set("BATT_LOW_VOLT", 20.0)  # "Battery 1 is low" after BATT_LOW_TIMER

        with pytest.raises(FlightAborted) as caught:
            fly(v, plan, log_dir=tmp_path / "log", on_status=low_battery_on_the_way_up,
                on_warning=lambda m: heard.append(str(m)))  # fmt: skip
        snapshot = sitl.snapshot()
    message = str(caught.value)
    assert message.startswith(
        "takeoff to 60.0 m cut short by a mode change fly did not command: flight ended by "
        "failsafe: vehicle switched to RTL (Battery 1 is low"
    ), message
    assert "returned early: " in message and "0/8 waypoints" in message
    assert not snapshot.armed and snapshot.landed  # watched down to the ground
    assert heard[0].startswith("vehicle switched to RTL (Battery 1 is low")
    document = _document(tmp_path / "log")
    failsafes = [e["text"] for e in document["events"] if e["kind"] == "failsafe"]
    assert failsafes[0].startswith("vehicle switched to RTL (Battery 1 is low")
    assert any(e["kind"] == "statustext" and e["text"].startswith("Battery 1 is low")
               for e in document["events"])  # fmt: skip
    summary = document["summary"]
    assert summary["landed"] is True and summary["outcome"] == "returned_early"
    assert summary["reason"] == message


def test_a_fence_breach_blown_there_during_the_climb_is_named_and_said_at_once(tmp_path) -> None:
    """QA's repro: a wind stronger than the airframe pushes the climbing vehicle through the
    fence: the breach's RTL is said as it happens and ends the flight, not a takeoff timeout."""
    plan = _small_fenced(half_m=30.0)
    heard: list[str] = []
    with (
        _sitl(SIM_WIND_SPD=25, SIM_WIND_DIR=90) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
        pytest.raises(FlightAborted) as caught,
    ):
        fly(vehicle, plan, log_dir=tmp_path / "log", on_warning=lambda m: heard.append(str(m)))
    message = str(caught.value)
    assert message.startswith("takeoff to 40.0 m cut short by a mode change fly did not command: ")
    assert "vehicle switched to RTL (Fence Breached" in message
    assert "not done after" not in message
    assert heard and heard[0].startswith("vehicle switched to RTL (Fence Breached")
    kinds = [e["kind"] for e in _document(tmp_path / "log")["events"]]
    assert "failsafe" in kinds


def _count_heartbeats(vehicle) -> list[float]:
    """The times (ours) of the GCS heartbeats the vehicle's link sends from now on."""
    sent: list[float] = []
    send = vehicle.link.send

    def counting(message) -> None:
        if message.get_type() == "HEARTBEAT":
            sent.append(time.monotonic())
        send(message)

    vehicle.link.send = counting
    return sent


def test_a_sped_up_vehicles_gcs_failsafe_hears_fly_all_flight(tmp_path) -> None:
    """QA: at --speedup 10, fly's 1 Hz (our clock) heartbeat was 10 s apart on the vehicle's,
    whose FS_GCS_TIMEOUT is 5 s: the GCS failsafe cut every flight. fly now sends one a second
    of the vehicle's clock (a real vehicle's runs at ours: still 1 Hz)."""
    plan = lawnmower(12, altitude=20.0)
    with (
        _sitl(speedup=20, FS_GCS_ENABLE=1, FS_GCS_TIMEOUT=5) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        result = fly(vehicle, plan, log_dir=tmp_path / "log")
    assert result.landed and result.all_reached and not result.failsafes, result.summary()
    texts = [e["text"] for e in _document(tmp_path / "log")["events"]]
    assert not any("GCS Failsafe" in t for t in texts)


def test_a_vehicle_at_our_pace_gets_one_heartbeat_a_second() -> None:
    with _sitl(speedup=1) as sitl, connect(sitl.connection_string, timeout=30) as vehicle:
        sent = _count_heartbeats(vehicle)
        vehicle.pump(4.5)
    assert 4 <= len(sent) <= 5, sent


def test_a_landing_after_the_gps_was_lost_gives_only_the_last_known_position(tmp_path) -> None:
    """QA: GPS lost mid-survey in a wind, the EKF failsafe's LAND drifted 430 m on, and fly
    gave the frozen last fix as where it landed, as if known."""
    plan = lawnmower(24, altitude=30.0)
    with (
        _sitl(speedup=50, SIM_WIND_SPD=8, SIM_WIND_DIR=270) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
        pytest.raises(FlightAborted) as caught,
    ):

        def lose_gps(snapshot) -> None:
            if len(snapshot.mission.reached) >= 4:
                sitl.params.set("SIM_GPS_DISABLE", 1)

        fly(vehicle, plan, log_dir=tmp_path / "log", on_status=lose_gps)
    message = str(caught.value)
    assert "vehicle switched to LAND (EKF variance)" in message
    assert "landed, position unknown (GPS lost before landing): last known position " in message
    landing = _document(tmp_path / "log")["summary"]["landing"]
    assert landing["position_known"] is False and landing["away"] is True


def test_fly_run_again_takes_over_a_vehicle_flying_its_plan(tmp_path) -> None:
    """QA: after fly was killed mid-survey, running it again refused ("the vehicle is armed:
    ... land it first"). Now it compares the mission on board with the plan and watches the
    flight to its end; a different plan is still refused, with nothing changed on board."""
    plan = lawnmower(16, altitude=20.0)
    plan_path = save_mission(tmp_path / "survey.plan", plan)
    other = lawnmower(14, altitude=20.0)
    with _sitl(speedup=5) as sitl:
        command = [sys.executable, "-m", "groundstation.cli", "fly", str(plan_path),
                   "--connect", sitl.connection_string, "--timeout", "60"]  # fmt: skip
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _wait_until(lambda: sitl.autopilot.current_seq >= 5, timeout=120.0, what="flying")
        finally:
            first.kill()  # kill -9: no RTL, no goodbye
            first.communicate()
        assert sitl.snapshot().mode == "AUTO" and sitl.snapshot().armed
        with (
            connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
            pytest.raises(VehicleArmed, match="is armed and flies another mission"),
        ):
            fly(vehicle, other)
        assert sitl.snapshot().mode == "AUTO"  # left alone
        log = tmp_path / "log"
        again = CliRunner().invoke(
            cli, ["fly", str(plan_path), "--connect", sitl.connection_string, "--log", str(log)]
        )
        snapshot = sitl.snapshot()
    assert again.exit_code == 0, again.output
    assert "survey.plan: the vehicle is already flying this plan (AUTO armed" in again.stderr
    assert "survey.plan: landed: " in again.stdout and "12/12 waypoints" in again.stdout
    assert not snapshot.armed and snapshot.landed
    document = _document(tmp_path / "log")
    assert document["summary"]["outcome"] == "complete"
    assert [e["kind"] for e in document["events"]].count("taken_over") == 1
