"""A vehicle that restarts in flight is never a landing: its clock running backwards, an uptime
shorter than the silence just ended, or another board on the link mark it rebooted, and a flight
whose vehicle rebooted (our simulator killed mid-mission and started again on the same port)
ends in FlightAborted with ``landed: false`` in its log."""

from __future__ import annotations

import json
import math
import socket
import threading
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from missions.link import FlightAborted, connect, fly
from missions.link.flight import reboot_message
from missions.link.telemetry import TelemetryTracker
from tests.link.conftest import HOME
from tests.link.test_sitl import LOOPBACK, lawnmower


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wire(message, *, component: int = 1):
    buf = message.pack(mav.MAVLink(None, srcSystem=1, srcComponent=component))
    return mav.MAVLink(None).decode(bytearray(buf))


def attitude(boot_s: float):
    return mav.MAVLink_attitude_message(round(boot_s * 1000), 0, 0, 0, 0, 0, 0)


def watched(clock: FakeClock, *, rate: float = 1.0, seconds: float = 10.0) -> TelemetryTracker:
    """A tracker that heard an autopilot 100 s after its boot for ``seconds`` at ``rate``."""
    tracker = TelemetryTracker(target_system=1, clock=clock)
    tracker.on_message(wire(mav.MAVLink_heartbeat_message(2, 3, 1 | 128, 3, 4, 3)))
    for _ in range(round(seconds / 0.2) + 1):
        tracker.on_message(wire(attitude(100.0 + rate * clock.now)))
        clock.now += 0.2
    clock.now -= 0.2
    return tracker


def test_a_clock_running_on_is_no_reboot_even_after_a_long_silence() -> None:
    clock = FakeClock()
    tracker = watched(clock, rate=50.0)  # a simulator at 50x
    assert tracker.clock_rate == pytest.approx(50.0)
    tracker.link_reopened()
    assert not tracker.clock_confirmed
    clock.now += 60.0
    tracker.on_message(wire(attitude(100.0 + 50.0 * clock.now)))
    assert tracker.clock_confirmed and tracker.reboot is None
    assert tracker.snapshot().reboot is None


def test_a_clock_that_ran_backwards_is_a_reboot() -> None:
    clock = FakeClock()
    tracker = watched(clock)
    clock.now += 0.2
    tracker.on_message(wire(attitude(0.4)))
    reboot = tracker.snapshot().reboot
    assert reboot is not None and reboot.kind == "clock"
    assert (reboot.before, reboot.after) == ("110.0", "0.4")
    assert str(reboot_message(reboot)) == (
        "the vehicle rebooted in flight (its clock restarted: up 110.0 s when last heard, "
        "0.4 s now): not a landing; check it"
    )


def test_an_uptime_shorter_than_the_silence_is_a_reboot_at_any_clock_rate() -> None:
    clock = FakeClock()
    tracker = watched(clock, rate=50.0)  # at 110 s + 50 x 10 s = 600 s when the link dropped
    tracker.link_reopened()
    clock.now += 30.0  # a fresh boot 20 s ago reads 1000 s: ahead, yet too young
    tracker.on_message(wire(attitude(50.0 * 20.0)))
    assert tracker.reboot is not None and tracker.reboot.kind == "clock"


def test_a_stalled_simulator_that_kept_its_link_is_no_reboot() -> None:
    clock = FakeClock()
    tracker = watched(clock, rate=50.0, seconds=3.0)  # a busy machine: 8 s without a message
    assert tracker.clock_rate == pytest.approx(50.0)
    clock.now += 8.0
    tracker.on_message(wire(attitude(100.0 + 50.0 * 3.2)))  # the simulator stalled with it
    assert tracker.reboot is None


def test_a_camera_clock_is_not_the_autopilot_clock() -> None:
    clock = FakeClock()
    tracker = watched(clock)
    tracker.on_message(wire(attitude(3.0), component=100))  # a camera booted later
    assert tracker.reboot is None


def test_another_board_on_the_link_is_a_reboot() -> None:
    tracker = TelemetryTracker(target_system=1)
    version = mav.MAVLink_autopilot_version_message
    tracker.on_message(wire(version(0, 0, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, 0x1234)))
    assert tracker.reboot is None and tracker.board_uid == "0000000000001234"
    tracker.on_message(wire(version(0, 0, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, 0x99)))
    assert tracker.reboot is not None and tracker.reboot.kind == "board"
    assert "board 0000000000001234, now 0000000000000099" in str(reboot_message(tracker.reboot))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("uid", [42, None], ids=["same board", "new board"])
def test_a_vehicle_restarted_mid_mission_is_not_a_landing(tmp_path, uid) -> None:
    """The reproduction: kill the simulator in AUTO, start it again on the same port."""
    from simulator import Sitl

    url = f"tcp:127.0.0.1:{_free_port()}"
    sitl = Sitl(home=HOME, speedup=10, listen=url, uid=uid).start()
    seen: dict = {}

    def run() -> None:
        with connect(url, timeout=10, settings=LOOPBACK) as vehicle:
            try:
                seen["result"] = fly(vehicle, lawnmower(10, spacing_m=40), log_dir=tmp_path,
                                     on_status=lambda t: seen.__setitem__("t", t))  # fmt: skip
            except Exception as exc:  # handed to the test thread
                seen["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (seen.get("t") and seen["t"].mode == "AUTO") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        sitl.stop()
        time.sleep(0.3)
        sitl = Sitl(home=HOME, speedup=10, listen=url, uid=uid).start()
        thread.join(30)
    finally:
        sitl.stop()
    assert "result" not in seen, seen["result"].summary()
    error = seen["error"]
    assert isinstance(error, FlightAborted) and "not a landing; check it" in str(error)
    assert error.result.landed is False and math.isfinite(error.result.duration_wall_s)
    assert error.result.duration_s is None  # its clock restarted: it gives no flight time
    document = json.loads((tmp_path / "flight.json").read_text())
    assert document["summary"]["landed"] is False and document["summary"]["outcome"] == "failed"
    assert document["summary"]["reason"] == str(error)
    assert [e["kind"] for e in document["events"]].count("reboot") == 1


def test_photos_whose_feedback_was_lost_are_counted_from_the_image_indices() -> None:
    tracker = TelemetryTracker(target_system=1)
    for index in (1, 2, 9):  # 3..8 were taken while the link was down
        feedback = mav.MAVLink_camera_feedback_message(
            0, 1, 0, index, 302741000, 1201551000, 52.0, 40.0, 0, 0, 90, 8.8, 0, index
        )
        tracker.on_message(wire(feedback))
    snapshot = tracker.snapshot()
    assert (snapshot.photos, snapshot.photos_unreported) == (3, 6)
