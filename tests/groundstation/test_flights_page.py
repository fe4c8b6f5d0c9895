"""Flight sessions: a SITL test flight started through the API (upload, verify, checks, arm,
start, land), the SSE stream resuming with Last-Event-ID, the stored log, photos and the queued
ingest; refused commands, roles and bad input; the event log alone."""

from __future__ import annotations

import json
import re
import threading
import time
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from conftest import flight_env, login, make_findings, saved_plan

from groundstation.flights import EventLog


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("flights"), "F-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "F-S", "flight test")


def write_world(path: Path) -> Path:
    """A small grey-and-red GeoTIFF around SMALL for the simulated camera."""
    import rasterio
    from rasterio.transform import from_bounds

    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.full((3, 200, 200), 120, dtype=np.uint8)
    data[0] = 125  # grey: the fake classifier calls it illegal construction
    with rasterio.open(
        path, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8",
        crs="EPSG:4326", transform=from_bounds(119.887, 32.397, 119.895, 32.404, 200, 200),
    ) as ds:  # fmt: skip
        ds.write(data)
    return path


def session(env, session_id: int) -> dict:
    return (
        env.client().get(f"/api/v1/flight-sessions/{session_id}", headers=env.headers("pilot")).json
    )


def wait_state(env, session_id: int, states: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = session(env, session_id)
        if data["state"] in states:
            return data
        if data["state"] == "failed" and "failed" not in states:
            raise AssertionError(data["error"])
        time.sleep(0.1)
    raise AssertionError(f"session {session_id} still {data['state']} after {timeout} s")


def command(env, session_id: int, verb: str, who: str = "pilot"):
    return env.client().post(
        f"/api/v1/flight-sessions/{session_id}/commands",
        json={"command": verb},
        headers=env.headers(who),
    )


def read_events(env, session_id: int, last_id: int = 0) -> list[tuple[int, str, dict]]:
    response = env.client().get(
        f"/api/v1/flight-sessions/{session_id}/events",
        headers={**env.headers("supervisor"), "Last-Event-ID": str(last_id)},
    )
    assert response.mimetype == "text/event-stream"
    events = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in block.splitlines()
            if ": " in line and not line.startswith(":")
        )
        if "event" in fields:
            events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


def test_sitl_flight_from_start_to_stored_photos(env, plan_id) -> None:
    world = write_world(env.data_dir / "worlds" / "world.tif")  # where the demo writes its world
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={
            "plan_id": plan_id,
            "sortie": 1,
            "simulate": True,
            "speedup": 40,
            "world": str(world),
        },
        headers=env.headers("pilot"),
    )
    assert start.status_code == 201, start.json
    sid = start.json["id"]
    ready = wait_state(env, sid, {"ready"})
    assert ready["connection"].startswith("tcp:127.0.0.1:")
    assert {c["name"] for c in ready["checks"]} >= {
        "gps fix",
        "battery",
        "mission verified",
        "home set",
    }
    assert all(c["ok"] for c in ready["checks"])

    refused = command(env, sid, "start")  # not armed yet
    assert refused.status_code == 409
    assert refused.json["error"] == "start: the vehicle is not armed"
    assert command(env, sid, "arm", who="supervisor").status_code == 403
    armed = command(env, sid, "arm")
    assert armed.status_code == 200, armed.json
    assert "taking off" in armed.json["message"]
    assert command(env, sid, "start").status_code == 200
    done = wait_state(env, sid, {"done"}, timeout=60)
    assert done["result"]["landed"] and done["result"]["all_reached"]
    texts = [data["text"] for _, kind, data in read_events(env, sid) if kind == "message"]
    assert texts.count("start: the vehicle is not armed") == 1  # said once, named once
    assert done["result"]["photos"] > 3
    assert done["flight_id"] is not None and done["landed_at"] is not None
    assert done["area_m2"] == pytest.approx(
        env.client().get(f"/api/v1/plans/{plan_id}", headers=env.headers("pilot")).json["area_m2"],
        rel=1e-4,
    )

    log_dir = Path(done["log_dir"])
    summary = json.loads((log_dir / "flight.json").read_text())["summary"]
    assert summary["landed"] is True and summary["all_reached"] is True
    assert (log_dir / "telemetry.csv").read_text().count("\n") > 10

    flight = (
        env.client().get(f"/api/v1/flights/{done['flight_id']}", headers=env.headers("pilot")).json
    )
    assert flight["status"] == "queued" and sum(flight["photos"].values()) >= 3
    assert flight["name"] == "flight test 1/1"  # plan and sortie: no English on other pages
    outcome = env.runner().run_job(flight["job_id"])
    assert outcome.state == "done"
    findings = (
        env.client()
        .get(
            f"/api/v1/findings?flight={done['flight_id']}&status=all",
            headers=env.headers("supervisor"),
        )
        .json
    )
    assert findings["total"] >= 3 and {f["label"] for f in findings["items"]} == {
        "illegal_construction"
    }

    events = read_events(env, sid)
    kinds = [k for _, k, _ in events]
    assert kinds[-1] == "end" and "checks" in kinds and "photo" in kinds
    ids = [i for i, k, _ in events if k != "end"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    telemetry = [d for _, k, d in events if k == "telemetry"]
    positions = {(t["lat"], t["lon"]) for t in telemetry if t["lat"] is not None}
    lats, lons = zip(*positions, strict=True)
    spread_m = max(max(lats) - min(lats), (max(lons) - min(lons)) * 0.84) * 111_320
    assert len(positions) > 5 and spread_m > 50  # the vehicle moved across the grid
    assert max(t["progress"] for t in telemetry) == 1.0
    assert max(t["alt_m"] for t in telemetry) > 30
    states = [d["state"] for _, k, d in events if k == "state"]
    assert states[:4] == ["connecting", "uploading", "verifying", "preflight"]
    assert states[-2:] == ["landed", "done"]

    middle = ids[len(ids) // 2]
    resumed = read_events(env, sid, last_id=middle)
    assert resumed[0][0] == middle + 1 and resumed[-1][1] == "end"
    assert [e[0] for e in resumed[:-1]] == [i for i in ids if i > middle]

    client = env.client()
    login(client, "pilot")
    page = client.get(f"/flights/{sid}").get_data(as_text=True)
    assert 'id="flight-map"' in page and "flight.js" in page and 'id="cmd-arm"' in page
    listing = client.get("/flights").get_data(as_text=True)
    # a pilot may not open the review queue (403): the session links its photo flight instead
    flight_id = done["flight_id"]
    assert f'id="session-{sid}"' in listing and "/review?" not in listing
    assert f'href="/flights?flight={flight_id}#flight-{flight_id}"' in listing
    assert "/review?" not in page  # the session page too: its link goes to the photo flight
    assert f'href="/flights?flight={flight_id}#flight-{flight_id}"' in page
    supervisor = env.client()
    login(supervisor, "supervisor")
    seen = supervisor.get(f"/flights/{sid}").get_data(as_text=True)
    assert f"/review?flight={flight_id}" in seen


def test_start_after_a_pause_in_the_takeoff_climb_climbs_on_and_flies_the_mission(
    env, plan_id
) -> None:
    """QA: paused during the climb, START answered "the mission starts once climbed", then
    dropped it (the vehicle held in BRAKE) and RESUME said "use start": no way on. START now
    checks the battery at the hover and starts AUTO, whose takeoff item climbs on."""
    body = {"plan_id": plan_id, "simulate": True, "speedup": 8}
    started = env.client().post("/api/v1/flight-sessions", json=body, headers=env.headers("pilot"))
    sid = started.json["id"]
    wait_state(env, sid, {"ready"})
    assert command(env, sid, "arm").status_code == 200
    deadline = time.monotonic() + 20
    while (session(env, sid)["telemetry"]["alt_m"] or 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    paused = command(env, sid, "pause")
    assert paused.status_code == 200, paused.json
    held = session(env, sid)
    assert held["state"] == "paused" and held["telemetry"]["alt_m"] < 0.8 * 40  # mid-climb
    started = command(env, sid, "start")
    assert started.status_code == 200, started.json
    assert started.json["message"] == "mission started (AUTO): the vehicle climbs on to 40 m first"
    assert session(env, sid)["state"] == "mission"
    deadline = time.monotonic() + 60
    while session(env, sid)["telemetry"]["reached"] < 2:
        assert time.monotonic() < deadline, session(env, sid)
        time.sleep(0.1)
    assert session(env, sid)["telemetry"]["alt_m"] > 30  # it climbed on
    assert command(env, sid, "land").status_code == 200
    wait_state(env, sid, {"done"}, timeout=60)
    said = [d["text"] for _, k, d in read_events(env, sid) if k == "message"]
    assert any(t.startswith("battery after takeoff: ") for t in said), said
    assert not any(t.startswith("start: ") for t in said), said  # nothing refused or dropped


def test_refused_connection_fails_the_session(env, plan_id) -> None:
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "connection": "tcp:127.0.0.1:1"},
        headers=env.headers("pilot"),
    )
    assert start.status_code == 201
    failed = wait_state(env, start.json["id"], {"failed"}, timeout=30)
    assert "127.0.0.1:1" in failed["error"]
    late = command(env, start.json["id"], "arm")
    assert late.status_code == 409


def test_a_port_nobody_listens_on_fails_the_session_in_seconds(env, plan_id, monkeypatch) -> None:
    """Even with the production heartbeat timeout (20 s): a refused port is no vehicle."""
    import socket

    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():
        monkeypatch.setitem(hub().runner_options, "connect_timeout_s", 20.0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "connection": f"tcp:127.0.0.1:{port}"},
        headers=env.headers("pilot"),
    )
    failed = wait_state(env, start.json["id"], {"failed"}, timeout=30)
    assert time.monotonic() - started < 6.0
    assert failed["error"] == (
        f"opening tcp:127.0.0.1:{port}: connection refused: nothing listens there"
    )


class _ListsVehicle:
    """A vehicle that holds ``n`` items in every list and answers every parameter."""

    def __init__(self, n: int) -> None:
        self.n = n

    def upload(self, plan, *, on_progress=None) -> None:
        pass

    def verify(self, plan, *, on_progress=None):
        from missions.link import VehicleLists

        item = plan.items[0]
        return VehicleLists(mission=(item,) * self.n, fence=(item,) * self.n,
                            rally=(item,) * self.n, home=None)  # fmt: skip

    def set_param(self, name: str, value: float) -> float:
        return value

    def get_param(self, name: str) -> float:
        return 0.0

    def request_streams(self) -> None:
        pass


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "verified: 1 mission item, 1 fence point, 1 rally point"),
        (2, "verified: 2 mission items, 2 fence points, 2 rally points"),
    ],
)
def test_the_verified_lists_are_counted_in_proper_plurals(env, plan_id, tmp_path, n, text) -> None:
    from groundstation.flights import FlightRequest, FlightRunner
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict

    with env.storage().session() as db_session:
        mission = plan_from_dict(db_session.get(RoutePlan, plan_id).missions[0])
    request = FlightRequest(mission=mission, name="plurals", connection="tcp:127.0.0.1:9")
    runner = FlightRunner(0, request, storage=env.storage(), queue_=None, data_dir=tmp_path)
    runner._transfer(_ListsVehicle(n))
    texts = [str(e.data["text"]) for e in runner.events.after(0)[0] if e.kind == "message"]
    assert texts == [text]


def test_the_session_limit_speaks_of_one_session_in_the_singular(env, plan_id, monkeypatch) -> None:
    from groundstation.blueprints.flights import hub

    with env.app.test_request_context():
        monkeypatch.setattr(hub(), "max_active", 1)
    first = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "simulate": True, "speedup": 20},
        headers=env.headers("pilot"),
    )
    sid = first.json["id"]
    try:
        wait_state(env, sid, {"preflight", "ready"})
        second = env.client().post(
            "/api/v1/flight-sessions",
            json={"plan_id": plan_id, "simulate": True},
            headers=env.headers("pilot"),
        )
        assert second.status_code == 409
        assert second.json["error"] == ("1 flight session is running (limit 1); finish it first")
    finally:
        command(env, sid, "cancel")
        wait_state(env, sid, {"cancelled"})


def test_failed_session_reports_its_error_before_the_row_is_saved(
    env, plan_id, monkeypatch
) -> None:
    """The API shows the runner's live state; its error must come with it, not lag behind."""
    from groundstation.flights import FlightRunner

    release = threading.Event()
    save = FlightRunner._save

    def slow_save(self, **values):
        if values.get("state") == "failed":
            release.wait(10)
        save(self, **values)

    monkeypatch.setattr(FlightRunner, "_save", slow_save)
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "connection": "tcp:127.0.0.1:1"},
        headers=env.headers("pilot"),
    )
    try:
        failed = wait_state(env, start.json["id"], {"failed"}, timeout=30)
        assert failed["error"] and "127.0.0.1:1" in failed["error"]
    finally:
        release.set()


def test_cancel_on_the_ground(env, plan_id) -> None:
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "simulate": "1", "speedup": 20},
        headers=env.headers("admin"),
    )
    sid = start.json["id"]
    wait_state(env, sid, {"preflight", "ready"})
    assert command(env, sid, "fly-away").status_code == 400
    assert command(env, sid, "cancel").status_code == 200
    cancelled = wait_state(env, sid, {"cancelled"})
    assert cancelled["flight_id"] is None and cancelled["landed_at"] is None


@pytest.mark.parametrize(
    ("who", "body", "status", "needle"),
    [
        ("pilot", {"plan_id": 999999, "connection": "tcp:1.2.3.4:5"}, 404, "plan 999999"),
        ("pilot", {"plan_id": None, "simulate": True}, 400, "plan_id is required"),
        ("pilot", {"plan_id": "", "simulate": True}, 400, "plan_id is required"),
        ("pilot", {"plan_id": "x"}, 400, "plan_id 'x' is not an integer"),
        ("pilot", {"sortie": "two"}, 400, "sortie 'two' is not an integer"),
        ("pilot", {"simulate": True, "speedup": "fast"}, 400, "speedup must be a number"),
        ("pilot", {"sortie": 7}, 400, "sorties 1 to 1"),
        ("pilot", {}, 400, "connection string"),
        ("pilot", {"simulate": True, "speedup": 1000}, 400, "speed-up"),
        ("pilot", {"simulate": True, "world": "/etc/passwd"}, 400, "outside the allowed"),
        ("supervisor", {"connection": "tcp:1.2.3.4:5"}, 403, "may not"),
        ("department", {"connection": "tcp:1.2.3.4:5"}, 403, "may not"),
    ],
)
def test_bad_starts_are_4xx(env, plan_id, who, body, status, needle) -> None:
    body = {"plan_id": plan_id, **body}
    response = env.client().post("/api/v1/flight-sessions", json=body, headers=env.headers(who))
    assert response.status_code == status
    assert needle in response.json["error"]


ACCEPTED_FORMS = (
    "Accepted forms: tcp:HOST:PORT (connect to the vehicle), udp:HOST:PORT (listen for it), "
    "udpout:HOST:PORT (send to it), or a serial device such as /dev/ttyUSB0:57600 or COM3:57600"
)


def _sessions(env) -> int:
    from sqlalchemy import func, select

    from groundstation.models import FlightSession

    with env.storage().session() as db_session:
        return db_session.scalar(select(func.count(FlightSession.id))) or 0


@pytest.mark.parametrize(
    ("connection", "needle"),
    [
        ("192.168.1.10:5760", "unknown scheme '192.168.1.10'"),
        ("udp:14550", "expected udp:HOST:PORT"),
        ("tcp:192.168.1.10:port", "port 'port' is not 0-65535"),
        ("tcp:my drone:5760", "host 'my drone' is not a host name or IP address"),
        ("udpout:http://10.0.0.2:14550", "host 'http://10.0.0.2' is not a host name"),
        ("/dev/ttyUSB0:fast", "baud rate 'fast' is not a positive integer"),
        ("tcp:" + "a" * 200 + ":5760", "at most 200 are allowed"),
    ],
)
def test_a_connection_string_that_does_not_parse_is_refused_before_any_session(
    env, plan_id, connection, needle
) -> None:
    """QA: the flights page started a session for 'udp:14550' that then failed to connect."""
    before = _sessions(env)
    response = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "connection": connection},
        headers=env.headers("pilot"),
    )
    assert response.status_code == 400, response.json
    assert needle in response.json["error"]
    if "at most" not in needle:
        assert response.json["error"].endswith(ACCEPTED_FORMS)
    assert _sessions(env) == before


def test_the_flights_form_gets_the_connection_error_in_the_pilots_language(env, plan_id) -> None:
    client = english_client(env, "pilot")
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/flights").text)
    response = client.post(
        "/api/v1/flight-sessions",
        data={"plan_id": plan_id, "sortie": 1, "connection": "bluetooth:drone"},
        headers={"X-CSRFToken": token.group(1)},
    )
    assert response.status_code == 400
    assert response.json["error"].startswith(
        "connection string 'bluetooth:drone': unknown scheme 'bluetooth'"
    )
    assert response.json["error"].endswith(ACCEPTED_FORMS)


def test_unknown_sessions_and_csrf(env) -> None:
    client = env.client()
    assert (
        client.get("/api/v1/flight-sessions/999999", headers=env.headers("pilot")).status_code
        == 404
    )
    assert (
        client.get(
            "/api/v1/flight-sessions/999999/events", headers=env.headers("pilot")
        ).status_code
        == 404
    )
    login(client, "pilot")
    no_token = client.post("/api/v1/flight-sessions", json={"plan_id": 1})
    assert no_token.status_code == 400 and "CSRF" in no_token.json["error"]


def test_event_log_replays_and_waits() -> None:
    log = EventLog(limit=5)
    assert log.after(0) == ([], False)
    for k in range(7):
        log.publish("telemetry", {"k": k})
    events, done = log.after(3)
    assert [e.id for e in events] == [4, 5, 6, 7] and not done
    assert [e.data["k"] for e in log.after(0)[0]] == [2, 3, 4, 5, 6]  # the oldest were dropped
    threading.Timer(0.05, lambda: log.publish("state", {"state": "done"})).start()
    started = time.monotonic()
    events, done = log.after(7, timeout=2.0)
    assert [e.kind for e in events] == ["state"] and time.monotonic() - started < 1.0
    log.close()
    assert log.after(8) == ([], True)
    assert log.after(7)[1] is True and log.latest("telemetry").data == {"k": 6}


# -- photo flights on the flights page ----------------------------------------------------------


def photo_flight(env, *, sightings: int = 2) -> dict:
    """A classified photo flight over F-S: one object seen in 1 + ``sightings`` photos, one more
    photo waiting and one that failed, and the flight session that took them."""
    from groundstation.models import Finding, FlightSession, Photo

    specs = [("illegal_construction", 0.8, (119.8905, 32.4005))] * (1 + sightings)
    primary, *others = make_findings(env, specs, grid_code="F-S")
    with env.storage().session() as session:
        flight_id = session.get(Finding, primary).flight_id
        for finding_id in others:
            session.get(Finding, finding_id).sighting_of = primary
        for name, status, error in (
            ("waiting.jpg", "pending", None),
            ("broken.jpg", "error", "OSError: broken.jpg: truncated JPEG"),
        ):
            session.add(
                Photo(
                    flight_id=flight_id, path=str(env.data_dir / name), status=status, error=error
                )
            )
        row = FlightSession(connection="sitl", simulated=True, state="done", flight_id=flight_id)
        session.add(row)
        session.commit()
        return {"flight": flight_id, "finding": primary, "session": row.id}


def flight_row(html: str, flight_id: int) -> str:
    match = re.search(rf'<tr id="flight-{flight_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"flight {flight_id} is not listed"
    return unescape(match.group(1))


def cell(row: str, name: str) -> str:
    text = re.search(rf'<td class="{name}">(.*?)</td>', row, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def english_client(env, who: str):
    client = env.client()
    login(client, who)
    client.get("/lang/en")
    return client


def test_flights_page_lists_photo_flights_with_counts_and_links(env) -> None:
    made = photo_flight(env)
    client = english_client(env, "supervisor")
    html = client.get("/flights").get_data(as_text=True)
    assert "Photo flights" in html
    row = flight_row(html, made["flight"])
    # the failed photo is named with the reason it failed
    assert cell(row, "photos") == (
        "5 1 waiting 1 failed broken.jpg: OSError: broken.jpg: truncated JPEG"
    )
    assert cell(row, "findings") == "1 +2"  # one object, seen in two more photos
    review = f"/review?flight={made['flight']}&status=all"
    assert f'href="{review}"' in row and 'href="/grids/F-S"' in row
    assert f'href="/flights/{made["session"]}"' in row
    for url in (review, "/grids/F-S", f"/flights/{made['session']}"):
        assert client.get(url).status_code == 200, url
    # the review queue's API lists exactly that object for the flight
    findings = client.get(
        f"/api/v1/findings?flight={made['flight']}&status=all&primary=1",
        headers=env.headers("supervisor"),
    ).json
    assert [f["id"] for f in findings["items"]] == [made["finding"]]


def test_pilots_and_departments_see_photo_flights_without_review_links(env) -> None:
    made = photo_flight(env, sightings=0)
    listing = english_client(env, "pilot").get("/flights").get_data(as_text=True)
    pilot = flight_row(listing, made["flight"])
    assert cell(pilot, "findings") == "1" and "/review?" not in pilot
    assert f'href="/flights/{made["session"]}"' in pilot
    # department staff see only the findings behind their department's cases: none here
    department = english_client(env, "department").get("/flights")
    assert department.status_code == 200
    assert cell(flight_row(department.get_data(as_text=True), made["flight"]), "findings") == "0"


def test_photo_flights_newest_first_and_paged(env) -> None:
    from sqlalchemy import select

    from groundstation.blueprints.flights import PHOTO_FLIGHTS_PER_PAGE
    from groundstation.models import Flight

    for _ in range(PHOTO_FLIGHTS_PER_PAGE + 1):
        make_findings(env, [])  # a flight without photos
    with env.storage().session() as session:
        ids = list(session.scalars(select(Flight.id).order_by(Flight.id.desc())))
    client = english_client(env, "supervisor")
    first = client.get("/flights").get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'<tr id="flight-(\d+)"', first)]
    assert listed == ids[:PHOTO_FLIGHTS_PER_PAGE]
    assert 'id="flights-pager"' in first and 'href="/flights?page=2"' in first
    oldest = ids[-1]
    found = client.get(f"/flights?flight={oldest}").get_data(as_text=True)
    assert f'<tr id="flight-{oldest}" class="highlight">' in found
    assert client.get("/flights?page=999").status_code == 200  # the last page


def session_row(html: str, session_id: int) -> str:
    match = re.search(rf'<tr id="session-{session_id}">(.*?)</tr>', html, re.S)
    assert match, f"flight session {session_id} is not listed"
    return unescape(match.group(1))


def test_sessions_show_local_times_and_review_links_to_reviewers_only(env) -> None:
    from datetime import UTC, datetime

    from groundstation.models import FlightSession

    made = photo_flight(env, sightings=0)
    with env.storage().session() as session:
        session.get(FlightSession, made["session"]).started_at = datetime(
            2024, 6, 1, 0, 30, tzinfo=UTC
        )
        session.commit()
    flight = made["flight"]
    review = f'href="/review?flight={flight}&status=all"'
    photo_flight_link = f'href="/flights?flight={flight}#flight-{flight}"'
    for who in ("pilot", "department"):
        row = session_row(english_client(env, who).get("/flights").get_data(as_text=True),
                          made["session"])  # fmt: skip
        assert "2024-06-01 08:30" in row  # the station's time zone (Asia/Shanghai), not UTC
        assert "/review?" not in row and photo_flight_link in row
    for who in ("supervisor", "admin"):
        row = session_row(english_client(env, who).get("/flights").get_data(as_text=True),
                          made["session"])  # fmt: skip
        assert "2024-06-01 08:30" in row and review in row and photo_flight_link in row


def test_upload_section_is_shown_to_uploaders_only(env) -> None:
    for who in ("pilot", "supervisor", "admin"):
        html = english_client(env, who).get("/flights").get_data(as_text=True)
        assert 'id="photo-upload"' in html and "Upload photos from a flight" in html
        assert "webkitdirectory" in html and "upload.js" in html
    department = english_client(env, "department").get("/flights").get_data(as_text=True)
    assert 'id="photo-upload"' not in department
