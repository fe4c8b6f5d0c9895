"""A vehicle disarmed in the air falls: no motors, gravity and drag until it hits the ground,
disarmed all the way, reported ON_GROUND at once like ArduCopter; the simulator tells every
ground station the height at the disarm in a GLOBAL_POSITION_INT right behind its heartbeat."""

from __future__ import annotations

import itertools
import math
import time

import pytest
from pymavlink import mavutil

from simulator.autopilot import ArmedChanged, Autopilot, Mode
from simulator.params import ParamTable
from simulator.physics import (
    FALL_TERMINAL_MPS,
    GRAVITY,
    Airframe,
    Setpoint,
    VehicleState,
    Wind,
    step,
)

mavlink = mavutil.mavlink
FORCE = 21196  # MAV_CMD_COMPONENT_ARM_DISARM param2: disarm even in flight


def _heights_until_landed(state: VehicleState, *, dt: float = 0.02, limit_s: float = 30.0):
    """Step a disarmed vehicle until it is landed: its heights and the seconds it took."""
    heights = [state.h]
    seconds = 0.0
    while not state.landed and seconds < limit_s:
        state = step(state, Setpoint(motors=False), Airframe(), Wind(), dt)
        heights.append(state.h)
        seconds += dt
    return state, heights, seconds


def test_a_vehicle_disarmed_aloft_falls_to_the_ground_and_stays_there() -> None:
    state, heights, seconds = _heights_until_landed(VehicleState(h=50.0, vx=8.0, landed=False))
    assert all(later < earlier for earlier, later in itertools.pairwise(heights))
    assert state.landed and state.h == 0.0 and (state.vx, state.vy, state.vz) == (0.0, 0.0, 0.0)
    # no faster than in a vacuum, slower than a free fall by drag, but no hover either
    assert math.sqrt(2 * 50.0 / GRAVITY) < seconds < 50.0 / FALL_TERMINAL_MPS + 4.0
    assert state.x > 5.0  # it kept some of its forward speed on the way down
    rest = step(state, Setpoint(motors=False), Airframe(), Wind(), 1.0)
    assert rest.landed and rest.h == 0.0 and rest.x == state.x


def test_a_long_fall_tends_to_the_terminal_speed() -> None:
    state = VehicleState(h=2000.0, landed=False)
    for _ in range(round(30.0 / 0.02)):
        state = step(state, Setpoint(motors=False), Airframe(), Wind(), 0.02)
    assert not state.landed
    assert -state.vz == pytest.approx(FALL_TERMINAL_MPS, rel=0.01)


def test_the_autopilot_reports_on_ground_at_a_forced_disarm_while_the_vehicle_falls() -> None:
    ap = Autopilot(home=(32.51, 120.14, 5.0), params=ParamTable({"SIM_GPS_DELAY": 0}))
    assert ap.set_mode(Mode.GUIDED) and ap.arm()[0] and ap.takeoff(40.0)
    while ap.now < 30.0:  # up and hovering: a vehicle still climbing coasts up a little first
        ap.tick(ap.now + 0.02, 0.02)
    assert ap.state.h > 39.0 and abs(ap.state.vz) < 0.05
    assert ap.flight_phase == "air"
    ap.drain_events()
    assert ap.disarm(reason="forced")
    assert ArmedChanged(False) in ap.drain_events()
    disarmed_at, samples = ap.now, []
    while not ap.landed and ap.now < disarmed_at + 30.0:
        ap.tick(ap.now + 0.02, 0.02)
        samples.append((ap.now, ap.state.h, ap.flight_phase, ap.armed))
    heights = [h for _, h, _, _ in samples]
    assert heights[0] > 38.0 and heights[-1] == 0.0
    assert all(later < earlier for earlier, later in itertools.pairwise(heights))
    assert {phase for _, _, phase, _ in samples} == {"ground"}  # ArduCopter: land complete
    assert not any(armed for _, _, _, armed in samples)
    assert samples[-1][0] - disarmed_at > math.sqrt(2 * 38.0 / GRAVITY)  # the fall takes time


def _messages_after(gcs, deadline_s: float, *, until) -> list:
    """Every message the ground station receives until ``until(message)`` (or the deadline)."""
    seen = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        message = gcs.conn.recv_match(blocking=True, timeout=0.2)
        if message is None or message.get_type() == "BAD_DATA":
            continue
        seen.append(message)
        if until(message):
            return seen
    raise AssertionError(f"condition not met within {deadline_s} s; saw {len(seen)} messages")


def test_a_forced_disarm_is_told_with_the_height_at_once_then_the_fall(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=10)  # slow enough to stream several positions of the fall
    gcs = connect(sitl)
    gcs.wait_gps()
    assert gcs.set_mode(4).result == 0
    assert gcs.arm().result == 0
    assert gcs.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 30).result == 0
    gcs.wait(  # hovering: a vehicle disarmed while it climbs coasts up a little first
        "GLOBAL_POSITION_INT", timeout=30, condition=lambda m: m.relative_alt > 29_500 and m.vz == 0
    )
    disarm = mavlink.MAV_CMD_COMPONENT_ARM_DISARM
    gcs.mav.command_long_send(1, 1, disarm, 0, 0, FORCE, 0, 0, 0, 0, 0)  # forced, 30 m up

    def on_the_ground(m) -> bool:
        return m.get_type() == "GLOBAL_POSITION_INT" and m.relative_alt < 100

    seen = _messages_after(gcs, 20.0, until=on_the_ground)
    ack = next(m for m in seen if m.get_type() == "COMMAND_ACK")
    assert ack.result == mavlink.MAV_RESULT_ACCEPTED
    first = next(
        i for i, m in enumerate(seen)
        if m.get_type() == "HEARTBEAT" and not m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    )  # fmt: skip
    at_disarm = seen[first + 1]
    assert at_disarm.get_type() == "GLOBAL_POSITION_INT"  # right behind the heartbeat
    assert at_disarm.relative_alt > 28_000
    after = seen[first + 1 :]
    fall = [m for m in after if m.get_type() == "GLOBAL_POSITION_INT"]
    assert len(fall) >= 3
    pairs = list(itertools.pairwise(fall))
    assert all(b.relative_alt <= a.relative_alt for a, b in pairs)  # down, never up
    assert all(b.time_boot_ms >= a.time_boot_ms for a, b in pairs)
    assert fall[-1].time_boot_ms - at_disarm.time_boot_ms > 2000  # vehicle seconds went by
    states = [m.landed_state for m in after if m.get_type() == "EXTENDED_SYS_STATE"]
    assert states and set(states) == {mavlink.MAV_LANDED_STATE_ON_GROUND}
    beats = [m for m in after if m.get_type() == "HEARTBEAT"]
    assert not any(m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED for m in beats)
    snapshot = sitl.snapshot()
    assert not snapshot.armed and snapshot.relative_alt < 0.5
