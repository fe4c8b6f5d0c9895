"""How a flight ends once the vehicle disarms: landed, disarmed in the air, or rebooted (pure).

:func:`watch_landing` is the one decision :func:`~missions.link.flight.fly` and the ground
station's flight sessions share. It folds each telemetry snapshot into a :class:`LandingWatch`
and says where the flight stands (:class:`Touchdown`); :func:`flight_outcome` then names a
finished flight: ``complete``, ``returned_early``, ``landed_away`` or ``failed``. Where it came
down is :func:`landing_place`: a failsafe LAND (battery, GPS lost, wind too strong to return)
puts the vehicle down wherever it is, and the pilot must be sent there, not home.

A disarm counts only after the vehicle was armed, and only on the ground or once it had flown
(ArduCopter disarms a vehicle that never took off after 10 s). ArduCopter (and our SITL) report
ON_GROUND the moment they disarm, even 50 m up, so the landed state cannot tell a landing from a
fall: the height can. A disarm is a landing only when the first position the vehicle sent after
it (:attr:`~missions.link.telemetry.Telemetry.disarm`) is within :data:`LANDED_WITHIN_M` of
home; higher, the vehicle was disarmed in the air. Should no position follow the disarm within
:data:`LANDED_STATE_GRACE_S` (the link went at that moment), the last one heard while armed
decides instead. A low disarm is a landing at once when the vehicle also says it is on the
ground and its clock was heard since the link was last reopened (a vehicle that rebooted reports
itself disarmed on the ground); EXTENDED_SYS_STATE's landed state may trail the disarm
heartbeat, so it gets the same grace to arrive, after which a vehicle still not on the ground
was disarmed in the air. A vehicle that sends no positions is judged by its landed state alone.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from gis.geodesy import ground_distance_m
from missions.link.telemetry import DisarmHeights, HeightFix, MissionProgress, Telemetry

__all__ = [
    "AIRBORNE_ABOVE_M",
    "LANDED_AWAY_M",
    "LANDED_STATE_GRACE_S",
    "LANDED_WITHIN_M",
    "LandingPlace",
    "LandingWatch",
    "Outcome",
    "Touchdown",
    "flight_outcome",
    "height_at_disarm",
    "distance_text",
    "landing_place",
    "reached_items",
    "watch_landing",
]

#: EXTENDED_SYS_STATE's landed state, and the first position after a disarm, may trail the
#: disarm heartbeat: wait this long (wall seconds) for them before deciding without them.
LANDED_STATE_GRACE_S = 3.0
#: Height above home (m) that shows the vehicle has flown.
AIRBORNE_ABOVE_M = 1.0
#: A disarm whose first position after it is at most this high above home (m) is a landing;
#: higher, the vehicle was disarmed in the air. A barometer drifts a metre or two over a long
#: flight (a landed vehicle may read 2 m), while a fall from higher than this breaks things.
LANDED_WITHIN_M = 3.0

#: A landing farther than this (m) from home, from every rally point and from the plan's own
#: landing places is a landing away from home: RTL and LAND items put an ArduCopter down within a
#: few metres (WPNAV_RADIUS, GPS drift, wind), while a failsafe LAND puts it down where it is.
LANDED_AWAY_M = 50.0

#: A finished flight: landed with every waypoint, landed before the last one, landed away from
#: home (and every rally point), or not landed.
Outcome = Literal["complete", "returned_early", "landed_away", "failed"]

_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


class Touchdown(enum.Enum):
    """Where a flight stands after one snapshot."""

    FLYING = "flying"  # armed, or not yet armed, or disarmed in a way that is no landing yet
    SETTLING = "settling"  # disarmed: waiting for its height, landed state or clock
    LANDED = "landed"
    DISARMED_IN_AIR = "disarmed_in_air"  # disarmed above the ground: the vehicle fell
    REBOOTED = "rebooted"  # the vehicle restarted after arming: never a landing

    @property
    def over(self) -> bool:
        """Whether the flight has ended (landed or failed)."""
        return self not in (Touchdown.FLYING, Touchdown.SETTLING)


@dataclass(frozen=True, slots=True)
class LandingWatch:
    """What :func:`watch_landing` remembers between snapshots: whether the vehicle was armed
    and has flown, and when (monotonic seconds) the disarm now pending was first seen."""

    armed_once: bool = False
    airborne_seen: bool = False
    disarmed_at: float | None = None


def watch_landing(
    watch: LandingWatch,
    snapshot: Telemetry,
    *,
    clock_confirmed: bool,
    now: float,
    grace_s: float = LANDED_STATE_GRACE_S,
) -> tuple[LandingWatch, Touchdown]:
    """Fold ``snapshot`` (taken at ``now``, monotonic seconds) into ``watch`` and say where the
    flight stands; ``clock_confirmed`` is
    :attr:`~missions.link.telemetry.TelemetryTracker.clock_confirmed`.

    >>> from missions.link.telemetry import TelemetryTracker
    >>> on_ground = TelemetryTracker().snapshot()  # disarmed, no landed state: on the ground
    >>> watch_landing(LandingWatch(), on_ground, clock_confirmed=True, now=0.0)[1]
    <Touchdown.FLYING: 'flying'>
    >>> watch_landing(LandingWatch(armed_once=True), on_ground, clock_confirmed=True, now=0.0)[1]
    <Touchdown.LANDED: 'landed'>
    """
    armed_once = watch.armed_once or snapshot.armed
    position = snapshot.position
    airborne_seen = watch.airborne_seen or (
        position is not None and position.relative_alt_m > AIRBORNE_ABOVE_M
    )
    watch = replace(watch, armed_once=armed_once, airborne_seen=airborne_seen)
    if armed_once and snapshot.reboot is not None:
        return watch, Touchdown.REBOOTED
    disarmed = armed_once and not snapshot.armed and (snapshot.on_ground or airborne_seen)
    if not disarmed:
        return replace(watch, disarmed_at=None), Touchdown.FLYING
    disarmed_at = now if watch.disarmed_at is None else watch.disarmed_at
    watch = replace(watch, disarmed_at=disarmed_at)
    waited_out = now - disarmed_at >= grace_s
    height = height_at_disarm(snapshot.disarm, waited_out=waited_out)
    if height is not None and height.relative_alt_m > LANDED_WITHIN_M:
        return watch, Touchdown.DISARMED_IN_AIR
    known = height is not None or not _sends_positions(snapshot.disarm)
    if snapshot.on_ground and clock_confirmed and known:
        return watch, Touchdown.LANDED
    if not waited_out:
        return watch, Touchdown.SETTLING
    return watch, Touchdown.LANDED if snapshot.on_ground else Touchdown.DISARMED_IN_AIR


def height_at_disarm(disarm: DisarmHeights | None, *, waited_out: bool) -> HeightFix | None:
    """The height that tells where the vehicle disarmed: the first position after the disarm;
    once the grace is over without one (``waited_out``), the last position heard while armed;
    None while neither is known.

    >>> heights = DisarmHeights(before=HeightFix(40.0, 100.0))
    >>> height_at_disarm(heights, waited_out=False) is None
    True
    >>> height_at_disarm(heights, waited_out=True).relative_alt_m
    40.0
    """
    if disarm is None:
        return None
    if disarm.after is not None:
        return disarm.after
    return disarm.before if waited_out else None


def _sends_positions(disarm: DisarmHeights | None) -> bool:
    """Whether the vehicle sent any position around its disarm (one is then worth waiting for)."""
    return disarm is not None and (disarm.before is not None or disarm.after is not None)


def flight_outcome(*, landed: bool, all_reached: bool, landed_away: bool = False) -> Outcome:
    """A finished flight's outcome: ``complete`` (landed with every waypoint reached),
    ``returned_early`` (landed before the last one: the pilot or a failsafe ended the mission),
    ``landed_away`` (landed, but away from home and every rally point: see
    :func:`landing_place`; it leads, as it sends the pilot elsewhere) or ``failed`` (not landed:
    disarmed in the air, rebooted, lost, timed out).

    >>> flight_outcome(landed=True, all_reached=False)
    'returned_early'
    >>> flight_outcome(landed=True, all_reached=False, landed_away=True)
    'landed_away'
    """
    if not landed:
        return "failed"
    if landed_away:
        return "landed_away"
    return "complete" if all_reached else "returned_early"


@dataclass(frozen=True, slots=True)
class LandingPlace:
    """Where a flight came down: its position, its distance (m) and bearing (degrees) from
    home, and whether that is away from home and every other planned landing place.
    ``position_known`` False: the GPS was lost before the landing, so the position is the last
    known one (frozen; the vehicle may have drifted far from it) and ``away`` is True."""

    lat: float
    lon: float
    home_distance_m: float
    bearing_deg: float
    away: bool
    position_known: bool = True

    def text(self) -> str:
        """``9.3 km S of home at 32.431610,120.088020`` (``at home`` when within a metre);
        ``position unknown (GPS lost before landing): last known position 250 m NE of home at
        …`` when not known."""
        where = f"at {self.lat:.6f},{self.lon:.6f}"
        if self.home_distance_m < 1.0:
            place = f"at home, {where}"
        else:
            compass = _COMPASS[round(self.bearing_deg / 45.0) % 8]
            place = f"{distance_text(self.home_distance_m)} {compass} of home {where}"
        if self.position_known:
            return place
        return f"position unknown (GPS lost before landing): last known position {place}"


def distance_text(metres: float) -> str:
    """``420 m`` below a kilometre, else ``9.3 km``.

    >>> distance_text(420.4), distance_text(9344.0)
    ('420 m', '9.3 km')
    """
    return f"{metres:.0f} m" if metres < 1000.0 else f"{metres / 1000.0:.1f} km"


def landing_place(
    position: tuple[float, float],
    *,
    home: tuple[float, float],
    allowed: Iterable[tuple[float, float]] = (),
    radius_m: float = LANDED_AWAY_M,
) -> LandingPlace:
    """Where a vehicle that landed at ``position`` (lat, lon) came down, against ``home`` and
    the other places it may land (``allowed``: rally points, the plan's LAND items): away when
    farther than ``radius_m`` from each.

    >>> place = landing_place((32.43161, 120.08802), home=(32.51501, 120.08802))
    >>> place.away, place.text()
    (True, '9.3 km S of home at 32.431610,120.088020')
    >>> landing_place((32.51502, 120.08802), home=(32.51501, 120.08802)).away
    False
    """
    home_distance = ground_distance_m(home, position)
    nearest = min((ground_distance_m(p, position) for p in allowed), default=home_distance)
    return LandingPlace(
        lat=position[0],
        lon=position[1],
        home_distance_m=home_distance,
        bearing_deg=_bearing_deg(home, position),
        away=min(home_distance, nearest) > radius_m,
    )


def _bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial great-circle bearing from ``a`` to ``b``, 0-360 degrees clockwise from north."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360.0


def reached_items(progress: MissionProgress, *, landing_items: Iterable[int]) -> tuple[int, ...]:
    """The items a flight reached: those the vehicle reported or moved past and, when it landed
    in AUTO (``progress.landed_at``), every item up to the first landing item (``landing_items``:
    the sequence numbers of its NAV_LAND and NAV_RETURN_TO_LAUNCH items) at or after the one it
    was last seen on: a lossy link loses MISSION_ITEM_REACHED, never the landing. A flight that
    did not land passes no landing items: the item it was on when disarmed is not credited.

    >>> reached_items(MissionProgress(0, 5, (1, 2), landed_at=3), landing_items=[4])
    (1, 2, 3, 4)
    """
    reached = set(progress.reached)
    if progress.landed_at is not None:
        ends = sorted(seq for seq in landing_items if seq >= progress.landed_at)
        if ends:
            reached.update(range(1, ends[0] + 1))
    return tuple(sorted(reached))
