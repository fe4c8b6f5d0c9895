"""Open311 GeoReport v2 under ``/open311/v2/`` so city systems can read and file grid tickets.

Mapping: class → ``service_code``; department → ``agency_responsible``; deadline →
``expected_datetime``; grid code → ``address_id``; fine-grained state, escalation, score and
flight → ``status_notes`` and ``extended_attributes``; the case archive → ``notes`` (actions and
roles, no names). Errors are a list of ``{code, description}``: 404 unknown, 403 bad key,
400 otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import func, select

from groundstation.models import ClassRule, Ticket, utcnow
from groundstation.tickets import SYSTEM, TERMINAL_STATES, Actor, open_ticket
from groundstation.web import db, lookup_api_key

__all__ = ["bp", "open311_error", "request_json"]

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_MEDIA_URL = 2000
MAX_IDS = 1000
#: Requests one api_key may file per hour unless OPEN311_MAX_REQUESTS_PER_HOUR says otherwise.
DEFAULT_MAX_REQUESTS_PER_HOUR = 500
REPORTER_FIELDS = ("email", "device_id", "account_id", "first_name", "last_name", "phone")


def open311_error(status: int, description: str) -> Any:
    response = jsonify([{"code": status, "description": description}])
    response.status_code = status
    return response


def _local(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).isoformat(timespec="seconds")


def request_json(t: Ticket) -> dict[str, Any]:
    """One ticket as an Open311 service request."""
    notes = f"state: {t.state}"
    if t.escalation_level:
        notes += f"; escalation level {t.escalation_level} (督办)"
    extended: dict[str, Any] = {
        "state": t.state,
        "source": t.source,
        "escalation_level": t.escalation_level,
    }
    if t.finding is not None:
        extended.update(
            finding_id=t.finding.id,
            flight_id=t.finding.flight_id,
            score=t.finding.score,
            box_px=t.finding.box_px,
            classifier_label=t.finding.label,
        )
    return {
        "service_request_id": str(t.id),
        "status": "closed" if t.state in TERMINAL_STATES else "open",
        "status_notes": notes,
        "service_name": _service_names().get(t.label, t.label),
        "service_code": t.label,
        "description": t.description,
        "agency_responsible": t.department.name if t.department else None,
        "service_notice": None,
        "requested_datetime": _local(t.created_at),
        "updated_datetime": _local(t.updated_at),
        "expected_datetime": _local(t.deadline),
        "address": t.address,
        "address_id": t.grid.code if t.grid else None,
        "zipcode": None,
        "lat": t.lat,
        "long": t.lon,
        "media_url": t.media_url,
        "extended_attributes": extended,
        "notes": [
            {
                "type": e.action,
                "datetime": _local(e.at),
                "from": e.from_state,
                "to": e.to_state,
                "role": e.actor_role,
                "description": e.reason,
            }
            for e in t.events
        ],
    }


def _service_names() -> dict[str, str]:
    return {r.label: r.name for r in db().scalars(select(ClassRule))}


def _format_ok(fmt: str) -> Any:
    return None if fmt == "json" else open311_error(400, f"format {fmt!r} unsupported; use .json")


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    base = request.url_root.rstrip("/") + "/open311/v2/"
    return jsonify(
        {
            "changeset": "2024-01-01T00:00:00+08:00",
            "contact": "gridpatrol",
            "key_service": "gridpatrol db create-api-key NAME",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": base,
                    "changeset": "2024-01-01T00:00:00+08:00",
                    "type": "production",
                    "formats": ["application/json"],
                }
            ],
        }
    )


@bp.get("/services.<fmt>")
def services(fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    rules = db().scalars(select(ClassRule).order_by(ClassRule.label))
    return jsonify(
        [
            {
                "service_code": r.label,
                "service_name": r.name,
                "description": r.filing_standard,
                "metadata": False,
                "type": "realtime",
                "keywords": r.label.replace("_", " "),
                "group": "grid governance",
            }
            for r in rules
        ]
    )


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    if db().get(ClassRule, code) is None:
        return open311_error(404, f"service_code {code!r} does not exist")
    return jsonify({"service_code": code, "attributes": []})


def _parse_date(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
    return parsed


@bp.get("/requests.<fmt>")
def list_requests(fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    query = select(Ticket)
    ids = request.args.get("service_request_id")
    try:
        if ids:
            numbers = [int(i) for i in ids.split(",") if i.strip()]
            if len(numbers) > MAX_IDS or any(not 0 < n < 2**63 for n in numbers):
                return open311_error(400, f"service_request_id: at most {MAX_IDS} valid ids")
            query = query.where(Ticket.id.in_(numbers))
        else:
            start, end = _parse_date("start_date"), _parse_date("end_date")
            if start is None and end is None:
                start = utcnow() - timedelta(days=90)
            if start is not None:
                query = query.where(Ticket.created_at >= start)
            if end is not None:
                query = query.where(Ticket.created_at <= end)
            if request.args.get("service_code"):
                query = query.where(Ticket.label.in_(request.args["service_code"].split(",")))
            status = request.args.get("status")
            if status == "open":
                query = query.where(Ticket.state.not_in(TERMINAL_STATES))
            elif status == "closed":
                query = query.where(Ticket.state.in_(TERMINAL_STATES))
            elif status:
                return open311_error(400, f"status {status!r}: open or closed")
        page = int(request.args.get("page", 1))
        size = int(request.args.get("page_size", 1000))
    except ValueError as exc:
        return open311_error(400, f"bad parameter: {exc}")
    if page < 1 or not 1 <= size <= 1000:
        return open311_error(400, "page must be ≥ 1 and page_size in 1..1000")
    rows = db().scalars(query.order_by(Ticket.id.desc()).offset((page - 1) * size).limit(size))
    return jsonify([request_json(t) for t in rows])


@bp.get("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    ticket = db().get(Ticket, int(request_id)) if request_id.isdigit() else None
    if ticket is None:
        return open311_error(404, f"service_request_id {request_id!r} does not exist")
    return jsonify([request_json(ticket)])


@bp.get("/tokens/<token>.<fmt>")
def token(token: str, fmt: str) -> Any:
    return open311_error(404, f"token {token!r} does not exist: requests get ids immediately")


def _rate_limited(session: Any, created_by: str) -> Any:
    """A 429 answer when ``created_by`` filed its hourly allowance already, else None."""
    limit = current_app.config.get("OPEN311_MAX_REQUESTS_PER_HOUR")
    limit = DEFAULT_MAX_REQUESTS_PER_HOUR if limit is None else int(limit)
    filed = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.created_by == created_by, Ticket.created_at >= utcnow() - timedelta(hours=1))
    )
    if filed >= limit:
        return open311_error(429, f"this api_key filed {filed} requests in the last hour (limit)")
    return None


@bp.post("/requests.<fmt>")
def post_request(fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    form = request.form
    session = db()
    key = lookup_api_key(session, form.get("api_key") or request.args.get("api_key"))
    if key is None or (key.user is not None and not key.user.active):
        return open311_error(403, "api_key missing, unknown or revoked")
    actor = Actor(name=f"open311:{key.name}", role=key.user.role if key.user else SYSTEM.role)
    if (limited := _rate_limited(session, actor.name)) is not None:
        return limited
    code = form.get("service_code", "")
    if not code:
        return open311_error(400, "service_code is required")
    if session.get(ClassRule, code) is None:
        return open311_error(400, f"service_code {code!r} is not a known service")
    lat_raw, lon_raw, address = form.get("lat"), form.get("long"), form.get("address_string")
    try:
        lat = float(lat_raw) if lat_raw else None
        lon = float(lon_raw) if lon_raw else None
    except ValueError:
        return open311_error(400, f"lat/long {lat_raw!r}/{lon_raw!r} are not numbers")
    if (lat is None) != (lon is None):
        return open311_error(400, "give both lat and long")
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return open311_error(400, f"lat/long {lat_raw!r}/{lon_raw!r} are outside WGS84")
    if lat is None and not address:
        return open311_error(400, "a location is required: lat and long, or address_string")
    description = form.get("description", "")
    if len(description) > MAX_DESCRIPTION:
        return open311_error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    if address and len(address) > MAX_ADDRESS:
        return open311_error(400, f"address_string is longer than {MAX_ADDRESS} characters")
    media_url = form.get("media_url") or None
    if media_url and len(media_url) > MAX_MEDIA_URL:
        return open311_error(400, f"media_url is longer than {MAX_MEDIA_URL} characters")
    if media_url and not media_url.startswith(("http://", "https://")):
        return open311_error(400, "media_url must be an http(s) URL")
    from groundstation.errors import ValidationError

    grid_id = None
    if lat is not None and lon is not None:
        from groundstation.ingest import GridIndex
        from groundstation.models import Grid

        grid_id = GridIndex.from_rows(session.scalars(select(Grid))).locate(lon, lat)
    try:
        ticket = open_ticket(
            session,
            label=code,
            actor=actor,
            lat=lat,
            lon=lon,
            description=description,
            grid_id=grid_id,
            source="open311",
            address=address,
            media_url=media_url,
            reporter={f: form[f][:200] for f in REPORTER_FIELDS if form.get(f)},
        )
    except ValidationError as exc:
        session.rollback()
        return open311_error(400, str(exc))
    session.commit()
    return jsonify(
        [
            {
                "service_request_id": str(ticket.id),
                "service_notice": None,
                "account_id": form.get("account_id"),
            }
        ]
    )
