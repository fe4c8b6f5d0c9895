"""Open311 GeoReport v2 under ``/open311/v2/`` so city systems can read and file grid tickets.

Mapping: class → ``service_code``; department → ``agency_responsible``; deadline →
``expected_datetime``; grid code → ``address_id``; fine-grained state, escalation, score and
flight → ``status_notes`` and ``extended_attributes``; the case archive → ``notes`` (actions and
roles, no names). Each address takes GeoReport's query parameters (``jurisdiction_id``,
``api_key``; the request list its filters) and ``lang``; any other is a 400 naming it, as is a
form field that ``POST requests`` does not take (:data:`POST_FIELDS`).

Reading requests takes an api_key (``?api_key=``, or the ``X-API-Key``/``Authorization: Bearer``
header the JSON API takes) and shows what the key's user sees on ``/api/v1/tickets`` (a key made
without a user, for a city system: every case); with ``OPEN311_PUBLIC_READS`` a reader without a
key gets GeoReport's own fields only (:data:`PUBLIC_FIELDS`). Filing takes the roles that may
``POST /api/v1/tickets``, or a key without a user. Errors are a list of ``{code, description}``:
401 no or bad key on a read, 403 bad key on a filing or a role that may not, 404 unknown (or
hidden from the reader), 400 otherwise. The descriptions,
``status_notes`` and the services' ``group`` and ``keywords`` are in the client's language
(``?lang=``, else ``Accept-Language``, else English); codes stay codes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import func, select, update
from werkzeug.exceptions import Unauthorized

from groundstation.blueprints.api import (
    REVIEWERS,
    disabled_key_message,
    ticket_visible,
    visible_tickets,
)
from groundstation.errors import PermissionDenied, ValidationError
from groundstation.i18n import LABEL_NAMES, ROLE_NAMES, STATE_NAMES, lazy_names
from groundstation.i18n import lazy_message as _l
from groundstation.models import (
    MAX_DATETIME,
    MAX_ID,
    MIN_DATETIME,
    ApiKey,
    ClassRule,
    Ticket,
    utcnow,
)
from groundstation.params import check_fields, takes
from groundstation.text import strip_blank
from groundstation.tickets import SYSTEM, TERMINAL_STATES, Actor, open_ticket
from groundstation.web import actor_for, api_key_from_request, check_text, db, lookup_api_key

__all__ = [
    "bp",
    "open311_error",
    "request_json",
    "Reader",
    "COMMON_PARAMS",
    "LIST_PARAMS",
    "POST_FIELDS",
    "PUBLIC_FIELDS",
]

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_MEDIA_URL = 2000
MAX_IDS = 1000
MAX_PAGE = 10**6
#: Requests one api_key may file per hour unless OPEN311_MAX_REQUESTS_PER_HOUR says otherwise.
DEFAULT_MAX_REQUESTS_PER_HOUR = 500
REPORTER_FIELDS = ("email", "device_id", "account_id", "first_name", "last_name", "phone")
MAX_REPORTER_FIELD = 200
#: One address, loosely: something@domain.tld, no spaces (the city system checks it further).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: Query parameters every GeoReport v2 call may carry: the jurisdiction (this server serves one,
#: so any value is taken) and the client's api_key (needed to file and to read requests).
COMMON_PARAMS: tuple[str, ...] = ("jurisdiction_id", "api_key")
#: The filters of ``GET requests``: GeoReport v2's, and ``page``/``page_size`` (an extension).
LIST_PARAMS: tuple[str, ...] = (
    *COMMON_PARAMS,
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "page",
    "page_size",
)
#: The form fields of ``POST requests``: GeoReport v2's (``address_id`` is taken and unused: the
#: grid comes from the position), and ``attribute[CODE]`` (:data:`ATTRIBUTE`). Any other is refused.
POST_FIELDS: tuple[str, ...] = (
    *COMMON_PARAMS,
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    *REPORTER_FIELDS,
    "description",
    "media_url",
)
#: A service's attribute as GeoReport v2 names it: ``attribute[CODE]``, ``attribute[CODE][]`` for
#: a multi-valued one (our services define none, so their values are not kept).
ATTRIBUTE = re.compile(r"attribute\[[^\[\]]+\](\[\])?")
#: The group every service belongs to (services.json), in the client's language.
SERVICE_GROUP = _l("grid governance")
#: A request's fields an anonymous reader gets when OPEN311_PUBLIC_READS publishes reads:
#: GeoReport v2's own, never our extensions (finding, flight, score, box, labels) or the archive.
PUBLIC_FIELDS: tuple[str, ...] = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "lat",
    "long",
    "media_url",
)
#: Bodies a GeoReport v2 POST may have (the standard is form-encoded).
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def open311_error(status: int, description: Any) -> Any:
    """The spec's error answer; a lazy ``description`` is rendered in the client's language."""
    response = jsonify([{"code": status, "description": str(description)}])
    response.status_code = status
    return response


def _local(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Reader:
    """Who reads service requests: ``actor`` the API key's user (None: a key made for a city
    system, or the public, both seeing every case); ``public`` an anonymous reader, given
    :data:`PUBLIC_FIELDS` only."""

    actor: Actor | None = None
    public: bool = False

    def narrow(self, query: Any) -> Any:
        """``query`` (of tickets) cut to the cases this reader sees, as ``/api/v1/tickets``."""
        return query if self.actor is None else visible_tickets(query, self.actor)

    def sees(self, ticket: Ticket) -> bool:
        return self.actor is None or ticket_visible(ticket, self.actor)


def _reader() -> Reader:
    """The reader of this request, by its api_key; without one the public when
    OPEN311_PUBLIC_READS allows it. No key (otherwise) or a bad one is a 401, a disabled user's
    key a 403, as the JSON API answers."""
    raw = request.args.get("api_key") or api_key_from_request()
    if not raw:
        if current_app.config.get("OPEN311_PUBLIC_READS"):
            return Reader(public=True)
        raise Unauthorized(
            str(
                _l(
                    "an api_key is required to read service requests: "
                    "send it as ?api_key=KEY or in the X-API-Key header"
                )
            )
        )
    key = lookup_api_key(db(), raw)
    if key is None:
        raise Unauthorized(str(_l("api_key missing, unknown or revoked")))
    if key.user is None:
        return Reader()
    if not key.user.active:
        raise PermissionDenied(disabled_key_message(key.user.username))
    return Reader(actor=actor_for(key.user))


def request_json(t: Ticket, *, public: bool = False) -> dict[str, Any]:
    """One ticket as an Open311 service request; its text in the client's language (the state
    by its code in English, by its name in other languages; the codes stay in
    ``extended_attributes``). ``public``: :data:`PUBLIC_FIELDS` only."""
    state = lazy_names(STATE_NAMES, t.state)
    if t.escalation_level:  # 督办
        notes = _l(
            "state: %(state)s; escalation level %(level)d", state=state, level=t.escalation_level
        )
    else:
        notes = _l("state: %(state)s", state=state)
    out: dict[str, Any] = {
        "service_request_id": str(t.id),
        "status": "closed" if t.state in TERMINAL_STATES else "open",
        "status_notes": str(notes),
        "service_name": _service_names().get(t.label, t.label),
        "service_code": t.label,
        "description": t.description,
        "agency_responsible": t.department.name if t.department else None,
        "requested_datetime": _local(t.created_at),
        "updated_datetime": _local(t.updated_at),
        "expected_datetime": _local(t.deadline),
        "address": t.address,
        "lat": t.lat,
        "long": t.lon,
        "media_url": t.media_url,
    }
    if public:
        return out
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
        **out,
        "service_notice": None,
        "address_id": t.grid.code if t.grid else None,
        "zipcode": None,
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
    if fmt == "json":
        return None
    return open311_error(
        400, _l("format %(value)s: one of %(known)s", value=repr(fmt), known="json")
    )


@bp.get("/discovery.<fmt>")
@takes(*COMMON_PARAMS)
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
@takes(*COMMON_PARAMS)
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
                "keywords": str(LABEL_NAMES.get(r.label, r.label.replace("_", " "))),
                "group": str(SERVICE_GROUP),
            }
            for r in rules
        ]
    )


@bp.get("/services/<code>.<fmt>")
@takes(*COMMON_PARAMS)
def service_definition(code: str, fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    if db().get(ClassRule, code) is None:
        return open311_error(
            404, _l("%(what)s %(id)s does not exist", what="service_code", id=repr(code[:80]))
        )
    return jsonify({"service_code": code, "attributes": []})


def _parse_date(name: str) -> datetime | None:
    """Query parameter ``name`` as a datetime (without a zone: in TIMEZONE), None when absent."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            _l("%(field)s %(value)s is not an ISO 8601 datetime", field=name, value=repr(raw))
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
    try:
        in_range = MIN_DATETIME <= parsed.astimezone(UTC) <= MAX_DATETIME
    except OverflowError:
        in_range = False
    if not in_range:
        raise ValidationError(
            _l(
                "%(field)s %(value)s is outside the years 1 to 9999 in UTC",
                field=name,
                value=repr(raw),
            )
        )
    return parsed


def _number(name: str, default: int, lo: int, hi: int) -> int:
    """Query parameter ``name`` as an integer in ``lo``..``hi``; ``default`` when absent."""
    raw = request.args.get(name) or ""
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationError(
            _l("%(field)s %(value)s is not an integer", field=name, value=repr(raw[:40]))
        )
    if int(raw) < lo:
        raise ValidationError(
            _l("%(field)s %(value)s must be at least %(lo)s", field=name, value=raw, lo=lo)
        )
    if int(raw) > hi:
        raise ValidationError(
            _l("%(field)s %(value)s must be at most %(hi)s", field=name, value=raw[:40], hi=hi)
        )
    return int(raw)


def _listed(name: str) -> list[str]:
    """Query parameter ``name`` as GeoReport v2 lists it: comma-delimited values, blanks
    dropped; none when absent (no filter)."""
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()]


def _request_id(raw: str) -> int | None:
    """A service_request_id as a ticket id, None when it cannot name one."""
    raw = raw.strip()
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


@bp.get("/requests.<fmt>")
@takes(*LIST_PARAMS)
def list_requests(fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    reader = _reader()
    query = reader.narrow(select(Ticket))
    ids = request.args.get("service_request_id")
    if ids:
        parts = [i for i in ids.split(",") if i.strip()]
        numbers = [_request_id(i) for i in parts]
        if len(numbers) > MAX_IDS or None in numbers:
            return open311_error(
                400,
                _l(
                    "service_request_id: at most %(max)d ids from 1 to %(hi)d, comma-separated",
                    max=MAX_IDS,
                    hi=MAX_ID,
                ),
            )
        query = query.where(Ticket.id.in_(numbers))
    else:
        start, end = _parse_date("start_date"), _parse_date("end_date")
        if start is not None and end is not None and start > end:
            return open311_error(
                400,
                _l(
                    "start_date %(start)s is after end_date %(end)s",
                    start=request.args["start_date"][:40],
                    end=request.args["end_date"][:40],
                ),
            )
        if start is None and end is None:
            start = utcnow() - timedelta(days=90)
        if start is not None:
            query = query.where(Ticket.created_at >= start)
        if end is not None:
            query = query.where(Ticket.created_at <= end)
        codes = _listed("service_code")
        if codes:
            known = set(db().scalars(select(ClassRule.label).where(ClassRule.label.in_(codes))))
            if unknown := [c for c in codes if c not in known]:
                return open311_error(
                    400,
                    _l(
                        "service_code %(code)s is not a known service",
                        code=repr(unknown[0][:80]),
                    ),
                )
            query = query.where(Ticket.label.in_(codes))
        statuses = set(_listed("status"))
        if bad := sorted(statuses - {"open", "closed"}):
            return open311_error(
                400, _l("status %(value)s: open or closed", value=repr(bad[0][:40]))
            )
        if statuses == {"open"}:
            query = query.where(Ticket.state.not_in(TERMINAL_STATES))
        elif statuses == {"closed"}:
            query = query.where(Ticket.state.in_(TERMINAL_STATES))
    page = _number("page", 1, 1, MAX_PAGE)
    size = _number("page_size", 1000, 1, 1000)
    rows = db().scalars(query.order_by(Ticket.id.desc()).offset((page - 1) * size).limit(size))
    return jsonify([request_json(t, public=reader.public) for t in rows])


@bp.get("/requests/<request_id>.<fmt>")
@takes(*COMMON_PARAMS)
def get_request(request_id: str, fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    reader = _reader()
    number = _request_id(request_id)
    ticket = db().get(Ticket, number) if number is not None else None
    if ticket is None or not reader.sees(ticket):  # hidden: the same answer as unknown
        return open311_error(
            404,
            _l(
                "%(what)s %(id)s does not exist",
                what="service_request_id",
                id=repr(request_id[:40]),
            ),
        )
    return jsonify([request_json(ticket, public=reader.public)])


@bp.get("/tokens/<token>.<fmt>")
@takes(*COMMON_PARAMS)
def token(token: str, fmt: str) -> Any:
    return open311_error(
        404,
        _l(
            "token %(token)s does not exist: requests get ids immediately",
            token=repr(token[:80]),
        ),
    )


def _rate_limited(session: Any, key: ApiKey, created_by: str, *, lock: bool) -> Any:
    """A 429 answer when ``created_by`` (filing with ``key``) filed its hourly allowance already,
    else None. With ``lock``, the key is held until the session commits or rolls back, so the
    requests of one key count and file one at a time and never exceed the allowance."""
    limit = current_app.config.get("OPEN311_MAX_REQUESTS_PER_HOUR")
    limit = DEFAULT_MAX_REQUESTS_PER_HOUR if limit is None else int(limit)
    if lock:
        _lock_key(session, key)
    now = utcnow()
    filed, oldest = session.execute(
        select(func.count(), func.min(Ticket.created_at)).where(
            Ticket.created_by == created_by, Ticket.created_at >= now - timedelta(hours=1)
        )
    ).one()
    if filed < limit:
        return None
    # the oldest request in the window leaves it first (none: a limit of 0 waits a full hour)
    wait = (oldest + timedelta(hours=1) - now).total_seconds() if oldest else 3600
    seconds = max(1, math.ceil(wait))
    response = open311_error(
        429,
        _l(
            "this api_key filed %(count)d requests in the last hour (limit: %(limit)d an hour); "
            "try again in %(seconds)d seconds",
            count=filed,
            limit=limit,
            seconds=seconds,
        ),
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def _lock_key(session: Any, key: ApiKey) -> None:
    """Lock ``key``'s row until the session's transaction ends."""
    if session.get_bind().dialect.name == "sqlite":
        # no row locks: a write takes the database's write lock, held to commit, and the count
        # that follows reads inside that write transaction
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=utcnow()))
    else:
        session.execute(select(ApiKey.id).where(ApiKey.id == key.id).with_for_update())


@bp.post("/requests.<fmt>")
@takes(*COMMON_PARAMS)
def post_request(fmt: str) -> Any:
    if (bad := _format_ok(fmt)) is not None:
        return bad
    if request.mimetype not in FORM_TYPES and request.content_length:
        return open311_error(
            400,
            _l(
                "GeoReport v2 requests are form-encoded (application/x-www-form-urlencoded), "
                "not %(type)s",
                type=request.mimetype[:80],
            ),
        )
    form = request.form
    session = db()
    raw = form.get("api_key") or request.args.get("api_key") or api_key_from_request()
    key = lookup_api_key(session, raw)
    if key is None:
        return open311_error(403, _l("api_key missing, unknown or revoked"))
    if key.user is not None and not key.user.active:
        return open311_error(403, disabled_key_message(key.user.username))
    if key.user is not None and key.user.role not in REVIEWERS:  # as POST /api/v1/tickets
        return open311_error(
            403,
            _l(
                "role %(role)s may not file service requests (needs: %(roles)s, "
                "or an api_key made without --user for a city system)",
                role=lazy_names(ROLE_NAMES, key.user.role, quote=True),
                roles=lazy_names(ROLE_NAMES, *REVIEWERS),
            ),
        )
    actor = Actor(name=f"open311:{key.name}", role=key.user.role if key.user else SYSTEM.role)
    if (limited := _rate_limited(session, key, actor.name, lock=False)) is not None:
        return limited  # early, without a lock: checked again, locked, before filing
    check_fields(
        {name: value for name, value in form.items() if not ATTRIBUTE.fullmatch(name)},
        (*POST_FIELDS, "attribute[CODE]"),
        csrf=False,
    )
    for name, value in form.items(multi=True):  # before any of it reaches the database
        check_text(value, field=repr(name[:80]))
    code = form.get("service_code", "")
    if not code:
        return open311_error(400, _l("service_code is required"))
    if session.get(ClassRule, code) is None:
        return open311_error(
            400, _l("service_code %(code)s is not a known service", code=repr(code[:80]))
        )
    lat_raw, lon_raw = form.get("lat"), form.get("long")
    address = strip_blank(form.get("address_string") or "") or None  # spaces locate nothing
    try:
        lat = float(lat_raw) if lat_raw else None
        lon = float(lon_raw) if lon_raw else None
    except ValueError:
        return open311_error(
            400,
            _l(
                "lat/long %(lat)s/%(long)s are not numbers",
                lat=repr(lat_raw and lat_raw[:40]),
                long=repr(lon_raw and lon_raw[:40]),
            ),
        )
    if (lat is None) != (lon is None):
        return open311_error(400, _l("give both lat and long"))
    if lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return open311_error(
            400,
            _l(
                "position (%(lat)s, %(lon)s) is outside WGS84 lat/long",
                lat=lat_raw[:40],
                lon=lon_raw[:40],
            ),
        )
    if lat is None and not address:
        return open311_error(400, _l("a location is required: lat and long, or address_string"))
    description = form.get("description", "")
    for field, text, limit in (
        ("description", description, MAX_DESCRIPTION),
        ("address_string", address, MAX_ADDRESS),
        ("media_url", form.get("media_url"), MAX_MEDIA_URL),
    ):
        if text and len(text) > limit:
            return open311_error(
                400, _l("%(field)s is longer than %(max)d characters", field=field, max=limit)
            )
    for field in REPORTER_FIELDS:
        if len(form.get(field, "")) > MAX_REPORTER_FIELD:
            return open311_error(
                400,
                _l(
                    "%(field)s is longer than %(max)d characters",
                    field=field,
                    max=MAX_REPORTER_FIELD,
                ),
            )
    email = form.get("email", "").strip()  # a pasted address often brings a space along
    if email and not EMAIL.fullmatch(email):
        return open311_error(400, _l("email %(value)s is not an e-mail address", value=repr(email)))
    media_url = form.get("media_url") or None
    if media_url and not media_url.startswith(("http://", "https://")):
        return open311_error(400, _l("media_url must be an http(s) URL"))

    grid_id = None
    if lat is not None and lon is not None:
        from groundstation.ingest import GridIndex
        from groundstation.models import Grid

        grid_id = GridIndex.from_rows(session.scalars(select(Grid))).locate(lon, lat)
    if (limited := _rate_limited(session, key, actor.name, lock=True)) is not None:
        session.rollback()  # releases the key
        return limited
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
            reporter={
                **{f: form[f] for f in REPORTER_FIELDS if form.get(f)},
                **({"email": email} if email else {}),
            },
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
