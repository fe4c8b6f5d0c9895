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
from dataclasses import asdict, dataclass
from pathlib import Path

from gis.messages import Message, counted, msg
from missions.items import Command, MissionItem, MissionPlan
from missions.link.errors import (
    FlightAborted,
    LinkConnectError,
    LinkError,
    LinkLost,
    LinkTimeout,
    PreflightError,
)
from missions.link.landing import (
    LandingWatch,
    Outcome,
    Touchdown,
    flight_outcome,
    reached_items,
    watch_landing,
)
from missions.link.telemetry import FlightLog, Reboot, Telemetry
from missions.link.vehicle import Vehicle, takeoff_step

__all__ = [
    "HOME_TOLERANCE_M",
    "Check",
    "FenceStatus",
    "FlightResult",
    "MissionEstimate",
    "estimate_mission",
    "fly",
    "landing_sequences",
    "preflight_checks",
    "settle_photo_count",
    "prepare_fence",
    "reboot_message",
    "waypoint_sequences",
]

EARTH_RADIUS_M = 6_371_008.8
#: Modes the vehicle switches to by itself when a failsafe triggers.
FAILSAFE_MODES = frozenset({"RTL", "LAND", "SMART_RTL", "BRAKE"})
WARNING = 4  # MAV_SEVERITY_WARNING
#: Last mission items after which ArduCopter lands by itself.
RETURN_COMMANDS = frozenset({Command.NAV_RETURN_TO_LAUNCH, Command.NAV_LAND})
#: The vehicle's home (or, before it has one, its position) must be this close to the plan's
#: home: the mission, its fence and its battery estimate were planned from there.
HOME_TOLERANCE_M = 50.0
FENCE_ALTITUDE, FENCE_CIRCLE = 1, 2  # FENCE_TYPE bits


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


@dataclass(frozen=True, slots=True)
class FlightResult:
    """What happened: landed or not, waypoints reached, photos, failsafes, where the log is."""

    landed: bool
    duration_s: float
    waypoints: tuple[int, ...]  # vehicle sequence numbers of the plan's NAV_WAYPOINT items
    reached: tuple[int, ...]
    photos: int  # reported by CAMERA_FEEDBACK
    max_relative_alt_m: float
    failsafes: tuple[str, ...]
    status_texts: tuple[str, ...]
    log_dir: str | None
    photos_unreported: int = 0  # taken (by the image indices) but never reported over the link

    @property
    def all_reached(self) -> bool:
        return set(self.waypoints) <= set(self.reached)

    @property
    def outcome(self) -> Outcome:
        """``complete``, ``returned_early`` or ``failed`` (see :func:`flight_outcome`)."""
        return flight_outcome(landed=self.landed, all_reached=self.all_reached)

    def summary(self, *, failsafes: bool = True) -> str:
        """``landed after 312 s: 41/41 waypoints, 126 photos, max 80 m`` (``returned early``
        when it landed before its last waypoint, ``NOT landed`` when it did not land)."""
        hit = len(set(self.waypoints) & set(self.reached))
        state = {"complete": "landed", "returned_early": "returned early"}.get(
            self.outcome, "NOT landed"
        )
        text = (
            f"{state} after {self.duration_s:.0f} s: "
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
        return text


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


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
    """Path length and flying time at the plan's cruise speed, plus climb and descent."""
    legs = _positioned(plan)
    points = [(item.lat, item.lon) for item in legs]
    max_alt = max((item.alt for item in legs), default=0.0)
    if has_home(plan):  # from home and back; a plan without one (0, 0) counts its legs only
        points = [plan.home[:2], *points, plan.home[:2]]
    distance = sum(_distance_m(a, b) for a, b in itertools.pairwise(points))
    duration = distance / max(plan.cruise_speed_mps, 0.1) + 2 * max_alt / climb_rate_mps
    return MissionEstimate(distance_m=distance, duration_s=duration)


def preflight_checks(
    snapshot: Telemetry,
    plan: MissionPlan,
    *,
    verified: bool,
    endurance_s: float,
    reserve_pct: float,
    require_fence: bool = False,
    estimate: MissionEstimate | None = None,
    fence: FenceStatus | None = None,
) -> tuple[Check, ...]:
    """Evaluate the pre-flight checks on one telemetry snapshot (pure).

    ``estimate`` is the plan's :func:`estimate_mission` (computed here when not given);
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
    need = 100.0 * estimate.duration_s / max(endurance_s, 1.0) + reserve_pct
    battery = snapshot.battery
    if battery is None or battery.remaining_pct is None:
        checks.append(Check("battery", False, msg("battery level unknown")))
    else:
        checks.append(
            Check(
                "battery",
                battery.remaining_pct >= need,
                msg(
                    "%(remaining)s%% on board, mission needs %(need)s%% incl. %(reserve)s%% "
                    "reserve",
                    remaining=f"{battery.remaining_pct:.0f}",
                    need=f"{need:.0f}",
                    reserve=f"{reserve_pct:.0f}",
                ),
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
    distance = _distance_m(where, plan.home[:2])
    return Check(
        "home at plan",
        distance <= HOME_TOLERANCE_M,
        msg(
            "%(distance)s m from the plan's home, at most %(limit)s m: take off where the "
            "plan was made for, or plan again from here",
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
    far = max((_distance_m(home, (i.lat, i.lon)) for i in _positioned(plan)), default=0.0)
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
    endurance_s: float = 1500.0,
    reserve_pct: float = 20.0,
    require_fence: bool = False,
    takeoff_alt_m: float | None = None,
    preflight_timeout_s: float = 30.0,
    flight_timeout_s: float | None = None,
    status_interval_s: float = 0.25,
    on_link: Callable[[Message], None] | None = None,
) -> FlightResult:
    """Fly ``plan`` once on a ready vehicle and return what happened.

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
    log = FlightLog(log_dir) if log_dir is not None else None
    logged_photos = 0
    started = time.monotonic()

    def record(snapshot: Telemetry) -> None:
        nonlocal logged_photos
        if log is not None:
            log.record(snapshot)
            for event in vehicle.tracker.camera_events[logged_photos:]:
                log.camera(event)
        logged_photos = len(vehicle.tracker.camera_events)
        if on_status is not None:
            on_status(snapshot)

    try:
        vehicle.upload(plan, on_progress=_labelled(on_progress, "upload"))
        vehicle.verify(plan, on_progress=_labelled(on_progress, "verify"))
        vehicle.request_streams()
        fence = prepare_fence(vehicle, plan)
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
            vehicle.arm()
            vehicle.takeoff(altitude)  # at once: ArduCopter disarms after 10 s idle on the ground
            vehicle.wait_for(
                lambda t: t.position is not None and t.position.relative_alt_m >= 0.8 * altitude,
                timeout=60.0,
                step=takeoff_step(altitude),
            )
            vehicle.start_mission()
            return _watch(
                vehicle,
                plan,
                log=log,
                record=record,
                started=started,
                interval_s=status_interval_s,
                timeout_s=flight_timeout_s,
                on_link=on_link,
            )
        except (Exception, KeyboardInterrupt) as exc:
            aborted = _bring_back(vehicle, exc, log)
            if aborted is None:
                raise
            raise aborted from exc
    finally:
        if log is not None and not log.closed:
            log.close({"aborted": True, "duration_s": time.monotonic() - started})


#: Modes in which an armed vehicle is already coming down or home by itself.
RETURNING_MODES = frozenset({"RTL", "LAND", "SMART_RTL"})


def _bring_back(
    vehicle: Vehicle, exc: BaseException, log: FlightLog | None
) -> FlightAborted | None:
    """After ``exc`` ended :func:`fly` with the vehicle armed: command RTL (LAND if RTL fails)
    and return the FlightAborted that says so; None when the vehicle is disarmed or already
    returning or landing (``exc`` then stands as it is)."""
    snapshot = vehicle.tracker.snapshot()
    if not snapshot.armed or snapshot.mode in RETURNING_MODES:
        return None
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
        error=exc if str(exc) else type(exc).__name__,
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


def _telemetry_riding_out(
    vehicle: Vehicle,
    *,
    interval_s: float,
    deadline: float,
    log: FlightLog | None,
    on_link: Callable[[Message], None] | None = None,
) -> Iterator[Telemetry]:
    """:meth:`Vehicle.telemetry`, reopening the link with back-off whenever it drops; LinkLost
    when it is not back by ``deadline`` (monotonic seconds). ``on_link`` hears of the loss, of
    failed attempts (the first, then at most one every RECONNECT_REPORT_S) and of the return."""

    def say(message: Message) -> None:
        if on_link is not None:
            on_link(message)

    while True:
        try:
            yield from vehicle.telemetry(interval_s=interval_s)
            return  # never: the telemetry goes on until the caller stops reading
        except LinkLost as exc:
            lost = exc
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


def _watch(
    vehicle: Vehicle,
    plan: MissionPlan,
    *,
    log: FlightLog | None,
    record: Callable[[Telemetry], None],
    started: float,
    interval_s: float,
    timeout_s: float | None,
    on_link: Callable[[Message], None] | None = None,
) -> FlightResult:
    """Watch AUTO until landed and disarmed; note failsafes; RTL if the mission ends aloft."""
    waypoints = waypoint_sequences(plan)
    navs = [i + 1 for i, item in enumerate(plan.items) if item.command < 100]
    last_nav = navs[-1] if navs else None  # after it ArduCopter loiters unless it returns
    timeout = timeout_s if timeout_s is not None else 3 * estimate_mission(plan).duration_s + 120
    deadline = time.monotonic() + timeout
    failsafes: list[str] = []
    texts: list[str] = []
    warnings: list[str] = []  # STATUSTEXT of severity WARNING or worse: failsafe reasons
    commanded = {"AUTO"}
    mode = "AUTO"
    max_alt = 0.0
    idle_at_end_since: float | None = None
    landing = LandingWatch(armed_once=True)  # fly() armed it and took off
    touchdown = Touchdown.FLYING
    landing_itself = bool(plan.items) and plan.items[-1].command in RETURN_COMMANDS
    telemetry = _telemetry_riding_out(
        vehicle, interval_s=interval_s, deadline=deadline, log=log, on_link=on_link
    )
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
        warnings.extend(t.text for t in snapshot.status_texts if t.severity <= WARNING)
        if snapshot.position is not None:
            max_alt = max(max_alt, snapshot.position.relative_alt_m)
        if snapshot.mode != mode:
            if log is not None:
                log.event("mode", f"{mode} -> {snapshot.mode}", time_s=snapshot.time_s)
            if snapshot.mode not in commanded and snapshot.mode in FAILSAFE_MODES | {"LOITER"}:
                recent = warnings[-2:]
                reason = f"vehicle switched to {snapshot.mode}"
                if recent:
                    reason += f" ({'; '.join(recent)})"
                failsafes.append(reason)
                if log is not None:
                    log.event("failsafe", reason, time_s=snapshot.time_s)
            mode = snapshot.mode
        if touchdown.over:  # landed, or disarmed in the air
            break
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
                f"flight: not landed after {timeout:.0f} s ({snapshot.one_line()}); RTL commanded",
                result=result,
            )
    landed = vehicle.tracker.snapshot()
    if landed.reboot is not None:
        _rebooted(vehicle, landed.reboot, waypoints, started, max_alt, failsafes, texts, log)
    on_ground = touchdown is Touchdown.LANDED
    if on_ground:
        settle_photo_count(vehicle)
    result = _result(
        vehicle, waypoints, started, max_alt, failsafes, texts, log, on_ground,
        landings=landing_sequences(plan),
    )  # fmt: skip
    if not on_ground:
        also = f"; failsafe: {'; '.join(failsafes)}" if failsafes else ""
        raise FlightAborted(
            f"flight: vehicle disarmed in the air ({landed.one_line()}){also}", result=result
        )
    if failsafes:
        raise FlightAborted(
            f"flight ended by failsafe: {'; '.join(failsafes)}; {result.summary(failsafes=False)}",
            result=result,
        )
    return result


def _rebooted(
    vehicle: Vehicle,
    reboot: Reboot,
    waypoints: tuple[int, ...],
    started: float,
    max_alt: float,
    failsafes: list[str],
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
    started: float,
    max_alt: float,
    failsafes: list[str],
    texts: list[str],
    log: FlightLog | None,
    landed: bool,
    *,
    landings: tuple[int, ...] = (),
) -> FlightResult:
    snapshot = vehicle.tracker.snapshot()
    result = FlightResult(
        landed=landed and not snapshot.armed,
        duration_s=time.monotonic() - started,
        waypoints=waypoints,
        # a landing credits the items up to it; a disarm in the air credits nothing more
        reached=reached_items(snapshot.mission, landing_items=landings if landed else ()),
        photos=snapshot.photos,
        photos_unreported=snapshot.photos_unreported,
        max_relative_alt_m=max_alt,
        failsafes=tuple(failsafes),
        status_texts=tuple(texts),
        log_dir=None if log is None else str(log.directory),
    )
    if log is not None:
        summary = asdict(result)
        summary["all_reached"] = result.all_reached
        log.close(summary)
    return result
