import numpy as np
import pytest

from missions.errors import PlanningError
from missions.planner.objective import FlightTimeModel, heading_changes_deg


def test_straight_leg_costs_length_over_speed() -> None:
    model = FlightTimeModel(speed_mps=10.0)
    assert model.path_s(np.array([[0, 0], [100, 0], [250, 0]])) == pytest.approx(25.0)


def test_u_turn_costs_two_right_angles() -> None:
    model = FlightTimeModel(speed_mps=10.0, turn_seconds_per_90=3.0)
    route = np.array([[0, 0], [100, 0], [100, 50], [0, 50]])
    assert model.path_s(route) == pytest.approx(25.0 + 6.0)


def test_turn_cost_is_proportional_to_heading_change() -> None:
    model = FlightTimeModel(speed_mps=10.0, turn_seconds_per_90=3.0)
    assert heading_changes_deg(np.array([[0, 0], [10, 0], [20, 10]])) == pytest.approx([45.0])
    assert model.turn_s(45.0) == pytest.approx(1.5)
    assert model.turn_s(180.0) == pytest.approx(6.0)


def test_duplicate_points_add_neither_length_nor_turns() -> None:
    model = FlightTimeModel(speed_mps=5.0)
    route = np.array([[0, 0], [10, 0], [10, 0], [20, 0]])
    assert model.path_s(route) == pytest.approx(4.0)
    assert model.turns(route) == 0


def test_vertical_time_uses_climb_and_descent_rates() -> None:
    model = FlightTimeModel(speed_mps=10.0, climb_mps=2.0, descent_mps=1.0)
    # climb 50 s, RTL hover 5 s, 90 m at 1 m/s, the last 10 m at LAND_SPEED 0.5 m/s
    assert model.vertical_s(100.0) == pytest.approx(50.0 + 5.0 + 90.0 + 20.0)


def test_landing_ends_as_arducopter_rtl_does() -> None:
    # ArduCopter's defaults (and the SITL's): RTL_LOIT_TIME 5 s, LAND_ALT_LOW 10 m, LAND_SPEED
    # 0.5 m/s. A 60 m sortie comes down in 5 + 50/1.5 + 10/0.5 s, not 60/1.5 s.
    model = FlightTimeModel(speed_mps=10.0)
    assert model.vertical_s(60.0) - 60.0 / 2.5 == pytest.approx(5.0 + 50.0 / 1.5 + 20.0)
    assert model.descent_s(6.0) == pytest.approx(12.0)  # all below LAND_ALT_LOW
    fast = FlightTimeModel(speed_mps=10.0, land_speed_mps=1.5, land_alt_low_m=0.0, rtl_loiter_s=0)
    assert fast.vertical_s(60.0) == pytest.approx(24.0 + 40.0)


@pytest.mark.parametrize("field", ["land_alt_low_m", "rtl_loiter_s", "turn_seconds_per_90"])
def test_rejects_negative_landing_phases(field: str) -> None:
    with pytest.raises(PlanningError, match=field):
        FlightTimeModel(speed_mps=10.0, **{field: -1.0})


@pytest.mark.parametrize("field", ["speed_mps", "climb_mps", "descent_mps", "land_speed_mps"])
def test_rejects_non_positive_rates(field: str) -> None:
    kwargs = {"speed_mps": 10.0, field: 0.0}
    with pytest.raises(PlanningError, match=field):
        FlightTimeModel(**kwargs)
