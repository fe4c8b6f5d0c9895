"""Arming and takeoff over a lossy link to a sped-up vehicle (the QA report: at 30% packet loss
and speed-up 10 the vehicle auto-disarmed and was re-armed three times by resent arm commands,
then fly said "takeoff to 80.0 m: vehicle refused (MAV_RESULT_FAILED): no reason given")."""

from __future__ import annotations

import re
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from missions.link import connect
from missions.link.errors import CommandRefused
from missions.link.vehicle import Vehicle, VehicleSettings
from tests.link.conftest import HOME, FakeVehicle, LossyUdpRelay

FAST = VehicleSettings(command_timeout_s=0.1, arm_timeout_s=0.5, mode_timeout_s=0.5)


class AutoDisarmingVehicle(FakeVehicle):
    """Arms, but its COMMAND_ACK is lost and it disarms itself (DISARM_DELAY) before the
    ground station's resend would come."""

    arm_commands = 0

    def handle(self, m) -> None:
        if m.get_type() == "COMMAND_LONG" and m.command == mav.MAV_CMD_COMPONENT_ARM_DISARM:
            self.arm_commands += 1
            self.armed = True
            self.heartbeat()  # armed; the ACK never comes
            self.armed = False
            self.heartbeat()  # auto-disarmed on the ground
            return
        super().handle(m)


def test_a_vehicle_that_disarmed_itself_is_not_armed_again() -> None:
    fake = AutoDisarmingVehicle()
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=FAST)
    vehicle.arm()  # heard armed: done, though its ACK was lost
    assert fake.arm_commands == 1
    assert vehicle.armings == 1 and not vehicle.tracker.armed


def _ready_to_arm(vehicle: Vehicle) -> None:
    """Wait for what the pre-flight checks wait for: a 3D fix and a home (GUIDED needs them)."""
    vehicle.wait_for(
        lambda t: t.gps is not None and t.gps.fix_type >= 3 and t.home is not None,
        timeout=30.0,
        step="GPS fix",
    )


def _flight_events(lines: list[str], word: str) -> int:
    return sum(1 for line in lines if re.search(rf"\] {word}$", line))


def test_takeoff_after_the_auto_disarm_says_the_vehicle_disarmed_itself() -> None:
    from simulator import Sitl

    params = {"DISARM_DELAY": 2}
    with (
        Sitl(home=HOME, speedup=10, params=params) as sitl,
        connect(sitl.connection_string, timeout=30) as vehicle,
    ):
        _ready_to_arm(vehicle)
        vehicle.set_mode("GUIDED")
        vehicle.arm()
        vehicle.wait_for(lambda t: not t.armed, timeout=10.0, step="auto-disarm")
        with pytest.raises(CommandRefused) as caught:
            vehicle.takeoff(20.0)
    message = str(caught.value)
    assert re.fullmatch(
        r"takeoff to 20\.0 m: the vehicle disarmed itself before takeoff \(auto-disarm after "
        r"[1-3] s on the ground\)",
        message,
    ), message
    assert caught.value.args[0].template.startswith("%(step)s: the vehicle disarmed itself")


@pytest.mark.slow
def test_arm_and_takeoff_over_a_lossy_link_at_speed_up_arm_once() -> None:
    """30% of the packets lost both ways, the vehicle 10 times faster than the wall clock, the
    default settings `gridpatrol fly` uses: one arming, and the vehicle climbs."""
    from simulator import Sitl

    events: list[str] = []
    with LossyUdpRelay(loss=0.3, reorder=0.0, seed=11) as relay:
        out = f"udp:127.0.0.1:{relay.vehicle_port}"
        with (
            Sitl(home=HOME, speedup=10, out=out, on_event=events.append) as sitl,
            connect(f"udpout:127.0.0.1:{relay.gcs_port}", timeout=30) as vehicle,
        ):
            _ready_to_arm(vehicle)
            vehicle.pump(2.5)  # as long as fly's upload takes at least: the clock's rate is known
            vehicle.set_mode("GUIDED")
            vehicle.arm()
            vehicle.takeoff(20.0)  # at once, as fly does
            deadline = time.monotonic() + 20.0
            while sitl.snapshot().relative_alt < 5.0 and time.monotonic() < deadline:
                vehicle.pump(0.2)
            height = sitl.snapshot().relative_alt
    assert relay.counts["dropped"] > 0
    assert _flight_events(events, "armed") == 1, events
    assert _flight_events(events, "disarmed") == 0, events
    assert height >= 5.0


class _SilentLink:
    """A link that loses everything the vehicle would answer; it records what we send."""

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, message) -> None:
        self.sent.append(message)

    def recv(self, timeout: float):
        return None

    def close(self) -> None:
        pass


def _home_requests(link: _SilentLink) -> int:
    return sum(
        1
        for m in link.sent
        if m.get_type() == "COMMAND_LONG"
        and m.command == mav.MAV_CMD_REQUEST_MESSAGE
        and m.param1 == mav.MAVLINK_MSG_ID_HOME_POSITION
    )


def test_streams_are_asked_for_again_until_the_gps_and_home_come() -> None:
    """At 30% loss the one request for the GPS status or the home position can be lost: the
    pre-flight checks then waited for a home that was never asked for again (CI flake)."""
    from missions.link.telemetry import GpsStatus
    from missions.link.vehicle import STREAMS_REASK_S

    now = [0.0]
    link = _SilentLink()
    vehicle = Vehicle(link, target_system=1, target_component=1, clock=lambda: now[0])
    vehicle.request_streams()
    assert _home_requests(link) == 1
    now[0] += STREAMS_REASK_S / 2
    vehicle.recv(0.0)
    assert _home_requests(link) == 1  # not before its time
    now[0] += STREAMS_REASK_S
    vehicle.recv(0.0)
    assert _home_requests(link) == 2  # nothing came: asked again
    vehicle.tracker.gps = GpsStatus(fix_type=3, satellites=12)
    vehicle.tracker.home = HOME
    now[0] += 2 * STREAMS_REASK_S
    vehicle.recv(0.0)
    assert _home_requests(link) == 2  # both came: no more asking
