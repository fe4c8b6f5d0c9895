"""Ticket pages: the list (filters, order and pages kept in the URL; CSV export of the whole
filtered list) and each case with its archive and transition forms."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from werkzeug.datastructures import MultiDict

from groundstation.blueprints.api import TICKET_FILTERS
from groundstation.errors import (
    NotFoundError,
    PermissionDenied,
    StaleError,
    TransitionError,
    ValidationError,
)
from groundstation.i18n import ACTION_NAMES, STATE_NAMES
from groundstation.models import (
    LABELS,
    ROLES,
    ClassRule,
    Department,
    Finding,
    FlightSession,
    Grid,
    Ticket,
    utcnow,
)
from groundstation.params import takes
from groundstation.text import is_blank
from groundstation.tickets import (
    ACTIVE_STATES,
    STATES,
    TRANSITIONS,
    available_actions,
    once_assigned_to,
)
from groundstation.web import current_actor, db, roles_required, state

__all__ = ["bp", "FindingFacts", "FlightPhotos", "finding_facts", "form_deadline"]

bp = Blueprint("tickets", __name__)


#: Rows per page the list offers, and its default.
PER_PAGE: tuple[int, ...] = (25, 50, 100, 200)
DEFAULT_PER_PAGE = 50

#: Display names of the list's parameters, for the banner that names one it could not use.
PARAM_NAMES = {
    "state": _l("State"),
    "label": _l("Class"),
    "grid": _l("Grid"),
    "department_id": _l("Department"),
    "overdue": _l("Overdue only"),
    "escalated": _l("Escalated only"),
    "q": _l("Search"),
    "order": _l("Sort"),
    "page": _l("Page"),
    "per_page": _l("Rows per page"),
}

#: The columns of the ticket list's CSV export, as ``codes=1`` heads them.
CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "label",
    "state",
    "grid",
    "department",
    "deadline",
    "overdue",
    "escalation_level",
    "source",
    "created_at",
    "updated_at",
    "lat",
    "lon",
    "address",
    "description",
)
#: The export's headings in the reader's language (without ``codes=1``).
CSV_HEADINGS = {
    "id": _l("Ticket no."),
    "label": _l("Class"),
    "state": _l("State"),
    "grid": _l("Grid"),
    "department": _l("Department"),
    "deadline": _l("Deadline"),
    "overdue": _l("Overdue"),
    "escalation_level": _l("Escalation level"),
    "source": _l("Source"),
    "created_at": _l("Created"),
    "updated_at": _l("Updated"),
    "lat": _l("Latitude"),
    "lon": _l("Longitude"),
    "address": _l("Address"),
    "description": _l("Description"),
}
#: Where a ticket came from (``Ticket.source``), for the export.
SOURCE_NAMES = {
    "drone": _l("Drone patrol"),
    "ui": _l("Web page"),
    "api": _l("API"),
    "open311": _l("Open311"),
}


#: The list page's query parameters: the filters, the order and the pages.
LIST_PARAMS: tuple[str, ...] = (*TICKET_FILTERS, "order", "page", "per_page")


def _expected(name: str) -> Any:
    """What the list's parameter ``name`` takes, for the banner of a value it cannot use."""
    from groundstation.blueprints.api import MAX_PAGE, TICKET_ORDERS

    return {
        "state": _l("one or more of %(known)s", known=", ".join(STATES)),
        "label": _l("one of %(labels)s", labels=", ".join(LABELS)),
        "department_id": _l("a department number"),
        "overdue": _l("1 or 0"),
        "escalated": _l("1 or 0"),
        "order": ", ".join(TICKET_ORDERS),
        "page": _l("a page number from 1 to %(max)d", max=MAX_PAGE),
        "per_page": ", ".join(str(n) for n in PER_PAGE),
    }[name]


def _list_args(
    raw: MultiDict[str, str],
) -> tuple[MultiDict[str, str], int, int, dict[str, str]]:
    """The request's filters and order that are valid, the page, the rows per page, and the
    problems, by parameter: parameters the list does not take and values it cannot use (left
    out, so the list and its links work), each with the message that names the parameter and
    what it takes."""
    from groundstation.blueprints.api import MAX_PAGE, MAX_SEARCH, ticket_query
    from groundstation.params import unknown_parameter_error, unknown_parameters

    args: MultiDict[str, str] = MultiDict()
    bad: dict[str, str] = {}
    unknown = unknown_parameters(raw, LIST_PARAMS)
    if unknown:
        bad[unknown[0]] = str(unknown_parameter_error(unknown, LIST_PARAMS))
    for key in (*TICKET_FILTERS, "order"):
        values = [v for v in raw.getlist(key) if v.strip()]
        if not values:
            continue
        try:
            ticket_query(MultiDict([(key, v) for v in values]))
        except ValidationError:
            if key == "q" and len(values[0].strip()) > MAX_SEARCH:
                bad[key] = _(
                    "The search text is longer than %(max)d characters and is not applied.",
                    max=MAX_SEARCH,
                )
            else:
                bad[key] = _unusable(key, ",".join(values))
            continue
        if key == "grid":
            values, problem = _known_grids(values)
            if problem:
                bad[key] = problem
        if values:
            args.setlist(key, values)
    page = raw.get("page") or "1"
    if not (page.isascii() and page.isdigit() and 1 <= int(page) <= MAX_PAGE):
        bad["page"] = _unusable("page", page)
        page = "1"
    per_page = raw.get("per_page") or str(DEFAULT_PER_PAGE)
    if per_page not in {str(n) for n in PER_PAGE}:
        bad["per_page"] = _unusable("per_page", per_page)
        per_page = str(DEFAULT_PER_PAGE)
    return args, int(page), int(per_page), bad


def _known_grids(values: list[str]) -> tuple[list[str], str | None]:
    """The list's ``grid`` values (repeated or comma-separated) the list can filter by, and the
    banner naming those that name no grid (compared as the list filters: ignoring case), if
    any. Unknown codes among known ones are left out, the known still filter (never every
    ticket for a typo); when none is known, the list is not filtered by grid."""
    from groundstation.blueprints.api import ticket_grids, unknown_grids

    codes = ticket_grids(MultiDict([("grid", v) for v in values]))
    unknown = unknown_grids(db(), codes)
    if not unknown:
        return values, None
    missing = set(unknown)
    known = [code for code in codes if code not in missing]
    return known, _unknown_grids_message(unknown, others=bool(known))


def _unknown_grids_message(codes: list[str], *, others: bool) -> str:
    """The banner naming grid codes that name no grid (each cut to 60 characters), saying
    whether the list is filtered by the ``others`` given or not by grid at all."""
    shown = [code if len(code) <= 60 else code[:59] + "…" for code in codes]
    quoted = ", ".join(f"“{code}”" for code in shown)
    if others and len(shown) == 1:
        return _(
            "Grid “%(code)s” does not exist; the list shows the tickets of the other grids only.",
            code=shown[0],
        )
    if others:
        return _(
            "Grids %(codes)s do not exist; the list shows the tickets of the other grids only.",
            codes=quoted,
        )
    if len(shown) == 1:
        return _("Grid “%(code)s” does not exist; the list is not filtered by grid.", code=shown[0])
    return _("Grids %(codes)s do not exist; the list is not filtered by grid.", codes=quoted)


def _unusable(name: str, value: str) -> str:
    """The banner of a value the list cannot use: the field, the parameter as the address
    gives it, and what the list takes."""
    from groundstation.params import shown_value

    return _(
        "%(field)s: the address gives %(param)s=%(value)s, but the list takes %(expected)s; "
        "it is left out.",
        field=PARAM_NAMES[name],
        param=name,
        value=shown_value(value),
        expected=_expected(name),
    )


def _flash_bad(problems: dict[str, str]) -> None:
    for message in problems.values():
        flash(message, "error")


def page_numbers(page: int, pages: int, *, around: int = 2) -> list[int | None]:
    """The page links to show: the first, the last and ``around`` either side of ``page``;
    None where numbers are left out."""
    near = range(page - around, page + around + 1)
    shown = sorted(n for n in {1, pages, *near} if 1 <= n <= pages)
    out: list[int | None] = []
    for before, number in zip([0, *shown], shown, strict=False):
        if before and number - before > 1:
            out.append(None)
        out.append(number)
    return out


@bp.get("/tickets")
@roles_required(*ROLES)
def index() -> Any:
    from groundstation.blueprints.api import count_rows, ticket_query, visible_tickets, with_names

    args, page, per_page, bad = _list_args(request.args)
    actor = current_actor()
    session = db()
    query = visible_tickets(ticket_query(args), actor)
    total = count_rows(session, query)
    pages = -(-total // per_page)
    if page > max(pages, 1):  # past the end: the last page, not an empty table under the total
        bad["page"] = _(
            "Page %(page)d is past the last page (%(last)d); the last page is shown.",
            page=page,
            last=max(pages, 1),
        )
        page = max(pages, 1)
    _flash_bad(bad)  # shown above the list of what could be applied, with status 400
    tickets = list(session.scalars(with_names(query).offset((page - 1) * per_page).limit(per_page)))
    params = args.to_dict(flat=False)
    if per_page != DEFAULT_PER_PAGE:
        params["per_page"] = [str(per_page)]

    def page_url(number: int) -> str:
        return url_for("tickets.index", **params, page=number)

    return render_template(
        "tickets.html",
        tickets=tickets,
        states=STATES,
        labels=LABELS,  # as reviewed: background lists the false alarms
        departments=list(session.scalars(select(Department).order_by(Department.id))),
        grids=list(session.scalars(select(Grid.code).order_by(Grid.code))),
        show_department=actor.role != "department",
        args=args,
        page=page,
        pages=pages,
        per_page=per_page,
        per_page_choices=PER_PAGE,
        total=total,
        first_row=(page - 1) * per_page + 1,
        page_numbers=page_numbers(page, pages),
        page_url=page_url,
        csv_url=url_for("tickets.export_csv", **args.to_dict(flat=False)),
        now=utcnow(),
    ), (400 if bad else 200)


@bp.get("/tickets.csv")
@roles_required(*ROLES)
@takes(*LIST_PARAMS, "codes")
def export_csv() -> Any:
    """The whole filtered list (every page) as CSV, with the list's filters and order: UTF-8
    with BOM (for Excel), in the reader's language (headings, classes, states, sources, yes/no);
    ``codes=1`` gives the stable codes of :data:`CSV_COLUMNS` and the API's values instead.
    It takes the list page's query (its ``page`` and ``per_page`` do not narrow the export); a
    filter it cannot apply is refused as the API refuses it (400; a grid that names no grid,
    404): exporting more than asked would mislead."""
    from groundstation.blueprints.api import (
        ticket_grids,
        ticket_query,
        unknown_grid_error,
        unknown_grids,
        visible_tickets,
        with_names,
    )
    from groundstation.blueprints.dashboard import codes_wanted
    from groundstation.i18n import LABEL_NAMES

    now = utcnow()
    args = request.args
    query = with_names(visible_tickets(ticket_query(args, now=now), current_actor()))
    missing = unknown_grids(db(), ticket_grids(args))
    if missing:
        raise unknown_grid_error(missing)
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    storage = state().storage
    names: CsvNames | None = None
    heading = list(CSV_COLUMNS)
    if not codes_wanted(request.args):  # read now: the rows are written after the request
        heading = [str(CSV_HEADINGS[c]) for c in CSV_COLUMNS]
        names = CsvNames(
            labels={k: str(v) for k, v in LABEL_NAMES.items()},
            states={k: str(v) for k, v in STATE_NAMES.items()},
            sources={k: str(v) for k, v in SOURCE_NAMES.items()},
            yes=_("Yes"),
            no=_("No"),
        )

    def lines() -> Iterator[str]:
        # streamed after the request's session is gone: read through a session of its own
        yield "\ufeff"  # BOM: Excel opens UTF-8 Chinese names correctly
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(heading)
        with storage.session() as session:
            for t in session.scalars(query.execution_options(yield_per=500)):
                writer.writerow(_csv_row(t, now=now, tz=tz, names=names))
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    name = f"gridpatrol-tickets-{now.astimezone(tz):%Y%m%d-%H%M}.csv"
    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cell(text: str | None) -> str:
    """Text for a spreadsheet cell; a leading = + - @ would be run as a formula by Excel."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(frozen=True, slots=True)
class CsvNames:
    """The export's values in the reader's language: classes, states, sources, yes and no."""

    labels: dict[str, str]
    states: dict[str, str]
    sources: dict[str, str]
    yes: str
    no: str


def _csv_row(t: Ticket, *, now: datetime, tz: ZoneInfo, names: CsvNames | None = None) -> list[Any]:
    """One ticket's row: codes, or with ``names`` the reader's words for them."""

    def local(value: datetime | None) -> str:
        return value.astimezone(tz).isoformat(timespec="seconds") if value else ""

    overdue = bool(t.deadline and t.state in ACTIVE_STATES and t.deadline < now)
    return [
        t.id,
        names.labels.get(t.final_label, t.final_label) if names else t.final_label,
        names.states.get(t.state, t.state) if names else t.state,
        _cell(t.grid.code if t.grid else ""),
        _cell((t.department.name if names else t.department.code) if t.department else ""),
        local(t.deadline),
        (names.yes if overdue else names.no) if names else int(overdue),
        t.escalation_level,
        names.sources.get(t.source, t.source) if names else t.source,
        local(t.created_at),
        local(t.updated_at),
        "" if t.lat is None else t.lat,
        "" if t.lon is None else t.lon,
        _cell(t.address),
        _cell(t.description),
    ]


def _no_longer_assigned(ticket_id: int, *, acting: bool) -> Any | None:
    """For department staff, a case their department held but no longer does (recalled,
    returned or dispatched elsewhere meanwhile): a flash saying so (``acting``: and that
    nothing was changed) and the way back to their list, instead of "does not exist".
    None for every other case (which :func:`_ticket` shows or refuses)."""
    from groundstation.blueprints.api import ticket_visible

    actor = current_actor()
    ticket = db().get(Ticket, ticket_id)
    if (
        actor.role != "department"
        or ticket is None
        or ticket_visible(ticket, actor)
        or not once_assigned_to(ticket, actor.department_id)
    ):
        return None
    if acting:
        message = _(
            "Ticket %(id)d changed while you had it open: it is no longer assigned to your "
            "department. Nothing was changed.",
            id=ticket_id,
        )
    else:
        message = _("Ticket %(id)d is no longer assigned to your department.", id=ticket_id)
    flash(message, "error")
    return redirect(url_for("tickets.index"))


def _ticket(ticket_id: int) -> Ticket:
    from groundstation.blueprints.api import ticket_visible

    ticket = db().get(Ticket, ticket_id)
    if ticket is None or not ticket_visible(ticket, current_actor()):
        raise NotFoundError(_l("ticket %(id)s does not exist", id=ticket_id))
    return ticket


@dataclass(frozen=True, slots=True)
class FlightPhotos:
    """How many of the photos that show an object one flight took."""

    flight_id: int
    photos: int


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """What the ticket page tells about a drone ticket's finding: its class, score and flight,
    how many photos show the object (the primary's and its sightings', whichever flights took
    them) and flight by flight (oldest flight first), the flight session that took the
    finding's photo, if one did, and that photo's name as it was sent."""

    label: str
    score: float
    flight_id: int
    photo_id: int
    photos: int
    session_id: int | None
    flights: tuple[FlightPhotos, ...] = ()
    photo_name: str = ""


def finding_facts(session: Any, finding: Finding) -> FindingFacts:
    """The :class:`FindingFacts` of ``finding``; a sighting counts with its primary's group."""
    primary = finding.sighting_of or finding.id
    flights = tuple(
        FlightPhotos(flight_id, int(photos))
        for flight_id, photos in session.execute(
            select(Finding.flight_id, func.count(func.distinct(Finding.photo_id)))
            .where(or_(Finding.id == primary, Finding.sighting_of == primary))
            .group_by(Finding.flight_id)
            .order_by(Finding.flight_id)
        )
    )
    session_id = session.scalar(
        select(FlightSession.id)
        .where(FlightSession.flight_id == finding.flight_id)
        .order_by(FlightSession.id.desc())
        .limit(1)
    )
    return FindingFacts(
        label=finding.final_label,
        score=finding.score,
        flight_id=finding.flight_id,
        photo_id=finding.photo_id,
        photos=max(sum(f.photos for f in flights), 1),
        session_id=session_id,
        flights=flights,
        photo_name=finding.photo.display_name,
    )


@bp.get("/tickets/<int:ticket_id>")
@roles_required(*ROLES)
@takes()
def detail(ticket_id: int) -> Any:
    from groundstation.blueprints.admin import not_notified_lines
    from groundstation.blueprints.api import REVIEWERS

    gone = _no_longer_assigned(ticket_id, acting=False)
    if gone is not None:
        return gone
    ticket = _ticket(ticket_id)
    actor = current_actor()
    session = db()
    actions = available_actions(ticket.state, actor, ticket_department_id=ticket.department_id)
    rule = session.get(ClassRule, ticket.label)
    departments = list(session.scalars(select(Department).order_by(Department.id)))
    return render_template(
        "ticket.html",
        ticket=ticket,
        actions=actions,
        rule=rule,
        departments=departments,
        facts=finding_facts(session, ticket.finding) if ticket.finding else None,
        can_review=actor.role in REVIEWERS,
        transitions=TRANSITIONS,
        now=utcnow(),
        # for the dispatchers: notices no attempt delivered (phone the department instead)
        not_notified=not_notified_lines(session, ticket.id) if actor.role in REVIEWERS else [],
    )


@bp.post("/tickets/<int:ticket_id>/transition")
@roles_required(*ROLES)
@takes()
def do_transition(ticket_id: int) -> Any:
    from groundstation.blueprints.api import apply_transition, ticket_visible

    session = db()
    gone = _no_longer_assigned(ticket_id, acting=True)
    if gone is not None:
        return gone
    ticket = _ticket(ticket_id)
    data = request.form.to_dict()
    if data.get("deadline"):
        data["deadline"] = form_deadline(data["deadline"], ZoneInfo(current_app.config["TIMEZONE"]))
    photo = request.files.get("photo")
    problem = _form_problem(ticket, data, has_photo=bool(photo and photo.filename))
    if problem:
        flash(problem, "error")
        return redirect(url_for("tickets.detail", ticket_id=ticket_id))
    try:
        apply_transition(session, ticket, data, photo)
    except StaleError:
        session.rollback()
        flash(_stale_message(session, ticket_id), "error")
    except (ValidationError, TransitionError, PermissionDenied, NotFoundError) as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(
            _("Ticket %(id)d is now: %(state)s", id=ticket.id, state=STATE_NAMES[ticket.state]),
            "info",
        )
    if not ticket_visible(ticket, current_actor()):
        # e.g. a department returned it to the dispatcher: its page is no longer theirs
        return redirect(url_for("tickets.index"))
    return redirect(url_for("tickets.detail", ticket_id=ticket_id))


def _stale_message(session: Any, ticket_id: int) -> str:
    ticket = session.get(Ticket, ticket_id)
    return _(
        "Someone changed ticket %(id)d while you had it open: it is now “%(state)s”. "
        "Nothing was changed; check the case archive and decide again.",
        id=ticket_id,
        state=STATE_NAMES[ticket.state],
    )


def _form_problem(ticket: Ticket, data: dict[str, str], *, has_photo: bool) -> str | None:
    """What is wrong with a ticket form the page could have prevented, in the user's language;
    None when the form is fine (the state machine still checks everything)."""
    from groundstation.blueprints.api import parse_datetime

    expected = data.get("expected_state")
    if expected and expected != ticket.state:
        return _stale_message(db(), ticket.id)
    action = data.get("action", "")
    actor = current_actor()
    if action not in available_actions(
        ticket.state, actor, ticket_department_id=ticket.department_id
    ):
        return None  # the state machine explains why
    rule = TRANSITIONS[action]
    if rule.needs_reason and is_blank(data.get("reason")):
        return _("“%(action)s” needs a reason for the case archive.", action=ACTION_NAMES[action])
    if rule.needs_evidence and is_blank(data.get("note")) and not has_photo:
        return _("Report resolved needs evidence: a note or a photo of the result.")
    if action == "extend" and not data.get("deadline"):
        return _("“%(action)s” needs the new deadline.", action=ACTION_NAMES[action])
    if action in ("dispatch", "extend") and data.get("deadline"):
        try:
            deadline = parse_datetime(data["deadline"], field="deadline")
        except ValidationError:
            return _("The deadline is not a valid date and time.")
        if deadline is None or deadline <= utcnow():
            return _("The deadline must be a date and time in the future.")
    return None


def form_deadline(text: str, tz: tzinfo) -> str:
    """The ticket form's deadline as ISO 8601 with an offset: a ``datetime-local`` value
    (``2026-06-01T18:00``) is a time in ``tz`` (the station's ``TIMEZONE``), a value with its
    own offset (``+08:00``, ``-05:00``, ``Z``) keeps it. Text that is no date and time (such as
    ``2026-02-30T10:00``) is returned as it is, for the checks to refuse."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.isoformat()
