"""Flight sessions: link a vehicle (or start our SITL), upload and verify, run the pre-flight
checks, take the pilot's commands, stream telemetry, and store the flight when it has landed.

One :class:`FlightRunner` thread owns each vehicle (the link's :class:`~missions.link.Vehicle` is
single-threaded on purpose): it pumps telemetry, evaluates the checks while on the ground, runs
commands queued by the web threads one at a time, and publishes numbered events to an
:class:`EventLog`. The log keeps the history, so a page that reconnects with ``Last-Event-ID``
gets exactly what it missed (Server-Sent Events). After landing the flight log is closed under
``<data dir>/logs/session_<id>``, the photos (our SITL writes them under
``<data dir>/photos/session_<id>``) are registered as a flight and their classification is queued
through :mod:`groundstation.jobs`.

A lost link does not end a session (see :class:`LinkPolicy`): after radio silence or a dropped
connection the telemetry is marked stale, a dropped connection is reopened with back-off, RTL, land
and pause are queued until the link is back (and sent again until the vehicle acknowledges them),
and the flight is followed on from where the vehicle is then; a mode change first heard then is
reported as made while the link was lost. Only a link lost for longer than the policy allows
fails the session. One connection string serves one active session at a time.

Sessions live in the web process that started them; a restart ends them (the database row keeps
their last state). Each process marks its running sessions alive in the database every few
seconds (``flight_sessions.alive_at``), so that every ``serve`` process on one database keeps one
session per vehicle and says which sessions are live; a crashed process's marks go stale.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask_babel import lazy_ngettext
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gis.camera import Camera
from groundstation.errors import GroundStationError, IngestError, ValidationError
from groundstation.i18n import (
    CHECK_NAMES,
    COMMAND_NAMES,
    SESSION_STATE_NAMES,
    lazy_names,
    lazy_reason,
    lazy_text,
)
from groundstation.i18n import lazy_message as _l
from groundstation.ingest import photo_paths, queue_ingest, register_flight
from groundstation.jobs import JobQueue
from groundstation.models import FlightSession, utcnow
from groundstation.storage import Storage
from groundstation.vehicle_messages import vehicle_message, vehicle_reasons
from missions.errors import MissionError
from missions.items import MissionPlan
from missions.link import (
    ConnectionStringError,
    Endpoint,
    FlightLog,
    LinkError,
    LinkTimeout,
    Telemetry,
    Vehicle,
    VehicleSettings,
    connect,
    parse_connection_string,
)
from missions.link.battery import BatteryParams, read_battery_params
from missions.link.errors import LinkLost, VerifyError
from missions.link.flight import (
    DEFAULT_ENDURANCE_S,
    Check,
    FenceStatus,
    FlightResult,
    FlightTiming,
    aloft_battery_check,
    clock_text,
    estimate_mission,
    flight_endurance_s,
    landing_of,
    landing_sequences,
    mode_change,
    position_unsure,
    preflight_checks,
    prepare_fence,
    rally_positions,
    reboot_message,
    settle_photo_count,
    vehicle_now,
    waypoint_sequences,
)
from missions.link.landing import (
    LandingWatch,
    Touchdown,
    distance_text,
    flight_outcome,
    reached_items,
    watch_landing,
)
from missions.link.safety import FlightWarnings
from missions.link.telemetry import TelemetryTracker

__all__ = [
    "COMMANDS",
    "CommandAnswer",
    "FlightSessionError",
    "FlightRequest",
    "LinkPolicy",
    "Event",
    "EventLog",
    "FlightRunner",
    "FlightHub",
    "runner_tag",
    "ALIVE_EVERY_S",
    "ALIVE_FOR_S",
    "telemetry_event",
    "check_json",
    "connection_key",
    "vehicle_endpoint",
    "CONNECTION_MAX_CHARS",
    "session_outcome",
    "outcome_label",
    "flight_time_label",
    "mission_time_labels",
    "NOTABLE_OUTCOMES",
]

log = logging.getLogger("gridpatrol.flights")

#: Pilot commands, in the order a flight uses them.
COMMANDS: tuple[str, ...] = ("arm", "start", "pause", "resume", "rtl", "land", "cancel")
#: Commands taken while the link is lost, and kept when the vehicle does not answer them: sent
#: until it takes them (the latest command wins).
QUEUED_WHILE_LOST = frozenset({"rtl", "land", "pause"})
FINAL_STATES = frozenset({"done", "failed", "cancelled"})
#: States of an armed vehicle; the session enters "airborne" when the vehicle arms otherwise.
FLYING_STATES = frozenset({"airborne", "mission", "paused", "returning", "landing"})
#: The session state a flight mode means once armed: followed when the vehicle switches by
#: itself (a failsafe, the remote controller) or was switched while the link was lost.
MODE_STATES = {
    "AUTO": "mission",
    "BRAKE": "paused",
    "LOITER": "paused",
    "RTL": "returning",
    "SMART_RTL": "returning",
    "LAND": "landing",
}
LINK_LOST_S = 5.0  # wall seconds without a heartbeat before the page is told
STALE_AFTER_S = 2.5  # wall seconds without a heartbeat before the page greys the gauges
BOARD_ID_TIMEOUT_S = 2.0  # wall seconds to wait for AUTOPILOT_VERSION (older firmware sends none)
WARNING_SEVERITY = 4  # MAV_SEVERITY_WARNING: STATUSTEXTs this grave may explain a failsafe
#: How often a process marks its running sessions alive in the database (wall seconds), and how
#: long a mark holds: a session unmarked for longer (its process crashed) holds no vehicle.
ALIVE_EVERY_S = 3.0
ALIVE_FOR_S = 10.0

#: Transfer progress labels (``"upload mission"`` ...) as the page shows them.
TRANSFER_LABELS = {
    "upload mission": _l("upload mission"),
    "upload fence": _l("upload geofence"),
    "upload rally": _l("upload rally points"),
    "verify mission": _l("verify mission"),
    "verify fence": _l("verify geofence"),
    "verify rally": _l("verify rally points"),
}


class FlightSessionError(GroundStationError):
    """A flight session cannot start, or refuses a command in its present state."""


class _Cancelled(Exception):
    """The pilot cancelled the session while it was uploading (raised between messages)."""


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """A pilot command's answer: what was done (lazy: each reader's language), and whether it
    was ``queued`` (kept while the link is lost or the vehicle does not answer, and sent until
    the vehicle takes it) instead of carried out."""

    message: LazyString
    queued: bool = False

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """How a session rides out a lost link (wall-clock seconds).

    The link is lost after ``lost_after_s`` without a heartbeat (radio silence), or at once when
    the connection drops (the vehicle or a relay closed the TCP connection, a serial port failed).
    A dropped connection is reopened ``retry_first_s`` later, then with the wait doubling up to
    ``retry_max_s``, each attempt waiting at most ``connect_timeout_s``. The session fails only
    after ``give_up_after_s`` without a heartbeat; None means the plan's expected flight time
    plus a full battery's endurance (the vehicle's BATT_CAPACITY, :attr:`FlightRequest.
    endurance_s` when given, else :data:`~missions.link.flight.DEFAULT_ENDURANCE_S`), at the
    vehicle's pace (a sped-up simulator's is faster): by then the vehicle is down, one way or
    another.
    """

    lost_after_s: float = LINK_LOST_S
    retry_first_s: float = 0.5
    retry_max_s: float = 5.0
    connect_timeout_s: float = 2.0
    give_up_after_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("lost_after_s", "retry_first_s", "retry_max_s", "connect_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"LinkPolicy.{name} must be positive, got {getattr(self, name)!r}")
        if self.give_up_after_s is not None and not self.give_up_after_s > self.lost_after_s:
            raise ValueError(
                f"LinkPolicy.give_up_after_s must exceed lost_after_s ({self.lost_after_s:g} s), "
                f"got {self.give_up_after_s!r}"
            )

    def retry_delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1, 2, ...)."""
        return min(self.retry_max_s, self.retry_first_s * 2 ** max(0, attempt - 1))


#: The longest connection string a flight session keeps (``flight_sessions.connection``).
CONNECTION_MAX_CHARS: int = FlightSession.__table__.c.connection.type.length


def vehicle_endpoint(connection: str) -> Endpoint:
    """Parse a vehicle's connection string as ``gridpatrol fly`` and ``upload`` do
    (:func:`missions.link.parse_connection_string`), before any session or link is made: a
    ValidationError (400) saying what is wrong and naming the forms that work."""
    text = connection.strip()
    if len(text) > CONNECTION_MAX_CHARS:
        raise ValidationError(
            _l(
                "connection string is %(length)d characters long; at most %(max)d are allowed",
                length=len(text),
                max=CONNECTION_MAX_CHARS,
            )
        )
    try:
        return parse_connection_string(text)
    except ConnectionStringError as exc:
        raise ValidationError(
            _l(
                "%(detail)s. Accepted forms: tcp:HOST:PORT (connect to the vehicle), "
                "udp:HOST:PORT (listen for it), udpout:HOST:PORT (send to it), or a serial "
                "device such as /dev/ttyUSB0:57600 or COM3:57600",
                detail=exc,
            )
        ) from None


def connection_key(connection: str) -> str:
    """What identifies the vehicle a connection string reaches, to keep one session per vehicle:
    the canonical string (``udp:`` is ``udpin:``, ``localhost`` is ``127.0.0.1``), a listening
    port whatever address it binds, a serial device whatever its baud rate. A string that does
    not parse is its own key (:class:`FlightRequest` refuses it before a session starts).

    >>> connection_key("TCP:localhost:5760") == connection_key("tcp:127.0.0.1:5760")
    True
    >>> connection_key("udp:0.0.0.0:14550") == connection_key("udpin:127.0.0.1:14550")
    True
    """
    try:
        endpoint = parse_connection_string(connection)
    except ConnectionStringError:
        return connection.strip().lower()
    if endpoint.kind == "serial":
        device = endpoint.device
        return f"serial:{device.upper() if device.upper().startswith('COM') else device}"
    if endpoint.kind in ("udpin", "tcpin"):
        return f"{endpoint.kind}:*:{endpoint.port}"
    host = endpoint.host.lower()
    if host in ("localhost", "::1", "0.0.0.0"):
        host = "127.0.0.1"
    return f"{endpoint.kind}:{host}:{endpoint.port}"


@dataclass(frozen=True, slots=True)
class FlightRequest:
    """What to fly and where: a mission and a connection string, or ``simulate`` for our SITL.

    ``endurance_s`` is a full battery's flight time, as ``gridpatrol fly --endurance`` takes
    it: None (the default) works from the vehicle's own battery parameters (BATT_CAPACITY and
    its failsafe levels, read once connected); a number overrides the current they assume.
    """

    mission: MissionPlan
    name: str
    connection: str | None = None
    simulate: bool = False
    speedup: float = 1.0
    world: Path | None = None
    camera: Camera | None = None
    plan_id: int | None = None
    sortie: int = 0
    grid_codes: tuple[str, ...] = ()
    area_m2: float | None = None
    started_by: str | None = None
    endurance_s: float | None = None
    reserve_pct: float = 20.0

    def __post_init__(self) -> None:
        if self.endurance_s is not None and not (
            math.isfinite(self.endurance_s) and self.endurance_s > 0
        ):
            raise ValidationError(
                _l(
                    "battery endurance must be a positive number of seconds, got %(value)s",
                    value=repr(self.endurance_s),
                )
            )
        if not self.simulate and not (self.connection or "").strip():
            raise ValidationError(
                _l("give a connection string (e.g. tcp:192.168.1.10:5760) or simulate")
            )
        if not self.simulate:
            vehicle_endpoint(str(self.connection))  # refused now, not by a session that fails
        if self.simulate and not (0.1 <= self.speedup <= 100.0):
            raise ValidationError(
                _l("SITL speed-up must be in [0.1, 100], got %(value)s", value=repr(self.speedup))
            )
        if not any(item.command < 100 for item in self.mission.items):
            raise ValidationError(
                _l("mission %(name)s has no navigation item to fly", name=repr(self.name))
            )


@dataclass(frozen=True, slots=True)
class Event:
    """One published event: its number (the SSE id), kind and JSON-ready data. Texts for the
    pilot are lazy (:func:`~groundstation.i18n.lazy_message`): each reader renders them in its
    language (``json.dumps(..., default=str)``); ``str()`` without a request gives English."""

    id: int
    kind: str
    data: dict[str, Any]


class EventLog:
    """Numbered events of one session, kept (up to ``limit``) for replay and waited on."""

    def __init__(self, *, limit: int = 20000) -> None:
        self._events: deque[Event] = deque(maxlen=limit)
        self._next = 1
        self._closed = False
        self._cond = threading.Condition()

    def publish(self, kind: str, data: dict[str, Any]) -> int:
        with self._cond:
            event = Event(self._next, kind, data)
            self._next += 1
            self._events.append(event)
            self._cond.notify_all()
            return event.id

    def close(self) -> None:
        """No more events; readers get what is left, then the end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_id(self) -> int:
        return self._next - 1

    def after(self, last_id: int, *, timeout: float = 0.0) -> tuple[list[Event], bool]:
        """Events numbered above ``last_id`` (waiting up to ``timeout`` s for one) and whether
        the log is closed and fully read."""
        with self._cond:
            if self._next - 1 <= last_id and not self._closed and timeout > 0:
                self._cond.wait(timeout)
            events = [e for e in self._events if e.id > last_id]
            done = self._closed and (not events or events[-1].id == self._next - 1)
            return events, done

    def latest(self, kind: str) -> Event | None:
        with self._cond:
            return next((e for e in reversed(self._events) if e.kind == kind), None)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def telemetry_event(
    snapshot: Telemetry,
    waypoints: tuple[int, ...],
    *,
    stale: bool = False,
    link_age_s: float | None = None,
) -> dict[str, Any]:
    """The JSON the page draws from one telemetry snapshot (pure); ``stale`` when the link is
    lost (the figures are the last ones heard), ``link_age_s`` since the last heartbeat."""
    p, b, g, a = snapshot.position, snapshot.battery, snapshot.gps, snapshot.attitude
    reached = set(snapshot.mission.reached) & set(waypoints)
    heading = p.heading_deg if p is not None and p.heading_deg is not None else None
    if heading is None and a is not None:
        heading = a.yaw_deg
    return {
        "t": round(snapshot.time_s, 2),
        "mode": snapshot.mode,
        "armed": snapshot.armed,
        "on_ground": snapshot.on_ground,
        "lat": _round(p.lat, 7) if p else None,
        "lon": _round(p.lon, 7) if p else None,
        "alt_m": _round(p.relative_alt_m, 1) if p else None,
        "alt_amsl_m": _round(p.alt_amsl_m, 1) if p else None,
        "speed_mps": _round(p.groundspeed_mps, 1) if p else None,
        "heading_deg": _round(heading, 0),
        "battery_pct": _round(b.remaining_pct, 0) if b else None,
        "voltage_v": _round(b.voltage_v, 2) if b else None,
        "gps_fix": g.fix_type if g else None,
        "satellites": g.satellites if g else None,
        "current_seq": snapshot.mission.current,
        "reached": len(reached),
        "waypoints": len(waypoints),
        "progress": round(len(reached) / len(waypoints), 4) if waypoints else 0.0,
        "photos": snapshot.photos,  # reported by CAMERA_FEEDBACK, on the map
        "photos_taken": snapshot.photos + snapshot.photos_unreported,
        "photos_unreported": snapshot.photos_unreported,  # taken while the link was down
        "texts": [t.text for t in snapshot.status_texts],  # as the vehicle sent them
        # for the page: marked as the vehicle's, known ones in the reader's language
        "vehicle_texts": [vehicle_message(t.text) for t in snapshot.status_texts],
        "stale": stale,
        "link_age_s": _round(link_age_s, 1),
    }


def session_outcome(state: str, result: dict[str, Any] | None) -> str | None:
    """How a finished session's flight went: ``"complete"`` (landed with every waypoint),
    ``"returned_early"`` (landed before the last one: the pilot or a failsafe ended the mission),
    ``"landed_away"`` (landed away from home and every rally point: its ``landing`` says where),
    None for a session that has not landed (pure).

    >>> session_outcome("done", {"landed": True, "all_reached": False})
    'returned_early'
    >>> session_outcome("done", {"all_reached": True, "landing": {"away": True}})
    'landed_away'
    """
    if state != "done" or not result:
        return None
    landing = result.get("landing") or {}
    return flight_outcome(
        landed=True,
        all_reached=bool(result.get("all_reached", True)),
        landed_away=bool(landing.get("away")),
    )


#: Outcomes the pilot must be told of: the session's label says them instead of "done".
NOTABLE_OUTCOMES = frozenset({"returned_early", "landed_away"})


def outcome_label(result: dict[str, Any]) -> LazyString:
    """``returned early (3/6 waypoints)`` for a session that landed before its last waypoint;
    ``landed away from home: 9.3 km from home at 32.431610, 120.088020 (3/6 waypoints)`` for
    one that came down elsewhere (where the pilot must go to fetch it); ``landed, position
    unknown (GPS lost before landing): last known position 250 m from home at …`` when the GPS
    was lost before the landing (``landing.position_known`` false: it may have drifted far)."""
    landing = result.get("landing") or {}
    where = {
        "distance": distance_text(float(landing.get("home_distance_m", 0.0))),
        "lat": f"{float(landing.get('lat', 0.0)):.6f}",
        "lon": f"{float(landing.get('lon', 0.0)):.6f}",
        "reached": result.get("reached", 0),
        "total": result.get("waypoints", 0),
    }
    if landing.get("position_known") is False:
        return _l(
            "landed, position unknown (GPS lost before landing): last known position "
            "%(distance)s from home at %(lat)s, %(lon)s (%(reached)s/%(total)s waypoints)",
            **where,
        )
    if landing.get("away"):
        return _l(
            "landed away from home: %(distance)s from home at %(lat)s, %(lon)s "
            "(%(reached)s/%(total)s waypoints)",
            **where,
        )
    return _l(
        "returned early (%(reached)s/%(total)s waypoints)",
        reached=result.get("reached", 0),
        total=result.get("waypoints", 0),
    )


def flight_time_label(result: dict[str, Any] | None) -> LazyString | None:
    """``3:12 flown (plan 3:11)``, as ``gridpatrol fly`` says it: the vehicle's flight time
    (by our clock when its clock was not heard) next to the plan's; None for a result without
    times (a session stored before they were kept)."""
    if not result or result.get("planned_s") is None:
        return None
    flown, wall = result.get("duration_s"), result.get("duration_wall_s")
    if flown is not None:
        text = _l("%(time)s flown", time=clock_text(float(flown)))
    elif wall is not None:
        text = _l("%(time)s flown by our clock", time=clock_text(float(wall)))
    else:
        text = _l("flight time unknown")
    return _l(
        "%(flight)s (plan %(planned)s)", flight=text, planned=clock_text(float(result["planned_s"]))
    )


def mission_time_labels(
    result: dict[str, Any] | None,
) -> tuple[LazyString | None, str | None]:
    """The flight time split at the mission's start: ``12:10 (plan 12:01)`` from the start of
    the mission to the landing, against the plan, and ``9:44`` airborne before it (the climb,
    and hovering while the pilot had not started the mission: at a high SITL speed-up a few
    seconds are minutes). Vehicle time, else ours; (None, None) for a flight that never started
    its mission or a session stored before these times were kept."""
    if not result or result.get("planned_s") is None:
        return None, None
    mission = result.get("mission_s")
    if mission is None:
        mission = result.get("mission_wall_s")
    if mission is None:
        return None, None
    before = result.get("before_mission_s")
    if before is None:
        before = result.get("before_mission_wall_s")
    mission_label = _l(
        "%(time)s (plan %(planned)s)",
        time=clock_text(float(mission)),
        planned=clock_text(float(result["planned_s"])),
    )
    return mission_label, None if before is None else clock_text(float(before))


def check_json(check: Check) -> dict[str, Any]:
    """A pre-flight check for the page and the API: its English name (the key), a display
    ``label`` and its ``detail``, both lazy (in the reader's language)."""
    return {
        **asdict(check),
        "detail": lazy_text(check.detail),
        "label": CHECK_NAMES.get(check.name, check.name),
    }


def _failed_checks(checks: tuple[Check, ...]) -> LazyString:
    return LazyString(
        lambda: "; ".join(
            str(_l("%(name)s (%(detail)s)", name=CHECK_NAMES.get(c.name, c.name), detail=c.detail))
            for c in checks
            if not c.ok
        )
    )


def _takeoff_altitude(mission: MissionPlan) -> float:
    for item in mission.items:
        if item.command == 22 and item.alt > 0:  # NAV_TAKEOFF
            return float(item.alt)
    alts = [item.alt for item in mission.items if item.command < 100 and item.alt > 0]
    return float(alts[0]) if alts else 20.0


def _climbed(snapshot: Telemetry, altitude: float) -> bool:
    """At 80 % of the takeoff altitude: where fly checks the battery again and starts AUTO."""
    return snapshot.position is not None and snapshot.position.relative_alt_m >= 0.8 * altitude


@dataclass
class _Command:
    verb: str
    future: Future[CommandAnswer] = field(default_factory=Future)

    def answer(self, message: LazyString, *, queued: bool = False) -> None:
        """Resolve the pilot's request once: a queued command tried again answers no more."""
        if not self.future.done():
            self.future.set_result(CommandAnswer(message, queued=queued))

    def refuse(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


@dataclass
class _Heartbeats:
    """Heartbeats as each message arrives (a vehicle listener): the loop does not watch the
    link while a command is retried, so the longest gap meanwhile tells a silence it missed."""

    count: int = 0
    at: float = field(default_factory=time.monotonic)
    longest_gap_s: float = 0.0


@dataclass
class _LinkWatch:
    """The session thread's view of the link: last heartbeat, lost (the page was told), down
    (the connection dropped and is being reopened) and the reconnect attempts."""

    heartbeats: int
    heard_at: float
    lost: bool = False
    down: bool = False
    attempts: int = 0
    next_attempt: float = 0.0
    reminded_at: float = 0.0
    stale_sent_at: float = 0.0

    def age(self, now: float) -> float:
        return now - self.heard_at


class FlightRunner:
    """One flight session on its own thread (see the module docstring)."""

    def __init__(
        self,
        session_id: int,
        request: FlightRequest,
        *,
        storage: Storage,
        queue_: JobQueue | None,
        data_dir: Path,
        vehicle_settings: VehicleSettings | None = None,
        connect_timeout_s: float = 20.0,
        interval_s: float = 0.1,
        photo_max_px: int | None = 1280,
        link_policy: LinkPolicy | None = None,
        on_finish: Callable[[FlightRunner], None] | None = None,
        claim_vehicle: Callable[[FlightRunner, str], None] | None = None,
    ) -> None:
        self.id = session_id
        self.request = request
        self.storage = storage
        self.queue = queue_
        self.data_dir = Path(data_dir)
        self.vehicle_settings = vehicle_settings or VehicleSettings()
        self.connect_timeout_s = connect_timeout_s
        self.interval_s = interval_s
        self.photo_max_px = photo_max_px
        self.link_policy = link_policy or LinkPolicy()
        self.on_finish = on_finish
        self.claim_vehicle = claim_vehicle
        self.board_id: str | None = None  # the vehicle's board serial, once claimed
        self.events = EventLog()
        self.state = "starting"
        self.connection = request.connection
        self.connection_key = None if request.simulate else connection_key(str(request.connection))
        self.checks: tuple[Check, ...] = ()
        self.fence: FenceStatus | None = None  # the vehicle's geofence once enabled and read
        self.battery: BatteryParams | None = None  # the vehicle's battery parameters, once read
        self.estimate = estimate_mission(request.mission)  # the plan's expected flight
        self.flight_id: int | None = None
        self.result: dict[str, Any] | None = None  # the flight's summary once it has ended
        self.flown = False  # the vehicle was armed in this session
        self.error: LazyString | str | None = None  # lazy while running; stored in English
        self._commands: queue.Queue[_Command] = queue.Queue()
        # a safety command kept while the link is lost or the vehicle does not answer: sent
        # again until the vehicle takes it or a later command replaces it
        self._pending: _Command | None = None
        self._cancel_asked = threading.Event()  # CANCEL given: it also stops an upload
        self._interruptible = False  # uploading: CANCEL stops it between messages
        self._beats = _Heartbeats()
        self._mission_started = False
        # the mode the pilot's last command set (before sending it): a switch to any other one
        # was not theirs (a failsafe, or another controller: see _follow_mode)
        self._commanded_mode: str | None = None
        # START given while the vehicle still climbs: AUTO once it is this high (m), as fly does
        self._start_at_alt: float | None = None
        self._flight_log: FlightLog | None = None
        # what gridpatrol fly's flight.json keeps: the arming time, the highest altitude, the
        # failsafes and other controllers' mode changes, the vehicle's status texts
        self._timing: FlightTiming | None = None
        # the same from the mission's start (AUTO), and the split of the flight time at it as
        # the last flight result counted it: (mission s, before it s) by the vehicle's clock
        # and by ours
        self._mission_timing: FlightTiming | None = None
        self._mission_split: dict[str, float | None] = {}
        self._max_alt = 0.0
        self._failsafes: list[str] = []
        self._mode_changes: list[str] = []
        self._unbidden: list[str] = []  # both of the above, in the order they came
        self._texts: list[str] = []
        self._landed: FlightResult | None = None  # the flight once it has landed
        # the last position heard while armed came without a GPS fix or EKF position: a landing
        # is then at the last known position, not a confident one (as gridpatrol fly says it)
        self._gps_lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"flight-{session_id}", daemon=True)
        self.waypoints = waypoint_sequences(request.mission)
        self.log_dir = self.data_dir / "logs" / f"session_{session_id}"
        self.photos_dir = self.data_dir / "photos" / f"session_{session_id}"

    # -- public, any thread ------------------------------------------------------------------
    def start(self) -> FlightRunner:
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def command(self, verb: str) -> Future[CommandAnswer]:
        """Queue a pilot command; the future resolves with its :class:`CommandAnswer` or a
        FlightSessionError. CANCEL also stops an upload under way (between its messages)."""
        if verb not in COMMANDS:
            raise ValidationError(
                _l(
                    "unknown command %(value)s (known: %(known)s)",
                    value=repr(verb),
                    known=", ".join(COMMANDS),
                )
            )
        if self.finished:
            raise FlightSessionError(
                _l(
                    "flight session %(id)s is %(state)s: no more commands",
                    id=self.id,
                    state=self.state_name(),
                )
            )
        cmd = _Command(verb)
        self._commands.put(cmd)
        if verb == "cancel":
            self._cancel_asked.set()
        return cmd.future

    def stop(self, *, timeout: float = 10.0) -> None:
        """End the session (server shutdown): stop pumping, close the link and the SITL."""
        self._stop.set()
        self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        latest = self.events.latest("telemetry")
        return {
            "id": self.id,
            "name": self.request.name,
            "state": self.state,
            "connection": self.connection,
            "simulated": self.request.simulate,
            "checks": [check_json(c) for c in self.checks],
            "flight_id": self.flight_id,
            "error": self.error,
            "telemetry": latest.data if latest else None,
            "last_event_id": self.events.last_id,
        }

    def state_name(self) -> LazyString:
        """The session's state as the pilot reads it, for a message (not the API's code)."""
        return lazy_names(SESSION_STATE_NAMES, self.state, display=True)

    # -- the session thread ------------------------------------------------------------------
    def _publish(self, kind: str, data: dict[str, Any]) -> int:
        """Publish with the wall-clock time (``at``, Unix seconds): a page that replays the
        events shows each message, and each state's error, at the time it happened."""
        return self.events.publish(kind, {**data, "at": round(time.time(), 3)})

    def _set_state(self, state: str, **extra: Any) -> None:
        # stored first, so that whoever learns of the state (the API, the page's stream, another
        # serve process) finds it in the database too; no request in this thread: str() stores
        # the English text
        self._save(state=state, **{k: str(v) for k, v in extra.items() if k in ("error",)})
        self.state = state
        self._publish("state", {"state": state, **extra})

    def _save(self, **values: Any) -> None:
        try:
            with self.storage.session() as session:
                row = session.get(FlightSession, self.id)
                if row is not None:
                    for key, value in values.items():
                        setattr(row, key, value)
                    session.commit()
        except Exception:  # the stream must go on even if the database hiccups
            log.exception("flight session %s: cannot save %s", self.id, sorted(values))

    def _message(self, text: LazyString | str, *, level: str = "info") -> None:
        self._publish("message", {"text": text, "level": level})

    def _run(self) -> None:
        sitl = None
        vehicle: Vehicle | None = None
        try:
            if self.request.simulate:
                sitl = self._start_sitl()
                self.connection = sitl.connection_string
                self._save(connection=self.connection)
                self._message(
                    _l(
                        "SITL started at %(connection)s (speed-up %(speedup)sx)",
                        connection=self.connection,
                        speedup=f"{self.request.speedup:g}",
                    )
                )
            self._set_state("connecting", connection=self.connection)
            vehicle = connect(
                str(self.connection), timeout=self.connect_timeout_s, settings=self.vehicle_settings
            )
            vehicle.add_listener(self._listener(vehicle))
            board = vehicle.board_id(timeout=BOARD_ID_TIMEOUT_S)
            if board is not None and self.claim_vehicle is not None:
                self.claim_vehicle(self, board)
            if vehicle.tracker.armed:
                self._adopt(vehicle)
                self._read_battery(vehicle)
            else:
                self._interruptible = True  # nothing flies yet: CANCEL stops it at once
                try:
                    self._cancel_if_asked()
                    self._transfer(vehicle)
                    self._read_battery(vehicle)
                finally:
                    self._interruptible = False
            flog = FlightLog(self.log_dir, vehicle_clock=lambda: vehicle.tracker.vehicle_time_s)
            self._save(log_dir=str(self.log_dir))
            reason: str | None = None
            try:
                landed = self._fly(vehicle, flog)
            except BaseException as exc:
                reason = str(lazy_reason(exc))  # no request here: English, as flight.json is
                raise
            finally:
                if not flog.closed:
                    flown = self._flight_result(vehicle, landed=False)
                    reason = reason or self._ended_reason()
                    flog.close(self._log_summary(flown, reason=reason))
                    if self.flown:  # what it did before it failed: photos to fetch, say
                        summary = self.result = self._summary(flown, reason=reason)
                        self._save(result=summary)
            if landed:
                self._store(vehicle, sitl)
            elif not self.finished:
                self._set_state("cancelled")
        except _Cancelled:
            self._cancelled_before_flight()
        except (MissionError, GroundStationError, OSError) as exc:
            self.error = lazy_reason(exc)
            self._set_state("failed", error=self.error, **self._result_field())
        except Exception as exc:  # never let the thread die silently
            log.exception("flight session %s failed", self.id)
            self.error = f"{type(exc).__name__}: {exc}"
            self._set_state("failed", error=self.error, **self._result_field())
        finally:
            self._fail_pending()
            if vehicle is not None:
                vehicle.close()
            if sitl is not None:
                sitl.stop()
            self._save(alive_at=None)  # ended: the vehicle is free for any process
            self.events.close()
            if self.on_finish is not None:
                self.on_finish(self)

    def _listener(self, vehicle: Vehicle) -> Callable[[Any], None]:
        """Called with every message the vehicle receives, whatever the session is doing:
        notes heartbeats (see :class:`_Heartbeats`) and stops an upload the pilot cancelled."""

        def heard(_message: Any) -> None:
            beats, count = self._beats, vehicle.tracker.heartbeats
            if count != beats.count:
                now = time.monotonic()
                beats.longest_gap_s = max(beats.longest_gap_s, now - beats.at)
                beats.count, beats.at = count, now
            self._cancel_if_asked()

        return heard

    def _cancel_if_asked(self) -> None:
        if self._interruptible and self._cancel_asked.is_set():
            raise _Cancelled

    def _cancelled_before_flight(self) -> None:
        """CANCEL stopped the session before anything flew: answer it, say what was left."""
        if self.state == "uploading":
            text = _l(
                "session cancelled during the upload: nothing was flown; the vehicle may hold "
                "part of the upload (upload again before flying it)"
            )
        else:
            text = _l("session cancelled before the flight: nothing was flown")
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                break
            if cmd.verb == "cancel":
                cmd.answer(text)
            else:
                cmd.refuse(FlightSessionError(text))
        self._message(text)
        self._set_state("cancelled")

    def _result_field(self) -> dict[str, Any]:
        """``summary`` for a state event of a session that flew (the page shows it)."""
        return {} if self.result is None else {"summary": self.result}

    def _start_sitl(self) -> Any:
        from simulator import Sitl

        lat, lon, alt = self.request.mission.home
        self.photos_dir.mkdir(parents=True, exist_ok=True)
        sitl = Sitl(
            home=(lat, lon, alt),
            speedup=self.request.speedup,
            camera=self.request.camera,
            world=self.request.world,
            photos_dir=self.photos_dir if self.request.world is not None else None,
            photo_max_px=self.photo_max_px,
        )
        return sitl.start()

    def _transfer(self, vehicle: Vehicle) -> None:
        last = [0.0]

        def progress(what: str, done: int, total: int) -> None:
            self._cancel_if_asked()
            now = time.monotonic()
            if done == total or now - last[0] > 0.2:
                last[0] = now
                label = TRANSFER_LABELS.get(what, what)
                self.events.publish("transfer", {"what": label, "done": done, "total": total})

        self._set_state("uploading")
        vehicle.upload(
            self.request.mission, on_progress=lambda w, d, t: progress(f"upload {w}", d, t)
        )
        self._set_state("verifying")
        lists = vehicle.verify(
            self.request.mission, on_progress=lambda w, d, t: progress(f"verify {w}", d, t)
        )
        self._message(
            _l(
                "verified: %(mission)s, %(fence)s, %(rally)s",
                mission=lazy_ngettext(
                    "%(num)d mission item", "%(num)d mission items", len(lists.mission)
                ),
                fence=lazy_ngettext(
                    "%(num)d fence point", "%(num)d fence points", len(lists.fence)
                ),
                rally=lazy_ngettext(
                    "%(num)d rally point", "%(num)d rally points", len(lists.rally)
                ),
            )
        )
        self.fence = prepare_fence(vehicle, self.request.mission)  # enabled before arming
        vehicle.request_streams()

    def _adopt(self, vehicle: Vehicle) -> None:
        """Take over a vehicle that is already armed (a session restarted mid-flight): nothing is
        uploaded to it; the session watches it only if it holds this session's mission."""
        self._set_state("verifying")
        try:
            vehicle.verify(self.request.mission)
        except VerifyError as exc:
            raise FlightSessionError(
                _l(
                    "the vehicle is armed and holds another mission (%(detail)s): nothing is "
                    "uploaded to a flying vehicle; land it first, or fly it from where it was "
                    "launched",
                    detail=exc,
                )
            ) from None
        self._message(
            _l("the vehicle is already flying this mission: watching it, nothing uploaded")
        )
        vehicle.request_streams()

    def _read_battery(self, vehicle: Vehicle) -> None:
        """Read the vehicle's battery parameters for the checks and the in-flight warnings; say
        so when it has no BATT_CAPACITY and no endurance was given (the check then assumes one)."""
        self.battery = read_battery_params(vehicle)
        if self.battery is None and self.request.endurance_s is None:
            self._message(
                _l(
                    "the vehicle reports no battery capacity (BATT_CAPACITY): the battery check "
                    "assumes a full battery flies %(minutes)s min",
                    minutes=f"{DEFAULT_ENDURANCE_S / 60:.0f}",
                ),
                level="warning",
            )

    def _fly(self, vehicle: Vehicle, flog: FlightLog) -> bool:
        """Pump telemetry and commands until landed (True) or cancelled/stopped (False); ride out
        a lost link (see :class:`LinkPolicy`)."""
        self._set_state("preflight")
        self._flight_log = flog
        seen_texts = vehicle.tracker.status_count
        photos_sent = 0
        landing = LandingWatch()
        # GPS lost and back, battery low, an RTL getting no closer: as gridpatrol fly warns
        warnings = FlightWarnings(self.battery, rally=rally_positions(self.request.mission))
        heard: deque[tuple[float, str]] = deque(maxlen=20)  # (vehicle s, grave STATUSTEXT)
        mode = vehicle.tracker.mode
        link = _LinkWatch(vehicle.tracker.heartbeats, time.monotonic())
        while not self._stop.is_set():
            now = time.monotonic()
            self._check_give_up(vehicle.tracker, link, now)
            if link.down:
                self._reconnect(vehicle, link, now)
                if self._run_commands(vehicle, link):
                    return False
                if link.down:
                    self._stop.wait(self.interval_s)
                continue
            try:
                vehicle.pump(self.interval_s)
            except LinkLost as exc:
                self._link_dropped(vehicle, link, exc)
                continue
            now = time.monotonic()
            back = False  # heard again after a loss: what changed meanwhile went unheard
            if vehicle.tracker.heartbeats != link.heartbeats:
                link.heartbeats, link.heard_at = vehicle.tracker.heartbeats, now
                if link.lost:
                    link.lost, back = False, True
                    self._message(_l("link back: heartbeats again"))
                    self._publish("link", {"status": "ok"})
            elif not link.lost and link.age(now) > self.link_policy.lost_after_s:
                link.lost = True
                self._message(
                    _l(
                        "link lost: no heartbeat for %(seconds)s s",
                        seconds=f"{self.link_policy.lost_after_s:g}",
                    ),
                    level="error",
                )
                self._publish("link", {"status": "lost"})
            snapshot = vehicle.tracker.snapshot(texts_since=seen_texts)
            seen_texts = vehicle.tracker.status_count
            flog.record(snapshot)
            events = vehicle.tracker.camera_events
            for event in events[photos_sent:]:
                flog.camera(event)
                self.events.publish(
                    "photo",
                    {"index": event.image_index, "lat": event.lat, "lon": event.lon,
                     "alt_m": round(event.relative_alt_m, 1)},
                )  # fmt: skip
            photos_sent = len(events)
            self._publish_telemetry(snapshot, link, now)
            vehicle_s = vehicle_now(vehicle.tracker)
            heard.extend(
                (vehicle_s, t.text) for t in snapshot.status_texts if t.severity <= WARNING_SEVERITY
            )
            for notice in warnings.update(snapshot, vehicle_s):
                text = notice.text
                flog.event(notice.kind, str(text), time_s=snapshot.time_s, level=notice.level)
                self._message(lazy_text(text), level=notice.level)
            landing, touchdown = watch_landing(
                landing, snapshot, clock_confirmed=vehicle.tracker.clock_confirmed, now=now
            )
            self.flown = landing.armed_once
            self._keep(snapshot, vehicle)
            if snapshot.armed and snapshot.position is not None:
                self._gps_lost = position_unsure(snapshot)
            if snapshot.mode != mode:
                flog.event("mode", f"{mode} -> {snapshot.mode}", time_s=snapshot.time_s)
            if not landing.armed_once:
                self._update_checks(snapshot)
            elif self.state not in FLYING_STATES:
                self._set_state("airborne")
            # a change first heard as the link came back is followed even when the vehicle
            # has landed and disarmed meanwhile (a GCS failsafe's RTL, flown out of hearing)
            if snapshot.mode != mode and (snapshot.armed or (back and landing.armed_once)):
                unheard = back or self._heard_after_silence(vehicle.tracker, snapshot.mode)
                self._follow_mode(snapshot, flog, list(heard), vehicle_s, unheard=unheard)
            mode = snapshot.mode
            if self._start_at_alt is not None and not link.lost:
                self._start_when_climbed(vehicle, snapshot)
            if touchdown is Touchdown.REBOOTED and snapshot.reboot is not None:
                # a rebooted vehicle says disarmed on the ground: that is no landing
                flog.event("reboot", str(reboot_message(snapshot.reboot)), time_s=snapshot.time_s)
                raise FlightSessionError(reboot_message(snapshot.reboot))
            if touchdown is Touchdown.DISARMED_IN_AIR:
                fell = _l(
                    "the vehicle disarmed in the air (%(state)s): not a landing; check it",
                    state=snapshot.one_line(),
                )
                flog.event("disarm", str(fell), time_s=snapshot.time_s)
                raise FlightSessionError(fell)
            if touchdown is Touchdown.LANDED:
                settle_photo_count(vehicle)  # the last photos' feedback may have been lost
                flown = self._flight_result(vehicle, landed=True)
                if flown.landed_away and flown.landing is not None:
                    flog.event("landed_away", flown.landing.text(), time_s=snapshot.time_s)
                flog.close(self._log_summary(flown, reason=self._early_reason(flown)))
                self._landed = flown
                self._set_state("landed")
                return True
            if self._run_commands(vehicle, link):
                return False
        return False

    def _keep(self, snapshot: Telemetry, vehicle: Vehicle) -> None:
        """Note what the flight's summary counts: the arming time (a vehicle armed by another
        controller, or adopted armed, counts from when it was first seen armed), the highest
        altitude while armed, and the vehicle's status texts."""
        self._texts.extend(t.text for t in snapshot.status_texts)
        if not snapshot.armed:
            return
        if self._timing is None:
            self._timing = FlightTiming.at_arming(vehicle, self.estimate)
        if snapshot.position is not None:
            self._max_alt = max(self._max_alt, snapshot.position.relative_alt_m)

    def _publish_telemetry(self, snapshot: Telemetry, link: _LinkWatch, now: float) -> None:
        age = link.age(now)
        stale = link.lost or age > STALE_AFTER_S
        data = telemetry_event(snapshot, self.waypoints, stale=stale, link_age_s=age)
        self._publish("telemetry", data)

    def _follow_mode(
        self,
        snapshot: Telemetry,
        flog: FlightLog,
        warnings: list[tuple[float, str]],
        vehicle_s: float,
        *,
        unheard: bool,
    ) -> None:
        """The armed vehicle is in a new flight mode: the session's state follows it, and the
        pilot hears of a switch no command of theirs asked for, told as ``gridpatrol fly`` does
        (:func:`~missions.link.flight.mode_change`): the vehicle's failsafe when it said why
        just before (``warnings``: its grave STATUSTEXTs by vehicle time), else another
        controller's (an RC mode switch, another ground station). A switch first seen as the
        link comes back (``unheard``) is said as such: what explained it was not heard.
        """
        mode = snapshot.mode
        state = MODE_STATES.get(mode)
        if state == "mission":
            self._mission_started = True
            self._mission_began(snapshot)
        if self.finished:
            return
        if state is not None and state != self.state and snapshot.armed:
            self._set_state(state)
        if mode == self._commanded_mode:
            return
        if unheard:
            kind = "mode_changed_unheard"
            text: LazyString = _l(
                "the vehicle switched to %(mode)s while the link was lost (a failsafe, or "
                "another controller)",
                mode=mode,
            )
            english = str(text)
        else:
            change = mode_change(mode, warnings, now_s=vehicle_s)
            kind = "failsafe" if change.failsafe else "mode_changed_by_other"
            # the page quotes the vehicle's reasons in its reader's language, the log in English
            text = lazy_text(change.text_with(vehicle_reasons(change.reasons)))
            english = str(change.text)
        (self._failsafes if kind == "failsafe" else self._mode_changes).append(english)
        self._unbidden.append(english)
        flog.event(kind, english, time_s=snapshot.time_s, level="warning")
        self._publish("message", {"text": text, "level": "warning", "kind": kind, "mode": mode})

    def _heard_after_silence(self, tracker: TelemetryTracker, mode: str) -> bool:
        """Whether the change to ``mode`` was heard only after the link fell silent for longer
        than the policy allows (while a command was being retried, the loop did not watch)."""
        heard = tracker.mode_heard
        return (
            heard is not None
            and heard.mode == mode
            and heard.silence_s > self.link_policy.lost_after_s
        )

    def _early_reason(self, flown: FlightResult) -> str | None:
        """Why a landed flight ended before its last waypoint when no command of the pilot's
        did it: the vehicle's failsafes and other controllers' mode changes (English)."""
        if flown.all_reached or not self._unbidden:
            return None
        return "; ".join(self._unbidden)

    # -- a lost link ---------------------------------------------------------------------------
    def _give_up_after_s(self, tracker: TelemetryTracker) -> float:
        """Wall seconds without a heartbeat after which the session gives up (see
        :class:`LinkPolicy`): the policy's limit, else the plan's expected time plus a full
        battery's endurance, at the vehicle's pace (its clock's rate as last heard)."""
        limit = self.link_policy.give_up_after_s
        if limit is not None:
            return limit
        endurance = flight_endurance_s(
            self.battery,
            endurance_s=self.request.endurance_s,
            measured_current_a=tracker.flight_current_a,
        )
        return (self.estimate.duration_s + endurance) / (tracker.clock_rate or 1.0)

    def _check_give_up(self, tracker: TelemetryTracker, link: _LinkWatch, now: float) -> None:
        if not link.lost:
            return
        limit = self._give_up_after_s(tracker)
        if link.age(now) > limit:
            raise FlightSessionError(
                _l(
                    "no link to the vehicle for %(seconds)s s: gave up reconnecting; check the "
                    "vehicle on its remote controller or another ground station",
                    seconds=f"{limit:.0f}",
                )
            )

    def _link_dropped(self, vehicle: Vehicle, link: _LinkWatch, exc: LinkError) -> None:
        """The connection dropped: telemetry is stale, reconnect with back-off."""
        if link.down:
            return
        now = time.monotonic()
        link.down, link.lost = True, True
        link.attempts, link.next_attempt = 0, now + self.link_policy.retry_first_s
        link.reminded_at = now
        log.warning("flight session %s: link dropped: %s", self.id, exc)
        self._message(
            _l(
                "link lost: %(reason)s; reconnecting. Return to launch, land and pause are "
                "queued until the link is back",
                reason=lazy_reason(exc),
            ),
            level="error",
        )
        self._publish("link", {"status": "reconnecting"})
        self._publish_stale(vehicle, link, now)

    def _publish_stale(self, vehicle: Vehicle, link: _LinkWatch, now: float) -> None:
        """The last telemetry heard again, marked stale (while no new telemetry comes)."""
        link.stale_sent_at = now
        self._publish_telemetry(vehicle.tracker.snapshot(), link, now)

    def _reconnect(self, vehicle: Vehicle, link: _LinkWatch, now: float) -> None:
        """One reconnect attempt when due; stale telemetry once a second meanwhile."""
        if now - link.stale_sent_at >= 1.0:
            self._publish_stale(vehicle, link, now)
        if now < link.next_attempt:
            return
        link.attempts += 1
        try:
            vehicle.reconnect(timeout=self.link_policy.connect_timeout_s)
        except LinkError as exc:
            now = time.monotonic()
            link.next_attempt = now + self.link_policy.retry_delay(link.attempts)
            log.info("flight session %s: reconnect %d failed: %s", self.id, link.attempts, exc)
            if now - link.reminded_at >= 30.0:
                link.reminded_at = now
                self._message(
                    _l(
                        "still reconnecting to %(connection)s: no link for %(seconds)s s, "
                        "%(attempts)s (%(reason)s); giving up after %(limit)s s",
                        connection=self.connection,
                        seconds=f"{link.age(now):.0f}",
                        attempts=lazy_ngettext(
                            "%(num)d attempt", "%(num)d attempts", link.attempts
                        ),
                        reason=lazy_reason(exc),
                        limit=f"{self._give_up_after_s(vehicle.tracker):.0f}",
                    ),
                    level="error",
                )
            return
        link.down = False
        self._message(
            _l(
                "reconnected to %(connection)s (attempt %(attempt)d); waiting for heartbeats",
                connection=self.connection,
                attempt=link.attempts,
            )
        )
        self._publish("link", {"status": "lost"})

    def _update_checks(self, snapshot: Telemetry) -> None:
        checks = preflight_checks(
            snapshot,
            self.request.mission,
            verified=True,
            endurance_s=self.request.endurance_s,
            reserve_pct=self.request.reserve_pct,
            estimate=self.estimate,
            fence=self.fence,
            battery=self.battery,
        )
        if checks != self.checks:
            self.checks = checks
            self.events.publish("checks", {"checks": [check_json(c) for c in checks]})
        ready = all(c.ok for c in checks)
        if ready and self.state == "preflight":
            self._set_state("ready")
        elif not ready and self.state == "ready":
            self._set_state("preflight")

    def _run_commands(self, vehicle: Vehicle, link: _LinkWatch) -> bool:
        """Run queued commands; True when the pilot cancelled the session.

        Each command sees the vehicle as the one before left it: START queued while ARM was
        still running (the page shows "airborne" before ARM returns) finds the vehicle armed.
        A safety command kept while the link was lost, or unanswered, goes first once the
        vehicle is heard again, and again after each try that gets no answer.
        """
        if self._pending is not None and self._link_ok(link):
            pending, self._pending = self._pending, None
            self._command(vehicle, link, pending)
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return False
            if self._command(vehicle, link, cmd) and cmd.verb == "cancel":
                return True

    def _link_ok(self, link: _LinkWatch) -> bool:
        """The vehicle was heard lately: a command sent now can be answered."""
        return not (link.lost or link.down) and link.age(time.monotonic()) <= STALE_AFTER_S

    def _command(self, vehicle: Vehicle, link: _LinkWatch, cmd: _Command) -> bool:
        """Run one command, or keep a safety command (RTL, land, pause) for later: while the
        link is lost or in doubt (the page shows stale figures), and when the vehicle did not
        answer it, whatever the link did meanwhile; True when it ran."""
        verb = cmd.verb
        self._beats.longest_gap_s = 0.0
        try:
            if link.lost and verb not in QUEUED_WHILE_LOST and verb != "cancel":
                raise FlightSessionError(
                    _l(
                        "link lost, retrying: only return to launch, land and pause are taken "
                        "now (sent when the link is back)"
                    )
                )
            if verb in QUEUED_WHILE_LOST and vehicle.tracker.armed and not self._link_ok(link):
                self._queue(vehicle, cmd)
                return False
            message = self._execute(vehicle, vehicle.tracker.snapshot(), verb)
        except LinkLost as exc:
            self._link_dropped(vehicle, link, exc)
            if verb in QUEUED_WHILE_LOST:
                self._queue(vehicle, cmd)
            else:
                self._refuse(vehicle, cmd, exc)
            return False
        except LinkTimeout as exc:
            # no answer: a safety command is never dropped for the link's timing
            self._silence_during_command(vehicle, link)
            if verb in QUEUED_WHILE_LOST:
                self._queue(vehicle, cmd, unanswered=exc)
            else:
                self._refuse(vehicle, cmd, exc)
            return False
        except (MissionError, FlightSessionError) as exc:
            self._silence_during_command(vehicle, link)
            self._refuse(vehicle, cmd, exc)
            return False
        self._silence_during_command(vehicle, link)
        if verb != "cancel":
            self._pending = None  # the latest command the vehicle took wins
        self._log_command(vehicle, verb, str(message))
        self._message(message)
        cmd.answer(message)
        return True

    def _silence_during_command(self, vehicle: Vehicle, link: _LinkWatch) -> None:
        """Tell the pilot of a silence the loop missed while a command was retried: a gap
        between heartbeats longer than the policy's is a lost link (the loop then says it is
        back); one still going on is the loop's to notice."""
        gap = self._beats.longest_gap_s
        if link.lost or vehicle.tracker.heartbeats == link.heartbeats:
            return
        if gap > self.link_policy.lost_after_s:
            link.lost = True
            self._message(
                _l("link lost: no heartbeat for %(seconds)s s", seconds=f"{gap:.0f}"),
                level="error",
            )
            self._publish("link", {"status": "lost"})

    def _log_command(
        self, vehicle: Vehicle, verb: str, text: str, *, kind: str = "command"
    ) -> None:
        """The pilot's command in flight.json's events (English), with its verb: ``command``
        when carried out, ``command_refused`` or ``command_queued`` (while the link is lost)."""
        if self._flight_log is not None and not self._flight_log.closed:
            self._flight_log.event(kind, text, time_s=vehicle.tracker.now(), command=verb)

    def _refuse(self, vehicle: Vehicle, cmd: _Command, exc: Exception) -> None:
        # one lazy message for the page and the API: each reader renders it
        refused = _l(
            "%(verb)s: %(reason)s",
            verb=lazy_names(COMMAND_NAMES, cmd.verb),
            reason=lazy_reason(exc),
        )
        self._log_command(vehicle, cmd.verb, str(refused), kind="command_refused")
        self._message(refused, level="error")
        cmd.refuse(FlightSessionError(refused))

    def _queue(
        self, vehicle: Vehicle, cmd: _Command, *, unanswered: LinkTimeout | None = None
    ) -> None:
        """Keep a safety command for when the vehicle is heard again; it replaces one kept
        before. ``unanswered``: it was sent and not acknowledged (it is sent again). A kept
        command tried again without an answer is kept quietly (the pilot was told)."""
        self._pending = cmd
        if cmd.future.done():
            log.info("flight session %s: %s unanswered, sent again", self.id, cmd.verb)
            return
        verb = lazy_names(COMMAND_NAMES, cmd.verb)
        if unanswered is not None:
            queued = _l(
                "%(verb)s queued: no answer from the vehicle (%(reason)s); it is sent again "
                "until the vehicle takes it (a later command replaces it)",
                verb=verb,
                reason=lazy_reason(unanswered),
            )
        else:
            queued = _l(
                "%(verb)s queued: link lost, retrying; it is sent as soon as the link is back "
                "(it replaces any command queued before)",
                verb=verb,
            )
        self._log_command(vehicle, cmd.verb, str(queued), kind="command_queued")
        self._message(queued, level="warning")
        cmd.answer(queued, queued=True)

    def _execute(self, vehicle: Vehicle, snapshot: Telemetry, verb: str) -> LazyString:
        self._start_at_alt = None  # a START waiting for the climb gives way to any command
        if verb == "arm":
            if snapshot.armed:
                raise FlightSessionError(_l("already armed"))
            if not self.checks:
                raise FlightSessionError(_l("pre-flight checks not evaluated yet"))
            if not all(c.ok for c in self.checks):
                raise FlightSessionError(
                    _l(
                        "pre-flight checks not passed: %(failed)s",
                        failed=_failed_checks(self.checks),
                    )
                )
            altitude = _takeoff_altitude(self.request.mission)
            self._commanded_mode = "GUIDED"  # its own, not another controller's
            vehicle.set_mode("GUIDED")
            vehicle.arm()
            self._timing = FlightTiming.at_arming(vehicle, self.estimate)
            vehicle.takeoff(altitude)  # at once: ArduCopter disarms after 10 s on the ground
            self._set_state("airborne")
            return _l("armed, taking off to %(altitude)s m", altitude=f"{altitude:.0f}")
        if verb == "cancel":
            if snapshot.armed:
                raise FlightSessionError(_l("the vehicle is armed: land it (or RTL) first"))
            return _l("session cancelled on the ground")
        if not snapshot.armed:
            raise FlightSessionError(_l("the vehicle is not armed"))
        if verb == "start":
            if not self._mission_started:
                altitude = _takeoff_altitude(self.request.mission)
                climbed = _climbed(snapshot, altitude)
                if not climbed and snapshot.mode == "GUIDED":  # still in ARM's takeoff climb
                    self._start_at_alt = altitude
                    return _l(
                        "the mission starts (AUTO) once the vehicle has climbed to %(altitude)s m "
                        "and its battery is checked again with the current it draws",
                        altitude=f"{altitude:.0f}",
                    )
                # up, or stopped on the way up (a pause: BRAKE ended the climb): it hovers, so
                # the battery is checked now and AUTO's first item climbs on
                self._battery_aloft(vehicle, snapshot)
                started = self._start_mission(vehicle)
                if not climbed:
                    return _l(
                        "mission started (AUTO): the vehicle climbs on to %(altitude)s m first",
                        altitude=f"{altitude:.0f}",
                    )
                return started
            return self._start_mission(vehicle)
        if verb == "pause":
            if self.state == "paused":
                raise FlightSessionError(_l("already paused"))
            if snapshot.on_ground:
                raise FlightSessionError(_l("the vehicle is on the ground"))
            self._commanded_mode = "BRAKE"
            vehicle.pause()
            self._set_state("paused")
            return _l("paused: holding position (BRAKE)")
        if verb == "resume":
            if self.state != "paused":
                raise FlightSessionError(_l("not paused: resume continues a paused mission"))
            if not self._mission_started:
                raise FlightSessionError(_l("the mission has not been started: use start"))
            self._commanded_mode = "AUTO"
            vehicle.resume()
            self._set_state("mission")
            return _l("mission resumed (AUTO) at item %(seq)s", seq=vehicle.tracker.mission_current)
        if verb == "rtl":
            self._commanded_mode = "RTL"
            vehicle.rtl()
            self._set_state("returning")
            return _l("returning to launch (RTL)")
        self._commanded_mode = "LAND"
        vehicle.land()
        self._set_state("landing")
        return _l("landing here (LAND)")

    def _start_mission(self, vehicle: Vehicle) -> LazyString:
        self._commanded_mode = "AUTO"
        vehicle.start_mission()
        self._mission_started = True
        self._mission_began(vehicle.tracker.snapshot())
        self._set_state("mission")
        return _l("mission started (AUTO)")

    def _start_when_climbed(self, vehicle: Vehicle, snapshot: Telemetry) -> None:
        """Carry out a START given during the climb once the vehicle is up (the battery check
        first); dropped, and said, when the vehicle is no longer taking off in GUIDED."""
        altitude = self._start_at_alt
        if altitude is None:
            return
        start = lazy_names(COMMAND_NAMES, "start")
        if not snapshot.armed or snapshot.mode != "GUIDED":
            self._start_at_alt = None
            reason = _l(
                "the vehicle is no longer taking off (%(state)s): the mission was not started",
                state=snapshot.one_line(),
            )
            self._message(_l("%(verb)s: %(reason)s", verb=start, reason=reason), level="error")
            return
        if not _climbed(snapshot, altitude):
            return
        self._start_at_alt = None
        try:
            self._battery_aloft(vehicle, snapshot)
            self._message(self._start_mission(vehicle))
        except (MissionError, FlightSessionError) as exc:
            refused = _l("%(verb)s: %(reason)s", verb=start, reason=lazy_reason(exc))
            self._message(refused, level="error")

    def _battery_aloft(self, vehicle: Vehicle, snapshot: Telemetry) -> None:
        """Before the mission first starts, check the battery again with the current the vehicle
        draws now that it flies (:func:`~missions.link.flight.aloft_battery_check`), as
        ``gridpatrol fly`` does: said either way; when the mission no longer fits, START is
        refused and RTL commanded (hovering spends what the battery has left)."""
        check = aloft_battery_check(
            snapshot,
            self.estimate,
            self.battery,
            endurance_s=self.request.endurance_s,
            reserve_pct=self.request.reserve_pct,
        )
        if check is None:
            return
        if self._flight_log is not None:
            self._flight_log.event(
                "preflight", f"battery after takeoff: {check.detail}", time_s=snapshot.time_s
            )
        if check.ok:
            self._message(_l("battery after takeoff: %(detail)s", detail=check.detail))
            return
        try:
            self._commanded_mode = "RTL"
            vehicle.rtl()
            self._set_state("returning")
            action = _l("RTL commanded")
        except LinkError as exc:
            action = _l(
                "RTL could not be commanded (%(reason)s): bring the vehicle back",
                reason=lazy_reason(exc),
            )
        raise FlightSessionError(
            _l(
                "battery after takeoff: %(detail)s; the mission was not started; %(action)s",
                detail=check.detail,
                action=action,
            )
        )

    def _fail_pending(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            cmd.future.set_exception(
                FlightSessionError(
                    _l(
                        "flight session %(id)s ended (%(state)s)",
                        id=self.id,
                        state=self.state_name(),
                    )
                )
            )

    def _mission_began(self, snapshot: Telemetry) -> None:
        """Note the mission's first start (the pilot's START, or AUTO set by another controller):
        the flight time is split there (:func:`mission_time_labels`)."""
        if self._mission_timing is None and self._timing is not None:
            self._mission_timing = FlightTiming(
                self.estimate.duration_s, time.monotonic(), snapshot.vehicle_time_s
            )

    def _split_at_mission(
        self, snapshot: Telemetry, duration: float | None, wall: float
    ) -> dict[str, float | None]:
        """The flight time from the mission's start to the end and before it, by the vehicle's
        clock (None when not heard) and by ours; all None when the mission never started."""
        if self._mission_timing is None:
            return dict.fromkeys(
                ("mission_s", "mission_wall_s", "before_mission_s", "before_mission_wall_s")
            )
        mission, mission_wall = self._mission_timing.durations(snapshot)
        return {
            "mission_s": _round(mission, 1),
            "mission_wall_s": _round(mission_wall, 1),
            "before_mission_s": _round(
                None if mission is None or duration is None else max(0.0, duration - mission), 1
            ),
            "before_mission_wall_s": _round(max(0.0, wall - mission_wall), 1),
        }

    def _flight_result(self, vehicle: Vehicle, *, landed: bool) -> FlightResult:
        """The flight as it stands, as ``gridpatrol fly`` sums it up (its flight.json's)."""
        snapshot = vehicle.tracker.snapshot()
        # a landing credits the items up to it; a disarm in the air credits nothing more
        landings = landing_sequences(self.request.mission) if landed else ()
        duration, wall = (None, None) if self._timing is None else self._timing.durations(snapshot)
        if wall is not None:
            self._mission_split = self._split_at_mission(snapshot, duration, wall)
        return FlightResult(
            landed=landed,
            duration_s=duration,
            duration_wall_s=wall,
            planned_s=self.estimate.duration_s,
            waypoints=tuple(self.waypoints),
            reached=tuple(reached_items(snapshot.mission, landing_items=landings)),
            photos=snapshot.photos,
            photos_unreported=snapshot.photos_unreported,
            max_relative_alt_m=self._max_alt,
            failsafes=tuple(self._failsafes),
            mode_changes=tuple(self._mode_changes),
            status_texts=tuple(self._texts),
            log_dir=str(self.log_dir),
            landing=(
                landing_of(self.request.mission, snapshot, position_known=not self._gps_lost)
                if landed
                else None
            ),
        )

    def _ended_reason(self) -> str:
        """Why a session ended without a landing or an error (English, for flight.json)."""
        if self._stop.is_set():
            return "the ground station stopped the session"
        return "cancelled by the pilot"

    def _log_summary(self, flown: FlightResult, *, reason: str | None = None) -> dict[str, Any]:
        """flight.json's summary: ``gridpatrol fly``'s fields (:meth:`FlightResult.to_json`:
        outcome, duration_s, planned_s, reason, mode_changes, ...) and the session's own."""
        summary = flown.to_json(reason=reason)
        if self._timing is None and not flown.landed:  # never armed, as fly says it
            summary["outcome"] = "aborted"
        summary.update(
            photos_taken=flown.photos + flown.photos_unreported,
            connection=self.connection,
            mission=self.request.name,
            **self._mission_split,
        )
        return summary

    def _summary(self, flown: FlightResult, *, reason: str | None = None) -> dict[str, Any]:
        """The session's result as the page and the API show it (counts, not sequence lists),
        with flight.json's outcome, times, failsafes and mode changes."""
        reached = set(flown.reached) & set(flown.waypoints)
        summary = {
            "landing": None if flown.landing is None else asdict(flown.landing),
            "landed": flown.landed,
            "waypoints": len(flown.waypoints),
            "reached": len(reached),
            "all_reached": flown.all_reached,
            "photos": flown.photos,
            "photos_taken": flown.photos + flown.photos_unreported,
            "photos_unreported": flown.photos_unreported,
            "connection": self.connection,
            "mission": self.request.name,
            "outcome": flown.outcome,
            "duration_s": flown.duration_s,
            "duration_wall_s": flown.duration_wall_s,
            "planned_s": flown.planned_s,
            # the flight time split at the mission's start (see mission_time_labels)
            **self._mission_split,
            "failsafes": list(flown.failsafes),
            "mode_changes": list(flown.mode_changes),
        }
        if reason is not None:
            summary["reason"] = reason
        return summary

    def _store(self, vehicle: Vehicle, sitl: Any) -> None:
        """Landed: keep the summary, register the photos as a flight and queue their ingest."""
        flown = self._landed or self._flight_result(vehicle, landed=True)
        summary = self.result = self._summary(flown, reason=self._early_reason(flown))
        fraction = summary["reached"] / summary["waypoints"] if summary["waypoints"] else 0.0
        area = None if self.request.area_m2 is None else self.request.area_m2 * fraction
        self._save(result=summary, landed_at=utcnow(), area_m2=area)
        if sitl is not None and self.request.world is not None:
            sitl.wait_photos(timeout=120.0)
        flight_id = job_id = None
        if self.photos_dir.is_dir() and photo_paths(self.photos_dir):
            try:
                flight_id = register_flight(
                    self.storage,
                    self.photos_dir,
                    # the plan and sortie; the flights page links the session that took them
                    name=self.request.name,
                    created_by=self.request.started_by,
                    camera=self.request.camera,
                )
            except IngestError as exc:
                self._message(lazy_reason(exc), level="error")
        if flight_id is not None and self.queue is not None:
            job_id = queue_ingest(self.storage, self.queue, flight_id)
        self.flight_id = flight_id
        self._save(flight_id=flight_id)
        if flight_id is None:
            self._message(self._no_photos_reason(sitl))
        outcome = session_outcome("done", summary)
        if outcome in NOTABLE_OUTCOMES:
            self._message(outcome_label(summary), level="warning")
        self._set_state(
            "done",
            flight_id=flight_id,
            job_id=job_id,
            summary=summary,
            flight_time=flight_time_label(summary),
            mission_time=mission_time_labels(summary)[0],
            before_mission_time=mission_time_labels(summary)[1],
            log_dir=str(self.log_dir),
            outcome=outcome,
            label=outcome_label(summary) if outcome in NOTABLE_OUTCOMES else None,
        )

    def _no_photos_reason(self, sitl: Any) -> LazyString:
        """Why a landed flight left no photo files here, and what to do: a simulator without a
        world raster makes no pictures at all, one with a world says why it wrote none, and a
        vehicle keeps its photos on its SD card."""
        if self.request.simulate and self.request.world is None:
            return _l(
                "the simulator flew without a world raster: its camera triggers made no "
                "pictures, so there are no photos to classify (start a simulated flight with a "
                "world GeoTIFF to photograph one)"
            )
        if sitl is not None:
            errors = sitl.camera.errors
            if errors:
                return _l(
                    "the simulator wrote no photo files for this flight (%(error)s): there are "
                    "none to classify",
                    error=errors[0],
                )
            return _l(
                "the simulator wrote no photo files for this flight: there are none to classify"
            )
        return _l(
            "no photo files on this ground station: upload the SD card's photos on the "
            "Flights page (Upload photos from a flight) to classify them"
        )


def runner_tag() -> str:
    """This process's name in ``flight_sessions.runner``: host, pid and a random part (a pid
    is reused after a restart)."""
    host = socket.gethostname()[:80] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


def _lock_vehicle(session: Session, key: str) -> None:
    """Serialise session starts on one vehicle across processes until ``session`` commits: a
    PostgreSQL advisory lock on the connection key (SQLite: the insert that follows takes the
    database's write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"flight\0{key}".encode(), digest_size=8).digest()
        session.execute(
            select(func.pg_advisory_xact_lock(int.from_bytes(digest, "big", signed=True)))
        )


class FlightHub:
    """The running sessions of this process, by id; they are marked alive in the database every
    ``alive_every_s`` seconds, and a session of any process marked within ``alive_for_s`` holds
    its vehicle (see :meth:`start`)."""

    def __init__(
        self,
        storage: Storage,
        queue_: JobQueue | None,
        *,
        data_dir: Path,
        max_active: int = 4,
        runner_options: dict[str, Any] | None = None,
        alive_every_s: float = ALIVE_EVERY_S,
        alive_for_s: float = ALIVE_FOR_S,
    ) -> None:
        if not 0 < alive_every_s < alive_for_s:
            raise ValueError(
                f"alive_every_s ({alive_every_s!r}) must be positive and below alive_for_s "
                f"({alive_for_s!r})"
            )
        self.storage = storage
        self.queue = queue_
        self.data_dir = Path(data_dir)
        self.max_active = max_active
        self.runner_options = dict(runner_options or {})
        self.alive_every_s = alive_every_s
        self.alive_for_s = alive_for_s
        self.tag = runner_tag()
        self._runners: dict[int, FlightRunner] = {}
        self._lock = threading.Lock()
        self._keeper: threading.Thread | None = None
        self._closing = threading.Event()

    def alive(self, row: FlightSession, *, now: datetime | None = None) -> bool:
        """Whether ``row``'s session runs now in some process (this one or another): not ended,
        and marked alive within ``alive_for_s``."""
        if row.state in FINAL_STATES or row.alive_at is None:
            return False
        return row.alive_at > (now or utcnow()) - timedelta(seconds=self.alive_for_s)

    def start(self, request: FlightRequest) -> FlightRunner:
        """Store the session row and start its thread; FlightSessionError when too many run or
        one already flies the vehicle of this connection string (see :func:`connection_key`),
        in this process or in another one on the same database."""
        key = None if request.simulate else connection_key(str(request.connection))
        with self._lock:
            active = [r for r in self._runners.values() if not r.finished]
            same = [r for r in active if key is not None and r.connection_key == key]
            if same:
                raise FlightSessionError(
                    _l(
                        "flight session %(id)s is already connected to %(connection)s "
                        "(%(state)s): fly it on its page, or end it first",
                        id=same[0].id,
                        connection=same[0].connection,
                        state=same[0].state_name(),
                    )
                )
            if len(active) >= self.max_active:
                raise FlightSessionError(
                    lazy_ngettext(
                        "%(num)d flight session is running (limit %(max)d); finish it first",
                        "%(num)d flight sessions are running (limit %(max)d); finish one first",
                        len(active),
                        max=self.max_active,
                    )
                )
            session_id = self._claim(request, key)
            runner = FlightRunner(
                session_id,
                request,
                storage=self.storage,
                queue_=self.queue,
                data_dir=self.data_dir,
                claim_vehicle=self._claim_vehicle,
                **self.runner_options,
            )
            self._runners[session_id] = runner
            if self._keeper is None:
                self._keeper = threading.Thread(
                    target=self._keep_alive, name="flight-alive", daemon=True
                )
                self._keeper.start()
        return runner.start()

    def _claim(self, request: FlightRequest, key: str | None) -> int:
        """Insert the session's row, marked alive by this process, unless a session of another
        process holds the vehicle: the row is inserted first, then an earlier live claim on the
        same vehicle looked for, both under one lock per vehicle (:func:`_lock_vehicle`), so of
        two starts at once exactly one wins. The new row's id, or FlightSessionError."""
        now = utcnow()
        with self.storage.session() as session:
            if key is not None:
                _lock_vehicle(session, key)
            row = FlightSession(
                plan_id=request.plan_id,
                sortie=request.sortie,
                connection=(request.connection or "sitl")[:200],
                simulated=request.simulate,
                state="starting",
                grid_codes=list(request.grid_codes),
                started_by=request.started_by,
                started_at=now,
                alive_at=now,
                runner=self.tag,
            )
            session.add(row)
            session.flush()
            other = None if key is None else self._live_claim(session, key, before=row.id, now=now)
            if other is not None:
                session.rollback()
                raise FlightSessionError(
                    _l(
                        "flight session %(id)s is already connected to %(connection)s "
                        "(%(state)s) by another ground-station process (%(process)s): fly it "
                        "on its page there, or end it first",
                        id=other.id,
                        connection=other.connection,
                        state=lazy_names(SESSION_STATE_NAMES, other.state, display=True),
                        process=other.runner or "?",
                    )
                )
            session.commit()
            return row.id

    def _live_claim(
        self, session: Session, key: str, *, before: int, now: datetime
    ) -> FlightSession | None:
        """The earliest session row before id ``before`` that is alive (:meth:`alive`) on the
        vehicle of connection key ``key``, from any process."""
        rows = session.scalars(
            select(FlightSession)
            .where(
                FlightSession.id < before,
                FlightSession.simulated.is_(False),
                FlightSession.state.not_in(FINAL_STATES),
                FlightSession.alive_at > now - timedelta(seconds=self.alive_for_s),
            )
            .order_by(FlightSession.id)
        )
        return next((r for r in rows if connection_key(r.connection) == key), None)

    def _keep_alive(self) -> None:
        """Mark this process's running sessions alive (one UPDATE each ``alive_every_s``, on
        its own database session) until none runs or the hub shuts down."""
        while not self._closing.wait(self.alive_every_s):
            with self._lock:
                ids = [r.id for r in self._runners.values() if not r.finished]
                if not ids:
                    self._keeper = None
                    return
            try:
                with self.storage.session() as session:
                    session.execute(
                        update(FlightSession)
                        .where(
                            FlightSession.id.in_(ids),
                            FlightSession.runner == self.tag,
                            FlightSession.state.not_in(FINAL_STATES),
                        )
                        .values(alive_at=utcnow())
                        .execution_options(synchronize_session=False)
                    )
                    session.commit()
            except Exception:  # a database hiccup: the next round tries again
                log.exception("flight sessions %s: cannot mark them alive", ids)

    def _claim_vehicle(self, runner: FlightRunner, board: str) -> None:
        """Give ``runner`` the vehicle with board serial ``board`` unless another running session
        holds it (reached through another address: a proxy, a second radio): FlightSessionError."""
        with self._lock:
            for other in self._runners.values():
                if other is not runner and not other.finished and other.board_id == board:
                    raise FlightSessionError(
                        _l(
                            "flight session %(id)s already flies this vehicle (board %(board)s) "
                            "through %(connection)s: fly it on that session's page, or end it "
                            "first",
                            id=other.id,
                            board=board,
                            connection=other.connection,
                        )
                    )
            runner.board_id = board

    def get(self, session_id: int) -> FlightRunner | None:
        with self._lock:
            return self._runners.get(session_id)

    def runners(self) -> list[FlightRunner]:
        with self._lock:
            return sorted(self._runners.values(), key=lambda r: -r.id)

    def shutdown(self) -> None:
        for runner in self.runners():
            runner.stop()
        self._closing.set()
