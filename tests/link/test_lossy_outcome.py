"""A lossy link must not turn a complete flight into "returned early" or lose photos: progress
counts from MISSION_CURRENT and a mission landing too, photos from CAMERA_CAPTURE_STATUS."""

from __future__ import annotations

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from missions.link import connect, fly
from missions.link.flight import FlightResult, landing_sequences
from missions.link.landing import reached_items
from missions.link.telemetry import TelemetryTracker
from missions.link.transfer import TransferSettings
from missions.link.vehicle import VehicleSettings
from tests.link.conftest import HOME
from tests.link.test_sitl import lawnmower

AUTO, RTL = 3, 6


def wire(message):
    buf = message.pack(mav.MAVLink(None, srcSystem=1, srcComponent=1))
    return mav.MAVLink(None).decode(bytearray(buf))


def heartbeat(mode: int, *, armed: bool):
    return mav.MAVLink_heartbeat_message(2, 3, 1 | (128 if armed else 0), mode, 4, 3)


def feed(tracker: TelemetryTracker, *messages) -> None:
    for message in messages:
        tracker.on_message(wire(message))


def result_of(tracker: TelemetryTracker, plan) -> FlightResult:
    snapshot = tracker.snapshot()
    return FlightResult(
        landed=True,
        duration_s=60.0,
        waypoints=tuple(i + 1 for i, it in enumerate(plan.items) if it.command == 16),
        reached=reached_items(snapshot.mission, landing_items=landing_sequences(plan)),
        photos=snapshot.photos,
        photos_unreported=snapshot.photos_unreported,
        max_relative_alt_m=20.0,
        failsafes=(),
        status_texts=(),
        log_dir=None,
    )


def test_mission_current_moving_on_counts_items_whose_reached_message_was_lost() -> None:
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, heartbeat(AUTO, armed=True))
    for seq in (1, 2, 5, 6):  # 3 and 4 lost, and every MISSION_ITEM_REACHED
        feed(tracker, mav.MAVLink_mission_current_message(seq, 9))
    assert tracker.snapshot().mission.reached == (1, 2, 3, 4, 5)


def test_mission_current_before_the_mission_or_out_of_range_counts_nothing() -> None:
    tracker = TelemetryTracker(target_system=1)
    feed(
        tracker,
        heartbeat(4, armed=True),  # GUIDED: taking off
        mav.MAVLink_mission_current_message(0, 9),
        mav.MAVLink_mission_current_message(4, 9),
        heartbeat(AUTO, armed=True),
        mav.MAVLink_mission_current_message(5, 9),
        mav.MAVLink_mission_current_message(65535, 9),  # ArduPilot's "no current item"
        mav.MAVLink_mission_current_message(6, 9),
    )
    assert tracker.snapshot().mission.reached == (5,)


def test_landing_in_auto_after_the_final_rtl_is_a_complete_flight() -> None:
    """8 waypoints, the MISSION_CURRENT of the last ones and of the RTL all lost: the vehicle
    disarmed in AUTO, so it landed on its final RTL item after every waypoint."""
    plan = lawnmower(12, altitude=20.0)  # takeoff, cam, 8 waypoints, cam off, RTL (seq 12)
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, heartbeat(AUTO, armed=True))
    for seq in (1, 3, 4, 5, 6, 7):
        feed(tracker, mav.MAVLink_mission_current_message(seq, 13))
    feed(tracker, mav.MAVLink_mission_current_message(0, 13))  # disarm resets the mission
    feed(tracker, heartbeat(AUTO, armed=False))
    result = result_of(tracker, plan)
    assert result.outcome == "complete"
    assert result.summary().startswith("landed: 1:00 flown, 8/8 waypoints")


def test_landing_after_a_failsafe_rtl_is_still_returned_early() -> None:
    plan = lawnmower(12, altitude=20.0)
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, heartbeat(AUTO, armed=True))
    for seq in (1, 3, 4, 5):
        feed(tracker, mav.MAVLink_mission_current_message(seq, 13))
    feed(tracker, heartbeat(RTL, armed=True), heartbeat(RTL, armed=False))
    result = result_of(tracker, plan)
    assert result.outcome == "returned_early"
    assert "2/8 waypoints" in result.summary()


def feedback(index: int):
    return mav.MAVLink_camera_feedback_message(
        0, 1, 0, index, 302741000, 1201551000, 52.0, 40.0, 0, 0, 90, 8.8, 0
    )


def capture_status(count: int):
    return mav.MAVLink_camera_capture_status_message(0, 0, 0, 0.0, 0, 0.0, count)


def test_lost_last_camera_feedback_is_counted_from_the_capture_status() -> None:
    plan = lawnmower(12, altitude=20.0)
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, capture_status(3))  # three photos of an earlier flight since boot
    # photos 4..15 taken; the feedback of 6 and 7 (a gap) and of the last two (14, 15) lost
    feed(tracker, *(feedback(i) for i in range(4, 16) if i not in (6, 7, 14, 15)))
    assert tracker.snapshot().photos_unreported == 2  # only the gap is visible
    feed(tracker, capture_status(15))  # asked after landing
    snapshot = tracker.snapshot()
    assert (snapshot.photos, snapshot.photos_unreported) == (8, 4)
    assert "(12 photos taken, 4 not reported over the link)" in result_of(tracker, plan).summary()


def test_capture_status_without_a_count_before_uses_the_first_index() -> None:
    tracker = TelemetryTracker(target_system=1)
    feed(tracker, *(feedback(i) for i in (1, 2, 3)), capture_status(5))
    assert tracker.photos_taken == 5 and tracker.snapshot().photos_unreported == 2


@pytest.mark.slow
def test_flight_over_a_lossy_relay_is_complete_with_every_photo(lossy_relay, tmp_path) -> None:
    """The QA report: over a UDP relay dropping 20% of the packets a complete flight said
    "returned early … 5/8 waypoints" and lost the last photos."""
    from simulator import Sitl

    params = {"RTL_LOIT_TIME": 0, "CAM1_TYPE": 1}
    plan = lawnmower(12, altitude=20.0, spacing_m=15.0)
    lossy = VehicleSettings(
        command_timeout_s=0.3, command_retries=10,
        transfer=TransferSettings(timeout_s=0.05, retries=20, backoff=1.2, max_timeout_s=0.3),
    )  # fmt: skip
    out = f"udp:127.0.0.1:{lossy_relay.vehicle_port}"
    with (
        Sitl(home=HOME, speedup=10, params=params, out=out) as sitl,
        connect(f"udpout:127.0.0.1:{lossy_relay.gcs_port}", timeout=30, settings=lossy) as v,
    ):
        result = fly(v, plan, preflight_timeout_s=60, status_interval_s=0.1)
        taken = sitl.autopilot.photo_count
    assert lossy_relay.counts["dropped"] > 0
    assert result.outcome == "complete", result.summary()
    assert result.summary().startswith("landed: ") and "8/8 waypoints" in result.summary()
    assert taken > 5 and result.photos + result.photos_unreported == taken, result.summary()
