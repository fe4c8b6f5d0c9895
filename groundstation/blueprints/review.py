"""The review queue page; the page drives the JSON API (findings, review) from ``review.js``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from groundstation.models import LABELS, Flight, Grid
from groundstation.web import db, roles_required

__all__ = ["bp"]

bp = Blueprint("review", __name__)


@bp.get("/review")
@roles_required("supervisor", "admin")
def index() -> Any:
    session = db()
    grids = list(session.scalars(select(Grid.code).order_by(Grid.code)))
    flights = list(
        session.execute(select(Flight.id, Flight.name).order_by(Flight.id.desc()).limit(100))
    )
    return render_template("review.html", labels=LABELS, grids=grids, flights=flights)
