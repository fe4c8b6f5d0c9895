"""The JSON API under ``/api/v1/``; its OpenAPI document is ``/api/v1/openapi.json``.

Errors are ``{"error": message}`` with a 4xx status, and nothing stored changes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, send_file, url_for
from flask_babel import lazy_ngettext
from flask_login import current_user
from sqlalchemy import case, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from gis.camera import PRESETS, preset_name
from groundstation import ingest
from groundstation.errors import IngestError, NotFoundError, StaleError, ValidationError
from groundstation.i18n import ACTION_NAMES, STATE_NAMES, lazy_names, lazy_reason
from groundstation.i18n import lazy_message as _l
from groundstation.ingest import (
    DuplicatePhotosError,
    DuplicateSourceError,
    GridIndex,
    MissingPhotosError,
    Registration,
    UnplacedPhotosError,
    photo_issues,
    photo_paths,
    register_photos,
    resolve_camera,
)
from groundstation.models import (
    LABELS,
    MAX_DATETIME,
    MAX_ID,
    MIN_DATETIME,
    ROLES,
    ClassRule,
    Department,
    Finding,
    Flight,
    Grid,
    Job,
    Notification,
    Photo,
    Ticket,
    TicketEvent,
    utcnow,
)
from groundstation.openapi import openapi_document
from groundstation.params import check_fields, shown_value, takes
from groundstation.services import grid_history, import_grids, read_grid_file, review_findings
from groundstation.text import strip_blank
from groundstation.tickets import (
    ACTIVE_STATES,
    STATES,
    available_actions,
    check_transition,
    once_assigned_to,
    open_ticket,
    shown_time,
    transition,
    update_rule,
)
from groundstation.uploads import (
    browser_image,
    photo_file_name,
    read_limited,
    read_photo,
    save_image,
)
from groundstation.web import (
    api_key_from_request,
    check_text,
    current_actor,
    db,
    json_error,
    lookup_api_key,
    request_data,
    roles_required,
    state,
)

__all__ = [
    "bp",
    "odd_size_text",
    "ticket_json",
    "finding_json",
    "grid_json",
    "read_grid_upload",
    "photo_roots",
    "in_roots",
    "parse_datetime",
    "parse_int",
    "parse_text",
    "parse_flight_camera",
    "photo_counts",
    "finding_counts",
    "flights_json",
    "rule_changes",
    "queue_ingest",
    "apply_transition",
    "ticket_query",
    "ticket_grids",
    "unknown_grids",
    "grid_by_code",
    "grids_by_codes",
    "unknown_grid_error",
    "visible_tickets",
    "ticket_visible",
    "visible_findings",
    "visible_finding",
    "visible_photo",
    "visible_grid_history",
    "count_rows",
    "with_names",
    "TICKET_FILTERS",
    "TICKET_ORDERS",
    "FINDING_FILTERS",
    "REVIEWERS",
    "JOB_READERS",
]

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ANY = ROLES
REVIEWERS = ("supervisor", "admin")
#: Who reads jobs: the roles that start them (a flight's ingest: pilot, supervisor, admin; an
#: escalation run: supervisor, admin). Department staff start none, and a job's result counts
#: a whole flight's findings, most of them other departments' cases.
JOB_READERS = ("pilot", "supervisor", "admin")


@bp.before_request
def authenticate() -> Any:
    if request.endpoint == "api.openapi":
        return None
    key = api_key_from_request()
    if key:
        row = lookup_api_key(db(), key)
        if row is None or row.user is None:
            return json_error(_l("invalid or revoked API key, or a key bound to no user"), 401)
        if not row.user.active:  # a valid key, refused as sign-in refuses the account (403)
            return json_error(disabled_key_message(row.user.username), 403)
        g.api_user = row.user
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS") and current_user.is_authenticated:
        from groundstation.app import csrf

        csrf.protect()
    return None


# -- helpers ---------------------------------------------------------------------------------


def disabled_key_message(username: str) -> Any:
    """Why a valid API key whose user is disabled is refused (403, as sign-in answers)."""
    return _l(
        "this API key's user %(name)s is disabled; ask an administrator to enable it",
        name=shown_value(username),
    )


def _iso(value: datetime | None) -> str | None:
    """A stored moment as the API gives every timestamp: ISO 8601 in UTC (``+00:00``)."""
    return value.astimezone(UTC).isoformat() if value else None


def parse_datetime(value: Any, *, field: str) -> datetime | None:
    """An ISO 8601 datetime with a zone, or None for empty input; refused when the database
    cannot store it (outside :data:`MIN_DATETIME` .. :data:`MAX_DATETIME` in UTC)."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(
            _l("%(field)s %(value)s is not an ISO 8601 datetime", field=field, value=repr(value))
        ) from exc
    if parsed.tzinfo is None:
        raise ValidationError(
            _l("%(field)s %(value)s needs a timezone, e.g. +08:00", field=field, value=repr(value))
        )
    if not storable_datetime(parsed):
        raise ValidationError(
            _l(
                "%(field)s %(value)s is outside the years 1 to 9999 in UTC",
                field=field,
                value=repr(value),
            )
        )
    return parsed


def storable_datetime(value: datetime) -> bool:
    """Whether the timezone-aware ``value`` lies in the range a ``UTCDateTime`` column stores
    (converting it to UTC near year 1 or 9999 would overflow)."""
    try:
        return MIN_DATETIME <= value.astimezone(UTC) <= MAX_DATETIME
    except OverflowError:
        return False


#: The largest id or count the databases store (``Integer`` columns: signed 32-bit).
MAX_INT = MAX_ID
MAX_PAGE = 10**9


def _shown(value: Any) -> str:
    """A JSON value as an error message shows it: its JSON spelling, cut to 60 characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON, or an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:59] + "…"


def parse_int(
    value: Any,
    *,
    field: str,
    default: int | None = None,
    lo: int | None = None,
    hi: int = MAX_INT,
    from_json: bool = False,
) -> int | None:
    """An integer from a query string, form or JSON value; refuses booleans, fractions and
    numbers the database cannot store. A JSON value (``from_json``) must be a JSON number:
    text such as ``"5"`` is refused."""
    if value is None or (value == "" and not from_json):
        return default
    if from_json and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValidationError(
            _l("%(field)s must be a JSON integer, not %(value)s", field=field, value=_shown(value))
        )
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValidationError(
            _l("%(field)s %(value)s is not an integer", field=field, value=repr(value))
        )
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(
            _l("%(field)s %(value)s is not an integer", field=field, value=repr(value))
        ) from exc
    if lo is not None and number < lo:
        raise ValidationError(
            _l(
                "%(field)s %(value)s must be at least %(lo)s",
                field=field,
                value=_shown(number),
                lo=lo,
            )
        )
    if number > hi:
        raise ValidationError(
            _l(
                "%(field)s %(value)s must be at most %(hi)s",
                field=field,
                value=_shown(number),
                hi=hi,
            )
        )
    return number


def _float(value: Any, *, field: str, from_json: bool = False) -> float | None:
    """A finite number from a query string, form or JSON value. A JSON value (``from_json``)
    must be a JSON number: ``true`` or text such as ``"32.5"`` is refused."""
    if value is None or (value == "" and not from_json):
        return None
    if from_json and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValidationError(
            _l("%(field)s must be a JSON number, not %(value)s", field=field, value=_shown(value))
        )
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            _l("%(key)s %(value)s is not a number", key=field, value=repr(value))
        ) from exc
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if number != number:
        raise ValidationError(_l("%(field)s is NaN", field=field))
    if math.isinf(number):
        raise ValidationError(
            _l("%(field)s %(value)s is not a finite number", field=field, value=_shown(value))
        )
    return number


#: The longest free text (reason, note, description) a ticket or review keeps.
MAX_TEXT = 4000


def parse_text(value: Any, *, field: Any, limit: int = MAX_TEXT) -> str:
    """Text from a form or JSON value ("" for none): a JSON value must be a string, and text
    longer than ``limit`` or holding a character no database stores (NUL) is refused, not
    cut."""
    if value is None:
        return ""
    if not isinstance(value, str):  # form fields are always strings: this is JSON
        raise ValidationError(
            _l("%(field)s must be a JSON string, not %(value)s", field=field, value=_shown(value))
        )
    if len(value) > limit:
        raise ValidationError(
            _l(
                "%(field)s is %(length)d characters long; at most %(max)d are kept",
                field=field,
                length=len(value),
                max=limit,
            )
        )
    return check_text(value, field=field)


def _optional_text(value: Any, *, field: Any, limit: int = MAX_TEXT) -> str | None:
    """:func:`parse_text`, but None (absent: leave unchanged) stays None."""
    return None if value is None else parse_text(value, field=field, limit=limit)


def _page() -> tuple[int, int]:
    page = parse_int(request.args.get("page"), field="page", default=1, lo=1, hi=MAX_PAGE)
    size = parse_int(request.args.get("page_size"), field="page_size", default=50, lo=1, hi=500)
    return page or 1, size or 50


#: What ``_get`` calls a record in its "does not exist" message.
RECORD_NAMES = {
    "plan": _l("plan"),
    "flight": _l("flight"),
    "job": _l("job"),
    "finding": _l("finding"),
    "photo": _l("photo"),
    "ticket": _l("ticket"),
    "orthomosaic": _l("orthomosaic"),
    "flight session": _l("flight session"),
}


def _get(session: Session, model: type, ident: Any, what: str) -> Any:
    try:
        key = int(ident) if not isinstance(ident, str) or ident.isdigit() else None
    except (TypeError, ValueError):
        key = None
    row = session.get(model, key) if key is not None and 0 < key <= MAX_INT else None
    if row is None:
        raise NotFoundError(
            _l("%(what)s %(id)s does not exist", what=RECORD_NAMES.get(what, what), id=ident)
        )
    return row


def read_grid_upload(
    data: bytes, filename: str, *, left_out: Counter[str] | None = None
) -> list[Any]:
    """Grids from an uploaded layer: :func:`read_grid_file`, which also refuses ids that
    cannot name a page (markup, control characters, / ? # ...), for the CLI as for uploads."""
    return read_grid_file(data, filename, left_out=left_out)


def grid_json(grid: Grid, *, geometry: bool = False) -> dict[str, Any]:
    out = {
        "id": grid.id,
        "code": grid.code,
        "name": grid.name,
        "properties": grid.properties,
        "bbox": [grid.min_lon, grid.min_lat, grid.max_lon, grid.max_lat],
    }
    if geometry:
        out["geometry"] = grid.geometry
    return out


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "flight_id": f.flight_id,
        "photo_id": f.photo_id,
        "grid": f.grid.code if f.grid else None,
        "label": f.label,
        "score": f.score,
        "box_px": f.box_px,
        "lon": f.lon,
        "lat": f.lat,
        "polygon": f.polygon,
        "review_status": f.review_status,
        "reviewed_label": f.reviewed_label,
        "reviewed_by": f.reviewed_by,
        "reviewed_at": _iso(f.reviewed_at),
        "crop_url": f"/api/v1/findings/{f.id}/crop" if f.crop_path else None,
        "photo_url": f"/api/v1/photos/{f.photo_id}/image",
        "photo_name": f.photo.display_name,
        "ticket_id": None,
        "sighting_of": f.sighting_of,
        "sightings": 0,
    }


def ticket_json(t: Ticket, *, events: bool = False, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    out: dict[str, Any] = {
        "id": t.id,
        "label": t.label,
        "final_label": t.final_label,
        "state": t.state,
        "source": t.source,
        "finding_id": t.finding_id,
        "grid": t.grid.code if t.grid else None,
        "department": {"id": t.department.id, "code": t.department.code, "name": t.department.name}
        if t.department
        else None,
        "deadline": _iso(t.deadline),
        "overdue": bool(t.deadline and t.state in ACTIVE_STATES and t.deadline < now),
        "escalation_level": t.escalation_level,
        "lat": t.lat,
        "lon": t.lon,
        "description": t.description,
        "address": t.address,
        "media_url": t.media_url,
        "evidence": t.evidence,
        "created_at": _iso(t.created_at),
        "updated_at": _iso(t.updated_at),
    }
    if events:
        out["events"] = [
            {
                "action": e.action,
                "from": e.from_state,
                "to": e.to_state,
                "actor": e.actor,
                "role": e.actor_role,
                "at": _iso(e.at),
                "reason": e.reason,
                "data": e.data,
            }
            for e in t.events
        ]
    return out


#: What every transition request may hold: the action, the checks against a page read before
#: another user's change (``expected_state``, ``expected_deadline``) and the archive's reason
#: (a page's form adds its ``csrf_token``).
TRANSITION_FIELDS: tuple[str, ...] = ("action", "expected_state", "expected_deadline", "reason")
#: Each action's own inputs besides those: any other field is refused, naming it, never ignored.
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "dispatch": ("department_id", "deadline"),
    "extend": ("deadline",),
    "resolve": ("note", "evidence", "photo"),
}


def _check_transition_fields(action: str, data: dict[str, Any], *, photo: bool) -> None:
    """Refuse fields (with a value) that ``action`` does not take, naming them and the fields it
    takes: a department sent with an extension, or a note with a confirmation, would otherwise
    be dropped without a word (the archive's words go in ``reason``)."""
    taken = (*TRANSITION_FIELDS, *ACTION_FIELDS.get(action, ()))
    given = [key for key, value in data.items() if value not in (None, "", [], {})]
    if photo:
        given.append("photo")
    extra = [key for key in given if key not in taken and key != "csrf_token"]
    if extra:
        raise ValidationError(
            _l(
                "%(action)s does not take %(fields)s; it takes %(known)s",
                action=lazy_names(ACTION_NAMES, action, quote=True),
                fields=", ".join(repr(str(key)[:80]) for key in extra),
                known=", ".join(taken),
            )
        )


def apply_transition(
    session: Session,
    ticket: Ticket,
    data: dict[str, Any],
    evidence_photo: Any = None,
    *,
    from_json: bool = False,
) -> Ticket:
    """Validate and apply one transition from request data (a JSON object when ``from_json``,
    else form fields), commit, then notify."""
    actor = current_actor()
    action = parse_text(data.get("action"), field="action").strip()
    if not action:
        raise ValidationError(_l("missing 'action'"))
    expected = parse_text(data.get("expected_state"), field="expected_state")
    if expected and expected not in STATES:
        raise ValidationError(
            _l(
                "expected_state %(value)s is not a ticket state (known: %(known)s)",
                value=repr(expected[:80]),
                known=", ".join(STATES),
            )
        )
    if expected and expected != ticket.state:  # decided on a page another user has since changed
        raise StaleError(
            _l(
                "ticket %(id)s changed meanwhile: it is %(state)s now, not %(expected)s; "
                "reload it and decide again",
                id=ticket.id,
                state=lazy_names(STATE_NAMES, ticket.state),
                expected=lazy_names(STATE_NAMES, str(expected)),
            )
        )
    expected_deadline = parse_datetime(data.get("expected_deadline"), field="expected_deadline")
    if expected_deadline is not None and expected_deadline != ticket.deadline:
        # the page showed another deadline: another supervisor extended it meanwhile
        tz = state().calendar.tz
        raise StaleError(
            _l(
                "ticket %(id)s changed meanwhile: its deadline is now %(deadline)s; reload it "
                "and decide again",
                id=ticket.id,
                deadline=shown_time(ticket.deadline, tz) if ticket.deadline else "-",
            )
        )
    # who may do what first (403, 409), then what the request holds (400)
    check_transition(ticket.state, action, actor, ticket_department_id=ticket.department_id)
    has_photo = bool(evidence_photo is not None and evidence_photo.filename)
    _check_transition_fields(action, data, photo=has_photo)
    evidence = data.get("evidence") or []
    if isinstance(evidence, str):
        evidence = [{"note": evidence}]
    if not isinstance(evidence, list) or not all(isinstance(e, dict) for e in evidence):
        raise ValidationError(_l('evidence must be a list of objects like {"note": "..."}'))
    notes = [strip_blank(parse_text(e.get("note"), field=_l("note"))) for e in evidence]
    notes.append(strip_blank(parse_text(data.get("note"), field=_l("note"))))
    evidence = [{"note": note} for note in notes if note]  # a note of spaces is no evidence
    saved: Path | None = None
    if evidence_photo is not None and evidence_photo.filename:
        if action != "resolve":
            raise ValidationError(_l("an evidence photo goes with the resolve action"))
        folder = Path(current_app.config["DATA_DIR"]) / "evidence" / str(ticket.id)
        saved, sent = save_image(
            evidence_photo,
            folder,
            limit=current_app.config["MAX_IMAGE_BYTES"],
            max_pixels=current_app.config["MAX_IMAGE_PIXELS"],
        )
        photo = str(saved.relative_to(current_app.config["DATA_DIR"]))
        evidence.append({"photo": photo, "name": sent})  # the name as sent, e.g. 处置后照片.jpg
    try:
        _, messages = transition(
            session,
            ticket,
            action,
            actor,
            reason=parse_text(data.get("reason"), field=_l("reason")),
            department_id=parse_int(
                data.get("department_id"), field="department_id", from_json=from_json
            ),
            deadline=parse_datetime(data.get("deadline"), field="deadline"),
            evidence=[{**e, "by": actor.name, "at": utcnow().isoformat()} for e in evidence],
            calendar=state().calendar,
        )
        session.commit()
    except Exception:
        session.rollback()
        if saved is not None:
            saved.unlink(missing_ok=True)
        raise
    state().notifier.deliver(session, messages)
    return ticket


# -- routes ----------------------------------------------------------------------------------


@bp.get("/openapi.json")
@takes()
def openapi() -> Any:
    return jsonify(openapi_document())


@bp.get("/me")
@roles_required(*ANY)
@takes()
def me() -> Any:
    actor = current_actor()
    return jsonify(
        {"username": actor.name, "role": actor.role, "department_id": actor.department_id}
    )


@bp.get("/departments")
@roles_required(*ANY)
@takes()
def departments() -> Any:
    rows = db().scalars(select(Department).order_by(Department.id))
    return jsonify([{"id": d.id, "code": d.code, "name": d.name} for d in rows])


@bp.get("/rules")
@roles_required(*ANY)
@takes()
def rules() -> Any:
    rows = db().scalars(select(ClassRule).order_by(ClassRule.label))
    return jsonify([_rule_json(r) for r in rows])


def _rule_json(r: ClassRule) -> dict[str, Any]:
    return {
        "label": r.label,
        "name": r.name,
        "department_id": r.department_id,
        "deadline_amount": r.deadline_amount,
        "deadline_unit": r.deadline_unit,
        "deadline_hours": r.deadline_amount if r.deadline_unit == "hours" else None,
        "filing_standard": r.filing_standard,
        "closing_standard": r.closing_standard,
        "updated_by": r.updated_by,
        "updated_at": _iso(r.updated_at),
    }


#: The longest event-table name (``class_rules.name``).
RULE_NAME_LENGTH: int = ClassRule.__table__.c.name.type.length


def rule_changes(
    data: Any, *, from_json: bool, names: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The edit of one event-table row that ``data`` asks for, checked, as keyword arguments of
    :func:`~groundstation.tickets.update_rule` (which checks the rest: the department exists,
    the deadline is valid). ``data`` is the JSON body of ``PUT /rules/<label>`` (``from_json``:
    numbers must be JSON numbers) or the ``/admin/rules`` form (text fields); ``names`` are
    what the messages call the fields (default: their keys)."""
    names = names or {}

    def name(key: str) -> Any:
        return names.get(key, key)

    amount = _float(data.get("deadline_amount"), field=name("deadline_amount"), from_json=from_json)
    unit = data.get("deadline_unit")
    if unit == "":
        unit = None
    hours = data.get("deadline_hours")
    if hours is not None and (from_json or hours != ""):  # the older form: calendar hours
        if amount is not None or unit not in (None, "hours"):
            raise ValidationError(
                _l("give deadline_hours or deadline_amount/deadline_unit, not both")
            )
        amount = _float(hours, field=name("deadline_hours"), from_json=from_json)
        unit = "hours"
    if unit is not None and not isinstance(unit, str):
        raise ValidationError(_l("deadline_unit must be a string, got %(value)s", value=repr(unit)))
    department = parse_int(
        data.get("department_id"), field=name("department_id"), from_json=from_json
    )
    return {
        "department_id": department,
        "deadline_amount": amount,
        "deadline_unit": unit,
        "name": _optional_text(data.get("name"), field=name("name"), limit=RULE_NAME_LENGTH),
        "filing_standard": _optional_text(
            data.get("filing_standard"), field=name("filing_standard")
        ),
        "closing_standard": _optional_text(
            data.get("closing_standard"), field=name("closing_standard")
        ),
    }


#: The fields ``PUT /rules/<label>`` takes.
RULE_FIELDS = (
    "department_id",
    "deadline_amount",
    "deadline_unit",
    "deadline_hours",
    "name",
    "filing_standard",
    "closing_standard",
)


@bp.put("/rules/<label>")
@roles_required("admin")
@takes()
def put_rule(label: str) -> Any:
    data = request_data(form=False)
    check_fields(data, RULE_FIELDS)
    changes = rule_changes(data, from_json=True)
    session = db()
    rule = update_rule(session, label, current_actor(), **changes)
    session.commit()
    return jsonify(_rule_json(rule))


@bp.get("/grids")
@roles_required(*ANY)
@takes()
def grids() -> Any:
    rows = db().scalars(select(Grid).order_by(Grid.code))
    return jsonify([grid_json(r) for r in rows])


@bp.get("/grids.geojson")
@roles_required(*ANY)
@takes()
def grids_geojson() -> Any:
    rows = db().scalars(select(Grid).order_by(Grid.code))
    return jsonify(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": r.code,
                    "geometry": r.geometry,
                    "properties": {"code": r.code, "name": r.name},
                }
                for r in rows
            ],
        }
    )


@bp.post("/grids")
@roles_required("supervisor", "admin")
@takes()
def post_grids() -> Any:
    check_fields(request.form, (), files=("file",))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError(_l("upload the grid layer as multipart field 'file'"))
    data = read_limited(upload, current_app.config["MAX_GRID_FILE_BYTES"], what=_l("grid file"))
    left_out: Counter[str] = Counter()
    parsed = read_grid_upload(data, upload.filename, left_out=left_out)
    session = db()
    counts = import_grids(session, parsed)
    session.commit()
    status = 201 if counts["created"] else 200  # Created only when a new grid exists
    return jsonify({**counts, "left_out": dict(left_out)}), status  # left out: not grids


def grid_by_code(session: Session, code: str) -> Grid:
    """The grid whose id is ``code``, ignoring case as the filters do (ids differ by more than
    case, :func:`~groundstation.services.import_grids` sees to it); 404 when there is none."""
    grid = grids_by_codes(session, [code]).get(code)
    if grid is None:
        raise NotFoundError(_l("grid %(code)s does not exist", code=repr(code)))
    return grid


def grids_by_codes(session: Session, codes: Sequence[str]) -> dict[str, Grid]:
    """The grids ``codes`` name, keyed by the code as given and found ignoring case as
    :func:`grid_by_code` finds one (an exact id first); codes naming no grid are left out."""
    if not codes:
        return {}
    found = {g.code: g for g in session.scalars(select(Grid).where(Grid.code.in_(codes)))}
    rest = {code.casefold() for code in codes if code not in found}
    if rest:  # casefold in Python: SQLite's lower() folds ASCII only
        ids: dict[str, int] = {}
        for row in session.execute(select(Grid.id, Grid.code).order_by(Grid.code)):
            ids.setdefault(row.code.casefold(), row.id)
        wanted = {ids[f] for f in rest if f in ids}
        by_id = {g.id: g for g in session.scalars(select(Grid).where(Grid.id.in_(wanted)))}
        for code in codes:
            ident = ids.get(code.casefold())
            if code not in found and ident is not None:
                found[code] = by_id[ident]
    return found


@bp.get("/grids/<code>")
@roles_required(*ANY)
@takes()
def grid_detail(code: str) -> Any:
    session = db()
    grid = grid_by_code(session, code)
    history = visible_grid_history(session, grid, current_actor())
    return jsonify(
        {
            **grid_json(grid, geometry=True),
            "flights": history["flights"],
            "findings": [finding_json(f) for f in history["findings"]],
            "tickets": [ticket_json(t) for t in history["tickets"]],
        }
    )


def photo_roots() -> list[Path]:
    """PHOTO_ROOTS (a list, or one string of paths joined by os.pathsep), resolved: the server
    folders the API may read flights and SITL worlds from; by default the data dir's photos/
    folder (never the whole data dir: it holds evidence and the keys)."""
    roots = current_app.config.get("PHOTO_ROOTS") or [
        Path(current_app.config["DATA_DIR"]) / "photos"
    ]
    if isinstance(roots, str | os.PathLike):
        roots = str(roots).split(os.pathsep)
    return [Path(r).resolve() for r in roots if str(r).strip()]


def in_roots(path: Path, roots: list[Path]) -> bool:
    """Whether the resolved ``path`` is one of ``roots`` or lies under one."""
    return any(root == path or root in path.parents for root in roots)


def _check_photo_paths(source: Path, raw: str) -> None:
    """Every photo a flight from ``source`` would register, symlinks and flight-log entries
    followed, lies inside the photo roots."""
    roots = photo_roots()
    try:
        paths = photo_paths(source)
    except (IngestError, OSError, UnicodeDecodeError) as exc:
        detail = str(exc)
        named = f"flight source {source}: "  # ingest names the folder: say it once
        raise ValidationError(
            _l(
                "source %(name)s: %(detail)s",
                name=repr(raw),
                detail=detail[len(named) :] if detail.startswith(named) else detail,
            )
        ) from None
    for path in paths:
        if not in_roots(path.resolve(), roots):
            raise ValidationError(
                _l(
                    "source %(name)s: photo %(path)s is outside the allowed folders",
                    name=repr(raw),
                    path=path,
                )
            )


#: The fields ``POST /flights`` takes besides the multipart ``photos``.
FLIGHT_FIELDS = ("name", "source", "camera", "allow_unplaced", "force")


@bp.post("/flights")
@roles_required("pilot", "supervisor", "admin")
@takes()
def post_flight() -> Any:
    """Register a flight (uploaded photos or a folder under PHOTO_ROOTS); queue its ingest.
    Photos sent twice with the same bytes, under one name or two, are one photo (the answer
    warns); under one name with other bytes they are refused. A folder already registered, or
    photos whose content is already stored, are a 409 unless ``force``, as a finished upload
    is."""
    actor = current_actor()
    files = [f for f in request.files.getlist("photos") if f.filename]
    data = request_data()
    check_fields(data, FLIGHT_FIELDS, files=("photos",))
    merged = 0
    name = parse_text(data.get("name"), field="name")[:200] or None
    camera = parse_flight_camera(data.get("camera"))
    allow_unplaced = parse_confirm(data.get("allow_unplaced"), field="allow_unplaced")
    force = parse_confirm(data.get("force"), field="force")
    if files:
        folder = (
            Path(current_app.config["DATA_DIR"])
            / "photos"
            / f"upload_{utcnow():%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"
        )
        originals = {}  # stored file name -> the name a photo was sent under, when they differ
        try:
            folder.mkdir(parents=True)
            for upload in files:
                sent, photo_bytes, image_format = read_photo(
                    upload,
                    limit=current_app.config["MAX_IMAGE_BYTES"],
                    max_pixels=current_app.config["MAX_IMAGE_PIXELS"],
                )
                stored = photo_file_name(sent, image_format)
                if (folder / stored).exists():
                    if (folder / stored).read_bytes() != photo_bytes:
                        raise ValidationError(
                            _l(
                                "two different photos are named %(name)s; rename one of them",
                                name=repr(sent),
                            )
                        )
                    merged += 1  # the same photo sent twice: registered once
                    continue
                (folder / stored).write_bytes(photo_bytes)
                if stored != sent:
                    originals[stored] = sent
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        source = folder
    else:
        raw = parse_text(data.get("source"), field="source")
        if not raw:
            raise ValidationError(
                _l("give photos (multipart 'photos') or a server 'source' folder")
            )
        source = Path(str(raw)).resolve()
        if not in_roots(source, photo_roots()):
            raise ValidationError(
                _l("source %(name)s is outside the allowed photo folders", name=repr(raw))
            )
        _check_photo_paths(source, str(raw))
    try:
        registration = register_photos(
            state().storage,
            source,
            name=name,
            created_by=actor.name,
            camera=camera,
            original_names=originals if files else None,
            allow_unplaced=allow_unplaced,
            allow_duplicate=bool(files) or force,  # an upload's folder is always new
            check_photos=not force,  # the same photos sent again: 409 unless forced
        )
    except IngestError as exc:  # no such folder, no photos in it, a bad flight log
        if files:
            shutil.rmtree(source, ignore_errors=True)
        raise registration_error(exc) from None
    body = registration_json(registration)
    if merged:
        body["duplicates_merged"] = body.get("duplicates_merged", 0) + merged
        body["warnings"].append(
            str(
                lazy_ngettext(
                    "%(num)d photo was sent again under the same name with the same bytes: "
                    "it is registered once",
                    "%(num)d photos were sent again under the same name with the same bytes: "
                    "each is registered once",
                    merged,
                )
            )
        )
    body["job_id"] = queue_ingest(registration.flight_id)
    return jsonify(body), 202


def parse_confirm(value: Any, *, field: str) -> bool:
    """A yes/no confirmation field: absent, ``0``/``false`` or ``1``/``true``/``on`` (or a JSON
    boolean)."""
    if value is None or value is False or value is True:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ValidationError(
        _l("%(field)s %(value)s: 1 (yes) or 0 (no)", field=field, value=repr(str(value)[:40]))
    )


class RegistrationRefused(ValidationError):
    """A flight refused at registration, with the JSON fields that tell the caller why."""

    def __init__(self, message: Any, *, status: int, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.fields = fields

    def response(self) -> Any:
        """``{"error": ..., **fields}`` with this refusal's status."""
        response = jsonify({"error": str(self.args[0]), **self.fields})
        response.status_code = self.status
        return response


@bp.errorhandler(RegistrationRefused)
def _registration_refused(exc: RegistrationRefused) -> Any:
    return exc.response()


#: How many missing photos a refused registration names.
MISSING_SHOWN = 20


def registration_error(exc: IngestError) -> ValidationError:
    """The API's error for a flight :func:`register_photos` refused: 409 when its source is
    already a flight or some of its photos are already stored (``force`` registers it again),
    422 when no photo has a position
    (``allow_unplaced`` registers it anyway), else 400 (photos the flight log names that do
    not exist: listed in ``missing``)."""
    if isinstance(exc, DuplicateSourceError):
        return RegistrationRefused(
            _l(
                "these photos are already registered as flight %(ids)s; "
                "send force=1 to register them again",
                ids=", ".join(str(i) for i in exc.flight_ids),
            ),
            status=409,
            existing_flights=list(exc.flight_ids),
            confirm="force",
        )
    if isinstance(exc, DuplicatePhotosError):
        return RegistrationRefused(
            lazy_ngettext(
                "%(num)d of these %(total)d photos is already stored as photo flight %(ids)s "
                "(the same file): send force=1 to register them again",
                "%(num)d of these %(total)d photos are already stored as photo flight %(ids)s "
                "(the same files): send force=1 to register them again",
                exc.photos,
                total=exc.total,
                ids=", ".join(str(i) for i in exc.flight_ids),
            ),
            status=409,
            existing_flights=list(exc.flight_ids),
            photos_stored=exc.photos,
            confirm="force",
        )
    if isinstance(exc, MissingPhotosError):
        shown = [str(path) for path in exc.missing[:MISSING_SHOWN]]
        return RegistrationRefused(
            lazy_ngettext(
                "%(num)d of the %(photos)d photos the flight log names does not exist: %(names)s",
                "%(num)d of the %(photos)d photos the flight log names do not exist: %(names)s",
                len(exc.missing),
                photos=exc.photos,
                names=", ".join(shown) + (" …" if len(exc.missing) > len(shown) else ""),
            ),
            status=400,
            photos=exc.photos,
            missing=shown,
            photos_missing=len(exc.missing),
        )
    if isinstance(exc, UnplacedPhotosError):
        return RegistrationRefused(
            lazy_ngettext(
                "the %(num)d photo has no GPS position: its findings cannot be placed on the "
                "map or in a grid. Send allow_unplaced=1 to register it anyway",
                "none of the %(num)d photos has a GPS position: their findings cannot be placed "
                "on the map or in a grid. Send allow_unplaced=1 to register them anyway",
                exc.photos,
            ),
            status=422,
            photos=exc.photos,
            photos_unplaced=exc.photos,
            confirm="allow_unplaced",
        )
    return ValidationError(_l("cannot register the flight: %(detail)s", detail=exc))


def unplaced_warning(unplaced: int, photos: int) -> Any:
    """The warning for a flight some of whose photos have no position; None if all have one."""
    if not unplaced:
        return None
    return lazy_ngettext(
        "%(num)d of %(photos)d photos has no GPS position: its findings cannot be placed on "
        "the map or in a grid",
        "%(num)d of %(photos)d photos have no GPS position: their findings cannot be placed "
        "on the map or in a grid",
        unplaced,
        photos=photos,
    )


def camera_position_warning(count: int, photos: int) -> Any:
    """The warning for a flight some of whose photos have a GPS position but no height above
    ground (their findings are placed at the camera's ground point); None if there are none."""
    if not count:
        return None
    return lazy_ngettext(
        "%(num)d of %(photos)d photos has a GPS position but no height above ground (relative "
        "altitude): its findings are placed at the camera's position, not where they are in "
        "the photo",
        "%(num)d of %(photos)d photos have a GPS position but no height above ground (relative "
        "altitude): their findings are placed at the camera's position, not where they are in "
        "the photo",
        count,
        photos=photos,
    )


def odd_size_text(num: int, *, photos: int, size: str, native: str, camera: str) -> Any:
    """The warning for ``num`` of ``photos`` photos of ``size`` pixels, not the ``native`` size
    of ``camera``: their GSD is unknown (a lazy message; the upload and the flights page)."""
    return lazy_ngettext(
        "%(num)d of %(photos)d photos is %(size)s pixels, not the %(native)s of camera "
        "%(camera)s: unless it was scaled down from its photos, the ground size of a "
        "pixel (GSD) is unknown. Choose the camera that took it.",
        "%(num)d of %(photos)d photos are %(size)s pixels, not the %(native)s of camera "
        "%(camera)s: unless they were scaled down from its photos, the ground size of a "
        "pixel (GSD) is unknown. Choose the camera that took them.",
        num,
        photos=photos,
        size=size,
        native=native,
        camera=camera,
    )


#: How many repeated photos a registration's warning names.
REPEATED_SHOWN = 10


def repeated_warning(repeated: Sequence[tuple[str, str]]) -> Any:
    """The warning for photos registered once because another photo of the flight has the
    same bytes (``(name, kept name)`` pairs); None if there are none."""
    if not repeated:
        return None
    shown = [f"{name} = {kept}" for name, kept in repeated[:REPEATED_SHOWN]]
    return lazy_ngettext(
        "%(num)d photo has the same bytes as another photo of this flight: it is registered "
        "once (%(names)s)",
        "%(num)d photos have the same bytes as other photos of this flight: each is "
        "registered once (%(names)s)",
        len(repeated),
        names=", ".join(shown) + (", …" if len(repeated) > len(shown) else ""),
    )


def registration_warnings(registration: Registration) -> list[Any]:
    """What the user should know about a flight just registered (lazy messages)."""
    warnings = []
    repeated = repeated_warning(registration.repeated)
    if repeated is not None:
        warnings.append(repeated)
    unplaced = unplaced_warning(registration.unplaced, registration.photos)
    if unplaced is not None:
        warnings.append(unplaced)
    at_camera = camera_position_warning(registration.at_camera_position, registration.photos)
    if at_camera is not None:
        warnings.append(at_camera)
    if registration.odd_size is not None:
        warnings.append(
            odd_size_text(
                registration.odd_size_photos,
                photos=registration.photos,
                size="×".join(map(str, registration.odd_size)),
                native="×".join(map(str, registration.camera_size)),
                camera=registration.camera,
            )
        )
    return warnings


def registration_json(registration: Registration) -> dict[str, Any]:
    """A registered flight for the API: its id, photo counts, camera check and warnings; with
    ``duplicates_merged`` and ``photos_repeated`` when photos of the same bytes were sent."""
    body = {
        "flight_id": registration.flight_id,
        "photos": registration.photos,
        "photos_unplaced": registration.unplaced,
        "photos_at_camera_position": registration.at_camera_position,
        "photos_georeferenced": registration.georeferenced,
        "camera": registration.camera,
        "camera_size_mismatch": None
        if registration.odd_size is None
        else {
            "image_size": list(registration.odd_size),
            "photos": registration.odd_size_photos,
            "camera_size": list(registration.camera_size),
        },
        "warnings": [str(w) for w in registration_warnings(registration)],
    }
    if registration.repeated:
        body["duplicates_merged"] = len(registration.repeated)
        body["photos_repeated"] = [
            {"name": name, "same_as": kept} for name, kept in registration.repeated
        ]
    return body


def queue_ingest(flight_id: int) -> int:
    """Queue a registered flight's classification on this app's queue; return the job id."""
    return ingest.queue_ingest(state().storage, state().queue, flight_id)


def camera_preset(value: str) -> str:
    """The camera preset named ``value`` in any case, as ``gridpatrol plan --camera`` takes it;
    a name that is no preset is a :class:`ValidationError` listing them."""
    preset = preset_name(value)
    if preset is None:
        raise ValidationError(
            _l(
                "camera %(value)s is not one of %(known)s",
                value=repr(value),
                known=", ".join(PRESETS),
            )
        )
    return preset


def parse_flight_camera(value: Any) -> Any:
    """A flight's ``camera`` field: a preset name or a camera object (JSON, or JSON text in a
    form); never a server file path. None (absent) means the default camera."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lstrip().startswith("{"):
        import json

        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                _l("camera: not a JSON object (%(detail)s)", detail=exc)
            ) from None
    if isinstance(value, str):
        value = camera_preset(value)
    if not isinstance(value, str | dict):
        raise ValidationError(_l("camera must be a preset name or a camera object"))
    try:
        return resolve_camera(value)
    except IngestError as exc:
        raise ValidationError(_l("camera: %(detail)s", detail=lazy_reason(exc))) from None


def photo_counts(session: Session, flight_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each flight's photos counted by status (one query for all of them)."""
    counts: dict[int, dict[str, int]] = {i: {} for i in flight_ids}
    for flight_id, status, count in session.execute(
        select(Photo.flight_id, Photo.status, func.count())
        .where(Photo.flight_id.in_(flight_ids))
        .group_by(Photo.flight_id, Photo.status)
    ):
        counts[flight_id][status] = int(count)
    return counts


def finding_counts(
    session: Session, flight_ids: Sequence[int], actor: Any
) -> dict[int, tuple[int, int]]:
    """Each flight's (objects, views) in one query: objects one per primary finding, views
    every finding, both only among those ``actor`` may see (a department's count never tells
    of others' findings); flights without any are left out."""
    obj = func.coalesce(Finding.sighting_of, Finding.id)
    rows = session.execute(
        visible_findings(
            select(Finding.flight_id, func.count(func.distinct(obj)), func.count(Finding.id))
            .where(Finding.flight_id.in_(flight_ids))
            .group_by(Finding.flight_id),
            actor,
        )
    )
    return {flight_id: (int(objects), int(views)) for flight_id, objects, views in rows}


def flights_json(session: Session, flights: Sequence[Flight]) -> list[dict[str, Any]]:
    """The flights as the API gives them, counted as the flights page counts them, in the same
    few queries whatever their number."""
    ids = [f.id for f in flights]
    photos = photo_counts(session, ids)
    findings = finding_counts(session, ids, current_actor())
    issues = photo_issues(session, ids)
    out = []
    for f in flights:
        objects, views = findings.get(f.id, (0, 0))
        flight_issues = issues[f.id]
        out.append(
            {
                "id": f.id,
                "name": f.name,
                "status": f.status,
                "job_id": f.job_id,
                "created_by": f.created_by,
                "created_at": _iso(f.created_at),
                "camera": f.camera,
                "photos": photos[f.id],
                "photos_unplaced": flight_issues.unplaced,
                "unplaced_photos": flight_issues.unplaced_names,
                "photos_at_camera_position": flight_issues.at_camera_position,
                "at_camera_position_photos": flight_issues.at_camera_position_names,
                "failed_photos": [{"name": n, "error": e} for n, e in flight_issues.failed_photos],
                "findings": views,
                "objects": objects,
            }
        )
    return out


@bp.get("/flights")
@roles_required(*ANY)
@takes()
def flights() -> Any:
    session = db()
    rows = list(session.scalars(select(Flight).order_by(Flight.id.desc()).limit(200)))
    return jsonify(flights_json(session, rows))


@bp.get("/flights/<int:flight_id>")
@roles_required(*ANY)
@takes()
def flight_detail(flight_id: int) -> Any:
    session = db()
    return jsonify(flights_json(session, [_get(session, Flight, flight_id, "flight")])[0])


@bp.get("/jobs/<int:job_id>")
@roles_required(*JOB_READERS)
@takes()
def job_detail(job_id: int) -> Any:
    job = _get(db(), Job, job_id, "job")
    return jsonify(
        {
            "id": job.id,
            "kind": job.kind,
            "state": job.state,
            "attempts": job.attempts,
            "error": job.error,
            "result": job.result,
            "created_at": _iso(job.created_at),
            "finished_at": _iso(job.finished_at),
        }
    )


#: The review queue's filters, the same on ``/api/v1/findings`` and ``/review``.
FINDING_FILTERS: tuple[str, ...] = (
    "status",
    "label",
    "min_score",
    "max_score",
    "grid",
    "flight",
    "primary",
)


def finding_query(args: Any) -> Any:
    """Review-queue filters: status, label (the class as reviewed, as the queue shows it),
    score range (within 0 … 1, compared at the two decimals the queue shows:
    :func:`shown_score_bounds`), grid (codes ignoring case, several as the ticket list takes
    them), flight, primaries only (one finding per object, ``primary=1``); lowest score first."""
    query = select(Finding)
    status = args.get("status", "pending")
    if status != "all":
        if status not in ("pending", "confirmed", "rejected"):
            raise ValidationError(
                _l("status %(value)s: pending, confirmed, rejected or all", value=repr(status))
            )
        query = query.where(Finding.review_status == status)
    if args.get("label"):
        if args["label"] not in LABELS:
            raise ValidationError(
                _l(
                    "label %(value)s is not one of %(known)s",
                    value=repr(args["label"]),
                    known=", ".join(LABELS),
                )
            )
        # the class as reviewed, the one the queue shows (background: a rejected false alarm)
        query = query.where(Finding.final_label == args["label"])
    lo, hi = shown_score_bounds(
        _score(args.get("min_score"), field="min_score"),
        _score(args.get("max_score"), field="max_score"),
    )
    if lo is not None:
        query = query.where(Finding.score >= lo)
    if hi is not None:
        query = query.where(Finding.score <= hi)
    grids = _values(args, "grid")
    if grids:  # as the ticket list takes them: "jy-01" finds JY-01
        query = query.join(Grid, Finding.grid_id == Grid.id).where(
            func.lower(Grid.code).in_({g.lower() for g in grids})
        )
    flight = parse_int(args.get("flight"), field="flight")
    primary = args.get("primary", "")
    if primary not in ("", "0", "1"):
        raise ValidationError(
            _l("primary %(value)s: 1 (one finding per object) or 0", value=repr(primary))
        )
    if primary == "1":
        query = query.where(Finding.sighting_of.is_(None))
    if flight is not None and primary == "1":
        # an object the flight saw, whichever flight saw it first
        seen = select(Finding.sighting_of).where(
            Finding.flight_id == flight, Finding.sighting_of.is_not(None)
        )
        query = query.where(or_(Finding.flight_id == flight, Finding.id.in_(seen)))
    elif flight is not None:
        query = query.where(Finding.flight_id == flight)
    order = args.get("order", "score")
    if order == "score":
        query = query.order_by(Finding.score.asc(), Finding.id.asc())
    elif order == "-score":
        query = query.order_by(Finding.score.desc(), Finding.id.asc())
    elif order == "id":
        query = query.order_by(Finding.id.asc())
    else:
        raise ValidationError(_l("order %(value)s: score, -score or id", value=repr(order)))
    return query


def _score(value: Any, *, field: str) -> float | None:
    """A classifier score bound from a query string: a number from 0 to 1, or None."""
    number = _float(value, field=field)
    if number is not None and not 0 <= number <= 1:
        raise ValidationError(
            _l("%(field)s %(value)s is not a score from 0 to 1", field=field, value=repr(value))
        )
    return number


#: The decimals the review queue shows scores with (``toFixed(2)`` in review.js).
SCORE_DECIMALS = Decimal("0.01")


def shown_score_bounds(lo: float | None, hi: float | None) -> tuple[float | None, float | None]:
    """Score bounds on the raw score that select the rows whose score *as shown* (two
    decimals, a half rounded up, as the queue shows it) is ≥ ``lo`` and ≤ ``hi``: a row shown
    as 0.95 (0.9461) passes ``min_score=0.95`` and ``max_score=0.95``; a bound with more
    decimals is met by the shown values that meet it (≥ 0.947: shown 0.95 and up)."""
    if lo is not None:  # shown >= ceil2(lo) <=> score >= ceil2(lo) - 0.005
        edge = Decimal(repr(lo)).quantize(SCORE_DECIMALS, ROUND_CEILING) - SCORE_DECIMALS / 2
        lo = float(edge)
        if Decimal(lo) < edge:  # the smallest float at or above the exact edge
            lo = math.nextafter(lo, math.inf)
    if hi is not None:  # shown <= floor2(hi) <=> score < floor2(hi) + 0.005
        edge = Decimal(repr(hi)).quantize(SCORE_DECIMALS, ROUND_FLOOR) + SCORE_DECIMALS / 2
        hi = float(edge)
        if Decimal(hi) >= edge:  # the largest float below the exact edge
            hi = math.nextafter(hi, -math.inf)
    return lo, hi


def visible_findings(query: Any, actor: Any) -> Any:
    """``query`` (of findings) narrowed to what ``actor`` may see: department staff the
    findings their own department's tickets were filed from and those findings' sightings
    (the same object in other photos, re-flights' included: the ticket page shows them all),
    everyone else all. Every page and API that lists or counts findings goes through this, so
    one reader's figures agree everywhere."""
    if actor.role != "department":
        return query
    own = visible_tickets(select(Ticket.finding_id).where(Ticket.finding_id.is_not(None)), actor)
    return query.where(or_(Finding.id.in_(own), Finding.sighting_of.in_(own)))


def visible_finding(session: Session, finding_id: int) -> Finding:
    """The finding, or NotFoundError when the acting user may not see it."""
    finding = _get(session, Finding, finding_id, "finding")
    query = visible_findings(select(Finding.id).where(Finding.id == finding.id), current_actor())
    if session.scalar(query) is None:
        raise NotFoundError(_l("finding %(id)s does not exist", id=finding_id))
    return finding


def visible_photo(session: Session, photo_id: int) -> Photo:
    """The photo, or NotFoundError for department staff unless one of its findings is behind a
    ticket of their department."""
    photo = _get(session, Photo, photo_id, "photo")
    actor = current_actor()
    query = visible_findings(select(Finding.id).where(Finding.photo_id == photo.id), actor)
    if actor.role == "department" and session.scalar(query.limit(1)) is None:
        raise NotFoundError(_l("photo %(id)s does not exist", id=photo_id))
    return photo


def visible_grid_history(session: Session, grid: Grid, actor: Any) -> dict[str, Any]:
    """A grid's history (:func:`grid_history`) as ``actor`` may see it: department staff their
    own department's tickets and the findings behind them (:func:`visible_findings`, sightings
    included), and flights counting only those."""
    return grid_history(
        session,
        grid,
        findings_filter=lambda query: visible_findings(query, actor),
        tickets_filter=lambda query: visible_tickets(query, actor),
    )


@bp.get("/findings")
@roles_required(*ANY)
@takes(*FINDING_FILTERS, "order", "page", "page_size")
def findings() -> Any:
    session = db()
    page, size = _page()
    query = visible_findings(finding_query(request.args), current_actor())
    missing = unknown_grids(session, ticket_grids(request.args))
    if missing:  # an empty list would read as "no findings in that grid"
        raise unknown_grid_error(missing)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    query = query.options(selectinload(Finding.photo), selectinload(Finding.grid))
    rows = list(session.scalars(query.offset((page - 1) * size).limit(size)))
    items = _with_tickets_and_sightings(session, rows)
    return jsonify({"items": items, "page": page, "page_size": size, "total": total})


@bp.get("/findings/<int:finding_id>")
@roles_required(*ANY)
@takes()
def finding_detail(finding_id: int) -> Any:
    session = db()
    finding = visible_finding(session, finding_id)
    return jsonify(_with_tickets_and_sightings(session, [finding])[0])


@bp.get("/findings/<int:finding_id>/crop")
@roles_required(*ANY)
@takes()
def finding_crop(finding_id: int) -> Any:
    finding = visible_finding(db(), finding_id)
    if not finding.crop_path or not Path(finding.crop_path).is_file():
        raise NotFoundError(_l("finding %(id)s has no crop image", id=finding_id))
    return send_file(finding.crop_path, mimetype="image/jpeg", max_age=3600)


@bp.get("/photos/<int:photo_id>/image")
@roles_required(*ANY)
@takes()
def photo_image(photo_id: int) -> Any:
    photo = visible_photo(db(), photo_id)
    if not Path(photo.path).is_file():
        raise NotFoundError(
            _l("photo %(id)s: file %(name)s is gone", id=photo_id, name=Path(photo.path).name)
        )
    # as browsers show it (a TIFF, a GeoTIFF photo, as PNG), offered under the name it was sent
    # as, not its stored file's
    return _send_browser_image(Path(photo.path), name=photo.display_name)


def _send_browser_image(path: Path, *, name: str) -> Any:
    """The stored image at ``path`` as browsers show it (:func:`browser_image`; a TIFF's PNG
    conversion kept under the data folder's ``cache/png`` and made once per version of the
    file), with ETag and Last-Modified: a browser asking again gets 304 while it has it."""
    cache_dir = Path(current_app.config["DATA_DIR"]) / "cache" / "png"
    shown = browser_image(path, name=name, cache_dir=cache_dir)
    return send_file(
        shown.body, mimetype=shown.mimetype, max_age=3600, download_name=shown.download_name
    )


def _review(ids: list[Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    session = db()
    ids = [parse_int(i, field="finding id", lo=1, from_json=True) for i in ids]
    if None in ids:
        raise ValidationError(_l("finding ids must be integers, not empty"))
    try:
        reviewed = review_findings(
            session,
            ids,
            parse_text(data.get("decision"), field="decision"),
            current_actor(),
            label=parse_text(data.get("label"), field="label") or None,
            note=parse_text(data.get("note"), field=_l("note")),
        )
        session.commit()
    except Exception:
        session.rollback()  # a review that lost a race may have claimed some findings
        raise
    return _with_tickets_and_sightings(session, reviewed)


def _with_tickets_and_sightings(session: Any, rows: list[Finding]) -> list[dict[str, Any]]:
    """finding_json of rows plus each one's ticket id and how many sightings it has."""
    ids = [f.id for f in rows]
    tickets, sightings = {}, {}
    if ids:
        tickets = dict(
            session.execute(
                select(Ticket.finding_id, Ticket.id).where(Ticket.finding_id.in_(ids))
            ).all()
        )
        sightings = dict(
            session.execute(
                select(Finding.sighting_of, func.count())
                .where(Finding.sighting_of.in_(ids))
                .group_by(Finding.sighting_of)
            ).all()
        )
    return [
        {**finding_json(f), "ticket_id": tickets.get(f.id), "sightings": sightings.get(f.id, 0)}
        for f in rows
    ]


#: The fields ``POST /findings/{id}/review`` takes (the bulk review: ``ids`` too).
REVIEW_FIELDS = ("decision", "label", "note")


@bp.post("/findings/<int:finding_id>/review")
@roles_required(*REVIEWERS)
@takes()
def review_one(finding_id: int) -> Any:
    data = request_data(form=False)
    check_fields(data, REVIEW_FIELDS)
    return jsonify(_review([finding_id], data)[0])


@bp.post("/findings/review")
@roles_required(*REVIEWERS)
@takes()
def review_bulk() -> Any:
    data = request_data(form=False)
    check_fields(data, ("ids", *REVIEW_FIELDS))
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids:
        raise ValidationError(_l("'ids' must be a non-empty list of finding ids"))
    return jsonify({"items": _review(ids, data)})


#: The ticket list's filters, the same on ``/api/v1/tickets``, ``/tickets`` and ``/tickets.csv``.
TICKET_FILTERS: tuple[str, ...] = (
    "state",
    "label",
    "grid",
    "department_id",
    "overdue",
    "escalated",
    "q",
)
#: The ticket list's orders: newest first (the default), most urgent first, by grid code.
TICKET_ORDERS: tuple[str, ...] = ("newest", "deadline", "grid")
MAX_SEARCH = 200


def _values(args: Any, key: str) -> list[str]:
    """Every non-empty value of ``key``, whether repeated (``?state=a&state=b``) or
    comma-separated (``?state=a,b``; a Chinese keyboard's full-width "，" too)."""
    raw = args.getlist(key) if hasattr(args, "getlist") else [args.get(key) or ""]
    parts = (part for value in raw for part in str(value).replace("，", ",").split(","))
    return [part.strip() for part in parts if part.strip()]


def _flag(args: Any, key: str, meaning: str) -> bool:
    value = args.get(key) or ""
    if value not in ("", "0", "1", "true", "false"):
        raise ValidationError(
            _l(
                "%(key)s %(value)s: 1 (%(meaning)s) or 0",
                key=key,
                value=repr(value),
                meaning=meaning,
            )
        )
    return value in ("1", "true")


def _contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def ticket_query(args: Any, *, now: datetime | None = None) -> Any:
    """The ticket list for query parameters ``args`` (a dict or a MultiDict).

    Filters (all optional, combined with AND): ``state``, ``label`` (the class as reviewed,
    :attr:`Ticket.final_label`: a false alarm rejected in review is ``background``, not the
    class it was reported as) and ``grid`` (grid codes, ignoring case), several of each
    (repeated or comma-separated); ``department_id``, ``overdue=1`` (active past its
    deadline), ``escalated=1`` (督办: escalated at least once, as the dashboard counts
    escalations, whether extended or dispatched again since; ``escalation_level`` is the level
    now), ``q`` (a ticket id, or text
    in the grid code or the description). ``order``:
    ``newest`` (default), ``deadline`` (active cases first, earliest deadline first, cases
    without one last) or ``grid`` (by grid code, then newest). Every order ends in the ticket
    id, so pages neither overlap nor skip rows.
    """
    query = select(Ticket).outerjoin(Grid, Ticket.grid_id == Grid.id)
    states = _values(args, "state")
    bad = [s for s in states if s not in STATES]
    if bad:
        raise ValidationError(
            _l(
                "state %(value)s unknown (known: %(known)s)",
                value=", ".join(bad),
                known=", ".join(STATES),
            )
        )
    if states:
        query = query.where(Ticket.state.in_(states))
    labels = _values(args, "label")
    bad = [lb for lb in labels if lb not in LABELS]
    if bad:
        raise ValidationError(
            _l(
                "label %(value)s is not one of %(known)s",
                value=repr(bad[0]),
                known=", ".join(LABELS),
            )
        )
    if labels:
        query = query.where(Ticket.final_label.in_(labels))
    department = parse_int(args.get("department_id"), field="department_id")
    if department is not None:
        query = query.where(Ticket.department_id == department)
    grids = _values(args, "grid")
    if grids:  # as typed: "jy-01" finds JY-01
        query = query.where(func.lower(Grid.code).in_({g.lower() for g in grids}))
    if _flag(args, "overdue", "overdue only"):
        query = query.where(Ticket.state.in_(ACTIVE_STATES), Ticket.deadline < (now or utcnow()))
    if _flag(args, "escalated", "escalated only"):
        ever = select(TicketEvent.id).where(
            TicketEvent.ticket_id == Ticket.id, TicketEvent.action == "escalate"
        )
        query = query.where(ever.exists())
    text = (args.get("q") or "").strip()
    if len(text) > MAX_SEARCH:
        raise ValidationError(_l("q is longer than %(max)d characters", max=MAX_SEARCH))
    if text:
        pattern = _contains(text)
        matches = [
            Grid.code.ilike(pattern, escape="\\"),
            Ticket.description.ilike(pattern, escape="\\"),
        ]
        number = text.removeprefix("#")
        if number.isascii() and number.isdigit() and 0 < int(number) <= MAX_INT:
            matches.append(Ticket.id == int(number))
        query = query.where(or_(*matches))
    order = args.get("order") or "newest"
    if order == "newest":
        return query.order_by(Ticket.id.desc())
    if order == "deadline":
        return query.order_by(
            case((Ticket.state.in_(ACTIVE_STATES), 0), else_=1),
            Ticket.deadline.is_(None),
            Ticket.deadline.asc(),
            Ticket.id.asc(),
        )
    if order == "grid":
        return query.order_by(Grid.code.is_(None), Grid.code.asc(), Ticket.id.desc())
    raise ValidationError(
        _l("order %(value)s: one of %(known)s", value=repr(order), known=", ".join(TICKET_ORDERS))
    )


def ticket_grids(args: Any) -> list[str]:
    """The grid codes the ticket list is filtered by (:func:`ticket_query`), as given."""
    return _values(args, "grid")


def unknown_grids(session: Session, codes: Sequence[str]) -> list[str]:
    """Those of ``codes`` that name no grid, compared as the ticket list filters (ignoring
    case); each once, in the order given."""
    wanted = {code.lower() for code in codes}
    known = (
        set(session.scalars(select(func.lower(Grid.code)).where(func.lower(Grid.code).in_(wanted))))
        if wanted
        else set()
    )
    missing: dict[str, None] = {}
    for code in codes:
        if code.lower() not in known:
            missing.setdefault(code)
    return list(missing)


def unknown_grid_error(codes: Sequence[str]) -> NotFoundError:
    """The error naming grid codes that name no grid (one or several)."""
    if len(codes) == 1:
        return NotFoundError(_l("grid %(code)s does not exist", code=repr(codes[0])))
    return NotFoundError(
        _l("grids %(codes)s do not exist", codes=", ".join(repr(c) for c in codes))
    )


def visible_tickets(query: Any, actor: Any) -> Any:
    """``query`` narrowed to what ``actor`` may see: department staff their own department's
    cases (none when their account has no department), everyone else all."""
    if actor.role != "department":
        return query
    if actor.department_id is None:
        return query.where(false())
    return query.where(Ticket.department_id == actor.department_id)


def ticket_visible(ticket: Ticket, actor: Any) -> bool:
    """:func:`visible_tickets`' rule for one ticket."""
    return actor.role != "department" or (
        actor.department_id is not None and ticket.department_id == actor.department_id
    )


def count_rows(session: Session, query: Any) -> int:
    """How many rows ``query`` returns."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def with_names(query: Any) -> Any:
    """``query`` loading each ticket's grid, department and finding (for its class as
    reviewed) with it (no query per row)."""
    return query.options(
        selectinload(Ticket.grid), selectinload(Ticket.department), selectinload(Ticket.finding)
    )


def _ticket_page_size() -> int:
    """``page_size``, or its alias ``per_page``; 50 by default, at most 500."""
    size, per = request.args.get("page_size"), request.args.get("per_page")
    if size and per and size != per:
        raise ValidationError(_l("page_size and per_page differ: give one of them"))
    value = parse_int(size or per, field="page_size", default=50, lo=1, hi=500)
    return value or 50


@bp.get("/tickets")
@roles_required(*ANY)
@takes(*TICKET_FILTERS, "order", "page", "page_size", "per_page")
def tickets() -> Any:
    """One page of the ticket list, with the total, the page count and the links of the next
    and previous pages (same filters); a page past the last is empty."""
    session = db()
    page = parse_int(request.args.get("page"), field="page", default=1, lo=1, hi=MAX_PAGE) or 1
    size = _ticket_page_size()
    query = visible_tickets(ticket_query(request.args), current_actor())
    missing = unknown_grids(session, ticket_grids(request.args))
    if missing:  # an empty list would read as "no cases in that grid"
        raise unknown_grid_error(missing)
    total = count_rows(session, query)
    pages = -(-total // size)
    rows = session.scalars(with_names(query).offset((page - 1) * size).limit(size))

    def link(number: int) -> str:
        params = request.args.to_dict(flat=False)
        params["page"] = [str(number)]
        return url_for("api.tickets", **params)

    return jsonify(
        {
            "items": [ticket_json(t) for t in rows],
            "page": page,
            "page_size": size,
            "total": total,
            "pages": pages,
            "next": link(page + 1) if page < pages else None,
            "prev": link(min(page - 1, pages)) if page > 1 and pages else None,
        }
    )


def _visible_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = _get(session, Ticket, ticket_id, "ticket")
    if not ticket_visible(ticket, current_actor()):
        raise NotFoundError(_l("ticket %(id)s does not exist", id=ticket_id))
    return ticket


def _ticket_to_act_on(session: Session, ticket_id: int) -> Ticket:
    """:func:`_visible_ticket`, except that a department acting on a ticket it held until it
    was recalled gets a 409, as in the two-tab case (it knew of the ticket already)."""
    ticket = _get(session, Ticket, ticket_id, "ticket")
    actor = current_actor()
    if (
        actor.role == "department"
        and not ticket_visible(ticket, actor)
        and once_assigned_to(ticket, actor.department_id)  # reads the archive: only then
    ):
        raise StaleError(
            _l(
                "ticket %(id)s changed meanwhile: it is no longer assigned to your "
                "department; nothing was changed",
                id=ticket_id,
            )
        )
    return _visible_ticket(session, ticket_id)


#: The fields ``POST /tickets`` takes.
TICKET_FIELDS = ("label", "lat", "lon", "description")


@bp.post("/tickets")
@roles_required(*REVIEWERS)
@takes()
def post_ticket() -> Any:
    data = request_data(form=False)
    check_fields(data, TICKET_FIELDS)
    session = db()
    lat = _float(data.get("lat"), field="lat", from_json=True)
    lon = _float(data.get("lon"), field="lon", from_json=True)
    if (lat is None) != (lon is None):
        raise ValidationError(_l("give both lat and lon, or neither"))
    grid_id = None
    if lat is not None and -90 <= lat <= 90 and -180 <= lon <= 180:
        grid_id = GridIndex.from_rows(session.scalars(select(Grid))).locate(lon, lat)
    ticket = open_ticket(
        session,
        label=parse_text(data.get("label"), field="label"),
        actor=current_actor(),
        lat=lat,
        lon=lon,
        grid_id=grid_id,
        description=parse_text(data.get("description"), field=_l("description")),
        source="api" if g.get("api_user") is not None else "ui",  # a city system, or a page
    )
    session.commit()
    return jsonify(ticket_json(ticket, events=True)), 201


@bp.get("/tickets/<int:ticket_id>")
@roles_required(*ANY)
@takes()
def ticket_detail(ticket_id: int) -> Any:
    ticket = _visible_ticket(db(), ticket_id)
    out = ticket_json(ticket, events=True)
    out["actions"] = available_actions(
        ticket.state, current_actor(), ticket_department_id=ticket.department_id
    )
    return jsonify(out)


@bp.post("/tickets/<int:ticket_id>/transitions")
@roles_required(*ANY)
@takes()
def ticket_transition(ticket_id: int) -> Any:
    session = db()
    ticket = _ticket_to_act_on(session, ticket_id)
    data = request_data()
    # a field no action takes, even sent empty (apply_transition refuses what this one does not)
    every = dict.fromkeys(f for fields in ACTION_FIELDS.values() for f in fields if f != "photo")
    check_fields(data, (*TRANSITION_FIELDS, *every), files=("photo",))
    ticket = apply_transition(
        session, ticket, data, request.files.get("photo"), from_json=request.is_json
    )
    return jsonify(ticket_json(ticket, events=True))


@bp.get("/tickets/<int:ticket_id>/evidence/<int:index>")
@roles_required(*ANY)
@takes()
def ticket_evidence(ticket_id: int, index: int) -> Any:
    """The photo of one evidence entry (stored under the data dir's evidence/ folder)."""
    ticket = _visible_ticket(db(), ticket_id)
    entries = ticket.evidence or []
    photo = entries[index].get("photo") if index < len(entries) else None
    root = Path(current_app.config["DATA_DIR"]).resolve()
    path = (root / str(photo)).resolve() if photo else None
    if path is None or root not in path.parents or not path.is_file():
        raise NotFoundError(
            _l("ticket %(id)s has no evidence photo %(index)s", id=ticket_id, index=index)
        )
    # its type from its content; the name it was sent under (UTF-8, RFC 5987 filename*=), or
    # for evidence stored before names were kept, one made up
    return _send_browser_image(
        path, name=entries[index].get("name") or f"evidence-{ticket_id}-{index}"
    )


@bp.get("/notifications")
@roles_required(*REVIEWERS)
@takes()
def notifications() -> Any:
    rows = db().scalars(select(Notification).order_by(Notification.id.desc()).limit(200))
    return jsonify(
        [
            {
                "id": n.id,
                "channel": n.channel,
                "event": n.event,
                "ticket_id": n.ticket_id,
                "ok": n.ok,
                "error": n.error,
                "payload": n.payload,
                "created_at": _iso(n.created_at),
            }
            for n in rows
        ]
    )


@bp.post("/escalations")
@roles_required(*REVIEWERS)
@takes()
def queue_escalation() -> Any:
    if request.content_length:  # it takes no body; fields sent are refused, not ignored
        check_fields(request_data(), ())
    job_id = state().queue.enqueue("escalate", {})
    return jsonify({"job_id": job_id}), 202
