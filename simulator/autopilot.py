"""ArduCopter-like flight logic: modes, arming checks, mission execution and failsafes.

The :class:`Autopilot` owns the vehicle state and advances it with :func:`simulator.physics.step`.
It knows nothing of sockets: commands come in as method calls and everything a ground station
should hear (mode changes, STATUSTEXT, items reached, camera triggers) goes out as events in
:attr:`Autopilot.events`, which the MAVLink server drains after every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import IntEnum

import shapely
from shapely.geometry import Point, Polygon

from gis.crs import LocalFrame
from simulator.params import ParamTable
from simulator.physics import Airframe, Setpoint, VehicleState, attitude, step, wind_from

__all__ = [
    "Mode",
    "Severity",
    "StoredItem",
    "Text",
    "ModeChanged",
    "ArmedChanged",
    "ItemReached",
    "CurrentChanged",
    "HomeChanged",
    "CameraTrigger",
    "Event",
    "Autopilot",
    "NAV_COMMANDS",
]


class Mode(IntEnum):
    """ArduCopter custom mode numbers."""

    STABILIZE = 0
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    LAND = 9
    BRAKE = 17  # stop and hold position, no pilot input (a ground station's "pause")


class Severity(IntEnum):
    """MAV_SEVERITY values used in STATUSTEXT."""

    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6


_NEEDS_POSITION = {Mode.AUTO, Mode.GUIDED, Mode.LOITER, Mode.RTL, Mode.BRAKE}
_ARMABLE = {Mode.STABILIZE, Mode.ALT_HOLD, Mode.GUIDED, Mode.LOITER, Mode.AUTO}
#: After the GPS is lost the EKF dead-reckons its horizontal position this long (simulated s)...
EKF_DEAD_RECKONING_S = 2.0
#: ...and ArduCopter's EKF check fails after its variances stay high for a second more: the EKF
#: failsafe (FS_EKF_ACTION) then acts in the modes that need a position.
EKF_FAILSAFE_S = 3.0

CMD_WAYPOINT = 16
CMD_LOITER_UNLIM = 17
CMD_LOITER_TURNS = 18
CMD_LOITER_TIME = 19
CMD_RTL = 20
CMD_LAND = 21
CMD_TAKEOFF = 22
CMD_DELAY = 93
CMD_CONDITION_DELAY = 112
CMD_DO_JUMP = 177
CMD_DO_CHANGE_SPEED = 178
CMD_DO_SET_HOME = 179
CMD_DO_DIGICAM_CONTROL = 203
CMD_DO_SET_CAM_TRIGG_DIST = 206
NAV_COMMANDS = frozenset(
    {
        CMD_WAYPOINT,
        CMD_LOITER_UNLIM,
        CMD_LOITER_TURNS,
        CMD_LOITER_TIME,
        CMD_RTL,
        CMD_LAND,
        CMD_TAKEOFF,
        CMD_DELAY,
    }
)
_GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})
_AMSL_FRAMES = frozenset({0, 5})

#: ArduCopter's FailsafeAction (ArduCopter/events.cpp do_failsafe_action), the values of
#: BATT_FS_LOW_ACT / BATT_FS_CRT_ACT, and what FS_GCS_ENABLE and FENCE_ACTION map to.
_FS_NONE = 0
_FS_LAND = 1
_FS_RTL = 2  # RTL, or LAND when RTL is refused (no position)
_FS_SMARTRTL = 3  # SmartRTL, else RTL, else LAND
_FS_SMARTRTL_LAND = 4  # SmartRTL, else LAND
_FS_TERMINATE = 5
_FS_AUTO_DO_LAND_START = 6  # AUTO_RTL from a DO_LAND_START, else RTL, else LAND
_FS_BRAKE_LAND = 7  # BRAKE, else LAND
#: FS_GCS_ENABLE (Copter parameter docs): 0 none, 1 RTL, 2 RTL (continue-in-AUTO removed in
#: 4.0, now FS_OPTIONS), 3 SmartRTL or RTL, 4 SmartRTL or Land, 5 Land, 6 Auto DO_LAND_START or
#: RTL, 7 Brake or Land; any other value RTL (failsafe_gcs_on_event).
_GCS_ACTIONS = {
    0: _FS_NONE,
    1: _FS_RTL,
    2: _FS_RTL,
    3: _FS_SMARTRTL,
    4: _FS_SMARTRTL_LAND,
    5: _FS_LAND,
    6: _FS_AUTO_DO_LAND_START,
    7: _FS_BRAKE_LAND,
}
#: FENCE_ACTION (AC_Fence docs, Copter): 0 report only, 1 RTL or Land, 2 Always Land, 3 SmartRTL
#: or RTL or Land, 4 Brake or Land, 5 SmartRTL or Land; any other value RTL (fence.cpp).
_FENCE_ACTIONS = {
    0: _FS_NONE,
    1: _FS_RTL,
    2: _FS_LAND,
    3: _FS_SMARTRTL,
    4: _FS_BRAKE_LAND,
    5: _FS_SMARTRTL_LAND,
}
#: AC_Fence: a breached circle or altitude fence is rebuilt this far further out; crossing that
#: backup fence is a new breach (AC_FENCE_CIRCLE_RADIUS_BACKUP_DISTANCE, ..._ALT_MAX_BACKUP_...).
FENCE_BACKUP_DISTANCE = 20.0
#: ArduCopter's fence.cpp lands instead of the FENCE_ACTION on a new breach more than this far
#: outside the fence (AC_FENCE_GIVE_UP_DISTANCE).
FENCE_GIVE_UP_DISTANCE = 100.0
#: AC_Fence ignores new breaches this long after a mode change while breached ("manual
#: recovery", AC_FENCE_MANUAL_RECOVERY_TIME_MIN; ArduCopter starts it on every mode change).
FENCE_RECOVERY_S = 10.0
#: A failsafe's LAND holds position and altitude this long after LAND began before it descends
#: (ArduCopter's set_mode_land_with_pause, LAND_WITH_DELAY_MS), so the pilot can react.
LAND_PAUSE_S = 4.0

FENCE_INCLUSION_VERTEX = 5001
FENCE_EXCLUSION_VERTEX = 5002
FENCE_INCLUSION_CIRCLE = 5003
FENCE_EXCLUSION_CIRCLE = 5004


@dataclass(frozen=True, slots=True)
class StoredItem:
    """A mission item as the vehicle stores it: positions as integers (degE7) for global frames."""

    command: int
    frame: int = 3
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: int = 1

    @property
    def is_global(self) -> bool:
        return self.frame in _GLOBAL_FRAMES

    @property
    def lat(self) -> float:
        return self.x / 1e7

    @property
    def lon(self) -> float:
        return self.y / 1e7


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    severity: int
    text: str


@dataclass(frozen=True, slots=True)
class ModeChanged:
    mode: Mode


@dataclass(frozen=True, slots=True)
class ArmedChanged:
    armed: bool


@dataclass(frozen=True, slots=True)
class ItemReached:
    seq: int


@dataclass(frozen=True, slots=True)
class CurrentChanged:
    seq: int


@dataclass(frozen=True, slots=True)
class HomeChanged:
    lat: float
    lon: float
    alt_amsl: float


@dataclass(frozen=True, slots=True)
class CameraTrigger:
    """A photo taken at this pose (the camera renders it asynchronously).

    ``lat``/``lon`` are the geotag: the EKF's position, as ArduPilot tags its photos (frozen
    while the GPS is lost). ``seen_lat``/``seen_lon`` are where the camera really was: the photo
    shows the ground below it. The two differ only while the vehicle flies without GPS."""

    index: int
    time_s: float
    lat: float
    lon: float
    alt_amsl: float
    relative_alt: float
    yaw_deg: float
    roll_deg: float
    pitch_deg: float
    seen_lat: float | None = None
    seen_lon: float | None = None

    @property
    def seen(self) -> tuple[float, float]:
        """(lat, lon) the photo was really taken from."""
        if self.seen_lat is None or self.seen_lon is None:
            return self.lat, self.lon
        return self.seen_lat, self.seen_lon


Event = (
    Text | ModeChanged | ArmedChanged | ItemReached | CurrentChanged | HomeChanged | CameraTrigger
)


@dataclass(slots=True)
class _Leg:
    """The nav command being flown: where to, how to finish, and its progress."""

    seq: int
    command: int
    target: tuple[float, float, float] | None = None
    radius: float = 2.0
    hold_s: float = 0.0
    arrived_at: float | None = None
    land: bool = False
    loiter_forever: bool = False
    exit_speed: float = 0.0
    rtl: _Return | None = None
    origin: tuple[float, float] | None = None  # where the leg began


@dataclass(slots=True)
class _Return:
    """Progress of a return to launch: climb, fly back, hover, descend and land."""

    stage: str
    point: tuple[float, float]
    altitude: float
    stage_started: float = 0.0


@dataclass(slots=True)
class _Fence:
    inclusion: list[Polygon] = field(default_factory=list)
    exclusion: list[Polygon] = field(default_factory=list)


class Autopilot:
    """One simulated ArduCopter: call :meth:`tick` once per physics step."""

    def __init__(self, *, home: tuple[float, float, float], params: ParamTable) -> None:
        lat, lon, alt = home
        self.params = params
        self.frame = LocalFrame(lon, lat)
        self.origin_alt = float(alt)
        self.home = (float(lat), float(lon), float(alt))
        self._home_xy = (0.0, 0.0)
        self.update_wind()
        self.state = VehicleState(voltage=params["SIM_BATT_VOLTAGE"])
        self.mode = Mode.STABILIZE
        self.armed = False
        self.now = 0.0
        self.events: list[Event] = []
        self.lists: dict[int, list[StoredItem]] = {0: [], 1: [], 2: []}
        self.current_seq = 0
        self.mission_complete = False
        self._leg: _Leg | None = None
        self._jumps: dict[int, int] = {}
        self._hold: tuple[float, float, float] | None = None
        self._land_started = 0.0  # when LAND mode was entered (ModeLand::init's land_start_time)
        self._land_pause = False  # a failsafe's LAND waits LAND_PAUSE_S before descending
        self._speed_override: float | None = None
        self._landed_since: float | None = 0.0
        self._low_batt_since: float | None = None
        self._crt_batt_since: float | None = None
        self._batt_failsafe = 0  # 0 none, 1 low, 2 critical
        self._fence = _Fence()
        # breached fence kinds -> how far outside a new breach of that kind triggers again
        self._fence_breached: dict[str, float] = {}
        self._fence_recovery_until = -math.inf
        self._next_fence_check = 0.0
        self._last_gcs: float | None = None
        self._gcs_failsafe = False
        self._gps_lost_at: float | None = None  # when a fix the EKF was using went away
        self._ekf_failsafe = False
        self._estimate_xy = (0.0, 0.0)  # the EKF's horizontal position (frozen without GPS)
        self._trigger_distance = 0.0
        self._since_photo = 0.0
        self._last_photo_time = -1e9
        self.photo_count = 0
        self.last_trigger: CameraTrigger | None = None
        self._gps_announced = False

    # ---- derived state -------------------------------------------------------------------------

    @property
    def airframe(self) -> Airframe:
        p = self.params
        return Airframe(
            accel_mss=max(0.5, p["WPNAV_ACCEL"] / 100.0),
            accel_z_mss=max(0.2, p["WPNAV_ACCEL_Z"] / 100.0),
            max_airspeed_mps=max(1.0, p["SIM_AIRSPD_MAX"]),
            max_angle_deg=max(5.0, p["ANGLE_MAX"] / 100.0),
            yaw_rate_dps=max(5.0, p["ATC_SLEW_YAW"] / 100.0),
            hover_amps=max(0.1, p["SIM_HOVER_AMPS"]),
            capacity_mah=max(1.0, p["BATT_CAPACITY"]),
            full_volts=p["SIM_BATT_VOLTAGE"],
        )

    @property
    def gps_ok(self) -> bool:
        """A 3D fix: from SIM_GPS_DELAY after boot, unless SIM_GPS_DISABLE has the GPS lost."""
        return self.now >= self.params["SIM_GPS_DELAY"] and not self.params["SIM_GPS_DISABLE"]

    @property
    def position_ok(self) -> bool:
        """The EKF has a horizontal position: a fix, or dead reckoning shortly after losing it."""
        lost = self._gps_lost_at
        return self.gps_ok or (lost is not None and self.now - lost < EKF_DEAD_RECKONING_S)

    @property
    def gps_lost_s(self) -> float | None:
        """Simulated seconds since the fix the EKF was using went away (None: not lost)."""
        return None if self._gps_lost_at is None else self.now - self._gps_lost_at

    @property
    def battery_exhausted(self) -> bool:
        """The pack has given its whole capacity: its voltage has collapsed."""
        return self.state.consumed_mah >= self.airframe.capacity_mah

    @property
    def landed(self) -> bool:
        return self.state.landed

    @property
    def in_failsafe(self) -> bool:
        """A battery, fence, GCS or EKF failsafe has triggered during this flight."""
        return bool(
            self._batt_failsafe or self._fence_breached or self._gcs_failsafe or self._ekf_failsafe
        )

    @property
    def flight_phase(self) -> str:
        """'ground', 'takeoff', 'landing' or 'air' (MAV_LANDED_STATE without the numbers).

        Disarmed is 'ground' even while the vehicle falls: ArduCopter's disarm sets its land
        complete flag at once ("we are not in the air"), so only the height tells a fall."""
        if self.landed or not self.armed:
            return "ground"
        if self.state.vz > 0.2 and self.state.h < 5.0:
            return "takeoff"
        leg = self._leg
        if self.mode == Mode.LAND or (
            leg is not None and (leg.land or (leg.rtl is not None and leg.rtl.stage == "land"))
        ):
            return "landing"
        return "air"

    def position(self) -> tuple[float, float, float, float]:
        """(lat, lon, altitude AMSL, altitude above home) of the vehicle."""
        return self._global(self.state.x, self.state.y)

    def estimated_position(self) -> tuple[float, float, float, float]:
        """:meth:`position` as the vehicle believes it (what it reports): without GPS the EKF
        keeps the last horizontal position it had (constant position mode) while the vehicle
        drifts; the barometer still gives the altitude."""
        return self._global(*self._estimate_xy)

    def _global(self, x: float, y: float) -> tuple[float, float, float, float]:
        lon, lat = self.frame.inverse(x, y)
        amsl = self.origin_alt + self.state.h
        return float(lat), float(lon), amsl, amsl - self.home[2]

    def relative_alt(self, frame: int, alt: float) -> float:
        """An altitude given in MAV_FRAME `frame` as altitude above home (AMSL frames converted)."""
        return alt - self.home[2] if frame in _AMSL_FRAMES else alt

    def local(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = self.frame.forward(lon, lat)
        return float(x), float(y)

    def mission_count(self) -> int:
        """Items in the mission list as a ground station sees it (home included)."""
        return len(self.lists[0]) + 1

    def home_item(self) -> StoredItem:
        lat, lon, alt = self.home
        return StoredItem(
            command=CMD_WAYPOINT, frame=0, x=round(lat * 1e7), y=round(lon * 1e7), z=alt
        )

    def item(self, seq: int) -> StoredItem | None:
        """Mission item `seq` with home as item 0, like ArduPilot."""
        if seq == 0:
            return self.home_item()
        items = self.lists[0]
        return items[seq - 1] if 1 <= seq <= len(items) else None

    # ---- event helpers -------------------------------------------------------------------------

    def say(self, text: str, severity: int = Severity.INFO) -> None:
        self.events.append(Text(int(severity), text))

    def drain_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    # ---- lists ---------------------------------------------------------------------------------

    def replace_list(self, mission_type: int, items: list[StoredItem]) -> None:
        """Store an uploaded list. For the mission, `items` exclude home (sequence 0)."""
        self.lists[mission_type] = list(items)
        if mission_type == 0:
            self.mission_complete = False
            self._jumps.clear()
            if self.mode == Mode.AUTO and not self.landed:
                self._start_at(max(1, min(self.current_seq, len(items))))
            elif self.current_seq > len(items):
                self._set_current(0)
        elif mission_type == 1:
            self._fence = self._build_fence(items)
            self.params.set("FENCE_TOTAL", len(items))
        elif mission_type == 2:
            self.params.set("RALLY_TOTAL", len(items))

    def _build_fence(self, items: list[StoredItem]) -> _Fence:
        fence = _Fence()
        index = 0
        while index < len(items):
            item = items[index]
            if item.command in (FENCE_INCLUSION_VERTEX, FENCE_EXCLUSION_VERTEX):
                count = max(1, int(item.params[0]))
                vertices = items[index : index + count]
                points = [self.local(v.lat, v.lon) for v in vertices]
                if len(points) >= 3:
                    polygon = Polygon(points)
                    if not polygon.is_valid:
                        polygon = shapely.make_valid(polygon)
                    shapely.prepare(polygon)
                    target = (
                        fence.inclusion
                        if item.command == FENCE_INCLUSION_VERTEX
                        else fence.exclusion
                    )
                    target.append(polygon)
                index += count
                continue
            if item.command in (FENCE_INCLUSION_CIRCLE, FENCE_EXCLUSION_CIRCLE):
                circle = Point(self.local(item.lat, item.lon)).buffer(max(item.params[0], 0.1), 64)
                shapely.prepare(circle)
                target = (
                    fence.inclusion if item.command == FENCE_INCLUSION_CIRCLE else fence.exclusion
                )
                target.append(circle)
            index += 1
        return fence

    # ---- commands ------------------------------------------------------------------------------

    def set_mode(self, mode: int) -> bool:
        """Change flight mode like ArduCopter; False (with a STATUSTEXT) when refused."""
        try:
            new = Mode(int(mode))
        except ValueError:
            self.say(f"Unknown flight mode {mode}", Severity.WARNING)
            return False
        if new in _NEEDS_POSITION and not self.gps_ok:
            self.say(f"Flight mode change failed: {new.name} requires position", Severity.WARNING)
            return False
        if new == Mode.AUTO and self.armed and self.landed and not self._starts_with_takeoff():
            self.say("Auto: Missing Takeoff Cmd", Severity.CRITICAL)
            return False
        if new == self.mode:
            return True
        self.mode = new
        self.events.append(ModeChanged(new))
        if self._fence_breached and self.params["FENCE_ACTION"] != 0:
            # ArduCopter's set_mode: a mode change while breached (even the fence's own) starts
            # AC_Fence's manual recovery
            self._fence_recovery_until = self.now + FENCE_RECOVERY_S
            self.say("Manual recovery started")
        self._leg = None
        self._hold = self._stopping_point() if new == Mode.BRAKE else self._here()
        if new == Mode.AUTO:
            self._speed_override = None
            if self.armed:  # on the ground and disarmed, the mission starts when armed
                self._start_at(self._resume_seq())
        elif new == Mode.RTL:
            self._leg = _Leg(seq=-1, command=CMD_RTL, rtl=self._new_return())
        elif new == Mode.LAND:
            self._leg = _Leg(seq=-1, command=CMD_LAND, land=True)
            self._land_started, self._land_pause = self.now, False
        return True

    def arm(self, *, force: bool = False) -> tuple[bool, str]:
        """Arm after the pre-arm checks; returns (ok, reason) and reports refusals by STATUSTEXT."""
        if self.armed:
            return True, ""
        reason = "" if force else self._prearm_failure()
        if reason:
            self.say(reason, Severity.CRITICAL)
            return False, reason
        self.armed = True
        self._landed_since = self.now
        self._batt_failsafe = 0
        self._fence_breached = {}
        self._fence_recovery_until = -math.inf
        self._gcs_failsafe = False
        self._ekf_failsafe = False
        self._since_photo = 0.0
        self.events.append(ArmedChanged(True))
        self.say("Arming motors")
        if self.mode == Mode.AUTO:
            self._start_at(self._resume_seq())
        return True, ""

    @property
    def prearm_ok(self) -> bool:
        """Whether the pre-arm checks (GPS, battery, fence) pass now; the mode is not considered."""
        return not self._prearm_failure(check_mode=False)

    def _prearm_failure(self, *, check_mode: bool = True) -> str:
        if self.params["ARMING_CHECK"] != 0:
            if not self.gps_ok:
                return "PreArm: Need 3D Fix"
            arm_volts = self.params["BATT_ARM_VOLT"]
            if arm_volts > 0 and self.state.voltage < arm_volts:
                return "PreArm: Battery 1 below minimum arming voltage"
            if self._batt_failsafe:
                return "PreArm: Battery 1 low"
            if self.params["FENCE_ENABLE"] and self._fence_breaches():
                return "PreArm: Vehicle outside fence"
        if not check_mode:
            return ""
        if self.mode not in _ARMABLE:
            return "Arm: Mode not armable"
        if self.mode == Mode.AUTO and not self.lists[0]:
            return "Arm: Mode requires mission"
        return ""

    def disarm(self, *, reason: str = "") -> bool:
        """Disarm (the MAVLink server refuses it in flight unless forced); disarmed in the air,
        the motors stop and the vehicle falls until it hits the ground."""
        if not self.armed:
            return True
        self.armed = False
        self._trigger_distance = 0.0
        # Like ArduCopter's disarm: reset the mission, so the next AUTO flies it from the start.
        self._jumps.clear()
        self._set_current(0)
        self.events.append(ArmedChanged(False))
        self.say(f"Disarming motors{': ' + reason if reason else ''}")
        return True

    def takeoff(self, altitude: float) -> bool:
        """GUIDED takeoff to an altitude above home."""
        if self.mode != Mode.GUIDED or not self.armed or not self.landed or altitude <= 0:
            return False
        x, y = self.state.x, self.state.y
        self._hold = (x, y, self._height_above_origin(altitude))
        self._leg = None
        return True

    def goto(self, lat: float, lon: float, relative_alt: float) -> bool:
        """GUIDED: fly to a position (altitude above home)."""
        if self.mode != Mode.GUIDED or not self.armed or self.landed:
            return False
        x, y = self.local(lat, lon)
        self._hold = (x, y, self._height_above_origin(relative_alt))
        return True

    def set_home(self, lat: float, lon: float, alt_amsl: float) -> None:
        self.home = (float(lat), float(lon), float(alt_amsl))
        self._home_xy = self.local(lat, lon)
        self.events.append(HomeChanged(*self.home))

    def set_home_here(self) -> None:
        lat, lon, amsl, _ = self.position()
        self.set_home(lat, lon, amsl)

    def start_mission(self, first: int = 0) -> bool:
        """MAV_CMD_MISSION_START: switch to AUTO (optionally from item `first`)."""
        if not self.lists[0]:
            self.say("Mission start failed: no mission", Severity.WARNING)
            return False
        if first >= 1:
            self.mission_complete = False
            self._set_current(min(first, len(self.lists[0])))
        if self.mode == Mode.AUTO:
            if self.armed:
                self._start_at(self._resume_seq())
            return True
        return self.set_mode(Mode.AUTO)

    def set_current(self, seq: int) -> bool:
        """MISSION_SET_CURRENT: jump to an item; restarts the leg when flying AUTO."""
        if not 0 <= seq <= len(self.lists[0]):
            return False
        self.mission_complete = False
        if self.mode == Mode.AUTO and self.armed:
            self._start_at(max(1, seq))
        else:
            self._set_current(seq)
        return True

    def update_wind(self) -> None:
        """Take the wind from the SIM_WIND_SPD / SIM_WIND_DIR parameters."""
        self.wind = wind_from(self.params["SIM_WIND_SPD"], self.params["SIM_WIND_DIR"])

    def change_speed(self, speed: float) -> bool:
        if speed <= 0:
            return False
        self._speed_override = float(speed)
        return True

    def set_trigger_distance(self, distance: float, *, trigger_now: bool = False) -> None:
        self._trigger_distance = max(0.0, float(distance))
        self._since_photo = 0.0
        if trigger_now:
            self.trigger_camera()

    def trigger_camera(self) -> CameraTrigger | None:
        """Take one photo now (if a camera is configured); the event carries the pose."""
        if self.params["CAM1_TYPE"] == 0:
            return None
        if self.now - self._last_photo_time < self.params["CAM1_MIN_INTERVAL"]:
            return None
        seen_lat, seen_lon, _, _ = self.position()
        lat, lon, amsl, relative = self.estimated_position()
        roll, pitch = _attitude_deg(self)
        self.photo_count += 1
        trigger = CameraTrigger(
            index=self.photo_count,
            time_s=self.now,
            lat=lat,
            lon=lon,
            alt_amsl=amsl,
            relative_alt=relative,
            yaw_deg=self.state.yaw_deg,
            roll_deg=roll,
            pitch_deg=pitch,
            seen_lat=seen_lat,
            seen_lon=seen_lon,
        )
        self._last_photo_time = self.now
        self._since_photo = 0.0
        self.last_trigger = trigger
        self.events.append(trigger)
        return trigger

    def gcs_heartbeat(self) -> None:
        self._last_gcs = self.now
        if self._gcs_failsafe:
            self._gcs_failsafe = False
            self.say("GCS Failsafe Cleared")

    # ---- the step ------------------------------------------------------------------------------

    def tick(self, now: float, dt: float) -> None:
        """Advance everything by one physics step ending at simulated time `now`."""
        self.now = now
        self._check_gps()
        setpoint = self._setpoint()
        if not self.position_ok:
            setpoint = replace(setpoint, position_hold=False)
        before = self._estimate_xy
        self.state = step(self.state, setpoint, self.airframe, self.wind, dt)
        if self.position_ok:
            self._estimate_xy = (self.state.x, self.state.y)
        if self.armed and not self.state.landed:
            # like AP_Camera: the trigger distance is measured on the EKF's position, so no
            # photos come while it is frozen without GPS, and one comes when the fix returns
            self._since_photo += math.dist(self._estimate_xy, before)
            if self._trigger_distance > 0 and self._since_photo >= self._trigger_distance:
                self.trigger_camera()
        self._progress_leg()
        self._check_exhausted()
        self._check_battery()
        if now >= self._next_fence_check:
            self._next_fence_check = now + 0.1
            self._check_fence()
        self._check_gcs()
        self._check_auto_disarm()

    def _here(self) -> tuple[float, float, float]:
        return (self.state.x, self.state.y, self.state.h)

    def _stopping_point(self) -> tuple[float, float, float]:
        """Where the vehicle comes to rest braking at full deceleration from its ground speed
        (BRAKE holds there; holding where the mode changed would fly it back)."""
        x, y, h = self._here()
        speed = math.hypot(self.state.vx, self.state.vy)
        if speed < 0.1:
            return x, y, h
        distance = speed * speed / (2.0 * self.airframe.accel_mss)
        return x + self.state.vx / speed * distance, y + self.state.vy / speed * distance, h

    def _height_above_origin(self, relative_alt: float) -> float:
        return relative_alt + self.home[2] - self.origin_alt

    def _cruise(self) -> float:
        if self._speed_override is not None:
            return self._speed_override
        return max(0.1, self.params["WPNAV_SPEED"] / 100.0)

    def _yaw_towards(
        self,
        target: tuple[float, float, float] | None,
        origin: tuple[float, float] | None = None,
    ) -> float | None:
        """The heading along the leg from `origin` to `target` (ArduCopter faces along its
        track, from the last waypoint to the next, however far off it the vehicle is; it keeps
        its heading on legs shorter than WPNAV_YAW_DIST_MIN, 2 m). Without an origin (holds,
        returns), the heading facing `target` from where the vehicle is, or none within 3 m."""
        if target is None or self.params["WP_YAW_BEHAVIOR"] == 0:
            return None
        if origin is not None:
            dx, dy = target[0] - origin[0], target[1] - origin[1]
            if math.hypot(dx, dy) < 2.0:
                return None
            return math.degrees(math.atan2(dx, dy)) % 360.0
        dx, dy = target[0] - self.state.x, target[1] - self.state.y
        if math.hypot(dx, dy) < 3.0:
            return None
        return math.degrees(math.atan2(dx, dy)) % 360.0

    def _setpoint(self) -> Setpoint:
        p = self.params
        climb = max(0.1, p["WPNAV_SPEED_UP"] / 100.0)
        descent = max(0.1, p["WPNAV_SPEED_DN"] / 100.0)
        if not self.armed:
            return Setpoint(motors=False)
        leg = self._leg
        if leg is None:
            # Hold (BRAKE, LOITER/GUIDED/ALT_HOLD/STABILIZE without pilot input, or AUTO after
            # the end).
            target = self._hold if not self.landed or self._hold_is_above_ground() else None
            return Setpoint(
                target=target,
                speed=self._cruise(),
                climb=climb,
                descent=descent,
                yaw_deg=self._yaw_towards(target),
            )
        if leg.land and self._land_paused():
            # hold: no horizontal speed, no climb or descent (land_run_vertical_control(pause))
            return Setpoint(target=None, speed=self._cruise(), climb=climb, descent=descent)
        if leg.land:
            target = leg.target
            if (
                target is not None
                and math.hypot(target[0] - self.state.x, target[1] - self.state.y) > 1.0
            ):
                hold = (target[0], target[1], self.state.h)
                return Setpoint(
                    target=hold,
                    speed=self._cruise(),
                    climb=climb,
                    descent=descent,
                    yaw_deg=self._yaw_towards(hold),
                )
            return Setpoint(target=None, land=True, descent=self._land_speed())
        if leg.rtl is not None:
            return self._return_setpoint(leg.rtl, climb, descent)
        if leg.target is None:
            return Setpoint(target=self._hold, speed=self._cruise(), climb=climb, descent=descent)
        return Setpoint(
            target=leg.target,
            speed=self._cruise(),
            exit_speed=leg.exit_speed,
            climb=climb,
            descent=descent,
            yaw_deg=(
                self._yaw_towards(leg.target, leg.origin) if leg.command != CMD_TAKEOFF else None
            ),
        )

    def _land_paused(self) -> bool:
        """LAND mode is still in a failsafe's pause (ModeLand::gps_run and nogps_run end it
        once LAND has run LAND_WITH_DELAY_MS, counted from when LAND began)."""
        if self._land_pause and (
            self.mode != Mode.LAND or self.now - self._land_started >= LAND_PAUSE_S
        ):
            self._land_pause = False
        return self._land_pause

    def _hold_is_above_ground(self) -> bool:
        return self._hold is not None and self._hold[2] > 0.05 + self.state.h

    def _land_speed(self) -> float:
        p = self.params
        low = p["LAND_ALT_LOW"] / 100.0
        if self.state.h > low:
            high = p["LAND_SPEED_HIGH"] if p["LAND_SPEED_HIGH"] > 0 else p["WPNAV_SPEED_DN"]
            return max(0.1, high / 100.0)
        return max(0.1, p["LAND_SPEED"] / 100.0)

    # ---- return to launch ----------------------------------------------------------------------

    def _new_return(self) -> _Return:
        point = self._home_xy
        candidates = [self.local(item.lat, item.lon) for item in self.lists[2]]
        if candidates:
            if self.params["RALLY_INCL_HOME"]:
                candidates.append(self._home_xy)
            point = min(
                candidates, key=lambda c: math.hypot(c[0] - self.state.x, c[1] - self.state.y)
            )
        altitude = max(self.state.h, self._height_above_origin(self.params["RTL_ALT"] / 100.0))
        return _Return(stage="climb", point=point, altitude=altitude, stage_started=self.now)

    def _return_setpoint(self, rtl: _Return, climb: float, descent: float) -> Setpoint:
        speed = self.params["RTL_SPEED"] / 100.0 if self.params["RTL_SPEED"] > 0 else self._cruise()
        if rtl.stage == "climb":
            target = (self.state.x, self.state.y, rtl.altitude)
            return Setpoint(target=target, speed=speed, climb=climb, descent=descent)
        if rtl.stage == "return":
            target = (rtl.point[0], rtl.point[1], rtl.altitude)
            return Setpoint(
                target=target,
                speed=speed,
                climb=climb,
                descent=descent,
                yaw_deg=self._yaw_towards(target),
            )
        if rtl.stage in ("loiter", "final"):
            final = self.params["RTL_ALT_FINAL"] / 100.0
            altitude = rtl.altitude if rtl.stage == "loiter" else self._height_above_origin(final)
            return Setpoint(
                target=(rtl.point[0], rtl.point[1], altitude),
                speed=speed,
                climb=climb,
                descent=descent,
            )
        return Setpoint(target=None, land=True, descent=self._land_speed())

    def _progress_return(self, rtl: _Return) -> bool:
        """Advance the RTL stages; True once landed."""
        s = self.state
        if rtl.stage == "climb" and s.h >= rtl.altitude - 0.5:
            rtl.stage, rtl.stage_started = "return", self.now
        elif rtl.stage == "return":
            if math.hypot(rtl.point[0] - s.x, rtl.point[1] - s.y) <= max(
                2.0, self.params["WPNAV_RADIUS"] / 100.0
            ):
                rtl.stage, rtl.stage_started = "loiter", self.now
        elif rtl.stage == "loiter":
            if self.now - rtl.stage_started >= self.params["RTL_LOIT_TIME"] / 1000.0:
                rtl.stage = "final" if self.params["RTL_ALT_FINAL"] > 0 else "land"
                rtl.stage_started = self.now
        elif rtl.stage == "land":
            return s.landed
        return False

    # ---- mission execution ---------------------------------------------------------------------

    def _set_current(self, seq: int) -> None:
        if seq != self.current_seq:
            self.current_seq = seq
            self.events.append(CurrentChanged(seq))

    def _starts_with_takeoff(self) -> bool:
        seq = self._find_nav(self.current_seq if self.current_seq >= 1 else 1, run_do=False)
        item = self.item(seq) if seq is not None else None
        return item is not None and item.command == CMD_TAKEOFF

    def _find_nav(self, seq: int, *, run_do: bool) -> int | None:
        """The first nav command at or after `seq`, following DO_JUMPs and (optionally) running DOs.

        Like ArduPilot's AP_Mission, the DO commands between two nav commands run when the first
        of them completes (e.g. a camera trigger placed after a waypoint starts on reaching it).
        """
        items = self.lists[0]
        guard = 0
        while 1 <= seq <= len(items) and guard < 10000:
            guard += 1
            item = items[seq - 1]
            if item.command in NAV_COMMANDS:
                return seq
            if item.command == CMD_DO_JUMP:
                target, repeat = int(item.params[0]), int(item.params[1])
                done = self._jumps.get(seq, 0)
                if repeat < 0 or done < repeat:
                    if run_do:
                        self._jumps[seq] = done + 1
                    seq = target if 1 <= target <= len(items) else seq + 1
                    continue
            elif run_do:
                self._run_do(seq, item)
            seq += 1
        return None

    def _run_do(self, seq: int, item: StoredItem) -> None:
        p1, p2, p3, _ = item.params
        if item.command == CMD_DO_CHANGE_SPEED:
            if p2 > 0:
                self._speed_override = p2
        elif item.command == CMD_DO_SET_CAM_TRIGG_DIST:
            self.set_trigger_distance(p1, trigger_now=p3 == 1)
        elif item.command == CMD_DO_DIGICAM_CONTROL:
            shoot = item.lat if item.is_global else item.x  # param 5: "shoot" command
            if shoot == 1:
                self.trigger_camera()
        elif item.command == CMD_DO_SET_HOME:
            if p1 == 1 or (item.x == 0 and item.y == 0):
                self.set_home_here()
            else:
                self.set_home(item.lat, item.lon, item.z)
        elif item.command == CMD_CONDITION_DELAY:
            pass  # conditions are satisfied immediately in the simulator
        else:
            self.say(f"Skipping invalid cmd #{seq}", Severity.WARNING)

    def _resume_seq(self) -> int:
        """Where AUTO starts: the current item, or the beginning after a completed mission."""
        if self.mission_complete or self.current_seq < 1:
            return 1
        return self.current_seq

    def _start_at(self, seq: int) -> None:
        """Begin (or restart) the mission at item `seq`."""
        self.mission_complete = False
        nav = self._find_nav(seq, run_do=True)
        if nav is None:
            self._finish_mission()
            return
        self._begin_leg(nav)

    def _begin_leg(self, seq: int) -> None:
        item = self.lists[0][seq - 1]
        self._set_current(seq)
        # like ArduCopter's track, a leg runs from the last waypoint (where the vehicle may not
        # quite be: it counts a waypoint reached within WPNAV_RADIUS) to the next
        last = self._leg
        origin = (self.state.x, self.state.y)
        if last is not None and last.target is not None and last.command == CMD_WAYPOINT:
            origin = (last.target[0], last.target[1])
        leg = _Leg(seq=seq, command=item.command, origin=origin)
        radius_default = max(0.5, self.params["WPNAV_RADIUS"] / 100.0)
        if item.command == CMD_TAKEOFF:
            altitude = self._item_height(item)
            leg.target = (self.state.x, self.state.y, max(altitude, 1.0))
            leg.radius = 0.5
        elif item.command in (CMD_WAYPOINT, CMD_LOITER_UNLIM, CMD_LOITER_TIME, CMD_LOITER_TURNS):
            leg.target = self._item_target(item)
            if item.command == CMD_WAYPOINT:
                leg.hold_s = max(0.0, item.params[0])
                leg.radius = item.params[1] if item.params[1] > 0 else radius_default
                leg.exit_speed = self._exit_speed(leg)
            elif item.command == CMD_LOITER_TIME:
                leg.hold_s = max(0.0, item.params[0])
                leg.radius = radius_default
            elif item.command == CMD_LOITER_TURNS:
                circumference = 2.0 * math.pi * max(abs(item.params[2]), 1.0)
                leg.hold_s = max(0.0, item.params[0]) * circumference / max(self._cruise(), 1.0)
                leg.radius = radius_default
            else:
                leg.loiter_forever = True
                leg.radius = radius_default
        elif item.command == CMD_LAND:
            leg.land = True
            if item.is_global and (item.x != 0 or item.y != 0):
                x, y = self.local(item.lat, item.lon)
                leg.target = (x, y, self.state.h)
        elif item.command == CMD_RTL:
            leg.rtl = self._new_return()
        elif item.command == CMD_DELAY:
            leg.hold_s = max(0.0, item.params[0])
            leg.target = None
            leg.arrived_at = self.now
        self._hold = self._here()
        self._leg = leg

    def _item_height(self, item: StoredItem) -> float:
        """An item's altitude as height above the local origin (flat terrain at home altitude)."""
        if item.frame in _AMSL_FRAMES:
            return item.z - self.origin_alt
        return self._height_above_origin(item.z)

    def _item_target(self, item: StoredItem) -> tuple[float, float, float]:
        if item.is_global and (item.x != 0 or item.y != 0):
            x, y = self.local(item.lat, item.lon)
        else:
            x, y = self.state.x, self.state.y
        if item.z == 0 and item.x == 0 and item.y == 0:
            return (x, y, self.state.h)
        return (x, y, self._item_height(item))

    def _exit_speed(self, leg: _Leg) -> float:
        """Speed to keep through a waypoint when the next leg continues nearly straight on."""
        if leg.hold_s > 0 or leg.target is None:
            return 0.0
        nxt = self._find_nav(leg.seq + 1, run_do=False)
        item = self.item(nxt) if nxt is not None else None
        if item is None or item.command != CMD_WAYPOINT or item.params[0] > 0 or not item.is_global:
            return 0.0
        ax, ay = leg.target[0] - self.state.x, leg.target[1] - self.state.y
        bx, by = self.local(item.lat, item.lon)
        bx, by = bx - leg.target[0], by - leg.target[1]
        na, nb = math.hypot(ax, ay), math.hypot(bx, by)
        if na < 1e-3 or nb < 1e-3:
            return 0.0
        cosine = (ax * bx + ay * by) / (na * nb)
        return self._cruise() * max(0.0, cosine) ** 2

    def _progress_leg(self) -> None:
        leg = self._leg
        if leg is None or not self.armed:
            return
        done = False
        s = self.state
        if leg.rtl is not None:
            done = self._progress_return(leg.rtl)
        elif leg.land:
            done = s.landed and (
                leg.target is None or math.hypot(leg.target[0] - s.x, leg.target[1] - s.y) <= 1.5
            )
        elif leg.command == CMD_DELAY:
            done = self.now - (leg.arrived_at or self.now) >= leg.hold_s
        elif leg.target is not None:
            if leg.arrived_at is None:
                if leg.command == CMD_TAKEOFF:
                    arrived = s.h >= leg.target[2] - leg.radius
                else:
                    arrived = math.dist((s.x, s.y, s.h), leg.target) <= leg.radius
                if arrived:
                    leg.arrived_at = self.now
            if leg.arrived_at is not None and not leg.loiter_forever:
                done = self.now - leg.arrived_at >= leg.hold_s
        if not done:
            return
        if leg.seq < 0:  # RTL or LAND mode
            if s.landed:
                self._leg = None
                self.disarm(reason="landed")
            return
        self.events.append(ItemReached(leg.seq))
        self.say(f"Reached command #{leg.seq}")
        if s.landed and leg.command in (CMD_LAND, CMD_RTL):
            self._leg = None
            self.disarm(reason="landed")
        self._advance_after(leg)

    def _advance_after(self, leg: _Leg) -> None:
        nav = self._find_nav(leg.seq + 1, run_do=True)
        if nav is None:
            self._finish_mission()
        elif self.armed:
            self._begin_leg(nav)
        else:
            self._set_current(nav)

    def _finish_mission(self) -> None:
        self._leg = None
        self.mission_complete = True
        self.events.append(CurrentChanged(self.current_seq))
        self._hold = self._here()
        self.say("Mission complete")
        if self.armed and self.landed:
            self.disarm(reason="mission complete")

    # ---- failsafes -----------------------------------------------------------------------------

    def _failsafe_to(self, mode: Mode) -> bool:
        """Switch to `mode` for a failsafe; False when refused (e.g. RTL without a position).

        A landing (LAND, or RTL for a return) goes on; on the ground the motors are disarmed
        instead (ArduCopter's should_disarm_on_failsafe)."""
        if self.mode in (Mode.RTL, Mode.LAND) and mode == Mode.RTL:
            return True
        if self.mode == Mode.LAND:
            return True
        if self.landed:
            self.disarm(reason="failsafe")
            return True
        return self.set_mode(mode)

    def _land_with_pause(self) -> None:
        """ArduCopter's set_mode_land_with_pause (mode_land.cpp): LAND, then hold before
        descending. Already in LAND, set_mode keeps LAND's start time, so the pause only lasts
        until LAND_PAUSE_S after LAND began; on the ground the failsafe disarms instead."""
        self._failsafe_to(Mode.LAND)
        if self.armed and self.mode == Mode.LAND:
            self._land_pause = True

    def _do_failsafe_action(self, action: int) -> None:
        """ArduCopter's do_failsafe_action with its fallbacks. There is no SmartRTL or AUTO_RTL
        here, so they fall back as ArduCopter does when they are unavailable, saying so. Every
        LAND it chooses pauses first (the set_mode_*_land_with_pause helpers of events.cpp)."""
        if action == _FS_NONE:
            return
        if action == _FS_TERMINATE:
            self.disarm(reason="battery failsafe terminate")  # only BATT_FS_*_ACT has it
            return
        if action in (_FS_LAND, _FS_SMARTRTL_LAND):
            target = Mode.LAND
        elif action == _FS_BRAKE_LAND:
            target = Mode.BRAKE
        else:
            target = Mode.RTL
        if self.landed or self.mode == Mode.LAND or (target == self.mode == Mode.RTL):
            if target == Mode.LAND:
                self._land_with_pause()
            else:
                self._failsafe_to(target)  # disarm on the ground, or keep landing / returning
            return
        if action == _FS_SMARTRTL:
            self.say("SmartRTL Unavailable, Trying RTL Mode", Severity.WARNING)
        elif action == _FS_SMARTRTL_LAND:
            self.say("SmartRTL Unavailable, Using Land Mode", Severity.WARNING)
        elif action == _FS_AUTO_DO_LAND_START:
            self.say("Trying RTL Mode", Severity.WARNING)
        if target == Mode.LAND:
            self._land_with_pause()
            return
        if self._failsafe_to(target):
            return
        if target == Mode.BRAKE:
            self.say("Trying Land Mode", Severity.WARNING)
        self._land_with_pause()

    def _check_exhausted(self) -> None:
        """An exhausted pack cannot turn the motors: they stop and the vehicle falls."""
        if self.armed and self.battery_exhausted:
            self.say(
                f"Battery 1 is exhausted {self.state.voltage:.2f}V: motors stopped",
                Severity.CRITICAL,
            )
            self.disarm(reason="battery exhausted")

    def _check_battery(self) -> None:
        """ArduPilot's battery failsafes: voltage below BATT_LOW_VOLT / BATT_CRT_VOLT for
        BATT_LOW_TIMER seconds, or remaining capacity below BATT_LOW_MAH / BATT_CRT_MAH at once;
        critical acts with BATT_FS_CRT_ACT even after low (e.g. LAND during a low-battery RTL)."""
        if not self.armed:
            self._low_batt_since = self._crt_batt_since = None
            return
        p = self.params
        s = self.state
        timer = p["BATT_LOW_TIMER"]
        remaining_mah = p["BATT_CAPACITY"] - s.consumed_mah
        crt_volts = p["BATT_CRT_VOLT"] > 0 and s.voltage < p["BATT_CRT_VOLT"]
        low_volts = p["BATT_LOW_VOLT"] > 0 and s.voltage < p["BATT_LOW_VOLT"]
        self._crt_batt_since = _since(self._crt_batt_since, crt_volts, self.now)
        self._low_batt_since = _since(self._low_batt_since, low_volts, self.now)
        critical = (crt_volts and self.now - self._crt_batt_since >= timer) or (
            p["BATT_CRT_MAH"] > 0 and remaining_mah < p["BATT_CRT_MAH"]
        )
        low = (low_volts and self.now - self._low_batt_since >= timer) or (
            p["BATT_LOW_MAH"] > 0 and remaining_mah < p["BATT_LOW_MAH"]
        )
        level = 2 if critical else 1 if low else 0
        if level <= self._batt_failsafe:
            return
        self._batt_failsafe = level
        word = "critical" if level == 2 else "low"
        self.say(
            f"Battery 1 is {word} {s.voltage:.2f}V used {s.consumed_mah:.0f} mAh", Severity.CRITICAL
        )
        # BATT_FS_*_ACT values are ArduCopter's FailsafeAction (AP_BattMonitor_Params docs):
        # 0 none, 1 Land, 2 RTL, 3 SmartRTL or RTL, 4 SmartRTL or Land, 5 Terminate,
        # 6 Auto DO_LAND_START or RTL, 7 Brake or Land
        action = int(p["BATT_FS_CRT_ACT"] if level == 2 else p["BATT_FS_LOW_ACT"])
        self._do_failsafe_action(action if 0 <= action <= _FS_BRAKE_LAND else _FS_NONE)

    def _fence_breaches(self) -> dict[str, float]:
        """The fences the vehicle is outside, each with how far outside it is (metres)."""
        p = self.params
        s = self.state
        kinds = int(p["FENCE_TYPE"])
        breaches: dict[str, float] = {}
        relative = s.h + self.origin_alt - self.home[2]
        if kinds & 1 and relative > p["FENCE_ALT_MAX"]:
            breaches["maximum altitude"] = relative - p["FENCE_ALT_MAX"]
        distance = math.hypot(s.x - self._home_xy[0], s.y - self._home_xy[1])
        if kinds & 2 and distance > p["FENCE_RADIUS"]:
            breaches["circle"] = distance - p["FENCE_RADIUS"]
        if kinds & 4 and (self._fence.inclusion or self._fence.exclusion):
            here = Point(s.x, s.y)
            outside = [
                shapely.distance(zone, here)
                for zone in self._fence.inclusion
                if not shapely.contains_xy(zone, s.x, s.y)
            ] + [
                shapely.distance(zone.boundary, here)
                for zone in self._fence.exclusion
                if shapely.contains_xy(zone, s.x, s.y)
            ]
            if outside:
                breaches["polygon"] = max(outside)
        return breaches

    def _check_fence(self) -> None:
        """ArduCopter's fence_check with AC_Fence::check: act on each new breach (a fence kind
        newly breached, or a circle or altitude breach past its backup fence, rebuilt
        :data:`FENCE_BACKUP_DISTANCE` further out at each breach; polygons have none), with
        FENCE_ACTION, or LAND when more than :data:`FENCE_GIVE_UP_DISTANCE` outside; ignore new
        breaches during a manual recovery; a kind is cleared once back inside it."""
        if not self.params["FENCE_ENABLE"] or not self.armed or self.landed:
            self._fence_breached = {}
            return
        outside = self._fence_breaches()
        had_breach = bool(self._fence_breached)
        self._fence_breached = {
            kind: backup for kind, backup in self._fence_breached.items() if kind in outside
        }
        new: dict[str, float] = {}
        for kind, distance in outside.items():
            if kind not in self._fence_breached or distance >= self._fence_breached[kind]:
                new[kind] = distance
                backup = math.inf if kind == "polygon" else distance + FENCE_BACKUP_DISTANCE
                self._fence_breached[kind] = backup
        if not new:
            if had_breach and not self._fence_breached:
                self.say("Fence breach cleared", Severity.NOTICE)
            return
        if self.now < self._fence_recovery_until:
            return  # recorded, not acted on (AC_Fence::check returns no new breach)
        self.say(f"Fence Breached: {', '.join(new)}", Severity.CRITICAL)
        action = int(self.params["FENCE_ACTION"])
        if action == 0:
            return
        self._fence_action(
            _FS_LAND
            if max(new.values()) > FENCE_GIVE_UP_DISTANCE
            else _FENCE_ACTIONS.get(action, _FS_RTL)
        )

    def _fence_action(self, action: int) -> None:
        """Copter::fence_check's response (fence.cpp): plain set_mode calls, LAND as the last
        resort, without set_mode_land_with_pause's pause and without "Unavailable" texts. Like
        ArduCopter it acts in any mode, LAND included: while landing, AC_Fence::check only drops
        the fences that auto-disable for landing (with FENCE_AUTOENABLE 0 just the minimum
        altitude fence, which this SITL lacks), so a breach within 100 m of a failsafe's LAND
        switches to FENCE_ACTION's mode (e.g. RTL); set_mode(LAND) in LAND changes nothing."""
        if action == _FS_BRAKE_LAND and self.set_mode(Mode.BRAKE):
            return
        if action in (_FS_RTL, _FS_SMARTRTL) and self.set_mode(Mode.RTL):
            return
        self.set_mode(Mode.LAND)  # _FS_LAND, _FS_SMARTRTL_LAND, and every fallback

    def _check_gcs(self) -> None:
        enable = int(self.params["FS_GCS_ENABLE"])
        if (
            not enable
            or self._last_gcs is None
            or not self.armed
            or self.landed
            or self._gcs_failsafe
        ):
            return
        if self.now - self._last_gcs <= self.params["FS_GCS_TIMEOUT"]:
            return
        self._gcs_failsafe = True
        self.say("GCS Failsafe: no heartbeat from the ground station", Severity.CRITICAL)
        self._do_failsafe_action(_GCS_ACTIONS.get(enable, _FS_RTL))

    def _check_gps(self) -> None:
        """Follow the GPS fix: the EKF announces when it uses GPS (again); without it in a mode
        that needs a position the EKF failsafe acts after :data:`EKF_FAILSAFE_S` (ArduCopter's
        FS_EKF_ACTION: 1 LAND, 2 ALT_HOLD, 3 LAND in any mode; it stays in that mode when the
        GPS comes back)."""
        if self.gps_ok:
            if not self._gps_announced or self._gps_lost_at is not None:
                self._gps_announced = True
                self.say("EKF3 IMU0 is using GPS")
            self._gps_lost_at = None
            if self._ekf_failsafe:
                self._ekf_failsafe = False
                self.say("EKF Failsafe Cleared", Severity.CRITICAL)
            return
        if not self._gps_announced:
            return  # never had a fix: nothing to lose
        if self._gps_lost_at is None:
            self._gps_lost_at = self.now
        action = int(self.params["FS_EKF_ACTION"])
        if (
            self._ekf_failsafe
            or not self.armed
            or self.landed
            or self.now - self._gps_lost_at < EKF_FAILSAFE_S
            or not (self.mode in _NEEDS_POSITION or action == 3)
        ):
            return
        self._ekf_failsafe = True
        self.say("EKF variance", Severity.CRITICAL)
        if self.mode == Mode.LAND:
            return  # failsafe_ekf_event: LAND goes on (without GPS), no new pause
        if action in (1, 3) or (action == 2 and not self._failsafe_to(Mode.ALT_HOLD)):
            self._land_with_pause()

    def _check_auto_disarm(self) -> None:
        if not self.armed or not self.landed:
            self._landed_since = None
            return
        wants_up = (
            self._leg is not None
            and self._leg.target is not None
            and not self._leg.land
            and (self._leg.target[2] > self.state.h + 0.05)
        )
        if wants_up or self._hold_is_above_ground():
            self._landed_since = None
            return
        if self._landed_since is None:
            self._landed_since = self.now
        delay = self.params["DISARM_DELAY"]
        if delay > 0 and self.now - self._landed_since >= delay:
            self.disarm(reason="auto disarm")


def _since(started: float | None, condition: bool, now: float) -> float | None:
    """When `condition` started holding (kept while it holds), None once it does not."""
    if not condition:
        return None
    return now if started is None else started


def _attitude_deg(autopilot: Autopilot) -> tuple[float, float]:
    roll, pitch = attitude(autopilot.state, autopilot.wind, autopilot.airframe)
    return math.degrees(roll), math.degrees(pitch)
