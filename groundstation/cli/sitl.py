"""`gridpatrol sitl`: run the built-in ArduCopter simulator until interrupted."""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from gis.messages import counted

if TYPE_CHECKING:
    from simulator import Sitl

__all__ = ["RenderProgress", "sitl_command"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class RenderProgress:
    """When to say how many photos are still rendering: once `lag` or more are waiting, on a
    change at most every `every_s` seconds, and once more when they have all been written."""

    every_s: float = 5.0
    lag: int = 2
    said: int = 0
    said_at: float = -math.inf

    def update(self, pending: int, now: float) -> str | None:
        """The line to print for `pending` photos at monotonic time `now`, or None."""
        if pending >= self.lag and pending != self.said and now - self.said_at >= self.every_s:
            self.said, self.said_at = pending, now
            return f"{counted(pending, 'photo')} still rendering"
        if pending == 0 and self.said:
            self.said, self.said_at = 0, now
            return "all photos rendered"
        return None


class StopSignals:
    """Counts SIGINT/SIGTERM while in use (main thread only) instead of dying on them."""

    def __init__(self) -> None:
        self.count = 0
        self.name = ""
        self.names: list[str] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in _STOP_SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.count += 1
        self.name = signal.Signals(number).name
        self.names.append(self.name)


def _finish_photos(sitl: Sitl, signals: StopSignals, *, timeout: float) -> int:
    """Wait (at most `timeout` s) for the photos still rendering, saying how many remain; a
    stop signal meanwhile abandons them. Returns how many photos were abandoned."""
    signalled = signals.count  # before saying so: an interrupt answering the line abandons
    pending = sitl.photos_pending
    if not pending:
        return 0
    click.echo(
        f"finishing {counted(pending, 'photo')} still rendering (at most {timeout:g} s; "
        "interrupt again to abandon them)"
    )
    deadline = time.monotonic() + timeout
    progress = RenderProgress(lag=1, said=pending, said_at=time.monotonic())
    while sitl.photos_pending:
        if signals.count > signalled:
            lost = sitl.abandon_photos()
            click.echo(f"warning: abandoned {counted(lost, 'photo')} still rendering", err=True)
            return lost
        left = deadline - time.monotonic()
        if left <= 0:
            lost = sitl.abandon_photos()
            click.echo(
                f"warning: gave up after {timeout:g} s: {counted(lost, 'photo')} not rendered",
                err=True,
            )
            return lost
        sitl.camera.wait_idle(timeout=min(0.2, left))
        line = progress.update(sitl.photos_pending, time.monotonic())
        if line:
            click.echo(line)
    return 0


def _floats(value: str, count: int, what: str) -> tuple[float, ...]:
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {what}") from None
    if len(numbers) != count:
        raise click.BadParameter(f"{value!r} is not {what}")
    return numbers


def _home(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float, float]:
    lat, lon, alt = _floats(value, 3, "LAT,LON,ALT (degrees, degrees, metres AMSL)")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise click.BadParameter(
            f"{value!r}: latitude must be within ±90 and longitude within ±180"
        )
    return lat, lon, alt


def _wind(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float]:
    speed, direction = _floats(value, 2, "SPEED,DIR (m/s, degrees the wind blows from)")
    if speed < 0:
        raise click.BadParameter(f"{value!r}: wind speed cannot be negative")
    if not 0 <= direction <= 360:
        raise click.BadParameter(f"{value!r}: wind direction must be 0 to 360 degrees")
    return speed, direction


@click.command("sitl")
@click.option(
    "--home",
    default="32.51,120.14,5",
    show_default=True,
    callback=_home,
    help="Home position LAT,LON,ALT (altitude above mean sea level, m).",
)
@click.option(
    "--listen",
    default="tcp:127.0.0.1:5760",
    show_default=True,
    help="TCP address ground stations connect to (port 0 picks a free port).",
)
@click.option(
    "--out", default=None, help="Also send to a UDP ground station, e.g. udp:127.0.0.1:14550."
)
@click.option(
    "--speedup",
    type=click.FloatRange(min=0.01, max=1000),
    default=1.0,
    show_default=True,
    help="Simulated seconds per wall-clock second.",
)
@click.option(
    "--world",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Georeferenced GeoTIFF the camera photographs.",
)
@click.option(
    "--camera",
    "camera_name",
    default="phantom4pro",
    show_default=True,
    help="Camera preset name or JSON file; its trigger events are sent as CAMERA_FEEDBACK.",
)
@click.option(
    "--photos",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for photos and the photo log (photos.csv).",
)
@click.option(
    "--wind",
    default="0,0",
    show_default=True,
    callback=_wind,
    help="Wind SPEED,DIR: m/s, and the direction it blows from in degrees.",
)
@click.option(
    "--params",
    "params_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="ArduPilot parameter file (NAME VALUE per line).",
)
@click.option(
    "--photo-max-px",
    type=click.IntRange(min=16),
    default=None,
    help="Render photos with at most this many pixels on the long side.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this many wall-clock seconds instead of waiting for Ctrl-C.",
)
@click.option(
    "--photo-timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="On stop, wait at most this many seconds for photos still rendering "
    "(interrupting again abandons them).",
)
def sitl_command(
    home: tuple[float, float, float],
    listen: str,
    out: str | None,
    speedup: float,
    world: Path | None,
    camera_name: str | None,
    photos: Path | None,
    wind: tuple[float, float],
    params_file: Path | None,
    photo_max_px: int | None,
    duration: float | None,
    photo_timeout: float,
) -> None:
    """Run a simulated ArduCopter that ground stations reach over MAVLink.

    Prints one line per state change (mode, arming, mission item reached, photo, failsafe),
    and how many photos are still rendering when renders lag behind the flight. On Ctrl-C or
    SIGTERM the vehicle stops at once and the photos still rendering are finished (see
    --photo-timeout); a second interrupt abandons them. Exits 130 after Ctrl-C, 0 after SIGTERM.
    """
    from gis.camera import load_camera
    from simulator import Sitl
    from simulator.params import read_parm_file

    camera = load_camera(camera_name)
    params = read_parm_file(params_file) if params_file else None
    sitl = Sitl(
        home=home,
        listen=listen,
        out=out,
        speedup=speedup,
        world=world,
        camera=camera,
        photos_dir=photos,
        wind=wind,
        params=params,
        on_event=click.echo,
        photo_max_px=photo_max_px,
    )
    with StopSignals() as signals:
        sitl.start()
        try:
            _announce(sitl, out=out, speedup=speedup, world=world, home=home)
            _run(sitl, signals, duration=duration)
        finally:
            sitl.stop_vehicle()
            lost = _finish_photos(sitl, signals, timeout=photo_timeout)
            sitl.stop(photo_timeout=0.0)
    line = (
        f"stopped after {sitl.sim_time:.1f} simulated seconds, {counted(len(sitl.photos), 'photo')}"
    )
    click.echo(line + (f" ({lost} abandoned)" if lost else ""))
    if sitl.camera.temporary_dir:
        click.echo(f"removed the temporary photo directory {sitl.photos_dir}")
    if "SIGINT" in signals.names:  # Ctrl-C ends with the shell's status for it; SIGTERM, a
        # service manager's stop, stays a clean exit
        from groundstation.cli import INTERRUPTED_EXIT

        raise click.exceptions.Exit(INTERRUPTED_EXIT)


def _announce(
    sitl: Sitl,
    *,
    out: str | None,
    speedup: float,
    world: Path | None,
    home: tuple[float, float, float],
) -> None:
    click.echo(
        f"SITL ArduCopter listening on {sitl.connection_string}"
        + (f", sending to {out}" if out else "")
        + f", speed-up {speedup:g}x"
    )
    if sitl.photos_dir is not None:
        temporary = " (temporary, removed on exit: keep photos with --photos)"
        click.echo(
            f"photos in {sitl.photos_dir}" + (temporary if sitl.camera.temporary_dir else "")
        )
        if world is None:  # the log is written, but there is nothing to photograph
            click.echo(
                "warning: no --world GeoTIFF: camera triggers are logged in photos.csv "
                "without images",
                err=True,
            )
    if world is not None:
        warning = _world_warning(world, home)
        if warning:
            click.echo(f"warning: {warning}", err=True)


def _world_warning(world: Path, home: tuple[float, float, float]) -> str | None:
    """One line when home lies off the world raster (every photo near it would be a plain
    field), saying where the raster lies; None when it is on it."""
    from gis.raster import open_tiff, raster_footprint

    with open_tiff(world, name=f"world raster {world}") as dataset:
        footprint = raster_footprint(dataset.crs, dataset.transform, dataset.width, dataset.height)
    lat, lon, _ = home
    if footprint.contains(lon, lat):
        return None
    return (
        f"home {lat:.6f},{lon:.6f} lies outside the world raster {world} "
        f"({footprint.text()}): photos there show a plain field; give --home on the raster "
        "or a --world that covers the flight"
    )


def _run(sitl: Sitl, signals: StopSignals, *, duration: float | None) -> None:
    """Run until `duration` wall-clock seconds pass or a stop signal comes."""
    from simulator.errors import SimulatorError

    started = time.monotonic()
    progress = RenderProgress()
    while duration is None or time.monotonic() - started < duration:
        if signals.count:
            click.echo("interrupted" if signals.name == "SIGINT" else f"stopping on {signals.name}")
            return
        if sitl.error is not None:
            raise SimulatorError(f"simulator stopped: {sitl.error}")
        line = progress.update(sitl.photos_pending, time.monotonic())
        if line:
            click.echo(line)
        time.sleep(0.1)
