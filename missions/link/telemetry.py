"""Typed telemetry snapshots, the tracker that builds them from MAVLink messages, the flight log.

:class:`TelemetryTracker` is pure bookkeeping (feed it messages, ask for a :class:`Telemetry`
snapshot); :class:`FlightLog` is the I/O edge that writes telemetry rows and camera trigger events
as CSV while flying and a JSON summary at the end, for the ground station to ingest.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from typing import IO, Any

from gis.messages import counted
from missions.link.connection import Message

__all__ = [
    "ARDUCOPTER_MODES",
    "Attitude",
    "Battery",
    "CameraEvent",
    "DisarmHeights",
    "FlightLog",
    "GpsStatus",
    "HeightFix",
    "LandedState",
    "MissionProgress",
    "ModeHeard",
    "Position",
    "Reboot",
    "StatusText",
    "Telemetry",
    "TelemetryTracker",
    "mode_name",
]

#: ArduCopter's custom_mode numbers (HEARTBEAT.custom_mode) by name.
ARDUCOPTER_MODES: dict[str, int] = {
    "STABILIZE": 0,
    "ACRO": 1,
    "ALT_HOLD": 2,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "CIRCLE": 7,
    "LAND": 9,
    "DRIFT": 11,
    "SPORT": 13,
    "FLIP": 14,
    "AUTOTUNE": 15,
    "POSHOLD": 16,
    "BRAKE": 17,
    "THROW": 18,
    "AVOID_ADSB": 19,
    "GUIDED_NOGPS": 20,
    "SMART_RTL": 21,
}
_MODE_NAMES = {number: name for name, number in ARDUCOPTER_MODES.items()}

MAV_TYPE_GCS = 6
MAV_AUTOPILOT_INVALID = 8
MAV_MODE_FLAG_SAFETY_ARMED = 128
EKF_POS_HORIZ_ABS = 16
EKF_CONST_POS_MODE = 128
EKF_UNINITIALIZED = 1024
#: A vehicle clock (``time_boot_ms``) that runs back by more than this (vehicle seconds), or
#: whose uptime is shorter by more than this (our seconds) than a silence just ended, restarted.
REBOOT_CLOCK_SLACK_S = 1.0
#: Observe the vehicle clock this long (our seconds) before trusting its rate.
CLOCK_RATE_MIN_S = 2.0
#: Height above home (m) above which a vehicle that sends no landed state counts as flying.
AIRBORNE_M = 2.0


def mode_name(custom_mode: int) -> str:
    """ArduCopter's name for a custom mode number (``MODE42`` if unknown)."""
    return _MODE_NAMES.get(int(custom_mode), f"MODE{int(custom_mode)}")


class LandedState(IntEnum):
    """MAV_LANDED_STATE from EXTENDED_SYS_STATE."""

    UNDEFINED = 0
    ON_GROUND = 1
    IN_AIR = 2
    TAKEOFF = 3
    LANDING = 4


@dataclass(frozen=True, slots=True)
class Position:
    """Global position: degrees, metres AMSL and above home, heading (deg from north), m/s."""

    lat: float
    lon: float
    alt_amsl_m: float
    relative_alt_m: float
    heading_deg: float | None
    groundspeed_mps: float
    climb_mps: float


@dataclass(frozen=True, slots=True)
class HeightFix:
    """A height above home (m) as GLOBAL_POSITION_INT gave it, and the vehicle's clock then
    (``time_boot_ms`` in seconds): where the vehicle was, by its own time, not ours."""

    relative_alt_m: float
    boot_s: float


@dataclass(frozen=True, slots=True)
class DisarmHeights:
    """The vehicle's height around its latest disarm: the last position heard while it was armed
    and the first heard after the disarm heartbeat (None: none heard). ArduCopter says ON_GROUND
    the moment it disarms, even 50 m up, so these heights are what tells a landing from a fall."""

    before: HeightFix | None
    after: HeightFix | None = None


@dataclass(frozen=True, slots=True)
class Attitude:
    """Roll, pitch and yaw in degrees (yaw clockwise from north)."""

    roll_deg: float
    pitch_deg: float
    yaw_deg: float


@dataclass(frozen=True, slots=True)
class Battery:
    """Battery voltage, current and remaining charge (None when the vehicle does not know)."""

    voltage_v: float
    current_a: float | None
    remaining_pct: float | None


@dataclass(frozen=True, slots=True)
class GpsStatus:
    """GPS fix type (0-1 none, 2 2D, 3 3D, 4+ DGPS/RTK) and satellites in view."""

    fix_type: int
    satellites: int


@dataclass(frozen=True, slots=True)
class MissionProgress:
    """Mission progress in vehicle numbering (1 = the plan's first item; 0 is home)."""

    current: int
    total: int  # items on the vehicle including home, or 0 if unknown
    reached: tuple[int, ...]
    #: the item the vehicle was on when it disarmed in AUTO (a mission landing, unless it was
    #: disarmed in the air: :func:`~missions.link.landing.reached_items` credits it only for a
    #: landing), else None
    landed_at: int | None = None


@dataclass(frozen=True, slots=True)
class StatusText:
    """A STATUSTEXT with its MAV_SEVERITY (0 emergency … 6 info, 7 debug); ``time_s`` by our
    clock, ``vehicle_time_s`` by the vehicle's (None: not heard yet)."""

    time_s: float
    severity: int
    text: str
    vehicle_time_s: float | None = None


@dataclass(frozen=True, slots=True)
class ModeHeard:
    """The latest mode change heard: the vehicle's clock at the last heartbeat with the old mode
    (``before_s``) and when the new one was heard (``at_s``; None: not heard yet), and the
    longest silence of the link between them (our seconds): a change heard after one may
    have been explained by texts that were lost with the link."""

    mode: str
    before_s: float | None
    at_s: float | None
    silence_s: float


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """A camera trigger reported by CAMERA_FEEDBACK, with the vehicle's pose at the shot;
    ``time_s`` by our clock, ``vehicle_time_s`` by the vehicle's when the feedback arrived (its
    ``time_boot_ms``, as flight durations count: None when not heard yet)."""

    time_s: float
    image_index: int
    lat: float
    lon: float
    alt_amsl_m: float
    relative_alt_m: float
    roll_deg: float
    pitch_deg: float
    yaw_deg: float
    vehicle_time_s: float | None = None


@dataclass(frozen=True, slots=True)
class Reboot:
    """The vehicle restarted under us: its clock restarted (``kind="clock"``: ``before_s`` the
    vehicle's uptime when last heard, ``after_s`` its uptime now), or another board answers on
    the link (``kind="board"``: the board serials before and after)."""

    time_s: float
    kind: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Telemetry:
    """One snapshot of everything known about the vehicle; ``time_s`` counts from the link start."""

    time_s: float
    mode: str
    armed: bool
    position: Position | None
    attitude: Attitude | None
    battery: Battery | None
    gps: GpsStatus | None
    ekf_ok: bool | None
    landed_state: LandedState
    home: tuple[float, float, float] | None  # lat, lon, alt AMSL
    mission: MissionProgress
    photos: int
    status_texts: tuple[StatusText, ...] = field(default=())  # new since the previous snapshot
    reboot: Reboot | None = None  # the first restart of the vehicle seen (see TelemetryTracker)
    photos_unreported: int = 0  # taken (CAMERA_FEEDBACK img_idx) but their feedback never came
    disarm: DisarmHeights | None = None  # since the latest armed->disarmed heartbeat, else None
    vehicle_time_s: float | None = None  # the vehicle's clock (time_boot_ms), None: not heard
    flight_current_a: float | None = None  # mean current while armed in the air, None: unknown

    @property
    def on_ground(self) -> bool:
        """Landed: EXTENDED_SYS_STATE says so, or (without it) the motors are disarmed."""
        if self.landed_state != LandedState.UNDEFINED:
            return self.landed_state == LandedState.ON_GROUND
        return not self.armed

    def one_line(self) -> str:
        """``AUTO armed 30.12345,120.12345 52m | 12.1V 78% | wp 7/41 | 12 photos``."""
        parts = [f"{self.mode} {'armed' if self.armed else 'disarmed'}"]
        if self.position is not None:
            p = self.position
            parts[0] += (
                f" {p.lat:.6f},{p.lon:.6f} {p.relative_alt_m:.0f}m {p.groundspeed_mps:.1f}m/s"
            )
        if self.battery is not None:
            pct = (
                "" if self.battery.remaining_pct is None else f" {self.battery.remaining_pct:.0f}%"
            )
            parts.append(f"{self.battery.voltage_v:.1f}V{pct}")
        total = max(self.mission.total - 1, 0)
        parts.append(f"wp {self.mission.current}/{total}")
        parts.append(counted(self.photos, "photo"))
        return " | ".join(parts)


#: CAMERA_FEEDBACK img_idx this far below the last one heard is a counter started anew (wrapped
#: at 65535, or the vehicle restarted), not a late packet: the same index counts again.
IMAGE_INDEX_RESTART = 1000


class TelemetryTracker:
    """Folds the vehicle's messages into the latest known state; no I/O.

    It also notices a vehicle that restarted while we watched (:attr:`reboot`): its
    ``time_boot_ms`` (SYSTEM_TIME, ATTITUDE, GLOBAL_POSITION_INT ...) ran backwards, or across a
    reopened link its uptime is shorter than the silence, at the rate its clock ran before; or
    AUTOPILOT_VERSION names another board. A rebooted vehicle reports itself disarmed
    on the ground, which must never pass for a landing.
    """

    def __init__(self, *, target_system: int = 0, clock: Any = time.monotonic) -> None:
        self.target_system = target_system
        self._clock = clock
        self._start = clock()
        self.mode = "UNKNOWN"
        self.armed = False
        self.heartbeats = 0
        self.messages = 0  # messages of the target vehicle folded in: new data since a snapshot
        self.mode_heard: ModeHeard | None = None  # see ModeHeard
        self._heard_at: float | None = None  # our clock at the last message of the vehicle
        self._silence_s = 0.0  # the longest silence since the last heartbeat (our seconds)
        self._mode_heard_s: float | None = None  # vehicle clock at the last heartbeat
        self.position: Position | None = None
        self.attitude: Attitude | None = None
        self.battery: Battery | None = None
        self.gps: GpsStatus | None = None
        self.ekf_ok: bool | None = None
        self.landed_state = LandedState.UNDEFINED
        self.home: tuple[float, float, float] | None = None
        self.mission_current = 0
        self.mission_total = 0
        self.reached: set[int] = set()
        self.landed_at: int | None = None  # see MissionProgress.landed_at
        self._armed_fix: HeightFix | None = None  # the last position heard while armed
        self.disarm: DisarmHeights | None = None  # see Telemetry.disarm
        self._auto_current: int | None = None  # last item seen current while armed in AUTO
        self.camera_events: list[CameraEvent] = []
        #: img_idx reported, one set per run of the camera's counter (a restart begins one)
        self._image_epochs: list[set[int]] = [set()]
        self._last_image_index: int | None = None
        self._image_indices_reboot: Reboot | None = None  # the restart the indices count from
        #: CAMERA_CAPTURE_STATUS image_count: the first (before the photos) and the latest
        self.image_count_first: int | None = None
        self.image_count: int | None = None
        self.capture_status_count = 0  # CAMERA_CAPTURE_STATUS answers heard
        self.status_texts: deque[StatusText] = deque(maxlen=200)
        self.status_count = 0  # total STATUSTEXTs seen, to find "new since" positions
        self.board_uid: str | None = None  # AUTOPILOT_VERSION's uid (or uid2), hex; None: unsent
        self.reboot: Reboot | None = None
        self._autopilot_component: int | None = None  # the time_boot_ms we follow is its clock
        self._boot: tuple[float, float] | None = None  # last (vehicle s, our s) clock sample
        self._boot_origin: tuple[float, float] | None = None  # first sample, for the clock rate
        self._clock_stale = False  # the link was reopened and the clock not heard since
        self._flight_amps = (0.0, 0)  # sum and count of currents heard while armed in the air

    def now(self) -> float:
        return self._clock() - self._start

    def on_message(self, message: Message) -> None:
        """Update the state from one message of the target vehicle (others are ignored)."""
        if self.target_system and message.get_srcSystem() != self.target_system:
            return
        now = self.now()
        if self._heard_at is not None:
            self._silence_s = max(self._silence_s, now - self._heard_at)
        self._heard_at = now
        self.messages += 1
        boot_ms = getattr(message, "time_boot_ms", None)
        if boot_ms is not None:
            self._on_vehicle_clock(message.get_srcComponent(), int(boot_ms) / 1000.0)
        handler = getattr(self, f"_on_{message.get_type().lower()}", None)
        if handler is not None:
            handler(message)

    def link_reopened(self) -> None:
        """The link was opened again: the vehicle's clock is unconfirmed until heard again
        (:attr:`clock_confirmed`)."""
        self._clock_stale = True

    @property
    def clock_confirmed(self) -> bool:
        """The vehicle's clock was heard since the link was last reopened (or never at all:
        there is nothing to confirm), so :attr:`reboot` is up to date."""
        return not self._clock_stale or self._boot is None

    @property
    def clock_rate(self) -> float | None:
        """Vehicle seconds per second of ours (a sped-up simulator runs faster), once observed
        for :data:`CLOCK_RATE_MIN_S`; None before."""
        if self._boot is None or self._boot_origin is None:
            return None
        (boot, at), (boot0, at0) = self._boot, self._boot_origin
        if at - at0 < CLOCK_RATE_MIN_S or boot <= boot0:
            return None
        return (boot - boot0) / (at - at0)

    @property
    def vehicle_time_s(self) -> float | None:
        """The vehicle's uptime (``time_boot_ms``, in seconds) when last heard: its own clock,
        which a sped-up simulator runs faster than ours; None before it was heard."""
        return None if self._boot is None else self._boot[0]

    @property
    def flight_current_a(self) -> float | None:
        """The mean battery current heard while the vehicle was armed in the air (this link's
        flights): what it draws flying; None before it has flown."""
        total, count = self._flight_amps
        return total / count if count else None

    def _on_vehicle_clock(self, component: int, boot_s: float) -> None:
        if self._autopilot_component is not None and component != self._autopilot_component:
            return  # a camera or companion computer has a clock of its own
        now = self.now()
        reopened, self._clock_stale = self._clock_stale, False
        if self._boot is not None:
            last, heard_at = self._boot
            silence = now - heard_at
            rate = self.clock_rate
            back = boot_s < last - REBOOT_CLOCK_SLACK_S
            # only across a reopened link: a sped-up simulator that merely stalled (a busy
            # machine) has a short uptime for the silence too, but kept its connection
            young = reopened and rate is not None and boot_s / rate < silence - REBOOT_CLOCK_SLACK_S
            if back or young:  # the first restart is the one reported; the rate starts anew
                self.reboot = self.reboot or Reboot(now, "clock", f"{last:.1f}", f"{boot_s:.1f}")
                self._boot_origin = None
        self._boot = (boot_s, now)
        if self._boot_origin is None:
            self._boot_origin = self._boot

    def _on_heartbeat(self, m: Message) -> None:
        if m.type == MAV_TYPE_GCS or m.autopilot == MAV_AUTOPILOT_INVALID:
            return
        if self._autopilot_component is None:
            self._autopilot_component = m.get_srcComponent()
        self.heartbeats += 1
        mode = mode_name(m.custom_mode)
        armed = bool(m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED)
        if self.armed and not armed:
            self.disarm = DisarmHeights(before=self._armed_fix)
            if mode == "AUTO" and self._auto_current is not None:
                # ArduCopter disarms in AUTO by itself only after landing on a LAND/RTL item;
                # a forced disarm in the air too: reached_items credits it for a landing only
                self.landed_at = self._auto_current
        if armed and not self.armed:  # a new flight: its progress counts from its own start
            self.landed_at = self._auto_current = None
            self._armed_fix = self.disarm = None
        if mode != self.mode and self.heartbeats > 1:
            self.mode_heard = ModeHeard(mode, self._mode_heard_s, self.vehicle_time_s,
                                        self._silence_s)  # fmt: skip
        self._mode_heard_s, self._silence_s = self.vehicle_time_s, 0.0
        self.mode, self.armed = mode, armed

    def _on_global_position_int(self, m: Message) -> None:
        self._note_height(HeightFix(m.relative_alt / 1000.0, int(m.time_boot_ms) / 1000.0))
        self.position = Position(
            lat=m.lat * 1e-7,
            lon=m.lon * 1e-7,
            alt_amsl_m=m.alt / 1000.0,
            relative_alt_m=m.relative_alt / 1000.0,
            heading_deg=None if m.hdg == 65535 else m.hdg / 100.0,
            groundspeed_mps=math.hypot(m.vx, m.vy) / 100.0,
            climb_mps=-m.vz / 100.0,
        )

    def _note_height(self, fix: HeightFix) -> None:
        """Keep the last height heard while armed and, after a disarm, the first one measured
        after it: a position older (by the vehicle's clock) than the last armed one was
        reordered on the way and is no news of the disarm."""
        if self.armed:
            self._armed_fix = fix
            return
        disarm = self.disarm
        if disarm is None or disarm.after is not None:
            return
        if disarm.before is not None and fix.boot_s < disarm.before.boot_s:
            return
        self.disarm = replace(disarm, after=fix)

    def _on_attitude(self, m: Message) -> None:
        self.attitude = Attitude(
            roll_deg=math.degrees(m.roll),
            pitch_deg=math.degrees(m.pitch),
            yaw_deg=math.degrees(m.yaw) % 360.0,
        )

    def _on_sys_status(self, m: Message) -> None:
        self.battery = Battery(
            voltage_v=m.voltage_battery / 1000.0,
            current_a=None if m.current_battery < 0 else m.current_battery / 100.0,
            remaining_pct=None if m.battery_remaining < 0 else float(m.battery_remaining),
        )
        if self.battery.current_a is not None and self._flying():
            total, count = self._flight_amps
            self._flight_amps = (total + self.battery.current_a, count + 1)

    def _flying(self) -> bool:
        """Armed in the air: IN_AIR, or (without EXTENDED_SYS_STATE) above AIRBORNE_M."""
        if not self.armed:
            return False
        if self.landed_state != LandedState.UNDEFINED:
            return self.landed_state == LandedState.IN_AIR
        return self.position is not None and self.position.relative_alt_m > AIRBORNE_M

    def _on_gps_raw_int(self, m: Message) -> None:
        self.gps = GpsStatus(fix_type=int(m.fix_type), satellites=int(m.satellites_visible))

    def _on_ekf_status_report(self, m: Message) -> None:
        flags = int(m.flags)
        self.ekf_ok = bool(flags & EKF_POS_HORIZ_ABS) and not flags & (
            EKF_CONST_POS_MODE | EKF_UNINITIALIZED
        )

    def _on_extended_sys_state(self, m: Message) -> None:
        try:
            self.landed_state = LandedState(int(m.landed_state))
        except ValueError:
            self.landed_state = LandedState.UNDEFINED

    def _on_autopilot_version(self, m: Message) -> None:
        uid2 = bytes(getattr(m, "uid2", None) or ())
        if m.uid:
            board = f"{m.uid:016x}"
        elif any(uid2):
            board = uid2.hex()
        else:
            return
        if self.board_uid is not None and board != self.board_uid and self.reboot is None:
            self.reboot = Reboot(self.now(), "board", self.board_uid, board)
        self.board_uid = board

    def _on_home_position(self, m: Message) -> None:
        self.home = (m.latitude * 1e-7, m.longitude * 1e-7, m.altitude / 1000.0)

    def _on_mission_current(self, m: Message) -> None:
        seq = int(m.seq)
        total = int(getattr(m, "total", 0) or 0)
        if 0 < total < 65535:
            self.mission_total = total
        if seq >= 65535 or (self.mission_total and seq >= self.mission_total):
            return  # no current item (ArduPilot's "none"), or not on the list we know
        if self.armed and self.mode == "AUTO" and seq >= 1:
            # the current item moving on past items means they were reached: their
            # MISSION_ITEM_REACHED (sent once) may have been lost, MISSION_CURRENT is streamed
            before = self._auto_current
            if before is not None and before < seq:
                self.reached.update(range(before, seq))
            self._auto_current = seq
        self.mission_current = seq

    def _on_mission_item_reached(self, m: Message) -> None:
        self.reached.add(int(m.seq))

    def _on_statustext(self, m: Message) -> None:
        text = m.text.decode("utf-8", "replace") if isinstance(m.text, bytes) else str(m.text)
        self.status_texts.append(
            StatusText(self.now(), int(m.severity), text.rstrip("\x00"), self.vehicle_time_s)
        )
        self.status_count += 1

    def _on_camera_feedback(self, m: Message) -> None:
        """One photo per image index: a duplicated packet (a lossy radio, a relay) repeats the
        index. A restart of the vehicle (:attr:`reboot`) or an index far below the last one
        (the counter wrapped at 65535) starts the count anew."""
        index = int(m.img_idx)
        last = self._last_image_index
        restarted = self.reboot is not self._image_indices_reboot
        if restarted or (last is not None and index < last - IMAGE_INDEX_RESTART):
            if self._image_epochs[-1]:
                self._image_epochs.append(set())
            self._image_indices_reboot, last = self.reboot, None
        if index in self._image_epochs[-1]:
            return
        self._image_epochs[-1].add(index)
        self._last_image_index = index if last is None else max(last, index)
        self.camera_events.append(
            CameraEvent(
                time_s=self.now(),
                image_index=index,
                lat=m.lat * 1e-7,
                lon=m.lng * 1e-7,
                alt_amsl_m=float(m.alt_msl),
                relative_alt_m=float(m.alt_rel),
                roll_deg=float(m.roll),
                pitch_deg=float(m.pitch),
                yaw_deg=float(m.yaw),
                vehicle_time_s=self.vehicle_time_s,
            )
        )

    def _on_camera_capture_status(self, m: Message) -> None:
        count = int(getattr(m, "image_count", 0) or 0)
        if self.image_count_first is None:
            self.image_count_first = count
        self.image_count = count
        self.capture_status_count += 1

    @property
    def photos_unreported(self) -> int:
        """Photos the camera took whose CAMERA_FEEDBACK never arrived (the link was down): the
        gaps in the image indices reported, from the first to the last, and those after the
        last one reported that CAMERA_CAPTURE_STATUS's image count shows (see
        :attr:`photos_taken`)."""
        gaps = sum(max(run) - min(run) + 1 - len(run) for run in self._image_epochs if run)
        return max(gaps, self.photos_taken - len(self.camera_events))

    @property
    def photos_taken(self) -> int:
        """Photos taken while we watched: CAMERA_CAPTURE_STATUS's image count (a counter since
        boot, like CAMERA_FEEDBACK's img_idx) less the count before the first photo (its first
        answer, or the first index reported less one); the indices reported without it (each
        run of the counter, see :meth:`_on_camera_feedback`, from its first to its last)."""
        spans = [max(run) - min(run) + 1 for run in self._image_epochs if run]
        if self.image_count is None:
            return sum(spans)
        indices = self._image_epochs[-1]
        before = self.image_count_first if self.image_count_first is not None else 0
        if indices:
            before = min(before, min(indices) - 1)
        return sum(spans[:-1]) + max(self.image_count - before, len(indices))

    def texts_since(self, count: int) -> tuple[StatusText, ...]:
        """Status texts received after the ``count``-th one (see :attr:`status_count`)."""
        new = self.status_count - count
        if new <= 0:
            return ()
        return tuple(list(self.status_texts)[-min(new, len(self.status_texts)) :])

    def snapshot(self, *, texts_since: int | None = None) -> Telemetry:
        """The current state; ``status_texts`` holds the texts after the ``texts_since``-th one."""
        texts = () if texts_since is None else self.texts_since(texts_since)
        return Telemetry(
            time_s=self.now(),
            mode=self.mode,
            armed=self.armed,
            position=self.position,
            attitude=self.attitude,
            battery=self.battery,
            gps=self.gps,
            ekf_ok=self.ekf_ok,
            landed_state=self.landed_state,
            home=self.home,
            mission=MissionProgress(
                current=self.mission_current,
                total=self.mission_total,
                reached=tuple(sorted(self.reached)),
                landed_at=self.landed_at,
            ),
            photos=len(self.camera_events),
            status_texts=texts,
            reboot=self.reboot,
            photos_unreported=self.photos_unreported,
            disarm=self.disarm,
            vehicle_time_s=self.vehicle_time_s,
            flight_current_a=self.flight_current_a,
        )


TELEMETRY_COLUMNS = (
    "time_s",
    "vehicle_time_s",
    "mode",
    "armed",
    "lat",
    "lon",
    "alt_amsl_m",
    "relative_alt_m",
    "heading_deg",
    "groundspeed_mps",
    "roll_deg",
    "pitch_deg",
    "yaw_deg",
    "voltage_v",
    "remaining_pct",
    "gps_fix",
    "satellites",
    "mission_current",
    "photos",
)
CAMERA_COLUMNS = tuple(CameraEvent.__dataclass_fields__)


def _vehicle_seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


class FlightLog:
    """Writes ``telemetry.csv`` and ``camera.csv`` row by row and ``flight.json`` on close.

    Every row and event has ``time_s`` (our clock, from the link's start) and ``vehicle_time_s``
    (the vehicle's ``time_boot_ms``, the clock flight.json's ``duration_s`` counts, photo EXIF
    times and the simulator's log use: a sped-up simulator runs it faster than ours; empty
    before it was heard). ``vehicle_clock`` gives the vehicle's time for events logged between
    snapshots (:attr:`TelemetryTracker.vehicle_time_s`); without it they take the last
    snapshot's."""

    def __init__(
        self, directory: str | Path, *, vehicle_clock: Callable[[], float | None] | None = None
    ) -> None:
        self.directory = Path(directory)
        self._vehicle_clock = vehicle_clock
        self._last_vehicle_s: float | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: list[IO[str]] = []
        self._telemetry = self._writer("telemetry.csv", TELEMETRY_COLUMNS)
        self._camera = self._writer("camera.csv", CAMERA_COLUMNS)
        self.events: list[dict[str, Any]] = []
        self.camera_events: list[CameraEvent] = []

    def _writer(self, name: str, columns: tuple[str, ...]) -> Any:
        handle = (self.directory / name).open("w", newline="", encoding="utf-8")
        self._files.append(handle)
        writer = csv.writer(handle)
        writer.writerow(columns)
        return writer

    def record(self, snapshot: Telemetry) -> None:
        """Append one telemetry row; status texts become events."""
        p, a, b, g = snapshot.position, snapshot.attitude, snapshot.battery, snapshot.gps
        if snapshot.vehicle_time_s is not None:
            self._last_vehicle_s = snapshot.vehicle_time_s
        self._telemetry.writerow(
            [
                f"{snapshot.time_s:.3f}",
                _vehicle_seconds(snapshot.vehicle_time_s),
                snapshot.mode,
                int(snapshot.armed),
                *(
                    ("", "", "", "", "", "")
                    if p is None
                    else (
                        f"{p.lat:.7f}",
                        f"{p.lon:.7f}",
                        f"{p.alt_amsl_m:.2f}",
                        f"{p.relative_alt_m:.2f}",
                        "" if p.heading_deg is None else f"{p.heading_deg:.1f}",
                        f"{p.groundspeed_mps:.2f}",
                    )
                ),
                *(
                    ("", "", "")
                    if a is None
                    else (f"{a.roll_deg:.1f}", f"{a.pitch_deg:.1f}", f"{a.yaw_deg:.1f}")
                ),
                *(
                    ("", "")
                    if b is None
                    else (
                        f"{b.voltage_v:.2f}",
                        "" if b.remaining_pct is None else f"{b.remaining_pct:.0f}",
                    )
                ),
                *(("", "") if g is None else (g.fix_type, g.satellites)),
                snapshot.mission.current,
                snapshot.photos,
            ]
        )
        for text in snapshot.status_texts:
            self.event(
                "statustext",
                text.text,
                time_s=text.time_s,
                vehicle_time_s=text.vehicle_time_s,
                severity=text.severity,
            )

    def camera(self, event: CameraEvent) -> None:
        """Append one camera trigger event."""
        self._camera.writerow([getattr(event, name) for name in CAMERA_COLUMNS])
        self.camera_events.append(event)

    def event(
        self,
        kind: str,
        text: str,
        *,
        time_s: float,
        vehicle_time_s: float | None = None,
        **extra: Any,
    ) -> None:
        """Remember a flight event (mode change, failsafe, status text) for flight.json, at
        ``time_s`` by our clock and ``vehicle_time_s`` by the vehicle's (when not given: the
        vehicle's clock now, else the last snapshot's)."""
        if vehicle_time_s is None and self._vehicle_clock is not None:
            vehicle_time_s = self._vehicle_clock()
        if vehicle_time_s is None:
            vehicle_time_s = self._last_vehicle_s
        self.events.append(
            {
                "time_s": round(time_s, 3),
                "vehicle_time_s": None if vehicle_time_s is None else round(vehicle_time_s, 3),
                "kind": kind,
                "text": text,
                **extra,
            }
        )

    @property
    def closed(self) -> bool:
        return not self._files

    def close(self, summary: dict[str, Any]) -> Path:
        """Flush the CSV files and write ``flight.json`` (summary, events, camera events)."""
        for handle in self._files:
            handle.close()
        self._files.clear()
        path = self.directory / "flight.json"
        document = {
            "summary": summary,
            "events": self.events,
            "camera_events": [asdict(event) for event in self.camera_events],
            "files": {"telemetry": "telemetry.csv", "camera": "camera.csv"},
        }
        path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
        return path
