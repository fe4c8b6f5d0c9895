"""`gridpatrol fly PLAN --connect URL`: upload, verify, check, fly and land one sortie."""

from __future__ import annotations

import csv
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import click

from gis.messages import counted, msg
from groundstation.cli._files import check_folder
from groundstation.cli.upload import connect_option, plan_argument, transfer_progress

if TYPE_CHECKING:
    from gis.messages import Message
    from missions.link.telemetry import Telemetry

__all__ = ["STOP_SIGNALS", "StatusLine", "StopSignals", "fly_command"]

#: After landing, wait at most this long (s) for photo files still being written to --photos
#: (a simulator renders them after the flight), and give up sooner when none came for
#: PHOTO_STALL_S.
PHOTO_WAIT_S = 120.0
PHOTO_STALL_S = 10.0
#: File times are compared with the flight's start this loosely (file systems round them).
_MTIME_SLACK_S = 2.0
#: Signals that stop `fly` as Ctrl-C does: Ctrl-C itself, SIGTERM (``timeout``, systemd, kill)
#: and SIGHUP (the SSH session or terminal closed).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopSignals:
    """While in use (main thread only), the first stop signal raises
    :class:`~missions.link.errors.Interrupted` wherever `fly` is, as Ctrl-C raises
    KeyboardInterrupt: an armed vehicle is told to return and flight.json says why. A second
    one raises :class:`~missions.link.errors.StoppedAgain`: the command exits at once, without
    waiting for the vehicle to answer."""

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.received: list[str] = []
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self.handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def handle(self, number: int, frame: FrameType | None) -> None:
        """The signal handler: Interrupted the first time, StoppedAgain after."""
        from missions.link.errors import Interrupted, StoppedAgain, stop_reason

        name = signal.Signals(number).name
        self.received.append(name)
        if len(self.received) == 1:
            raise Interrupted.by_signal(name)
        raise StoppedAgain(
            msg(
                "%(stop)s again: exited at once, without waiting for the vehicle; check "
                "whether it is still armed",
                stop=stop_reason(name),
            ),
            signal_name=name,
        )


class StatusLine:
    """A live status line: rewritten in place on a terminal, else printed every few seconds and
    whenever its ``state`` (the vehicle's mode and arming) changes, so a log shows each phase."""

    def __init__(self, stream: TextIO, *, every_s: float = 5.0) -> None:
        self.stream = stream
        self.every_s = every_s
        self.tty = stream.isatty()
        self._last = -1e9
        self._width = 0
        self._state: object = None

    def show(self, text: str, *, state: object = None) -> None:
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            self.stream.flush()
        elif time.monotonic() - self._last >= self.every_s or state != self._state:
            self._last = time.monotonic()
            self._state = state
            self.stream.write(text + "\n")

    def end(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self._width = 0


@dataclass(frozen=True, slots=True)
class _PhotoFiles:
    """What a photo folder got during a flight: photo files written, and camera triggers that a
    simulator without a world raster logged in its photos.csv with no picture."""

    folder: Path
    written: int
    imageless: int

    @property
    def accounted(self) -> int:
        return self.written + self.imageless


@dataclass(frozen=True, slots=True)
class _PhotoReport:
    """The line on a flight's photos, and whether it is a warning (stderr)."""

    text: str
    warning: bool = False


def _count_photo_files(folder: Path, *, since: float) -> _PhotoFiles:
    """Photo files in ``folder`` (recursively) written since ``since`` (Unix seconds), and the
    rows of a simulator's photo log since then that name no file (its camera saw no world)."""
    from groundstation.ingest import PHOTO_SUFFIXES
    from simulator.camera import LOG_NAME

    if not folder.is_dir():
        return _PhotoFiles(folder, 0, 0)
    written = sum(
        1
        for path in folder.rglob("*")
        if path.suffix.lower() in PHOTO_SUFFIXES and _written_since(path, since)
    )
    return _PhotoFiles(folder, written, _imageless_triggers(folder / LOG_NAME, since=since))


def _written_since(path: Path, since: float) -> bool:
    """Whether ``path`` is a file last written at ``since`` or later (False once it is gone)."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return path.is_file() and stat.st_mtime >= since - _MTIME_SLACK_S


def _imageless_triggers(log: Path, *, since: float) -> int:
    """Rows of a simulator's photos.csv taken since ``since`` whose file is empty."""
    try:
        with log.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return 0
    count = 0
    for row in rows:
        try:
            taken = datetime.fromisoformat(row.get("time") or "").timestamp()
        except ValueError:
            continue
        if taken >= since - _MTIME_SLACK_S and not (row.get("file") or "").strip():
            count += 1
    return count


def _wait_for_photo_files(folder: Path, *, since: float, taken: int) -> _PhotoFiles:
    """Count the flight's photo files until every photo taken is there, none came for
    PHOTO_STALL_S, or PHOTO_WAIT_S passed; says on stderr that it waits."""
    files = _count_photo_files(folder, since=since)
    if files.accounted >= taken:
        return files
    click.echo(
        f"waiting for {counted(taken - files.accounted, 'photo')} to be written to {folder}",
        err=True,
    )
    deadline = time.monotonic() + PHOTO_WAIT_S
    last_change = time.monotonic()
    while files.accounted < taken and time.monotonic() < deadline:
        if time.monotonic() - last_change >= PHOTO_STALL_S:
            break
        time.sleep(0.25)
        now = _count_photo_files(folder, since=since)
        if now != files:
            files, last_change = now, time.monotonic()
    return files


def _photo_report(taken: int, files: _PhotoFiles | None) -> _PhotoReport:
    """What the vehicle took and, with a folder, what was written there: fly itself downloads
    no photo, so a count of photos alone would let the user believe they are somewhere."""
    photos = counted(taken, "photo")
    if files is None:
        return _PhotoReport(
            f"{photos} taken by the vehicle, none downloaded: they stay on the vehicle (a "
            "simulator writes them to its --photos folder: give it as --photos to count them "
            "there)"
        )
    if files.imageless and not files.written:
        return _PhotoReport(
            f"{photos} taken, but the simulator writing to {files.folder} has no world raster "
            "(--world): its camera triggers made no pictures, so there are no photos to "
            "classify",
            warning=True,
        )
    written = f"{counted(files.written, 'photo file')} written to {files.folder} during the flight"
    if files.written == taken:
        return _PhotoReport(f"{photos} taken, {written}")
    if files.written > taken:
        return _PhotoReport(
            f"{photos} taken, but {written}: something else writes there too", warning=True
        )
    missing = taken - files.written
    return _PhotoReport(
        f"{photos} taken, but {written}: {missing} missing (not written there, or not yet)",
        warning=True,
    )


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
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Flight time of a full battery in seconds, for the battery check: overrides the "
    "current the check works out from the vehicle (BATT_CAPACITY, the current measured in "
    "flight, else an assumed 1.5C); without BATT_CAPACITY the check assumes 1500 s.",
)
@click.option(
    "--reserve",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0, max=100, max_open=True),
    help="Battery percentage that must remain after the mission (the vehicle's own low or "
    "critical battery level counts instead when it is higher).",
)
@click.option(
    "--require-fence",
    is_flag=True,
    help="Refuse to fly unless the plan has a geofence, uploaded and enabled on the vehicle.",
)
@click.option(
    "--photos",
    "photos_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder the vehicle's photos are written to (e.g. the simulator's --photos): after "
    "landing, count the photo files written there during the flight against the photos taken.",
)
def fly_command(
    plan_path: Path,
    url: str,
    log_dir: Path | None,
    timeout: float,
    endurance: float | None,
    reserve: float,
    require_fence: bool,
    photos_dir: Path | None,
) -> None:
    """Fly PLAN on the vehicle at URL: upload+verify, pre-flight checks, arm, AUTO, land.

    Exits 0 after landing with a summary (the vehicle's flight time next to the plan's), 1
    with the reason if anything refuses, a failsafe or another controller's mode change ends
    the flight early. Ctrl-C, SIGTERM and SIGHUP stop it alike, with exit status 130: an armed
    vehicle is told to return to launch and the --log folder's flight.json says why; a second
    one exits at once.
    A vehicle already armed and flying this same plan (fly or the ground side was stopped
    mid-flight and fly is run again) is taken over: its mission, fence and rally points are
    compared with PLAN, nothing is uploaded or commanded, and the flight is watched to its end
    (photos, landing, flight.json; flight time from then). One flying another mission is
    refused.
    fly downloads no photo: it counts those the vehicle took, and with --photos the files
    written to that folder during the flight.
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
        status.show(snapshot.one_line(), state=(snapshot.mode, snapshot.armed))

    def on_link(message: Message) -> None:  # the status line stands still while the link is down
        stop_bars()
        status.end()
        click.echo(f"{plan_path.name}: {message}", err=True)

    def on_warning(message: Message) -> None:  # in flight: GPS lost/back, battery low, RTL stuck
        stop_bars()
        status.end()
        click.echo(f"warning: {plan_path.name}: {message}", err=True)

    def on_note(message: Message) -> None:  # a vehicle already flying this plan is taken over
        stop_bars()
        status.end()
        click.echo(f"{plan_path.name}: {message}", err=True)

    started = time.time()  # photo files written since then are this flight's
    with StopSignals(), _stops_reported() as stage:
        with connect(url, timeout=timeout) as vehicle:
            stage[0] = "before takeoff; fly had not armed the vehicle"
            progress.start()
            try:
                result = fly(
                    vehicle, plan, log_dir=log_dir, on_status=on_status,
                    on_progress=on_progress, endurance_s=endurance, reserve_pct=reserve,
                    require_fence=require_fence, preflight_timeout_s=timeout, on_link=on_link,
                    on_warning=on_warning, on_note=on_note,
                )  # fmt: skip
            finally:
                stop_bars()
                status.end()
            stage[0] = "after the flight ended"
        stage[0] = "after the flight ended, before its photo files were counted"
        _report(plan_path, result, photos_dir, started=started)


@contextmanager
def _stops_reported() -> Iterator[list[str]]:
    """A stop that ends fly outside a flight (connecting, the pre-flight steps, waiting for
    photo files), or a second stop: one line on stderr saying so in words and where fly was,
    and exit status 130. Yields the stage's words, which the caller updates as it goes on.
    (A stop in flight ends fly in a FlightAborted saying what was commanded: see the CLI
    group.)"""
    from groundstation.cli import INTERRUPTED_EXIT
    from missions.link.errors import Interrupted, StoppedAgain

    stage = ["while connecting to the vehicle; nothing was flown"]
    try:
        yield stage
    except Interrupted as exc:
        line = str(exc) if isinstance(exc, StoppedAgain) else f"{exc} {stage[0]}"
        click.echo(f"error: {line}", err=True)
        raise click.exceptions.Exit(INTERRUPTED_EXIT) from None


def _report(plan_path: Path, result: Any, photos_dir: Path | None, *, started: float) -> None:
    """The flight's summary on stdout, then its photos (waiting for their files to appear)."""
    log_note = f"; log in {result.log_dir}" if result.log_dir else ""
    click.echo(f"{plan_path.name}: {result.summary()}{log_note}")
    if not result.all_reached:
        missed = sorted(set(result.waypoints) - set(result.reached))
        click.echo(f"warning: waypoints not reported reached: {missed}", err=True)
    taken = result.photos + result.photos_unreported
    if taken or photos_dir is not None:
        files = (
            None
            if photos_dir is None
            else _wait_for_photo_files(photos_dir, since=started, taken=taken)
        )
        report = _photo_report(taken, files)
        if report.warning:
            click.echo(f"warning: {plan_path.name}: {report.text}", err=True)
        else:
            click.echo(f"{plan_path.name}: {report.text}")
