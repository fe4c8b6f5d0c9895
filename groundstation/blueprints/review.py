"""The review queue page; the page drives the JSON API (findings, review) from ``review.js``.

The page reads its filters from the URL (``/review?flight=3&status=all&finding=12``), so the
links of the ticket and flights pages open the queue they mean; ``review.js`` keeps the URL in
step with the applied filters and the selected finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, request, url_for
from sqlalchemy import func, select

from groundstation.blueprints.api import _get, finding_query, ticket_grids, unknown_grids
from groundstation.errors import NotFoundError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.models import LABELS, Finding, Flight, Grid
from groundstation.params import unknown_parameter_error, unknown_parameters
from groundstation.web import db, roles_required

__all__ = ["bp", "FILTERS", "FILTER_DEFAULTS", "ReviewRequest", "read_request"]

bp = Blueprint("review", __name__)

#: The fields of the page's filters form: the API's finding filters of the same names.
FILTERS: tuple[str, ...] = (
    "label",
    "min_score",
    "max_score",
    "grid",
    "flight",
    "status",
    "primary",
)
#: The page's query parameters: its filters and the finding to select.
PARAMS: tuple[str, ...] = (*FILTERS, "finding")
#: A filter's value when the URL leaves it out (the others default to empty: no filter).
FILTER_DEFAULTS: dict[str, str] = {"status": "pending", "primary": "1"}
#: How many flights the flight filter lists (newest first; a flight named in the URL is added).
FLIGHT_CHOICES = 100
#: Each filter as the page names it (the form's labels), for the problems of its URL value.
FILTER_NAMES: dict[str, Any] = {
    "label": _l("Class"),
    "min_score": _l("Lowest score"),
    "max_score": _l("Highest score"),
    "grid": _l("Grid"),
    "flight": _l("Flight"),
    "status": _l("Status"),
    "primary": _l("One finding per object"),
}
#: What each filter's URL parameter takes, for the problems of a value it cannot use.
FILTER_VALUES: dict[str, Any] = {
    "label": _l("one of %(labels)s", labels=", ".join(LABELS)),
    "min_score": _l("a number from 0 to 1"),
    "max_score": _l("a number from 0 to 1"),
    "grid": _l("a grid code"),
    "flight": _l("a flight number"),
    "status": _l("pending, confirmed, rejected or all"),
    "primary": _l("1 (one finding per object) or 0"),
}


def _unusable(name: str, value: str) -> str:
    """Why the URL's ``name=value`` is left out, naming the filter and the parameter."""
    return str(
        _l(
            "%(filter)s: the address gives %(param)s=%(value)s, but the queue takes "
            "%(expected)s; this filter is left out",
            filter=FILTER_NAMES[name],
            param=name,
            value=value,
            expected=FILTER_VALUES[name],
        )
    )


@dataclass(frozen=True)
class ReviewRequest:
    """What a review page URL asks for.

    ``filters`` holds every form field's value (invalid ones reset to their default),
    ``problems`` why a URL value was dropped or can match nothing, and ``finding`` the queue row
    a ``finding=`` asks to select: the finding itself, or the primary finding of a sighting."""

    filters: dict[str, str]
    problems: tuple[str, ...] = ()
    finding: Finding | None = None


def read_request(session: Any, args: Any) -> ReviewRequest:
    """The filters and selected finding of the URL query ``args``, checked as the API checks
    them (each invalid value is reported and left out) plus that the named grid, flight and
    finding exist; a parameter the page does not take is reported too."""
    filters = {name: (args.get(name) or FILTER_DEFAULTS.get(name, "")).strip() for name in FILTERS}
    problems: list[str] = []
    unknown = unknown_parameters(args, PARAMS)
    if unknown:
        problems.append(str(unknown_parameter_error(unknown, PARAMS)))
    for name in FILTERS:  # one field at a time, so each bad value is named and only it dropped
        try:
            finding_query({"status": "all", name: filters[name]})
        except ValidationError:
            problems.append(_unusable(name, filters[name]))
            filters[name] = FILTER_DEFAULTS.get(name, "")
    missing = unknown_grids(session, ticket_grids({"grid": filters["grid"]}))
    if missing:  # as the API looks grids up (ignoring case), naming the first it cannot find
        problems.append(str(_l("grid %(code)s does not exist", code=missing[0])))
        filters["grid"] = ""
    elif filters["grid"]:  # the form's choice, as stored ("q-g1" is Q-G1)
        wanted = ticket_grids({"grid": filters["grid"]})
        lowered = {code.lower() for code in wanted}
        stored = session.scalars(select(Grid.code).where(func.lower(Grid.code).in_(lowered)))
        codes = {code.lower(): code for code in stored}
        filters["grid"] = ",".join(codes.get(code.lower(), code) for code in wanted)
    if filters["flight"]:
        filters["flight"] = str(int(filters["flight"]))  # valid: finding_query took it
    if filters["flight"] and session.get(Flight, int(filters["flight"])) is None:
        problems.append(
            str(_l("%(what)s %(id)s does not exist", what=_l("flight"), id=filters["flight"]))
        )
        filters["flight"] = ""
    finding = None
    ident = (args.get("finding") or "").strip()
    if ident:
        try:
            finding = _get(session, Finding, ident, "finding")
        except NotFoundError as exc:
            problems.append(str(exc))
        else:
            if finding.sighting_of is not None:  # the queue lists an object's primary finding
                finding = session.get(Finding, finding.sighting_of) or finding
    return ReviewRequest(filters, tuple(problems), finding)


@bp.get("/review")
@roles_required("supervisor", "admin")
def index() -> Any:
    session = db()
    wanted = read_request(session, request.args)
    grids = list(session.scalars(select(Grid.code).order_by(Grid.code)))
    flights = list(
        session.execute(
            select(Flight.id, Flight.name).order_by(Flight.id.desc()).limit(FLIGHT_CHOICES)
        )
    )
    flight = wanted.filters["flight"]
    if flight and all(f.id != int(flight) for f in flights):
        flights += list(
            session.execute(select(Flight.id, Flight.name).where(Flight.id == int(flight)))
        )
    finding = wanted.finding
    return render_template(
        "review.html",
        labels=LABELS,
        grids=grids,
        flights=flights,
        filters=wanted.filters,
        problems=wanted.problems,
        finding=finding,
        finding_url=url_for(
            "review.index", flight=finding.flight_id, status="all", finding=finding.id
        )
        if finding is not None
        else None,
    ), (400 if wanted.problems else 200)
