"""Re-flight check: a later flight over a resolved ticket records whether its violation is
still seen."""

from __future__ import annotations

import numpy as np
from conftest import G1, PHOTO_LONLAT, add_grids, ingest_folder, login, make_ticket, write_sidecar
from sqlalchemy import select

from gis.camera import PRESETS
from gis.exif import GeoTag, write_jpeg
from groundstation.models import TicketEvent
from groundstation.reflight import ACTION, check_resolved_tickets

RED, GREEN = (200, 40, 30), (40, 200, 40)  # the fake classifier: burning, background


def _flight(env, folder, colour, lonlat, *, finding_lonlat=None) -> int:
    """One 80 m nadir photo of flat ``colour`` centred on ``lonlat``, ingested."""
    folder.mkdir(parents=True)
    path = folder / "p.jpg"
    image = np.full((300, 400, 3), colour, dtype=np.uint8)
    tag = GeoTag(lonlat[1], lonlat[0], 90.0, relative_altitude_m=80.0, yaw_deg=20.0)
    write_jpeg(path, image, tag)
    if finding_lonlat is not None:  # where the fake classifier places its finding
        write_sidecar(path, finding_lonlat)
    return ingest_folder(env, folder, camera="phantom4pro")


def _checks(env, ticket_id: int) -> list[dict]:
    with env.storage().session() as session:
        return [
            e.data
            for e in session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id, TicketEvent.action == ACTION)
                .order_by(TicketEvent.id)
            )
        ]


def test_reflight_over_a_resolved_ticket(env, tmp_path) -> None:
    add_grids(env, ("R-G1", G1))
    resolved = make_ticket(env, "resolved", label="straw_burning")
    dispatched = make_ticket(env, "dispatched", label="straw_burning")

    # the fire is still there: a finding of its class 6 m away
    near = (PHOTO_LONLAT[0] + 0.00006, PHOTO_LONLAT[1])
    still = _flight(env, tmp_path / "a", RED, PHOTO_LONLAT, finding_lonlat=near)
    # the place photographed again, nothing found
    gone = _flight(env, tmp_path / "b", GREEN, (PHOTO_LONLAT[0] + 0.0002, PHOTO_LONLAT[1]))
    # a flight 1 km away says nothing about it
    _flight(env, tmp_path / "c", GREEN, (PHOTO_LONLAT[0] + 0.01, PHOTO_LONLAT[1]))

    checks = _checks(env, resolved)
    assert [c["flight_id"] for c in checks] == [still, gone]
    assert checks[0]["finding_id"] is not None and checks[0]["photos"] == 1
    assert checks[1]["finding_id"] is None and checks[1]["photos"] == 1
    assert _checks(env, dispatched) == []  # only resolved cases wait for a re-flight check

    # checking a flight again writes nothing new; the state is left to the supervisor
    with env.storage().session() as session:
        assert check_resolved_tickets(session, still, PRESETS["phantom4pro"]) == []
    client = env.client()
    ticket = client.get(f"/api/v1/tickets/{resolved}", headers=env.headers("supervisor")).json
    assert ticket["state"] == "resolved"

    # the case archive says it in the supervisors' language
    login(client, "supervisor")
    html = client.get(f"/tickets/{resolved}").get_data(as_text=True)
    assert f"航次 #{still} 仍拍到该问题" in html
    assert f"航次 #{gone} 未再拍到该问题（1 张照片覆盖该处）" in html


def test_a_resolved_case_seen_again_is_its_sighting_and_still_seen(env, tmp_path) -> None:
    """The second flight over a drone case the department reports resolved: the fire it shows
    joins the case (no new finding to review, no second ticket) and the re-flight check says
    the case is still seen, naming that sighting."""
    from groundstation.models import Finding, Ticket

    place = (PHOTO_LONLAT[0] - 0.003, PHOTO_LONLAT[1] + 0.002)  # away from the other tests
    first = _flight(env, tmp_path / "first", RED, place, finding_lonlat=place)
    client = env.client()
    with env.storage().session() as session:
        primary = session.scalars(select(Finding.id).where(Finding.flight_id == first)).one()
    reply = client.post(
        f"/api/v1/findings/{primary}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    ticket_id = reply.json["ticket_id"]
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).state = "resolved"  # dispatched, handled, reported done
        session.commit()

    near = (place[0] + 0.00004, place[1])  # 4 m away
    second = _flight(env, tmp_path / "second", RED, place, finding_lonlat=near)
    with env.storage().session() as session:
        seen = session.scalars(select(Finding).where(Finding.flight_id == second)).one()
        assert seen.sighting_of == primary and seen.review_status == "confirmed"
        assert session.scalars(select(Ticket.id).where(Ticket.finding_id == seen.id)).all() == []
        seen_id = seen.id
    assert _checks(env, ticket_id) == [{"flight_id": second, "photos": 1, "finding_id": seen_id}]
    ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("supervisor")).json
    assert ticket["state"] == "resolved"  # the supervisor decides (reopen or verify)
    queue = client.get(
        f"/api/v1/findings?flight={second}&primary=1", headers=env.headers("supervisor")
    ).json
    assert queue["items"] == []  # nothing new to review
