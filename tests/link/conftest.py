"""Fixtures for the link tests: an in-memory ArduPilot-like vehicle behind a byte-exact fake link.

The fake vehicle speaks the mission protocol the way ArduCopter does (home replaces item 0, old
MISSION_REQUEST on request, "no space" for the first uploads after boot, re-requests on its own
timeouts) and can drop packets in both directions, so the transfer state machines are tested
without sockets. Every message really is packed to MAVLink 2 bytes and parsed back.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from missions.items import Command, Frame, MissionItem

#: Where the fake vehicle, our simulator and ArduPilot SITL stand: (lat, lon, alt).
HOME = (30.2741, 120.1551, 12.0)


def survey_items() -> list[MissionItem]:
    """A small survey from HOME: take off to 15 m, a photo every 10 m over four waypoints about
    16 m apart, then home (the missions the CLI tests fly)."""
    d = 1.5e-4  # about 16 m
    return [
        MissionItem(Command.NAV_TAKEOFF, alt=15.0),
        MissionItem(Command.DO_SET_CAM_TRIGG_DIST, frame=Frame.MISSION, params=(10, 0, 1, 0)),
        *(
            MissionItem(Command.NAV_WAYPOINT, lat=HOME[0] + (k // 2) * d,
                        lon=HOME[1] + (k % 2) * d, alt=15.0)
            for k in range(4)
        ),
        MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION),
    ]  # fmt: skip


class FakeVehicle:
    """An ArduCopter-like mission server; ``link`` is the GCS end of an in-memory link."""

    def __init__(
        self,
        *,
        loss: float = 0.0,
        seed: int = 1,
        old_requests: bool = False,
        busy_uploads: int = 0,
        reject: tuple[int, int] | None = None,  # (seq, MAV_MISSION_RESULT) refused on upload
        silent: bool = False,
        arm_refusal: str | None = None,
        retry_after_s: float = 0.02,
        lose_final_acks: int = 0,
    ) -> None:
        self.lose_final_acks = lose_final_acks
        self.loss = loss
        self.rng = random.Random(seed)
        self.old_requests = old_requests
        self.busy_uploads = busy_uploads
        self.reject = reject
        self.silent = silent
        self.arm_refusal = arm_refusal
        self.retry_after_s = retry_after_s
        self.lists: dict[int, list[mav.MAVLink_mission_item_int_message]] = {0: [], 1: [], 2: []}
        self.receiving: dict[int, tuple[int, list]] = {}  # type -> (count, items so far)
        self.last_activity = time.monotonic()
        self.last_heartbeat = 0.0
        self.streaming = False
        self.current = 0
        self.armed = False
        self.to_gcs: deque = deque()
        self.vehicle_mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        self.gcs_mav = mav.MAVLink(None, srcSystem=255, srcComponent=190)
        self.gcs_parser = mav.MAVLink(None)
        self.vehicle_parser = mav.MAVLink(None)
        self.received_types: list[str] = []
        self.link = _FakeLink(self)

    # -- wire
    def _lost(self) -> bool:
        return self.loss > 0 and self.rng.random() < self.loss

    def emit(self, message) -> None:
        buf = message.pack(self.vehicle_mav)
        if not self._lost():
            self.to_gcs.append(bytes(buf))

    def deliver(self, message) -> None:
        buf = message.pack(self.gcs_mav)
        if self._lost() or self.silent:
            return
        decoded = self.vehicle_parser.parse_char(bytes(buf))
        assert decoded is not None and decoded.get_type() == message.get_type()
        self.received_types.append(decoded.get_type())
        self.last_activity = time.monotonic()
        self.handle(decoded)

    def idle(self) -> None:
        """The vehicle's own timers: a heartbeat every 50 ms, re-requests of the awaited item."""
        if not self.silent and time.monotonic() - self.last_heartbeat > 0.05:
            self.last_heartbeat = time.monotonic()
            self.heartbeat()
        if time.monotonic() - self.last_activity < self.retry_after_s:
            return
        self.last_activity = time.monotonic()
        for mission_type, (_count, items) in self.receiving.items():
            self._request(len(items), mission_type)

    # -- protocol
    def _request(self, seq: int, mission_type: int) -> None:
        if self.old_requests:
            self.emit(mav.MAVLink_mission_request_message(255, 190, seq, mission_type))
        else:
            self.emit(mav.MAVLink_mission_request_int_message(255, 190, seq, mission_type))

    def _ack(self, result: int, mission_type: int) -> None:
        self.emit(mav.MAVLink_mission_ack_message(255, 190, result, mission_type))

    def handle(self, m) -> None:
        kind = m.get_type()
        mission_type = getattr(m, "mission_type", 0)
        if kind == "MISSION_COUNT":
            if self.busy_uploads > 0:
                self.busy_uploads -= 1
                self._ack(mav.MAV_MISSION_NO_SPACE, mission_type)
                return
            if m.count == 0:
                self.lists[mission_type] = []
                self._ack(mav.MAV_MISSION_ACCEPTED, mission_type)
                return
            if mission_type not in self.receiving:
                self.receiving[mission_type] = (m.count, [])
            self._request(len(self.receiving[mission_type][1]), mission_type)
        elif kind == "MISSION_ITEM_INT":
            if mission_type not in self.receiving:
                self._ack(mav.MAV_MISSION_ERROR, mission_type)  # not receiving: like ArduPilot
                return
            count, items = self.receiving[mission_type]
            if self.reject is not None and m.seq == self.reject[0]:
                del self.receiving[mission_type]
                self._ack(self.reject[1], mission_type)
                return
            if m.seq != len(items):
                self._request(len(items), mission_type)
                return
            items.append(m)
            if len(items) == count:
                del self.receiving[mission_type]
                if mission_type == 0:  # ArduPilot overwrites item 0 with its own home
                    lat, lon, alt = HOME
                    items[0] = mav.MAVLink_mission_item_int_message(
                        255, 190, 0, 0, 16, 0, 1, 0, 0, 0, 0,
                        round(lat * 1e7), round(lon * 1e7), alt, 0,
                    )  # fmt: skip
                self.lists[mission_type] = items
                if self.lose_final_acks > 0:
                    self.lose_final_acks -= 1
                    return
                self._ack(mav.MAV_MISSION_ACCEPTED, mission_type)
            else:
                self._request(len(items), mission_type)
        elif kind == "MISSION_REQUEST_LIST":
            self.emit(mav.MAVLink_mission_count_message(255, 190, len(self.lists[mission_type]),
                                                        mission_type))  # fmt: skip
        elif kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            items = self.lists[mission_type]
            if m.seq < len(items):
                item = items[m.seq]
                item.target_system, item.target_component = 255, 190
                self.emit(item)
        elif kind == "MISSION_CLEAR_ALL":
            self.lists[mission_type] = []
            self._ack(mav.MAV_MISSION_ACCEPTED, mission_type)
        elif kind == "MISSION_SET_CURRENT":
            self.current = m.seq
            self.emit(mav.MAVLink_mission_current_message(m.seq))
        elif kind == "COMMAND_LONG" and m.command == mav.MAV_CMD_COMPONENT_ARM_DISARM:
            if self.arm_refusal is not None:
                self.emit(mav.MAVLink_statustext_message(3, self.arm_refusal.encode()))
                self.emit(mav.MAVLink_command_ack_message(m.command, mav.MAV_RESULT_FAILED))
            else:
                self.armed = bool(m.param1)
                self.emit(mav.MAVLink_command_ack_message(m.command, mav.MAV_RESULT_ACCEPTED))
                self.heartbeat()
        elif kind == "REQUEST_DATA_STREAM":
            lat, lon, alt = HOME
            self.emit(
                mav.MAVLink_global_position_int_message(
                    0, round(lat * 1e7), round(lon * 1e7), round(alt * 1000), 0, 0, 0, 0, 0
                )
            )

    def heartbeat(self) -> None:
        self.emit(mav.MAVLink_heartbeat_message(2, 3, 1 | (128 if self.armed else 0), 4, 3, 3))

    def plan_items(self, mission_type: int = 0) -> list:
        return self.lists[mission_type]


class _FakeLink:
    """The GCS end: send() hands bytes to the vehicle, recv() parses what the vehicle sent."""

    def __init__(self, vehicle: FakeVehicle) -> None:
        self.vehicle = vehicle
        self.sent = 0

    def send(self, message) -> None:
        self.sent += 1
        self.vehicle.deliver(message)

    def recv(self, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            if self.vehicle.to_gcs:
                message = self.vehicle.gcs_parser.parse_char(self.vehicle.to_gcs.popleft())
                if message is not None:
                    return message
                continue
            self.vehicle.idle()
            if self.vehicle.to_gcs:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(remaining, 0.002))

    def close(self) -> None:
        pass


@pytest.fixture
def fake_vehicle() -> Callable[..., FakeVehicle]:
    """Factory: ``fake_vehicle(loss=0.2, old_requests=True, ...)``."""
    return FakeVehicle


# ---------------------------------------------------------------- real sockets: SITL backends


@contextmanager
def ardupilot_sitl(binary: str, *, speedup: float, instance: int = 0):
    """Start real ArduCopter SITL (``--model +``) and yield its TCP connection string."""
    lat, lon, alt = HOME
    command = [binary, "--model", "+", "--speedup", str(speedup), "-w", "-I", str(instance),
               "--home", f"{lat},{lon},{alt},0"]  # fmt: skip
    defaults = os.environ.get("ARDUPILOT_DEFAULTS")
    if defaults:
        command += ["--defaults", defaults]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"gridpatrol-ardupilot-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield f"tcp:127.0.0.1:{5760 + 10 * instance}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ardupilot_binary() -> str | None:
    value = os.environ.get("ARDUPILOT_SITL")
    if not value:
        return None
    return shutil.which(value) or (value if Path(value).is_file() else None)


BACKENDS = [
    "gridpatrol-sim",
    pytest.param(
        "ardupilot",
        marks=pytest.mark.skipif(
            _ardupilot_binary() is None,
            reason="set ARDUPILOT_SITL to an arducopter SITL binary to run against real ArduPilot",
        ),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def start_vehicle(backend: str):
    """Factory ``start_vehicle(speedup=..., params=..., out=...)`` → connection string; the
    simulator (or ArduPilot process) is stopped when the test ends."""
    stack: list = []

    def start(*, speedup: float = 20.0, params: dict | None = None, out: str | None = None) -> str:
        if backend == "ardupilot":
            if out is not None:
                pytest.skip("the lossy relay test needs a UDP output; run it on our simulator")
            manager = ardupilot_sitl(_ardupilot_binary(), speedup=min(speedup, 10.0))
            url = manager.__enter__()
            stack.append(manager)
            return url
        from simulator import Sitl

        sitl = Sitl(home=HOME, speedup=speedup, params=params, out=out).start()
        stack.append(sitl)
        return sitl.connection_string

    yield start
    for item in reversed(stack):
        if hasattr(item, "stop"):
            item.stop()
        else:
            item.__exit__(None, None, None)


class LossyUdpRelay:
    """A UDP relay between a ground station and a vehicle that drops and reorders datagrams.

    The vehicle sends to ``vehicle_port``; the ground station sends to ``gcs_port``. Each datagram
    is dropped with probability ``loss`` and, with probability ``reorder``, held back and sent
    after the next one, in both directions.
    """

    def __init__(self, *, loss: float = 0.2, reorder: float = 0.05, seed: int = 4) -> None:
        self.loss = loss
        self.reorder = reorder
        self.rng = random.Random(seed)
        self.gcs_side = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.gcs_side.bind(("127.0.0.1", 0))
        self.vehicle_side = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.vehicle_side.bind(("127.0.0.1", 0))
        self.gcs_port = self.gcs_side.getsockname()[1]
        self.vehicle_port = self.vehicle_side.getsockname()[1]
        self.gcs_addr: tuple[str, int] | None = None
        self.vehicle_addr: tuple[str, int] | None = None
        self.held: dict[int, bytes | None] = {0: None, 1: None}
        self.counts = {"forwarded": 0, "dropped": 0, "reordered": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lossy-relay", daemon=True)

    def __enter__(self) -> LossyUdpRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.gcs_side.close()
        self.vehicle_side.close()

    def _forward(self, direction: int, data: bytes, out: socket.socket, to) -> None:
        if to is None:
            return
        if self.rng.random() < self.loss:
            self.counts["dropped"] += 1
            return
        if self.held[direction] is None and self.rng.random() < self.reorder:
            self.held[direction] = data
            self.counts["reordered"] += 1
            return
        out.sendto(data, to)
        self.counts["forwarded"] += 1
        held, self.held[direction] = self.held[direction], None
        if held is not None:
            out.sendto(held, to)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.gcs_side, self.vehicle_side], [], [], 0.05)
            for sock in ready:
                try:
                    data, addr = sock.recvfrom(65535)
                except OSError:
                    continue
                if sock is self.gcs_side:
                    self.gcs_addr = addr
                    self._forward(0, data, self.vehicle_side, self.vehicle_addr)
                else:
                    self.vehicle_addr = addr
                    self._forward(1, data, self.gcs_side, self.gcs_addr)


@pytest.fixture
def lossy_relay():
    with LossyUdpRelay() as relay:
        yield relay
