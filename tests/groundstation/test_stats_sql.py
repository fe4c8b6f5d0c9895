"""The figures the database counts: ``/api/v1/stats`` (:func:`count_to_date`, SQL aggregates)
gives exactly what :func:`figures_to_date` computes from every ticket, on SQLite and PostgreSQL,
edge cases included; and the dashboard counts a photo flight for the grids its photos were taken
over, whether it found anything or not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import add_grids, make_findings

from groundstation.stats import count_to_date, figures_to_date, load_tickets


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


#: (deadline, events as (action, to_state, at)) per ticket; each opened on 1 March.
CASES = {
    # closed, resolved before the deadline: due, closed, on time
    "on_time": (at(10), [("confirm", "confirmed", at(1, 1)), ("dispatch", "dispatched", at(2)),
                         ("resolve", "resolved", at(5)), ("close", "closed", at(6))]),
    # resolved after the deadline, then closed: due, closed, late
    "late": (at(10), [("confirm", "confirmed", at(1, 1)), ("dispatch", "dispatched", at(2)),
                      ("resolve", "resolved", at(11)), ("close", "closed", at(12))]),
    # resolved exactly at the deadline: on time
    "at_deadline": (at(10), [("confirm", "confirmed", at(1, 1)),
                             ("resolve", "resolved", at(10)), ("close", "closed", at(10, 1))]),
    # resolved early, sent back, resolved late: the last resolve counts
    "resolved_twice": (at(10), [("confirm", "confirmed", at(1, 1)),
                                ("resolve", "resolved", at(4)), ("return", "in_progress", at(5)),
                                ("resolve", "resolved", at(11)), ("close", "closed", at(12))]),
    # closed, then reopened at the same instant: the later row wins, not closed
    "tie": (at(10), [("confirm", "confirmed", at(1, 1)), ("resolve", "resolved", at(4)),
                     ("close", "closed", at(6)), ("reopen", "reopened", at(6))]),
    # still in progress past its deadline: due, not closed
    "open": (at(8), [("confirm", "confirmed", at(1, 1)), ("dispatch", "dispatched", at(2))]),
    # a false alarm rejected, then reopened: filed at the reopen, no deadline
    "reopened": (None, [("reject", "rejected", at(2)), ("reopen", "reopened", at(3))]),
    # never filed, no deadline
    "new": (None, []),
    # a deadline and no archive beyond the opening: due, never closed
    "bare": (at(9), []),
    # closed only in the far future: not closed yet; filed in the future: not filed yet
    "future": (at(9), [("confirm", "confirmed", datetime(2099, 1, 1, tzinfo=UTC)),
                       ("close", "closed", datetime(2099, 1, 2, tzinfo=UTC))]),
    # due in the far future
    "not_due": (datetime(2099, 1, 1, tzinfo=UTC), [("confirm", "confirmed", at(1, 1))]),
}  # fmt: skip

#: Instants to count at: before anything, in the middle of the cases, at a deadline exactly,
#: after them all.
INSTANTS = [at(1), at(4, 12), at(6), at(10), at(11, 12), at(20)]


@pytest.fixture(scope="module")
def cases(env) -> None:
    from groundstation.models import Ticket, TicketEvent

    with env.storage().session() as session:
        for name, (deadline, events) in CASES.items():
            state = events[-1][1] if events else "new"
            ticket = Ticket(label="illegal_construction", state=state, created_at=at(1),
                            updated_at=at(1), deadline=deadline, description=name)  # fmt: skip
            session.add(ticket)
            session.flush()
            for action, to_state, moment in [("open", "new", at(1)), *events]:
                event = TicketEvent(ticket_id=ticket.id, action=action, to_state=to_state,
                                    actor="test", actor_role="supervisor", at=moment)  # fmt: skip
                session.add(event)
                session.flush()  # ids in archive order: the tie case relies on it
        session.commit()


def _pure(session, now: datetime) -> tuple:
    f = figures_to_date(load_tickets(session), now=now)
    return (f.filed, f.due, f.closed_due, f.closed_on_time, f.closure_rate, f.on_time_rate,
            f.closed)  # fmt: skip


def _sql(session, now: datetime) -> tuple:
    f = count_to_date(session, now=now)
    return (f.filed, f.due, f.closed_due, f.closed_on_time, f.closure_rate, f.on_time_rate,
            f.closed)  # fmt: skip


@pytest.mark.parametrize("now", INSTANTS)
def test_the_database_counts_what_figures_to_date_computes(env, cases, now) -> None:
    with env.storage().session() as session:
        assert _sql(session, now) == _pure(session, now)


def test_the_counts_by_hand(env, cases) -> None:
    with env.storage().session() as session:
        # 20 March: filed all but "new", "bare" and "future" (8); due all with a deadline
        # passed (8); closed: on_time, late, at_deadline, resolved_twice ("tie" was reopened,
        # "future" closes in 2099); on time: on_time and at_deadline; closed (结案数, a close
        # by then, reopened since or not): those four and "tie"
        assert _sql(session, at(20)) == (8, 8, 4, 2, 0.5, 0.25, 5)
        # 10 March, 00:00: the same 8 due (those due on the 10th at this very instant);
        # closed by then only "on_time" (and "tie", reopened since)
        assert _sql(session, at(10)) == (8, 8, 1, 1, 0.125, 0.125, 2)
        assert _sql(session, at(1)) == (0, 0, 0, 0, None, None, 0)


def test_the_stats_api_reads_the_database_counts(env, cases) -> None:
    from groundstation.models import utcnow

    response = env.client().get("/api/v1/stats", headers=env.headers("supervisor"))
    assert response.status_code == 200
    stats = response.json
    with env.storage().session() as session:
        filed, due, closed_due, on_time, rate, on_time_rate, closed = _pure(session, utcnow())
    assert (stats["filed"], stats["due"], stats["closed_due"], stats["closed_on_time"]) == (
        filed,
        due,
        closed_due,
        on_time,
    )
    assert stats["closed"] == closed  # the dashboard's 结案数, not the cases closed now
    assert (stats["closure_rate"], stats["on_time_closure_rate"]) == (rate, on_time_rate)


# -- flights on the dashboard, by the grids their photos were taken over ------------------------

# Two grids side by side (lon 120.70..120.72, lat 31.70..31.71), far from the other tests'.
SD_A = [[120.70, 31.70], [120.71, 31.70], [120.71, 31.71], [120.70, 31.71], [120.70, 31.70]]
SD_B = [[120.71, 31.70], [120.72, 31.70], [120.72, 31.71], [120.71, 31.71], [120.71, 31.70]]


def _photo_flight(env, positions: list[tuple[float, float] | None]) -> int:
    """A photo flight (an SD card's photos, no flight session) with no findings."""
    from groundstation.models import Flight, Photo

    with env.storage().session() as session:
        flight = Flight(name=f"sd-{uuid.uuid4().hex[:6]}", source="upload", status="done")
        session.add(flight)
        session.flush()
        for k, position in enumerate(positions):
            lon, lat = position or (None, None)
            path = str(env.data_dir / f"sd_{flight.id}_{k}.jpg")
            session.add(Photo(flight_id=flight.id, path=path, lon=lon, lat=lat, status="done"))
        session.commit()
        return flight.id


def _flights_in(env, grid: str) -> int:
    response = env.client().get(
        f"/api/v1/dashboard?period=day&grid={grid}", headers=env.headers("supervisor")
    )
    assert response.status_code == 200, response.json
    return response.json["flights"]


def test_a_photo_flight_without_findings_counts_for_the_grids_it_photographed(env) -> None:
    add_grids(env, ("SD-A", SD_A), ("SD-B", SD_B))
    assert (_flights_in(env, "SD-A"), _flights_in(env, "SD-B")) == (0, 0)
    _photo_flight(env, [(120.705, 31.705), (120.706, 31.706), None])  # over SD-A, found nothing
    assert (_flights_in(env, "SD-A"), _flights_in(env, "SD-B")) == (1, 0)
    # a flight over SD-A whose one finding lies in SD-B serves both
    (finding,) = make_findings(env, [("illegal_construction", 0.9, (120.715, 31.705))],
                               grid_code="SD-B")  # fmt: skip
    from groundstation.models import Finding, Photo

    with env.storage().session() as session:
        photo = session.get(Photo, session.get(Finding, finding).photo_id)
        photo.lon, photo.lat = 120.709, 31.705
        session.commit()
    assert (_flights_in(env, "SD-A"), _flights_in(env, "SD-B")) == (2, 1)


def test_photo_grids_reads_any_number_of_flights(env) -> None:
    """More flights than SQLite's expression depth (1,000) allows in one bounding-box query."""
    from sqlalchemy import insert

    from groundstation.ingest import photo_grids
    from groundstation.models import Flight, Photo

    add_grids(env, ("SD-MANY", [[120.80, 31.80], [120.81, 31.80], [120.81, 31.81],
                                [120.80, 31.81], [120.80, 31.80]]))  # fmt: skip
    count = 1100
    with env.storage().session() as session:
        tag = uuid.uuid4().hex[:6]
        session.execute(
            insert(Flight), [{"name": f"m-{tag}-{i}", "source": tag} for i in range(count)]
        )
        ids = list(session.scalars(Flight.__table__.select().where(Flight.source == tag)
                                   .with_only_columns(Flight.id).order_by(Flight.id)))  # fmt: skip
        session.execute(
            insert(Photo),
            [
                {"flight_id": i, "path": f"{i}.jpg", "lon": 120.805 + (k % 2) * 0.1, "lat": 31.805}
                for k, i in enumerate(ids)
            ],
        )
        session.commit()
        found = photo_grids(session, ids)
    assert len(found) == count
    assert all(found[i] == ({"SD-MANY"} if k % 2 == 0 else set()) for k, i in enumerate(ids))


def test_grid_index_finds_the_grids_holding_many_points_at_once() -> None:
    from shapely.geometry import Polygon

    from gis.grids import Grid as GisGrid
    from groundstation.ingest import GridIndex

    index = GridIndex(
        (GisGrid("A", Polygon(SD_A), {}), GisGrid("B", Polygon(SD_B), {})),
        {"A": 1, "B": 2},
        None,
    )
    assert index.containing([120.705], [31.705]) == []  # no tree: no grid holds anything
    rows = [type("Row", (), {"code": c, "id": n, "geometry": g, "properties": {}})()
            for c, n, g in (("A", 1, Polygon(SD_A).__geo_interface__),
                            ("B", 2, Polygon(SD_B).__geo_interface__))]  # fmt: skip
    index = GridIndex.from_rows(rows)
    hits = index.containing([120.705, 120.715, 120.71, 121.0], [31.705, 31.705, 31.705, 31.0])
    assert sorted(hits) == [(0, "A"), (1, "B"), (2, "A"), (2, "B")]  # the shared edge: both
    assert index.containing([], []) == []
    assert index.locate(120.715, 31.705) == 2


def test_a_deadline_at_this_very_instant_is_due(env, cases) -> None:
    """A deadline at this very microsecond is due, in SQL as in Python."""
    with env.storage().session() as session:
        now = at(9)
        assert _sql(session, now) == _pure(session, now)
        assert _sql(session, now - timedelta(microseconds=1)) == _pure(
            session, now - timedelta(microseconds=1)
        )
