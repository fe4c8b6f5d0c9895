"""The pilot's flight pages after a browser QA pass: the SITL world is chosen from the rasters
the station may read, sessions name their plan and sortie, the flight time is split at the
mission's start, the session's log files are downloads, and state names read as labels."""

from __future__ import annotations

import io
import json
import re
import time
from html import unescape
from pathlib import Path

import pytest
from conftest import flight_env, login, saved_plan
from test_flights_page import command, session, session_row, wait_state, write_world


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("flightpages"), "F-P") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "F-P", "east field")


def english(env, who: str):
    client = env.client()
    login(client, who)
    client.get("/lang/en")
    return client


def world_options(page: str) -> list[tuple[str, str]]:
    """(value, data-name) of the world select's options, "none" first."""
    select = re.search(r'<select name="world" id="start-world">(.*?)</select>', page, re.S)
    assert select, "no world select on the page"
    return [
        (unescape(value), unescape(name))
        for value, name in re.findall(
            r'<option value="([^"]*)"(?: data-name="([^"]*)")?', select.group(1)
        )
    ]


def test_the_world_is_chosen_from_the_rasters_in_the_allowed_folders(env, plan_id) -> None:
    worlds = env.data_dir / "worlds"
    write_world(worlds / "b_field.tif")
    write_world(worlds / "sub" / "a_field.tiff")
    (worlds / "notes.txt").write_text("not a raster")
    outside = write_world(env.data_dir / "elsewhere" / "c_field.tif")
    page = english(env, "pilot").get("/flights").get_data(as_text=True)
    options = world_options(page)
    assert options[0] == ("", "")  # none: the field stays optional
    assert [name for _, name in options[1:]] == ["a_field.tiff", "b_field.tif"]
    assert options[2][0] == str((worlds / "b_field.tif").resolve())
    # what a flight without a world does, and where rasters come from, next to the field
    assert "the simulated camera takes no photos" in page
    assert str(worlds.resolve()) in unescape(page)

    refused = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "simulate": True, "world": str(outside)},
        headers=env.headers("pilot"),
    )
    assert refused.status_code == 400
    message = refused.json["error"]
    assert "outside the allowed folders" in message and str(worlds.resolve()) in message


def test_the_world_listing_is_bounded_and_sorted(tmp_path) -> None:
    from groundstation.blueprints.flights import world_choices

    for name in ("d.tif", "a.TIF", "c.tiff", "b.png"):
        (tmp_path / name).write_bytes(b"x")
    chosen = world_choices([tmp_path, tmp_path / "missing"], shown=2)
    assert [c.name for c in chosen] == ["a.TIF", "c.tiff"]
    assert chosen[0].bounds is None  # not a readable GeoTIFF: listed, coverage unknown


def test_a_flown_session_names_its_plan_splits_its_time_and_offers_its_log(env, plan_id) -> None:
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "sortie": 1, "simulate": True, "speedup": 40},
        headers=env.headers("pilot"),
    )
    assert start.status_code == 201, start.json
    sid = start.json["id"]
    wait_state(env, sid, {"ready"})
    assert command(env, sid, "arm").status_code == 200
    deadline = time.monotonic() + 30
    while session(env, sid)["telemetry"]["alt_m"] < 30:  # up, then hovering while we wait
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)  # 40 s of simulated hovering
    assert command(env, sid, "start").status_code == 200
    done = wait_state(env, sid, {"done"}, timeout=90)

    result = done["result"]
    assert result["before_mission_s"] > 30  # the climb and the hovering
    assert result["mission_s"] + result["before_mission_s"] == pytest.approx(
        result["duration_s"], abs=0.2
    )
    assert result["mission_s"] < result["duration_s"] - 30
    summary = json.loads((Path(done["log_dir"]) / "flight.json").read_text())["summary"]
    assert summary["mission_s"] == result["mission_s"]
    assert summary["before_mission_s"] == result["before_mission_s"]
    assert done["plan_name"] == "east field" and done["sortie"] == 1 and done["sorties"] == 1

    pilot = english(env, "pilot")
    page = pilot.get(f"/flights/{sid}").get_data(as_text=True)
    heading = unescape(re.search(r"<h1>(.*?)</h1>", page, re.S).group(1))
    assert "east field" in heading and "sortie 1 of 1" in heading
    assert f"/api/v1/plans/{plan_id}/download/plan?sortie=1" in unescape(page)
    assert f'<dd id="s-mission-time">{done["mission_time"]}</dd>' in page
    assert done["mission_time"].endswith(f"(plan {_clock(result['planned_s'])})")
    assert f'<dd id="s-before-mission">{done["before_mission_time"]}</dd>' in page
    state = re.search(r'<strong id="flight-state"[^>]*>([^<]*)</strong>', page).group(1)
    assert state == "Done"  # the catalogue's name, as a label

    # the log as downloads; the server path only for admins
    assert done["log_dir"] not in page
    links = re.findall(r'href="(/flights/\d+/log/[^"]+)"', page)
    assert links == [
        f"/flights/{sid}/log/{n}" for n in ("flight.json", "telemetry.csv", "camera.csv")
    ]
    got = pilot.get(links[0])
    assert got.status_code == 200 and "attachment" in got.headers["Content-Disposition"]
    assert json.loads(got.data)["summary"]["mission_s"] == result["mission_s"]
    assert pilot.get(links[1]).get_data(as_text=True).count("\n") > 10
    supervisor = english(env, "supervisor")
    assert supervisor.get(links[1]).status_code == 200
    assert done["log_dir"] not in supervisor.get(f"/flights/{sid}").get_data(as_text=True)
    for bad in ("..%2Fflight.json", "..%2F..%2Fgp.sqlite3", "sitl.log", "flight.json.bak"):
        assert pilot.get(f"/flights/{sid}/log/{bad}").status_code == 404
    assert env.client().get(links[0]).status_code in (302, 401)  # signed out
    admin = english(env, "admin")
    assert done["log_dir"] in admin.get(f"/flights/{sid}").get_data(as_text=True)

    listing = pilot.get("/flights").get_data(as_text=True)
    row = session_row(listing, sid)
    assert "east field" in row and "sortie 1 of 1" in row and ">Done<" in row


def _clock(seconds: float) -> str:
    from missions.link.flight import clock_text

    return clock_text(seconds)


def test_the_photo_size_warning_stays_with_the_flight_after_reload(env) -> None:
    from test_photo_upload import BLUE, RED, jpeg

    response = env.client().post(
        "/api/v1/flights",
        data={
            "photos": [(io.BytesIO(jpeg(c)), f"{n}.jpg") for n, c in enumerate((RED, BLUE))],
            "camera": "phantom4pro",
        },
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.json
    warning = next(w for w in response.json["warnings"] if "(GSD) is unknown" in w)
    assert "not the 5472×3648 of camera phantom4pro" in warning
    flight_id = response.json["flight_id"]
    html = english(env, "pilot").get(f"/flights?flight={flight_id}").get_data(as_text=True)
    row = html[html.index(f'id="flight-{flight_id}"') :]
    assert warning in unescape(row[: row.index("</tr>")])  # as the upload said it
