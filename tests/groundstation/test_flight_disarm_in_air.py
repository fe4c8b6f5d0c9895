"""A flight session whose vehicle is force-disarmed in the air fails as "disarmed in the air",
though the vehicle reports ON_GROUND the moment it disarms, as ArduCopter does: the height the
vehicle sent right after the disarm tells the fall from a landing. Nothing is stored as landed."""

from __future__ import annotations

import pytest
from conftest import flight_env, saved_plan
from test_flight_link_loss import fly_to_first_waypoint, start, wait_state


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("disarm_in_air"), "DA-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "DA-S", "disarm in the air")


def test_a_forced_disarm_reported_on_ground_fails_the_session(env, plan_id) -> None:
    from groundstation.models import FlightSession, RoutePlan
    from missions.formats import plan_from_dict
    from missions.link import connect
    from simulator import Sitl

    with env.storage().session() as session:
        home = plan_from_dict(session.get(RoutePlan, plan_id).missions[0]).home
    with Sitl(home=home, speedup=20, params={"RTL_LOIT_TIME": 0}) as sitl:
        sid = start(env, plan_id, connection=sitl.connection_string).json["id"]
        fly_to_first_waypoint(env, sid)
        with connect(sitl.connection_string, timeout=10) as rc:  # a second ground station
            rc.disarm(force=True)
            rc.pump(0.3)  # the position the simulator sends right behind the disarm
            heights = rc.tracker.snapshot().disarm
        assert heights is not None and heights.after is not None
        assert heights.after.relative_alt_m > 20.0  # disarmed well up in the air
        assert sitl.autopilot.flight_phase == "ground"  # yet ON_GROUND, like ArduCopter
        failed = wait_state(env, sid, "failed", "done", timeout=30)
    assert failed["state"] == "failed", failed
    assert failed["error"].startswith("the vehicle disarmed in the air (")
    assert failed["error"].endswith("): not a landing; check it")
    assert failed["flight_id"] is None and failed["result"]["landed"] is False
    with env.storage().session() as session:
        row = session.get(FlightSession, sid)
        assert row.state == "failed" and row.landed_at is None and row.flight_id is None
