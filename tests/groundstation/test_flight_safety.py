"""Flight sessions tell the pilot the truth about how a flight ended: a vehicle that rebooted in
the air (killed and started again on its port) fails the session instead of passing for a
landing, and nothing of it is stored as a landed flight."""

from __future__ import annotations

import socket
import time

import pytest
from conftest import flight_env, login, saved_plan
from test_flight_link_loss import QUICK, fly_to_first_waypoint, messages, start, wait_state


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("flight_safety"), "FS-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "FS-S", "flight safety")


@pytest.fixture
def quick_links(env, monkeypatch) -> None:
    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():
        monkeypatch.setitem(hub().runner_options, "link_policy", QUICK)


def _mission(env, plan_id: int):
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict

    with env.storage().session() as session:
        return plan_from_dict(session.get(RoutePlan, plan_id).missions[0])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_vehicle_rebooted_in_flight_fails_the_session(env, plan_id, quick_links) -> None:
    from groundstation.models import FlightSession
    from simulator import Sitl

    home = _mission(env, plan_id).home
    url = f"tcp:127.0.0.1:{_free_port()}"
    sitl = Sitl(home=home, speedup=20, listen=url, uid=7).start()  # one board: the clock tells
    try:
        sid = start(env, plan_id, connection=url).json["id"]
        fly_to_first_waypoint(env, sid)
        sitl.stop()
        time.sleep(0.3)
        sitl = Sitl(home=home, speedup=20, listen=url, uid=7).start()
        failed = wait_state(env, sid, "failed", "done", timeout=30)
    finally:
        sitl.stop()
    assert failed["state"] == "failed", failed
    assert failed["error"].startswith("the vehicle rebooted in flight (its clock restarted")
    assert failed["error"].endswith("not a landing; check it")
    assert failed["flight_id"] is None
    assert not any(t.startswith("no photo files") for t in messages(env, sid))
    with env.storage().session() as session:
        row = session.get(FlightSession, sid)
        assert row.state == "failed" and row.landed_at is None and row.flight_id is None
        assert "not a landing" in row.error


def test_a_mission_ended_by_rtl_shows_as_returned_early(env, plan_id) -> None:
    from test_flight_link_loss import command, status

    sid = start(env, plan_id, simulate=True, speedup=30).json["id"]
    fly_to_first_waypoint(env, sid)
    assert command(env, sid, "rtl").status_code == 200
    done = wait_state(env, sid, "done", timeout=60)
    result = done["result"]
    assert result["landed"] and not result["all_reached"]
    label = f"returned early ({result['reached']}/{result['waypoints']} waypoints)"
    assert (done["outcome"], done["state_label"]) == ("returned_early", "R" + label[1:])
    assert label in messages(env, sid)
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    listing = client.get("/flights").get_data(as_text=True)
    row = listing.split(f'<tr id="session-{sid}">', 1)[1].split("</tr>", 1)[0]
    shown = "R" + label[1:]  # a label on its own is capitalised
    assert 'data-outcome="returned_early"' in row and shown in row
    page = client.get(f"/flights/{sid}")
    assert f'data-outcome="returned_early">{shown}</strong>' in page.get_data(as_text=True)
    assert status(env, sid)["outcome"] == "returned_early"


def test_a_session_that_lands_away_from_home_says_where(env, plan_id) -> None:
    """QA: a vehicle put down by LAND far from home showed as "returned early", its landing
    place nowhere: the pilot was sent home to fetch it."""
    from test_flight_link_loss import command, status

    from missions.link.landing import landing_place

    mission = _mission(env, plan_id)
    first = next(item for item in mission.items if item.command == 16)  # NAV_WAYPOINT
    assert landing_place((first.lat, first.lon), home=mission.home[:2]).away  # the setup
    sid = start(env, plan_id, simulate=True, speedup=30).json["id"]
    fly_to_first_waypoint(env, sid)
    assert command(env, sid, "land").status_code == 200  # down where it is
    done = wait_state(env, sid, "done", timeout=60)
    landing = done["result"]["landing"]
    assert done["outcome"] == "landed_away" and landing["away"] is True
    assert landing["home_distance_m"] > 50
    assert done["state_label"].startswith("Landed away from home: ")
    assert f"at {landing['lat']:.6f}, {landing['lon']:.6f} (" in done["state_label"]
    assert "l" + done["state_label"][1:] in messages(env, sid)
    assert status(env, sid)["outcome"] == "landed_away"


def test_outcome_labels_name_the_landing_place() -> None:
    from groundstation.flights import outcome_label, session_outcome

    away = {"reached": 2, "waypoints": 6, "all_reached": False,
            "landing": {"lat": 32.43161, "lon": 120.08802, "home_distance_m": 9274.0,
                        "bearing_deg": 180.0, "away": True}}  # fmt: skip
    assert session_outcome("done", away) == "landed_away"
    assert str(outcome_label(away)) == (
        "landed away from home: 9.3 km from home at 32.431610, 120.088020 (2/6 waypoints)"
    )
    home = {**away, "landing": {**away["landing"], "away": False}}
    assert session_outcome("done", home) == "returned_early"
    assert session_outcome("done", {"all_reached": True}) == "complete"  # stored before
    assert session_outcome("failed", away) is None


def test_an_outcome_label_after_gps_loss_gives_only_the_last_known_position() -> None:
    """A landing after the GPS was lost (missions.link's ``position_known`` false) is not a
    confident landing place: the vehicle may have drifted far from its last fix."""
    from groundstation.flights import outcome_label, session_outcome

    lost = {"reached": 2, "waypoints": 6, "all_reached": False,
            "landing": {"lat": 32.51701, "lon": 120.14102, "home_distance_m": 250.0,
                        "bearing_deg": 45.0, "away": True, "position_known": False}}  # fmt: skip
    assert session_outcome("done", lost) == "landed_away"
    assert str(outcome_label(lost)) == (
        "landed, position unknown (GPS lost before landing): last known position 250 m from "
        "home at 32.517010, 120.141020 (2/6 waypoints)"
    )


def test_a_vehicle_disarmed_in_the_air_fails_the_session(env, plan_id, monkeypatch) -> None:
    """Disarmed while its landed state still says airborne (the vehicle falls): no landing is
    stored, the session fails saying so, and what it did (photos to fetch) is kept."""
    from groundstation.models import FlightSession
    from missions.link import connect
    from simulator import Sitl
    from simulator.autopilot import Autopilot

    home = _mission(env, plan_id).home
    url = f"tcp:127.0.0.1:{_free_port()}"
    with Sitl(home=home, speedup=20, listen=url) as sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        fly_to_first_waypoint(env, sid)
        monkeypatch.setattr(Autopilot, "flight_phase", property(lambda self: "air"))
        with connect(url, timeout=10) as rc:  # as a second ground station: force-disarm
            rc.disarm(force=True)
        assert not sitl.snapshot().armed
        failed = wait_state(env, sid, "failed", "done", timeout=30)
    assert failed["state"] == "failed", failed
    assert failed["error"].startswith("the vehicle disarmed in the air (")
    assert failed["error"].endswith("): not a landing; check it")
    assert failed["flight_id"] is None and failed["result"]["landed"] is False
    assert failed["result"]["reached"] >= 1
    with env.storage().session() as session:
        row = session.get(FlightSession, sid)
        assert row.state == "failed" and row.landed_at is None and row.flight_id is None
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    page = client.get(f"/flights/{sid}").get_data(as_text=True)
    opening = page.split('<section id="flight-summary"', 1)[1].split(">", 1)[0]
    assert "hidden" not in opening  # shown: what the failed flight did
    assert f'id="s-waypoints">{failed["result"]["reached"]} / ' in page
