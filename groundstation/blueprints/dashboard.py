"""The managers' dashboard: indicators for a period and an area, charts, open tickets, CSV.

Query parameters (page, ``/api/v1/dashboard`` and ``/dashboard.csv`` alike): ``period`` (day |
week | month | custom), ``date`` (a day inside the period; default today, China time), ``start``
and ``end`` (custom days, inclusive), ``grid`` (a grid code; default the whole district).
Figures are computed by :mod:`groundstation.stats`; charts are server-rendered SVG.
``/api/v1/stats`` gives the same rates over every ticket up to now, to the same readers.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from sqlalchemy import case, func, select

from groundstation.blueprints.api import bp as api_bp
from groundstation.errors import NotFoundError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.models import Finding, Grid, Ticket, utcnow
from groundstation.params import ParameterError, check_parameters, shown_value, takes
from groundstation.stats import (
    PERIODS,
    Dashboard,
    build_dashboard,
    count_to_date,
    csv_rows,
    load_records,
    period_for,
)
from groundstation.tickets import TERMINAL_STATES
from groundstation.web import db, roles_required

__all__ = ["bp", "VIEWERS", "DASHBOARD_PARAMS", "dashboard_from_args", "bar_chart"]

bp = Blueprint("dashboard", __name__)

VIEWERS = ("supervisor", "admin")
#: The query parameters of the dashboard's figures (page, CSV and API alike).
DASHBOARD_PARAMS: tuple[str, ...] = ("period", "date", "start", "end", "grid")


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
    """Read the query parameters (:data:`DASHBOARD_PARAMS`; any other is refused), load the
    records and compute the figures."""
    check_parameters(args, DASHBOARD_PARAMS)
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
    _check_period_days(kind, args)
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
    session = db()
    grid = _grid_code(session, args.get("grid") or "")
    tickets, flights, findings = load_records(session, since=period.start)
    return build_dashboard(
        tickets=tickets, flights=flights, findings=findings, period=period, now=now, grid=grid
    )


def _check_period_days(kind: str, args: Any) -> None:
    """Refuse days the period would ignore: ``start``/``end`` outside ``period=custom`` (a day,
    week or month is found from ``date``), ``date`` with it (its days are ``start`` … ``end``),
    so that a reader never gets figures for other days than those asked for."""
    if kind == "custom":
        ignored = ["date"] if args.get("date") else []
        takes_ = "start, end"
    else:
        ignored = [key for key in ("start", "end") if args.get(key)]
        takes_ = "date"
    if ignored:
        raise ParameterError(
            _l(
                "%(names)s cannot go with period=%(period)s, which takes %(takes)s; leave "
                "%(names)s out, or choose another period",
                names=", ".join(ignored),
                period=kind,
                takes=takes_,
            )
        )


def _grid_code(session: Any, typed: str) -> str | None:
    """The stored id of the grid ``typed`` names, found ignoring case as the ticket list finds
    grids (ids are unique ignoring case); None for no grid (the whole district); NotFoundError
    naming it when no grid has that id."""
    typed = typed.strip()
    if not typed:
        return None
    code = session.scalar(  # older data may hold ids differing in case only: the exact one first
        select(Grid.code)
        .where(func.lower(Grid.code) == typed.lower())
        .order_by(case((Grid.code == typed, 0), else_=1), Grid.code)
        .limit(1)
    )
    if code is None:
        raise NotFoundError(_l("grid %(code)s does not exist", code=repr(typed)))
    return code


#: The charts' text size (``svg.chart text`` in pilot.css), in pixels.
CHART_FONT_PX = 12
#: The widest label column a chart gives its labels; longer labels are shortened with "…"
#: and shown whole in their tooltip.
MAX_LABEL_PX = 240


def text_width(text: str, *, font_px: float = CHART_FONT_PX) -> float:
    """About how wide ``text`` is drawn, in pixels: a wide (CJK, fullwidth) character takes
    one em, any other character at most 0.65 em (a generous average for sans-serif text)."""
    return sum(font_px if unicodedata.east_asian_width(c) in "WF" else 0.65 * font_px for c in text)


def fit_label(text: str, width: float, *, font_px: float = CHART_FONT_PX) -> str:
    """``text`` if it fits in ``width`` pixels, else its longest start that fits with "…"."""
    if text_width(text, font_px=font_px) <= width:
        return text
    room = width - text_width("…", font_px=font_px)
    cut = ""
    for c in text:
        if text_width(cut + c, font_px=font_px) > room:
            break
        cut += c
    return cut.rstrip() + "…"


def bar_chart(
    items: list[tuple[str, float]], *, bars_w: int = 170, bar_h: int = 18, percent: bool = False
) -> str:
    """A horizontal bar chart as inline SVG (labels left, values right); no script needed.

    The label column is as wide as the longest label (at most :data:`MAX_LABEL_PX`; a longer
    label is shortened with "…", the whole label in its ``<title>`` tooltip), so no label is
    cut off; ``bars_w`` is the width of a full bar."""
    from markupsafe import escape

    if not items:
        return ""
    top = max((v for _, v in items), default=0) or 1.0
    if percent:
        top = 1.0
    gap, value_w = 6, 60
    label_w = gap + math.ceil(min(MAX_LABEL_PX, max(text_width(label) for label, _ in items)))
    width = label_w + bars_w + value_w
    rows = []
    for k, (label, value) in enumerate(items):
        y = k * (bar_h + 6)
        w = max(0.0, bars_w * value / top)
        shown = f"{value * 100:.1f}%" if percent else f"{value:g}"
        text = fit_label(label, label_w - gap)
        title = f"<title>{escape(label)}</title>" if text != label else ""
        rows.append(
            f'<text x="{label_w - gap}" y="{y + bar_h - 5}" text-anchor="end">'
            f"{title}{escape(text)}</text>"
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
    except (ValidationError, NotFoundError) as exc:  # named above the default figures: 400
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
        args=_taken(request.args),
        error=error,
        first_day=dash.period.start.astimezone(tz).date(),
        last_day=(dash.period.end.astimezone(tz) - timedelta(days=1)).date(),
    ), (200 if error is None else 400)


def _taken(args: Any) -> dict[str, str]:
    """The query's dashboard parameters, for the form and the CSV link (never one the
    dashboard refused)."""
    return {key: args[key] for key in DASHBOARD_PARAMS if key in args}


#: The dashboard CSV's words in the reader's language (``codes=1``: the codes themselves).
CSV_NAMES = {
    "group": _l("Group"),
    "key": _l("Name"),
    "received": _l("Received"),
    "filed": _l("Filed"),
    "due": _l("Due"),
    "closed": _l("Closed"),
    "closure_rate": _l("Closure rate"),
    "on_time_rate": _l("On-time closure rate"),
    "overdue": _l("Overdue"),
    "escalated": _l("Escalated"),
    "median_capture_to_ticket_h": _l("Median capture → ticket (h)"),
    "median_dispatch_to_close_h": _l("Median dispatch → close (h)"),
    "period": _l("Period"),
    "area": _l("Area"),
    "flights": _l("Flights"),
    "area_flown_m2": _l("Area flown (m²)"),
    "findings": _l("Findings"),
    "day": _l("Day"),
    "week": _l("Week"),
    "month": _l("Month"),
    "custom": _l("Custom"),
    "all": _l("All"),
    "grid": _l("Grid"),
    "department": _l("Department"),
    "class": _l("Class"),
    "district": _l("Whole district"),
}


def codes_wanted(args: Any) -> bool:
    """``codes=1`` (or true/yes): a CSV export in stable codes, not the reader's language;
    ``codes=0`` (false/no, or none given): in the reader's language. Any other value is a
    :class:`~groundstation.params.ParameterError` naming ``codes``, never read as 0."""
    value = (args.get("codes") or "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("", "0", "false", "no"):
        return False
    raise ParameterError(
        _l(
            "codes %(value)s is not 1 or 0 (1: the stable codes, 0: the reader's language)",
            value=shown_value(args.get("codes")),
        )
    )


@bp.get("/dashboard.csv")
@roles_required(*VIEWERS)
@takes(*DASHBOARD_PARAMS, "codes")
def export_csv() -> Any:
    """The dashboard as CSV (UTF-8 with BOM, for Excel) in the reader's language: headings,
    row names and class names; ``codes=1`` gives the stable codes of :func:`csv_rows` instead."""
    from groundstation.i18n import LABEL_NAMES

    dash = dashboard_from_args(_taken(request.args))
    buffer = io.StringIO()
    if codes_wanted(request.args):
        rows = csv_rows(dash)
    else:
        names = {code: str(text) for code, text in CSV_NAMES.items()}
        rows = csv_rows(dash, names=names, labels={k: str(v) for k, v in LABEL_NAMES.items()})
    csv.writer(buffer).writerows(rows)
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


@api_bp.get("/stats")
@roles_required(*VIEWERS)
@takes()
def stats() -> Any:
    """Published indicators over every ticket up to now: cases by state (``by_state``: where
    they are now) and class as reviewed (``by_label``: a false alarm rejected in review under
    ``background``, as the ticket list shows it), and filed (立案数), closed (结案数),
    due (应结案数), the closure rate (结案率) and on-time closure rate (按期结案率) as the
    dashboard defines them (:mod:`groundstation.stats`: filed once when first confirmed or,
    never confirmed, reopened; closed once when closed, whether reopened since or not; due when
    the deadline has passed; closed, and closed with the department's work done by the
    deadline, among the cases due so far). For the dashboard's readers only, as its figures."""
    session = db()
    now = utcnow()
    by_state = {
        s: int(n)
        for s, n in session.execute(select(Ticket.state, func.count()).group_by(Ticket.state)).all()
    }
    # the class as reviewed (Ticket.final_label), joined rather than a subquery to group by
    final_label = func.coalesce(Finding.reviewed_label, Ticket.label)
    by_label = {
        lb: int(n)
        for lb, n in session.execute(
            select(final_label, func.count())
            .select_from(Ticket)
            .outerjoin(Finding, Ticket.finding_id == Finding.id)
            .group_by(final_label)
        ).all()
    }
    total = sum(by_state.values())
    figures = count_to_date(session, now=now)  # every ticket, counted by the database
    return jsonify(
        {
            "as_of": now.isoformat(),
            "total": total,
            "by_state": by_state,
            "by_label": by_label,
            "filed": figures.filed,
            "closed": figures.closed,  # 结案数, as on the dashboard; closed now: by_state
            "due": figures.due,
            "closed_due": figures.closed_due,
            "closed_on_time": figures.closed_on_time,
            "closure_rate": figures.closure_rate,
            "on_time_closure_rate": figures.on_time_rate,
            "terminal_states": sorted(TERMINAL_STATES),
        }
    )
