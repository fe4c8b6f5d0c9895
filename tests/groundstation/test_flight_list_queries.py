"""The flight lists (GET /api/v1/flights and the /flights page) read the database in the same
number of statements for 2 flights as for 20: their counts are grouped, not asked per flight."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from conftest import G1, Env, add_grids, login, make_env


@pytest.fixture
def env(fresh_url: str, tmp_path) -> Iterator[Env]:
    """An app on an empty database of each kind, so the lists hold only this test's flights."""
    e = make_env(fresh_url, tmp_path / "data")
    add_grids(e, ("G1", G1))
    yield e
    e.storage().dispose()


def add_flights(env: Env, count: int) -> list[int]:
    """``count`` flights alike: a photo with a finding and one with another view of it (both
    in G1), a failed photo without a position and a waiting photo without a height. The first
    finding of each is behind a ticket dispatched to urban_management, the department user's."""
    from sqlalchemy import select

    from groundstation.models import Department, Flight, Grid, Photo
    from groundstation.tickets import Actor, open_ticket

    ids = []
    with env.storage().session() as session:
        grid_id = session.scalar(select(Grid.id).where(Grid.code == "G1"))
        dept_id = session.scalar(select(Department.id).where(Department.code == "urban_management"))
        for _ in range(count):
            flight = Flight(name=f"f-{uuid.uuid4().hex[:6]}", source="test", status="done")
            session.add(flight)
            session.flush()
            photos = [
                Photo(path="a.jpg", lon=119.905, lat=32.405, relative_altitude_m=80.0),
                Photo(path="b.jpg", lon=119.906, lat=32.405, relative_altitude_m=80.0),
                Photo(path="c.jpg", status="error", error="unreadable"),
                Photo(path="d.jpg", lon=119.905, lat=32.406, status="pending"),
            ]
            for photo in photos:
                photo.flight_id = flight.id
                photo.path = str(env.data_dir / f"{flight.id}_{photo.path}")
                photo.status = photo.status or "done"
            session.add_all(photos)
            session.flush()
            first = finding(flight.id, photos[0].id, grid_id)
            session.add(first)
            session.flush()
            session.add(finding(flight.id, photos[1].id, grid_id, sighting_of=first.id))
            ticket = open_ticket(
                session, label=first.label, actor=Actor("fixture", "admin"), finding=first
            )
            ticket.state, ticket.department_id = "dispatched", dept_id
            ids.append(flight.id)
        session.commit()
    return ids


def finding(flight_id: int, photo_id: int, grid_id: int, *, sighting_of: int | None = None):
    from groundstation.models import Finding

    return Finding(
        photo_id=photo_id,
        flight_id=flight_id,
        label="illegal_construction",
        score=0.9,
        box_px=[10.0, 10.0, 30.0, 30.0],
        grid_id=grid_id,
        lon=119.905,
        lat=32.405,
        review_status="pending",
        sighting_of=sighting_of,
    )


@contextmanager
def counted(env: Env) -> Iterator[list[str]]:
    """The SQL statements the app runs inside the block."""
    from sqlalchemy import event

    engine = env.storage().engine
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements_for(env: Env, get: Callable[[], object]) -> list[str]:
    get()  # once first: per-process caches (rules, API keys) are not the list's cost
    with counted(env) as statements:
        response = get()
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return statements


@pytest.mark.parametrize("who", ["supervisor", "department"])
def test_the_flights_api_reads_as_much_for_20_flights_as_for_2(env, who) -> None:
    client = env.client()

    def get():
        return client.get("/api/v1/flights", headers=env.headers(who))

    add_flights(env, 2)
    few = statements_for(env, get)
    ids = add_flights(env, 18)
    many = statements_for(env, get)
    assert len(many) == len(few), "\n".join(many)

    listed = get().json
    assert [f["id"] for f in listed[:18]] == ids[::-1]
    shown = listed[0]
    assert shown["photos"] == {"done": 2, "error": 1, "pending": 1}
    assert (shown["findings"], shown["objects"]) == (2, 1)  # a department sees its own too
    assert (shown["photos_unplaced"], shown["unplaced_photos"]) == (1, [f"{ids[-1]}_c.jpg"])
    assert shown["at_camera_position_photos"] == [f"{ids[-1]}_d.jpg"]
    assert shown["failed_photos"] == [{"name": f"{ids[-1]}_c.jpg", "error": "unreadable"}]
    detail = client.get(f"/api/v1/flights/{ids[-1]}", headers=env.headers(who)).json
    assert detail == shown


def test_a_department_counts_only_the_findings_behind_its_tickets(env) -> None:
    from sqlalchemy import update

    from groundstation.models import Ticket

    flight_id = add_flights(env, 1)[0]
    with env.storage().session() as session:
        session.execute(update(Ticket).values(department_id=None, state="confirmed"))
        session.commit()
    for who, counts in (("supervisor", (2, 1)), ("department", (0, 0))):
        shown = env.client().get(f"/api/v1/flights/{flight_id}", headers=env.headers(who)).json
        assert (shown["findings"], shown["objects"]) == counts, who


@pytest.mark.parametrize("who", ["supervisor", "department"])
def test_the_flights_page_reads_as_much_for_20_flights_as_for_2(env, who) -> None:
    client = env.client()
    login(client, who)

    def get():
        return client.get("/flights")

    add_flights(env, 2)
    few = statements_for(env, get)
    ids = add_flights(env, 18)
    many = statements_for(env, get)
    assert len(many) == len(few), "\n".join(many)
    html = get().get_data(as_text=True)
    assert all(f"{i}_c.jpg" in html for i in ids)  # every flight's failed photo is listed
