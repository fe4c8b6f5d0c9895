"""The flight procedure: upload and verify, pre-flight checks, arm, take off, AUTO, watch, land.

:func:`fly` drives a :class:`~missions.link.vehicle.Vehicle` through one sortie the way a careful
pilot would with ArduCopter: every list verified, pre-flight checks all green (GPS fix, EKF
position, battery for the mission plus reserve, home set, geofence on board), takeoff right after
arming (ArduCopter disarms after 10 s on the ground), AUTO, then watching progress and the
vehicle's own failsafes until it has landed and disarmed. A link that drops while the vehicle
flies is reopened with back-off (the vehicle flies on meanwhile). The checks and the mission
estimate are pure functions.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gis.crs import LocalFrame
from gis.geodesy import ground_distance_m
from gis.messages import Message, counted, msg
from missions.items import Command, MissionItem, MissionPlan
from missions.link.battery import (
    BatteryParams,
    battery_detail,
    battery_need,
    full_battery_s,
    read_battery_params,
)
from missions.link.errors import (
    FlightAborted,
    Interrupted,
    LinkConnectError,
    LinkError,
    LinkLost,
    LinkTimeout,
    PreflightError,
    VehicleArmed,
    VerifyError,
    stop_reason,
)
from missions.link.landing import (
    LandingPlace,
    LandingWatch,
    Outcome,
    Touchdown,
    flight_outcome,
    landing_place,
    reached_items,
    watch_landing,
)
from missions.link.safety import FlightWarnings, Notice
from missions.link.telemetry import FlightLog, ModeHeard, Reboot, Telemetry, TelemetryTracker
from missions.link.vehicle import Vehicle, takeoff_step
from missions.planner.objective import FlightTimeModel

__all__ = [
    "DEFAULT_ENDURANCE_S",
    "HOME_TOLERANCE_M",
    "LINK_SILENT_S",
    "Check",
    "FenceStatus",
    "FlightResult",
    "FlightTiming",
    "MissionEstimate",
    "ModeChange",
    "aloft_battery_check",
    "battery_check",
    "clock_text",
    "estimate_mission",
    "flight_endurance_s",
    "fly",
    "landing_of",
    "landing_sequences",
    "mode_change",
    "position_unsure",
    "preflight_checks",
    "settle_photo_count",
    "snapshot_interval_s",
    "prepare_fence",
    "rally_positions",
    "reboot_message",
    "vehicle_now",
    "waypoint_sequences",
]

#: Modes the vehicle switches to by itself when a failsafe triggers.
FAILSAFE_MODES = frozenset({"RTL", "LAND", "SMART_RTL", "BRAKE"})
WARNING = 4  # MAV_SEVERITY_WARNING
#: Last mission items after which ArduCopter lands by itself.
RETURN_COMMANDS = frozenset({Command.NAV_RETURN_TO_LAUNCH, Command.NAV_LAND})
#: The vehicle's home (or, before it has one, its position) must be this close to the plan's
#: home: the mission, its fence and its battery estimate were planned from there.
HOME_TOLERANCE_M = 50.0
FENCE_ALTITUDE, FENCE_CIRCLE = 1, 2  # FENCE_TYPE bits
#: Flight time of a full battery (s) for the battery check of a vehicle whose BATT_CAPACITY is
#: unknown, when no endurance is given.
DEFAULT_ENDURANCE_S = 1500.0


@dataclass(frozen=True, slots=True)
class Check:
    """One pre-flight check: its name, whether it passed, and what was seen (a translatable
    :class:`~gis.messages.Message`: ``str()`` gives English, the ground station its reader's
    language)."""

    name: str
    ok: bool
    detail: Message


@dataclass(frozen=True, slots=True)
class FenceStatus:
    """The vehicle's geofence parameters as read back (None: the vehicle did not answer)."""

    enabled: bool | None
    fence_type: int | None = None  # FENCE_TYPE bits: 1 max altitude, 2 circle, 4 polygons
    radius_m: float | None = None  # FENCE_RADIUS
    alt_max_m: float | None = None  # FENCE_ALT_MAX


@dataclass(frozen=True, slots=True)
class MissionEstimate:
    """Horizontal path length from home through every positioned item back home, and its time."""

    distance_m: float
    duration_s: float


def clock_text(seconds: float) -> str:
    """A duration as a clock shows it: ``3:16``, ``1:02:03`` (whole seconds, rounded).

    >>> clock_text(196.4), clock_text(59.6), clock_text(3723)
    ('3:16', '1:00', '1:02:03')
    """
    minutes, secs = divmod(round(max(0.0, seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class FlightResult:
    """What happened: landed or not, how long it flew against the plan, waypoints reached,
    photos, failsafes and mode changes made by another controller, where the log is."""

    landed: bool
    #: flight time by the vehicle's clock (``time_boot_ms``), from arming to the disarm: a
    #: sped-up simulator's own seconds, comparable with :attr:`planned_s`; None when its clock
    #: was not heard or restarted (a reboot)
    duration_s: float | None
    waypoints: tuple[int, ...]  # vehicle sequence numbers of the plan's NAV_WAYPOINT items
    reached: tuple[int, ...]
    photos: int  # reported by CAMERA_FEEDBACK
    max_relative_alt_m: float
    failsafes: tuple[str, ...]  # the vehicle's own mode changes, with the reasons it sent
    status_texts: tuple[str, ...]
    log_dir: str | None
    photos_unreported: int = 0  # taken (by the image indices) but never reported over the link
    planned_s: float | None = None  # the plan's expected flight time (estimate_mission)
    #: the same span by our clock (a sped-up simulator flies it in a fraction of duration_s)
    duration_wall_s: float | None = None
    #: mode changes neither fly nor a failsafe made: the RC or another ground station (or,
    #: first heard after the link was silent, either: see ModeChange.link_lost)
    mode_changes: tuple[str, ...] = ()
    #: where a landed flight came down (:func:`landing_of`); None: not landed or not known
    landing: LandingPlace | None = None

    @property
    def all_reached(self) -> bool:
        return set(self.waypoints) <= set(self.reached)

    @property
    def landed_away(self) -> bool:
        """Landed away from home and every rally point (see :func:`landing_of`)."""
        return self.landed and self.landing is not None and self.landing.away

    @property
    def outcome(self) -> Outcome:
        """``complete``, ``returned_early``, ``landed_away`` or ``failed`` (see
        :func:`~missions.link.landing.flight_outcome`)."""
        return flight_outcome(
            landed=self.landed, all_reached=self.all_reached, landed_away=self.landed_away
        )

    def flight_time(self) -> str:
        """``3:14 flown (plan 3:16)``: by the vehicle's clock, else by ours (said so)."""
        if self.duration_s is not None:
            text = f"{clock_text(self.duration_s)} flown"
        elif self.duration_wall_s is not None:
            text = f"{clock_text(self.duration_wall_s)} flown by our clock"
        else:
            text = "flight time unknown"
        return text if self.planned_s is None else f"{text} (plan {clock_text(self.planned_s)})"

    def summary(self, *, failsafes: bool = True, mode_changes: bool = True) -> str:
        """``landed: 5:12 flown (plan 5:16), 41/41 waypoints, 126 photos, max 80 m``
        (``returned early`` when it landed before its last waypoint, ``landed away from home,
        9.3 km S of home at LAT,LON`` when it came down elsewhere, ``NOT landed`` when it did
        not land), then the failsafes and other controllers' mode changes."""
        hit = len(set(self.waypoints) & set(self.reached))
        state = {"complete": "landed", "returned_early": "returned early"}.get(
            self.outcome, "NOT landed"
        )
        if self.landed_away and self.landing is not None:
            state = (
                f"landed away from home, {self.landing.text()}"
                if self.landing.position_known
                else f"landed, {self.landing.text()}"
            )
        text = (
            f"{state}: {self.flight_time()}, "
            f"{hit}/{counted(len(self.waypoints), 'waypoint')}, "
            f"{counted(self.photos, 'photo')}, max {self.max_relative_alt_m:.0f} m"
        )
        if self.photos_unreported:
            text += (
                f" ({counted(self.photos + self.photos_unreported, 'photo')} taken, "
                f"{self.photos_unreported} not reported over the link)"
            )
        if failsafes and self.failsafes:
            text += f"; failsafe: {'; '.join(self.failsafes)}"
        if mode_changes and self.mode_changes:
            text += f"; {'; '.join(self.mode_changes)}"
        return text

    def to_json(self, *, reason: str | None = None) -> dict[str, Any]:
        """flight.json's summary: every field, ``all_reached``, ``outcome`` and, for a flight
        that ended early, the ``reason`` given."""
        summary = asdict(self)
        summary["all_reached"] = self.all_reached
        summary["outcome"] = self.outcome
        if reason is not None:
            summary["reason"] = reason
        return summary


#: A STATUSTEXT of severity WARNING or worse heard at most this many vehicle seconds before a
#: mode change fly did not make explains it as the vehicle's failsafe: ArduPilot says why as it
#: acts ("Battery 1 is low", "GCS Failsafe", "Fence Breached", "EKF variance").
FAILSAFE_TEXT_WINDOW_S = 10.0
#: A mode change heard after the link was silent this long (our seconds) may have lost the
#: texts that explained it: it is said as made while the link was lost, not as another
#: controller's.
MODE_SILENCE_S = 2.0


@dataclass(frozen=True, slots=True)
class ModeChange:
    """A mode change fly did not command: the vehicle's failsafe when it said why just before
    (``reasons``), else another controller's (the RC's mode switch or another ground station),
    or, first heard after the link was silent (``link_lost``), either: its reasons may have
    been lost with the link."""

    mode: str
    reasons: tuple[str, ...] = ()
    link_lost: bool = False

    @property
    def failsafe(self) -> bool:
        return bool(self.reasons)

    @property
    def text(self) -> Message:
        """What happened, quoting the vehicle's reasons as it sent them (English)."""
        return self.text_with("; ".join(self.reasons))

    def text_with(self, reasons: object) -> Message:
        """:attr:`text` with ``reasons`` in place of the vehicle's own texts: a ground station
        passes them in its reader's language (rendered when the message is)."""
        if self.reasons:
            return msg(
                "vehicle switched to %(mode)s (%(reasons)s)", mode=self.mode, reasons=reasons
            )
        if self.link_lost:
            return msg(
                "the vehicle switched to %(mode)s while the link was lost (a failsafe, or another "
                "controller)",
                mode=self.mode,
            )
        return msg(
            "the mode was changed to %(mode)s by another controller (RC or ground station)",
            mode=self.mode,
        )


def mode_change(
    mode: str, warnings: list[tuple[float, str]], *, now_s: float, link_lost: bool = False
) -> ModeChange:
    """Classify a mode change fly did not make, from the ``(vehicle time, text)`` warnings heard
    so far: those within :data:`FAILSAFE_TEXT_WINDOW_S` before ``now_s`` (the vehicle's time of
    the change; the last two) are the failsafe's reasons; none means another controller
    changed the mode or, when the change was first heard after a silence of the link
    (``link_lost``), that nobody can tell which."""
    recent = [text for at, text in warnings if now_s - at <= FAILSAFE_TEXT_WINDOW_S]
    return ModeChange(mode, tuple(recent[-2:]), link_lost=link_lost and not recent)


def _snapshot_clock_s(snapshot: Telemetry) -> float:
    """The vehicle's clock in ``snapshot`` when heard, else ours (seconds since the link)."""
    return snapshot.time_s if snapshot.vehicle_time_s is None else snapshot.vehicle_time_s


@dataclass(frozen=True, slots=True)
class FlightTiming:
    """The plan's expected flight time and the moment the vehicle armed, by its clock (None: not
    heard) and by ours: the flight's durations count from there (``fly`` and the ground
    station's flight sessions alike)."""

    planned_s: float
    armed_wall_s: float
    armed_vehicle_s: float | None

    @classmethod
    def at_arming(cls, vehicle: Vehicle, estimate: MissionEstimate) -> FlightTiming:
        return cls(estimate.duration_s, time.monotonic(), vehicle.tracker.vehicle_time_s)

    def durations(
        self, snapshot: Telemetry, *, ended_wall_s: float | None = None
    ) -> tuple[float | None, float]:
        """(vehicle seconds, our seconds) from arming to the end: the disarm heard in
        ``snapshot`` (its last position while armed), else the latest clock heard; ours up to
        ``ended_wall_s`` (now when None). The vehicle's is None when its clock was not heard
        or restarted."""
        wall = (time.monotonic() if ended_wall_s is None else ended_wall_s) - self.armed_wall_s
        end = snapshot.vehicle_time_s
        disarm = snapshot.disarm
        if not snapshot.armed and disarm is not None and disarm.before is not None:
            end = disarm.before.boot_s
        if (
            self.armed_vehicle_s is None
            or end is None
            or snapshot.reboot is not None
            or end < self.armed_vehicle_s
        ):
            return None, wall
        return end - self.armed_vehicle_s, wall


def landing_of(
    plan: MissionPlan, snapshot: Telemetry, *, position_known: bool = True
) -> LandingPlace | None:
    """Where a vehicle that has landed came down (:func:`~missions.link.landing.landing_place`),
    from its last position in ``snapshot``: measured from its home (the plan's when it sent
    none), and away unless near home, the plan's home, a rally point or one of the plan's LAND
    items. None when no position was heard. ``position_known=False`` (the GPS was lost before
    it landed, see :func:`position_unsure`): the position is only the last known one, the
    vehicle may have drifted anywhere since, so it counts as away (someone must go and look)."""
    position = snapshot.position
    if position is None:
        return None
    home = snapshot.home[:2] if snapshot.home is not None else plan.home[:2]
    allowed = [*rally_positions(plan), *_land_positions(plan)]
    if has_home(plan):
        allowed.append(plan.home[:2])
    place = landing_place((position.lat, position.lon), home=home, allowed=allowed)
    return place if position_known else replace(place, away=True, position_known=False)


def position_unsure(snapshot: Telemetry) -> bool:
    """Whether the position in ``snapshot`` may be stale: no 3D GPS fix, or an EKF without a
    horizontal position (a vehicle that lost its GPS keeps reporting its last fix)."""
    return (snapshot.gps is not None and snapshot.gps.fix_type < 3) or snapshot.ekf_ok is False


def _land_positions(plan: MissionPlan) -> list[tuple[float, float]]:
    """``(lat, lon)`` of the plan's NAV_LAND items that name a position."""
    return [(i.lat, i.lon) for i in _positioned(plan) if i.command == Command.NAV_LAND]


def waypoint_sequences(plan: MissionPlan) -> tuple[int, ...]:
    """Vehicle sequence numbers (plan index + 1) of the plan's NAV_WAYPOINT items."""
    return tuple(i + 1 for i, item in enumerate(plan.items) if item.command == Command.NAV_WAYPOINT)


def landing_sequences(plan: MissionPlan) -> tuple[int, ...]:
    """Vehicle sequence numbers of the plan's NAV_LAND and NAV_RETURN_TO_LAUNCH items."""
    return tuple(i + 1 for i, item in enumerate(plan.items) if item.command in RETURN_COMMANDS)


#: After landing, ask this long (wall seconds) for the camera's image count.
PHOTO_COUNT_TIMEOUT_S = 3.0
#: Before arming, ask this many times (while the checks run) for the count before the flight.
CAMERA_COUNT_ASKS = 10


def settle_photo_count(vehicle: Vehicle, *, timeout_s: float = PHOTO_COUNT_TIMEOUT_S) -> None:
    """After landing: ask the vehicle for CAMERA_CAPTURE_STATUS (asking again while it does not
    answer) so photos whose CAMERA_FEEDBACK was lost, the last ones too, count as taken. Only
    when the vehicle has a camera that reported; a link lost meanwhile leaves the count as is."""
    tracker = vehicle.tracker
    if not tracker.camera_events and tracker.image_count is None:
        return
    heard = tracker.capture_status_count
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(LinkError):
        while tracker.capture_status_count == heard and time.monotonic() < deadline:
            vehicle.request_camera_status()
            vehicle.pump(0.5)


def estimate_mission(plan: MissionPlan, *, climb_rate_mps: float = 2.5) -> MissionEstimate:
    """Path length and flying time by the planner's own model (:class:`~missions.planner.
    objective.FlightTimeModel`): legs at the plan's cruise speed, a turn at every waypoint, climb
    and descent; so `fly` and the battery check expect the time the plan promised."""
    legs = _positioned(plan)
    points = [(item.lat, item.lon) for item in legs]
    max_alt = max((item.alt for item in legs), default=0.0)
    if has_home(plan):  # from home and back; a plan without one (0, 0) counts its legs only
        points = [plan.home[:2], *points, plan.home[:2]]
    distance = sum(ground_distance_m(a, b) for a, b in itertools.pairwise(points))
    model = FlightTimeModel(speed_mps=max(plan.cruise_speed_mps, 0.1), climb_mps=climb_rate_mps)
    duration = model.vertical_s(max_alt)
    if len(points) >= 2:
        frame = LocalFrame(points[0][1], points[0][0])
        x, y = frame.forward([lon for _, lon in points], [lat for lat, _ in points])
        duration += model.path_s(np.column_stack([x, y]))
    return MissionEstimate(distance_m=distance, duration_s=duration)


def preflight_checks(
    snapshot: Telemetry,
    plan: MissionPlan,
    *,
    verified: bool,
    endurance_s: float | None,
    reserve_pct: float,
    require_fence: bool = False,
    estimate: MissionEstimate | None = None,
    fence: FenceStatus | None = None,
    battery: BatteryParams | None = None,
) -> tuple[Check, ...]:
    """Evaluate the pre-flight checks on one telemetry snapshot (pure).

    ``estimate`` is the plan's :func:`estimate_mission` (computed here when not given);
    ``battery`` the vehicle's battery parameters (:func:`~missions.link.battery.
    read_battery_params`): with them the battery check works in mAh from the vehicle's capacity,
    current and failsafe levels (``endurance_s``, when given, sets the current); without them
    it divides the mission's time by ``endurance_s`` (:data:`DEFAULT_ENDURANCE_S` when None);
    ``fence`` the vehicle's fence as :func:`prepare_fence` left it: a plan with a geofence passes
    only with the fence uploaded, verified and enabled (and no circle or altitude fence of the
    vehicle's cutting the mission); a plan without one fails only when the vehicle's own fence
    is on and cuts the mission (or ``require_fence``).
    """
    checks: list[Check] = []
    gps = snapshot.gps
    checks.append(
        Check(
            "gps fix",
            gps is not None and gps.fix_type >= 3,
            msg("no GPS_RAW_INT")
            if gps is None
            else msg(
                "fix type %(fix)s, %(satellites)s satellites",
                fix=gps.fix_type,
                satellites=gps.satellites,
            ),
        )
    )
    if snapshot.ekf_ok is None:
        ekf = Check(
            "ekf position",
            snapshot.position is not None and gps is not None and gps.fix_type >= 3,
            msg("no EKF_STATUS_REPORT; using the GPS fix"),
        )
    else:
        ekf = Check(
            "ekf position",
            snapshot.ekf_ok,
            msg("absolute position OK") if snapshot.ekf_ok else msg("no absolute position"),
        )
    checks.append(ekf)
    if estimate is None:
        estimate = estimate_mission(plan)
    checks.append(
        battery_check(
            snapshot, estimate, battery=battery, endurance_s=endurance_s, reserve_pct=reserve_pct
        )
    )
    checks.append(
        Check(
            "mission verified",
            verified,
            msg("matches the plan") if verified else msg("not verified"),
        )
    )
    home = snapshot.home
    checks.append(
        Check(
            "home set",
            home is not None,
            msg("no HOME_POSITION")
            if home is None
            else msg("%(lat)s,%(lon)s", lat=f"{home[0]:.6f}", lon=f"{home[1]:.6f}"),
        )
    )
    checks.append(_home_check(snapshot, plan))
    if plan.fence_polygons or plan.fence_circles:
        checks.append(_fence_check(plan, verified=verified, fence=fence))
    else:  # the vehicle's own circle or altitude fence, if on, still ends the mission early
        cut = _vehicle_fence_cut(plan, fence) if fence is not None and fence.enabled else None
        checks.append(cut or Check("geofence", not require_fence, msg("the plan has no geofence")))
    return tuple(checks)


def battery_check(
    snapshot: Telemetry,
    estimate: MissionEstimate,
    *,
    battery: BatteryParams | None,
    endurance_s: float | None,
    reserve_pct: float,
) -> Check:
    """The battery check (see :func:`preflight_checks`); its detail gives every number used."""
    level = snapshot.battery
    if level is None or level.remaining_pct is None:
        return Check("battery", False, msg("battery level unknown"))
    if battery is None:
        endurance = DEFAULT_ENDURANCE_S if endurance_s is None else endurance_s
        need = 100.0 * estimate.duration_s / max(endurance, 1.0) + reserve_pct
        return Check(
            "battery",
            level.remaining_pct >= need,
            msg(
                "%(remaining)s%% on board, mission needs %(need)s%% incl. %(reserve)s%% reserve",
                remaining=f"{level.remaining_pct:.0f}",
                need=f"{need:.0f}",
                reserve=f"{reserve_pct:.0f}",
            ),
        )
    need = battery_need(
        battery,
        duration_s=estimate.duration_s,
        remaining_pct=level.remaining_pct,
        voltage_v=level.voltage_v,
        measured_current_a=snapshot.flight_current_a,
        endurance_s=endurance_s,
        reserve_pct=reserve_pct,
    )
    return Check("battery", need.ok, battery_detail(need))


def _positioned(plan: MissionPlan) -> list[MissionItem]:
    """The plan's navigation items that have a position (0, 0 and NaN mean "here")."""
    return [
        item
        for item in plan.items
        if item.command < 100
        and not (item.lat == 0.0 and item.lon == 0.0)
        and not math.isnan(item.lat + item.lon)
    ]


def has_home(plan: MissionPlan) -> bool:
    """Whether the plan names its home: Mission Planner writes 0, 0 when it had no position."""
    lat, lon = plan.home[:2]
    return not (lat == 0.0 and lon == 0.0) and not math.isnan(lat + lon)


def _home_check(snapshot: Telemetry, plan: MissionPlan) -> Check:
    if not has_home(plan):
        return Check(
            "home at plan",
            False,
            msg("the plan has no home position (0, 0): set its home where the vehicle takes off"),
        )
    if snapshot.home is not None:
        where = snapshot.home[:2]
    elif snapshot.position is not None and snapshot.on_ground:
        where = (snapshot.position.lat, snapshot.position.lon)
    else:
        return Check("home at plan", False, msg("no home or position to compare yet"))
    distance = ground_distance_m(where, plan.home[:2])
    if distance <= HOME_TOLERANCE_M:
        return Check(
            "home at plan",
            True,
            msg(
                "%(distance)s m from the plan's home (at most %(limit)s m)",
                distance=f"{distance:.0f}",
                limit=f"{HOME_TOLERANCE_M:.0f}",
            ),
        )
    return Check(
        "home at plan",
        False,
        msg(
            "%(distance)s m from the plan's home, at most %(limit)s m: take off where the "
            "plan was made, or plan again from here",
            distance=f"{distance:.0f}",
            limit=f"{HOME_TOLERANCE_M:.0f}",
        ),
    )


def _fence_check(plan: MissionPlan, *, verified: bool, fence: FenceStatus | None) -> Check:
    if not verified:
        return Check("geofence", False, msg("uploaded but not verified"))
    if fence is None or fence.enabled is None:
        return Check("geofence", False, msg("uploaded and verified; FENCE_ENABLE not read back"))
    if not fence.enabled:
        return Check(
            "geofence",
            False,
            msg("uploaded and verified, but the vehicle did not enable it (FENCE_ENABLE is 0)"),
        )
    return _vehicle_fence_cut(plan, fence) or Check(
        "geofence", True, msg("uploaded, verified and enabled")
    )


def _vehicle_fence_cut(plan: MissionPlan, fence: FenceStatus) -> Check | None:
    """A failed geofence check when the vehicle's circle (FENCE_RADIUS around home) or altitude
    (FENCE_ALT_MAX) fence, as read back, cuts the mission; None when neither does."""
    home = plan.home[:2]
    far = max((ground_distance_m(home, (i.lat, i.lon)) for i in _positioned(plan)), default=0.0)
    high = max((i.alt for i in plan.items if i.command < 100), default=0.0)
    kinds = fence.fence_type or 0
    if kinds & FENCE_CIRCLE and fence.radius_m is not None and far > fence.radius_m:
        return Check(
            "geofence",
            False,
            msg(
                "the vehicle's circular fence (FENCE_RADIUS %(radius)s m) cuts the mission: a "
                "waypoint is %(distance)s m from home",
                radius=f"{fence.radius_m:.0f}",
                distance=f"{far:.0f}",
            ),
        )
    if kinds & FENCE_ALTITUDE and fence.alt_max_m is not None and high > fence.alt_max_m:
        return Check(
            "geofence",
            False,
            msg(
                "the vehicle's altitude fence (FENCE_ALT_MAX %(limit)s m) is below the "
                "mission's %(altitude)s m",
                limit=f"{fence.alt_max_m:.0f}",
                altitude=f"{high:.0f}",
            ),
        )
    return None


def prepare_fence(vehicle: Vehicle, plan: MissionPlan) -> FenceStatus:
    """Enable the vehicle's geofence (FENCE_ENABLE=1) when the plan carries one, and read back
    what the vehicle holds (FENCE_ENABLE, FENCE_TYPE, FENCE_RADIUS, FENCE_ALT_MAX).

    A plan without a fence leaves the vehicle's setting as it is, but is read back all the
    same: a fence the pilot enabled on the vehicle (its circle around home, its altitude limit)
    triggers the fence failsafe mid-mission whether or not the plan has a fence, so the
    pre-flight checks must see it. Parameters the vehicle does not answer for are None (the
    geofence check then fails for a plan with a fence).
    """

    def read(name: str) -> float | None:
        with contextlib.suppress(LinkTimeout):
            return vehicle.get_param(name)
        return None

    if plan.fence_polygons or plan.fence_circles:
        try:
            enabled: float | None = vehicle.set_param("FENCE_ENABLE", 1)
        except LinkTimeout:
            enabled = None
    else:  # not ours to change, but the vehicle's own fence may still cut the mission
        enabled = read("FENCE_ENABLE")
    kinds, radius, alt_max = read("FENCE_TYPE"), read("FENCE_RADIUS"), read("FENCE_ALT_MAX")
    return FenceStatus(
        enabled=None if enabled is None else enabled >= 1,
        fence_type=None if kinds is None else int(kinds),
        radius_m=radius,
        alt_max_m=alt_max,
    )


def reboot_message(reboot: Reboot) -> Message:
    """What a pilot must hear when the vehicle restarted in flight (see
    :attr:`~missions.link.telemetry.TelemetryTracker.reboot`): never a landing."""
    if reboot.kind == "board":
        return msg(
            "another autopilot answers on the link (board %(before)s, now %(after)s): the "
            "vehicle rebooted or was replaced in flight; not a landing; check it",
            before=reboot.before,
            after=reboot.after,
        )
    return msg(
        "the vehicle rebooted in flight (its clock restarted: up %(before)s s when last heard, "
        "%(after)s s now): not a landing; check it",
        before=reboot.before,
        after=reboot.after,
    )


def _labelled(
    callback: Callable[[str, int, int], None] | None, verb: str
) -> Callable[[str, int, int], None] | None:
    """Prefix the list name with the verb: ``("upload mission", 12, 41)``."""
    if callback is None:
        return None
    return lambda what, done, total: callback(f"{verb} {what}", done, total)


def _takeoff_altitude(plan: MissionPlan) -> float:
    for item in plan.items:
        if item.command == Command.NAV_TAKEOFF and item.alt > 0:
            return float(item.alt)
    alts = [item.alt for item in plan.items if item.command < 100 and item.alt > 0]
    return float(alts[0]) if alts else 20.0


def fly(
    vehicle: Vehicle,
    plan: MissionPlan,
    *,
    log_dir: str | Path | None = None,
    on_status: Callable[[Telemetry], None] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    endurance_s: float | None = None,
    reserve_pct: float = 20.0,
    require_fence: bool = False,
    takeoff_alt_m: float | None = None,
    preflight_timeout_s: float = 30.0,
    flight_timeout_s: float | None = None,
    status_interval_s: float = 0.25,
    on_link: Callable[[Message], None] | None = None,
    on_warning: Callable[[Message], None] | None = None,
    on_note: Callable[[Message], None] | None = None,
) -> FlightResult:
    """Fly ``plan`` once on a ready vehicle and return what happened.

    A vehicle found armed (the ground side crashed or was stopped mid-flight, and fly is run
    again) is taken over when the mission on board is ``plan``'s (downloaded and compared item
    by item with the fence and rally points): nothing is uploaded or commanded, the flight is
    watched to its end as fly's own (``on_note`` hears that it was taken over; its durations
    count from then). One flying another mission is refused (VehicleArmed).

    The battery check reads the vehicle's BATT_CAPACITY and failsafe levels (``endurance_s``,
    the flight time of a full battery, overrides the current drawn; see
    :mod:`missions.link.battery`) and is done again after takeoff with the current measured;
    ``on_warning(message)`` hears the in-flight warnings (:mod:`missions.link.safety`: GPS lost
    and back, battery low, an RTL getting no closer to home), which flight.json records too. A
    flight still in the air when the plan's expected time plus a full battery's endurance have
    passed on the vehicle's clock is given up: LAND is commanded and FlightAborted raised.

    ``on_progress(label, done, total)`` follows the transfers (label e.g. ``"verify fence"``),
    ``on_status(snapshot)`` sees every telemetry snapshot, ``on_link(message)`` hears when the
    link drops, of reconnect attempts (at most one every RECONNECT_REPORT_S) and when it is
    back. Any error after arming commands RTL (LAND if RTL fails) unless the vehicle is
    already returning or landing, and raises FlightAborted saying so. Raises PreflightError
    naming every failed check, ArmRefused with the vehicle's reasons, FlightAborted (carrying the
    FlightResult) when a failsafe or a timeout ends the flight early, and LinkLost when a
    dropped link is not back before the flight's timeout.
    """
    if not any(item.command < 100 for item in plan.items):  # ArduCopter would hover in place
        raise PreflightError(
            "pre-flight checks failed: mission (the plan has no navigation items)",
            failed=("mission",),
        )
    log = (
        FlightLog(log_dir, vehicle_clock=lambda: vehicle.tracker.vehicle_time_s)
        if log_dir is not None
        else None
    )
    logged_photos = 0
    logged_messages = -1  # the tracker's message count at the last telemetry row
    timing: FlightTiming | None = None  # set once armed

    def record(snapshot: Telemetry) -> None:
        """A telemetry row when the vehicle sent anything new (a silent link adds none)."""
        nonlocal logged_photos, logged_messages
        if log is not None and (
            vehicle.tracker.messages != logged_messages or snapshot.status_texts
        ):
            logged_messages = vehicle.tracker.messages
            log.record(snapshot)
            for event in vehicle.tracker.camera_events[logged_photos:]:
                log.camera(event)
        logged_photos = len(vehicle.tracker.camera_events)
        if on_status is not None:
            on_status(snapshot)

    def by_parameters(battery: BatteryParams | None, planned_s: float) -> _Safety:
        """The watch by the vehicle's battery parameters (no current measured aloft)."""
        return _Safety(
            FlightWarnings(battery, rally=rally_positions(plan)),
            planned_s,
            flight_endurance_s(battery, endurance_s=endurance_s),
            on_warning,
        )

    try:
        if vehicle.tracker.armed:  # already flying: take it over if it flies this plan
            timing = _take_over(vehicle, plan, log=log, on_progress=on_progress, on_note=on_note)
            battery = read_battery_params(vehicle)
            try:
                return _watch(
                    vehicle, plan, log=log, record=record, started=timing,
                    interval_s=status_interval_s, timeout_s=flight_timeout_s, on_link=on_link,
                    safety=by_parameters(battery, timing.planned_s),
                    start_mode=vehicle.tracker.mode,
                )  # fmt: skip
            except (Exception, KeyboardInterrupt) as exc:
                aborted = _bring_back(vehicle, exc, log)
                if aborted is None:
                    raise
                raise aborted from exc
        vehicle.upload(plan, on_progress=_labelled(on_progress, "upload"))
        vehicle.verify(plan, on_progress=_labelled(on_progress, "verify"))
        vehicle.request_streams()
        fence = prepare_fence(vehicle, plan)
        battery = read_battery_params(vehicle)
        deadline = time.monotonic() + preflight_timeout_s
        estimate = estimate_mission(plan)
        camera_asks = 0
        while True:
            if vehicle.tracker.capture_status_count == 0 and camera_asks < CAMERA_COUNT_ASKS:
                camera_asks += 1  # the image count before this flight's photos (photos_taken)
                vehicle.request_camera_status()
            snapshot = vehicle.tracker.snapshot()
            checks = preflight_checks(
                snapshot,
                plan,
                verified=True,
                endurance_s=endurance_s,
                reserve_pct=reserve_pct,
                require_fence=require_fence,
                estimate=estimate,
                fence=fence,
                battery=battery,
            )
            if all(check.ok for check in checks):
                break
            if time.monotonic() >= deadline:
                failed = tuple(f"{c.name} ({c.detail})" for c in checks if not c.ok)
                raise PreflightError(
                    "pre-flight checks failed: " + "; ".join(failed),
                    failed=tuple(c.name for c in checks if not c.ok),
                )
            vehicle.pump(0.2)
        if log is not None:
            for check in checks:
                log.event("preflight", f"{check.name}: {check.detail}", time_s=snapshot.time_s)
        altitude = takeoff_alt_m if takeoff_alt_m is not None else _takeoff_altitude(plan)
        vehicle.set_mode("GUIDED")
        try:
            climbed = _Sampler(record, status_interval_s, vehicle.tracker)
            vehicle.arm()
            timing = FlightTiming.at_arming(vehicle, estimate)
            vehicle.takeoff(altitude)  # at once: ArduCopter disarms after 10 s idle on the ground
            top = vehicle.wait_for(
                lambda t: (
                    climbed(t)
                    and (
                        t.mode != "GUIDED"  # a failsafe (or another controller) took over
                        or (t.position is not None and t.position.relative_alt_m >= 0.8 * altitude)
                    )
                ),
                timeout=60.0,
                step=takeoff_step(altitude),
            )
            if top.mode != "GUIDED":  # watch it down as in AUTO; ends in FlightAborted
                return _watch(
                    vehicle, plan, log=log, record=record, started=timing,
                    interval_s=status_interval_s, timeout_s=flight_timeout_s, on_link=on_link,
                    safety=by_parameters(battery, estimate.duration_s),
                    texts_since=climbed.seen, climb_to_m=altitude,
                )  # fmt: skip
            try:
                safety = _battery_aloft(
                    vehicle, estimate, battery, endurance_s=endurance_s,
                    reserve_pct=reserve_pct, log=log, on_warning=on_warning,
                    rally=rally_positions(plan),
                )  # fmt: skip
            except PreflightError as refused:  # airborne: bring it back and see it land
                vehicle.rtl()
                if log is not None:
                    log.event("safety", f"{refused}; RTL commanded", time_s=vehicle.tracker.now())
                if on_warning is not None:
                    on_warning(msg("%(reason)s; RTL commanded", reason=refused))
                _watch(
                    vehicle, plan, log=log, record=record, started=timing,
                    interval_s=status_interval_s, timeout_s=flight_timeout_s, on_link=on_link,
                    returning=refused, texts_since=climbed.seen,
                    safety=_Safety(
                        FlightWarnings(), estimate.duration_s, DEFAULT_ENDURANCE_S, on_warning
                    ),
                )  # fmt: skip
                raise  # never: a returning watch ends in FlightAborted
            vehicle.start_mission()
            return _watch(
                vehicle,
                plan,
                log=log,
                record=record,
                started=timing,
                interval_s=status_interval_s,
                timeout_s=flight_timeout_s,
                on_link=on_link,
                safety=safety,
                texts_since=climbed.seen,
            )
        except (Exception, KeyboardInterrupt) as exc:
            aborted = _bring_back(vehicle, exc, log)
            if aborted is None:
                raise
            raise aborted from exc
    except BaseException as exc:  # Ctrl-C and stop signals too: flight.json says why
        if log is not None and not log.closed:
            log.close(_ended_early(vehicle, plan, timing, exc))
        raise


#: Our seconds a vehicle taken over in flight is given to say which mission item it flies.
TAKE_OVER_WAIT_S = 5.0


def _take_over(
    vehicle: Vehicle,
    plan: MissionPlan,
    *,
    log: FlightLog | None,
    on_progress: Callable[[str, int, int], None] | None,
    on_note: Callable[[Message], None] | None,
) -> FlightTiming:
    """An armed vehicle: compare its mission, fence and rally points with ``plan`` (VehicleArmed
    when they differ: a flying vehicle's lists are never changed) and take the flight over from
    here (its timing counts from now: when it armed was not heard)."""
    try:
        vehicle.verify(plan, on_progress=_labelled(on_progress, "compare"))
    except VerifyError as exc:
        raise VehicleArmed(
            msg(
                "upload: the vehicle is armed and flies another mission (%(difference)s): "
                "nothing is uploaded to a flying vehicle; to watch its flight, fly the plan it "
                "was given",
                difference=exc,
            )
        ) from exc
    tracker = vehicle.tracker
    tracker.mission_total = len(plan.items) + 1
    vehicle.request_streams()
    vehicle.request_camera_status()  # the image count so far: photos before now are not ours
    with contextlib.suppress(LinkTimeout):  # the item it flies: those before it were flown
        vehicle.wait_for(
            lambda t: t.mission.current >= 1, timeout=TAKE_OVER_WAIT_S, step=msg("take over")
        )
    snapshot = tracker.snapshot()
    if snapshot.mode == "AUTO" and snapshot.mission.current > 1:
        tracker.reached.update(range(1, snapshot.mission.current))
    note = msg(
        "the vehicle is already flying this plan (%(state)s): taken over without uploading or "
        "commanding anything; watching it to the end (flight time counted from now)",
        state=snapshot.one_line(),
    )
    if log is not None:
        log.event("taken_over", str(note), time_s=snapshot.time_s)
    if on_note is not None:
        on_note(note)
    planned = estimate_mission(plan).duration_s
    return FlightTiming(planned, time.monotonic(), vehicle.tracker.vehicle_time_s)


class _Sampler:
    """A predicate for :meth:`Vehicle.wait_for` that records a snapshot whenever the vehicle's
    clock has moved ``interval_s`` since the last one recorded (telemetry rows during the climb,
    spaced like the watch's), with the status texts heard since the previous one (:attr:`seen`
    counts those recorded: the watch that follows goes on from there); always True."""

    def __init__(
        self, record: Callable[[Telemetry], None], interval_s: float, tracker: TelemetryTracker
    ) -> None:
        self._record, self._interval_s, self._tracker = record, interval_s, tracker
        self._last: float | None = None
        self.seen = tracker.status_count

    def __call__(self, snapshot: Telemetry) -> bool:
        at = _snapshot_clock_s(snapshot)
        if self._last is None or at - self._last >= self._interval_s or at < self._last:
            self._last = at
            texts = self._tracker.texts_since(self.seen)
            self.seen = self._tracker.status_count
            self._record(replace(snapshot, status_texts=texts))
        return True


def _ended_early(
    vehicle: Vehicle, plan: MissionPlan, timing: FlightTiming | None, exc: BaseException
) -> dict[str, Any]:
    """flight.json's summary of a fly() that ended by ``exc``: its result's when it carries
    one, else what is known, with ``outcome`` ``aborted`` (never armed) or ``failed``."""
    reason = str(_why(exc))
    result = getattr(exc, "result", None)
    if isinstance(result, FlightResult):
        return result.to_json(reason=reason)
    snapshot = vehicle.tracker.snapshot()
    duration, wall = (None, None) if timing is None else timing.durations(snapshot)
    return {
        "outcome": "aborted" if timing is None else "failed",
        "reason": reason,
        "landed": False,
        "armed": snapshot.armed,
        "duration_s": duration,
        "duration_wall_s": wall,
        "planned_s": estimate_mission(plan).duration_s,
        "waypoints": list(waypoint_sequences(plan)),
        "reached": list(snapshot.mission.reached),
        "photos": snapshot.photos,
    }


def _why(exc: BaseException) -> Message | BaseException | str:
    """What ended fly, in words: a stop as the operator gave it (``interrupted (Ctrl-C)``,
    ``stopped by signal SIGTERM``), an error as its message (its class name without one)."""
    if isinstance(exc, Interrupted):
        return exc.reason
    if isinstance(exc, KeyboardInterrupt):
        return stop_reason("SIGINT")
    return exc if str(exc) else type(exc).__name__


#: Modes in which an armed vehicle is already coming down or home by itself.
RETURNING_MODES = frozenset({"RTL", "LAND", "SMART_RTL"})


@dataclass(frozen=True, slots=True)
class _Safety:
    """fly's watch over a flight under way: the warnings and who hears them, and the vehicle
    seconds from the mission's start after which waiting for a landing is given up (the plan's
    expected time plus a full battery's endurance: by then the battery must be empty)."""

    warnings: FlightWarnings
    expected_s: float
    endurance_s: float
    on_warning: Callable[[Message], None] | None = None

    @property
    def budget_s(self) -> float:
        return self.expected_s + self.endurance_s


def aloft_battery_check(
    snapshot: Telemetry,
    estimate: MissionEstimate,
    battery: BatteryParams | None,
    *,
    endurance_s: float | None,
    reserve_pct: float,
) -> Check | None:
    """The battery check again once airborne, with the current the vehicle now draws (the one
    before takeoff was assumed): the mission is not started when it fails. None when it has
    nothing new to say: the vehicle's battery parameters are unknown, an endurance given
    overrides the current, no current was measured in flight yet, or no battery is heard."""
    if (
        battery is None
        or endurance_s is not None
        or snapshot.flight_current_a is None
        or snapshot.battery is None
    ):
        return None
    return battery_check(
        snapshot, estimate, battery=battery, endurance_s=None, reserve_pct=reserve_pct
    )


def flight_endurance_s(
    battery: BatteryParams | None,
    *,
    endurance_s: float | None = None,
    measured_current_a: float | None = None,
) -> float:
    """Flight time (s) of a full battery: ``endurance_s`` when given, else from the vehicle's
    BATT_CAPACITY at the current measured in flight (assumed before it has flown: see
    :func:`~missions.link.battery.full_battery_s`), else :data:`DEFAULT_ENDURANCE_S`."""
    if endurance_s is not None:
        return endurance_s
    if battery is None:
        return DEFAULT_ENDURANCE_S
    return full_battery_s(battery, measured_current_a=measured_current_a)


def rally_positions(plan: MissionPlan) -> tuple[tuple[float, float], ...]:
    """``(lat, lon)`` of the plan's rally points: where an RTL may head instead of home."""
    return tuple((lat, lon) for lat, lon, _ in plan.rally_points)


def _battery_aloft(
    vehicle: Vehicle,
    estimate: MissionEstimate,
    battery: BatteryParams | None,
    *,
    endurance_s: float | None,
    reserve_pct: float,
    log: FlightLog | None,
    on_warning: Callable[[Message], None] | None,
    rally: tuple[tuple[float, float], ...] = (),
) -> _Safety:
    """After takeoff, the current drawn is known: check the battery again with it before the
    mission starts (PreflightError, which brings the vehicle back, when it no longer fits) and
    set up the in-flight watch with the endurance it gives."""
    snapshot = vehicle.tracker.snapshot()
    check = aloft_battery_check(
        snapshot, estimate, battery, endurance_s=endurance_s, reserve_pct=reserve_pct
    )
    if check is not None:
        if log is not None:
            log.event("preflight", f"battery after takeoff: {check.detail}", time_s=snapshot.time_s)
        if not check.ok:
            raise PreflightError(
                msg(
                    "battery after takeoff: %(detail)s; the mission was not started",
                    detail=check.detail,
                ),
                failed=("battery",),
            )
    return _Safety(
        warnings=FlightWarnings(battery, rally=rally),
        expected_s=estimate.duration_s,
        endurance_s=flight_endurance_s(
            battery, endurance_s=endurance_s, measured_current_a=snapshot.flight_current_a
        ),
        on_warning=on_warning,
    )


def vehicle_now(tracker: TelemetryTracker) -> float:
    """The vehicle's clock (s) when it has been heard, else ours: what flight limits count in,
    so a sped-up simulator's limits pass at its own pace."""
    vehicle_time = tracker.vehicle_time_s
    return tracker.now() if vehicle_time is None else vehicle_time


def _warn(safety: _Safety, notices: list[Notice], log: FlightLog | None, time_s: float) -> None:
    """Say each in-flight notice and record it in flight.json."""
    for notice in notices:
        if log is not None:
            log.event(notice.kind, str(notice.text), time_s=time_s, level=notice.level)
        if safety.on_warning is not None:
            safety.on_warning(notice.text)


def _give_up(vehicle: Vehicle, snapshot: Telemetry, safety: _Safety) -> Message:
    """The flight outlasted its budget (see :class:`_Safety`): LAND where it is (RTL plainly
    did not bring it back) and say why the wait is over."""
    try:
        vehicle.land()
        action = msg("LAND commanded")
    except LinkError as exc:
        action = msg("LAND could not be commanded (%(reason)s): take control of it", reason=exc)
    return msg(
        "flight: still not landed %(seconds)s s after the mission started (vehicle time: the "
        "plan's %(expected)s s plus a full battery's %(endurance)s s), so its battery must be "
        "nearly empty: gave up waiting; %(action)s (%(state)s)",
        seconds=f"{safety.budget_s:.0f}",
        expected=f"{safety.expected_s:.0f}",
        endurance=f"{safety.endurance_s:.0f}",
        action=action,
        state=snapshot.one_line(),
    )


def _bring_back(
    vehicle: Vehicle, exc: BaseException, log: FlightLog | None
) -> FlightAborted | None:
    """After ``exc`` ended :func:`fly` with the vehicle armed: command RTL (LAND if RTL fails)
    and return the FlightAborted that says so; None when the vehicle is disarmed or already
    returning or landing (``exc`` then stands as it is), except for the operator's stop
    (Ctrl-C, a stop signal), which always becomes a FlightAborted saying in words what
    stopped fly and where that left the vehicle."""
    snapshot = vehicle.tracker.snapshot()
    stopped = isinstance(exc, KeyboardInterrupt)
    if not snapshot.armed or snapshot.mode in RETURNING_MODES:
        if not stopped:
            return None
        message = (
            msg("%(error)s; the vehicle is disarmed", error=_why(exc))
            if not snapshot.armed
            else msg(
                "%(error)s; the vehicle was armed in %(mode)s: %(action)s",
                error=_why(exc),
                mode=snapshot.mode,
                action=msg("it is already returning or landing; nothing commanded"),
            )
        )
        if log is not None:
            log.event("safety", str(message), time_s=vehicle.tracker.now())
        return FlightAborted(message)
    try:
        vehicle.rtl()
        action = msg("RTL commanded")
    except LinkError as rtl_error:
        try:
            vehicle.land()
            action = msg("RTL failed (%(reason)s); LAND commanded", reason=rtl_error)
        except LinkError as land_error:
            action = msg(
                "neither RTL (%(rtl)s) nor LAND (%(land)s) could be commanded: the vehicle is "
                "still armed; take control of it",
                rtl=rtl_error,
                land=land_error,
            )
    message = msg(
        "%(error)s; the vehicle was armed in %(mode)s: %(action)s",
        error=_why(exc),
        mode=snapshot.mode,
        action=action,
    )
    if log is not None:
        log.event("safety", str(message), time_s=vehicle.tracker.now())
    return FlightAborted(message, result=getattr(exc, "result", None))


#: Waits between attempts to reopen a dropped link while flying: doubling from the first.
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.5, 5.0
#: Failed reconnect attempts are reported (``on_link``) at most this often.
RECONNECT_REPORT_S = 10.0
#: Our seconds without a heartbeat (the connection still open) before fly says the link is
#: lost, as the ground station's flight sessions do.
LINK_SILENT_S = 5.0


#: The shortest wait (our seconds) between two snapshots, however fast the vehicle's clock runs:
#: our SITL sends no stream faster than 50 messages a second of ours.
MIN_SNAPSHOT_WALL_S = 0.02


def snapshot_interval_s(tracker: TelemetryTracker, interval_s: float) -> float:
    """Our seconds to wait for ``interval_s`` of the vehicle's (a sped-up simulator's clock runs
    :attr:`~missions.link.telemetry.TelemetryTracker.clock_rate` times ours), at least
    :data:`MIN_SNAPSHOT_WALL_S`: telemetry rows are then spaced by the vehicle's time, the one
    flight.json's durations count."""
    rate = tracker.clock_rate or 1.0
    return max(MIN_SNAPSHOT_WALL_S, min(interval_s, interval_s / rate))


def _telemetry_riding_out(
    vehicle: Vehicle,
    *,
    interval_s: float,
    deadline: float,
    log: FlightLog | None,
    on_link: Callable[[Message], None] | None = None,
    texts_since: int | None = None,
) -> Iterator[Telemetry]:
    """:meth:`Vehicle.telemetry`, reopening the link with back-off whenever it drops; LinkLost
    when it is not back by ``deadline`` (monotonic seconds). ``on_link`` hears of the loss, of
    failed attempts (the first, then at most one every RECONNECT_REPORT_S) and of the return;
    of a silent link too (no heartbeat for :data:`LINK_SILENT_S`, the connection still open)
    and of its return. The first snapshot carries the status texts since the
    ``texts_since``-th."""

    def say(message: Message) -> None:
        if on_link is not None:
            on_link(message)

    heartbeats, heard_at, silent = vehicle.tracker.heartbeats, time.monotonic(), False
    while True:
        try:
            for snapshot in vehicle.telemetry(
                interval_s=lambda: snapshot_interval_s(vehicle.tracker, interval_s),
                texts_since=texts_since,
            ):
                now = time.monotonic()
                if vehicle.tracker.heartbeats != heartbeats:
                    if silent:
                        silent = False
                        if log is not None:
                            log.event("link", f"back after {now - heard_at:.0f} s",
                                      time_s=vehicle.tracker.now())  # fmt: skip
                        say(msg("link back after %(seconds)s s", seconds=f"{now - heard_at:.0f}"))
                    heartbeats, heard_at = vehicle.tracker.heartbeats, now
                elif not silent and now - heard_at > LINK_SILENT_S:
                    silent = True
                    if log is not None:
                        log.event("link", f"lost: no heartbeat for {LINK_SILENT_S:g} s",
                                  time_s=vehicle.tracker.now())  # fmt: skip
                    say(
                        msg(
                            "link lost: no heartbeat for %(seconds)s s",
                            seconds=f"{LINK_SILENT_S:g}",
                        )
                    )
                yield snapshot
            return  # never: the telemetry goes on until the caller stops reading
        except LinkLost as exc:
            lost = exc
        texts_since = None
        if log is not None:
            log.event("link", f"lost: {lost}", time_s=vehicle.tracker.now())
        say(msg("link lost (%(reason)s); the vehicle flies on; reconnecting", reason=lost))
        lost_at = reported = time.monotonic()
        wait, attempts = RECONNECT_FIRST_S, 0
        while True:
            if time.monotonic() + wait > deadline:
                raise LinkLost(
                    f"flight: link lost and not back after "
                    f"{counted(attempts, 'reconnect attempt')} before the flight timeout ({lost})"
                ) from lost
            time.sleep(wait)
            attempts += 1
            try:
                vehicle.reconnect(timeout=2.0)
                break
            except LinkConnectError as exc:
                wait = min(RECONNECT_MAX_S, 2 * wait)
                now = time.monotonic()
                if attempts == 1 or now - reported >= RECONNECT_REPORT_S:
                    reported = now
                    say(
                        msg(
                            "link still lost after %(seconds)s s: reconnect attempt %(attempt)s "
                            "failed (%(reason)s); retrying",
                            seconds=f"{now - lost_at:.0f}",
                            attempt=attempts,
                            reason=exc,
                        )
                    )
        if log is not None:
            log.event(
                "link",
                f"reconnected after {counted(attempts, 'attempt')}",
                time_s=vehicle.tracker.now(),
            )
        say(
            msg(
                "link back after %(seconds)s s (reconnect attempt %(attempt)s)",
                seconds=f"{time.monotonic() - lost_at:.0f}",
                attempt=attempts,
            )
        )
        # said back already: a silence before the drop ends here
        heartbeats, heard_at, silent = vehicle.tracker.heartbeats, time.monotonic(), False


def _watch(
    vehicle: Vehicle,
    plan: MissionPlan,
    *,
    log: FlightLog | None,
    record: Callable[[Telemetry], None],
    started: FlightTiming,
    interval_s: float,
    timeout_s: float | None,
    on_link: Callable[[Message], None] | None = None,
    safety: _Safety | None = None,
    returning: PreflightError | None = None,
    texts_since: int | None = None,
    climb_to_m: float | None = None,
    start_mode: str | None = None,
) -> FlightResult:
    """Watch AUTO until landed and disarmed; note failsafes (and say each mode change fly did
    not make to ``safety.on_warning``); RTL if the mission ends aloft; warn and give up as
    ``safety`` says (see :class:`_Safety`). With ``returning`` (the refusal that made fly
    command RTL before the mission started) watch that RTL down instead and end in
    FlightAborted giving the refusal and how the flight ended; with ``climb_to_m`` (the
    takeoff climb in GUIDED was cut short by a mode fly did not command) watch the vehicle
    down likewise and end in FlightAborted saying so. ``texts_since``: the status texts heard
    since that count (:attr:`~missions.link.telemetry.TelemetryTracker.status_count`) and not
    yet recorded explain the first mode change too."""
    waypoints = waypoint_sequences(plan)
    navs = [i + 1 for i, item in enumerate(plan.items) if item.command < 100]
    last_nav = navs[-1] if navs else None  # after it ArduCopter loiters unless it returns
    if safety is None:
        safety = _Safety(FlightWarnings(), estimate_mission(plan).duration_s, DEFAULT_ENDURANCE_S)
    mission_start = vehicle_now(vehicle.tracker)
    # our seconds: the explicit limit, else the budget at the vehicle's pace (and a margin), the
    # longest a dropped link is waited for; the budget itself counts in vehicle time
    timeout = (
        timeout_s
        if timeout_s is not None
        else safety.budget_s / (vehicle.tracker.clock_rate or 1.0) + 120
    )
    deadline = time.monotonic() + timeout
    failsafes: list[ModeChange] = []  # every mode change fly did not make (see ModeChange)
    texts: list[str] = []
    warnings: list[tuple[float, str]] = []  # (vehicle s, STATUSTEXT of severity WARNING or worse)
    mode = start_mode or (
        "GUIDED" if climb_to_m is not None else "AUTO" if returning is None else "RTL"
    )
    commanded = {mode}
    max_alt = 0.0
    idle_at_end_since: float | None = None
    landing = LandingWatch(armed_once=True)  # fly() armed it and took off
    touchdown = Touchdown.FLYING
    landing_itself = bool(plan.items) and plan.items[-1].command in RETURN_COMMANDS
    telemetry = _telemetry_riding_out(
        vehicle, interval_s=interval_s, deadline=deadline, log=log, on_link=on_link,
        texts_since=texts_since,
    )  # fmt: skip
    gps_lost = False  # the last position heard while armed came without a GPS fix or EKF position
    for snapshot in telemetry:
        record(snapshot)
        landing, touchdown = watch_landing(
            landing,
            snapshot,
            clock_confirmed=vehicle.tracker.clock_confirmed,
            now=time.monotonic(),
        )
        if touchdown is Touchdown.REBOOTED and snapshot.reboot is not None:
            _rebooted(vehicle, snapshot.reboot, waypoints, started, max_alt, failsafes, texts, log)
        texts.extend(t.text for t in snapshot.status_texts)
        heard_s = _snapshot_clock_s(snapshot)
        warnings.extend(
            (heard_s if t.vehicle_time_s is None else t.vehicle_time_s, t.text)
            for t in snapshot.status_texts
            if t.severity <= WARNING
        )  # by the vehicle's clock as each was heard: a burst after a silence keeps its order
        if snapshot.position is not None:
            max_alt = max(max_alt, snapshot.position.relative_alt_m)
        if snapshot.mode != mode:
            heard = vehicle.tracker.mode_heard
            if heard is None or heard.mode != snapshot.mode:
                heard = ModeHeard(snapshot.mode, None, snapshot.vehicle_time_s, 0.0)
            unheard = heard.silence_s >= MODE_SILENCE_S  # changed while the link was silent
            when: dict[str, Any] = {"vehicle_time_s": heard.at_s}
            if unheard:  # it changed after the last time the old mode was heard
                when["after_vehicle_time_s"] = heard.before_s
            if log is not None:
                log.event("mode", f"{mode} -> {snapshot.mode}", time_s=snapshot.time_s, **when)
            if snapshot.mode not in commanded and snapshot.mode in FAILSAFE_MODES | {"LOITER"}:
                change = mode_change(
                    snapshot.mode,
                    warnings,
                    now_s=heard_s if heard.at_s is None else heard.at_s,
                    link_lost=unheard,
                )
                failsafes.append(change)
                if log is not None:
                    kind = (
                        "failsafe"
                        if change.failsafe
                        else "mode_changed_while_link_lost"
                        if change.link_lost
                        else "mode_changed_by_other"
                    )
                    log.event(kind, str(change.text), time_s=snapshot.time_s, **when)
                if safety.on_warning is not None:
                    safety.on_warning(change.text)
            mode = snapshot.mode
        if snapshot.armed and snapshot.position is not None:
            gps_lost = position_unsure(snapshot)
        if touchdown.over:  # landed, or disarmed in the air
            break
        flown_s = vehicle_now(vehicle.tracker) - mission_start
        _warn(safety, safety.warnings.update(snapshot, flown_s), log, snapshot.time_s)
        if flown_s > safety.budget_s:
            reason = _give_up(vehicle, snapshot, safety)
            if log is not None:
                log.event("gave_up", str(reason), time_s=snapshot.time_s)
            result = _result(vehicle, waypoints, started, max_alt, failsafes, texts, log, False)
            raise FlightAborted(reason, result=result)
        mission_over = last_nav is not None and last_nav in snapshot.mission.reached
        airborne = snapshot.armed and not snapshot.on_ground
        if mission_over and not landing_itself and mode == "AUTO" and airborne:
            # Mission finished without an RTL/LAND item: ArduCopter loiters; bring it home.
            idle_at_end_since = idle_at_end_since or time.monotonic()
            if time.monotonic() - idle_at_end_since > 2.0:
                commanded.add("RTL")
                vehicle.rtl()
        if time.monotonic() > deadline:
            result = _result(vehicle, waypoints, started, max_alt, failsafes, texts, log, False)
            if snapshot.armed and snapshot.mode not in FAILSAFE_MODES:
                with contextlib.suppress(LinkError):
                    vehicle.rtl()
            raise FlightAborted(
                msg(
                    "flight: not landed after %(seconds)s s (%(state)s); RTL commanded",
                    seconds=f"{timeout:.0f}",
                    state=snapshot.one_line(),
                ),
                result=result,
            )
    ended_wall_s = time.monotonic()
    landed = vehicle.tracker.snapshot()
    if landed.reboot is not None:
        _rebooted(vehicle, landed.reboot, waypoints, started, max_alt, failsafes, texts, log)
    on_ground = touchdown is Touchdown.LANDED
    if on_ground:
        settle_photo_count(vehicle)
    result = _result(
        vehicle, waypoints, started, max_alt, failsafes, texts, log, on_ground,
        landings=landing_sequences(plan), ended_wall_s=ended_wall_s,
    )  # fmt: skip
    if result.landed:
        result = replace(result, landing=landing_of(plan, landed, position_known=not gps_lost))
        if result.landed_away and log is not None and result.landing is not None:
            log.event("landed_away", result.landing.text(), time_s=landed.time_s)
    ended = _ended_by(result, landed, on_ground=on_ground)
    if climb_to_m is not None:
        raise FlightAborted(
            msg(
                "takeoff to %(altitude)s m cut short by a mode change fly did not command: %(end)s",
                altitude=f"{climb_to_m:.1f}",
                end=result.summary() if ended is None else ended,
            ),
            result=result,
        )
    if returning is not None:
        raise FlightAborted(
            msg(
                "%(reason)s; RTL commanded and watched to the end: %(end)s",
                reason=returning,
                end=result.summary() if ended is None else ended,
            ),
            result=result,
        )
    if ended is not None:
        raise FlightAborted(ended, result=result)
    if log is not None:
        log.close(result.to_json())
    return result


def _ended_by(result: FlightResult, landed: Telemetry, *, on_ground: bool) -> Message | None:
    """Why a watched flight that is over did not end as planned: a disarm in the air (not
    ``on_ground``), a failsafe, or another controller's mode change that cut the mission
    short; None when it did (another controller's change that still let it finish is only in
    its summary)."""
    if not on_ground:
        if result.failsafes:
            return msg(
                "flight: vehicle disarmed in the air (%(state)s); failsafe: %(failsafes)s",
                state=landed.one_line(),
                failsafes="; ".join(result.failsafes),
            )
        return msg("flight: vehicle disarmed in the air (%(state)s)", state=landed.one_line())
    if result.failsafes:
        return msg(
            "flight ended by failsafe: %(failsafes)s; %(summary)s",
            failsafes="; ".join(result.failsafes),
            summary=result.summary(failsafes=False),
        )
    if result.mode_changes and not result.all_reached:
        return msg(
            "flight ended early: %(changes)s; %(summary)s",
            changes="; ".join(result.mode_changes),
            summary=result.summary(mode_changes=False),
        )
    if result.landed_away:
        return msg("flight: %(summary)s", summary=result.summary())
    return None


def _rebooted(
    vehicle: Vehicle,
    reboot: Reboot,
    waypoints: tuple[int, ...],
    started: FlightTiming,
    max_alt: float,
    failsafes: list[ModeChange],
    texts: list[str],
    log: FlightLog | None,
) -> None:
    """The vehicle restarted under us: FlightAborted, logged as not landed."""
    message = reboot_message(reboot)
    if log is not None:
        log.event("reboot", str(message), time_s=reboot.time_s)
    result = _result(vehicle, waypoints, started, max_alt, failsafes, texts, log, False)
    raise FlightAborted(message, result=result)


def _result(
    vehicle: Vehicle,
    waypoints: tuple[int, ...],
    started: FlightTiming,
    max_alt: float,
    failsafes: list[ModeChange],
    texts: list[str],
    log: FlightLog | None,
    landed: bool,
    *,
    landings: tuple[int, ...] = (),
    ended_wall_s: float | None = None,
) -> FlightResult:
    """The flight as it stands (fly writes it to flight.json with how it ended)."""
    snapshot = vehicle.tracker.snapshot()
    duration, wall = started.durations(snapshot, ended_wall_s=ended_wall_s)
    return FlightResult(
        landed=landed and not snapshot.armed,
        duration_s=duration,
        duration_wall_s=wall,
        planned_s=started.planned_s,
        waypoints=waypoints,
        # a landing credits the items up to it; a disarm in the air credits nothing more
        reached=reached_items(snapshot.mission, landing_items=landings if landed else ()),
        photos=snapshot.photos,
        photos_unreported=snapshot.photos_unreported,
        max_relative_alt_m=max_alt,
        failsafes=tuple(str(c.text) for c in failsafes if c.failsafe),
        mode_changes=tuple(str(c.text) for c in failsafes if not c.failsafe),
        status_texts=tuple(texts),
        log_dir=None if log is None else str(log.directory),
    )
