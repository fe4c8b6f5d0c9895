"""Flight sessions: a world raster that does not cover the plan is refused before any session
starts; a flown session's flight.json carries `gridpatrol fly`'s summary fields and the pilot's
commands and mode changes, and its page says the time flown against the plan's."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import flight_env, login, saved_plan
from flask_babel import force_locale
from test_flights_page import command, session, wait_state

from groundstation.flights import flight_time_label


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("flights-log"), "F-L") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "F-L", "log test")


def write_world(path: Path, bounds: tuple[float, float, float, float], crs: str = "EPSG:4326"):
    import rasterio
    from rasterio.transform import from_bounds

    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="GTiff", width=50, height=50, count=3, dtype="uint8", crs=crs,
        transform=from_bounds(*bounds, 50, 50),
    ) as ds:  # fmt: skip
        ds.write(np.full((3, 50, 50), 120, dtype=np.uint8))
    return path


def _count_sessions(env) -> int:
    return len(env.client().get("/api/v1/flight-sessions", headers=env.headers("pilot")).json)


@pytest.mark.parametrize(
    ("bounds", "crs"),
    [
        # North America in UTM zone 18N, as QA's rasterio sample: nowhere near the grid
        ((101985.0, 2611485.0, 339315.0, 2826915.0), "EPSG:32618"),
        # right next to the grid but covering only its south-west corner: part of the route off
        ((119.885, 32.395, 119.8905, 32.4005), "EPSG:4326"),
    ],
)
def test_a_world_that_does_not_cover_the_route_is_refused(env, plan_id, bounds, crs) -> None:
    world = write_world(env.data_dir / "worlds" / f"off-{crs[5:]}.tif", bounds, crs)
    before = _count_sessions(env)
    response = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "simulate": True, "world": str(world)},
        headers=env.headers("pilot"),
    )
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error.startswith(f"world {str(world)!r} does not cover this flight: ")
    assert "lie off the raster, which covers latitude " in error
    assert _count_sessions(env) == before  # nothing started


def test_the_raster_footprint_contains_points_by_longitude_and_latitude() -> None:
    from rasterio.transform import from_bounds

    from gis.raster import raster_footprint

    utm = raster_footprint(
        "EPSG:32651", from_bounds(200000, 3590000, 210000, 3600000, 10, 10), 10, 10
    )
    west, south, east, north = utm.bounds
    assert 119.8 < west < east < 120.0 and 32.4 < south < north < 32.6
    assert utm.contains((west + east) / 2, (south + north) / 2)
    assert not utm.contains(120.14, 32.51)  # Jiangyan lies east of the raster
    assert utm.outside([(west + 0.01, south + 0.01), (0.0, 0.0)]) == [(0.0, 0.0)]


def test_sitl_warns_in_one_line_when_home_is_off_the_world(tmp_path) -> None:
    from click.testing import CliRunner

    from groundstation.cli import cli

    world = write_world(
        tmp_path / "usa.tif", (101985.0, 2611485.0, 339315.0, 2826915.0), "EPSG:32618"
    )
    args = ["sitl", "--world", str(world), "--listen", "tcp:127.0.0.1:0", "--duration", "0",
            "--photos", str(tmp_path / "photos")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "outside the world raster" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: home 32.510000,120.140000 lies outside the world raster")
    assert "latitude 23.5" in lines[0] and "longitude -78.9" in lines[0]

    covered = write_world(tmp_path / "jy.tif", (120.13, 32.50, 120.15, 32.52))
    result = CliRunner().invoke(cli, [*args[:2], str(covered), *args[3:]])
    assert result.exit_code == 0 and "outside the world raster" not in result.stderr

    # QA: a world about 280 m wide beside home read "longitude 120.14 to 120.14"
    small = write_world(tmp_path / "small.tif", (120.1385, 32.5088, 120.1415, 32.5112))
    near = ["--home", "32.512,120.139,5"]
    result = CliRunner().invoke(cli, [*args[:2], str(small), *args[3:], *near])
    assert result.exit_code == 0, result.output
    assert (
        "warning: home 32.512000,120.139000 lies outside the world raster "
        f"{small} (latitude 32.508800 to 32.511200, longitude 120.138500 to 120.141500): "
    ) in result.stderr


@pytest.fixture(scope="module")
def far_home_plan_id(env) -> int:
    """A patrol plan over the grid flown from a home 200 m south of it. The grid's own centre
    lies within LANDED_AWAY_M (50 m) of most of its route, so where a LAND from there came down
    (away or not) depended on how far the vehicle flew while the test's requests were served."""
    body = {"grids": ["F-L"], "profile": "patrol", "altitude_m": 40, "name": "far home",
            "home": [119.8908, 32.3982]}  # fmt: skip
    response = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot"))
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_flight_json_keeps_the_summary_commands_and_mode_changes(env, far_home_plan_id) -> None:
    body = {"plan_id": far_home_plan_id, "simulate": True, "speedup": 20}
    sid = env.client().post("/api/v1/flight-sessions", json=body, headers=env.headers("pilot"))
    sid = sid.json["id"]
    wait_state(env, sid, {"ready"})
    assert command(env, sid, "arm").status_code == 200
    assert command(env, sid, "start").status_code == 200
    deadline = time.monotonic() + 60
    while session(env, sid)["state"] != "mission" or session(env, sid)["telemetry"]["reached"] < 2:
        assert time.monotonic() < deadline, session(env, sid)
        time.sleep(0.1)
    assert command(env, sid, "pause").status_code == 200
    assert command(env, sid, "pause").status_code == 409  # already paused: refused, and logged
    assert command(env, sid, "resume").status_code == 200
    assert command(env, sid, "land").status_code == 200
    done = wait_state(env, sid, {"done"}, timeout=90)

    document = json.loads((Path(done["log_dir"]) / "flight.json").read_text())
    summary = document["summary"]
    # LAND mid-grid comes down away from home: said as gridpatrol fly says it
    assert summary["outcome"] == "landed_away" and summary["landed"] is True
    assert [e["kind"] for e in document["events"]].count("landed_away") == 1
    assert summary["duration_s"] > 0 and summary["planned_s"] > 0
    assert summary["mode_changes"] == [] and summary["failsafes"] == []
    assert isinstance(summary["waypoints"], list) and summary["max_relative_alt_m"] > 30
    commands = [(e["kind"], e["command"]) for e in document["events"] if "command" in e]
    assert commands == [
        ("command", "arm"),
        ("command", "start"),
        ("command", "pause"),
        ("command_refused", "pause"),
        ("command", "resume"),
        ("command", "land"),
    ]
    modes = [e["text"] for e in document["events"] if e["kind"] == "mode"]
    assert {"GUIDED -> AUTO", "AUTO -> BRAKE", "BRAKE -> AUTO", "AUTO -> LAND"} <= set(modes)

    result = done["result"]
    assert result["duration_s"] == summary["duration_s"] and result["reached"] < result["waypoints"]
    assert done["flight_time"].endswith(f"(plan {_clock(summary['planned_s'])})")
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")  # the API answered in English: compare the page in English
    page = client.get(f"/flights/{sid}").get_data(as_text=True)
    assert f'<dd id="s-flight-time">{done["flight_time"]}</dd>' in page


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


def test_flight_time_label_says_flown_against_the_plan(env) -> None:
    with env.app.test_request_context(), force_locale("en"):
        assert str(flight_time_label({"duration_s": 192.4, "planned_s": 191.0})) == (
            "3:12 flown (plan 3:11)"
        )
        assert str(flight_time_label({"duration_wall_s": 9.6, "planned_s": 191.0})) == (
            "0:10 flown by our clock (plan 3:11)"
        )
        assert flight_time_label({"photos": 3}) is None  # stored before times were kept


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Arming motors", "Vehicle: arming motors"),
        ("Disarming motors: landed", "Vehicle: disarming motors: landed"),
        ("Disarming motors: rotor brake", "Vehicle: disarming motors: rotor brake"),
        ("Reached command #3", "Vehicle: reached mission item 3"),
        ("Mission Complete", "Vehicle: mission complete"),
        ("EKF3 IMU0 is using GPS", "Vehicle: EKF3 IMU0 is using GPS"),
        ("Battery 1 is low 10.45V used 3500 mAh", "Vehicle: battery 1 low: 10.45 V, 3500 mAh used"),
        ("GCS Failsafe Cleared", "Vehicle: ground station link failsafe cleared"),
        ("Fence Breached: circle", "Vehicle: geofence breached: circle"),
        ("Fence Breached: circle, altitude", "Vehicle: geofence breached: circle, altitude"),
        ("Fence breach cleared", "Vehicle: geofence breach cleared"),
        ("Manual recovery started", "Vehicle: geofence manual recovery started"),
        ("SmartRTL Unavailable, Trying RTL Mode", "Vehicle: SmartRTL unavailable: trying RTL"),
        (
            "SmartRTL Unavailable, Using Land Mode",
            "Vehicle: SmartRTL unavailable: landing (LAND)",
        ),
        ("Trying RTL Mode", "Vehicle: trying RTL"),
        ("Trying Land Mode", "Vehicle: trying LAND"),
        ("PreArm: Need 3D Fix", "Vehicle: pre-arm check: Need 3D Fix"),
        ("Frame: QUAD/X", "Vehicle: Frame: QUAD/X"),  # unknown: verbatim under the label
    ],
)
def test_vehicle_texts_are_labelled_and_known_ones_reworded(env, text, shown) -> None:
    from groundstation.vehicle_messages import known_text, vehicle_message

    with env.app.test_request_context(), force_locale("en"):
        assert str(vehicle_message(text)) == shown
    assert (known_text(text) is None) == text.startswith("Frame")


def test_a_failsafes_reasons_are_quoted_in_the_readers_language(env) -> None:
    """The page's failsafe sentence: known reasons translated, others verbatim; English readers
    (and flight.json, ``str()`` without a request) get the vehicle's own texts."""
    from groundstation.i18n import lazy_text
    from groundstation.vehicle_messages import vehicle_reasons
    from missions.link.flight import ModeChange

    change = ModeChange("LAND", ("Battery 1 is low 10.45V used 3500 mAh", "Frame: QUAD/X"))
    text = lazy_text(change.text_with(vehicle_reasons(change.reasons)))
    english = "vehicle switched to LAND (Battery 1 is low 10.45V used 3500 mAh; Frame: QUAD/X)"
    with env.app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert (
            str(text) == "飞行器切换到 LAND（电池 1 电量低：10.45 V，已用 3500 mAh；Frame: QUAD/X）"
        )
    with env.app.test_request_context(), force_locale("en"):
        assert str(text) == english
    assert str(text) == str(change.text) == english


def test_the_pages_vehicle_messages_are_labelled(env, plan_id) -> None:
    from test_flights_page import read_events

    body = {"plan_id": plan_id, "simulate": True, "speedup": 20}
    sid = env.client().post("/api/v1/flight-sessions", json=body, headers=env.headers("pilot"))
    sid = sid.json["id"]
    wait_state(env, sid, {"ready"})
    assert command(env, sid, "arm").status_code == 200
    assert command(env, sid, "land").status_code == 200
    wait_state(env, sid, {"done"}, timeout=60)
    telemetry = [d for _, kind, d in read_events(env, sid) if kind == "telemetry"]
    raw = [t for d in telemetry for t in d["texts"]]
    shown = [t for d in telemetry for t in d["vehicle_texts"]]
    assert "Arming motors" in raw and "Vehicle: arming motors" in shown
    assert len(shown) == len(raw) and all(t.startswith("Vehicle: ") for t in shown)
