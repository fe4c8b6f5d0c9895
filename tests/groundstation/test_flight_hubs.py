"""One flight session per vehicle across ``serve`` processes: two apps on one database (SQLite
file and PostgreSQL) stand for two ground-station processes. While a session of one flies a
vehicle, the other refuses a session on it (409, naming the session); the vehicle is free again
once that session ends or its process stops marking it alive (a crash); two starts at once give
one session; and both processes say the same about which sessions are live."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import SMALL, add_grids, make_env, pg_schema_url, saved_plan

from groundstation.flights import FlightHub
from groundstation.models import FlightSession, utcnow

#: Marked alive every 0.2 s and stale after 1 s, so that a test sees marks go stale in seconds.
ALIVE_EVERY_S, ALIVE_FOR_S = 0.2, 1.0


@pytest.fixture(params=["sqlite", "postgresql"])
def apps(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple]:
    """Two apps (two ground-station processes) on one database, and a saved plan's id."""
    from groundstation.blueprints.flights import hub

    urls = (
        iter([f"sqlite:///{tmp_path / 'gp.sqlite3'}"])
        if request.param == "sqlite"
        else pg_schema_url()
    )
    url = next(urls)
    made = [make_env(url, tmp_path / name, LINK_TIMEOUT_S=2.0) for name in ("a", "b")]
    add_grids(made[0], ("HUB-S", SMALL))
    plan_id = saved_plan(made[0], "HUB-S", "two hubs")
    hubs: list[FlightHub] = []
    for env in made:
        with env.app.test_request_context():
            flights = hub()
        flights.alive_every_s, flights.alive_for_s = ALIVE_EVERY_S, ALIVE_FOR_S
        hubs.append(flights)
    try:
        yield made[0], made[1], plan_id
    finally:
        for flights in hubs:
            flights.shutdown()
        for env in made:
            env.app.extensions["gridpatrol"].queue.stop()
            env.storage().dispose()
        next(urls, None)  # drops the PostgreSQL schema


@pytest.fixture
def sitl(apps) -> Iterator:
    """Our simulator at the plan's home: the vehicle both processes want."""
    from groundstation.models import RoutePlan
    from missions.formats import plan_from_dict
    from simulator import Sitl

    env, _other, plan_id = apps
    with env.storage().session() as session:
        mission = plan_from_dict(session.get(RoutePlan, plan_id).missions[0])
    with Sitl(home=mission.home, speedup=30) as vehicle:
        yield vehicle


def start(env, plan_id: int, connection: str):
    return env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "sortie": 1, "connection": connection},
        headers=env.headers("pilot"),
    )


def status(env, sid: int) -> dict:
    response = env.client().get(f"/api/v1/flight-sessions/{sid}", headers=env.headers("pilot"))
    assert response.status_code == 200, response.json
    return response.json


def wait_state(env, sid: int, *states: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        data = status(env, sid)
        if data["state"] in states:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"session {sid}: not {'/'.join(states)}: {data['state']}")
        time.sleep(0.05)


def cancel(env, sid: int) -> None:
    response = env.client().post(
        f"/api/v1/flight-sessions/{sid}/commands",
        json={"command": "cancel"},
        headers=env.headers("pilot"),
    )
    assert response.status_code == 200, response.json
    wait_state(env, sid, "cancelled")


def free_connection() -> str:
    """A TCP address nobody listens on: a session on it fails to connect (after its claim)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp:127.0.0.1:{s.getsockname()[1]}"


def test_a_vehicle_flown_by_one_process_is_refused_by_another_until_its_session_ends(
    apps, sitl
) -> None:
    a, b, plan_id = apps
    first = start(a, plan_id, sitl.connection_string)
    assert first.status_code == 201, first.json
    sid = first.json["id"]
    wait_state(a, sid, "ready")
    time.sleep(2 * ALIVE_FOR_S)  # longer than a mark holds: the running session keeps marking

    again = start(b, plan_id, sitl.connection_string.replace("127.0.0.1", "localhost"))
    assert again.status_code == 409
    error = again.json["error"]
    assert error.startswith(
        f"flight session {sid} is already connected to {sitl.connection_string} (ready to arm) by "
        "another ground-station process"
    ), error
    assert a.app.extensions["gridpatrol_flights"].tag in error  # which process: host:pid:...
    # both processes see the session live, and the running state
    assert status(a, sid)["live"] is True
    assert status(b, sid)["live"] is True and status(b, sid)["state"] == "ready"
    with b.storage().session() as session:  # the refused start left no row behind
        assert session.query(FlightSession).count() == 1

    cancel(a, sid)
    assert status(a, sid)["live"] is False and status(b, sid)["live"] is False
    after = start(b, plan_id, sitl.connection_string)  # the vehicle is free again
    assert after.status_code == 201, after.json
    bid = after.json["id"]
    wait_state(b, bid, "ready")
    assert status(a, bid)["live"] is True and status(b, bid)["live"] is True
    refused = start(a, plan_id, sitl.connection_string)
    assert refused.status_code == 409
    assert refused.json["error"].startswith(f"flight session {bid} is already connected to")
    cancel(b, bid)
    with a.storage().session() as session:
        row = session.get(FlightSession, bid)
        assert row.alive_at is None and row.runner == b.app.extensions["gridpatrol_flights"].tag


def test_a_crashed_process_session_holds_the_vehicle_only_while_its_mark_is_fresh(apps) -> None:
    a, b, plan_id = apps
    connection = free_connection()
    with a.storage().session() as session:  # a session of a process that died mid-flight
        row = FlightSession(
            plan_id=plan_id,
            connection=connection,
            state="mission",
            started_at=utcnow(),
            alive_at=utcnow(),
            runner="gone-host:4242:dead",
        )
        session.add(row)
        session.commit()
        crashed = row.id

    refused = start(b, plan_id, connection)
    assert refused.status_code == 409
    assert refused.json["error"].startswith(
        f"flight session {crashed} is already connected to {connection} (flying the mission) "
        "by another ground-station process (gone-host:4242:dead)"
    ), refused.json
    assert status(a, crashed)["live"] is True and status(b, crashed)["live"] is True

    time.sleep(ALIVE_FOR_S + 0.3)  # no process marks it any more
    assert status(a, crashed)["live"] is False and status(b, crashed)["live"] is False
    taken = start(b, plan_id, connection)
    assert taken.status_code == 201, taken.json
    failed = wait_state(b, taken.json["id"], "failed")  # nobody listens there
    assert status(a, failed["id"])["live"] is False


def test_two_processes_starting_on_one_vehicle_at_once_get_one_session(apps) -> None:
    a, b, plan_id = apps
    connection = free_connection()
    gate = threading.Barrier(4)
    answers: list = []

    def go(env) -> None:
        gate.wait()
        answers.append(start(env, plan_id, connection))

    threads = [threading.Thread(target=go, args=(env,)) for env in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409, 409, 409], [r.json for r in answers]
    winner = next(r.json["id"] for r in answers if r.status_code == 201)
    for refused in (r for r in answers if r.status_code == 409):
        assert refused.json["error"].startswith(f"flight session {winner} is already connected")
    with a.storage().session() as session:
        assert session.query(FlightSession).filter_by(connection=connection).count() == 1
        row = session.get(FlightSession, winner)
        assert row.alive_at is not None and utcnow() - row.alive_at < timedelta(seconds=5)
