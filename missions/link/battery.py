"""What a mission needs from the vehicle's battery, from the vehicle's own battery parameters.

ArduPilot knows its pack's capacity (BATT_CAPACITY) and the levels at which its low and critical
battery failsafes act (BATT_LOW_MAH / BATT_LOW_VOLT, BATT_CRT_MAH / BATT_CRT_VOLT): a mission must
end with the pack above all of them, or the failsafe ends it first. What the vehicle draws in
flight it reports only while flying, so before the first flight the current is a stated
assumption (:data:`ASSUMED_C_RATE`); once it has flown on this link the measured mean is used, and
an ``--endurance`` given by the pilot overrides both. A voltage threshold becomes a charge by a
typical LiPo discharge curve (:data:`LIPO_CELL_VOLTS`) with an assumed sag under load. Pure
functions over frozen dataclasses, except :func:`read_battery_params`, which asks the vehicle.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Protocol

from gis.messages import Message, msg
from missions.link.errors import LinkTimeout

__all__ = [
    "ASSUMED_C_RATE",
    "ASSUMED_SAG_V_PER_CELL",
    "LIPO_CELL_VOLTS",
    "BatteryNeed",
    "BatteryParams",
    "battery_detail",
    "battery_need",
    "cells_of",
    "charge_at_cell_voltage",
    "full_battery_s",
    "read_battery_params",
]

#: Current drawn in flight per amp-hour of capacity (a "C rate") assumed until the vehicle has
#: flown on this link: 1.5C empties a full pack in 40 minutes, a typical survey multicopter
#: (our simulator's default airframe draws 1.4C at its 10 m/s cruise).
ASSUMED_C_RATE = 1.5
#: Voltage a loaded LiPo cell sags below its resting voltage in flight (assumed: ArduPilot does
#: not report its pack's resistance).
ASSUMED_SAG_V_PER_CELL = 0.1
_FULL_CELL_V = 4.2
#: Resting voltage of a LiPo cell by charge left (fraction, volts), highest first: the curve a
#: voltage threshold is read on.
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


class _ParamReader(Protocol):
    def get_param(self, name: str) -> float: ...


@dataclass(frozen=True, slots=True)
class BatteryParams:
    """The vehicle's battery parameters as read back; a threshold of 0 is off (ArduPilot)."""

    capacity_mah: float  # BATT_CAPACITY
    low_mah: float = 0.0  # BATT_LOW_MAH
    low_volt: float = 0.0  # BATT_LOW_VOLT
    crt_mah: float = 0.0  # BATT_CRT_MAH
    crt_volt: float = 0.0  # BATT_CRT_VOLT
    low_timer_s: float = 10.0  # BATT_LOW_TIMER: seconds below a voltage before it counts


def read_battery_params(vehicle: _ParamReader) -> BatteryParams | None:
    """Read BATT_CAPACITY and the failsafe thresholds; None when the vehicle does not answer
    for BATT_CAPACITY or has none set (the check then falls back to the endurance). A threshold
    it does not answer for counts as off."""

    def read(name: str) -> float | None:
        with contextlib.suppress(LinkTimeout):
            value = vehicle.get_param(name)
            return value if math.isfinite(value) else None
        return None

    capacity = read("BATT_CAPACITY")
    if capacity is None or capacity <= 0:
        return None
    values = {
        field: read(name) or 0.0
        for field, name in (
            ("low_mah", "BATT_LOW_MAH"),
            ("low_volt", "BATT_LOW_VOLT"),
            ("crt_mah", "BATT_CRT_MAH"),
            ("crt_volt", "BATT_CRT_VOLT"),
        )
    }
    timer = read("BATT_LOW_TIMER")
    return BatteryParams(
        capacity_mah=capacity, low_timer_s=10.0 if timer is None else timer, **values
    )


def cells_of(voltage_v: float) -> int:
    """LiPo cells in series for a pack showing `voltage_v` (at most 4.25 V a cell): right for
    any pack charged above about 3.5 V a cell, as one about to fly is."""
    return max(1, math.ceil(voltage_v / (_FULL_CELL_V + 0.05)))


def charge_at_cell_voltage(volts: float) -> float:
    """The charge left (fraction) at which a LiPo cell rests at `volts` (by
    :data:`LIPO_CELL_VOLTS`)."""
    top, bottom = LIPO_CELL_VOLTS[0], LIPO_CELL_VOLTS[-1]
    if volts >= top[1]:
        return 1.0
    if volts <= bottom[1]:
        return 0.0
    for (upper, upper_v), (lower, lower_v) in itertools.pairwise(LIPO_CELL_VOLTS):
        if volts >= lower_v:
            return lower + (upper - lower) * (volts - lower_v) / (upper_v - lower_v)
    return 0.0


@dataclass(frozen=True, slots=True)
class BatteryNeed:
    """What a mission needs from the pack, and the numbers it was worked out from."""

    capacity_mah: float
    remaining_pct: float  # on board now, as the vehicle reports it
    duration_s: float  # the mission's expected flying time
    current_a: float  # drawn in flight
    current_source: Message  # measured, assumed or given
    reserve_mah: float  # to be left at the end: the highest failsafe level (or the asked reserve)
    reserve_source: Message

    @property
    def mission_mah(self) -> float:
        return self.current_a * self.duration_s / 3.6

    @property
    def need_pct(self) -> float:
        return 100.0 * (self.mission_mah + self.reserve_mah) / self.capacity_mah

    @property
    def ok(self) -> bool:
        return self.remaining_pct >= self.need_pct

    @property
    def endurance_s(self) -> float:
        """Flying time of a full pack at :attr:`current_a`."""
        return self.capacity_mah / max(self.current_a, 0.01) * 3.6


def battery_need(
    params: BatteryParams,
    *,
    duration_s: float,
    remaining_pct: float,
    voltage_v: float,
    measured_current_a: float | None = None,
    endurance_s: float | None = None,
    reserve_pct: float = 0.0,
) -> BatteryNeed:
    """The battery a mission of `duration_s` needs on a vehicle with `params`.

    The current is ``endurance_s``'s (a full pack in that time) when given, else the one
    measured in flight, else :data:`ASSUMED_C_RATE`. The reserve is the highest of the
    vehicle's failsafe levels (a voltage read on :data:`LIPO_CELL_VOLTS` with
    :data:`ASSUMED_SAG_V_PER_CELL`, for a pack of :func:`cells_of` `voltage_v`) and
    ``reserve_pct`` of the capacity.
    """
    capacity = params.capacity_mah
    current, current_source = _flight_current(capacity, measured_current_a, endurance_s)
    reserve_mah, reserve_source = _reserve(params, voltage_v, reserve_pct)
    return BatteryNeed(
        capacity_mah=capacity,
        remaining_pct=remaining_pct,
        duration_s=duration_s,
        current_a=current,
        current_source=current_source,
        reserve_mah=reserve_mah,
        reserve_source=reserve_source,
    )


def full_battery_s(params: BatteryParams, *, measured_current_a: float | None = None) -> float:
    """Flying time (s) of a full pack at the current measured in flight, else the assumed one."""
    current, _ = _flight_current(params.capacity_mah, measured_current_a, None)
    return params.capacity_mah * 3.6 / current


def _flight_current(
    capacity_mah: float, measured_a: float | None, endurance_s: float | None
) -> tuple[float, Message]:
    if endurance_s is not None and endurance_s > 0:
        return capacity_mah * 3.6 / endurance_s, msg(
            "a full battery in the %(seconds)s s endurance given", seconds=f"{endurance_s:.0f}"
        )
    if measured_a is not None and measured_a > 0:
        return measured_a, msg("measured in flight")
    return capacity_mah / 1000.0 * ASSUMED_C_RATE, msg(
        "assumed: %(rate)sC, a full battery in %(minutes)s min; measured once it has flown",
        rate=f"{ASSUMED_C_RATE:g}",
        minutes=f"{60.0 / ASSUMED_C_RATE:.0f}",
    )


def _reserve(params: BatteryParams, voltage_v: float, reserve_pct: float) -> tuple[float, Message]:
    """The charge (mAh) to keep, and which level asks for it: the highest of them."""
    capacity = params.capacity_mah
    cells = cells_of(voltage_v)
    levels: list[tuple[float, Message]] = [
        (capacity * reserve_pct / 100.0, msg("%(pct)s%% reserve asked", pct=f"{reserve_pct:g}"))
    ]
    for mah, name in ((params.low_mah, "BATT_LOW_MAH"), (params.crt_mah, "BATT_CRT_MAH")):
        if mah > 0:
            levels.append((mah, msg("%(name)s %(mah)s mAh", name=name, mah=f"{mah:.0f}")))
    for volts, name in ((params.low_volt, "BATT_LOW_VOLT"), (params.crt_volt, "BATT_CRT_VOLT")):
        if volts > 0:
            charge = charge_at_cell_voltage(volts / cells + ASSUMED_SAG_V_PER_CELL)
            levels.append(
                (
                    capacity * charge,
                    msg(
                        "%(name)s %(volts)s V: reached at about %(pct)s%% left on a "
                        "%(cells)sS LiPo (estimated from the voltage)",
                        name=name,
                        volts=f"{volts:g}",
                        pct=f"{100 * charge:.0f}",
                        cells=cells,
                    ),
                )
            )
    return max(levels, key=lambda level: level[0])


def battery_detail(need: BatteryNeed) -> Message:
    """The battery check's detail: what is on board, what the mission needs and every number
    that went into it, e.g. ``100% on board, mission needs 61%: 6400 mAh for 16 min at 24.0 A
    (assumed: ...) and 3400 mAh reserve (BATT_LOW_VOLT 10.5 V: ...) of 16000 mAh``."""
    return msg(
        "%(remaining)s%% on board, mission needs %(need)s%%: %(mission)s mAh for %(minutes)s "
        "min at %(amps)s A (%(current)s) and %(reserve)s mAh reserve (%(reserve_source)s) of "
        "%(capacity)s mAh",
        remaining=f"{need.remaining_pct:.0f}",
        need=f"{need.need_pct:.0f}",
        mission=f"{need.mission_mah:.0f}",
        minutes=f"{need.duration_s / 60.0:.1f}",
        amps=f"{need.current_a:.1f}",
        current=need.current_source,
        reserve=f"{need.reserve_mah:.0f}",
        reserve_source=need.reserve_source,
        capacity=f"{need.capacity_mah:.0f}",
    )
