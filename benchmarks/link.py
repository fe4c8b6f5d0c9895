"""Upload time of 100/500/1000-item missions on loopback through a UDP relay, 0 % and 20 % loss.

    .venv/bin/python benchmarks/link.py [--sizes 100 500 1000] [--loss 0 0.2] [--timeout 0.05]

Each run starts our simulator and relays its MAVLink over UDP through a relay that drops the given
share of datagrams in both directions (and, when lossy, reorders 5 %). It uploads a mission plus a
4-vertex fence and one rally point, then verifies. Times are wall-clock seconds for the upload and
for the verifying download; ``retries`` counts the link layer's timeouts. The item timeout defaults
to 50 ms because loopback answers in well under a millisecond; over a telemetry radio keep the
library default (1 s).
"""

from __future__ import annotations

import argparse
import math
import random
import select
import socket
import threading
import time

from missions.items import Command, FencePolygon, Frame, MissionItem, MissionPlan
from missions.link import transfer
from missions.link.transfer import TransferSettings
from missions.link.vehicle import VehicleSettings, connect
from simulator import Sitl

HOME = (30.2741, 120.1551, 12.0)


class Relay:
    """UDP relay dropping ``loss`` of the datagrams each way, holding back ``reorder`` of them."""

    def __init__(self, *, loss: float, reorder: float = 0.05, seed: int = 1) -> None:
        self.loss, self.reorder, self.rng = loss, reorder, random.Random(seed)
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
        for sock in self.sockets:
            sock.bind(("127.0.0.1", 0))
        self.gcs_port, self.vehicle_port = (s.getsockname()[1] for s in self.sockets)
        self.peers: list[tuple[str, int] | None] = [None, None]
        self.held: list[bytes | None] = [None, None]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select(self.sockets, [], [], 0.05)
            for sock in ready:
                side = self.sockets.index(sock)
                data, self.peers[side] = sock.recvfrom(65535)
                other, to = self.sockets[1 - side], self.peers[1 - side]
                if to is None or self.rng.random() < self.loss:
                    continue
                if self.held[side] is None and self.rng.random() < self.reorder:
                    self.held[side] = data
                    continue
                other.sendto(data, to)
                if self.held[side] is not None:
                    other.sendto(self.held[side], to)
                    self.held[side] = None

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def survey(n_items: int) -> MissionPlan:
    """A takeoff, ``n_items - 2`` waypoints on a 10 m grid and an RTL."""
    m_lat = 1 / 111_320.0
    m_lon = m_lat / math.cos(math.radians(HOME[0]))
    items = [MissionItem(Command.NAV_TAKEOFF, alt=40.0)]
    for k in range(n_items - 2):
        row, col = divmod(k, 25)
        items.append(MissionItem(Command.NAV_WAYPOINT, lat=HOME[0] + row * 10 * m_lat,
                                 lon=HOME[1] + col * 10 * m_lon, alt=40.0))  # fmt: skip
    items.append(MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION))
    lat, lon, d = HOME[0], HOME[1], 0.01
    corners = ((lat - d, lon - d), (lat + d, lon - d), (lat + d, lon + d), (lat - d, lon + d))
    fence = FencePolygon(corners, True)
    return MissionPlan(items=tuple(items), home=HOME, fence_polygons=(fence,),
                       rally_points=((HOME[0], HOME[1], 30.0),))  # fmt: skip


def run_once(n_items: int, loss: float, timeout_s: float) -> tuple[float, float, int]:
    """(upload seconds, verify seconds, timeouts) for one fresh simulator."""
    timeouts = 0
    original = transfer.run_transfer

    def counting(channel, machine, **kwargs):  # count the machines' timeouts
        inner = machine.on_timeout

        def on_timeout():
            nonlocal timeouts
            timeouts += 1
            return inner()

        machine.on_timeout = on_timeout
        return original(channel, machine, **kwargs)

    transfer.run_transfer = counting
    settings = VehicleSettings(
        command_timeout_s=0.3, command_retries=10,
        transfer=TransferSettings(timeout_s=timeout_s, retries=25, backoff=1.2,
                                  max_timeout_s=max(0.3, timeout_s)),
    )  # fmt: skip
    plan = survey(n_items)
    try:
        with (
            Relay(loss=loss, reorder=0.05 if loss else 0.0) as relay,
            Sitl(home=HOME, speedup=10, out=f"udp:127.0.0.1:{relay.vehicle_port}"),
            connect(f"udpout:127.0.0.1:{relay.gcs_port}", timeout=30, settings=settings) as vehicle,
        ):
            vehicle.pump(0.5)  # wait out the "no space" refusal right after boot: not timed
            started = time.perf_counter()
            vehicle.upload(plan)
            uploaded = time.perf_counter()
            vehicle.verify(plan)
            verified = time.perf_counter()
    finally:
        transfer.run_transfer = original
    return uploaded - started, verified - uploaded, timeouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--loss", type=float, nargs="+", default=[0.0, 0.2])
    parser.add_argument("--timeout", type=float, default=0.05, help="first item timeout, s")
    args = parser.parse_args()
    print(f"{'items':>6} {'loss':>5} {'upload s':>9} {'verify s':>9} {'items/s':>8} {'retries':>8}")
    for loss in args.loss:
        for size in args.sizes:
            upload_s, verify_s, timeouts = run_once(size, loss, args.timeout)
            rate = (size + 6) / upload_s
            print(f"{size:>6} {loss:>5.0%} {upload_s:>9.2f} {verify_s:>9.2f} {rate:>8.0f} "
                  f"{timeouts:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
