"""A web flight session checks the battery as ``gridpatrol fly`` does: from the vehicle's own
BATT_CAPACITY and failsafe levels before arming, and again with the current it draws once it has
taken off, before AUTO. Mode changes nobody on the page asked for are told for what they are: the
vehicle's failsafe, with its reason, or another controller's (an RC switch, another ground
station). A link lost for good is given up after the plan's time plus a full battery's."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from conftest import flight_env, saved_plan
from test_flight_link_loss import (
    command,
    events,
    fly_to_first_waypoint,
    start,
    wait_for,
    wait_state,
)

pytestmark = pytest.mark.slow

PORTS = iter(range(16040, 16060))  # this helper's range


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("battery_web"), "BW-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "BW-S", "battery web")


def _mission(env, plan_id: int):
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict

    with env.storage().session() as session:
        return plan_from_dict(session.get(RoutePlan, plan_id).missions[0])


def _sitl(env, plan_id: int, **params):
    """Our simulator at the plan's home on one of this helper's ports, with ``params``."""
    from simulator import Sitl

    url = f"tcp:127.0.0.1:{next(PORTS)}"
    return Sitl(home=_mission(env, plan_id).home, speedup=20, listen=url, params=params), url


def _battery(data: dict) -> dict:
    return next(c for c in data["checks"] if c["name"] == "battery")


def _said(env, sid: int, *, zh: bool = False) -> list[dict]:
    """The session's messages, read in Chinese with ``zh``."""
    if not zh:
        return [data for kind, data in events(env, sid) if kind == "message"]
    headers = {**env.headers("pilot"), "Accept-Language": "zh-CN,zh;q=0.9"}
    body = env.client().get(f"/api/v1/flight-sessions/{sid}/events", headers=headers)
    blocks = [
        dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        for block in body.get_data(as_text=True).split("\n\n")
    ]
    return [json.loads(b["data"]) for b in blocks if b.get("event") == "message"]


def _log_events(env, sid: int) -> list[dict]:
    path = env.data_dir / "logs" / f"session_{sid}" / "flight.json"
    return json.loads(path.read_text())["events"]


def test_a_pack_too_small_for_the_plan_fails_the_checklist_in_mah(env, plan_id) -> None:
    """1000 mAh whose low-battery failsafe acts at 980 mAh left: the plan cannot be flown above
    it, so the checklist fails naming the vehicle's own numbers and ARM is refused."""
    sitl, url = _sitl(env, plan_id, BATT_CAPACITY=1000, BATT_LOW_MAH=980)
    with sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        data = wait_for(env, sid, lambda d: bool(d["checks"]), "checks")
        data = wait_for(env, sid, lambda d: "mAh" in _battery(d)["detail"], "battery in mAh")
        battery = _battery(data)
        assert not battery["ok"]
        assert battery["detail"].endswith("and 980 mAh reserve (BATT_LOW_MAH 980 mAh) of 1000 mAh")
        assert data["state"] == "preflight"
        refused = command(env, sid, "arm")
        assert refused.status_code == 409
        assert refused.json["error"].startswith(
            "arm: pre-flight checks not passed: battery level ("
        )
        assert "of 1000 mAh" in refused.json["error"]
        assert not sitl.snapshot().armed
        assert command(env, sid, "cancel").status_code == 200
        wait_state(env, sid, "cancelled")


def test_an_adequate_pack_passes_and_is_checked_again_aloft(env, plan_id) -> None:
    """Our SITL's 16000 mAh: the checklist passes on the assumed current; after takeoff the
    current measured is used before AUTO, said on the page and in flight.json."""
    sid = start(env, plan_id, simulate=True, speedup=30).json["id"]
    ready = wait_state(env, sid, "ready")
    battery = _battery(ready)
    assert battery["ok"] and battery["detail"].endswith("of 16000 mAh")
    assert "(assumed: 1.5C" in battery["detail"]
    fly_to_first_waypoint(env, sid)
    assert command(env, sid, "rtl").status_code == 200
    wait_state(env, sid, "done")
    aloft = [m["text"] for m in _said(env, sid) if m["text"].startswith("battery after takeoff: ")]
    assert len(aloft) == 1 and "(measured in flight)" in aloft[0], aloft
    assert aloft[0].endswith("of 16000 mAh")
    logged = [e["text"] for e in _log_events(env, sid) if e["kind"] == "preflight"]
    assert any(t.startswith("battery after takeoff: ") for t in logged)


def test_a_mission_the_pack_cannot_fly_is_not_started_after_takeoff(env, plan_id) -> None:
    """2500 mAh, low failsafe at 1900 mAh left: fine at the assumed 3.75 A, but the 20-odd A
    measured aloft would end the mission in the failsafe. AUTO is never started; RTL."""
    sitl, url = _sitl(env, plan_id, BATT_CAPACITY=2500, BATT_LOW_MAH=1900)
    with sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        assert _battery(wait_state(env, sid, "ready"))["ok"]
        assert command(env, sid, "arm").status_code == 200
        started = command(env, sid, "start")
        assert started.status_code == 200, started.json
        done = wait_state(env, sid, "done", "failed", timeout=60)
        assert sitl.autopilot.current_seq <= 1  # the survey was never flown
    said = _said(env, sid)
    refused = [m for m in said if m["text"].startswith("start: battery after takeoff: ")]
    assert len(refused) == 1, [m["text"] for m in said]
    assert refused[0]["level"] == "error"
    text = refused[0]["text"]
    assert "(measured in flight) and 1900 mAh reserve (BATT_LOW_MAH 1900 mAh) of 2500 mAh" in text
    assert text.endswith("; the mission was not started; RTL commanded")
    assert done["state"] == "done" and done["result"]["reached"] == 0
    assert not any(m["text"] == "mission started (AUTO)" for m in said)


def test_an_rc_mode_change_is_another_controllers_not_a_failsafe(env, plan_id) -> None:
    from missions.link import connect

    sitl, url = _sitl(env, plan_id)
    with sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        fly_to_first_waypoint(env, sid)
        with connect(url, timeout=10) as rc:  # as the RC's mode switch would
            rc.set_mode("LOITER")
        paused = wait_state(env, sid, "paused")
        assert paused["telemetry"]["mode"] == "LOITER"
        assert command(env, sid, "rtl").status_code == 200
        wait_state(env, sid, "done")
    changes = [m for m in _said(env, sid) if m.get("kind")]
    other = "the mode was changed to LOITER by another controller (RC or ground station)"
    # said once, at the RC's switch: the pilot's own RTL after it is no one else's
    assert [(m["kind"], m["mode"], m["text"], m["level"]) for m in changes] == [
        ("mode_changed_by_other", "LOITER", other, "warning")
    ]
    kinds = [e["kind"] for e in _log_events(env, sid)]
    assert "mode_changed_by_other" in kinds and "failsafe" not in kinds


def test_a_failsafe_is_told_as_the_vehicles_failsafe_with_its_reason(env, plan_id) -> None:
    sitl, url = _sitl(env, plan_id)
    with sitl:
        sid = start(env, plan_id, connection=url).json["id"]
        fly_to_first_waypoint(env, sid)
        sitl.params.set("BATT_LOW_MAH", 15900)  # below it at once: the low-battery failsafe
        wait_state(env, sid, "returning")
        done = wait_state(env, sid, "done", timeout=60)
    changes = [m for m in _said(env, sid) if m.get("kind")]
    assert [(m["kind"], m["mode"]) for m in changes] == [("failsafe", "RTL")]
    assert changes[0]["text"].startswith("vehicle switched to RTL (Battery 1 is low")
    assert done["outcome"] == "returned_early"
    logged = [
        e for e in _log_events(env, sid) if e["kind"] in ("failsafe", "mode_changed_by_other")
    ]
    assert [e["kind"] for e in logged] == ["failsafe"]
    # a Chinese reader gets the vehicle's reason in Chinese; flight.json keeps the English
    zh = [m for m in _said(env, sid, zh=True) if m.get("kind")]
    assert re.fullmatch(
        r"飞行器切换到 RTL（(.+；)?电池 1 电量低：[\d.]+ V，已用 \d+ mAh）", zh[0]["text"]
    )
    assert logged[0]["text"] == changes[0]["text"]


def test_a_lost_link_is_given_up_after_the_plan_and_a_full_battery(env, plan_id) -> None:
    """No limit in the policy: the plan's expected time plus a full battery's endurance (by the
    vehicle's BATT_CAPACITY, an endurance given, else the documented default), at the pace of
    the vehicle's clock."""
    from groundstation.errors import ValidationError
    from groundstation.flights import FlightRequest, FlightRunner, LinkPolicy
    from missions.link.battery import BatteryParams
    from missions.link.flight import DEFAULT_ENDURANCE_S, estimate_mission

    mission = _mission(env, plan_id)
    planned = estimate_mission(mission).duration_s
    still = SimpleNamespace(flight_current_a=None, clock_rate=None)

    def runner(endurance_s=None, battery=None) -> FlightRunner:
        request = FlightRequest(mission=mission, name="x", simulate=True, endurance_s=endurance_s)
        made = FlightRunner(0, request, storage=env.storage(), queue_=None, data_dir=env.data_dir)
        made.battery = battery
        return made

    pack = BatteryParams(capacity_mah=16000)
    assert runner(battery=pack)._give_up_after_s(still) == pytest.approx(planned + 2400)  # 1.5C
    measured = SimpleNamespace(flight_current_a=32.0, clock_rate=10.0)
    assert runner(battery=pack)._give_up_after_s(measured) == pytest.approx((planned + 1800) / 10)
    assert runner(600.0, pack)._give_up_after_s(still) == pytest.approx(planned + 600)
    assert runner()._give_up_after_s(still) == pytest.approx(planned + DEFAULT_ENDURANCE_S)
    fixed = runner(battery=pack)
    fixed.link_policy = LinkPolicy(give_up_after_s=90.0)
    assert fixed._give_up_after_s(still) == 90.0
    with pytest.raises(ValidationError, match="battery endurance must be a positive number"):
        runner(-5.0)


@pytest.mark.parametrize("value", ["abc", 0, 0.5, 500, "nan", True])
def test_an_unusable_endurance_is_refused_before_any_session(env, plan_id, value) -> None:
    from groundstation.models import FlightSession

    with env.storage().session() as session:
        before = session.query(FlightSession).count()
    refused = start(env, plan_id, simulate=True, endurance_min=value)
    assert refused.status_code == 400
    assert refused.json["error"].startswith(
        "Battery endurance (endurance_min) must be a number of minutes from 1 to"
    )
    with env.storage().session() as session:
        assert session.query(FlightSession).count() == before


def test_an_endurance_given_on_the_page_overrides_the_vehicles_assumed_current(
    env, plan_id
) -> None:
    """As ``fly --endurance``: the pilot's 30 min for a full pack replaces the assumed 1.5C; an
    empty field (the form sends "") leaves the vehicle's BATT_CAPACITY and current to decide."""
    sid = start(env, plan_id, simulate=True, speedup=30, endurance_min="30").json["id"]
    battery = _battery(wait_state(env, sid, "ready"))
    assert "(a full battery in the 1800 s endurance given)" in battery["detail"]
    assert command(env, sid, "cancel").status_code == 200
    wait_state(env, sid, "cancelled")
    sid = start(env, plan_id, simulate=True, speedup=30, endurance_min="").json["id"]
    assert "(assumed: 1.5C" in _battery(wait_state(env, sid, "ready"))["detail"]
    assert command(env, sid, "cancel").status_code == 200
    wait_state(env, sid, "cancelled")
