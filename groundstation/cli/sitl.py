"""`gridpatrol sitl`: run the built-in ArduCopter simulator until interrupted."""

from __future__ import annotations

import time
from pathlib import Path

import click

from gis.messages import counted

__all__ = ["sitl_command"]


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
) -> None:
    """Run a simulated ArduCopter that ground stations reach over MAVLink.

    Prints one line per state change (mode, arming, mission item reached, photo, failsafe).
    """
    from gis.camera import load_camera
    from simulator import Sitl
    from simulator.errors import SimulatorError
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
    sitl.start()
    click.echo(
        f"SITL ArduCopter listening on {sitl.connection_string}"
        + (f", sending to {out}" if out else "")
        + f", speed-up {speedup:g}x"
    )
    if sitl.photos_dir is not None:
        click.echo(f"photos in {sitl.photos_dir}")
        if world is None:  # the log is written, but there is nothing to photograph
            click.echo(
                "warning: no --world GeoTIFF: camera triggers are logged in photos.csv "
                "without images",
                err=True,
            )
    started = time.monotonic()
    try:
        while duration is None or time.monotonic() - started < duration:
            if sitl.error is not None:
                raise SimulatorError(f"simulator stopped: {sitl.error}")
            time.sleep(0.1)
    except KeyboardInterrupt:
        click.echo("interrupted")
    finally:
        sitl.stop()
    click.echo(
        f"stopped after {sitl.sim_time:.1f} simulated seconds, {counted(len(sitl.photos), 'photo')}"
    )
