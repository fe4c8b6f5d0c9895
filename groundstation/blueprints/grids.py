"""Grid pages: the list with a map, the import form and each grid's history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from groundstation.errors import ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.models import ROLES, Grid
from groundstation.params import check_fields, takes
from groundstation.services import import_grids
from groundstation.uploads import read_limited
from groundstation.web import current_actor, db, roles_required

__all__ = ["bp", "GEOMETRY_NAMES", "left_out_messages"]

bp = Blueprint("grids", __name__)

#: Display names of the geometry types a grid import leaves out (other types show as named).
GEOMETRY_NAMES = {
    "Point": _l("points (markers)"),
    "MultiPoint": _l("multi-points"),
    "GeometryCollection": _l("geometry collections"),
}


@bp.get("/grids")
@roles_required(*ROLES)
@takes()
def index() -> Any:
    grids = list(db().scalars(select(Grid).order_by(Grid.code)))
    return render_template("grids.html", grids=grids)


@bp.post("/grids/import")
@roles_required("supervisor", "admin")
@takes()
def import_file() -> Any:
    from groundstation.blueprints.api import read_grid_upload

    upload = request.files.get("file")
    session = db()
    left_out: Counter[str] = Counter()
    try:
        check_fields(request.form, (), files=("file",))
        if upload is None or not upload.filename:
            raise ValidationError(_("Choose a grid file first."))
        data = read_limited(upload, current_app.config["MAX_GRID_FILE_BYTES"], what=_l("grid file"))
        counts = import_grids(session, read_grid_upload(data, upload.filename, left_out=left_out))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("grids.index"))
    flash(
        _(
            "Imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.",
            **counts,
        ),
        "info",
    )
    for message in left_out_messages(left_out):
        flash(message, "warning")
    return redirect(url_for("grids.index"))


def left_out_messages(left_out: Mapping[str, int]) -> list[str]:
    """What the import left out of a layer, in the request's language: markers and points by
    geometry type, and no-fly zones (features of kind ``no_fly_zone``), each its own line."""
    from gis.io import NO_FLY_KIND

    messages = []
    shapes = sorted((kind, n) for kind, n in left_out.items() if kind != NO_FLY_KIND)
    if shapes:
        kinds = ", ".join(f"{GEOMETRY_NAMES.get(kind, kind)} × {count}" for kind, count in shapes)
        messages.append(
            _(
                "Left out, not grids: %(kinds)s. Markers and points are not imported; only "
                "areas (Polygon, MultiPolygon) become grids.",
                kinds=kinds,
            )
        )
    zones = left_out.get(NO_FLY_KIND, 0)
    if zones:
        messages.append(
            ngettext(
                "Left out, not grids: %(num)d no-fly zone (a feature of kind no_fly_zone). "
                "To keep the vehicle out of it, import the file as a no-fly layer on the plan "
                "page.",
                "Left out, not grids: %(num)d no-fly zones (features of kind no_fly_zone). "
                "To keep the vehicle out of them, import the file as a no-fly layer on the plan "
                "page.",
                zones,
            )
        )
    return messages


@bp.get("/grids/<code>")
@roles_required(*ROLES)
@takes()
def detail(code: str) -> Any:
    from groundstation.blueprints.api import REVIEWERS, grid_by_code, visible_grid_history

    session = db()
    grid = grid_by_code(session, code)  # any case, as the filters take it
    actor = current_actor()
    history = visible_grid_history(session, grid, actor)
    return render_template(
        "grid.html", grid=grid, history=history, can_review=actor.role in REVIEWERS
    )
