"""What a pilot must hear while a flight is under way, beyond the vehicle's own messages (pure).

Watchers fold telemetry snapshots, timed by the vehicle's clock (a sped-up simulator's seconds
are its own), into :class:`Notice`\\ s: the GPS fix lost in flight and back (:class:`GpsWatch`),
the battery at or below the vehicle's low level (:class:`BatteryLowWatch`), and an RTL that
does not bring the vehicle closer to home or the nearest rally point (:class:`ReturnWatch`: wind
stronger than it can fly, say). Each warning is said once when its condition starts, and again
only after the condition cleared and :data:`REPEAT_AFTER_S` passed, so a flapping condition
cannot flood the pilot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gis.geodesy import ground_distance_m
from gis.messages import Message, msg
from missions.link.battery import BatteryParams
from missions.link.telemetry import Telemetry

__all__ = [
    "REPEAT_AFTER_S",
    "RETURN_STALL_S",
    "BatteryLowWatch",
    "FlightWarnings",
    "GpsWatch",
    "Notice",
    "ReturnWatch",
    "gps_detail",
]

#: A warning said is not said again within this many vehicle seconds.
REPEAT_AFTER_S = 60.0
#: An RTL that has come no closer to home for this many vehicle seconds is not working.
RETURN_STALL_S = 30.0
#: Closer than this (m) the vehicle is home: hovering or descending there is no stall.
_HOME_RADIUS_M = 20.0
#: An RTL must gain at least this much (m) on its closest approach to count as closing in.
_CLOSING_M = 2.0
#: An RTL climbing faster than this (m/s) to its return altitude is making progress.
_CLIMBING_MPS = 0.5

Level = Literal["warning", "info"]


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell the pilot: ``kind`` names it for logs (``gps_lost``, ``gps_back``,
    ``battery_low``, ``return_stalled``), ``text`` says it (translatable)."""

    kind: str
    text: Message
    level: Level = "warning"


@dataclass(slots=True)
class _Alarm:
    """The episodes of one condition: when the current one started, whether it was said, and
    when a warning was last said."""

    since: float | None = None
    said: bool = False
    said_at: float | None = None

    def due(self, condition: bool, now: float, *, hold_s: float = 0.0) -> bool:
        """Whether to warn now: the condition has held `hold_s`, this episode was not said yet,
        and the last warning is :data:`REPEAT_AFTER_S` old."""
        if not condition:
            self.since, self.said = None, False
            return False
        if self.since is None:
            self.since = now
        if self.said or now - self.since < hold_s:
            return False
        if self.said_at is not None and now - self.said_at < REPEAT_AFTER_S:
            return False
        self.said, self.said_at = True, now
        return True


def _flying(snapshot: Telemetry) -> bool:
    return snapshot.armed and not snapshot.on_ground


def gps_detail(snapshot: Telemetry) -> Message:
    """``fix type 3, 14 satellites`` (as the pre-flight GPS check says it)."""
    gps = snapshot.gps
    return msg(
        "fix type %(fix)s, %(satellites)s satellites",
        fix=gps.fix_type if gps is not None else 0,
        satellites=gps.satellites if gps is not None else 0,
    )


class GpsWatch:
    """The GPS fix dropping below 3D in flight ("GPS lost"), and coming back ("GPS back")."""

    def __init__(self) -> None:
        self._alarm = _Alarm()
        self._lost = False  # "GPS lost" was said and no "GPS back" since

    def update(self, snapshot: Telemetry, now: float) -> list[Notice]:
        gps = snapshot.gps
        if gps is None:
            return []
        without_fix = gps.fix_type < 3
        if self._alarm.due(without_fix and _flying(snapshot), now):
            self._lost = True
            return [
                Notice(
                    "gps_lost",
                    msg(
                        "GPS lost in flight (%(detail)s): the vehicle cannot hold or fly to a "
                        "position; ArduCopter lands where it is (EKF failsafe)",
                        detail=gps_detail(snapshot),
                    ),
                )
            ]
        if self._lost and not without_fix:
            self._lost = False
            back = msg("GPS back (%(detail)s)", detail=gps_detail(snapshot))
            return [Notice("gps_back", back, "info")]
        return []


class BatteryLowWatch:
    """The battery at or below the vehicle's own low level: BATT_LOW_MAH of charge left, or
    BATT_LOW_VOLT for BATT_LOW_TIMER (a voltage dips for a moment under load)."""

    def __init__(self, params: BatteryParams) -> None:
        self.params = params
        self._alarm = _Alarm()

    def update(self, snapshot: Telemetry, now: float) -> list[Notice]:
        battery, p = snapshot.battery, self.params
        if battery is None or not snapshot.armed:
            self._alarm.due(False, now)
            return []
        left_mah = (
            None if battery.remaining_pct is None else battery.remaining_pct / 100 * p.capacity_mah
        )
        by_charge = p.low_mah > 0 and left_mah is not None and left_mah <= p.low_mah
        by_voltage = p.low_volt > 0 and battery.voltage_v <= p.low_volt
        hold = 0.0 if by_charge else p.low_timer_s
        if not self._alarm.due(by_charge or by_voltage, now, hold_s=hold):
            return []
        level = (
            msg("BATT_LOW_MAH %(mah)s mAh", mah=f"{p.low_mah:.0f}")
            if by_charge
            else msg("BATT_LOW_VOLT %(volts)s V", volts=f"{p.low_volt:g}")
        )
        return [
            Notice(
                "battery_low",
                msg(
                    "battery low: %(volts)s V, %(pct)s%% left by the vehicle's count, at or "
                    "below the vehicle's low level (%(level)s); bring it home",
                    volts=f"{battery.voltage_v:.2f}",
                    pct="?" if battery.remaining_pct is None else f"{battery.remaining_pct:.0f}",
                    level=level,
                ),
            )
        ]


class ReturnWatch:
    """An RTL that has come no closer to where it returns for :data:`RETURN_STALL_S`, while
    neither climbing to its return altitude nor already there: the vehicle cannot make headway.

    ArduPilot's RTL flies to the rally point nearest the vehicle when it switches to RTL, if
    it holds any (home counts too, RALLY_INCL_HOME), so progress is measured to the nearest of
    home and ``rally`` (``(lat, lon)`` of the mission's rally points, when the caller knows
    them) as the RTL began: an RTL making for a rally point away from home is not taken for
    one stalled.
    """

    def __init__(self, rally: Iterable[tuple[float, float]] = ()) -> None:
        points = tuple((float(lat), float(lon)) for lat, lon in rally)
        for lat, lon in points:
            if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
                raise ValueError(f"ReturnWatch: rally point {lat!r}, {lon!r} is not a position")
        self.rally = points
        self._alarm = _Alarm()
        self._closest: tuple[float, float] | None = None  # (distance m, when) in this RTL
        self._target: tuple[tuple[float, float], bool] | None = None  # (lat, lon), a rally point

    def update(self, snapshot: Telemetry, now: float) -> list[Notice]:
        if snapshot.mode != "RTL" or not _flying(snapshot):
            self._target = None
        elif self._target is None:
            self._target = _return_target(snapshot, self.rally)
        if self._target is None or snapshot.position is None:
            self._closest = None
            self._alarm.due(False, now)
            return []
        point, to_rally = self._target
        distance = ground_distance_m((snapshot.position.lat, snapshot.position.lon), point)
        climbing = snapshot.position is not None and snapshot.position.climb_mps > _CLIMBING_MPS
        if self._closest is None or distance < self._closest[0] - _CLOSING_M or climbing:
            self._closest = (min(distance, self._closest[0]) if self._closest else distance, now)
        stalled = distance > _HOME_RADIUS_M and now - self._closest[1] >= RETURN_STALL_S
        if not self._alarm.due(stalled, now):
            return []
        numbers = {
            "distance": f"{distance:.0f}",
            "seconds": f"{now - self._closest[1]:.0f}",
            "speed": f"{_ground_speed(snapshot):.1f}",
        }
        if to_rally:
            text = msg(
                "returning to launch but getting no closer: %(distance)s m from the nearest "
                "rally point, no closer for %(seconds)s s, ground speed %(speed)s m/s (wind "
                "stronger than the vehicle can fly?); land it where it is or take control",
                **numbers,
            )
        else:
            text = msg(
                "returning to launch but getting no closer: %(distance)s m from home, no "
                "closer for %(seconds)s s, ground speed %(speed)s m/s (wind stronger than "
                "the vehicle can fly?); land it where it is or take control",
                **numbers,
            )
        return [Notice("return_stalled", text)]


def _ground_speed(snapshot: Telemetry) -> float:
    return 0.0 if snapshot.position is None else snapshot.position.groundspeed_mps


def _return_target(
    snapshot: Telemetry, rally: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], bool] | None:
    """Where an RTL starting now goes: the nearest of the vehicle's home and ``rally``, and
    whether that is a rally point; None without a position or a home."""
    if snapshot.position is None or snapshot.home is None:
        return None
    lat, lon = snapshot.position.lat, snapshot.position.lon
    home: tuple[float, float] = (snapshot.home[0], snapshot.home[1])
    nearest = min(rally, key=lambda point: ground_distance_m((lat, lon), point), default=None)
    if nearest is not None and ground_distance_m((lat, lon), nearest) < ground_distance_m(
        (lat, lon), home
    ):
        return nearest, True
    return home, False


class FlightWarnings:
    """Every in-flight watcher `fly` and the ground station's flight sessions run: GPS, battery
    (when the vehicle's levels are known) and RTL progress (to home or the nearest of ``rally``,
    the mission's rally points as ``(lat, lon)``)."""

    def __init__(
        self, battery: BatteryParams | None = None, *, rally: Iterable[tuple[float, float]] = ()
    ) -> None:
        self._watches: list[GpsWatch | BatteryLowWatch | ReturnWatch] = [
            GpsWatch(),
            ReturnWatch(rally),
        ]
        if battery is not None:
            self._watches.append(BatteryLowWatch(battery))

    def update(self, snapshot: Telemetry, now: float) -> list[Notice]:
        """The notices one snapshot (at vehicle time `now`) brings."""
        return [notice for watch in self._watches for notice in watch.update(snapshot, now)]
