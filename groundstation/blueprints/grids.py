"""Grid pages: the list with a map, the import form and each grid's history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from groundstation.errors import NotFoundError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.models import ROLES, Grid
from groundstation.services import import_grids
from groundstation.uploads import read_limited
from groundstation.web import current_actor, db, roles_required

__all__ = ["bp"]

bp = Blueprint("grids", __name__)


@bp.get("/grids")
@roles_required(*ROLES)
def index() -> Any:
    grids = list(db().scalars(select(Grid).order_by(Grid.code)))
    return render_template("grids.html", grids=grids)


@bp.post("/grids/import")
@roles_required("supervisor", "admin")
def import_file() -> Any:
    from groundstation.blueprints.api import read_grid_upload

    upload = request.files.get("file")
    session = db()
    try:
        if upload is None or not upload.filename:
            raise ValidationError(_("Choose a grid file first."))
        data = read_limited(upload, current_app.config["MAX_GRID_FILE_BYTES"], what=_l("grid file"))
        counts = import_grids(session, read_grid_upload(data, upload.filename))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("grids.index"))
    flash(_("Imported: %(created)d new, %(updated)d updated.", **counts), "info")
    return redirect(url_for("grids.index"))


@bp.get("/grids/<code>")
@roles_required(*ROLES)
def detail(code: str) -> Any:
    from groundstation.blueprints.api import REVIEWERS, visible_grid_history

    session = db()
    grid = session.scalar(select(Grid).where(Grid.code == code))
    if grid is None:
        raise NotFoundError(_l("grid %(code)s does not exist", code=repr(code)))
    actor = current_actor()
    history = visible_grid_history(session, grid, actor)
    return render_template(
        "grid.html", grid=grid, history=history, can_review=actor.role in REVIEWERS
    )
