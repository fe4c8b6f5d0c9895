"""Admin pages: the event table (class → department, deadline, standards) and the notifier log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

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


@bp.post("/rules/<label>")
@roles_required("admin")
def edit_rule(label: str) -> Any:
    session = db()
    form = request.form
    try:
        amount = float(form["deadline_amount"]) if form.get("deadline_amount") else None
        dept = int(form["department_id"]) if form.get("department_id") else None
        update_rule(
            session,
            label,
            current_actor(),
            department_id=dept,
            deadline_amount=amount,
            deadline_unit=form.get("deadline_unit") or None,
            filing_standard=form.get("filing_standard"),
            closing_standard=form.get("closing_standard"),
        )
        session.commit()
    except (ValueError, ValidationError, NotFoundError) as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(_("Saved."), "info")
    return redirect(url_for("admin.rules"))
