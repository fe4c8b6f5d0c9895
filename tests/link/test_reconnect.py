"""A dropped link: a closed TCP connection is a LinkLost on receive and on send, a reconnect
never waits longer than asked, and a vehicle whose link dropped mid-mission reconnects, keeps
what it knew and counts the waypoints it passed while nobody listened."""

from __future__ import annotations

import math
import socket
import threading
import time

import pytest

from missions.items import Command, MissionItem, MissionPlan
from missions.link import LinkConnectError, connect
from missions.link.connection import open_link
from missions.link.errors import LinkLost
from missions.link.flight import waypoint_sequences
from missions.link.transfer import TransferSettings
from missions.link.vehicle import Vehicle, VehicleSettings
from tests.link.conftest import HOME
from tests.lossy_relay import LossyRelay

LOOPBACK = VehicleSettings(transfer=TransferSettings(timeout_s=0.3, retries=8, max_timeout_s=1.0))


def _listener() -> tuple[socket.socket, str]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server, f"tcp:127.0.0.1:{server.getsockname()[1]}"


def test_a_closed_connection_is_link_lost_on_receive_and_send() -> None:
    from pymavlink.dialects.v20 import ardupilotmega as mav

    server, url = _listener()
    link = open_link(url, timeout=2.0)
    peer, _ = server.accept()
    peer.sendall(mav.MAVLink_heartbeat_message(2, 3, 0, 0, 3, 3).pack(mav.MAVLink(None, 1, 1)))
    assert link.recv(2.0) is not None  # a vehicle: it spoke MAVLink before it closed
    peer.close()
    server.close()
    try:
        with pytest.raises(LinkLost, match="the vehicle closed the connection"):
            link.recv(1.0)
        assert link.lost
        with pytest.raises(LinkLost):  # every later call says so too, not only the first
            link.send(mav.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3))
    finally:
        link.close()
    assert issubclass(LinkLost, LinkConnectError)  # callers catching the old error still do


def test_reconnecting_to_a_closed_port_fails_fast() -> None:
    server, url = _listener()
    server.close()  # nobody listens any more: connects are refused
    started = time.monotonic()
    with pytest.raises(LinkConnectError, match=f"opening {url}"):
        open_link(url, timeout=0.0)
    assert time.monotonic() - started < 0.5


def test_a_vehicle_without_a_connection_string_cannot_reconnect(fake_vehicle) -> None:
    vehicle = Vehicle(fake_vehicle().link, target_system=1, target_component=1)
    with pytest.raises(LinkConnectError, match=r"reconnect: .* nothing to reopen"):
        vehicle.reconnect()


def _offset(north_m: float, east_m: float) -> tuple[float, float]:
    lat = HOME[0] + north_m / 111_320.0
    lon = HOME[1] + east_m / (111_320.0 * math.cos(math.radians(HOME[0])))
    return lat, lon


def _line(n: int, *, spacing_m: float = 40.0, altitude: float = 20.0) -> MissionPlan:
    """Takeoff, ``n`` waypoints due north ``spacing_m`` apart, RTL."""
    items = [MissionItem(Command.NAV_TAKEOFF, alt=altitude)]
    for k in range(1, n + 1):
        lat, lon = _offset(k * spacing_m, 0.0)
        items.append(MissionItem(Command.NAV_WAYPOINT, lat=lat, lon=lon, alt=altitude))
    items.append(MissionItem(Command.NAV_RETURN_TO_LAUNCH))
    return MissionPlan(items=tuple(items), home=HOME, cruise_speed_mps=10.0)


@pytest.mark.slow
def test_vehicle_reconnects_mid_mission_and_counts_the_waypoints_it_missed() -> None:
    from simulator import Sitl

    plan = _line(8)
    waypoints = waypoint_sequences(plan)
    with (
        Sitl(home=HOME, speedup=20, params={"RTL_LOIT_TIME": 0}) as sitl,
        LossyRelay(sitl.connection_string) as proxy,
        connect(proxy.url, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        vehicle.upload(plan)
        vehicle.wait_for(lambda t: t.gps is not None and t.gps.fix_type >= 3 and t.home is not None,
                         timeout=30, step="GPS fix")  # fmt: skip
        vehicle.set_mode("GUIDED")
        vehicle.arm()
        vehicle.takeoff(20.0)
        vehicle.wait_for(lambda t: t.position.relative_alt_m > 15, timeout=30, step="climb")
        vehicle.start_mission()
        vehicle.wait_for(lambda t: waypoints[1] in t.mission.reached, timeout=30, step="wp 2")
        before = vehicle.tracker.snapshot()

        proxy.disconnect()
        with pytest.raises(LinkLost):
            vehicle.pump(2.0)
        with pytest.raises(LinkConnectError):  # nobody listens: refused at once
            vehicle.reconnect(timeout=0.5)
        # the vehicle flies on unheard: at 20x, 0.5 s is 10 s and about 100 m, 2-3 waypoints
        heard = vehicle.tracker.snapshot().mission
        deadline = time.monotonic() + 10
        while sitl.snapshot().current_seq < heard.current + 2:
            assert time.monotonic() < deadline, "the vehicle did not fly on"
            time.sleep(0.02)
        passed = set(range(heard.current, sitl.snapshot().current_seq)) & set(waypoints)
        missed = passed - set(heard.reached)
        assert len(missed) >= 1

        proxy.listen()
        vehicle.reconnect(timeout=2.0)
        heartbeats = vehicle.tracker.heartbeats
        vehicle.wait_for(lambda t: vehicle.tracker.heartbeats > heartbeats + 1, timeout=10,
                         step="heartbeats after reconnect")  # fmt: skip
        vehicle.wait_for(lambda t: missed <= set(t.mission.reached), timeout=10,
                         step="missed waypoints counted")  # fmt: skip
        assert vehicle.tracker.snapshot().photos == before.photos  # the rest was kept
        landed = vehicle.wait_for(lambda t: not t.armed and t.on_ground, timeout=60,
                                  step="landing")  # fmt: skip
    assert set(waypoints) <= set(landed.mission.reached)
    assert proxy.accepted == 2


@pytest.mark.slow
def test_fly_rides_out_a_dropped_link_and_lands_with_every_waypoint(tmp_path) -> None:
    import json

    from missions.link import fly
    from simulator import Sitl

    plan = _line(8)
    dropped = threading.Event()

    def drop_once(snapshot) -> None:
        if not dropped.is_set() and len(snapshot.mission.reached) >= 3:
            dropped.set()
            proxy.disconnect()
            threading.Timer(0.4, proxy.listen).start()  # 8 s of flight unheard at 20x

    with (
        Sitl(home=HOME, speedup=20, params={"RTL_LOIT_TIME": 0}) as sitl,
        LossyRelay(sitl.connection_string) as proxy,
        connect(proxy.url, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        result = fly(vehicle, plan, log_dir=tmp_path / "log", on_status=drop_once)
    assert dropped.is_set() and proxy.accepted == 2
    assert result.landed and result.all_reached and not result.failsafes
    events = json.loads((tmp_path / "log" / "flight.json").read_text())["events"]
    link = [e["text"] for e in events if e["kind"] == "link"]
    assert link[0].startswith("lost: tcp:127.0.0.1:") and link[1].startswith("reconnected after")
