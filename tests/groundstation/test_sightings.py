"""Sightings: overlapping photos of one object become one finding to review and one ticket."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import G1, add_grids, ingest_folder, write_photo, write_sidecar
from shapely.geometry import box
from sqlalchemy import select

from gis.crs import LocalFrame
from groundstation.models import Finding, Photo, Ticket
from groundstation.sightings import CENTRAL_M, Sighting, link_sightings, same_object, view_rank

# ~4.7 m per 0.00005° of longitude at 32.4° N; 0.002° is ~190 m
FIRE = (119.9050, 32.4050)


def test_same_object_by_distance_or_footprint() -> None:
    assert same_object(Sighting(0, 0), Sighting(12, 9))  # 15 m apart
    assert not same_object(Sighting(0, 0), Sighting(30, 0))
    # a long place seen from two photos: centres 40 m apart, footprints overlapping by half
    a = Sighting(0, 0, box(-30, -5, 30, 5))
    b = Sighting(40, 0, box(0, -5, 60, 5))
    assert same_object(a, b)
    # two sheds whose boxes only touch are two objects
    c = Sighting(60, 0, box(30, -5, 90, 5))
    assert not same_object(a, c)
    assert not same_object(Sighting(0, 0, box(0, 0, 0, 0)), Sighting(50, 0, box(0, 0, 0, 0)))


def _flight(env, tmp_path) -> int:
    folder = tmp_path / "flight"
    # one fire in three overlapping photos; the strongest view comes second
    write_photo(folder / "a.jpg", (180, 70, 70), lonlat=FIRE)
    write_photo(folder / "b.jpg", (220, 50, 50), lonlat=(FIRE[0] + 0.00005, FIRE[1]))
    write_photo(folder / "c.jpg", (200, 60, 60), lonlat=(FIRE[0] + 0.0001, FIRE[1] + 0.00005))
    write_photo(folder / "d.jpg", (200, 60, 60), lonlat=(FIRE[0] + 0.002, FIRE[1]))  # another fire
    write_photo(folder / "e.jpg", (30, 50, 200), lonlat=FIRE)  # a boat on the same spot
    return ingest_folder(env, folder, name="sightings")


def _names(session, flight_id: int) -> dict[str, Finding]:
    rows = session.scalars(select(Finding).where(Finding.flight_id == flight_id)).all()
    return {r.photo.path.rsplit("/", 1)[-1]: r for r in rows}


def test_one_object_one_review_one_ticket(env, tmp_path) -> None:
    add_grids(env, ("S-G1", G1))
    flight_id = _flight(env, tmp_path)
    with env.storage().session() as session:
        f = _names(session, flight_id)
        assert set(f) == {"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"}
        # the strongest view (b) is the fire's primary; the weaker views point to it
        assert f["b.jpg"].sighting_of is None
        assert f["a.jpg"].sighting_of == f["c.jpg"].sighting_of == f["b.jpg"].id
        # another fire 190 m away and a boat on the same spot stay objects of their own
        assert f["d.jpg"].sighting_of is None and f["e.jpg"].sighting_of is None
        ids = {name: row.id for name, row in f.items()}

    client = env.client()
    queue = client.get(
        f"/api/v1/findings?flight={flight_id}&primary=1", headers=env.headers("supervisor")
    ).get_json()
    assert {i["id"] for i in queue["items"]} == {ids["b.jpg"], ids["d.jpg"], ids["e.jpg"]}
    assert {i["id"]: i["sightings"] for i in queue["items"]}[ids["b.jpg"]] == 2
    everything = client.get(f"/api/v1/findings?flight={flight_id}", headers=env.headers("pilot"))
    assert everything.get_json()["total"] == 5
    dashboard = client.get("/api/v1/dashboard", headers=env.headers("supervisor")).get_json()
    assert dashboard["findings_by_class"] == {"illegal_fishing": 1, "straw_burning": 2}  # objects
    bad = client.get("/api/v1/findings?primary=yes", headers=env.headers("pilot"))
    assert bad.status_code == 400 and "primary" in bad.get_json()["error"]

    # confirming any view confirms the object: one ticket, every view confirmed
    reply = client.post(
        f"/api/v1/findings/{ids['a.jpg']}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["id"] == ids["b.jpg"] and body["ticket_id"] and body["sightings"] == 2
    with env.storage().session() as session:
        f = _names(session, flight_id)
        assert [f[n].review_status for n in ("a.jpg", "b.jpg", "c.jpg")] == ["confirmed"] * 3
        assert f["d.jpg"].review_status == "pending"
        tickets = session.scalars(
            select(Ticket.finding_id).where(Ticket.finding_id.in_(list(ids.values())))
        ).all()
        assert tickets == [ids["b.jpg"]]

        # a later view of the reviewed fire takes its decision and keeps the ticket it has
        late = Finding(
            photo_id=f["c.jpg"].photo_id,
            flight_id=flight_id,
            label="straw_burning",
            score=0.99,
            box_px=[0, 0, 1, 1],
            lon=FIRE[0],
            lat=FIRE[1],
            review_status="pending",
        )
        session.add(late)
        session.flush()
        assert link_sightings(session, [late]) == 1
        assert late.sighting_of == ids["b.jpg"] and late.review_status == "confirmed"
        session.rollback()

    again = client.post(
        f"/api/v1/findings/{ids['c.jpg']}/review",
        json={"decision": "reject"},
        headers=env.headers("supervisor"),
    )
    assert again.status_code == 409 and str(ids["b.jpg"]) in again.get_json()["error"]


def _one_photo_flight(env, folder, lonlat) -> Finding:
    write_photo(folder / "p.jpg", (210, 55, 55), lonlat=lonlat)
    flight_id = ingest_folder(env, folder, name=folder.name)
    with env.storage().session() as session:
        return session.scalars(select(Finding).where(Finding.flight_id == flight_id)).one()


def test_objects_span_flights_until_their_case_is_closed(env, tmp_path) -> None:
    place = (119.9070, 32.4070)
    first = _one_photo_flight(env, tmp_path / "sortie1", place)
    # the next sortie sees the same fire 4 m away: one object, still one review item
    second = _one_photo_flight(env, tmp_path / "sortie2", (place[0] + 0.00004, place[1]))
    assert first.sighting_of is None and second.sighting_of == first.id
    client = env.client()
    # the second sortie's queue still lists the object it saw (its primary is the first sortie's)
    queue = client.get(
        f"/api/v1/findings?flight={second.flight_id}&primary=1", headers=env.headers("supervisor")
    ).get_json()
    assert [i["id"] for i in queue["items"]] == [first.id]

    reply = client.post(
        f"/api/v1/findings/{first.id}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    ticket_id = reply.get_json()["ticket_id"]
    # while the case is open, a later flight's view joins it and takes its decision: no new ticket
    third = _one_photo_flight(env, tmp_path / "later", place)
    assert third.sighting_of == first.id and third.review_status == "confirmed"

    # resolved (and verified) cases seen again are still the same case: their re-flight check
    for state in ("resolved", "verified"):
        _set_state(env, ticket_id, state)
        again = _one_photo_flight(env, tmp_path / f"recheck-{state}", (place[0], place[1] + 3e-5))
        assert again.sighting_of == first.id and again.review_status == "confirmed"

    # once the case is closed, the violation seen again is a new case (a re-offence)
    _set_state(env, ticket_id, "closed")
    anew = _one_photo_flight(env, tmp_path / "reoffence", place)
    assert anew.sighting_of is None and anew.review_status == "pending"
    with env.storage().session() as session:
        assert session.scalar(select(Ticket.id).where(Ticket.finding_id == anew.id)) is None


def _set_state(env, ticket_id: int, state: str) -> None:
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).state = state
        session.commit()


@pytest.mark.parametrize("ticketed", [False, True])
def test_a_rejected_false_alarm_is_not_repeated(env, tmp_path, ticketed) -> None:
    """A false alarm rejected in review (its ticket filed before, as the demo does, or by the
    review itself) seen by a later flight takes its rejection: not a new pending finding nor a
    new case."""
    from groundstation.tickets import Actor, open_ticket

    place = (119.9010, 32.4090) if ticketed else (119.9010, 32.4030)
    first = _one_photo_flight(env, tmp_path / "first", place)
    if ticketed:
        with env.storage().session() as session:
            open_ticket(
                session,
                label=first.label,
                actor=Actor("gridpatrol-demo", "system"),
                lat=first.lat,
                lon=first.lon,
                finding=session.get(Finding, first.id),
            )
            session.commit()
    reply = env.client().post(
        f"/api/v1/findings/{first.id}/review",
        json={"decision": "reject", "note": "红色彩钢瓦屋顶"},
        headers=env.headers("supervisor"),
    )
    assert reply.status_code == 200, reply.get_json()
    again = _one_photo_flight(env, tmp_path / "again", (place[0] + 0.000003, place[1]))
    assert again.sighting_of == first.id
    assert (again.review_status, again.reviewed_label) == ("rejected", "background")
    queue = (
        env.client()
        .get(
            f"/api/v1/findings?flight={again.flight_id}&primary=1",
            headers=env.headers("supervisor"),
        )
        .get_json()
    )
    assert queue["items"] == []  # nothing new to review
    with env.storage().session() as session:
        tickets = session.scalars(select(Ticket.state).where(Ticket.finding_id == first.id)).all()
        assert tickets == ["rejected"]  # one case, filed as rejected by the review


def test_view_rank_prefers_views_near_the_photos_nadir() -> None:
    frame = LocalFrame(*FIRE)

    def view(score: float, photo_east_m: float) -> Finding:
        # the photo is taken `photo_east_m` east of the object it shows
        lon = FIRE[0] + photo_east_m / 94_000  # ~94 km per degree of longitude at 32.4° N
        return Finding(lon=FIRE[0], lat=FIRE[1], score=score, photo=Photo(lon=lon, lat=FIRE[1]))

    edge, nadir = view(0.96, 30.0), view(0.90, 2.0)
    assert view_rank(nadir, frame) < view_rank(edge, frame)  # the object whole, not cut
    # within CENTRAL_M of nadir views are equally central: the stronger is the better
    assert view_rank(view(0.95, 6.0), frame) < view_rank(view(0.90, 1.0), frame)
    # equally far out, the stronger is the better; without positions, scores decide
    assert view_rank(view(0.95, 20.0), frame) < view_rank(view(0.78, 20.0), frame)
    blind = Finding(lon=None, lat=None, score=0.9, photo=Photo(lon=None, lat=None))
    assert view_rank(blind, frame) == pytest.approx(CENTRAL_M / 0.9)


def test_the_view_nearest_nadir_becomes_the_objects_primary(env, tmp_path) -> None:
    from gis.exif import GeoTag, write_jpeg

    add_grids(env, ("S-G1", G1))
    place = (119.9030, 32.4080)  # away from the other tests' objects
    folder = tmp_path / "nadir"
    folder.mkdir()
    # the strongest view was taken 40 m west of the object, the object at its photo's edge; a
    # weaker one straight above shows it whole
    for name, rgb, photo_lon in (
        ("edge.jpg", (230, 40, 40), place[0] - 40 / 94_000),
        ("nadir.jpg", (190, 60, 60), place[0]),
    ):
        image = np.full((48, 64, 3), rgb, dtype=np.uint8)
        write_jpeg(
            folder / name, image, GeoTag(place[1], photo_lon, 80.0, relative_altitude_m=60.0)
        )
        write_sidecar(folder / name, place)
    flight_id = ingest_folder(env, folder, name="nadir")
    with env.storage().session() as session:
        f = _names(session, flight_id)
        assert f["edge.jpg"].score > f["nadir.jpg"].score
        assert f["nadir.jpg"].sighting_of is None and f["edge.jpg"].sighting_of == f["nadir.jpg"].id
