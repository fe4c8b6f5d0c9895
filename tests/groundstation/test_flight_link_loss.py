"""What a pilot needs from a flight session when things go wrong: a dropped TCP link mid-flight
does not end the session (it reconnects and the flight lands with every waypoint), RTL during
the outage is queued and flown once the link is back, a second session cannot take the same
vehicle, pause holds position and resume finishes the mission, and a link that never comes
back ends the session with a clear message. In the browser: the gauges go stale while the link
is lost, the vehicle's own messages are listed, a finished flight's commands are disabled, and a
reloaded page rebuilds its messages and trail."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import ARTIFACTS, SMALL, add_grids, flight_env, login, saved_plan, sign_in
from flask_babel import force_locale

from groundstation.flights import LinkPolicy, connection_key
from groundstation.vehicle_messages import vehicle_message
from tests.lossy_relay import LossyRelay

#: Reconnect quickly and give up soon, so that a test sees every step in seconds.
QUICK = LinkPolicy(lost_after_s=1.0, retry_first_s=0.2, retry_max_s=0.5, give_up_after_s=60.0)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("link_loss"), "LL-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "LL-S", "link loss")


@pytest.fixture
def policy(env, monkeypatch):
    """Sessions started in the test use ``policy(LinkPolicy(...))`` (QUICK unless changed)."""
    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():
        flights = hub()

    def use(link_policy: LinkPolicy) -> None:
        monkeypatch.setitem(flights.runner_options, "link_policy", link_policy)

    use(QUICK)
    return use


@contextmanager
def vehicle_behind_proxy(
    env, plan_id: int, *, speedup: float = 30, camera: bool = False
) -> Iterator[tuple]:
    """Our simulator at the plan's home, reached through a TCP proxy the test can cut; with
    ``camera`` it triggers its camera (CAMERA_FEEDBACK for every photo)."""
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict
    from simulator import Sitl

    with env.storage().session() as session:
        mission = plan_from_dict(session.get(RoutePlan, plan_id).missions[0])
    with (
        Sitl(
            home=mission.home,
            speedup=speedup,
            params={"RTL_LOIT_TIME": 0, **({"CAM1_TYPE": 1} if camera else {})},
        ) as sitl,
        LossyRelay(sitl.connection_string) as proxy,
    ):
        yield sitl, proxy


def status(env, sid: int) -> dict:
    return env.client().get(f"/api/v1/flight-sessions/{sid}", headers=env.headers("pilot")).json


def wait_for(env, sid: int, predicate, what: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        data = status(env, sid)
        if predicate(data):
            return data
        if data["state"] in ("failed", "cancelled", "done") or time.monotonic() > deadline:
            raise AssertionError(f"session {sid}: no {what}; {data['state']} {data['error']}")
        time.sleep(0.05)


def wait_state(env, sid: int, *states: str, timeout: float = 30.0) -> dict:
    return wait_for(env, sid, lambda d: d["state"] in states, "/".join(states), timeout)


def start(env, plan_id: int, **body):
    return env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "sortie": 1, **body},
        headers=env.headers("pilot"),
    )


def command(env, sid: int, verb: str):
    return env.client().post(
        f"/api/v1/flight-sessions/{sid}/commands",
        json={"command": verb},
        headers=env.headers("pilot"),
    )


def events(env, sid: int) -> list[tuple[str, dict]]:
    response = env.client().get(
        f"/api/v1/flight-sessions/{sid}/events", headers=env.headers("pilot")
    )
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def messages(env, sid: int) -> list[str]:
    return [d["text"] for k, d in events(env, sid) if k == "message"]


def fly_to_first_waypoint(env, sid: int) -> dict:
    wait_state(env, sid, "ready")
    assert command(env, sid, "arm").status_code == 200
    assert command(env, sid, "start").status_code == 200
    return wait_for(env, sid, lambda d: d["telemetry"]["reached"] >= 1, "first waypoint")


@pytest.mark.slow
def test_a_dropped_tcp_link_mid_flight_is_ridden_out_and_the_flight_lands(
    env, plan_id, policy
) -> None:
    with vehicle_behind_proxy(env, plan_id, speedup=20) as (sitl, proxy):
        started = start(env, plan_id, connection=proxy.url)
        assert started.status_code == 201, started.json
        sid = started.json["id"]
        flying = fly_to_first_waypoint(env, sid)
        assert flying["state"] == "mission"

        proxy.disconnect()  # as the radio bridge going down: the connection closes
        lost = wait_for(env, sid, lambda d: d["telemetry"]["stale"], "stale telemetry", 5)
        assert lost["state"] == "mission" and lost["error"] is None  # alive, still flying
        refused = command(env, sid, "arm")
        assert refused.status_code == 409 and "link lost, retrying" in refused.json["error"]
        seq = sitl.snapshot().current_seq
        deadline = time.monotonic() + 10
        while sitl.snapshot().current_seq < seq + 2:  # it flies on, unheard, past waypoints
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert status(env, sid)["state"] == "mission"

        proxy.listen()
        back = wait_for(env, sid, lambda d: not d["telemetry"]["stale"], "link back", 10)
        assert back["state"] == "mission"
        done = wait_state(env, sid, "done", timeout=90)
    assert done["result"]["landed"] and done["result"]["all_reached"], done["result"]
    texts = messages(env, sid)
    lost_at = next(i for i, t in enumerate(texts) if t.startswith("link lost: tcp:"))
    reconnected = next(i for i, t in enumerate(texts) if t.startswith("reconnected to tcp:"))
    assert lost_at < reconnected < texts.index("link back: heartbeats again")
    assert "the vehicle closed the connection" in texts[lost_at]
    links = [d["status"] for k, d in events(env, sid) if k == "link"]
    assert links == ["reconnecting", "lost", "ok"]
    assert proxy.accepted == 2


@pytest.mark.slow
def test_photos_taken_while_the_link_was_down_are_counted_live_and_in_the_summary(
    env, plan_id, policy
) -> None:
    with vehicle_behind_proxy(env, plan_id, speedup=20, camera=True) as (sitl, proxy):
        sid = start(env, plan_id, connection=proxy.url).json["id"]
        fly_to_first_waypoint(env, sid)
        wait_for(env, sid, lambda d: d["telemetry"]["photos"] >= 1, "a photo reported")
        proxy.disconnect()
        wait_for(env, sid, lambda d: d["telemetry"]["stale"], "stale telemetry", 5)
        seq = sitl.snapshot().current_seq
        deadline = time.monotonic() + 10
        while sitl.snapshot().current_seq < seq + 2:  # it flies on, unheard, taking photos
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proxy.listen()
        live = wait_for(
            env, sid, lambda d: d["telemetry"]["photos_unreported"] > 0, "unreported photos", 20
        )
        telemetry = live["telemetry"]
        assert telemetry["photos_taken"] == telemetry["photos"] + telemetry["photos_unreported"]
        done = wait_state(env, sid, "done", timeout=90)
    result = done["result"]
    assert result["photos_unreported"] > 0
    assert result["photos_taken"] == result["photos"] + result["photos_unreported"]
    state = [d for k, d in events(env, sid) if k == "state" and d["state"] == "done"][-1]
    assert state["summary"]["photos_taken"] == result["photos_taken"]  # the live page's summary

    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    page = client.get(f"/flights/{sid}").get_data(as_text=True)
    summary = page.split('<section id="flight-summary"', 1)[1].split("</section>", 1)[0]
    assert "hidden" not in summary.split(">", 1)[0]
    assert "Photos taken" in summary and "Not reported over the link" in summary
    assert f'id="s-photos-taken">{result["photos_taken"]}</dd>' in summary
    assert f'id="s-photos-unreported">{result["photos_unreported"]}</dd>' in summary
    assert f'id="s-waypoints">{result["reached"]} / {result["waypoints"]}</dd>' in summary


@pytest.mark.slow
def test_rtl_during_link_loss_is_queued_and_flown_when_the_link_is_back(
    env, plan_id, policy
) -> None:
    with vehicle_behind_proxy(env, plan_id, speedup=20) as (sitl, proxy):
        sid = start(env, plan_id, connection=proxy.url).json["id"]
        fly_to_first_waypoint(env, sid)
        proxy.disconnect()
        wait_for(env, sid, lambda d: d["telemetry"]["stale"], "stale telemetry", 5)
        rtl = command(env, sid, "rtl")
        assert rtl.status_code == 202 and rtl.json["queued"] is True, rtl.json
        assert rtl.json["message"].startswith("rtl queued: link lost, retrying")
        time.sleep(0.3)
        assert sitl.snapshot().mode == "AUTO"  # nothing reached the vehicle yet
        assert status(env, sid)["state"] == "mission"

        proxy.listen()
        returning = wait_state(env, sid, "returning", timeout=10)
        assert returning["telemetry"]["stale"] is False
        assert sitl.snapshot().mode == "RTL"
        done = wait_state(env, sid, "done", timeout=90)
    assert done["result"]["landed"] and not done["result"]["all_reached"]
    texts = messages(env, sid)
    assert texts.index("link back: heartbeats again") < texts.index("returning to launch (RTL)")


def test_a_second_session_on_the_same_vehicle_is_refused(env, plan_id, policy) -> None:
    with vehicle_behind_proxy(env, plan_id) as (_sitl, proxy):
        first = start(env, plan_id, connection=proxy.url)
        assert first.status_code == 201
        sid = first.json["id"]
        wait_state(env, sid, "preflight", "ready")
        again = start(env, plan_id, connection=f"TCP:localhost:{proxy.port}")  # same vehicle
        assert again.status_code == 409
        assert again.json["error"].startswith(
            f"flight session {sid} is already connected to {proxy.url}"
        )
        assert command(env, sid, "cancel").status_code == 200
        wait_state(env, sid, "cancelled")
        after = start(env, plan_id, connection=proxy.url)  # the vehicle is free again
        assert after.status_code == 201
        wait_state(env, after.json["id"], "preflight", "ready")
        assert command(env, after.json["id"], "cancel").status_code == 200
        wait_state(env, after.json["id"], "cancelled")


def test_one_vehicle_reached_through_two_addresses_is_flown_by_one_session(
    env, plan_id, policy
) -> None:
    with vehicle_behind_proxy(env, plan_id) as (sitl, proxy):
        sid = start(env, plan_id, connection=proxy.url).json["id"]
        wait_state(env, sid, "preflight", "ready")
        direct = start(env, plan_id, connection=sitl.connection_string)  # another address
        assert direct.status_code == 201  # the address alone cannot tell: the board serial does
        failed = wait_state(env, direct.json["id"], "failed")
        assert failed["error"].startswith(f"flight session {sid} already flies this vehicle")
        assert proxy.url in failed["error"]
        assert status(env, sid)["state"] in ("preflight", "ready")  # the first one flies on
        assert command(env, sid, "cancel").status_code == 200
        wait_state(env, sid, "cancelled")
    with vehicle_behind_proxy(env, plan_id) as (_sitl, proxy):  # another vehicle, same address
        other = start(env, plan_id, connection=proxy.url).json["id"]
        wait_state(env, other, "preflight", "ready")
        assert command(env, other, "cancel").status_code == 200
        wait_state(env, other, "cancelled")


def test_a_link_that_never_comes_back_ends_the_session_clearly(env, plan_id, policy) -> None:
    policy(LinkPolicy(lost_after_s=0.5, retry_first_s=0.2, retry_max_s=0.4, give_up_after_s=2.0))
    with vehicle_behind_proxy(env, plan_id) as (_sitl, proxy):
        sid = start(env, plan_id, connection=proxy.url).json["id"]
        wait_state(env, sid, "ready")
        proxy.disconnect()
        lost = wait_for(env, sid, lambda d: d["telemetry"]["stale"], "stale telemetry", 5)
        assert lost["state"] == "ready"
        failed = wait_state(env, sid, "failed", timeout=10)
    assert failed["error"].startswith("no link to the vehicle for 2 s: gave up reconnecting")
    assert command(env, sid, "rtl").status_code == 409


@pytest.mark.slow
def test_pause_holds_position_and_resume_finishes_the_mission(env, plan_id) -> None:
    sid = start(env, plan_id, simulate=True, speedup=20).json["id"]
    wait_state(env, sid, "ready")
    assert command(env, sid, "pause").status_code == 409  # not armed
    assert command(env, sid, "arm").status_code == 200
    not_paused = command(env, sid, "resume")
    assert not_paused.status_code == 409
    assert not_paused.json["error"] == "resume: not paused: resume continues a paused mission"
    assert command(env, sid, "start").status_code == 200
    wait_for(env, sid, lambda d: d["telemetry"]["reached"] >= 1, "first waypoint")

    paused = command(env, sid, "pause")
    assert paused.status_code == 200 and paused.json["message"].startswith("paused: holding")
    held = wait_for(env, sid, lambda d: d["telemetry"]["speed_mps"] < 0.3, "a stop", 10)
    assert held["state"] == "paused" and held["telemetry"]["mode"] == "BRAKE"
    samples = []
    for _ in range(20):  # 1 s here is 20 s for the vehicle
        samples.append(status(env, sid)["telemetry"])
        time.sleep(0.05)
    assert max(t["speed_mps"] for t in samples) < 0.5
    drift_m = max(
        math.hypot(t["lat"] - held["telemetry"]["lat"],
                   (t["lon"] - held["telemetry"]["lon"]) * math.cos(math.radians(t["lat"])))
        * 111_320
        for t in samples
    )  # fmt: skip
    assert drift_m < 2.0
    assert {t["reached"] for t in samples} == {held["telemetry"]["reached"]}

    resumed = command(env, sid, "resume")
    assert resumed.status_code == 200 and resumed.json["message"].startswith("mission resumed")
    assert status(env, sid)["state"] == "mission"
    done = wait_state(env, sid, "done", timeout=90)
    assert done["result"]["landed"] and done["result"]["all_reached"], done["result"]


def test_link_policy_backs_off_and_checks_its_numbers() -> None:
    policy = LinkPolicy(retry_first_s=0.5, retry_max_s=5.0)
    assert [policy.retry_delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="retry_first_s must be positive"):
        LinkPolicy(retry_first_s=0)
    with pytest.raises(ValueError, match="give_up_after_s must exceed lost_after_s"):
        LinkPolicy(lost_after_s=5.0, give_up_after_s=3.0)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("tcp:127.0.0.1:5760", "TCP:localhost:5760", True),
        ("tcp:127.0.0.1:5760", "tcp:127.0.0.1:5770", False),
        ("udp:0.0.0.0:14550", "udpin:127.0.0.1:14550", True),
        ("udpin:0.0.0.0:14550", "udpout:127.0.0.1:14550", False),
        ("/dev/ttyUSB0:57600", "/dev/ttyUSB0:115200", True),
        ("COM3", "com3:57600", True),
    ],
)
def test_connection_key_names_the_vehicle(a: str, b: str, same: bool) -> None:
    assert (connection_key(a) == connection_key(b)) is same


@pytest.mark.slow
def test_the_flight_page_through_a_lost_link_to_the_end(live, page) -> None:
    env, base = live
    add_grids(env, ("LB-S", SMALL))
    plan = saved_plan(env, "LB-S", "browser link loss")
    with vehicle_behind_proxy(env, plan, speedup=20, camera=True) as (sitl, proxy):
        sid = start(env, plan, connection=proxy.url).json["id"]
        sign_in(page, base, "pilot")
        page.goto(f"{base}/flights/{sid}")
        page.wait_for_selector("#flight-state[data-state='ready']", timeout=30000)
        page.on("dialog", lambda d: d.accept())
        page.click("#cmd-arm")
        page.wait_for_selector("#flight-state[data-state='airborne']")
        page.click("#cmd-start")
        page.wait_for_function("Number(document.querySelector('#progress-text').dataset.reached)")
        page.wait_for_function("Number(document.querySelector('#t-photos').textContent) > 0")
        assert page.is_hidden("#link-status") and page.is_hidden("#g-photos-unreported")

        proxy.disconnect()
        page.wait_for_selector("#link-status", state="visible", timeout=5000)
        assert "stale" in page.get_attribute("#gauges", "class")
        assert page.get_attribute("#flight-state", "data-state") == "mission"
        assert page.is_enabled("#cmd-rtl") and page.is_enabled("#cmd-pause")
        assert page.is_disabled("#cmd-cancel")  # in the air: land or RTL, never cancel
        page.screenshot(path=str(ARTIFACTS / "pilot_07_link_lost.png"))
        seq = sitl.snapshot().current_seq
        deadline = time.monotonic() + 10
        while sitl.snapshot().current_seq < seq + 2:  # it flies on, unheard, taking photos
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proxy.listen()
        page.wait_for_selector("#link-status", state="hidden", timeout=10000)
        assert "stale" not in page.get_attribute("#gauges", "class")
        # the photos taken meanwhile: counted once later photos are reported
        page.wait_for_selector("#g-photos-unreported", state="visible", timeout=20000)
        page.wait_for_selector("#flight-state[data-state='done']", timeout=90000)

    summary = page.locator("#flight-summary")
    assert summary.is_visible()
    taken, unreported = page.inner_text("#s-photos-taken"), page.inner_text("#s-photos-unreported")
    assert int(unreported) > 0 and unreported == page.inner_text("#t-photos-unreported")
    assert taken == page.inner_text("#t-photos") and int(taken) > int(unreported)

    buttons = page.locator("#commands button")
    assert buttons.count() == 7
    assert all(buttons.nth(k).is_disabled() for k in range(7))
    vehicle_texts = page.locator("#messages li.vehicle").all_inner_texts()
    # the vehicle's texts, marked as its own and reworded in the page's language
    lang = "zh" if page.get_attribute("html", "lang").startswith("zh") else "en"
    with env.app.test_request_context(), force_locale(lang):
        armed = str(vehicle_message("Arming motors"))
        landed = str(vehicle_message("Disarming motors: landed"))
    assert any(t.endswith(" " + armed) for t in vehicle_texts), vehicle_texts
    assert any(t.endswith(" " + landed) for t in vehicle_texts), vehicle_texts
    assert not any("Arming motors" in t for t in vehicle_texts), vehicle_texts
    listed = page.locator("#messages li").all_inner_texts()
    trail = int(page.get_attribute("#flight-map", "data-trail"))
    assert trail > 10

    page.reload()  # the history comes back from the session's event log
    page.wait_for_function(f"document.querySelectorAll('#messages li').length >= {len(listed)}")
    page.wait_for_function(
        f"Number(document.querySelector('#flight-map').dataset.trail) >= {trail}"
    )
    assert page.locator("#messages li").all_inner_texts() == listed  # same texts, same times
    assert all(buttons.nth(k).is_disabled() for k in range(7))
    assert page.is_hidden("#link-status")


@pytest.mark.slow
def test_a_session_restarted_mid_flight_watches_the_vehicle_and_uploads_nothing(
    env, plan_id, policy
) -> None:
    """The server went down mid-flight: a new session finds the vehicle armed. With this plan
    on board it takes the flight over (nothing uploaded to a flying vehicle) and sees it land;
    with another plan it refuses."""
    from groundstation.blueprints.flights import hub

    body = {"grids": ["LL-S"], "profile": "patrol", "altitude_m": 60, "name": "other"}
    other = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot")).json["id"]
    with vehicle_behind_proxy(env, plan_id, speedup=20) as (sitl, proxy):
        first = start(env, plan_id, connection=proxy.url).json["id"]
        fly_to_first_waypoint(env, first)
        with env.app.test_request_context():
            hub().get(first).stop()  # as a server shutdown: the vehicle flies on
        assert sitl.snapshot().armed

        refused = start(env, other, connection=proxy.url).json["id"]
        failed = wait_state(env, refused, "failed")
        assert "the vehicle is armed and holds another mission" in failed["error"]
        assert sitl.snapshot().mode == "AUTO"  # untouched

        second = start(env, plan_id, connection=proxy.url).json["id"]
        done = wait_state(env, second, "done", timeout=90)
    assert done["result"]["landed"]
    texts = messages(env, second)
    assert "the vehicle is already flying this mission: watching it, nothing uploaded" in texts
    states = [d["state"] for k, d in events(env, second) if k == "state"]
    assert "verifying" in states and "uploading" not in states
