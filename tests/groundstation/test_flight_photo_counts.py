"""What a flight session tells the pilot about photos: the live counts catch up as soon as the
link is back from a loss (not at the landing), and a simulated flight without a world raster
says it took no photos instead of asking for the SD card's."""

from __future__ import annotations

import pytest
from conftest import flight_env, saved_plan
from test_flight_link_loss import (
    QUICK,
    command,
    fly_to_first_waypoint,
    messages,
    start,
    status,
    vehicle_behind_proxy,
    wait_for,
    wait_state,
)

MAV_CMD_DO_DIGICAM_CONTROL = 203


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("photo_counts"), "PC-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "PC-S", "photo counts")


@pytest.fixture
def quick_links(env, monkeypatch) -> None:
    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():
        monkeypatch.setitem(hub().runner_options, "link_policy", QUICK)


def take_photos(url: str, count: int) -> None:
    """Trigger the vehicle's camera ``count`` times from another ground station."""
    from missions.link import connect

    with connect(url, timeout=10) as gcs:
        for _ in range(count):
            gcs.command(MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 1, step="take a photo")


def photos_taken(data: dict) -> int | None:
    """The live count of photos taken in a session's status (None before any telemetry)."""
    return (data["telemetry"] or {}).get("photos_taken")


def test_live_photo_counts_catch_up_when_the_link_is_back(env, plan_id, quick_links) -> None:
    """Photos taken while the link was down and followed by no other photo (the last strip,
    say) count at once when the link is back, not only after the landing."""
    with vehicle_behind_proxy(env, plan_id, speedup=5, camera=True) as (sitl, proxy):
        sid = start(env, plan_id, connection=proxy.url).json["id"]
        wait_state(env, sid, "preflight", "ready")
        take_photos(sitl.connection_string, 2)
        wait_for(env, sid, lambda d: photos_taken(d) == 2, "2 photos taken")

        proxy.disconnect()
        wait_for(env, sid, lambda d: d["telemetry"]["stale"], "stale telemetry", 5)
        take_photos(sitl.connection_string, 3)  # unheard by the session
        assert sitl.autopilot.photo_count == 5

        proxy.listen()
        back = wait_for(env, sid, lambda d: photos_taken(d) == 5, "5 photos taken", 15)
        assert back["state"] in ("preflight", "ready")  # still on the ground: no landing
        assert (back["telemetry"]["photos"], back["telemetry"]["photos_unreported"]) == (2, 3)
        assert command(env, sid, "cancel").status_code == 200
        wait_state(env, sid, "cancelled")


@pytest.mark.slow
def test_a_simulated_flight_without_a_world_says_it_took_no_photos(env, plan_id) -> None:
    sid = start(env, plan_id, simulate=True, speedup=30).json["id"]
    fly_to_first_waypoint(env, sid)
    assert command(env, sid, "rtl").status_code == 200
    done = wait_state(env, sid, "done", timeout=60)
    assert done["flight_id"] is None
    texts = messages(env, sid)
    assert not any("SD card" in t for t in texts), texts
    assert (
        "the simulator flew without a world raster: its camera triggers made no pictures, so "
        "there are no photos to classify (start a simulated flight with a world GeoTIFF to "
        "photograph one)"
    ) in texts
    assert status(env, sid)["state"] == "done"
