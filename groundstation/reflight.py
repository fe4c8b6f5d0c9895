"""Re-flight checks: a later flight over a resolved case says whether the violation is still seen.

A department reports a case resolved; the next patrol flight over the place is the independent check
before a supervisor verifies it (核查). After a flight is ingested, every resolved ticket whose
position lies inside one of the flight's photos gets a ``reflight_check`` event in its case archive:
*still seen* (a finding of the ticket's class, not rejected in review, within ``radius_m`` of the
ticket or whose footprint contains it) or *not seen* in the photos that cover it. The supervisor
then verifies or reopens the case with that evidence; nothing changes state on its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shapely.geometry import Point, shape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gis.camera import Camera
from gis.crs import LocalFrame
from groundstation.errors import NotFoundError, ValidationError
from groundstation.imagery import nadir_georef, place_photo
from groundstation.models import Finding, Photo, Ticket, utcnow
from groundstation.sightings import MERGE_RADIUS_M
from groundstation.tickets import SYSTEM, record_event
from vision.georef import box_polygon

__all__ = ["ACTION", "ReflightCheck", "photo_footprint", "check_resolved_tickets"]

log = logging.getLogger("gridpatrol.reflight")

#: The case-archive action a re-flight check writes.
ACTION = "reflight_check"


@dataclass(frozen=True, slots=True)
class ReflightCheck:
    """What one flight showed of one resolved ticket's place."""

    ticket_id: int
    flight_id: int
    photos: int  # how many of the flight's photos cover the ticket's position
    finding_id: int | None  # the finding that still shows the violation, if any


def photo_footprint(photo: Photo, camera: Camera):
    """The WGS84 polygon a stored photo shows (a GeoTIFF's from its geotransform), or None
    when it cannot be placed."""
    try:
        placement = place_photo(photo, camera)
    except (NotFoundError, ValidationError) as exc:
        log.debug("photo %s cannot be placed: %s", photo.id, exc)
        return None
    size = nadir_georef(placement)
    return box_polygon(placement, (0, 0, size.width, size.height))


def _still_seen(findings: Sequence[Finding], ticket: Ticket, radius_m: float) -> Finding | None:
    """The nearest finding of the ticket's class showing its place, if any."""
    frame = LocalFrame(ticket.lon, ticket.lat)
    best: tuple[float, int, Finding] | None = None
    for f in findings:
        if f.final_label != ticket.label or f.id == ticket.finding_id or f.lon is None:
            continue
        x, y = frame.forward(f.lon, f.lat)
        distance = math.hypot(float(x), float(y))
        inside = bool(f.polygon) and shape(f.polygon).contains(Point(ticket.lon, ticket.lat))
        if (distance <= radius_m or inside) and (best is None or (distance, f.id) < best[:2]):
            best = (distance, f.id, f)
    return best[2] if best else None


def check_resolved_tickets(
    session: Session,
    flight_id: int,
    camera: Camera,
    *,
    radius_m: float = MERGE_RADIUS_M,
    now: datetime | None = None,
) -> list[ReflightCheck]:
    """Record what an ingested flight (shot with ``camera``) shows of every resolved ticket it
    photographed (once per ticket and flight; not committed); return the checks made."""
    now = now or utcnow()
    tickets = session.scalars(
        select(Ticket).where(Ticket.state == "resolved", Ticket.lat.is_not(None))
    ).all()
    if not tickets:
        return []
    path = func.lower(Photo.path)
    placeable = or_(  # a GeoTIFF is placed by its geotransform, whatever its row holds
        Photo.lat.is_not(None), path.endswith(".tif"), path.endswith(".tiff")
    )
    photos = session.scalars(
        select(Photo).where(Photo.flight_id == flight_id, Photo.status == "done", placeable)
    ).all()
    footprints = [fp for fp in (photo_footprint(p, camera) for p in photos) if fp is not None]
    if not footprints:
        return []
    findings = session.scalars(
        select(Finding).where(Finding.flight_id == flight_id, Finding.review_status != "rejected")
    ).all()
    checks = []
    for ticket in tickets:
        place = Point(ticket.lon, ticket.lat)
        covering = sum(1 for fp in footprints if fp.contains(place))
        if not covering:
            continue
        if any(e.action == ACTION and e.data.get("flight_id") == flight_id for e in ticket.events):
            continue
        finding = _still_seen(findings, ticket, radius_m)
        check = ReflightCheck(ticket.id, flight_id, covering, finding.id if finding else None)
        reason = (
            f"flight {flight_id}: still seen (finding {finding.id})"
            if finding
            else f"flight {flight_id}: not seen in {covering} photo(s) covering it"
        )
        record_event(
            session,
            ticket,
            ACTION,
            SYSTEM,
            reason=reason,
            data={"flight_id": flight_id, "photos": covering, "finding_id": check.finding_id},
            now=now,
        )
        checks.append(check)
    session.flush()
    return checks
