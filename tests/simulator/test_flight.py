"""Flying missions end to end over TCP: item sequence, landing, failsafes."""

from __future__ import annotations

import math

import pytest
from pymavlink import mavutil

from tests.simulator.conftest import HOME

mavlink = mavutil.mavlink


def _offset(north_m: float, east_m: float) -> tuple[float, float]:
    lat = HOME[0] + north_m / 111_320.0
    lon = HOME[1] + east_m / (111_320.0 * math.cos(math.radians(HOME[0])))
    return lat, lon


def _survey(
    legs: int = 3, length: float = 120.0, spacing: float = 30.0, alt: float = 40.0
) -> list[tuple]:
    items = [
        (0, 16, 0, 0, 0, 0, HOME[0], HOME[1], HOME[2]),
        (3, 22, 0, 0, 0, 0, 0, 0, alt),
        (2, 178, 1, 12.0, -1, 0, 0, 0, 0),
    ]
    for leg in range(legs):
        east = leg * spacing
        ends = (0.0, length) if leg % 2 == 0 else (length, 0.0)
        for north in ends:
            items.append((3, 16, 0, 0, 0, 0, *_offset(north, east), alt))
    items.append((3, 16, 2.0, 0, 0, 0, *_offset(20.0, 20.0), alt))  # hold 2 s
    items.append((3, 20, 0, 0, 0, 0, 0, 0, 0))
    return items


def _start(gcs, items) -> None:
    gcs.heartbeat()
    assert gcs.upload(items) == mavlink.MAV_MISSION_ACCEPTED
    gcs.wait_gps()
    assert gcs.set_mode(3).result == mavlink.MAV_RESULT_ACCEPTED
    assert gcs.arm().result == mavlink.MAV_RESULT_ACCEPTED


@pytest.mark.slow
def test_flown_mission_reaches_every_nav_item_and_ends_landed_disarmed(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=100)
    gcs = connect(sitl)
    items = _survey()
    _start(gcs, items)
    reached = []

    def done(message) -> bool:
        if message.get_type() == "MISSION_ITEM_REACHED":
            reached.append(message.seq)
        return message.get_type() == "HEARTBEAT" and not message.base_mode & 128

    gcs.collect(["MISSION_ITEM_REACHED", "HEARTBEAT"], until=done, timeout=30)
    nav = [seq for seq, item in enumerate(items) if seq > 0 and item[1] in (16, 20, 21, 22)]
    assert reached == nav
    state = gcs.wait("EXTENDED_SYS_STATE")
    assert state.landed_state == mavlink.MAV_LANDED_STATE_ON_GROUND
    snapshot = sitl.snapshot()
    assert not snapshot.armed and snapshot.landed
    assert math.hypot((snapshot.lat - HOME[0]) * 111_320, (snapshot.lon - HOME[1]) * 94_000) < 3.0


def test_guided_takeoff_climbs_to_the_commanded_altitude(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=50)
    gcs = connect(sitl)
    gcs.wait_gps()
    assert gcs.set_mode(4).result == 0
    assert gcs.arm().result == 0
    assert gcs.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 15).result == 0
    position = gcs.wait(
        "GLOBAL_POSITION_INT", timeout=10, condition=lambda m: m.relative_alt > 14_000
    )
    assert position.relative_alt < 16_000
    assert gcs.command(mavlink.MAV_CMD_NAV_LAND).result == 0
    gcs.wait(
        "HEARTBEAT", timeout=20, condition=lambda m: m.custom_mode == 9 and not m.base_mode & 128
    )


def _long_line(alt: float = 40.0, north: float = 2000.0) -> list[tuple]:
    return [
        (0, 16, 0, 0, 0, 0, *HOME),
        (3, 22, 0, 0, 0, 0, 0, 0, alt),
        (3, 16, 0, 0, 0, 0, *_offset(north, 0.0), alt),
        (3, 21, 0, 0, 0, 0, 0, 0, 0),
    ]


def _expect_failsafe(gcs, phrase: str, timeout: float = 20.0) -> None:
    text = gcs.wait("STATUSTEXT", timeout=timeout, condition=lambda m: phrase in m.text)
    assert text.severity <= mavlink.MAV_SEVERITY_CRITICAL
    gcs.wait("HEARTBEAT", timeout=5, condition=lambda m: m.custom_mode == 6)


def test_low_battery_failsafe_returns_to_launch(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=100, params={"BATT_CAPACITY": 400, "BATT_LOW_TIMER": 2})
    gcs = connect(sitl)
    _start(gcs, _long_line())
    _expect_failsafe(gcs, "Battery 1 is low")
    assert sitl.autopilot.state.voltage < sitl.params["BATT_LOW_VOLT"]


def test_fence_breach_returns_to_launch(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=100, params={"FENCE_ENABLE": 1})
    gcs = connect(sitl)
    box = [_offset(-100, -100), _offset(-100, 100), _offset(150, 100), _offset(150, -100)]
    assert gcs.upload([(0, 5001, 4, 0, 0, 0, a, b, 0) for a, b in box], mission_type=1) == 0
    _start(gcs, _long_line())
    _expect_failsafe(gcs, "Fence Breached")
    north = (sitl.snapshot().lat - HOME[0]) * 111_320
    assert 140 < north < 200  # caught just past the fence, not at the far waypoint


def test_gcs_link_loss_returns_to_launch(make_sitl, connect) -> None:
    # 20 simulated seconds of silence = 1 s of wall time at 20x: ample margin for the keep-alive.
    sitl = make_sitl(speedup=20, params={"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 20})
    gcs = connect(sitl)
    _start(gcs, _long_line())
    gcs.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_POSITION, 10, 1)
    altitude = 0
    while altitude < 10_000:  # keep the link alive while climbing out...
        gcs.heartbeat()
        altitude = gcs.wait("GLOBAL_POSITION_INT", timeout=5).relative_alt
    assert not sitl.autopilot.in_failsafe
    # ...then fall silent.
    _expect_failsafe(gcs, "GCS Failsafe:")
