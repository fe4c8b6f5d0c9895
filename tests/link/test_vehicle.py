"""Vehicle verbs against the in-memory vehicle: discovery, streams, arming and its refusal."""

from __future__ import annotations

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from missions.link.errors import ArmRefused, LinkError, LinkTimeout
from missions.link.vehicle import Vehicle, VehicleSettings

FAST = VehicleSettings(command_timeout_s=0.1, arm_timeout_s=0.5, mode_timeout_s=0.5)


def test_wait_ready_finds_the_autopilot_and_asks_for_streams(fake_vehicle) -> None:
    fake = fake_vehicle()
    vehicle = Vehicle(fake.link, settings=FAST)
    snapshot = vehicle.wait_ready(timeout=2.0)
    assert (vehicle.target_system, vehicle.target_component) == (1, 1)
    assert snapshot.position is not None and snapshot.position.lat == pytest.approx(30.2741)
    assert "REQUEST_DATA_STREAM" in fake.received_types
    assert "COMMAND_LONG" in fake.received_types  # SET_MESSAGE_INTERVAL / REQUEST_MESSAGE
    assert "HEARTBEAT" in fake.received_types  # our GCS heartbeat


def test_wait_ready_counts_each_autopilot_heartbeat_once(fake_vehicle) -> None:
    vehicle = Vehicle(fake_vehicle().link, settings=FAST)
    received: list[int] = []
    vehicle.add_listener(
        lambda m: received.append(m.get_srcSystem()) if m.get_type() == "HEARTBEAT" else None
    )
    vehicle.wait_ready(timeout=2.0)
    assert received and set(received) == {1}
    assert vehicle.tracker.heartbeats == len(received)


def test_wait_ready_times_out_on_a_silent_link(fake_vehicle) -> None:
    vehicle = Vehicle(fake_vehicle(silent=True).link, settings=FAST)
    with pytest.raises(LinkTimeout, match=r"wait_ready: no autopilot heartbeat within 0\.2 s"):
        vehicle.wait_ready(timeout=0.2)


def test_arm_and_disarm(fake_vehicle) -> None:
    fake = fake_vehicle()
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=FAST)
    vehicle.arm()
    assert fake.armed and vehicle.tracker.armed


def test_refused_arm_carries_the_prearm_reason(fake_vehicle) -> None:
    fake = fake_vehicle(arm_refusal="PreArm: GPS 1: Bad fix")
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=FAST)
    with pytest.raises(ArmRefused) as caught:
        vehicle.arm()
    assert caught.value.result == mav.MAV_RESULT_FAILED
    assert caught.value.status_texts == ("PreArm: GPS 1: Bad fix",)
    assert str(caught.value) == "arm: vehicle refused (MAV_RESULT_FAILED): PreArm: GPS 1: Bad fix"


def test_unknown_mode_lists_the_known_ones(fake_vehicle) -> None:
    vehicle = Vehicle(fake_vehicle().link, target_system=1, target_component=1, settings=FAST)
    with pytest.raises(LinkError, match="unknown mode 'hover'; known: ACRO, ALT_HOLD, AUTO"):
        vehicle.set_mode("hover")


def test_board_id_is_none_for_a_vehicle_that_does_not_report_one(fake_vehicle) -> None:
    fake = fake_vehicle()
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=FAST)
    assert vehicle.board_id(timeout=0.3) is None
    assert "COMMAND_LONG" in fake.received_types  # REQUEST_MESSAGE(AUTOPILOT_VERSION) was sent


def test_board_id_tells_two_simulated_vehicles_apart() -> None:
    from missions.link import connect
    from simulator import Sitl

    home = (32.51, 120.14, 5.0)
    with Sitl(home=home, uid=0x1234) as first, Sitl(home=home) as second:
        ids = []
        for sitl in (first, second):
            vehicle = connect(sitl.connection_string, timeout=5.0)
            try:
                ids.append(vehicle.board_id())
            finally:
                vehicle.close()
    assert ids[0] == "0000000000001234"
    assert ids[1] is not None and ids[1] != ids[0]


def test_connect_to_a_silent_vehicle_names_its_address() -> None:
    import socket

    from missions.link import connect

    with socket.socket() as server:  # accepts the connection, never sends a heartbeat
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"tcp:127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(LinkTimeout) as caught:
            connect(url, timeout=0.5)
    assert str(caught.value) == f"{url}: wait_ready: no autopilot heartbeat within 0.5 s"
