"""A vehicle failsafe during the takeoff climb (after the pilot's START, before AUTO): the session
names it, drops the START and watches the vehicle to the ground, ending as a failsafe in AUTO
does (landed, returned early, the failsafe recorded), not hanging or passing for the pilot's."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import flight_env, saved_plan
from test_flight_link_loss import command, events, messages, start, wait_for, wait_state

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("climb_failsafe"), "CF-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "CF-S", "climb failsafe")


@pytest.mark.parametrize(
    ("params", "in_climb", "reason", "shown"),
    [
        # low battery at once (remaining below BATT_LOW_MAH); SmartRTL falls back to RTL
        (
            {"BATT_FS_LOW_ACT": 3},
            ("BATT_LOW_MAH", 100000),
            "Battery 1 is low ",
            "Vehicle: SmartRTL unavailable: trying RTL",
        ),
        # the plan's fence (enabled by the session) below the takeoff altitude: its RTL
        # while breached starts the manual recovery
        (
            {},
            ("FENCE_ALT_MAX", 12),
            "Fence Breached: maximum altitude",
            "Vehicle: geofence manual recovery started",
        ),
    ],
)
def test_a_failsafe_in_the_takeoff_climb_ends_the_session_as_a_failsafe(
    env, plan_id, params, in_climb, reason, shown
) -> None:
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict
    from simulator import Sitl

    with env.storage().session() as session:
        home = plan_from_dict(session.get(RoutePlan, plan_id).missions[0]).home
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"tcp:127.0.0.1:{probe.getsockname()[1]}"
    with Sitl(home=home, speedup=5, listen=url, params=params) as sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        wait_state(env, sid, "ready")
        assert command(env, sid, "arm").status_code == 200
        assert command(env, sid, "start").status_code == 200  # waits for the 40 m climb
        wait_for(env, sid, lambda d: ((d["telemetry"] or {}).get("alt_m") or 0) > 2, "climb")
        sitl.params.set(*in_climb)
        done = wait_state(env, sid, "done", "failed", timeout=90)
    assert done["state"] == "done", done["error"]
    result = done["result"]
    assert done["outcome"] == "returned_early" and result["landed"] and result["reached"] == 0
    (failsafe,) = result["failsafes"]  # named with the vehicle's reasons
    assert failsafe.startswith(f"vehicle switched to RTL ({reason}")
    said = messages(env, sid)
    assert failsafe in said
    dropped = [t for t in said if t.startswith("start: the vehicle is no longer taking off (RTL")]
    assert len(dropped) == 1 and dropped[0].endswith("the mission was not started")
    assert said[-1] == f"returned early (0/{result['waypoints']} waypoints)"
    texts = [t for k, d in events(env, sid) if k == "telemetry" for t in d["vehicle_texts"]]
    assert shown in texts  # the vehicle's fallback texts, reworded
    log = json.loads((env.data_dir / "logs" / f"session_{sid}" / "flight.json").read_text())
    assert [e["kind"] for e in log["events"]].count("failsafe") == 1
