"""Sightings: the photos that show the same object become one finding to review.

Survey photos overlap (a mapping flight sees every point in about twelve photos), so one shed or
fire yields a finding per photo, and a district flown in several sorties may see it from two
flights. Each newly stored finding joins the known finding of its class that shows the same
object -- centres within ``radius_m``, or ground footprints overlapping by at least
``MIN_OVERLAP`` of the smaller -- as a *sighting* of it, unless that object's case is closed (seen
again, it is a new case). The group's best view is its *primary*: the one the review
queue lists, whose place the ticket takes, whose decision its sightings share and whose ticket
covers them all. The best view is the one nearest its photo's nadir point for its score: an
object near a photo's edge is often cut by it, and the centre of what is left lies metres inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.crs import LocalFrame
from groundstation.models import Finding, Ticket

__all__ = [
    "MERGE_RADIUS_M",
    "MIN_OVERLAP",
    "ENDED_STATES",
    "Sighting",
    "same_object",
    "view_rank",
    "link_sightings",
    "review_object",
    "share_review",
]

#: Findings of one class whose centres are this close show the same object.
MERGE_RADIUS_M = 20.0
#: ... as do findings whose ground footprints overlap by this share of the smaller one.
MIN_OVERLAP = 0.1
#: Views whose centres lie this close to their photo's nadir point are equally central.
CENTRAL_M = 10.0
#: Candidates are first picked by a coarse box around the new finding (degrees, ~1 km).
_SEARCH_DEG = 0.01
#: Ticket states of a case that has ended: its object seen again is a new case (a re-offence).
ENDED_STATES = frozenset({"closed"})
_REVIEW_FIELDS = ("review_status", "reviewed_label", "reviewed_by", "reviewed_at")


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where a finding lies in a local metric frame: its centre and ground footprint (if any)."""

    x: float
    y: float
    footprint: BaseGeometry | None = None


def same_object(
    a: Sighting, b: Sighting, *, radius_m: float = MERGE_RADIUS_M, min_overlap: float = MIN_OVERLAP
) -> bool:
    """Whether two same-class findings show one object: near centres or overlapping footprints."""
    if math.hypot(a.x - b.x, a.y - b.y) <= radius_m:
        return True
    if a.footprint is None or b.footprint is None:
        return False
    smaller = min(a.footprint.area, b.footprint.area)
    if smaller <= 0:
        return False
    return a.footprint.intersection(b.footprint).area >= min_overlap * smaller


def view_rank(finding: Finding, frame: LocalFrame) -> float:
    """How well a finding's photo shows its object, lower is better: the distance (m, at least
    :data:`CENTRAL_M`) from its centre to its photo's nadir point, over its score. Without
    positions every view counts as central, and the stronger is the better."""
    photo = finding.photo
    offset = 0.0
    if None not in (finding.lon, finding.lat, photo.lon, photo.lat):
        x0, y0 = frame.forward(finding.lon, finding.lat)
        x1, y1 = frame.forward(photo.lon, photo.lat)
        offset = math.hypot(x1 - x0, y1 - y0)
    return max(offset, CENTRAL_M) / max(finding.score, 1e-6)


def _sighting(finding: Finding, frame: LocalFrame) -> Sighting:
    x, y = frame.forward(finding.lon, finding.lat)
    footprint = None
    if finding.polygon:
        try:
            geometry = frame.to_local(shape(finding.polygon))
            footprint = geometry if geometry.is_valid and not geometry.is_empty else None
        except (ValueError, TypeError, AttributeError):
            footprint = None
    return Sighting(float(x), float(y), footprint)


def _still_known(finding: Finding, ticket_state: str | None, flight_id: int) -> bool:
    """Whether a primary from any flight is the object a new view of its place shows: found in
    this flight, or from an earlier one awaiting review, reviewed (a rejected false alarm is not
    repeated) or behind a ticket in any state but closed (a resolved case seen again is its
    re-flight check, not a new case). Only a closed case seen again is a new object."""
    if finding.flight_id == flight_id:
        return True
    return ticket_state not in ENDED_STATES


def link_sightings(
    session: Session, findings: Sequence[Finding], *, radius_m: float = MERGE_RADIUS_M
) -> int:
    """Attach newly stored findings (flushed: they have ids) to the objects already known --
    of their own flight, or of earlier flights unless their case is closed (a district flown in
    several sorties, a case not yet closed, a false alarm) -- and return how many became
    sightings (not committed).

    A new finding that shows the object better (:func:`view_rank`) takes over as its primary
    while that primary is still unreviewed and ticketless; a sighting of an object already
    reviewed takes its decision.
    """
    linked = 0
    for new in findings:
        if new.lon is None or new.lat is None or new.sighting_of is not None:
            continue
        rows = session.execute(
            select(Finding, Ticket.state)
            .outerjoin(Ticket, Ticket.finding_id == Finding.id)  # at most one ticket each
            .where(
                Finding.label == new.label,
                Finding.sighting_of.is_(None),
                Finding.id != new.id,
                Finding.lon.between(new.lon - _SEARCH_DEG, new.lon + _SEARCH_DEG),
                Finding.lat.between(new.lat - _SEARCH_DEG, new.lat + _SEARCH_DEG),
            )
        ).all()
        ticket_state = {c.id: state for c, state in rows}
        candidates = [c for c, state in rows if _still_known(c, state, new.flight_id)]
        if not candidates:
            continue
        frame = LocalFrame(new.lon, new.lat)
        here = _sighting(new, frame)
        matches = [
            (math.hypot(s.x - here.x, s.y - here.y), c.id, c)
            for c in candidates
            if same_object(here, s := _sighting(c, frame), radius_m=radius_m)
        ]
        if not matches:
            continue
        _, _, primary = min(matches, key=lambda m: m[:2])
        linked += 1
        if (
            view_rank(new, frame) < view_rank(primary, frame)
            and primary.review_status == "pending"
            and ticket_state[primary.id] is None
        ):
            # the better view becomes the object's primary (its crop is the one reviewed)
            for other in session.scalars(select(Finding).where(Finding.sighting_of == primary.id)):
                other.sighting_of = new.id
            primary.sighting_of = new.id
        else:
            new.sighting_of = primary.id
            if primary.review_status != "pending":
                share_review(primary, [new])
        session.flush()
    return linked


def share_review(primary: Finding, sightings: Sequence[Finding]) -> None:
    """Give sightings the review decision of their primary (a sighting is only ever reviewed
    as its object, so a decision changed later reaches them too)."""
    for sighting in sightings:
        for name in _REVIEW_FIELDS:
            setattr(sighting, name, getattr(primary, name))
        sighting.review_note = f"sighting of finding {primary.id}"


def review_object(
    primary: Finding,
    sightings: Sequence[Finding],
    *,
    confirmed: bool,
    label: str,
    by: str,
    at: datetime,
    note: str = "",
) -> None:
    """Record a review decision on an object: its primary is confirmed as ``label`` or rejected
    (as background), and its sightings share the decision (not committed)."""
    primary.review_status = "confirmed" if confirmed else "rejected"
    primary.reviewed_label = label if confirmed else "background"
    primary.reviewed_by, primary.reviewed_at, primary.review_note = by, at, note
    share_review(primary, sightings)
