"""Ticket pages: the list with filters and each case with its archive and transition forms."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from groundstation.errors import (
    NotFoundError,
    PermissionDenied,
    StaleError,
    TransitionError,
    ValidationError,
)
from groundstation.i18n import ACTION_NAMES, STATE_NAMES
from groundstation.models import ROLES, TICKET_LABELS, ClassRule, Department, Ticket, utcnow
from groundstation.tickets import STATES, TRANSITIONS, available_actions
from groundstation.web import current_actor, db, roles_required

__all__ = ["bp"]

bp = Blueprint("tickets", __name__)


@bp.get("/tickets")
@roles_required(*ROLES)
def index() -> Any:
    from groundstation.blueprints.api import ticket_query

    actor = current_actor()
    args = {k: v for k, v in request.args.items() if v}
    try:
        query = ticket_query(args)
    except ValidationError as exc:
        flash(str(exc), "error")
        query = ticket_query({})
    if actor.role == "department":
        query = query.where(Ticket.department_id == actor.department_id)
    tickets = list(db().scalars(query.limit(500)))
    departments = list(db().scalars(select(Department).order_by(Department.id)))
    return render_template(
        "tickets.html",
        tickets=tickets,
        states=STATES,
        labels=TICKET_LABELS,
        departments=departments,
        args=args,
        now=utcnow(),
    )


def _ticket(ticket_id: int) -> Ticket:
    ticket = db().get(Ticket, ticket_id)
    actor = current_actor()
    if ticket is None or (
        actor.role == "department" and ticket.department_id != actor.department_id
    ):
        raise NotFoundError(f"ticket {ticket_id} does not exist")
    return ticket


@bp.get("/tickets/<int:ticket_id>")
@roles_required(*ROLES)
def detail(ticket_id: int) -> Any:
    ticket = _ticket(ticket_id)
    actions = available_actions(
        ticket.state, current_actor(), ticket_department_id=ticket.department_id
    )
    rule = db().get(ClassRule, ticket.label)
    departments = list(db().scalars(select(Department).order_by(Department.id)))
    return render_template(
        "ticket.html",
        ticket=ticket,
        actions=actions,
        rule=rule,
        departments=departments,
        now=utcnow(),
    )


@bp.post("/tickets/<int:ticket_id>/transition")
@roles_required(*ROLES)
def do_transition(ticket_id: int) -> Any:
    from groundstation.blueprints.api import apply_transition

    session = db()
    ticket = _ticket(ticket_id)
    data = request.form.to_dict()
    if data.get("deadline") and "+" not in data["deadline"] and not data["deadline"].endswith("Z"):
        data["deadline"] += "+08:00"  # the form's datetime-local is China time
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
    if rule.needs_reason and not data.get("reason", "").strip():
        return _("“%(action)s” needs a reason for the case archive.", action=ACTION_NAMES[action])
    if rule.needs_evidence and not (data.get("note", "").strip() or has_photo):
        return _("Report resolved needs evidence: a note or a photo of the result.")
    if action == "dispatch" and data.get("deadline"):
        try:
            deadline = parse_datetime(data["deadline"], field="deadline")
        except ValidationError:
            deadline = None
        if deadline is None or deadline <= utcnow():
            return _("The deadline must be a date and time in the future.")
    return None
