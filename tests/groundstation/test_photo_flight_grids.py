"""The grids of a photo flight on /flights come from where its photos were taken too: an
SD-card flight that found nothing still shows the grids it covered."""

from __future__ import annotations

import re
import uuid

import pytest
from conftest import add_grids, login, make_findings

# Three grids side by side (lon 120.50..120.53, lat 31.50..31.51); PF-T is a triangle whose
# bounding box holds a point its polygon does not.
PF_A = [[120.50, 31.50], [120.51, 31.50], [120.51, 31.51], [120.50, 31.51], [120.50, 31.50]]
PF_B = [[120.51, 31.50], [120.52, 31.50], [120.52, 31.51], [120.51, 31.51], [120.51, 31.50]]
PF_T = [[120.52, 31.50], [120.53, 31.50], [120.52, 31.51], [120.52, 31.50]]
FAR = [[100.0, 20.0], [100.01, 20.0], [100.01, 20.01], [100.0, 20.01], [100.0, 20.0]]


@pytest.fixture(scope="module", autouse=True)
def grids(env) -> None:
    add_grids(env, ("PF-A", PF_A), ("PF-B", PF_B), ("PF-T", PF_T), ("PF-FAR", FAR))


def photo_flight(env, positions: list[tuple[float, float] | None]) -> int:
    """A registered photo flight (as an SD-card upload makes one): one photo per position
    (None: a photo without a geotag), no findings."""
    from groundstation.models import Flight, Photo

    with env.storage().session() as session:
        flight = Flight(name=f"sd-{uuid.uuid4().hex[:6]}", source="upload", status="done")
        session.add(flight)
        session.flush()
        for k, position in enumerate(positions):
            lon, lat = position or (None, None)
            path = str(env.data_dir / f"{flight.id}_{k}.jpg")
            session.add(Photo(flight_id=flight.id, path=path, lon=lon, lat=lat, status="done"))
        session.commit()
        return flight.id


def grids_of(env, flight_ids: list[int]) -> dict[int, list[str]]:
    from groundstation.blueprints.flights import photo_flight_rows
    from groundstation.models import Flight
    from groundstation.tickets import Actor

    with env.app.test_request_context(), env.storage().session() as session:
        flights = [session.get(Flight, i) for i in flight_ids]
        rows = photo_flight_rows(session, flights, Actor("pilot", "pilot"))
        return {row["id"]: row["grids"] for row in rows}


def test_a_flight_without_findings_shows_the_grids_its_photos_were_taken_over(env) -> None:
    covering = photo_flight(
        env,
        [
            (120.505, 31.505),  # PF-A
            (120.506, 31.506),  # PF-A again
            (120.515, 31.505),  # PF-B
            (120.528, 31.508),  # in PF-T's bounding box, outside the triangle
            (120.60, 31.60),  # outside every grid
            None,  # no position
        ],
    )
    nowhere = photo_flight(env, [(121.0, 32.0), None])
    no_photos = photo_flight(env, [])
    assert grids_of(env, [covering, nowhere, no_photos]) == {
        covering: ["PF-A", "PF-B"],
        nowhere: [],
        no_photos: [],
    }
    client = env.client()
    login(client, "pilot")
    html = client.get(f"/flights?flight={covering}").get_data(as_text=True)
    row = re.search(rf'<tr id="flight-{covering}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert 'href="/grids/PF-A"' in row and 'href="/grids/PF-B"' in row
    assert "PF-T" not in row and "PF-FAR" not in row


def test_photo_grids_add_to_the_grids_of_findings(env) -> None:
    from groundstation.models import Finding, Photo

    (finding_id,) = make_findings(env, [("illegal_construction", 0.9, (120.505, 31.505))],
                                  grid_code="PF-A")  # fmt: skip
    with env.storage().session() as session:
        finding = session.get(Finding, finding_id)
        flight_id = finding.flight_id
        session.get(Photo, finding.photo_id).lon = 120.505
        session.get(Photo, finding.photo_id).lat = 31.505
        session.add(Photo(flight_id=flight_id, path="x.jpg", lon=120.515, lat=31.505))
        session.commit()
    assert grids_of(env, [flight_id]) == {flight_id: ["PF-A", "PF-B"]}
