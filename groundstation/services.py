"""Business operations shared by the UI, the JSON API and the CLI: grid import and finding review.

Each function validates everything first and changes nothing when it raises.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flask_babel.speaklater import LazyString
from shapely.geometry import mapping
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from gis.errors import GisError
from gis.grids import GRID_ID_REFUSED, shown_grid_id
from gis.grids import Grid as GisGrid
from gis.grids import check_grid_id as gis_check_grid_id
from groundstation.errors import NotFoundError, TransitionError, ValidationError
from groundstation.i18n import ROLE_NAMES, lazy_names, lazy_text
from groundstation.i18n import lazy_message as _l
from groundstation.models import LABELS, TICKET_LABELS, Finding, Flight, Grid, Ticket, utcnow
from groundstation.sightings import review_object
from groundstation.text import is_blank
from groundstation.tickets import (
    Actor,
    ReviewSync,
    apply_review,
    open_ticket_for_finding,
    plan_review,
)

__all__ = [
    "DECISIONS",
    "GridLinesError",
    "GRID_ID_REFUSED",
    "check_grid_id",
    "read_grid_file",
    "import_grids",
    "review_findings",
    "grid_history",
    "export_reviews",
]

DECISIONS = ("confirm", "reject", "reclassify")
#: The longest grid code the database keeps (``grids.code``).
CODE_LENGTH: int = Grid.__table__.c.code.type.length
REVIEW_ROLES = frozenset({"supervisor", "admin"})


class GridLinesError(ValidationError):
    """A grid file holds lines (corridor centre lines), which are not grids; nothing was stored.

    Its message says what a web or API user can do about it; ``name`` and ``listed`` (the first
    ten line ids) let the CLI give its own advice."""

    def __init__(self, name: str, lines: Sequence[str]) -> None:
        self.name = name
        self.lines = tuple(lines)
        self.listed = ", ".join(self.lines[:10]) + (" …" if len(self.lines) > 10 else "")
        super().__init__(
            _l(
                "grid file %(name)s holds lines (%(lines)s): a line is a centre line, not a "
                "grid, and grids are areas (Polygon or MultiPolygon); buffer each line into a "
                "corridor polygon in your GIS, or remove the lines, and import the file again",
                name=repr(name),
                lines=self.listed,
            )
        )


def read_grid_file(
    data: bytes, filename: str, *, left_out: Counter[str] | None = None
) -> list[GisGrid]:
    """Grids from an uploaded GeoJSON/KML/KMZ/zipped-Shapefile, via :mod:`gis.io`, with ids
    that can name a page (:func:`check_grid_id`); what the layer holds besides grids is counted
    in ``left_out`` (markers by geometry type, no-fly zones by their kind ``no_fly_zone``).

    A layer holding lines is refused whole (:class:`GridLinesError`, naming them) before any
    feature is checked: the station keeps grids as areas and never drops a line silently, and
    a line is refused as a line whatever its shape (a plan preview's route crosses itself)."""
    from gis.io import line_ids, missing_attribute_table, read_features_bytes, read_grids

    name = Path(filename or "").name
    if not name:
        raise ValidationError(_l("grid file has no name; give it a .geojson/.kml/.kmz/.zip name"))
    try:
        features = read_features_bytes(data, name)
        lines = line_ids(features, origin=name)
        if lines:
            raise GridLinesError(name, lines)
        grids = read_grids(features, left_out=left_out, origin=name)
    except GisError as exc:
        raise ValidationError(
            _l("grid file %(name)s cannot be read: %(detail)s", name=repr(name), detail=exc)
        ) from exc
    table = None if all(map(_named, grids)) else missing_attribute_table(data, name)
    if table is not None:  # the ids are in the missing file, not missing from each grid
        raise ValidationError(
            _l(
                "grid file %(name)s lacks the shapefile's attribute table %(table)s (the .dbf "
                "that holds the grids' grid_id or name); put it beside the .shp and .shx",
                name=repr(name),
                table=repr(table),
            )
        )
    for grid in grids:
        check_grid_id(str(grid.grid_id))
    return grids


def check_grid_id(code: str) -> None:
    """Refuse a grid id that cannot name its pages (:func:`gis.grids.check_grid_id`, the rule
    `gridpatrol plan` applies too): markup or control characters, / \\ ? # % , or dots only."""
    try:
        gis_check_grid_id(code)
    except GisError as exc:
        raise ValidationError(lazy_text(exc.args[0])) from None


def _shown_id(code: str) -> str:
    """A grid id for a message: quoted, and cut after 40 characters."""
    return shown_grid_id(code)


def import_grids(session: Session, grids: Sequence[GisGrid]) -> dict[str, int]:
    """Insert or update grids by code (not committed); all are checked before any is written.

    Returns how many grids were ``created``, ``updated`` (a stored grid whose shape, name or
    properties changed) and ``unchanged``. Codes longer than the column, and codes differing
    only in case from another of the layer or from a stored grid (the ticket filter takes them
    for one), are refused.
    """
    if not grids:
        raise ValidationError(_l("the grid layer holds no grids"))
    seen: set[str] = set()
    folded: dict[str, str] = {}
    for index, grid in enumerate(grids, 1):
        code = str(grid.grid_id).strip()
        if is_blank(code):  # nothing visible: spaces, zero-width characters
            raise ValidationError(_l("a grid has an empty id"))
        if len(code) > CODE_LENGTH:
            raise ValidationError(
                _l(
                    "grid id %(code)s is %(length)d characters long; at most %(max)d are allowed",
                    code=_shown_id(code),
                    length=len(code),
                    max=CODE_LENGTH,
                )
            )
        if not _named(grid):  # numbered by its place in the file: it would replace grid "1" ...
            raise ValidationError(
                _l(
                    "grid %(index)d has no grid_id or name property: the ground station keeps "
                    "grids by id, and a number from its place in the file would replace "
                    "another layer's grid of that number",
                    index=index,
                )
            )
        if code in seen:
            raise ValidationError(
                _l("grid id %(code)s appears twice in the layer", code=repr(code))
            )
        if code.casefold() in folded:
            raise ValidationError(
                _l(
                    "grid ids %(code)s and %(other)s differ only in case; grid ids must differ "
                    "in more than case (the ticket filter finds grids ignoring case)",
                    code=repr(code),
                    other=repr(folded[code.casefold()]),
                )
            )
        seen.add(code)
        folded[code.casefold()] = code
        geom = grid.geometry
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise ValidationError(
                _l("grid %(code)s: geometry must be a non-empty (Multi)Polygon", code=repr(code))
            )
        if not geom.is_valid:
            raise ValidationError(
                _l("grid %(code)s: geometry is invalid (self-intersecting?)", code=repr(code))
            )
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ValidationError(
                _l("grid %(code)s: coordinates are not WGS84 lon/lat", code=repr(code))
            )
    existing = {g.code: g for g in session.scalars(select(Grid).where(Grid.code.in_(seen)))}
    for stored in session.scalars(select(Grid.code)):
        code = folded.get(stored.casefold())
        # a grid stored under this very code is updated (older data may hold both cases)
        if code is not None and code != stored and code not in existing:
            raise ValidationError(
                _l(
                    "grid id %(code)s differs only in case from the stored grid %(other)s; "
                    "use the stored grid's id to update it, or another id",
                    code=repr(code),
                    other=repr(stored),
                )
            )
    created = updated = unchanged = 0
    for grid in grids:
        code = str(grid.grid_id).strip()
        props = {
            k: v
            for k, v in dict(grid.properties).items()
            if isinstance(v, str | int | float | bool) or v is None
        }
        minx, miny, maxx, maxy = grid.geometry.bounds
        values = {
            "geometry": json.loads(json.dumps(mapping(grid.geometry))),  # as stored: lists
            "properties": props,
            "name": str(props.get("name") or props.get("NAME") or code)[:200],
            "min_lon": minx,
            "min_lat": miny,
            "max_lon": maxx,
            "max_lat": maxy,
        }
        row = existing.get(code)
        if row is None:
            session.add(Grid(code=code, **values))
            created += 1
        elif all(getattr(row, key) == value for key, value in values.items()):
            unchanged += 1
        else:
            for key, value in values.items():
                setattr(row, key, value)
            updated += 1
    session.flush()
    return {"created": created, "updated": updated, "unchanged": unchanged}


def _named(grid: GisGrid) -> bool:
    """Whether a grid's id comes from its own grid_id or name property (any case)."""
    return any(
        str(key).casefold() in ("grid_id", "name")
        and not is_blank(str(value))
        and str(value).strip() != "None"
        for key, value in grid.properties.items()
    )


def review_findings(
    session: Session,
    finding_ids: Sequence[int],
    decision: str,
    actor: Actor,
    *,
    label: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> list[Finding]:
    """Confirm, reject or reclassify pending findings (not committed; all or none).

    A sighting is reviewed as its object (its primary finding), and the decision reaches all the
    object's sightings and its ticket: confirm (or reclassify to a violation class) files a new
    ticket, or opens one filed as confirmed if it has none; reclassify gives the ticket the new
    class; reject (or reclassify to background) keeps the finding as a labelled false positive
    and rejects its ticket, or opens one filed as rejected (reopening it undoes the review). A
    rejection or a new class cannot reach a ticket already dispatched: the review is then
    refused. The primaries reviewed are returned.

    Each finding is claimed with a conditional update (pending → decided): when another review
    decided one meanwhile, TransitionError is raised and the caller must roll back.
    """
    from groundstation.errors import PermissionDenied

    now = now or utcnow()
    if actor.role not in REVIEW_ROLES:
        raise PermissionDenied(
            _l(
                "role %(role)s may not review findings (supervisor, admin)",
                role=lazy_names(ROLE_NAMES, actor.role, quote=True),
            )
        )
    if decision not in DECISIONS:
        raise ValidationError(
            _l(
                "decision %(value)s is not one of %(known)s",
                value=repr(decision),
                known=", ".join(DECISIONS),
            )
        )
    if label is not None and decision != "reclassify":  # it would be dropped without a word
        raise ValidationError(
            _l(
                "label goes only with decision 'reclassify'; %(decision)s keeps the finding's "
                "class (leave label out, or reclassify)",
                decision=repr(decision),
            )
        )
    if decision == "reclassify" and label not in LABELS:
        raise ValidationError(
            _l("reclassify needs a label, one of %(known)s", known=", ".join(LABELS))
        )
    ids = list(dict.fromkeys(int(i) for i in finding_ids))
    if not ids:
        raise ValidationError(_l("no finding ids given"))
    if len(ids) > 500:
        raise ValidationError(_l("at most %(max)d findings per bulk review", max=500))
    findings = {f.id: f for f in session.scalars(select(Finding).where(Finding.id.in_(ids)))}
    missing = [i for i in ids if i not in findings]
    if missing:
        raise NotFoundError(_l("finding(s) %(ids)s do not exist", ids=", ".join(map(str, missing))))
    # a sighting is reviewed as its object: through the object's primary finding
    asked = ids
    ids = list(dict.fromkeys(findings[i].sighting_of or i for i in ids))
    extra = [i for i in ids if i not in findings]
    if extra:
        findings.update(
            (f.id, f) for f in session.scalars(select(Finding).where(Finding.id.in_(extra)))
        )
    done = [i for i in ids if findings[i].review_status != "pending"]
    if done:
        names = [
            str(i)
            if findings[i].sighting_of is None
            else _l("%(id)s (a sighting of %(of)s)", id=i, of=findings[i].sighting_of)
            for i in asked
            if (findings[i].sighting_of or i) in done
        ]
        raise TransitionError(
            _l(
                "finding(s) %(ids)s were already reviewed",
                ids=LazyString(lambda: ", ".join(map(str, names))),
            )
        )
    decided = {fid: _decision(findings[fid], decision, label) for fid in ids}
    # the objects' tickets: what the review does to each is checked before anything changes
    syncs: dict[int, ReviewSync] = {}
    for ticket in session.scalars(select(Ticket).where(Ticket.finding_id.in_(ids))):
        fid = ticket.finding_id
        confirmed, new_label = decided[fid]
        syncs[fid] = plan_review(
            ticket, actor, finding_id=fid, confirmed=confirmed, label=new_label
        )
    sightings: dict[int, list[Finding]] = {i: [] for i in ids}
    for sighting in session.scalars(select(Finding).where(Finding.sighting_of.in_(ids))):
        sightings[sighting.sighting_of].append(sighting)
    # rows are claimed in id order, each ticket before its finding (as a ticket transition
    # does), so that concurrent reviews and transitions queue instead of deadlocking
    for fid in sorted(ids):
        finding = findings[fid]
        confirmed, new_label = decided[fid]
        if fid in syncs:
            apply_review(session, syncs[fid], actor, note=note, now=now)
        _claim_review(session, finding, confirmed=confirmed)
        review_object(
            finding,
            sightings[fid],
            confirmed=confirmed,
            label=new_label,
            by=actor.name,
            at=now,
            note=note,
        )
        if fid not in syncs:  # its case is filed either way: a false alarm's as rejected
            open_ticket_for_finding(
                session, finding, actor, confirmed=confirmed, reason=note, now=now
            )
    session.flush()
    return [findings[fid] for fid in ids]


def _claim_review(session: Session, finding: Finding, *, confirmed: bool) -> None:
    """Mark ``finding`` reviewed only if the database still has it pending: of two reviews of
    the same finding at once, the second gets a TransitionError (and its caller rolls back),
    not a second decision over the first."""
    claimed = session.execute(
        update(Finding)
        .where(Finding.id == finding.id, Finding.review_status == "pending")
        .values(review_status="confirmed" if confirmed else "rejected")
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise TransitionError(_l("finding(s) %(ids)s were already reviewed", ids=finding.id))


def _decision(finding: Finding, decision: str, label: str | None) -> tuple[bool, str]:
    """Whether a review decision confirms a finding, and the class it confirms it as."""
    if decision == "reject":
        return False, "background"
    new_label = label if decision == "reclassify" and label else finding.label
    return new_label in TICKET_LABELS, new_label


def _unchanged(query: Any) -> Any:
    return query


def grid_history(
    session: Session,
    grid: Grid,
    *,
    findings_filter: Callable[[Any], Any] = _unchanged,
    tickets_filter: Callable[[Any], Any] = _unchanged,
) -> dict[str, Any]:
    """A grid's flights, findings and tickets, for its page and the API, as far as the filters
    (a query of findings or tickets -> the rows a reader may see) let them through.

    Each flight counts the objects in the grid it saw (``findings``: one per primary finding,
    whichever flight saw it first, as the review queue for the grid and flight lists them) and
    its views of them (``views``: one per finding it stored), both among the findings the reader
    may see.
    """
    primary = aliased(Finding)
    flights = session.execute(
        findings_filter(
            select(
                Flight.id,
                Flight.name,
                Flight.created_at,
                func.count(func.distinct(primary.id)),
                func.count(Finding.id),
            )
            .join(Finding, Finding.flight_id == Flight.id)
            .join(primary, primary.id == func.coalesce(Finding.sighting_of, Finding.id))
            .where(primary.grid_id == grid.id)
        )
        .group_by(Flight.id, Flight.name, Flight.created_at)
        .order_by(Flight.id.desc())
    ).all()
    findings = list(
        session.scalars(
            findings_filter(select(Finding).where(Finding.grid_id == grid.id))
            .options(selectinload(Finding.photo), selectinload(Finding.grid))
            .order_by(Finding.id.desc())
            .limit(200)
        )
    )
    tickets = list(
        session.scalars(
            tickets_filter(select(Ticket).where(Ticket.grid_id == grid.id))
            .options(selectinload(Ticket.finding))  # final_label reads the finding's review
            .order_by(Ticket.id.desc())
            .limit(200)
        )
    )
    return {
        "flights": [
            {
                "id": f[0],
                "name": f[1],
                "created_at": f[2].isoformat(),
                "findings": f[3],
                "views": f[4],
            }
            for f in flights
        ],
        "findings": findings,
        "tickets": tickets,
    }


#: The columns of ``labels.csv``; ``path``, ``label``, ``status``, ``original_label``, ``image``,
#: ``finding_id`` and ``score`` are the format `gridpatrol train --reviews` reads
#: (vision.datasets.review_export).
EXPORT_FIELDS = (
    "finding_id",
    "path",
    "label",
    "original_label",
    "score",
    "status",
    "grid",
    "flight_id",
    "image",
    "photo_name",
    "box_px",
    "lon",
    "lat",
    "reviewed_by",
    "reviewed_at",
)


def export_reviews(session: Session, out_dir: Path) -> int:
    """Write reviewed crops as ``DIR/<label>/<finding id>.jpg`` plus ``labels.csv``; return count.

    Rejected findings go under ``background/`` (labelled false positives); reclassified ones
    under their new label. Findings whose crop image is missing are left out: a row without a
    crop teaches a model nothing.
    """
    import csv
    import json
    import shutil

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = session.scalars(
        select(Finding).where(Finding.review_status != "pending").order_by(Finding.id)
    )
    count = 0
    with (out_dir / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for f in rows:
            label = f.final_label
            if not (f.crop_path and Path(f.crop_path).is_file()):
                continue
            rel = f"{label}/{f.id}.jpg"
            (out_dir / label).mkdir(exist_ok=True)
            shutil.copyfile(f.crop_path, out_dir / rel)
            writer.writerow(
                {
                    "finding_id": f.id,
                    "path": rel,
                    "label": label,
                    "original_label": f.label,
                    "score": f"{f.score:.4f}",
                    "status": f.review_status,
                    "grid": f.grid.code if f.grid else "",
                    "flight_id": f.flight_id,
                    "image": f.photo.path,
                    "photo_name": f.photo.display_name,
                    "box_px": json.dumps(f.box_px),
                    "lon": "" if f.lon is None else f.lon,
                    "lat": "" if f.lat is None else f.lat,
                    "reviewed_by": f.reviewed_by or "",
                    "reviewed_at": f.reviewed_at.isoformat() if f.reviewed_at else "",
                }
            )
            count += 1
    return count
