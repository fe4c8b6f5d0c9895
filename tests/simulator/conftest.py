"""Fixtures: a running simulator and a plain-pymavlink ground station talking to it over TCP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymavlink import mavutil

from simulator import Sitl

HOME = (32.51, 120.14, 5.0)
FAST = {"SIM_GPS_DELAY": 1.0, "SIM_MIS_DELAY": 0.0}


@dataclass
class Gcs:
    """A minimal ground station built on plain pymavlink, with timeouts on every wait."""

    conn: mavutil.mavfile

    @property
    def mav(self):
        return self.conn.mav

    def wait(self, kind: str | list[str], *, timeout: float = 10.0, condition=None):
        deadline = time.monotonic() + timeout
        kinds = [kind] if isinstance(kind, str) else kind
        while time.monotonic() < deadline:
            message = self.conn.recv_match(type=kinds, blocking=True, timeout=0.2)
            if message is not None and (condition is None or condition(message)):
                return message
        raise AssertionError(f"no {kinds} within {timeout} s")

    def collect(self, kind: str | list[str], *, until, timeout: float):
        """All messages of `kind` until `until(message)` is true for one of them."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.conn.recv_match(type=kind, blocking=True, timeout=0.2)
            if message is None:
                continue
            seen.append(message)
            if until(message):
                return seen
        raise AssertionError(f"condition not met within {timeout} s; saw {len(seen)} messages")

    def heartbeat(self) -> None:
        self.mav.heartbeat_send(
            mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0
        )

    def command(self, command: int, *params: float, timeout: float = 5.0):
        values = [float(p) for p in params] + [0.0] * (7 - len(params))
        self.mav.command_long_send(1, 1, command, 0, *values)
        return self.wait("COMMAND_ACK", timeout=timeout, condition=lambda m: m.command == command)

    def set_mode(self, mode: int):
        return self.command(mavutil.mavlink.MAV_CMD_DO_SET_MODE, 1, mode)

    def arm(self):
        return self.command(mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1)

    def set_param(self, name: str, value: float):
        self.mav.param_set_send(1, 1, name.encode(), value, mavutil.mavlink.MAV_PARAM_TYPE_REAL32)
        return self.wait("PARAM_VALUE", condition=lambda m: m.param_id == name)

    def wait_gps(self, timeout: float = 10.0) -> None:
        self.mav.request_data_stream_send(1, 1, mavutil.mavlink.MAV_DATA_STREAM_ALL, 4, 1)
        self.wait("GPS_RAW_INT", timeout=timeout, condition=lambda m: m.fix_type >= 3)

    def upload(self, items: list[tuple], *, mission_type: int = 0, timeout: float = 20.0) -> int:
        """Upload (frame, command, p1..p4, lat, lon, alt) tuples; returns the MISSION_ACK type."""
        self.mav.mission_count_send(1, 1, len(items), mission_type)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.conn.recv_match(
                type=["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                blocking=True,
                timeout=0.2,
            )
            if message is None or getattr(message, "mission_type", 0) != mission_type:
                continue
            if message.get_type() == "MISSION_ACK":
                return message.type
            frame, command, p1, p2, p3, p4, lat, lon, alt = items[message.seq]
            self.mav.mission_item_int_send(
                1,
                1,
                message.seq,
                frame,
                command,
                0,
                1,
                p1,
                p2,
                p3,
                p4,
                round(lat * 1e7) if frame in (0, 3) else int(lat),
                round(lon * 1e7) if frame in (0, 3) else int(lon),
                alt,
                mission_type,
            )
        raise AssertionError("mission upload did not finish")

    def download(
        self, *, mission_type: int = 0, use_int: bool = True, timeout: float = 20.0
    ) -> list:
        self.mav.mission_request_list_send(1, 1, mission_type)
        count = self.wait("MISSION_COUNT", condition=lambda m: m.mission_type == mission_type).count
        items = []
        kind = "MISSION_ITEM_INT" if use_int else "MISSION_ITEM"
        for seq in range(count):
            for _attempt in range(5):
                if use_int:
                    self.mav.mission_request_int_send(1, 1, seq, mission_type)
                else:
                    self.mav.mission_request_send(1, 1, seq, mission_type)
                message = self.conn.recv_match(type=kind, blocking=True, timeout=2.0)
                if message is not None and message.seq == seq:
                    items.append(message)
                    break
            else:
                raise AssertionError(f"item {seq} never came")
        self.mav.mission_ack_send(1, 1, 0, mission_type)
        return items


@pytest.fixture
def make_sitl() -> Iterator:
    """Start simulators (stopped at the end of the test) with fast boot parameters by default."""
    started: list[Sitl] = []

    def factory(**options) -> Sitl:
        params = dict(FAST)
        params.update(options.pop("params", {}) or {})
        options.setdefault("home", HOME)
        options.setdefault("speedup", 50)
        sitl = Sitl(params=params, **options).start()
        started.append(sitl)
        return sitl

    yield factory
    for sitl in started:
        sitl.stop()


@pytest.fixture
def connect() -> Iterator:
    connections: list = []

    def factory(sitl: Sitl, *, source_system: int = 255, source_component: int = 190) -> Gcs:
        conn = mavutil.mavlink_connection(
            sitl.connection_string, source_system=source_system, source_component=source_component
        )
        connections.append(conn)
        gcs = Gcs(conn)
        assert conn.wait_heartbeat(timeout=5) is not None
        return gcs

    yield factory
    for conn in connections:
        conn.close()
