"""`Sitl`: the public entry point that wires clock, autopilot, MAVLink server and camera together
and runs them on one background stepping thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gis.camera import Camera
from gis.messages import counted
from simulator.autopilot import (
    ArmedChanged,
    Autopilot,
    CameraTrigger,
    Event,
    ItemReached,
    Mode,
    ModeChanged,
    Text,
)
from simulator.camera import PhotoCamera, PhotoRecord
from simulator.clock import SimClock
from simulator.errors import SimulatorConfigError, SimulatorError
from simulator.mavlink_server import MavlinkServer
from simulator.params import ParamTable

__all__ = ["Sitl", "VehicleSnapshot", "describe"]

log = logging.getLogger(__name__)

_MAX_STEPS_PER_LOOP = 250
_PHOTO_FINISH_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class VehicleSnapshot:
    """The vehicle as a ground station would describe it, at one simulated instant."""

    time_s: float
    mode: str
    armed: bool
    landed: bool
    lat: float
    lon: float
    alt_amsl: float
    relative_alt: float
    ground_speed: float
    yaw_deg: float
    battery_voltage: float
    battery_consumed_mah: float
    current_seq: int


class Sitl:
    """A simulated ArduCopter reachable over MAVLink (see the module and package docs).

    Extra keyword options beyond the agreed API: `on_event` (called with a one-line description of
    every state change, from the simulator thread), `step_s` (physics step in simulated seconds),
    `photo_max_px` (render photos smaller than the camera's resolution, long side in pixels) and
    `uid` (the board serial reported in AUTOPILOT_VERSION; random per simulator by default).
    """

    def __init__(
        self,
        *,
        home: tuple[float, float, float],
        listen: str = "tcp:127.0.0.1:0",
        out: str | None = None,
        speedup: float = 1.0,
        world: str | Path | None = None,
        camera: Camera | None = None,
        photos_dir: str | Path | None = None,
        wind: tuple[float, float] = (0.0, 0.0),
        params: Mapping[str, float] | None = None,
        sysid: int = 1,
        compid: int = 1,
        on_event: Callable[[str], None] | None = None,
        step_s: float = 0.02,
        photo_max_px: int | None = None,
        uid: int | None = None,
    ) -> None:
        home = _check_home(home)
        speed, direction = _check_wind(wind)
        if not speedup or not speedup > 0:
            raise SimulatorConfigError(f"speed-up must be a positive number, got {speedup!r}")
        overrides: dict[str, float] = {
            "SYSID_THISMAV": sysid,
            "SIM_SPEEDUP": speedup,
            "SIM_WIND_SPD": speed,
            "SIM_WIND_DIR": direction,
        }
        if camera is not None or world is not None or photos_dir is not None:
            overrides["CAM1_TYPE"] = 1
        overrides.update({name.upper(): value for name, value in (params or {}).items()})
        self.params = ParamTable(overrides)
        self.clock = SimClock(speedup=speedup, step_s=step_s)
        self.autopilot = Autopilot(home=home, params=self.params)
        self.server = MavlinkServer(
            self.autopilot,
            self.clock,
            listen=listen,
            out=out,
            sysid=int(self.params["SYSID_THISMAV"]),  # a --params file may set it
            compid=compid,
            on_param=self._param_changed,
            uid=uid,
        )
        self.camera = PhotoCamera(
            camera=camera,
            world=world,
            photos_dir=photos_dir,
            unix_time=self.clock.unix_time,
            max_px=photo_max_px,
        )
        self.on_event = on_event
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._snapshot: VehicleSnapshot | None = None
        self.error: BaseException | None = None

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sitl:
        """Bind the sockets and start flying in a background thread; returns self."""
        if self._thread is not None:
            raise SimulatorError("this simulator has already been started")
        self.server.open()
        try:
            self.camera.start()
        except BaseException:
            self.server.close()
            raise
        self.clock.rebase()
        self._thread = threading.Thread(target=self._run, name="gridpatrol-sitl", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        return self

    def stop_vehicle(self) -> None:
        """Stop the vehicle and close every socket; photos still rendering carry on."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=10.0)
        self.server.close()

    def stop(self, *, photo_timeout: float = _PHOTO_FINISH_TIMEOUT_S) -> int:
        """Stop the vehicle, close every socket and finish writing pending photos within
        `photo_timeout` seconds; returns how many photos were abandoned unwritten."""
        self.stop_vehicle()
        return self.camera.stop(timeout=photo_timeout)

    def __enter__(self) -> Sitl:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- public views --------------------------------------------------------------------------

    @property
    def connection_string(self) -> str:
        """Where a ground station connects, e.g. 'tcp:127.0.0.1:54321' (the real bound port)."""
        if self.server.bound is None:
            raise SimulatorError("the simulator is not started: no connection string yet")
        return str(self.server.bound)

    @property
    def photos(self) -> list[PhotoRecord]:
        """Photo records written so far (each with its file when a world raster is rendered)."""
        return self.camera.records()

    @property
    def photos_dir(self) -> Path | None:
        return self.camera.photos_dir

    @property
    def photos_pending(self) -> int:
        """Photos triggered but not yet written (renders may lag the flight, see the camera)."""
        return self.camera.pending

    def abandon_photos(self) -> int:
        """Give up on the photos not yet written; returns how many."""
        return self.camera.abandon()

    @property
    def sim_time(self) -> float:
        return self.clock.now

    def snapshot(self) -> VehicleSnapshot:
        """The latest vehicle state (updated by the simulator thread every loop)."""
        with self._lock:
            if self._snapshot is not None:
                return self._snapshot
        return self._take_snapshot()

    def wait_photos(self, *, timeout: float = 60.0) -> list[PhotoRecord]:
        """Block until every triggered photo has been written; returns the records."""
        if not self.camera.wait_idle(timeout=timeout):
            pending = counted(self.camera.pending, "photo")
            raise SimulatorError(f"{pending} still being written after {timeout:g} s")
        return self.photos

    # ---- the stepping thread -------------------------------------------------------------------

    def _run(self) -> None:
        self._ready.set()
        try:
            while not self._stop.is_set():
                for _ in range(self.clock.steps_due(limit=_MAX_STEPS_PER_LOOP)):
                    now = self.clock.advance()
                    self.autopilot.tick(now, self.clock.step_s)
                    if self.autopilot.events:
                        self._dispatch(self.autopilot.drain_events())
                # The snapshot goes first: a client that sees a state over MAVLink must find
                # it in `snapshot()` too.
                self._publish_snapshot()
                self.server.send_periodic()
                wait = min(self.clock.wall_until_next_step(), 0.01)
                self.server.poll(wait)
                if self.autopilot.events:  # commands handled during poll
                    self._publish_snapshot()
                    self._dispatch(self.autopilot.drain_events())
                    self.server.flush()
        except (
            BaseException
        ) as exc:  # surfaced to the owner via .error; the thread must not vanish silently
            self.error = exc
            log.exception("simulator thread failed")

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, CameraTrigger):
                self.camera.submit(event)
        # Photos still rendering at the disarm finish in the background: the vehicle never waits
        # for them (`wait_photos` does), so it reports the landing and stays responsive.
        self.server.publish(events)
        if self.on_event is not None:
            for event in events:
                line = describe(event, self.autopilot)
                if line:
                    self.on_event(line)

    def _take_snapshot(self) -> VehicleSnapshot:
        ap = self.autopilot
        lat, lon, amsl, relative = ap.position()
        return VehicleSnapshot(
            time_s=ap.now,
            mode=ap.mode.name,
            armed=ap.armed,
            landed=ap.landed,
            lat=lat,
            lon=lon,
            alt_amsl=amsl,
            relative_alt=relative,
            ground_speed=ap.state.ground_speed,
            yaw_deg=ap.state.yaw_deg,
            battery_voltage=ap.state.voltage,
            battery_consumed_mah=ap.state.consumed_mah,
            current_seq=ap.current_seq,
        )

    def _publish_snapshot(self) -> None:
        snapshot = self._take_snapshot()
        with self._lock:
            self._snapshot = snapshot

    def _param_changed(self, name: str, value: float) -> None:
        if name in ("SIM_WIND_SPD", "SIM_WIND_DIR"):
            self.autopilot.update_wind()


def describe(event: Event, autopilot: Autopilot) -> str:
    """One human line for a state change (the `gridpatrol sitl` output)."""
    stamp = f"[{autopilot.now:8.1f}s]"
    if isinstance(event, ModeChanged):
        return f"{stamp} mode {Mode(event.mode).name}"
    if isinstance(event, ArmedChanged):
        return f"{stamp} {'armed' if event.armed else 'disarmed'}"
    if isinstance(event, ItemReached):
        return f"{stamp} mission item {event.seq} reached"
    if isinstance(event, CameraTrigger):
        return (
            f"{stamp} photo {event.index} at {event.lat:.7f},{event.lon:.7f} "
            f"{event.relative_alt:.1f} m yaw {event.yaw_deg:.0f}"
        )
    if isinstance(event, Text):
        return f"{stamp} {event.text}"
    return ""


def _check_home(home: tuple[float, float, float]) -> tuple[float, float, float]:
    try:
        lat, lon, alt = (float(v) for v in home)
    except (TypeError, ValueError):
        raise SimulatorConfigError(f"home must be (lat, lon, alt_amsl), got {home!r}") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and -500.0 <= alt <= 9000.0):
        raise SimulatorConfigError(f"home ({lat}, {lon}, {alt}) is not a WGS84 lat, lon, altitude")
    return lat, lon, alt


def _check_wind(wind: tuple[float, float]) -> tuple[float, float]:
    try:
        speed, direction = (float(v) for v in wind)
    except (TypeError, ValueError):
        raise SimulatorConfigError(f"wind must be (speed_mps, from_deg), got {wind!r}") from None
    if not (0.0 <= speed <= 60.0):
        raise SimulatorConfigError(f"wind speed {speed} m/s is out of range 0-60")
    return speed, direction % 360.0
