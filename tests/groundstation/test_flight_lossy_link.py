"""Flight sessions over a lossy radio link (the connection stays open, frames are lost): RTL
pressed early in a dropout is kept until the vehicle takes it, whatever the link's timing; the
page hears of the dropout even while a command was being retried; cancel stops an upload over a
bad link at once; and a GCS failsafe the vehicle flew out of hearing is reported when the link
is back, even when the vehicle had landed by then."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import flight_env, saved_plan
from test_flight_link_loss import (
    QUICK,
    command,
    events,
    fly_to_first_waypoint,
    messages,
    start,
    status,
    wait_for,
    wait_state,
)

from tests.lossy_relay import LossyRelay


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("lossy_link"), "LY-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "LY-S", "lossy link")


@pytest.fixture(autouse=True)
def quick_links(env, monkeypatch) -> None:
    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():
        monkeypatch.setitem(hub().runner_options, "link_policy", QUICK)


@contextmanager
def vehicle_behind_relay(
    env, plan_id: int, *, speedup: float = 20, drop: float = 0.0, **params: float
) -> Iterator[tuple]:
    """Our simulator at the plan's home, reached through a relay the test can make lossy."""
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict
    from simulator import Sitl

    with env.storage().session() as session:
        mission = plan_from_dict(session.get(RoutePlan, plan_id).missions[0])
    with (
        Sitl(home=mission.home, speedup=speedup, params={"RTL_LOIT_TIME": 0, **params}) as sitl,
        LossyRelay(sitl.connection_string, drop=drop) as relay,
    ):
        yield sitl, relay


def flight_json(env, sid: int) -> dict:
    return json.loads((env.data_dir / "logs" / f"session_{sid}" / "flight.json").read_text())


@pytest.mark.slow
def test_rtl_pressed_early_in_a_dropout_is_kept_until_the_vehicle_takes_it(env, plan_id) -> None:
    """QA: RTL 3 s into a 10 s cut was refused (409, no COMMAND_ACK after 5 tries) when the link
    came back during the last retry, and the vehicle flew its mission on; the page never said
    the link was lost."""
    with vehicle_behind_relay(env, plan_id, speedup=8) as (sitl, relay):  # outlasts the retries
        sid = start(env, plan_id, connection=relay.url).json["id"]
        fly_to_first_waypoint(env, sid)
        # back in the middle of the command's retries (5 x 1.5 s): after its last resend
        relay.cut(4.0)
        began = time.monotonic()
        rtl = command(env, sid, "rtl")  # before the session noticed the loss (1 s)
        assert rtl.status_code == 202, rtl.json
        assert rtl.json["queued"] is True
        assert rtl.json["message"].startswith("rtl queued: no answer from the vehicle")
        assert time.monotonic() - began < 10
        returning = wait_state(env, sid, "returning", timeout=20)
        assert sitl.snapshot().mode == "RTL"
        assert returning["telemetry"]["stale"] is False
        done = wait_state(env, sid, "done", timeout=90)
    assert done["result"]["landed"], done["result"]
    texts = messages(env, sid)
    lost = next(i for i, t in enumerate(texts) if t.startswith("link lost: no heartbeat for"))
    assert (
        lost < texts.index("link back: heartbeats again") < texts.index("returning to launch (RTL)")
    )
    assert [d["status"] for k, d in events(env, sid) if k == "link"][:2] == ["lost", "ok"]
    kinds = [e["kind"] for e in flight_json(env, sid)["events"] if e.get("command") == "rtl"]
    assert kinds == ["command_queued", "command"]


@pytest.mark.slow
def test_rtl_while_the_link_stays_silent_is_queued_and_flown_when_it_is_back(env, plan_id) -> None:
    with vehicle_behind_relay(env, plan_id) as (sitl, relay):
        sid = start(env, plan_id, connection=relay.url).json["id"]
        fly_to_first_waypoint(env, sid)
        relay.cut()
        wait_for(env, sid, lambda d: d["telemetry"]["stale"], "stale telemetry", 5)
        rtl = command(env, sid, "rtl")
        assert rtl.status_code == 202, rtl.json
        assert rtl.json["message"].startswith("rtl queued: link lost, retrying")
        time.sleep(0.5)
        assert sitl.snapshot().mode == "AUTO"  # nothing reached the vehicle
        relay.resume()
        wait_state(env, sid, "returning", timeout=20)
        assert sitl.snapshot().mode == "RTL"
        assert command(env, sid, "land").status_code == 200  # the pilot goes on from there
        wait_state(env, sid, "done", timeout=60)


@pytest.mark.slow
def test_cancel_during_an_upload_over_a_bad_link_stops_it_at_once(
    env, plan_id, monkeypatch
) -> None:
    """QA: cancel during the upload over a 50 % drop link answered 504 after 30 s, the upload
    went on and the session ended failed, never cancelled."""
    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():  # the first position may take a while to come through
        monkeypatch.setitem(hub().runner_options, "connect_timeout_s", 20.0)
    with vehicle_behind_relay(env, plan_id, drop=0.5) as (_sitl, relay):
        sid = start(env, plan_id, connection=relay.url).json["id"]
        wait_state(env, sid, "uploading", timeout=30)
        began = time.monotonic()
        cancelled = command(env, sid, "cancel")
        took = time.monotonic() - began
        assert cancelled.status_code == 200, cancelled.json
        assert took < 5, took
        assert cancelled.json["message"] == (
            "session cancelled during the upload: nothing was flown; the vehicle may hold part "
            "of the upload (upload again before flying it)"
        )
        ended = wait_state(env, sid, "cancelled", timeout=5)
    assert ended["error"] is None
    states = [d["state"] for k, d in events(env, sid) if k == "state"]
    assert states[-2:] == ["uploading", "cancelled"]
    assert command(env, sid, "cancel").status_code == 409  # over


@pytest.mark.slow
def test_a_gcs_failsafe_flown_out_of_hearing_is_reported_when_the_link_is_back(
    env, plan_id
) -> None:
    """QA: the vehicle's GCS failsafe RTL during a 12 s cut ended returned_early with no reason,
    no failsafe and no mode change: it had landed and disarmed before the link was back."""
    with vehicle_behind_relay(env, plan_id, speedup=30, FS_GCS_ENABLE=1) as (sitl, relay):
        sid = start(env, plan_id, connection=relay.url).json["id"]
        fly_to_first_waypoint(env, sid)
        relay.cut()
        deadline = time.monotonic() + 30
        while sitl.snapshot().mode != "RTL" or sitl.snapshot().armed:  # home and down, unheard
            assert time.monotonic() < deadline, sitl.snapshot()
            time.sleep(0.05)
        relay.resume()
        done = wait_state(env, sid, "done", timeout=30)
    said = "the vehicle switched to RTL while the link was lost (a failsafe, or another controller)"
    result = done["result"]
    assert done["outcome"] == "returned_early"
    assert result["mode_changes"] == [said]
    assert result["reason"] == said
    assert said in messages(env, sid)
    summary = flight_json(env, sid)["summary"]
    assert summary["mode_changes"] == [said] and summary["reason"] == said
    unheard = [e for e in flight_json(env, sid)["events"] if e["kind"] == "mode_changed_unheard"]
    assert [e["text"] for e in unheard] == [said]
    assert status(env, sid)["state"] == "done"
