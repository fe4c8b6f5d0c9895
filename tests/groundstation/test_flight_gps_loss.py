"""A flight session says when the vehicle loses its GPS in flight, and when the fix comes back:
a warning and a note on the pilot's page, and events in the session's flight.json; a landing
with the GPS still lost is at the last known position only."""

from __future__ import annotations

import json
import socket

import pytest
from conftest import flight_env, login, saved_plan
from test_flight_link_loss import (
    events,
    fly_to_first_waypoint,
    messages,
    start,
    wait_for,
    wait_state,
)

pytestmark = pytest.mark.slow

PORT = 15850  # this helper's range: 15800-15899


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("gps_loss"), "GPS-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "GPS-S", "gps loss")


def test_gps_lost_in_flight_is_said_and_its_return_too(env, plan_id) -> None:
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict
    from simulator import Sitl

    with env.storage().session() as session:
        home = plan_from_dict(session.get(RoutePlan, plan_id).missions[0]).home
    url = f"tcp:127.0.0.1:{PORT}"
    slow_descent = {"WPNAV_SPEED_DN": 50}  # the GPS comes back before the vehicle is down
    with Sitl(home=home, speedup=10, listen=url, params=slow_descent) as sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        fly_to_first_waypoint(env, sid)
        sitl.params.set("SIM_GPS_DISABLE", 1)
        wait_for(env, sid, lambda d: d["telemetry"]["gps_fix"] == 0, "no GPS fix", 10)
        wait_for(env, sid, lambda d: d["telemetry"]["mode"] == "LAND", "EKF failsafe", 10)
        sitl.params.set("SIM_GPS_DISABLE", 0)
        done = wait_state(env, sid, "done", "failed", timeout=60)
    said = [(d["level"], d["text"]) for kind, d in events(env, sid) if kind == "message"]
    lost = [(level, text) for level, text in said if text.startswith("GPS lost in flight")]
    back = [(level, text) for level, text in said if text.startswith("GPS back")]
    assert lost == [(
        "warning",
        "GPS lost in flight (fix type 0, 0 satellites): the vehicle cannot hold or fly to a "
        "position; ArduCopter lands where it is (EKF failsafe)",
    )]  # fmt: skip
    assert back == [("info", "GPS back (fix type 3, 14 satellites)")]
    assert said.index(lost[0]) < said.index(back[0])
    assert done["state"] == "done"  # the EKF failsafe landed it: a landing, returned early
    assert done["result"]["landing"]["position_known"] is True  # a fix again before landing
    log = json.loads((env.data_dir / "logs" / f"session_{sid}" / "flight.json").read_text())
    kinds = [e["kind"] for e in log["events"]]
    assert kinds.count("gps_lost") == 1 and kinds.count("gps_back") == 1


def test_a_landing_with_the_gps_lost_is_at_the_last_known_position(env, plan_id) -> None:
    """The GPS lost and not back when the EKF failsafe lands the vehicle: the session and its
    page say the position is only the last known one (it may have drifted), as fly does."""
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict
    from simulator import Sitl

    with env.storage().session() as session:
        home = plan_from_dict(session.get(RoutePlan, plan_id).missions[0]).home
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"tcp:127.0.0.1:{probe.getsockname()[1]}"
    with Sitl(home=home, speedup=20, listen=url) as sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        fly_to_first_waypoint(env, sid)
        sitl.params.set("SIM_GPS_DISABLE", 1)
        done = wait_state(env, sid, "done", "failed", timeout=60)
    assert done["state"] == "done", done["error"]
    landing = done["result"]["landing"]
    assert landing["position_known"] is False and done["outcome"] == "landed_away"
    label = done["state_label"]  # a label: capitalised; the same words end the messages
    assert label.startswith(
        "Landed, position unknown (GPS lost before landing): last known position "
    )
    assert f"at {landing['lat']:.6f}, {landing['lon']:.6f} (" in label
    assert "l" + label[1:] in messages(env, sid)
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    page = client.get(f"/flights/{sid}").get_data(as_text=True)
    assert f'data-outcome="landed_away">{label}</strong>' in page
    log = json.loads((env.data_dir / "logs" / f"session_{sid}" / "flight.json").read_text())
    away = [e["text"] for e in log["events"] if e["kind"] == "landed_away"]
    assert len(away) == 1 and away[0].startswith("position unknown (GPS lost before landing)")
