"""A force-disarm in the air never reads as a landing: the tracker keeps the heights around the
disarm by the vehicle's own clock, and `fly` (function and command) fails a flight whose vehicle
was force-disarmed mid-mission on our simulator at the demo's speed-up, while a normal flight at
that speed-up still ends complete."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mav

from groundstation.cli import cli
from missions.formats import save_mission
from missions.items import MissionPlan
from missions.link import FlightAborted, connect, fly
from missions.link.flight import landing_sequences
from missions.link.landing import reached_items
from missions.link.telemetry import HeightFix, TelemetryTracker
from tests.link.conftest import HOME
from tests.link.test_sitl import LOOPBACK, lawnmower

AUTO = 3
FORCE = 21196  # MAV_CMD_COMPONENT_ARM_DISARM param2: disarm even in flight
SPEEDUP = 100  # the demo's
GRAVITY = 9.80665


def survey() -> MissionPlan:
    """Twenty waypoints at 30 m: long enough in AUTO for the force-disarm to catch it at 100x."""
    return lawnmower(24, altitude=30.0)


def wire(message: Any) -> Any:
    buf = message.pack(mav.MAVLink(None, srcSystem=1, srcComponent=1))
    return mav.MAVLink(None).decode(bytearray(buf))


def heartbeat(*, armed: bool, mode: int = AUTO) -> Any:
    return mav.MAVLink_heartbeat_message(2, 3, 1 | (128 if armed else 0), mode, 4, 3)


def position(boot_s: float, height_m: float) -> Any:
    lat, lon, alt = HOME
    return mav.MAVLink_global_position_int_message(
        round(boot_s * 1000), round(lat * 1e7), round(lon * 1e7),
        round((alt + height_m) * 1000), round(height_m * 1000), 0, 0, 0, 0,
    )  # fmt: skip


def feed(tracker: TelemetryTracker, *messages: Any) -> None:
    for message in messages:
        tracker.on_message(wire(message))


# -- the tracker's bookkeeping ------------------------------------------------------------------


def test_the_tracker_keeps_the_last_height_before_the_disarm_and_the_first_after() -> None:
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, heartbeat(armed=True), position(100.0, 40.0), position(101.0, 41.0))
    assert tracker.snapshot().disarm is None  # armed: no disarm yet
    feed(tracker, heartbeat(armed=False), position(101.02, 41.0), position(102.0, 36.0))
    disarm = tracker.snapshot().disarm
    assert disarm is not None
    assert disarm.before == HeightFix(41.0, 101.0)
    assert disarm.after == HeightFix(41.0, 101.02)  # the first, not the latest
    feed(tracker, heartbeat(armed=True))
    assert tracker.snapshot().disarm is None  # a new flight forgets the old disarm


def test_a_position_reordered_behind_the_disarm_heartbeat_is_no_news_of_the_disarm() -> None:
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, heartbeat(armed=True), position(100.0, 2.0), position(101.0, 0.1))
    feed(tracker, heartbeat(armed=False), position(100.5, 1.0), position(101.1, 0.0))
    assert tracker.snapshot().disarm.after == HeightFix(0.0, 101.1)


def test_a_disarm_in_auto_credits_the_item_it_flew_to_only_for_a_landing() -> None:
    plan = lawnmower(14, altitude=30.0)  # takeoff, cam, waypoints 3-12, cam off, RTL (14)
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, heartbeat(armed=True))
    for seq in (1, 3, 4, 5):
        feed(tracker, mav.MAVLink_mission_current_message(seq, 15))
    feed(tracker, heartbeat(armed=False))  # force-disarmed on the way to item 5
    progress = tracker.snapshot().mission
    assert 5 not in reached_items(progress, landing_items=())  # not landed: no landing items
    assert 5 in reached_items(progress, landing_items=landing_sequences(plan))


# -- end to end on our simulator at the demo's speed-up --------------------------------------


def mid_mission(snapshot: Any) -> bool:
    """Flying the survey in AUTO, well above the ground, past its first waypoints."""
    return (
        snapshot.armed and snapshot.mode == "AUTO" and snapshot.relative_alt > 20.0
        and snapshot.current_seq >= 5
    )  # fmt: skip


@contextmanager
def force_disarm_when(sitl: Any, when: Callable[[Any], bool]) -> Iterator[dict[str, Any]]:
    """Force-disarm the simulated vehicle over MAVLink, as a second ground station, as soon as
    its own state satisfies ``when``; yields what happened (``at``: the simulator's snapshot
    then, ``ack``: the COMMAND_ACK result)."""
    conn = mavutil.mavlink_connection(
        sitl.connection_string, source_system=254, source_component=191
    )
    assert conn.wait_heartbeat(timeout=10) is not None
    done: dict[str, Any] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            snapshot = sitl.snapshot()
            if when(snapshot):
                conn.mav.command_long_send(
                    conn.target_system, conn.target_component,
                    mav.MAV_CMD_COMPONENT_ARM_DISARM, 0, 0, FORCE, 0, 0, 0, 0, 0,
                )  # fmt: skip
                ack = conn.recv_match(type="COMMAND_ACK", blocking=True, timeout=5)
                done.update(at=snapshot, ack=None if ack is None else ack.result)
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, name="force-disarm", daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(timeout=10)
        conn.close()


def wait_on_the_ground(sitl: Any, *, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = sitl.snapshot()
        if snapshot.landed:
            return snapshot
        time.sleep(0.01)
    raise AssertionError(f"the vehicle is not on the ground after {timeout} s")


def test_a_forced_disarm_mid_mission_fails_the_flight_as_disarmed_in_the_air(tmp_path) -> None:
    from simulator import Sitl

    plan = survey()
    with (
        Sitl(home=HOME, speedup=SPEEDUP, params={"RTL_LOIT_TIME": 0}) as sitl,
        force_disarm_when(sitl, mid_mission) as disarm,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        with pytest.raises(FlightAborted) as caught:
            fly(vehicle, plan, log_dir=tmp_path / "log", preflight_timeout_s=60)
        fallen = wait_on_the_ground(sitl)
    assert disarm["ack"] == mav.MAV_RESULT_ACCEPTED
    at = disarm["at"]
    assert str(caught.value).startswith("flight: vehicle disarmed in the air (")
    result = caught.value.result
    assert result is not None and result.outcome == "failed" and not result.landed
    assert result.summary().startswith("NOT landed: ")
    assert at.current_seq not in result.reached  # the waypoint it fell short of
    summary = json.loads((tmp_path / "log" / "flight.json").read_text())["summary"]
    assert summary["landed"] is False and summary["all_reached"] is False
    # it fell: disarmed all the way down, which took vehicle time
    assert not fallen.armed and fallen.relative_alt < 0.1
    assert fallen.time_s - at.time_s > math.sqrt(2 * at.relative_alt / GRAVITY)


def test_a_normal_flight_at_the_demos_speed_up_still_ends_complete(tmp_path) -> None:
    from simulator import Sitl

    with (
        Sitl(home=HOME, speedup=SPEEDUP, params={"RTL_LOIT_TIME": 0}) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        result = fly(vehicle, survey(), preflight_timeout_s=60)
    assert result.landed and result.outcome == "complete", result.summary()


def test_gridpatrol_fly_says_disarmed_in_the_air_and_exits_1(tmp_path) -> None:
    from simulator import Sitl

    path = save_mission(tmp_path / "survey.plan", survey())
    with (
        Sitl(home=HOME, speedup=SPEEDUP, params={"RTL_LOIT_TIME": 0}) as sitl,
        force_disarm_when(sitl, mid_mission) as disarm,
    ):
        result = CliRunner().invoke(
            cli, ["fly", str(path), "--connect", sitl.connection_string, "--log",
                  str(tmp_path / "log")],
        )  # fmt: skip
    assert disarm["ack"] == mav.MAV_RESULT_ACCEPTED
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: flight: vehicle disarmed in the air ("), last
    assert ": landed: " not in result.stdout  # no landing summary
