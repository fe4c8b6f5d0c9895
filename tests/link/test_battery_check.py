"""The battery pre-flight check works from the vehicle's own battery: its capacity, the current it
draws (measured once it has flown, else a stated assumption, an endurance given overriding
both) and its failsafe levels as the reserve; the check's detail names every number used."""

from __future__ import annotations

from dataclasses import replace

import pytest

from missions.link.battery import (
    ASSUMED_C_RATE,
    BatteryParams,
    battery_need,
    cells_of,
    charge_at_cell_voltage,
    read_battery_params,
)
from missions.link.errors import LinkTimeout
from missions.link.flight import MissionEstimate, battery_check, preflight_checks
from missions.link.telemetry import Battery
from tests.link.test_telemetry import fed_tracker, small_plan

#: A grid of QA's report: 20 waypoints, 945 s at cruise.
QA_GRID = MissionEstimate(distance_m=8_950.0, duration_s=945.0)


def on_board(pct: float, *, volts: float = 12.6, flown_amps: float | None = None):
    """A vehicle on the ground with `pct` of its battery, having flown at `flown_amps` before."""
    snapshot = fed_tracker().snapshot()
    return replace(
        snapshot,
        battery=Battery(voltage_v=volts, current_a=0.6, remaining_pct=pct),
        flight_current_a=flown_amps,
    )


def test_qa_case_a_small_pack_with_a_high_low_level_fails_once_the_current_is_known() -> None:
    params = BatteryParams(capacity_mah=2500, low_mah=900, low_volt=10.5)
    check = battery_check(on_board(100, flown_amps=22.5), QA_GRID, battery=params,
                          endurance_s=None, reserve_pct=20)  # fmt: skip
    assert not check.ok
    detail = str(check.detail)
    # 945 s at 22.5 A = 5906 mAh, plus the 900 mAh BATT_LOW_MAH keeps: far over 2500 mAh
    assert detail.startswith("100% on board, mission needs 272%: 5906 mAh for 15.8 min at 22.5 A")
    assert "(measured in flight)" in detail
    assert "and 900 mAh reserve (BATT_LOW_MAH 900 mAh) of 2500 mAh" in detail


def test_before_any_flight_the_current_is_a_stated_assumption() -> None:
    params = BatteryParams(capacity_mah=16000, low_volt=10.5)
    need = battery_need(params, duration_s=945.0, remaining_pct=100, voltage_v=12.6)
    assert need.current_a == pytest.approx(16.0 * ASSUMED_C_RATE)
    assert str(need.current_source).startswith(f"assumed: {ASSUMED_C_RATE:g}C, a full battery")
    # 10.5 V on a 3S pack sagging 0.1 V a cell under load: 3.6 V a cell, about 32 % left
    assert need.reserve_mah == pytest.approx(16000 * 0.318, rel=0.01)
    assert str(need.reserve_source) == (
        "BATT_LOW_VOLT 10.5 V: reached at about 32% left on a 3S LiPo (estimated from the voltage)"
    )
    assert need.ok and 60 < need.need_pct < 75


def test_an_endurance_given_overrides_the_current() -> None:
    params = BatteryParams(capacity_mah=16000, low_volt=10.5)
    need = battery_need(params, duration_s=750.0, remaining_pct=100, voltage_v=12.6,
                        measured_current_a=30.0, endurance_s=1500.0)  # fmt: skip
    assert need.mission_mah == pytest.approx(8000.0)  # half the pack in half the endurance
    assert str(need.current_source) == "a full battery in the 1500 s endurance given"
    assert need.endurance_s == pytest.approx(1500.0)


def test_the_reserve_is_the_highest_failsafe_level_or_the_reserve_asked() -> None:
    params = BatteryParams(capacity_mah=10000, low_mah=1500, crt_mah=500, low_volt=0.0)
    assert battery_need(params, duration_s=0, remaining_pct=100, voltage_v=16.8,
                        reserve_pct=20).reserve_mah == 2000  # fmt: skip
    assert battery_need(params, duration_s=0, remaining_pct=100, voltage_v=16.8,
                        reserve_pct=10).reserve_mah == 1500  # fmt: skip
    volts = replace(params, crt_volt=14.0)  # 4S: 3.6 V a cell with the sag, about 32 % left
    need = battery_need(volts, duration_s=0, remaining_pct=100, voltage_v=16.8)
    assert need.reserve_mah == pytest.approx(3180, rel=0.02)
    reserve = str(need.reserve_source)
    assert reserve.startswith("BATT_CRT_VOLT 14 V: reached at about 32% left on a 4S")


def test_a_pack_that_cannot_give_the_mission_and_its_reserve_fails() -> None:
    params = BatteryParams(capacity_mah=16000, low_volt=10.5)
    short = MissionEstimate(distance_m=1000.0, duration_s=300.0)
    plenty = battery_check(on_board(90), short, battery=params, endurance_s=None, reserve_pct=20)
    assert plenty.ok
    # 300 s at 24 A is 2000 mAh (12.5 %), and BATT_LOW_VOLT keeps about 32 % back
    low = battery_check(on_board(40, volts=11.1), short, battery=params, endurance_s=None,
                        reserve_pct=20)  # fmt: skip
    assert not low.ok and str(low.detail).startswith("40% on board, mission needs 44%: 2000 mAh")


def test_without_the_vehicles_capacity_the_check_uses_the_endurance_as_before() -> None:
    checks = preflight_checks(on_board(78), small_plan(), verified=True, endurance_s=1200,
                              reserve_pct=20)  # fmt: skip
    battery = next(c for c in checks if c.name == "battery")
    assert str(battery.detail) == "78% on board, mission needs 30% incl. 20% reserve"


def test_cells_and_charge_on_the_lipo_curve() -> None:
    assert [cells_of(v) for v in (12.6, 11.1, 16.8, 25.2, 4.2)] == [3, 3, 4, 6, 1]
    assert charge_at_cell_voltage(4.3) == 1.0 and charge_at_cell_voltage(2.0) == 0.0
    assert charge_at_cell_voltage(3.77) == pytest.approx(0.5)
    assert charge_at_cell_voltage(3.5) < charge_at_cell_voltage(3.7) < charge_at_cell_voltage(4.0)


class _Params:
    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.asked: list[str] = []

    def get_param(self, name: str) -> float:
        self.asked.append(name)
        if name not in self.values:
            raise LinkTimeout(f"read parameter {name}: no PARAM_VALUE")
        return self.values[name]


def test_battery_parameters_are_read_from_the_vehicle() -> None:
    vehicle = _Params({"BATT_CAPACITY": 2500, "BATT_LOW_MAH": 900, "BATT_LOW_VOLT": 10.5,
                       "BATT_CRT_MAH": 0, "BATT_CRT_VOLT": 0, "BATT_LOW_TIMER": 5})  # fmt: skip
    assert read_battery_params(vehicle) == BatteryParams(
        capacity_mah=2500, low_mah=900, low_volt=10.5, low_timer_s=5
    )
    silent = _Params({})
    assert read_battery_params(silent) is None
    assert silent.asked == ["BATT_CAPACITY"]  # a vehicle that does not answer is asked once
    assert read_battery_params(_Params({"BATT_CAPACITY": 0})) is None
