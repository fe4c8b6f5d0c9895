"""What fly says and counts from the lossy-relay QA pass: one photo per image index however often
its CAMERA_FEEDBACK arrives, a peer that never spoke MAVLink is not "the vehicle", the
auto-disarm gives the vehicle's own DISARM_DELAY, and an upload another ground station holds
up is said to be that."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from click.testing import CliRunner
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mav

from groundstation.cli import cli
from missions.formats import save_mission
from missions.items import MissionPlan
from missions.link import LinkConnectError, MissionTransferError, connect
from missions.link.errors import CommandRefused
from missions.link.telemetry import TelemetryTracker
from missions.link.transfer import TransferSettings
from missions.link.vehicle import ArmedSpan, Vehicle, VehicleSettings
from tests.link.conftest import HOME, survey_items


def _wire(message, *, src: int = 1):
    buf = message.pack(mav.MAVLink(None, srcSystem=src, srcComponent=1))
    return mav.MAVLink(None).decode(bytearray(buf))


def _feedback(index: int, boot_ms: int = 1000):
    return _wire(
        mav.MAVLink_camera_feedback_message(
            boot_ms * 1000, 1, 0, index, 302741000, 1201551000, 52.0, 40.0, 0, 0, 90, 8.8, 0
        )
    )


def _clock(boot_ms: int):
    return _wire(mav.MAVLink_system_time_message(0, boot_ms))


# ------------------------------------------------------------------ photos, one per image index


def test_a_duplicated_camera_feedback_is_one_photo() -> None:
    """QA: 19/20 photos in the summary, 18 taken: a relay duplicated some packets."""
    tracker = TelemetryTracker(target_system=1)
    for index in (1, 2, 2, 3, 1, 4, 4, 4):
        tracker.on_message(_feedback(index))
    snapshot = tracker.snapshot()
    assert snapshot.photos == 4 and snapshot.photos_unreported == 0
    assert [e.image_index for e in tracker.camera_events] == [1, 2, 3, 4]


def test_a_late_packet_still_counts_and_a_gap_is_unreported() -> None:
    tracker = TelemetryTracker(target_system=1)
    for index in (1, 3, 2, 5):  # 2 reordered, 4 lost
        tracker.on_message(_feedback(index))
    assert (tracker.snapshot().photos, tracker.photos_unreported) == (4, 1)


def test_the_image_counter_wrapping_at_65535_counts_anew() -> None:
    tracker = TelemetryTracker(target_system=1)
    for index in (65534, 65535, 65535, 0, 1, 1):
        tracker.on_message(_feedback(index))
    assert (tracker.snapshot().photos, tracker.photos_unreported) == (4, 0)


def test_a_restarted_vehicle_counts_its_image_indices_anew() -> None:
    tracker = TelemetryTracker(target_system=1)
    tracker.on_message(_clock(600_000))
    for index in (1, 2, 3):
        tracker.on_message(_feedback(index))
    tracker.on_message(_clock(5_000))  # its clock ran back: it restarted
    assert tracker.reboot is not None
    for index in (1, 1, 2):
        tracker.on_message(_feedback(index))
    assert (tracker.snapshot().photos, tracker.photos_unreported) == (5, 0)


# ------------------------------------------------------------------ a peer that is no autopilot


@pytest.fixture
def web_server():
    """A web server (``python -m http.server``): it answers 400 to our bytes and closes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.recv(1024)
                client.sendall(b"HTTP/1.0 400 Bad request\r\nContent-Type: text/html\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp:127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_a_web_server_is_no_autopilot_not_a_vehicle_that_closed(web_server) -> None:
    with pytest.raises(LinkConnectError) as caught:
        connect(web_server, timeout=10)
    assert str(caught.value) == (
        f"no MAVLink heartbeat from {web_server} (it closed the connection); is an autopilot there?"
    )


def test_fly_at_a_web_server_is_one_line_exit_1(web_server, tmp_path) -> None:
    plan = save_mission(tmp_path / "p.plan", MissionPlan(items=tuple(survey_items()), home=HOME))
    result = CliRunner().invoke(cli, ["fly", str(plan), "--connect", web_server, "--timeout", "10"])
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no MAVLink heartbeat from ") and "vehicle closed" not in last


# ------------------------------------------------------------------ the auto-disarm's own delay


def test_the_auto_disarm_gives_the_vehicles_disarm_delay() -> None:
    """QA: "auto-disarm after 5 s on the ground" while DISARM_DELAY was 10: the armed
    heartbeat came late over the lossy link, so the time heard armed was no measure."""
    from simulator import Sitl

    with (
        Sitl(home=HOME, speedup=10, params={"DISARM_DELAY": 10}) as sitl,
        connect(sitl.connection_string, timeout=30) as vehicle,
    ):
        vehicle.wait_for(
            lambda t: t.gps is not None and t.gps.fix_type >= 3 and t.home is not None,
            timeout=30.0,
            step="GPS fix",
        )
        vehicle.set_mode("GUIDED")
        vehicle.arm()
        vehicle.wait_for(lambda t: not t.armed, timeout=10.0, step="auto-disarm")
        span = vehicle.armed_span
        assert span is not None and span.armed_at_s is not None
        vehicle.armed_span = ArmedSpan(span.armed_at_s + 5, span.disarmed_at_s)  # heard late
        with pytest.raises(CommandRefused) as caught:
            vehicle.takeoff(20.0)
    assert str(caught.value) == (
        "takeoff to 20.0 m: the vehicle disarmed itself before takeoff (auto-disarm after 10 s "
        "on the ground)"
    )


def test_without_disarm_delay_no_figure_is_invented(fake_vehicle) -> None:
    fake = fake_vehicle()  # answers no parameter reads
    quick = VehicleSettings(command_timeout_s=0.05, command_retries=1)
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=quick)
    vehicle.armed_span = ArmedSpan(10.0, 15.0)
    assert str(vehicle._disarmed_before_takeoff("takeoff to 20.0 m")) == (
        "takeoff to 20.0 m: the vehicle disarmed itself before takeoff (auto-disarm on the ground)"
    )


# ------------------------------------------------------------------ two ground stations


def test_an_upload_another_ground_station_holds_up_says_so() -> None:
    """The simulator, as ArduPilot, denies a second station's upload while one is under way."""
    from simulator import Sitl

    with Sitl(home=HOME, speedup=20, params={"SIM_MIS_DELAY": 0}) as sitl:
        other = mavutil.mavlink_connection(
            sitl.connection_string, source_system=254, source_component=190
        )
        try:
            assert other.wait_heartbeat(timeout=5) is not None
            settings = VehicleSettings(
                transfer=TransferSettings(timeout_s=0.3, busy_retries=2, busy_delay_s=0.1)
            )
            with connect(sitl.connection_string, timeout=30, settings=settings) as vehicle:
                other.mav.mission_count_send(1, 1, 20, 0)  # and then sends no items
                time.sleep(0.2)
                plan = MissionPlan(items=tuple(survey_items()), home=HOME)
                with pytest.raises(MissionTransferError) as caught:
                    vehicle.upload(plan)
        finally:
            other.close()
    message = str(caught.value)
    assert "MAV_MISSION_DENIED" in message and "another ground station is uploading" in message
