"""A point-mass multicopter: position control with speed, acceleration and climb limits, wind,
a LiPo battery that drains with airspeed and climb (its voltage following a LiPo discharge curve
and collapsing when the pack is exhausted), and a fall under gravity when disarmed aloft.

Pure functions over frozen dataclasses: :func:`step` maps (state, setpoint, airframe, wind, dt) to
the next state. Positions are metres in the home-centred local frame (x east, y north, h up above
home); the autopilot converts to and from WGS84.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

__all__ = [
    "FALL_TERMINAL_MPS",
    "LIPO_CELL_VOLTS",
    "Airframe",
    "Wind",
    "Setpoint",
    "VehicleState",
    "step",
    "attitude",
    "resting_voltage",
    "wind_from",
]

GRAVITY = 9.80665
_IDLE_AMPS = 0.6  # electronics, disarmed
_SPIN_AMPS = 3.0  # armed, props spinning on the ground
_INTERNAL_OHMS = 0.012
_FULL_CELL_VOLTS = 4.2
#: Resting voltage of one LiPo cell by state of charge (fraction left, volts), highest first: flat
#: through the middle, falling off below 20 % and collapsing in the last few per cent, so a
#: voltage failsafe triggers with charge left, as on a real pack (and in ArduPilot's SITL).
LIPO_CELL_VOLTS: tuple[tuple[float, float], ...] = (
    (1.00, 4.20),
    (0.95, 4.13),
    (0.90, 4.08),
    (0.80, 3.99),
    (0.70, 3.91),
    (0.60, 3.84),
    (0.50, 3.77),
    (0.40, 3.69),
    (0.30, 3.58),
    (0.20, 3.45),
    (0.10, 3.30),
    (0.05, 3.18),
    (0.02, 3.02),
    (0.00, 2.50),
)
_POSITION_GAIN = 1.0  # 1/s: speed demanded per metre of error close to the target
#: Speed (m/s) at which drag balances gravity for a multicopter falling with its motors stopped:
#: a small quadcopter tumbles at roughly this; it sets the quadratic drag of :func:`_fall`.
FALL_TERMINAL_MPS = 20.0


@dataclass(frozen=True, slots=True)
class Airframe:
    """Limits and battery of the simulated vehicle (SI units)."""

    accel_mss: float = 2.5
    accel_z_mss: float = 1.0
    max_airspeed_mps: float = 20.0
    max_angle_deg: float = 30.0
    #: Fastest the heading target turns (ArduCopter's ATC_SLEW_YAW, 6000 cdeg/s by default, in
    #: AUTO and RTL): a U-turn between survey strips takes 3 s of yaw, not an instant.
    yaw_rate_dps: float = 60.0
    hover_amps: float = 18.0
    capacity_mah: float = 16000.0
    full_volts: float = 12.6


@dataclass(frozen=True, slots=True)
class Wind:
    """Wind as a velocity (m/s east, m/s north): the direction the air moves TO."""

    east: float = 0.0
    north: float = 0.0


def wind_from(speed_mps: float, from_deg: float) -> Wind:
    """The wind blowing FROM a compass direction (meteorological convention) as a velocity."""
    to = math.radians(from_deg + 180.0)
    return Wind(east=speed_mps * math.sin(to), north=speed_mps * math.cos(to))


@dataclass(frozen=True, slots=True)
class Setpoint:
    """What the autopilot asks of the airframe for one step.

    `target` (x, y, h) is flown to at `speed` horizontally and `climb`/`descent` vertically;
    `exit_speed` is the speed allowed when arriving (nonzero when the next leg goes straight on).
    `target=None` brakes and holds. `land=True` descends at `descent` until touchdown.
    `yaw_deg=None` keeps the heading. `motors=False` means disarmed: on the ground the vehicle
    sits still; in the air it falls (see :func:`step`). `position_hold=False` is flight without
    a position estimate (no GPS): the autopilot holds the vehicle level, so it drifts with the
    wind whatever `target` says.
    """

    target: tuple[float, float, float] | None = None
    speed: float = 10.0
    exit_speed: float = 0.0
    climb: float = 2.5
    descent: float = 1.5
    land: bool = False
    yaw_deg: float | None = None
    motors: bool = True
    position_hold: bool = True


@dataclass(frozen=True, slots=True)
class VehicleState:
    """Kinematic and battery state of the vehicle."""

    x: float = 0.0
    y: float = 0.0
    h: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    vz: float = 0.0
    ax: float = 0.0
    ay: float = 0.0
    yaw_deg: float = 0.0
    yaw_rate_dps: float = 0.0
    consumed_mah: float = 0.0
    current_a: float = 0.0
    voltage: float = 12.6
    landed: bool = True

    @property
    def ground_speed(self) -> float:
        return math.hypot(self.vx, self.vy)

    def remaining_fraction(self, capacity_mah: float) -> float:
        return max(0.0, 1.0 - self.consumed_mah / capacity_mah)


def _approach_speed(distance: float, cruise: float, exit_speed: float, accel: float) -> float:
    """Largest speed from which the vehicle can still slow to `exit_speed` within `distance`."""
    braking = math.sqrt(exit_speed * exit_speed + 2.0 * accel * max(distance, 0.0))
    return min(cruise, braking, max(exit_speed, _POSITION_GAIN * distance))


def _limit(dx: float, dy: float, limit: float) -> tuple[float, float]:
    norm = math.hypot(dx, dy)
    if norm <= limit or norm == 0.0:
        return dx, dy
    return dx * limit / norm, dy * limit / norm


def _wrap180(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def step(
    state: VehicleState, setpoint: Setpoint, airframe: Airframe, wind: Wind, dt: float
) -> VehicleState:
    """Advance the vehicle by `dt` seconds under a setpoint; with the motors stopped in the air
    it falls under gravity and drag until it hits the ground."""
    if not setpoint.motors and not state.landed:
        return _drain(_fall(state, wind, dt), _IDLE_AMPS, airframe, dt)
    if not setpoint.motors or (state.landed and not _wants_to_climb(state, setpoint)):
        current = _SPIN_AMPS if setpoint.motors else _IDLE_AMPS
        return _drain(
            replace(
                state, vx=0.0, vy=0.0, vz=0.0, ax=0.0, ay=0.0, h=0.0, yaw_rate_dps=0.0, landed=True
            ),
            current,
            airframe,
            dt,
        )

    # Horizontal: fly towards the target along a braking profile, limited by acceleration.
    if not setpoint.position_hold:
        want_vx, want_vy = wind.east, wind.north  # level, no position to hold: drift with the air
    elif setpoint.target is None:
        want_vx = want_vy = 0.0
    else:
        dx, dy = setpoint.target[0] - state.x, setpoint.target[1] - state.y
        distance = math.hypot(dx, dy)
        if distance < 1e-6:
            want_vx = want_vy = 0.0
        else:
            speed = _approach_speed(
                distance, setpoint.speed, setpoint.exit_speed, airframe.accel_mss
            )
            want_vx, want_vy = dx / distance * speed, dy / distance * speed
    dvx, dvy = _limit(want_vx - state.vx, want_vy - state.vy, airframe.accel_mss * dt)
    vx, vy = state.vx + dvx, state.vy + dvy
    # The airframe cannot exceed its airspeed: into a strong wind the ground speed drops.
    air_x, air_y = vx - wind.east, vy - wind.north
    air_x, air_y = _limit(air_x, air_y, airframe.max_airspeed_mps)
    vx, vy = air_x + wind.east, air_y + wind.north

    # Vertical.
    if setpoint.land:
        want_vz = -setpoint.descent
    elif setpoint.target is None:
        want_vz = 0.0
    else:
        dz = setpoint.target[2] - state.h
        magnitude = min(math.sqrt(2.0 * airframe.accel_z_mss * abs(dz)), _POSITION_GAIN * abs(dz))
        want_vz = min(magnitude, setpoint.climb) if dz > 0 else -min(magnitude, setpoint.descent)
    dvz = max(-airframe.accel_z_mss * dt, min(airframe.accel_z_mss * dt, want_vz - state.vz))
    vz = state.vz + dvz

    x, y, h = state.x + vx * dt, state.y + vy * dt, state.h + vz * dt
    landed = False
    if h <= 0.0 and vz <= 0.0:
        h, vx, vy, vz, landed = 0.0, 0.0, 0.0, 0.0, True

    # Heading: slew towards the requested yaw at the airframe's yaw rate (the vehicle does not
    # wait for it: like ArduCopter, it moves off while still turning).
    yaw, yaw_rate = state.yaw_deg, 0.0
    if setpoint.yaw_deg is not None:
        error = _wrap180(setpoint.yaw_deg - state.yaw_deg)
        limit = airframe.yaw_rate_dps * dt
        turn = max(-limit, min(limit, error))
        yaw, yaw_rate = (state.yaw_deg + turn) % 360.0, turn / dt

    airspeed = math.hypot(vx - wind.east, vy - wind.north)
    current = airframe.hover_amps * (
        1.0 + 0.25 * (airspeed / 10.0) ** 2
    ) + airframe.hover_amps * 0.12 * max(vz, 0.0)
    moved = replace(
        state,
        x=x,
        y=y,
        h=h,
        vx=vx,
        vy=vy,
        vz=vz,
        ax=dvx / dt,
        ay=dvy / dt,
        yaw_deg=yaw,
        yaw_rate_dps=yaw_rate,
        landed=landed,
    )
    return _drain(moved, current, airframe, dt)


def _fall(state: VehicleState, wind: Wind, dt: float) -> VehicleState:
    """One step of a vehicle without thrust: gravity, and quadratic drag against the air
    (terminal speed :data:`FALL_TERMINAL_MPS`); on reaching the ground it stops there, landed."""
    drag = GRAVITY / FALL_TERMINAL_MPS**2
    air_x, air_y, air_z = state.vx - wind.east, state.vy - wind.north, state.vz
    airspeed = math.sqrt(air_x * air_x + air_y * air_y + air_z * air_z)
    vx = state.vx - drag * airspeed * air_x * dt
    vy = state.vy - drag * airspeed * air_y * dt
    vz = state.vz - (GRAVITY + drag * airspeed * air_z) * dt
    h = state.h + vz * dt
    if h <= 0.0:
        return replace(
            state, h=0.0, vx=0.0, vy=0.0, vz=0.0, ax=0.0, ay=0.0, yaw_rate_dps=0.0, landed=True
        )
    return replace(
        state,
        x=state.x + vx * dt,
        y=state.y + vy * dt,
        h=h,
        vx=vx,
        vy=vy,
        vz=vz,
        ax=0.0,
        ay=0.0,
        yaw_rate_dps=0.0,
        landed=False,
    )


def _wants_to_climb(state: VehicleState, setpoint: Setpoint) -> bool:
    return not setpoint.land and setpoint.target is not None and setpoint.target[2] > state.h + 0.05


def resting_voltage(remaining: float, full_volts: float) -> float:
    """The pack's voltage without load at a state of charge (fraction left, clamped to 0..1), by
    :data:`LIPO_CELL_VOLTS` scaled to a pack that is `full_volts` when charged."""
    left = min(1.0, max(0.0, remaining))
    for (upper, upper_v), (lower, lower_v) in itertools.pairwise(LIPO_CELL_VOLTS):
        if left >= lower:
            cell = lower_v + (upper_v - lower_v) * (left - lower) / (upper - lower)
            return full_volts * cell / _FULL_CELL_VOLTS
    return full_volts * LIPO_CELL_VOLTS[-1][1] / _FULL_CELL_VOLTS


def _drain(state: VehicleState, current: float, airframe: Airframe, dt: float) -> VehicleState:
    consumed = state.consumed_mah + current * dt / 3.6
    remaining = 1.0 - consumed / airframe.capacity_mah
    voltage = max(0.0, resting_voltage(remaining, airframe.full_volts) - current * _INTERNAL_OHMS)
    return replace(state, consumed_mah=consumed, current_a=current, voltage=voltage)


def attitude(state: VehicleState, wind: Wind, airframe: Airframe) -> tuple[float, float]:
    """(roll, pitch) in radians that produce the state's acceleration against the air's drag."""
    if state.landed:
        return 0.0, 0.0
    drag_per_speed2 = (
        GRAVITY * math.tan(math.radians(airframe.max_angle_deg)) / airframe.max_airspeed_mps**2
    )
    air_x, air_y = state.vx - wind.east, state.vy - wind.north
    airspeed = math.hypot(air_x, air_y)
    force_x = state.ax + drag_per_speed2 * airspeed * air_x
    force_y = state.ay + drag_per_speed2 * airspeed * air_y
    yaw = math.radians(state.yaw_deg)
    forward = force_x * math.sin(yaw) + force_y * math.cos(yaw)
    right = force_x * math.cos(yaw) - force_y * math.sin(yaw)
    return math.atan2(right, GRAVITY), -math.atan2(forward, GRAVITY)
