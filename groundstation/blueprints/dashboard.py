"""The managers' dashboard: indicators for a period and an area, charts, open tickets, CSV.

Query parameters (page, ``/api/v1/dashboard`` and ``/dashboard.csv`` alike): ``period`` (day |
week | month | custom), ``date`` (a day inside the period; default today, China time), ``start``
and ``end`` (custom days, inclusive), ``grid`` (a grid code; default the whole district).
Figures are computed by :mod:`groundstation.stats`; charts are server-rendered SVG.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from sqlalchemy import select

from groundstation.blueprints.api import bp as api_bp
from groundstation.errors import NotFoundError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.models import Grid, utcnow
from groundstation.stats import (
    PERIODS,
    Dashboard,
    build_dashboard,
    csv_rows,
    load_records,
    period_for,
)
from groundstation.web import db, roles_required

__all__ = ["bp", "VIEWERS", "dashboard_from_args", "bar_chart"]

bp = Blueprint("dashboard", __name__)

VIEWERS = ("supervisor", "admin")


def _day(value: str | None, *, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            _l("%(field)s %(value)s is not a date (YYYY-MM-DD)", field=field, value=repr(value))
        ) from None


def dashboard_from_args(args: Any, *, now: datetime | None = None) -> Dashboard:
    """Read the query parameters, load the records and compute the figures."""
    now = now or utcnow()
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    kind = args.get("period") or "month"
    if kind not in PERIODS:
        raise ValidationError(
            _l(
                "period %(value)s is not one of %(known)s",
                value=repr(kind),
                known=", ".join(PERIODS),
            )
        )
    today = _day(args.get("date"), field="date") or now.astimezone(tz).date()
    try:
        period = period_for(
            kind,
            today=today,
            tz=tz,
            start=_day(args.get("start"), field="start"),
            end=_day(args.get("end"), field="end"),
        )
    except ValueError as exc:
        raise ValidationError(_l("invalid period: %(detail)s", detail=exc)) from None
    grid = args.get("grid") or None
    session = db()
    if grid is not None and session.scalar(select(Grid.id).where(Grid.code == grid)) is None:
        raise NotFoundError(_l("grid %(code)s does not exist", code=repr(grid)))
    tickets, flights, findings = load_records(session, since=period.start)
    return build_dashboard(
        tickets=tickets, flights=flights, findings=findings, period=period, now=now, grid=grid
    )


def bar_chart(
    items: list[tuple[str, float]], *, width: int = 360, bar_h: int = 18, percent: bool = False
) -> str:
    """A horizontal bar chart as inline SVG (labels left, values right); no script needed."""
    from markupsafe import escape

    if not items:
        return ""
    top = max((v for _, v in items), default=0) or 1.0
    if percent:
        top = 1.0
    label_w, value_w = 130, 60
    bars_w = width - label_w - value_w
    rows = []
    for k, (label, value) in enumerate(items):
        y = k * (bar_h + 6)
        w = max(0.0, bars_w * value / top)
        shown = f"{value * 100:.1f}%" if percent else f"{value:g}"
        rows.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" class="bar"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}">{shown}</text>'
        )
    height = len(items) * (bar_h + 6)
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{"".join(rows)}</svg>'
    )


@bp.get("/dashboard")
@roles_required(*VIEWERS)
def page() -> Any:
    from groundstation.i18n import LABEL_NAMES

    error = None
    try:
        dash = dashboard_from_args(request.args)
    except (ValidationError, NotFoundError) as exc:
        error = str(exc)
        dash = dashboard_from_args({})
    grids = list(db().scalars(select(Grid.code).order_by(Grid.code)))
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    charts = {
        "findings": bar_chart(
            [(str(LABEL_NAMES.get(k, k)), float(v)) for k, v in dash.findings_by_class.items()]
        ),
        "department": bar_chart([(k, float(v.received)) for k, v in dash.by_department.items()]),
        "closure": bar_chart(
            [(k, v.closure_rate) for k, v in dash.by_grid.items() if v.closure_rate is not None],
            percent=True,
        ),
    }
    return render_template(
        "dashboard.html",
        dash=dash,
        data=dash.as_dict(),
        charts=charts,
        grids=grids,
        periods=PERIODS,
        args=request.args,
        error=error,
        first_day=dash.period.start.astimezone(tz).date(),
        last_day=(dash.period.end.astimezone(tz) - timedelta(days=1)).date(),
    )


@bp.get("/dashboard.csv")
@roles_required(*VIEWERS)
def export_csv() -> Any:
    dash = dashboard_from_args(request.args)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(dash))
    name = f"gridpatrol-dashboard-{dash.period.kind}-{dash.period.start:%Y%m%d}.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),  # BOM: Excel opens UTF-8 Chinese names correctly
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api_bp.get("/dashboard")
@roles_required(*VIEWERS)
def dashboard_figures() -> Any:
    return jsonify(dashboard_from_args(request.args).as_dict())
