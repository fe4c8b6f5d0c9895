"""The simulated vehicle's UTC clock follows the real clock, whatever the speed-up: photos of a
sped-up flight are stamped when they were taken, never in the future."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pymavlink import mavutil

from simulator.clock import SimClock

mavlink = mavutil.mavlink


def test_utc_of_a_simulated_instant_is_the_real_time_it_was_due() -> None:
    wall, unix = [100.0], [1_800_000_000.0]
    clock = SimClock(speedup=100, step_s=0.02, wall=lambda: wall[0], unix=lambda: unix[0])
    wall[0] += 1.2
    unix[0] += 1.2  # 120 simulated seconds in 1.2 real ones
    for _ in range(clock.steps_due(limit=100_000)):
        clock.advance()
    assert clock.now == pytest.approx(120.0)
    assert clock.unix_time(clock.now) == pytest.approx(1_800_000_001.2)
    assert clock.unix_time(60.0) == pytest.approx(1_800_000_000.6)
    # a pause (waiting for photos) is forgotten: the next instants are stamped after it
    wall[0] += 30.0
    unix[0] += 30.0
    clock.rebase()
    clock.advance()
    assert clock.unix_time(clock.now) == pytest.approx(1_800_000_031.2 + 0.02 / 100)


def test_sped_up_vehicle_stamps_photos_and_system_time_with_the_real_time(
    make_sitl, connect, tmp_path
) -> None:
    sitl = make_sitl(speedup=100, photos_dir=tmp_path / "photos")
    gcs = connect(sitl)
    gcs.heartbeat()
    waited = time.monotonic() + 30.0
    while sitl.sim_time <= 100.0 and time.monotonic() < waited:  # ~1 s unloaded, at 100x
        time.sleep(0.1)
    ack = gcs.command(mavlink.MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 1)
    assert ack.result == mavlink.MAV_RESULT_ACCEPTED
    # the ACK may leave before the trigger is queued; CAMERA_FEEDBACK only after
    feedback = gcs.wait("CAMERA_FEEDBACK", timeout=5.0)
    (photo,) = sitl.wait_photos(timeout=10.0)
    assert sitl.sim_time > 100.0
    now = datetime.now(UTC)
    assert (now - photo.time).total_seconds() == pytest.approx(0.0, abs=1.0)
    assert photo.time <= now
    assert feedback.time_usec / 1e6 == pytest.approx(photo.time.timestamp(), abs=1e-3)
    gcs.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_SYSTEM_TIME)
    system = gcs.wait("SYSTEM_TIME", timeout=5.0)
    assert system.time_unix_usec / 1e6 == pytest.approx(time.time(), abs=1.0)
