"""The vehicle's parameter table: a realistic ArduCopter subset, its defaults, and `.parm` files.

Values are stored as floats (MAVLink carries every parameter as a float on the wire) together with
the MAV_PARAM_TYPE ArduPilot reports for them. Units follow ArduPilot: speeds in cm/s, RTL_ALT in
cm. The `SIM_*` entries configure the simulation itself (GPS lock time and loss, upload refusal
after boot, wind, battery model).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import ParameterError

__all__ = [
    "ParamSpec",
    "DEFAULTS",
    "ParamTable",
    "read_parm_file",
    "PARAM_TYPE_INT8",
    "PARAM_TYPE_INT16",
    "PARAM_TYPE_INT32",
    "PARAM_TYPE_REAL32",
]

PARAM_TYPE_INT8 = 2
PARAM_TYPE_INT16 = 4
PARAM_TYPE_INT32 = 6
PARAM_TYPE_REAL32 = 9


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: default value, MAV_PARAM_TYPE, a short description with its unit, and the
    range ArduPilot documents for it (None: unbounded on that side). A `.parm` file or an
    override outside the range is refused at start, as a typo would otherwise fly (a negative
    BATT_CAPACITY reads as an empty battery); PARAM_SET over MAVLink is not range-checked, as
    ArduPilot does not check it either."""

    default: float
    type: int
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def out_of_range(self, value: float) -> str | None:
        """Why ``value`` is outside the documented range (``must be 0 to 360``); None when in."""
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if low <= value <= high:
            return None
        if self.maximum is None:
            return f"must be at least {self.minimum:g}"
        if self.minimum is None:
            return f"must be at most {self.maximum:g}"
        return f"must be {self.minimum:g} to {self.maximum:g}"


_I8, _I16, _I32, _F = PARAM_TYPE_INT8, PARAM_TYPE_INT16, PARAM_TYPE_INT32, PARAM_TYPE_REAL32

DEFAULTS: dict[str, ParamSpec] = {
    "SYSID_THISMAV": ParamSpec(1, _I16, "MAVLink system id of this vehicle", 1, 255),
    "SYSID_MYGCS": ParamSpec(255, _I16, "system id of the ground station", 1, 255),
    "FRAME_CLASS": ParamSpec(1, _I8, "1 = quad", 0, 15),
    "WPNAV_SPEED": ParamSpec(1000, _F, "horizontal speed in AUTO/GUIDED, cm/s", 10, 2000),
    "WPNAV_SPEED_UP": ParamSpec(250, _F, "climb rate, cm/s", 10, 1000),
    "WPNAV_SPEED_DN": ParamSpec(150, _F, "descent rate, cm/s", 10, 500),
    "WPNAV_ACCEL": ParamSpec(250, _F, "horizontal acceleration, cm/s/s", 50, 500),
    "WPNAV_ACCEL_Z": ParamSpec(100, _F, "vertical acceleration, cm/s/s", 50, 500),
    "WPNAV_RADIUS": ParamSpec(200, _F, "waypoint acceptance radius, cm", 5, 1000),
    "WP_YAW_BEHAVIOR": ParamSpec(2, _I8, "0 keep heading, 1+ face the next waypoint", 0, 3),
    "ATC_SLEW_YAW": ParamSpec(6000, _F, "yaw target slew rate in AUTO and RTL, cdeg/s"),
    "ANGLE_MAX": ParamSpec(3000, _I16, "maximum lean angle, centidegrees", 1000, 8000),
    "RTL_ALT": ParamSpec(1500, _F, "return altitude above home, cm", 30, 300000),
    "RTL_ALT_FINAL": ParamSpec(0, _F, "altitude to hold after RTL (0 = land), cm", 0, 1000),
    "RTL_LOIT_TIME": ParamSpec(
        5000, _I32, "hover above home before the final descent, ms", 0, 60000
    ),
    "RTL_SPEED": ParamSpec(0, _F, "RTL speed (0 = WPNAV_SPEED), cm/s", 0, 2000),
    "LAND_SPEED": ParamSpec(50, _F, "final descent rate below LAND_ALT_LOW, cm/s", 30, 200),
    "LAND_SPEED_HIGH": ParamSpec(
        0, _F, "descent rate above LAND_ALT_LOW (0 = WPNAV_SPEED_DN), cm/s", 0, 2500
    ),
    "LAND_ALT_LOW": ParamSpec(1000, _F, "altitude where the final descent starts, cm", 100, 10000),
    "PILOT_TKOFF_ALT": ParamSpec(0, _F, "takeoff altitude without a command, cm", 0, 1000),
    "DISARM_DELAY": ParamSpec(
        10, _I8, "auto-disarm after this long landed and armed, s (0 = off)", 0, 127
    ),
    "ARMING_CHECK": ParamSpec(1, _I32, "pre-arm checks (0 = skip)", 0),
    "BATT_MONITOR": ParamSpec(4, _I8, "4 = analog voltage and current"),
    "BATT_CAPACITY": ParamSpec(16000, _I32, "battery capacity, mAh", 0),
    "BATT_LOW_VOLT": ParamSpec(10.5, _F, "low-battery failsafe voltage, V (0 = off)", 0),
    "BATT_LOW_MAH": ParamSpec(0, _F, "low-battery failsafe remaining capacity, mAh (0 = off)", 0),
    "BATT_LOW_TIMER": ParamSpec(
        10, _I8, "seconds below the low threshold before the failsafe", 0, 120
    ),
    "BATT_FS_LOW_ACT": ParamSpec(2, _I8, "low-battery action (see BATT_FS_CRT_ACT)", 0, 7),
    "BATT_CRT_VOLT": ParamSpec(
        10.0, _F, "critical-battery voltage, V (0 = off; 3.33 V a cell of the 3S pack)", 0
    ),
    "BATT_CRT_MAH": ParamSpec(0, _F, "critical-battery remaining capacity, mAh (0 = off)", 0),
    "BATT_FS_CRT_ACT": ParamSpec(
        1,
        _I8,
        "critical-battery action: 0 none, 1 land, 2 RTL or land, 3 SmartRTL or RTL, 4 SmartRTL"
        " or land, 5 terminate, 6 DO_LAND_START or RTL, 7 brake or land (no SmartRTL or"
        " DO_LAND_START here: 3 and 6 do RTL, 4 lands)",
        0,
        7,
    ),
    "BATT_ARM_VOLT": ParamSpec(0, _F, "minimum voltage to arm, V", 0),
    "FENCE_ENABLE": ParamSpec(0, _I8, "geofence on (1) or off (0)", 0, 1),
    "FENCE_TYPE": ParamSpec(7, _I8, "bitmask: 1 max altitude, 2 circle, 4 polygons", 0, 15),
    "FENCE_ACTION": ParamSpec(
        1,
        _I8,
        "0 report only, 1 RTL or land, 2 always land, 3 SmartRTL or RTL or land, 4 brake or"
        " land, 5 SmartRTL or land (no SmartRTL here: 3 does RTL, 5 lands); any new breach"
        " over 100 m outside lands",
        0,
        5,
    ),
    "FENCE_ALT_MAX": ParamSpec(120, _F, "maximum altitude above home, m", 10, 1000),
    "FENCE_RADIUS": ParamSpec(1500, _F, "circular fence around home, m", 30, 10000),
    "FENCE_MARGIN": ParamSpec(2, _F, "distance kept from the fence, m", 1, 10),
    "FENCE_TOTAL": ParamSpec(0, _I8, "number of fence items stored (read only)"),
    "RALLY_TOTAL": ParamSpec(0, _I8, "number of rally points stored (read only)"),
    "RALLY_INCL_HOME": ParamSpec(1, _I8, "RTL may choose home as well as rally points", 0, 1),
    "FS_GCS_ENABLE": ParamSpec(
        0,
        _I8,
        "GCS link-loss failsafe: 0 off, 1 RTL, 2 RTL (continue in AUTO: removed in 4.0), 3"
        " SmartRTL or RTL, 4 SmartRTL or land, 5 land, 6 DO_LAND_START or RTL, 7 brake or land"
        " (no SmartRTL or DO_LAND_START here: 3 and 6 do RTL, 4 lands)",
        0,
        7,
    ),
    "FS_GCS_TIMEOUT": ParamSpec(5, _F, "GCS link-loss timeout, s", 2, 120),
    "FS_EKF_ACTION": ParamSpec(
        1, _I8, "EKF failsafe (no position estimate): 1 land, 2 altitude hold, 3 land always", 1, 3
    ),
    "CAM1_TYPE": ParamSpec(0, _I8, "camera trigger type (0 = none, 1 = servo)"),
    "CAM1_DURATION": ParamSpec(0.1, _F, "shutter duration, s", 0, 5),
    "CAM1_MIN_INTERVAL": ParamSpec(0, _F, "minimum time between photos, s", 0, 10),
    "CAM1_TRIGG_DIST": ParamSpec(0, _F, "distance between photos, m (0 = off)", 0, 1000),
    "MAV1_RAW_SENS": ParamSpec(0, _I16, "stream rate, Hz"),
    "MAV1_EXT_STAT": ParamSpec(0, _I16, "SYS_STATUS, GPS_RAW_INT, MISSION_CURRENT rate, Hz"),
    "MAV1_RC_CHAN": ParamSpec(0, _I16, "stream rate, Hz"),
    "MAV1_POSITION": ParamSpec(0, _I16, "GLOBAL_POSITION_INT rate, Hz"),
    "MAV1_EXTRA1": ParamSpec(0, _I16, "ATTITUDE rate, Hz"),
    "MAV1_EXTRA2": ParamSpec(0, _I16, "VFR_HUD rate, Hz"),
    "MAV1_EXTRA3": ParamSpec(0, _I16, "SYSTEM_TIME, BATTERY_STATUS rate, Hz"),
    "MAV1_PARAMS": ParamSpec(0, _I16, "stream rate, Hz"),
    "SIM_SPEEDUP": ParamSpec(1, _F, "simulation speed-up (read at start)"),
    "SIM_WIND_SPD": ParamSpec(0, _F, "wind speed, m/s", 0),
    "SIM_WIND_DIR": ParamSpec(180, _F, "direction the wind blows FROM, degrees", 0, 360),
    "SIM_GPS_DELAY": ParamSpec(5, _F, "simulated seconds from boot to a 3D fix and EKF ready", 0),
    "SIM_GPS_DISABLE": ParamSpec(0, _I8, "1 = the GPS is lost: no fix, no satellites", 0, 1),
    "SIM_MIS_DELAY": ParamSpec(
        2, _F, "simulated seconds after boot with uploads refused (no space)", 0
    ),
    "SIM_MIS_LEGACY": ParamSpec(
        0, _I8, "1 = request items with MISSION_REQUEST only (ArduPilot 4.7)", 0, 1
    ),
    "SIM_BATT_VOLTAGE": ParamSpec(12.6, _F, "full battery voltage, V (4.2 V a LiPo cell)"),
    "SIM_HOVER_AMPS": ParamSpec(18, _F, "current drawn in hover, A", 0),
    "SIM_AIRSPD_MAX": ParamSpec(20, _F, "maximum airspeed the vehicle can hold, m/s"),
}


class ParamTable(Mapping[str, float]):
    """The live parameter values in ArduPilot's (alphabetical) order, with MAVLink types.

    Reads are plain mapping access (``table["RTL_ALT"]``); writes go through :meth:`set`, which
    rejects unknown names and non-finite values so a typo in a `.parm` file is not silently ignored.
    """

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        self._values = {name: float(spec.default) for name, spec in DEFAULTS.items()}
        self._names = sorted(self._values)
        for name, value in (overrides or {}).items():
            number = self.set(name, value)
            problem = DEFAULTS[name.upper()].out_of_range(number)
            if problem is not None:
                raise ParameterError(f"parameter {name.upper()}: {value!r} {problem}")

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def set(self, name: str, value: float) -> float:
        """Set a parameter (integer types rounded as ArduPilot stores them); returns the value."""
        key = name.upper()
        if key not in self._values:
            raise ParameterError(f"unknown parameter {name!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter {key}: {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ParameterError(f"parameter {key}: {value!r} is not a finite number")
        if DEFAULTS[key].type != PARAM_TYPE_REAL32:
            number = float(round(number))
        self._values[key] = number
        return number

    def type_of(self, name: str) -> int:
        return DEFAULTS[name].type

    def index_of(self, name: str) -> int:
        return self._names.index(name)

    def name_at(self, index: int) -> str | None:
        return self._names[index] if 0 <= index < len(self._names) else None


def read_parm_file(path: str | Path) -> dict[str, float]:
    """Read a MAVProxy / Mission Planner parameter file: ``NAME VALUE`` or ``NAME,VALUE`` per line.

    Blank lines and ``#`` comments are skipped; an unknown name, a value that is not a number or
    one outside ArduPilot's range (:attr:`ParamSpec.minimum`, :attr:`ParamSpec.maximum`) raises
    ParameterError naming the file and line.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(f"parameter file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"parameter file {file} cannot be read: {exc}") from None
    values: dict[str, float] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.replace(",", " ").replace("\t", " ").split()
        if len(fields) < 2:
            raise ParameterError(f"{file}:{number}: expected 'NAME VALUE', got {raw.strip()!r}")
        name, value = fields[0].upper(), fields[1]
        spec = DEFAULTS.get(name)
        if spec is None:
            raise ParameterError(f"{file}:{number}: unknown parameter {fields[0]!r}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ParameterError(
                f"{file}:{number}: {name} value {value!r} is not a number"
            ) from None
        problem = spec.out_of_range(values[name])
        if problem is not None:
            raise ParameterError(f"{file}:{number}: {name} value {value!r} {problem}")
    return values
