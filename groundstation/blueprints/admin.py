"""Admin pages: the event table (class → department, deadline, standards) and the notifier log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from groundstation.blueprints.api import rule_changes
from groundstation.errors import NotFoundError, ValidationError
from groundstation.models import ClassRule, Department, Notification
from groundstation.tickets import update_rule
from groundstation.web import current_actor, db, roles_required

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/rules")
@roles_required("admin", "supervisor")
def rules() -> Any:
    session = db()
    return render_template(
        "rules.html",
        rules=list(session.scalars(select(ClassRule).order_by(ClassRule.label))),
        departments=list(session.scalars(select(Department).order_by(Department.id))),
        notifications=list(
            session.scalars(select(Notification).order_by(Notification.id.desc()).limit(50))
        ),
    )


#: What the dispatch table's form calls its fields in its messages (its column headings).
FORM_FIELDS = {
    "department_id": _l("Department"),
    "deadline_amount": _l("Deadline"),
    "deadline_unit": _l("Deadline"),
    "filing_standard": _l("Filing standard"),
    "closing_standard": _l("Closing standard"),
}


@bp.post("/rules/<label>")
@roles_required("admin")
def edit_rule(label: str) -> Any:
    """Save one row of the table, checked as ``PUT /api/v1/rules/<label>`` checks it; a
    refused edit changes nothing and is shown in the reader's language."""
    session = db()
    try:
        for key in ("department_id", "deadline_amount"):  # a field sent blank is a mistake,
            if key in request.form and not request.form[key].strip():  # not "keep the old value"
                raise ValidationError(_l("%(field)s: give a value", field=FORM_FIELDS[key]))
        changes = rule_changes(request.form, from_json=False, names=FORM_FIELDS)
        update_rule(session, label, current_actor(), **changes)
        session.commit()
    except (ValidationError, NotFoundError) as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(_("Saved."), "info")
    return redirect(url_for("admin.rules"))
