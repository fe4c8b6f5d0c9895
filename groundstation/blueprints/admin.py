"""Admin pages: the event table (class → department, deadline, standards) and the notifier log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from groundstation.blueprints.api import RULE_FIELDS, rule_changes
from groundstation.errors import NotFoundError, ValidationError
from groundstation.models import ClassRule, Department, Notification
from groundstation.notify import Undelivered, delivery_of, undelivered
from groundstation.params import check_fields, takes
from groundstation.text import is_blank
from groundstation.tickets import update_rule
from groundstation.web import current_actor, db, roles_required
from groundstation.workcal import LIMITS, UNITS

__all__ = [
    "bp",
    "EVENT_NAMES",
    "CHANNEL_NAMES",
    "LogRow",
    "log_row",
    "reason_text",
    "not_notified_line",
    "not_notified_lines",
    "DeadlineInput",
    "deadline_inputs",
]

bp = Blueprint("admin", __name__, url_prefix="/admin")


#: The notifier log's events and channels in the reader's language (the log keeps the codes).
EVENT_NAMES = {
    "dispatched": _l("Dispatched"),
    "escalated": _l("Escalated"),
    "recalled": _l("Recalled"),
    "deadline_extended": _l("Deadline extended"),
}
CHANNEL_NAMES = {
    "log": _l("Server log"),
    "webhook": _l("Webhook"),
    "wecom": _l("WeCom"),
    "dingtalk": _l("DingTalk"),
}
#: Why a notice was not delivered, by :func:`groundstation.notify.failure_reason` code (``http``
#: and ``refused`` carry a value: see :func:`reason_text`).
REASONS = {
    "timeout": _l("No answer in time"),
    "unreachable": _l("Could not connect"),
    "answer": _l("Unexpected answer"),
    "config": _l("The channel is no longer configured"),
    "error": _l("Delivery failed"),
    # a retry not sent: the case was recalled, returned or dispatched again since
    "reassigned": _l("Not sent: the assignment it was about has ended"),
}


def reason_text(reason: dict[str, Any]) -> str:
    """A short failure reason in the reader's language."""
    code = reason.get("code")
    if code == "http":
        return _("The server answered HTTP %(status)s", status=reason.get("status", "?"))
    if code == "refused":
        return _(
            "The robot refused the message (error code %(errcode)s)",
            errcode=reason.get("errcode", "?"),
        )
    return str(REASONS.get(code or "error", REASONS["error"]))


@dataclass(frozen=True, slots=True)
class LogRow:
    """One notifier log row as the rules page shows it."""

    created_at: datetime
    channel: str
    event: str
    ticket_id: int | None
    ok: bool
    attempt: int
    attempts: int
    reason: str  # translated; "" when delivered
    error: str  # the raw error, for the details
    retrying: bool  # failed, and a later attempt is to come


def log_row(n: Notification) -> LogRow:
    """The display form of a notifier log row."""
    facts = delivery_of(n)
    return LogRow(
        created_at=n.created_at,
        channel=str(CHANNEL_NAMES.get(n.channel, n.channel)),
        event=str(EVENT_NAMES.get(n.event, n.event)),
        ticket_id=n.ticket_id,
        ok=n.ok,
        attempt=int(facts["attempt"]),
        attempts=int(facts["attempts"]),
        reason="" if n.ok else reason_text(facts.get("reason") or {}),
        error=n.error or "",
        retrying=not n.ok
        and not facts.get("cancelled")
        and int(facts["attempt"]) < int(facts["attempts"]),
    )


def not_notified_line(u: Undelivered) -> str:
    """One warning of the ticket page, naming the department when the notice says which."""
    values = {
        "event": EVENT_NAMES.get(u.event, u.event),
        "channel": CHANNEL_NAMES.get(u.channel, u.channel),
        "reason": reason_text(u.reason),
    }
    if u.department is None:  # a notice logged without its department
        return ngettext(
            "Department not notified: the “%(event)s” notice via %(channel)s failed "
            "%(num)d time (%(reason)s).",
            "Department not notified: the “%(event)s” notice via %(channel)s failed "
            "%(num)d times (%(reason)s).",
            u.attempts,
            **values,
        )
    return ngettext(
        "Department “%(department)s” not notified: the “%(event)s” notice via %(channel)s "
        "failed %(num)d time (%(reason)s).",
        "Department “%(department)s” not notified: the “%(event)s” notice via %(channel)s "
        "failed %(num)d times (%(reason)s).",
        u.attempts,
        department=u.department,
        **values,
    )


def not_notified_lines(session: Any, ticket_id: int) -> list[str]:
    """The ticket page's warnings: one per notice about the case's current assignment that no
    attempt delivered (older ones stay in the notifier log)."""
    return [not_notified_line(u) for u in undelivered(session, ticket_id)]


@dataclass(frozen=True, slots=True)
class DeadlineInput:
    """The deadline amount field's bounds for one unit, as the browser checks them."""

    low: str
    high: str
    step: str  # "any" for (working) hours; "1" for working days, which are whole


def deadline_inputs() -> dict[str, DeadlineInput]:
    """Each deadline unit's amount bounds (:data:`groundstation.workcal.LIMITS`), for the
    table's number fields: set for the row's unit, and switched with the unit by rules.js
    (which reads them from the page's ``deadline-bounds`` JSON)."""
    return {
        unit: DeadlineInput(
            low=f"{LIMITS[unit][0]:g}",
            high=f"{LIMITS[unit][1]:g}",
            step="1" if unit == "work_days" else "any",
        )
        for unit in UNITS
    }


@bp.get("/rules")
@roles_required("admin", "supervisor")
@takes()
def rules() -> Any:
    session = db()
    inputs = deadline_inputs()
    return render_template(
        "rules.html",
        deadline_inputs=inputs,
        deadline_bounds={unit: asdict(bounds) for unit, bounds in inputs.items()},
        rules=list(session.scalars(select(ClassRule).order_by(ClassRule.label))),
        departments=list(session.scalars(select(Department).order_by(Department.id))),
        notifications=[
            log_row(n)
            for n in session.scalars(
                select(Notification).order_by(Notification.id.desc()).limit(50)
            )
        ],
    )


#: What the dispatch table's form calls its fields in its messages (its column headings).
FORM_FIELDS = {
    "department_id": _l("Department"),
    "deadline_amount": _l("Deadline"),
    "deadline_unit": _l("Deadline"),
    "filing_standard": _l("Filing standard"),
    "closing_standard": _l("Closing standard"),
}
#: The form's fields that may not be sent blank (the deadline unit is a choice).
REQUIRED_FIELDS = ("department_id", "deadline_amount", "filing_standard", "closing_standard")


@bp.post("/rules/<label>")
@roles_required("admin")
@takes()
def edit_rule(label: str) -> Any:
    """Save one row of the table, checked as ``PUT /api/v1/rules/<label>`` checks it; a
    refused edit changes nothing and is shown in the reader's language."""
    session = db()
    try:
        check_fields(request.form, RULE_FIELDS)
        for key in REQUIRED_FIELDS:  # a field sent blank is a mistake, not "keep the old value"
            if key in request.form and is_blank(request.form[key]):
                raise ValidationError(_l("%(field)s: give a value", field=FORM_FIELDS[key]))
        changes = rule_changes(request.form, from_json=False, names=FORM_FIELDS)
        update_rule(session, label, current_actor(), **changes, display_names=True)
        session.commit()
    except (ValidationError, NotFoundError) as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(_("Saved."), "info")
    return redirect(url_for("admin.rules"))
