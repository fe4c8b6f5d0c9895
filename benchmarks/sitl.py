"""Benchmark the SITL: fly a ~20-minute survey over TCP and print the speed-up achieved and the
MAVLink message rates.

    .venv/bin/python benchmarks/sitl.py [--speedup 100] [--lines 11] [--photos]

The client is plain pymavlink with all streams requested at 4 Hz (what a ground station asks for).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from pymavlink import mavutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.camera import Camera
from simulator import Sitl

HOME = (32.51, 120.14, 5.0)


def survey(
    lines: int, length_m: float, spacing_m: float, alt_m: float, trigger_m: float
) -> list[tuple]:
    """A lawnmower mission: takeoff, `lines` survey lines with distance triggering, RTL."""

    def at(north: float, east: float) -> tuple[float, float]:
        return (
            HOME[0] + north / 111_320.0,
            HOME[1] + east / (111_320.0 * math.cos(math.radians(HOME[0]))),
        )

    items = [(0, 16, 0, 0, 0, 0, *HOME), (3, 22, 0, 0, 0, 0, 0, 0, alt_m)]
    for line in range(lines):
        east = 50.0 + line * spacing_m
        ends = (50.0, 50.0 + length_m) if line % 2 == 0 else (50.0 + length_m, 50.0)
        items.append((3, 16, 0, 0, 0, 0, *at(ends[0], east), alt_m))
        items.append((2, 206, trigger_m, 0, 1, 0, 0, 0, 0))
        items.append((3, 16, 0, 0, 0, 0, *at(ends[1], east), alt_m))
        items.append((2, 206, 0, 0, 0, 0, 0, 0, 0))
    items.append((3, 20, 0, 0, 0, 0, 0, 0, 0))
    return items


def upload(conn, items: list[tuple]) -> None:
    conn.mav.mission_count_send(1, 1, len(items), 0)
    while True:
        message = conn.recv_match(
            type=["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"], blocking=True, timeout=5
        )
        if message is None:
            raise SystemExit("mission upload timed out")
        if message.get_type() == "MISSION_ACK":
            if message.type != 0:
                raise SystemExit(f"mission refused: {message.type}")
            return
        frame, command, p1, p2, p3, p4, lat, lon, alt = items[message.seq]
        scale = 1e7 if frame in (0, 3) else 1
        conn.mav.mission_item_int_send(
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
            round(lat * scale),
            round(lon * scale),
            alt,
            0,
        )


def command(conn, number: int, *params: float) -> int:
    values = [float(p) for p in params] + [0.0] * (7 - len(params))
    conn.mav.command_long_send(1, 1, number, 0, *values)
    ack = conn.recv_match(
        type="COMMAND_ACK", blocking=True, timeout=5, condition=f"COMMAND_ACK.command=={number}"
    )
    return -1 if ack is None else ack.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speedup", type=float, default=100.0)
    parser.add_argument("--lines", type=int, default=11)
    parser.add_argument("--length", type=float, default=1000.0)
    parser.add_argument(
        "--photos", action="store_true", help="log photos every 25 m (no rendering)"
    )
    args = parser.parse_args()

    photos_dir = Path(tempfile.mkdtemp(prefix="sitl-bench-")) if args.photos else None
    camera = Camera("bench", 13.2, 8.8, 8.8, 5472, 3648)
    params = {"SIM_GPS_DELAY": 2.0, "SIM_MIS_DELAY": 0.0, "CAM1_TYPE": 1 if args.photos else 0}
    with Sitl(
        home=HOME, speedup=args.speedup, camera=camera, photos_dir=photos_dir, params=params
    ) as sitl:
        conn = mavutil.mavlink_connection(sitl.connection_string, source_system=255)
        conn.wait_heartbeat(timeout=5)
        conn.mav.request_data_stream_send(1, 1, mavutil.mavlink.MAV_DATA_STREAM_ALL, 4, 1)
        upload(conn, survey(args.lines, args.length, 50.0, 60.0, 25.0))
        while conn.recv_match(type="GPS_RAW_INT", blocking=True, timeout=5).fix_type < 3:
            pass
        if command(conn, 176, 1, 3) != 0 or command(conn, 400, 1) != 0:
            raise SystemExit("could not start the mission")
        sim0, wall0 = sitl.sim_time, time.monotonic()
        sent0, received, reached = sitl.server.messages_sent, 0, 0
        while True:
            message = conn.recv_match(blocking=True, timeout=10)
            if message is None:
                raise SystemExit("the vehicle went silent")
            received += 1
            kind = message.get_type()
            if kind == "MISSION_ITEM_REACHED":
                reached += 1
            if kind == "HEARTBEAT" and not message.base_mode & 128:
                break
        wall = time.monotonic() - wall0
        flown = sitl.sim_time - sim0
        sent = sitl.server.messages_sent - sent0
        conn.close()
        photos = len(sitl.wait_photos(timeout=600.0))  # renders may lag the landing
    print(
        f"mission: {args.lines} lines x {args.length:.0f} m, "
        f"{reached} items reached, {photos} photos"
    )
    print(f"flight time (simulated): {flown / 60:.1f} min")
    print(
        f"wall time: {wall:.1f} s  ->  speed-up achieved {flown / wall:.1f}x "
        f"(requested {args.speedup:g}x)"
    )
    print(
        f"messages: {sent / wall:.0f}/s sent by the vehicle, "
        f"{received / wall:.0f}/s decoded by the client"
    )


if __name__ == "__main__":
    main()
