"""The simulator's battery and GPS behave like ArduCopter's: a LiPo voltage that collapses when
the pack is exhausted (the motors stop and the vehicle falls), the low and critical battery
failsafes (critical lands even a vehicle already returning), LAND descending where the vehicle
is in a wind stronger than it can fly, and SIM_GPS_DISABLE losing the GPS: no fix, no
satellites, EKF_STATUS_REPORT without a position, "EKF variance" and LAND (FS_EKF_ACTION)."""

from __future__ import annotations

import itertools

import pytest
from pymavlink import mavutil

from simulator.autopilot import (
    EKF_DEAD_RECKONING_S,
    ArmedChanged,
    CameraTrigger,
    Mode,
    ModeChanged,
    Text,
)
from simulator.physics import resting_voltage
from tests.simulator.stepping import HOME
from tests.simulator.stepping import airborne as _airborne
from tests.simulator.stepping import run as _run
from tests.simulator.stepping import texts as _texts

mavlink = mavutil.mavlink


def test_a_lipo_voltage_is_flat_in_the_middle_and_collapses_when_empty() -> None:
    volts = [resting_voltage(f / 20, 12.6) for f in range(20, -1, -1)]
    assert volts[0] == pytest.approx(12.6)
    assert all(later < earlier for earlier, later in itertools.pairwise(volts))
    assert volts[10] - volts[14] < 0.6  # 50 % to 30 %: barely a drop
    assert volts[19] - volts[20] > 1.5  # the last 5 %: it collapses
    assert resting_voltage(-0.1, 12.6) == volts[-1]  # over-drawn stays collapsed


def test_an_exhausted_battery_stops_the_motors_and_the_vehicle_falls() -> None:
    ap = _airborne({"BATT_CAPACITY": 400, "BATT_LOW_VOLT": 0, "BATT_CRT_VOLT": 0})
    seen = _run(ap, 200.0, until=lambda ap: ap.landed)
    stopped = next(t for t, e in seen if e == ArmedChanged(False))
    assert any(text.startswith("Battery 1 is exhausted") for text in _texts(seen))
    assert ap.state.consumed_mah >= 400 and ap.state.voltage < 9.0  # collapsed, not 9.5 V forever
    assert ap.landed and not ap.armed and ap.mode == Mode.GUIDED  # it fell: no landing mode
    assert ap.now - stopped < 5.0  # 40 m in a fall, not a descent at 1.5 m/s


def test_critical_battery_lands_a_returning_vehicle_where_it_is_in_a_gale() -> None:
    """QA's runaway: 25 m/s of wind against a 20 m/s airframe. RTL cannot make headway and drifts
    downwind; low battery keeps it in RTL, critical (default BATT_CRT_VOLT) lands it there. From
    50 m: the failsafe's LAND holds 4 s before descending, and from 60 m this pack, fighting the
    gale, is exhausted just short of the ground (the default critical level's real margin)."""
    ap = _airborne({"BATT_CAPACITY": 3000, "SIM_WIND_SPD": 25, "SIM_WIND_DIR": 270}, altitude=50)
    assert ap.set_mode(Mode.RTL)
    seen = _run(ap, 3000.0, until=lambda ap: not ap.armed)
    texts = _texts(seen)
    low = next(t for t, e in seen if isinstance(e, Text) and "is low" in e.text)
    critical = next(t for t, e in seen if isinstance(e, Text) and "is critical" in e.text)
    assert low < critical
    modes = [(t, e.mode) for t, e in seen if isinstance(e, ModeChanged)]
    assert modes[1:] == [(critical, Mode.LAND)]  # after the RTL asked for above
    assert ap.landed and not ap.armed and "Disarming motors: landed" in texts
    assert not any("exhausted" in text for text in texts)  # landed with charge to spare
    assert ap.state.x > 1000.0  # downwind, where it was: not home
    assert ap.state.consumed_mah < ap.airframe.capacity_mah


def test_land_in_a_gale_descends_where_it_is_at_its_own_rates() -> None:
    ap = _airborne({"SIM_WIND_SPD": 25, "SIM_WIND_DIR": 270}, altitude=60)
    assert ap.set_mode(Mode.LAND)
    start_x, start_t = ap.state.x, ap.now
    _run(ap, 200.0, until=lambda ap: ap.landed)
    # 50 m at 1.5 m/s, the last 10 m at 0.5 m/s: a descent, not a fall, not a hover
    seconds = ap.now - start_t
    assert ap.landed and 45.0 < seconds < 70.0
    # held against the wind at full airspeed: 5 m/s downwind, straight east
    assert ap.state.x - start_x == pytest.approx(5.0 * seconds, rel=0.1)
    assert abs(ap.state.y) < 1.0


def test_without_gps_the_ekf_failsafe_lands_and_the_vehicle_drifts_with_the_wind() -> None:
    ap = _airborne({"SIM_WIND_SPD": 5, "SIM_WIND_DIR": 270})
    ap.params.set("SIM_GPS_DISABLE", 1)
    lost_at = ap.now
    seen = _run(ap, 10.0)
    assert not ap.gps_ok and not ap.position_ok
    failsafe = next(t for t, e in seen if isinstance(e, Text) and e.text == "EKF variance")
    assert 2.0 < failsafe - lost_at < 4.0  # dead reckoning, then the one-second variance check
    assert (failsafe, ModeChanged(Mode.LAND)) in seen
    assert ap.in_failsafe
    # the vehicle drifts east with the wind; what it reports stays where it lost the fix
    assert ap.state.x > 25.0
    assert ap.estimated_position()[:2] == pytest.approx(HOME[:2], abs=1e-6)
    ap.params.set("SIM_GPS_DISABLE", 0)
    back = _run(ap, 1.0)
    assert "EKF3 IMU0 is using GPS" in _texts(back) and ap.position_ok
    assert ap.estimated_position()[:2] == pytest.approx(ap.position()[:2])
    assert ap.mode == Mode.LAND  # ArduCopter stays in the failsafe's mode


def test_without_gps_alt_hold_is_no_failsafe_and_rtl_is_refused() -> None:
    ap = _airborne({})
    assert ap.set_mode(Mode.ALT_HOLD)
    ap.params.set("SIM_GPS_DISABLE", 1)
    seen = _run(ap, 10.0)
    assert "EKF variance" not in _texts(seen) and ap.mode == Mode.ALT_HOLD
    assert not ap.set_mode(Mode.RTL)  # RTL requires position


def test_sim_gps_disable_over_mavlink(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=20)
    gcs = connect(sitl)
    gcs.wait_gps()
    assert gcs.set_mode(4).result == 0 and gcs.arm().result == 0
    assert gcs.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 20).result == 0
    gcs.wait("GLOBAL_POSITION_INT", timeout=10, condition=lambda m: m.relative_alt > 15_000)
    ekf = gcs.wait("EKF_STATUS_REPORT")
    assert ekf.flags & mavlink.EKF_POS_HORIZ_ABS and not ekf.flags & mavlink.EKF_CONST_POS_MODE
    gcs.set_param("SIM_GPS_DISABLE", 1)
    gps = gcs.wait("GPS_RAW_INT", condition=lambda m: m.fix_type < 3)
    assert (gps.fix_type, gps.satellites_visible) == (0, 0)
    gcs.wait("STATUSTEXT", timeout=10, condition=lambda m: m.text == "EKF variance")
    gcs.wait("HEARTBEAT", timeout=5, condition=lambda m: m.custom_mode == 9)  # LAND
    ekf = gcs.wait("EKF_STATUS_REPORT", condition=lambda m: m.flags & mavlink.EKF_CONST_POS_MODE)
    assert not ekf.flags & mavlink.EKF_POS_HORIZ_ABS and ekf.pos_horiz_variance > 0.8
    gcs.set_param("SIM_GPS_DISABLE", 0)
    gcs.wait("GPS_RAW_INT", condition=lambda m: m.fix_type >= 3 and m.satellites_visible > 0)
    gcs.wait("EKF_STATUS_REPORT", condition=lambda m: m.flags & mavlink.EKF_POS_HORIZ_ABS)
    gcs.wait("HEARTBEAT", timeout=30, condition=lambda m: not m.base_mode & 128)  # landed


def test_no_gps_no_arming(make_sitl, connect) -> None:
    sitl = make_sitl(speedup=20, params={"SIM_GPS_DISABLE": 1})
    gcs = connect(sitl)
    gcs.heartbeat()
    assert gcs.set_mode(4).result == mavlink.MAV_RESULT_FAILED  # GUIDED requires position
    assert gcs.set_mode(0).result == 0
    assert gcs.arm().result == mavlink.MAV_RESULT_FAILED  # PreArm: Need 3D Fix
    gcs.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_ALL, 4, 1)
    gps = gcs.wait("GPS_RAW_INT", timeout=5)
    assert (gps.fix_type, gps.satellites_visible, gps.lat, gps.lon) == (0, 0, 0, 0)
    assert not sitl.snapshot().armed


def _photos(seen) -> list:
    return [event for _, event in seen if isinstance(event, CameraTrigger)]


def test_photos_without_gps_are_tagged_where_the_ekf_believes_the_vehicle_is() -> None:
    """ArduPilot geotags photos with the EKF's position and measures its trigger distance on it:
    while the GPS is lost no distance photos come, a photo taken anyway shows the ground below the
    drifted vehicle but carries the frozen position; the fix coming back triggers one at once."""
    ap = _airborne({"SIM_WIND_SPD": 5, "SIM_WIND_DIR": 270, "CAM1_TYPE": 1})
    ap.set_trigger_distance(10.0)
    assert ap.goto(HOME[0], HOME[1] + 0.002, 40.0)  # ~190 m east
    with_gps = _photos(_run(ap, 10.0))
    assert len(with_gps) >= 3 and all(p.seen == (p.lat, p.lon) for p in with_gps)
    assert ap.set_mode(Mode.ALT_HOLD)  # no failsafe without GPS: the wind blows it east
    ap.params.set("SIM_GPS_DISABLE", 1)
    _run(ap, EKF_DEAD_RECKONING_S + 0.5)  # dead reckoning still follows the vehicle
    assert not ap.position_ok
    without = _run(ap, 8.0)
    assert _photos(without) == []  # the EKF's position stands still: no distance flown
    manual = ap.trigger_camera()
    assert manual is not None
    assert (manual.lat, manual.lon) == pytest.approx(ap.estimated_position()[:2])
    assert (manual.lat, manual.lon) != pytest.approx(manual.seen, abs=1e-4)  # tens of metres off
    assert manual.seen == pytest.approx(ap.position()[:2])
    assert ap.drain_events() == [manual]
    ap.params.set("SIM_GPS_DISABLE", 0)
    back = _photos(_run(ap, 1.0))
    assert len(back) == 1 and back[0].seen == pytest.approx((back[0].lat, back[0].lon))
