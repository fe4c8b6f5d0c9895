"""The simulator's failsafes act like ArduCopter's: every new fence breach acts (a new fence kind,
or a circle or altitude breach past its backup fence 20 m further out), a breach more than
100 m outside lands, breaches clear once back inside, and FENCE_ACTION, FS_GCS_ENABLE and
BATT_FS_*_ACT values mean what ArduCopter's parameter docs say (no SmartRTL here: it falls back
to RTL or LAND as ArduCopter does when SmartRTL is unavailable). A failsafe's LAND hovers 4 s
before descending (set_mode_land_with_pause); a pilot's or the fence's does not, and a new fence
breach acts even during a failsafe's LAND (fence.cpp has no exemption for landing)."""

from __future__ import annotations

import math
from functools import partial

import pytest

from simulator.autopilot import Autopilot, Mode, StoredItem
from tests.simulator.stepping import airborne, modes, run, texts

STEP = 0.05
_airborne = partial(airborne, step=STEP)
_run = partial(run, step=STEP)


def _fence_box(ap: Autopilot, half: float) -> None:
    """Upload an inclusion polygon `half` metres either side of home."""
    items = []
    for x, y in ((-half, -half), (-half, half), (half, half), (half, -half)):
        lon, lat = ap.frame.inverse(x, y)
        items.append(
            StoredItem(
                command=5001, frame=0, params=(4, 0, 0, 0), x=round(lat * 1e7), y=round(lon * 1e7)
            )
        )
    ap.replace_list(1, items)


def _distance(ap: Autopilot) -> float:
    return math.hypot(ap.state.x, ap.state.y)


def test_a_vehicle_blown_out_of_the_fence_returns_then_lands_100_m_past_the_circle() -> None:
    """QA's runaway: 25 m/s of wind against a 20 m/s airframe blows the vehicle out of its
    polygon. RTL cannot make headway; the circle fence (1500 m) is a new breach, each 20 m
    further is another, and the first more than 100 m outside switches to LAND."""
    ap = _airborne({"FENCE_ENABLE": 1, "SIM_WIND_SPD": 25, "SIM_WIND_DIR": 90})
    _fence_box(ap, 100)
    seen = _run(ap, 1000.0, until=lambda ap: ap.mode == Mode.LAND)
    said = texts(seen)
    fence = [text for text in said if text.startswith("Fence Breached")]
    assert fence[0] == "Fence Breached: polygon"
    assert fence[1:] and set(fence[1:]) == {"Fence Breached: circle"}  # each backup fence
    assert modes(seen) == [Mode.RTL, Mode.LAND]
    assert 1600 <= _distance(ap) < 1625  # radius 1500 + 100: not kilometres further downwind


def test_each_new_breach_acts_again_and_a_breach_clears_back_inside() -> None:
    ap = _airborne({"FENCE_ENABLE": 1, "FENCE_ACTION": 4})  # 4: brake or land
    _fence_box(ap, 50)
    lat, lon, _, _ = ap.position()
    outside = ap.frame.inverse(0, 80)
    assert ap.goto(outside[1], outside[0], 40)
    seen = _run(ap, 60, until=lambda ap: ap.mode != Mode.GUIDED)
    assert ap.mode == Mode.BRAKE and "Fence Breached: polygon" in texts(seen)
    assert _distance(ap) < 70  # braked just past the fence, not flown on
    # The pilot takes over (manual recovery) and flies back in: the breach clears...
    assert ap.set_mode(Mode.GUIDED) and ap.goto(lat, lon, 40)
    seen = _run(ap, 60, until=lambda ap: _distance(ap) < 2)
    assert "Manual recovery started" in texts(seen)
    assert "Fence breach cleared" in texts(seen)
    # ...so going out again is a new breach, and it brakes again.
    assert ap.goto(outside[1], outside[0], 40)
    seen = _run(ap, 60, until=lambda ap: ap.mode != Mode.GUIDED)
    assert ap.mode == Mode.BRAKE and "Fence Breached: polygon" in texts(seen)


def test_a_new_breach_during_manual_recovery_is_not_acted_on() -> None:
    """AC_Fence ignores new breaches for 10 s after a mode change while breached."""
    ap = _airborne({"FENCE_ENABLE": 1, "FENCE_ACTION": 2, "FENCE_ALT_MAX": 50})
    _fence_box(ap, 50)
    outside = ap.frame.inverse(0, 60)
    assert ap.goto(outside[1], outside[0], 40)
    _run(ap, 60, until=lambda ap: ap.mode != Mode.GUIDED)
    assert ap.mode == Mode.LAND
    assert ap.set_mode(Mode.GUIDED) and ap.goto(outside[1], outside[0], 55)  # above the ceiling
    seen = _run(ap, 9)
    assert ap.mode == Mode.GUIDED and ap.state.h > 52
    assert not any(text.startswith("Fence Breached") for text in texts(seen))


@pytest.mark.parametrize(
    ("action", "mode"),
    [
        (1, Mode.RTL),
        (2, Mode.LAND),
        (3, Mode.RTL),  # SmartRTL or RTL or land
        (4, Mode.BRAKE),  # brake or land, not LOITER
        (5, Mode.LAND),  # SmartRTL or land, never RTL
    ],
)
def test_fence_action_values(action: int, mode: Mode) -> None:
    ap = _airborne({"FENCE_ACTION": action})
    ap.params.set("FENCE_TYPE", 1)
    ap.params.set("FENCE_ALT_MAX", 30)
    ap.params.set("FENCE_ENABLE", 1)
    seen = _run(ap, 1)
    assert "Fence Breached: maximum altitude" in texts(seen)
    assert modes(seen) == [mode]


@pytest.mark.parametrize(
    ("enable", "mode", "text"),
    [
        (1, Mode.RTL, None),
        (2, Mode.RTL, None),  # "continue in AUTO" was removed in ArduCopter 4.0
        (3, Mode.RTL, "SmartRTL Unavailable, Trying RTL Mode"),
        (4, Mode.LAND, "SmartRTL Unavailable, Using Land Mode"),
        (5, Mode.LAND, None),
        (6, Mode.RTL, "Trying RTL Mode"),
        (7, Mode.BRAKE, None),
    ],
)
def test_gcs_failsafe_values(enable: int, mode: Mode, text: str | None) -> None:
    ap = _airborne({"FS_GCS_ENABLE": enable, "FS_GCS_TIMEOUT": 2})
    ap.gcs_heartbeat()
    seen = _run(ap, 3)
    assert "GCS Failsafe: no heartbeat from the ground station" in texts(seen)
    assert modes(seen) == [mode]
    if text is not None:
        assert text in texts(seen)


@pytest.mark.parametrize(
    ("action", "mode"),
    [(1, Mode.LAND), (2, Mode.RTL), (3, Mode.RTL), (4, Mode.LAND), (6, Mode.RTL), (7, Mode.BRAKE)],
)
def test_battery_failsafe_values(action: int, mode: Mode) -> None:
    ap = _airborne({"BATT_FS_LOW_ACT": action, "BATT_CRT_VOLT": 0})
    ap.params.set("BATT_LOW_MAH", 16000)  # less than that is left: low at once
    seen = _run(ap, 1)
    assert any(text.startswith("Battery 1 is low") for text in texts(seen))
    assert modes(seen) == [mode] and ap.armed


def test_battery_failsafe_terminate_stops_the_motors() -> None:
    ap = _airborne({"BATT_FS_LOW_ACT": 5, "BATT_CRT_VOLT": 0})
    ap.params.set("BATT_LOW_MAH", 16000)
    _run(ap, 1)
    assert not ap.armed and ap.mode == Mode.GUIDED


@pytest.mark.parametrize(("enable", "text"), [(1, None), (7, "Trying Land Mode")])
def test_a_failsafe_that_needs_a_position_lands_without_one(enable: int, text: str | None) -> None:
    """RTL and BRAKE need a position: without GPS the failsafe lands instead."""
    ap = _airborne({"FS_GCS_ENABLE": enable, "FS_GCS_TIMEOUT": 2})
    assert ap.set_mode(Mode.ALT_HOLD)  # no EKF failsafe in ALT_HOLD
    ap.params.set("SIM_GPS_DISABLE", 1)
    ap.gcs_heartbeat()
    seen = _run(ap, 3)
    assert modes(seen)[-1] == Mode.LAND
    if text is not None:
        assert text in texts(seen)


def _descent_starts_after(ap: Autopilot, seconds: float = 15.0) -> float:
    """Step until the vehicle sinks at 0.2 m/s; the vehicle seconds that took (it held its
    height until then)."""
    start_h, start_t = ap.state.h, ap.now
    _run(ap, seconds, until=lambda ap: ap.state.vz < -0.2)
    assert ap.state.vz < -0.2, "never descended"
    assert abs(ap.state.h - start_h) < 1.0  # (a climb in progress is stopped)
    return ap.now - start_t


def _hovering(params: dict[str, float], *, altitude: float = 40.0) -> Autopilot:
    """:func:`airborne`, then 3 s of hover: the climb has settled."""
    ap = _airborne(params, altitude=altitude)
    _run(ap, 3)
    return ap


def _battery_low_now(ap: Autopilot) -> None:
    ap.params.set("BATT_LOW_MAH", 16000)  # less than that is left: low at once


@pytest.mark.parametrize(
    ("params", "trigger"),
    [
        ({"BATT_FS_LOW_ACT": 1, "BATT_CRT_VOLT": 0}, _battery_low_now),
        ({"FS_GCS_ENABLE": 5, "FS_GCS_TIMEOUT": 2}, lambda ap: ap.gcs_heartbeat()),
        ({"FS_EKF_ACTION": 1}, lambda ap: ap.params.set("SIM_GPS_DISABLE", 1)),
        # RTL needs a position: without one the GCS failsafe falls back to LAND, with a pause
        ({"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 2, "SIM_GPS_DISABLE": 1}, None),
    ],
    ids=["battery", "gcs", "ekf", "rtl-refused"],
)
def test_a_failsafe_land_holds_4_s_before_descending(params: dict, trigger) -> None:
    """ArduCopter's set_mode_land_with_pause: LAND_WITH_DELAY_MS (4 s) of hover first."""
    ap = _hovering({k: v for k, v in params.items() if k != "SIM_GPS_DISABLE"})
    if trigger is None:
        assert ap.set_mode(Mode.ALT_HOLD)  # no EKF failsafe in ALT_HOLD
        ap.params.set("SIM_GPS_DISABLE", 1)
        ap.gcs_heartbeat()
    else:
        trigger(ap)
    _run(ap, 10, until=lambda ap: ap.mode == Mode.LAND)
    assert ap.mode == Mode.LAND and ap.armed
    assert 4.0 <= _descent_starts_after(ap) < 5.0
    _run(ap, 60, until=lambda ap: not ap.armed)
    assert ap.landed  # then it lands as usual


def test_a_pilots_land_descends_at_once() -> None:
    ap = _hovering({})
    assert ap.set_mode(Mode.LAND)
    assert _descent_starts_after(ap) < 1.0


def test_a_failsafe_in_a_long_running_land_does_not_pause_it() -> None:
    """Already in LAND, set_mode_land_with_pause keeps LAND's start time: the pause is over."""
    ap = _airborne({"BATT_FS_LOW_ACT": 1, "BATT_CRT_VOLT": 0})
    assert ap.set_mode(Mode.LAND)
    _run(ap, 5)
    _battery_low_now(ap)
    h = ap.state.h
    seen = _run(ap, 1)
    assert any(text.startswith("Battery 1 is low") for text in texts(seen))
    assert ap.mode == Mode.LAND and ap.state.h < h - 1.0  # still descending at 1.5 m/s


@pytest.mark.parametrize("action", [2, 1])
def test_a_fence_land_does_not_pause(action: int) -> None:
    """fence.cpp switches with plain set_mode(LAND), not set_mode_land_with_pause: FENCE_ACTION
    2 and the give-up LAND more than 100 m out (here 110 m above the ceiling) descend at once."""
    ap = _hovering({"FENCE_ACTION": action}, altitude=150 if action == 1 else 40)
    ap.params.set("FENCE_TYPE", 1)
    ap.params.set("FENCE_ALT_MAX", 40 if action == 1 else 30)
    ap.params.set("FENCE_ENABLE", 1)
    seen = _run(ap, 1)
    assert "Fence Breached: maximum altitude" in texts(seen) and modes(seen) == [Mode.LAND]
    assert _descent_starts_after(ap) < 1.0


def test_a_new_breach_within_100_m_during_a_failsafe_land_takes_the_fence_action() -> None:
    """Copter::fence_check has no exemption for landing: AC_Fence::check(landing) only drops the
    minimum altitude fence, so a new breach switches a failsafe's LAND to RTL (FENCE_ACTION 1)."""
    ap = _airborne({"BATT_FS_LOW_ACT": 1, "BATT_CRT_VOLT": 0, "FENCE_ACTION": 1})
    _battery_low_now(ap)
    seen = _run(ap, 1)
    assert modes(seen) == [Mode.LAND]
    ap.params.set("FENCE_TYPE", 1)
    ap.params.set("FENCE_ALT_MAX", 30)  # 10 m below the pausing vehicle
    ap.params.set("FENCE_ENABLE", 1)
    seen = _run(ap, 1)
    assert "Fence Breached: maximum altitude" in texts(seen)
    assert modes(seen) == [Mode.RTL]
    _run(ap, 120, until=lambda ap: not ap.armed)
    assert ap.landed and _distance(ap) < 3.0  # RTL lands it at home


def test_a_new_breach_over_100_m_during_a_failsafe_land_keeps_landing() -> None:
    """More than 100 m out fence_check asks for LAND: already in LAND, nothing changes."""
    ap = _airborne({"BATT_FS_LOW_ACT": 1, "BATT_CRT_VOLT": 0, "FENCE_ACTION": 1}, altitude=150)
    _battery_low_now(ap)
    _run(ap, 1)
    assert ap.mode == Mode.LAND
    ap.params.set("FENCE_TYPE", 1)
    ap.params.set("FENCE_ALT_MAX", 40)  # 110 m below
    ap.params.set("FENCE_ENABLE", 1)
    seen = _run(ap, 5)
    assert "Fence Breached: maximum altitude" in texts(seen)
    assert modes(seen) == [] and ap.mode == Mode.LAND
    assert "Manual recovery started" not in texts(seen)
