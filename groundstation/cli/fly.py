"""`gridpatrol fly PLAN --connect URL`: upload, verify, check, fly and land one sortie."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from groundstation.cli._files import check_folder
from groundstation.cli.upload import connect_option, plan_argument, transfer_progress

if TYPE_CHECKING:
    from gis.messages import Message
    from missions.link.telemetry import Telemetry

__all__ = ["StatusLine", "fly_command"]


class StatusLine:
    """A live status line: rewritten in place on a terminal, else printed every few seconds."""

    def __init__(self, stream: TextIO, *, every_s: float = 5.0) -> None:
        self.stream = stream
        self.every_s = every_s
        self.tty = stream.isatty()
        self._last = -1e9
        self._width = 0

    def show(self, text: str) -> None:
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            self.stream.flush()
        elif time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self.stream.write(text + "\n")

    def end(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self._width = 0


@click.command("fly")
@plan_argument
@connect_option
@click.option(
    "--log",
    "log_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write telemetry.csv, camera.csv and flight.json here.",
)
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the vehicle and for the pre-flight checks.",
)
@click.option(
    "--endurance",
    default=1500.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Flight time of a full battery in seconds, for the battery check.",
)
@click.option(
    "--reserve",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0, max=100, max_open=True),
    help="Battery percentage that must remain after the mission.",
)
@click.option(
    "--require-fence",
    is_flag=True,
    help="Refuse to fly unless the plan has a geofence, uploaded and enabled on the vehicle.",
)
def fly_command(
    plan_path: Path,
    url: str,
    log_dir: Path | None,
    timeout: float,
    endurance: float,
    reserve: float,
    require_fence: bool,
) -> None:
    """Fly PLAN on the vehicle at URL: upload+verify, pre-flight checks, arm, AUTO, land.

    Exits 0 after landing with a summary, 1 with the reason if anything refuses or a failsafe
    ends the flight.
    """
    from missions.formats import load_mission
    from missions.link import parse_connection_string

    parse_connection_string(url)  # a typo in URL fails before anything is read or opened
    if log_dir is not None:
        check_folder(log_dir, option="--log", what=str(log_dir))
    from missions.link import connect, fly

    plan = load_mission(plan_path)
    status = StatusLine(sys.stderr)
    progress, on_progress = transfer_progress()

    def stop_bars() -> None:  # once: stopped again, rich prints a blank line off a terminal
        if progress.live.is_started:
            progress.stop()

    def on_status(snapshot: Telemetry) -> None:
        stop_bars()  # transfers are over once telemetry flows
        status.show(snapshot.one_line())

    def on_link(message: Message) -> None:  # the status line stands still while the link is down
        stop_bars()
        status.end()
        click.echo(f"{plan_path.name}: {message}", err=True)

    with connect(url, timeout=timeout) as vehicle:
        progress.start()
        try:
            result = fly(
                vehicle, plan, log_dir=log_dir, on_status=on_status, on_progress=on_progress,
                endurance_s=endurance, reserve_pct=reserve, require_fence=require_fence,
                preflight_timeout_s=timeout, on_link=on_link,
            )  # fmt: skip
        finally:
            stop_bars()
            status.end()
    log_note = f"; log in {result.log_dir}" if result.log_dir else ""
    click.echo(f"{plan_path.name}: {result.summary()}{log_note}")
    if not result.all_reached:
        missed = sorted(set(result.waypoints) - set(result.reached))
        click.echo(f"warning: waypoints not reported reached: {missed}", err=True)
