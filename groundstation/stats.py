"""Dashboard statistics: the indicators Chinese digital-city-management systems publish.

The core is pure: plain records in (:class:`TicketRecord`, :class:`FlightRecord`,
:class:`FindingRecord`), figures out, so every number can be checked by hand. :func:`load_records`
is the one database edge. Definitions, for a period [start, end) and the moment
``as_of = min(end, now)``:

- received (受理数): tickets created in the period;
- filed (立案数): tickets accepted as real cases in the period, counted once, at
  :func:`filed_at`: the first ``confirm`` or, for a case never confirmed (a false alarm rejected
  from ``new`` and reopened), its first ``reopen``/``dispatch`` — whichever of these comes first;
  a case filed and later rejected or reopened still counts once;
- due (应结案数): tickets whose deadline falls in the period *and* has already passed,
  ``deadline <= as_of`` (:func:`is_due`): a deadline later in the period, still in the future,
  is not due yet;
- closed (结案数): tickets with a ``close`` event in the period, each counted once, whatever
  came after: a case closed and reopened since still counts (what is closed *now* is the
  state count, ``by_state`` in ``/api/v1/stats``);
- closure rate (结案率): due tickets closed by ``as_of`` / due;
- on-time closure rate (按期结案率): due tickets closed by ``as_of`` whose last ``resolve``
  (处置完毕, which stops the department's clock) came at or before the deadline / due, i.e.
  按期结案数 / 应结案数 as digital city management offices publish it: a case due but still
  open counts against the rate, and so does one closed late;
- overdue: tickets dispatched or in progress at ``as_of`` with a deadline before it;
- escalated (督办): tickets with an ``escalate`` event in the period;
- capture → ticket: photo capture time to ticket creation, for tickets received in the period;
- dispatch → close: first ``dispatch`` to the ``close``, for tickets closed in the period;
- open: tickets created by ``as_of`` and not closed or rejected at ``as_of`` (the map).

By department, a closure or an escalation counts for the department that held the case at
that moment (:func:`held_by`: a dispatch hands a case to a department, a return or a recall
takes it back), not for the one responsible now: a case closed by A, reopened and dispatched to
B counts one closure for A and none for B, and an escalation at A stays A's after a return.
The other figures count for the department responsible now (the deadline is that of its
dispatch); cases with none are under "—".

By class, a ticket counts under its class as reviewed (``Ticket.final_label``, as the ticket list
shows and filters it): a false alarm rejected in review under ``background``, listed after the
violations, not among them.

Flights count landed flight sessions and photo flights without a session; area flown is the
area the landed sessions covered, and for one grid the part of it in that grid (a session's
area shared among its grids by their planned areas: :func:`split_area`).

These are the only definitions: the dashboard (:func:`build_dashboard`) and
:func:`figures_to_date` (every ticket up to and including now) both compute them with
:func:`ticket_figures`, filed with :func:`filed_at` and due with :func:`is_due`.
``/api/v1/stats`` has the database count its figures (:func:`count_to_date`, the same
definitions in SQL, checked against :func:`figures_to_date` on every backend), so it reads no
ticket.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from gis.messages import msg

__all__ = [
    "PERIODS",
    "FIRST_DAY",
    "LAST_DAY",
    "Period",
    "EventRecord",
    "TicketRecord",
    "FlightRecord",
    "FindingRecord",
    "TicketFigures",
    "Dashboard",
    "period_for",
    "state_at",
    "held_by",
    "filed_at",
    "is_due",
    "ticket_figures",
    "figures_to_date",
    "DueFigures",
    "count_to_date",
    "build_dashboard",
    "CSV_WORDS",
    "csv_rows",
    "load_records",
    "load_tickets",
    "split_area",
]

PERIODS: tuple[str, ...] = ("day", "week", "month", "custom")
#: The first and last day a period may cover: the midnights that bound it, in any time zone,
#: lie in the range a stored moment may take (:data:`groundstation.models.MIN_DATETIME` …
#: ``MAX_DATETIME``, a day inside the years 1 to 9999 in UTC).
FIRST_DAY = date(1, 1, 3)
LAST_DAY = date(9999, 12, 29)
ACTIVE = frozenset({"dispatched", "in_progress"})
TERMINAL = frozenset({"closed", "rejected"})
NONE_KEY = "—"
#: The actions that make a case real (立案): confirming it, or reopening (a rejected false alarm
#: is real after all) or dispatching one that was never confirmed.
FILING_ACTIONS = frozenset({"confirm", "reopen", "dispatch"})
#: The actions that take a case back from the department that held it (after the event).
RELEASING_ACTIONS = frozenset({"return", "recall"})
#: The actions whose archive entry names the department concerned (``data.department_id``):
#: the one dispatched to, the one escalated, the one that returned it or it was recalled from.
DEPARTMENT_ACTIONS = frozenset({"dispatch", "escalate", "return", "recall", "extend"})


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open interval [start, end) of timezone-aware datetimes, and how it was chosen."""

    kind: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def period_for(
    kind: str,
    *,
    today: date,
    tz: tzinfo,
    start: date | None = None,
    end: date | None = None,
) -> Period:
    """The period containing ``today`` (day, ISO week from Monday, calendar month) in ``tz``, or
    the custom days ``start`` … ``end`` inclusive; its days must lie within :data:`FIRST_DAY` …
    :data:`LAST_DAY` (ValueError otherwise, as for any other bad period)."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=tz)

    try:
        first, last = _days(kind, today=today, start=start, end=end)
    except OverflowError:  # a week or month reaching past the year 1 or 9999
        first, last = date.min, date.max
    if first < FIRST_DAY or last > LAST_DAY:
        raise ValueError(
            msg(
                "the period's days must lie between %(first)s and %(last)s",
                first=FIRST_DAY.isoformat(),
                last=LAST_DAY.isoformat(),
            )
        )
    return Period(kind, midnight(first), midnight(last + timedelta(days=1)))


def _days(kind: str, *, today: date, start: date | None, end: date | None) -> tuple[date, date]:
    """The first and last day of the period :func:`period_for` describes."""
    if kind == "day":
        first, last = today, today
    elif kind == "week":
        first = today - timedelta(days=today.weekday())
        last = first + timedelta(days=6)
    elif kind == "month":
        first = today.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    elif kind == "custom":
        if start is None or end is None:
            raise ValueError(msg("a custom period needs a start and an end date"))
        if end < start:
            raise ValueError(
                msg("the period ends (%(end)s) before it starts (%(start)s)", end=end, start=start)
            )
        if (end - start).days > 3660:
            raise ValueError(msg("a custom period may span at most ten years"))
        first, last = start, end
    else:
        raise ValueError(
            msg("period %(kind)r is not one of %(known)s", kind=kind, known=", ".join(PERIODS))
        )
    return first, last


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One case-archive entry: the action, the state it led to, when and, where the archive
    names it, the department concerned (dispatched to, escalated, returning it, recalled from)."""

    action: str
    to_state: str
    at: datetime
    department: str | None = None


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """What the dashboard needs of a ticket; ``events`` in time order."""

    id: int
    label: str  # the class as reviewed (Ticket.final_label): a rejected false alarm's background
    grid: str | None
    department: str | None  # responsible now
    created_at: datetime
    deadline: datetime | None
    events: tuple[EventRecord, ...]
    captured_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None

    def first(self, action: str) -> datetime | None:
        return next((e.at for e in self.events if e.action == action), None)

    def last_before(self, action: str, moment: datetime) -> datetime | None:
        times = [e.at for e in self.events if e.action == action and e.at <= moment]
        return times[-1] if times else None

    def any_in(self, action: str, period: Period) -> bool:
        return any(e.action == action and period.contains(e.at) for e in self.events)


@dataclass(frozen=True, slots=True)
class FlightRecord:
    """A flight: when, the area it covered (m², None if unknown), the grids it served and, of
    its area, the part in each grid (``grid_areas``: (code, m²) pairs; a grid not listed: its
    part is unknown)."""

    id: str
    at: datetime
    area_m2: float | None
    grids: tuple[str, ...] = ()
    grid_areas: tuple[tuple[str, float], ...] = ()

    def area_in(self, grid: str) -> float | None:
        """The area (m²) the flight covered in ``grid``: its whole area when that is its only
        grid, else the grid's part when known; None when unknown."""
        if self.area_m2 is not None and self.grids == (grid,):
            return self.area_m2
        return dict(self.grid_areas).get(grid)


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """A finding: its label (the reviewer's when reviewed), grid and when it was stored."""

    id: int
    label: str
    grid: str | None
    at: datetime
    review_status: str = "pending"


@dataclass(frozen=True, slots=True)
class TicketFigures:
    """The ticket indicators of one group (everything, one grid, department or class)."""

    received: int
    filed: int
    due: int
    closed: int
    closed_due: int
    closed_on_time: int
    overdue: int
    escalated: int
    closure_rate: float | None
    on_time_rate: float | None
    median_capture_to_ticket_h: float | None
    median_dispatch_to_close_h: float | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the dashboard page, its JSON and its CSV show."""

    period: Period
    as_of: datetime
    grid: str | None
    flights: int
    area_flown_m2: float | None  # None: no flight of the period has a known area
    flights_without_area: int  # flights whose area is unknown (photo sets without a session)
    findings_by_class: dict[str, int]
    tickets: TicketFigures
    by_grid: dict[str, TicketFigures]
    by_department: dict[str, TicketFigures]
    by_class: dict[str, TicketFigures]
    open_tickets: tuple[TicketRecord, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "period": {
                "kind": self.period.kind,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
            },
            "as_of": self.as_of.isoformat(),
            "grid": self.grid,
            "flights": self.flights,
            "area_flown_m2": None if self.area_flown_m2 is None else round(self.area_flown_m2, 1),
            "flights_without_area": self.flights_without_area,
            "findings_by_class": self.findings_by_class,
            "tickets": self.tickets.as_dict(),
            "by_grid": {k: v.as_dict() for k, v in self.by_grid.items()},
            "by_department": {k: v.as_dict() for k, v in self.by_department.items()},
            "by_class": {k: v.as_dict() for k, v in self.by_class.items()},
            "open_tickets": [
                {
                    "id": t.id,
                    "label": t.label,
                    "grid": t.grid,
                    "department": t.department,
                    "state": state_at(t, self.as_of),
                    "deadline": t.deadline.isoformat() if t.deadline else None,
                    "overdue": _overdue(t, self.as_of),
                    "lat": t.lat,
                    "lon": t.lon,
                }
                for t in self.open_tickets
            ],
        }


def state_at(ticket: TicketRecord, moment: datetime) -> str | None:
    """The ticket's state at ``moment`` (None before it was opened), replayed from its events."""
    current = None
    for event in ticket.events:
        if event.at > moment:
            break
        current = event.to_state
    return current


def held_by(ticket: TicketRecord) -> tuple[str | None, ...]:
    """The department that held the case at each of its events, in order (None: none did).

    A dispatch hands the case to the department it names (the ticket's present one where the
    archive names none); a return or a recall takes it back after the event; an event naming
    its department (an escalation) happened at that department."""
    holder: str | None = None
    out: list[str | None] = []
    for event in ticket.events:
        if event.action == "dispatch":
            holder = event.department or ticket.department
        elif event.department is not None:
            holder = event.department
        out.append(holder)
        if event.action in RELEASING_ACTIONS:
            holder = None
    return tuple(out)


def filed_at(ticket: TicketRecord) -> datetime | None:
    """When the ticket was filed (立案), None if never: its first ``confirm``, ``reopen`` or
    ``dispatch``. Confirm leaves only ``new``, so a confirmed case is filed at its confirm; a case
    rejected from ``new`` and reopened is filed at the reopen (a dispatch needs a confirm or a
    reopen first, so it files a case only in an archive missing both)."""
    return next((e.at for e in ticket.events if e.action in FILING_ACTIONS), None)


def is_due(ticket: TicketRecord, period: Period, as_of: datetime) -> bool:
    """Whether the ticket is due (应结案) in ``period`` as seen at ``as_of``: its deadline falls
    in the period and has already passed (``deadline <= as_of``)."""
    return (
        ticket.deadline is not None
        and period.contains(ticket.deadline)
        and ticket.deadline <= as_of
    )


def _overdue(ticket: TicketRecord, moment: datetime) -> bool:
    return (
        ticket.deadline is not None
        and ticket.deadline < moment
        and state_at(ticket, moment) in ACTIVE
    )


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600.0


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _events_in(
    ticket: TicketRecord, action: str, period: Period, department: str | None
) -> list[EventRecord]:
    """The ticket's ``action`` events in ``period``; with ``department`` (a breakdown key), only
    those that happened while that department held the case (:func:`held_by`)."""
    if department is None or not ticket.any_in(action, period):
        return [e for e in ticket.events if e.action == action and period.contains(e.at)]
    return [
        e
        for e, holder in zip(ticket.events, held_by(ticket), strict=True)
        if e.action == action and period.contains(e.at) and (holder or NONE_KEY) == department
    ]


def ticket_figures(
    tickets: Iterable[TicketRecord],
    period: Period,
    *,
    as_of: datetime,
    department: str | None = None,
) -> TicketFigures:
    """The indicators of one group of tickets (definitions in the module docstring); with
    ``department`` (a name, or :data:`NONE_KEY`), that department's: the closures and
    escalations that happened while it held the case, the other figures of the cases it is
    responsible for now."""
    received = filed = due = closed = closed_due = on_time = overdue = escalated = 0
    capture: list[float] = []
    dispatch_close: list[float] = []
    for t in tickets:
        closes = _events_in(t, "close", period, department)
        if closes:
            closed += 1
            dispatched = t.first("dispatch")
            if dispatched is not None and dispatched <= closes[0].at:
                dispatch_close.append(_hours(closes[0].at - dispatched))
        if _events_in(t, "escalate", period, department):
            escalated += 1
        if department is not None and (t.department or NONE_KEY) != department:
            continue
        if period.contains(t.created_at):
            received += 1
            if t.captured_at is not None and t.captured_at <= t.created_at:
                capture.append(_hours(t.created_at - t.captured_at))
        if period.contains(filed_at(t)):
            filed += 1
        if is_due(t, period, as_of):
            due += 1
            if state_at(t, as_of) == "closed":
                closed_due += 1
                resolved = t.last_before("resolve", as_of)
                if resolved is not None and t.deadline is not None and resolved <= t.deadline:
                    on_time += 1
        if _overdue(t, as_of):
            overdue += 1
    return TicketFigures(
        received=received,
        filed=filed,
        due=due,
        closed=closed,
        closed_due=closed_due,
        closed_on_time=on_time,
        overdue=overdue,
        escalated=escalated,
        closure_rate=closed_due / due if due else None,
        on_time_rate=on_time / due if due else None,
        median_capture_to_ticket_h=_median(capture),
        median_dispatch_to_close_h=_median(dispatch_close),
    )


def figures_to_date(tickets: Iterable[TicketRecord], *, now: datetime) -> TicketFigures:
    """The indicators of ``tickets`` over all time up to and including ``now``
    (``/api/v1/stats``), by the dashboard's definitions (:func:`ticket_figures`): filed by
    :func:`filed_at`, due by :func:`is_due` (a deadline at or before ``now``)."""
    period = Period("all", datetime.min.replace(tzinfo=UTC), now + timedelta.resolution)
    return ticket_figures(tickets, period, as_of=now)


def _relevant(t: TicketRecord, period: Period, as_of: datetime) -> bool:
    """Whether a ticket counts for any figure of the period (keeps breakdown tables short)."""
    return (
        period.contains(t.created_at)
        or period.contains(t.deadline)
        or any(period.contains(e.at) for e in t.events)
        or _overdue(t, as_of)
    )


def _grouped(
    tickets: Sequence[TicketRecord],
    key: Callable[[TicketRecord], str | None],
    period: Period,
    as_of: datetime,
) -> dict[str, TicketFigures]:
    groups: dict[str, list[TicketRecord]] = {}
    for t in tickets:
        if _relevant(t, period, as_of):
            groups.setdefault(key(t) or NONE_KEY, []).append(t)
    return {k: ticket_figures(v, period, as_of=as_of) for k, v in sorted(groups.items())}


def _false_alarms_last(by_class: Mapping[str, Any]) -> dict[str, Any]:
    """The classes in order, false alarms (``background``: rejected in review) after the
    violations, visible but apart from them."""
    return dict(sorted(by_class.items(), key=lambda item: (item[0] == "background", item[0])))


def _by_department(
    tickets: Sequence[TicketRecord], period: Period, as_of: datetime
) -> dict[str, TicketFigures]:
    """The department breakdown: every department responsible now for a case that counts in
    the period, or that closed or escalated one in it while holding it."""
    relevant = [t for t in tickets if _relevant(t, period, as_of)]
    keys = {t.department or NONE_KEY for t in relevant}
    for t in relevant:
        keys.update(
            holder or NONE_KEY
            for e, holder in zip(t.events, held_by(t), strict=True)
            if e.action in ("close", "escalate") and period.contains(e.at)
        )
    return {k: ticket_figures(relevant, period, as_of=as_of, department=k) for k in sorted(keys)}


def build_dashboard(
    *,
    tickets: Sequence[TicketRecord],
    flights: Sequence[FlightRecord],
    findings: Sequence[FindingRecord],
    period: Period,
    now: datetime,
    grid: str | None = None,
) -> Dashboard:
    """All figures for ``period`` and an area: the district (``grid`` None) or one grid."""
    as_of = min(period.end, now)
    if grid is not None:
        tickets = [t for t in tickets if t.grid == grid]
        flights = [f for f in flights if grid in f.grids]
        findings = [f for f in findings if f.grid == grid]
    flown = [f for f in flights if period.contains(f.at)]
    by_class: dict[str, int] = {}
    for f in findings:
        if period.contains(f.at):
            by_class[f.label] = by_class.get(f.label, 0) + 1
    # in one grid, each flight counts only its part of that grid, not the whole sortie's area
    flown_areas = [f.area_m2 if grid is None else f.area_in(grid) for f in flown]
    areas = [a for a in flown_areas if a is not None]
    open_tickets = tuple(
        t for t in tickets if t.created_at <= as_of and state_at(t, as_of) not in TERMINAL | {None}
    )
    return Dashboard(
        period=period,
        as_of=as_of,
        grid=grid,
        flights=len(flown),
        area_flown_m2=sum(areas) if areas else None,
        flights_without_area=len(flown) - len(areas),
        findings_by_class=_false_alarms_last(by_class),
        tickets=ticket_figures(tickets, period, as_of=as_of),
        by_grid=_grouped(tickets, lambda t: t.grid, period, as_of),
        by_department=_by_department(tickets, period, as_of),
        by_class=_false_alarms_last(_grouped(tickets, lambda t: t.label, period, as_of)),
        open_tickets=open_tickets,
    )


CSV_COLUMNS: tuple[str, ...] = (
    "group",
    "key",
    "received",
    "filed",
    "due",
    "closed",
    "closure_rate",
    "on_time_rate",
    "overdue",
    "escalated",
    "median_capture_to_ticket_h",
    "median_dispatch_to_close_h",
)


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return value


#: The fixed words of the CSV besides its columns: row names, period kinds, groups, the district.
CSV_WORDS: tuple[str, ...] = (
    "period",
    "area",
    "flights",
    "area_flown_m2",
    "findings",
    *PERIODS,
    "all",
    "grid",
    "department",
    "class",
    "district",
)


def csv_rows(
    dashboard: Dashboard,
    *,
    names: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[list[Any]]:
    """The dashboard as a table: period facts, header, then one row per group.

    Without ``names`` and ``labels`` the table holds the stable codes (:data:`CSV_COLUMNS`,
    :data:`CSV_WORDS`, class labels); ``names`` gives a reader's words for those codes and
    ``labels`` for the class labels (grid codes and department names stay as they are)."""
    d = dashboard

    def word(code: str) -> str:
        return names.get(code, code) if names else code

    def label(code: str) -> str:
        return labels.get(code, code) if labels else code

    area = d.grid or word("district")
    rows: list[list[Any]] = [
        [word("period"), word(d.period.kind), d.period.start.isoformat(), d.period.end.isoformat()],
        [word("area"), area],
        [word("flights"), d.flights],
        [word("area_flown_m2"), "" if d.area_flown_m2 is None else f"{d.area_flown_m2:.1f}"],
        *([word("findings"), label(code), n] for code, n in d.findings_by_class.items()),
        [],
        [word(c) for c in CSV_COLUMNS],
    ]

    def row(group: str, key: str, f: TicketFigures) -> list[Any]:
        return [word(group), key, *(_fmt(getattr(f, c)) for c in CSV_COLUMNS[2:])]

    rows.append(row("all", area, d.tickets))
    rows.extend(row("grid", key, f) for key, f in d.by_grid.items())
    rows.extend(row("department", key, f) for key, f in d.by_department.items())
    rows.extend(row("class", label(key), f) for key, f in d.by_class.items())
    return rows


def load_tickets(
    session: Any,
    *,
    since: datetime | None = None,
    grids: dict[int, str] | None = None,
) -> list[TicketRecord]:
    """Read tickets with their events, grid, department and capture time, only the columns
    the figures need (three queries); an event's department is the one its archive data names
    (:data:`DEPARTMENT_ACTIONS`). ``since`` skips tickets closed or rejected before it whose
    deadline is before it too; ``grids`` maps grid ids to codes (read when not given)."""
    from sqlalchemy import case, func, select

    from groundstation.models import Department, Finding, Grid, Photo, Ticket, TicketEvent

    if grids is None:
        grids = dict(session.execute(select(Grid.id, Grid.code)).all())
    wanted = select(Ticket.id)
    if since is not None:  # a case finished before the period matters only through its deadline
        wanted = wanted.where(
            Ticket.state.not_in(tuple(TERMINAL))
            | (Ticket.updated_at >= since)
            | (Ticket.deadline >= since)
        )
    rows = session.execute(
        select(
            Ticket.id,
            func.coalesce(Finding.reviewed_label, Ticket.label),  # Ticket.final_label, joined
            Ticket.grid_id,
            Department.name,
            Ticket.created_at,
            Ticket.deadline,
            Photo.taken_at,
            Ticket.lat,
            Ticket.lon,
        )
        .outerjoin(Department, Ticket.department_id == Department.id)
        .outerjoin(Finding, Ticket.finding_id == Finding.id)
        .outerjoin(Photo, Finding.photo_id == Photo.id)
        .where(Ticket.id.in_(wanted))
        .order_by(Ticket.id)
    ).all()
    departments = dict(session.execute(select(Department.id, Department.name)).all())
    named = case(
        (
            TicketEvent.action.in_(tuple(DEPARTMENT_ACTIONS)),
            TicketEvent.data["department_id"].as_integer(),
        ),
        else_=None,
    )
    events: dict[int, list[EventRecord]] = {}
    for ticket_id, action, to_state, at, department_id in session.execute(
        select(
            TicketEvent.ticket_id, TicketEvent.action, TicketEvent.to_state, TicketEvent.at, named
        )
        .where(TicketEvent.ticket_id.in_(wanted))
        .order_by(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)
    ):
        department = departments.get(department_id) if department_id is not None else None
        events.setdefault(ticket_id, []).append(EventRecord(action, to_state, at, department))
    return [
        TicketRecord(
            id=ticket_id,
            label=label,
            grid=grids.get(grid_id),
            department=department,
            created_at=created_at,
            deadline=deadline,
            events=tuple(events.get(ticket_id, ())),
            captured_at=taken_at,
            lat=lat,
            lon=lon,
        )
        for ticket_id, label, grid_id, department, created_at, deadline, taken_at, lat, lon in rows
    ]


@dataclass(frozen=True, slots=True)
class DueFigures:
    """The closure figures of every ticket up to now (``/api/v1/stats``), as
    :func:`figures_to_date` gives them: filed, closed (a ``close`` event by now, reopened since
    or not), due, closed among the due and closed on time."""

    filed: int
    closed: int
    due: int
    closed_due: int
    closed_on_time: int

    @property
    def closure_rate(self) -> float | None:
        return self.closed_due / self.due if self.due else None

    @property
    def on_time_rate(self) -> float | None:
        return self.closed_on_time / self.due if self.due else None


def count_to_date(session: Any, *, now: datetime) -> DueFigures:
    """:func:`figures_to_date`'s filed, closed, due, closed-due and on-time counts over every
    stored ticket, counted by the database (two aggregate queries, no ticket read): filed when a
    ``confirm``/``reopen``/``dispatch`` came at or before ``now``; closed when a ``close`` did;
    due when the deadline is at or before ``now``; closed-due when the last event by then (ties
    by id) led to ``closed``; on time when, besides, the last ``resolve`` by then came at or
    before the deadline."""
    from sqlalchemy import and_, case, func, select

    from groundstation.models import Ticket, TicketEvent

    event = TicketEvent
    filed, closed_ever = session.execute(
        select(
            func.count(
                func.distinct(case((event.action.in_(tuple(FILING_ACTIONS)), event.ticket_id)))
            ),
            func.count(func.distinct(case((event.action == "close", event.ticket_id)))),
        ).where(event.action.in_((*FILING_ACTIONS, "close")), event.at <= now)
    ).one()
    order = func.row_number().over(
        partition_by=event.ticket_id, order_by=(event.at.desc(), event.id.desc())
    )
    last = (
        select(event.ticket_id, event.to_state, order.label("newest"))
        .where(event.at <= now)
        .subquery()
    )
    resolved = (
        select(event.ticket_id, func.max(event.at).label("at"))
        .where(event.action == "resolve", event.at <= now)
        .group_by(event.ticket_id)
        .subquery()
    )
    closed = last.c.to_state == "closed"
    due, closed_due, on_time = session.execute(
        select(
            func.count(Ticket.id),
            func.count(case((closed, 1))),
            func.count(case((and_(closed, resolved.c.at <= Ticket.deadline), 1))),
        )
        .select_from(Ticket)
        .outerjoin(last, and_(last.c.ticket_id == Ticket.id, last.c.newest == 1))
        .outerjoin(resolved, resolved.c.ticket_id == Ticket.id)
        .where(Ticket.deadline.is_not(None), Ticket.deadline <= now)
    ).one()
    return DueFigures(
        int(filed or 0), int(closed_ever or 0), int(due), int(closed_due), int(on_time)
    )


def load_records(
    session: Any, *, since: datetime | None = None
) -> tuple[list[TicketRecord], list[FlightRecord], list[FindingRecord]]:
    """Read tickets (:func:`load_tickets`), flights and findings.

    ``since`` skips what cannot matter to periods starting then: tickets closed or rejected
    before it, flights and findings stored before it.
    """
    from sqlalchemy import select

    from groundstation.ingest import photo_grids
    from groundstation.models import Finding, Flight, FlightSession, Grid

    grids = dict(session.execute(select(Grid.id, Grid.code)).all())
    tickets = load_tickets(session, since=since, grids=grids)
    sessions = list(
        session.scalars(select(FlightSession).where(FlightSession.landed_at.is_not(None)))
    )
    with_session = {s.flight_id for s in sessions if s.flight_id is not None}
    sessions = [s for s in sessions if since is None or s.landed_at >= since]
    planned = _planned_grid_areas(session, sessions)
    flights = [
        FlightRecord(
            f"s{s.id}",
            s.landed_at,
            s.area_m2,
            tuple(s.grid_codes or ()),
            split_area(s.area_m2, tuple(s.grid_codes or ()), planned.get(s.id, {})),
        )
        for s in sessions
    ]
    flight_query = select(Flight.id, Flight.created_at)
    if since is not None:
        flight_query = flight_query.where(Flight.created_at >= since)
    photo_flights = [
        (flight_id, created)
        for flight_id, created in session.execute(flight_query.order_by(Flight.id))
        if flight_id not in with_session
    ]
    # a photo flight serves the grids its photos were taken over, found anything or not,
    # and those of its findings (one placed just across a grid's edge)
    served = photo_grids(session, [flight_id for flight_id, _ in photo_flights])
    found_in = select(Finding.flight_id, Finding.grid_id).where(Finding.grid_id.is_not(None))
    if since is not None:
        found_in = found_in.where(Finding.flight_id.in_(flight_query.with_only_columns(Flight.id)))
    for flight_id, grid_id in session.execute(found_in.distinct()):
        if flight_id in served and grid_id in grids:
            served[flight_id].add(grids[grid_id])
    flights.extend(
        FlightRecord(f"f{flight_id}", created, None, tuple(sorted(served[flight_id])))
        for flight_id, created in photo_flights
    )
    finding_query = select(Finding.id, Finding.label, Finding.reviewed_label, Finding.grid_id,
                           Finding.created_at, Finding.review_status)  # fmt: skip
    finding_query = finding_query.where(Finding.sighting_of.is_(None))  # objects, not views
    if since is not None:
        finding_query = finding_query.where(Finding.created_at >= since)
    findings = [
        FindingRecord(fid, reviewed or label, grids.get(grid_id), at, status)
        for fid, label, reviewed, grid_id, at, status in session.execute(finding_query)
    ]
    return tickets, flights, findings


def split_area(
    area_m2: float | None, grids: Sequence[str], planned: Mapping[str, float]
) -> tuple[tuple[str, float], ...]:
    """A flight's covered area shared among its ``grids`` in proportion to each grid's
    ``planned`` area for that flight (m²), as (code, m²) pairs: a sortie planned over grids of
    6,886 and 43,780 m² that covered 50,666 m² covered 6,886 m² of the first. Empty when the
    area or a grid's planned area is unknown (the parts are then unknown, not guessed).

    >>> split_area(300.0, ["A", "B"], {"A": 100.0, "B": 200.0})
    (('A', 100.0), ('B', 200.0))
    >>> split_area(300.0, ["A", "B"], {"A": 100.0})
    ()
    """
    if area_m2 is None or not grids or any(code not in planned for code in grids):
        return ()
    total = sum(planned[code] for code in grids)
    if total <= 0:
        return ()
    return tuple((code, area_m2 * planned[code] / total) for code in grids)


def _planned_grid_areas(session: Any, sessions: Sequence[Any]) -> dict[int, dict[str, float]]:
    """For each flight session, its grids' planned areas (m²) for its sortie: from its plan's
    summary (a grid's flyable area, shared equally among the sorties that fly it) when that
    names all its grids, else the grids' own polygon areas; a grid with neither (or a line)
    is left out, which leaves the session's parts unknown (:func:`split_area`)."""
    from shapely.geometry import shape
    from sqlalchemy import select

    from gis.crs import LocalFrame
    from gis.errors import GisError
    from groundstation.models import Grid, RoutePlan

    plan_ids = {s.plan_id for s in sessions if s.plan_id is not None}
    summaries: dict[int, Any] = {}
    if plan_ids:
        query = select(RoutePlan.id, RoutePlan.summary).where(RoutePlan.id.in_(plan_ids))
        summaries = dict(session.execute(query).all())
    codes = {code for s in sessions for code in s.grid_codes or ()}
    polygon_areas: dict[str, float] = {}
    if codes:
        for code, geometry in session.execute(
            select(Grid.code, Grid.geometry).where(Grid.code.in_(codes))
        ):
            try:
                polygon = shape(geometry)
                area = float(LocalFrame.around(polygon).to_local(polygon).area)
            except (ValueError, TypeError, AttributeError, KeyError, GisError):
                continue
            if area > 0:
                polygon_areas[code] = area
    out: dict[int, dict[str, float]] = {}
    for s in sessions:
        grids = list(s.grid_codes or ())
        from_plan: dict[str, float] = {}
        summary = summaries.get(s.plan_id) if s.plan_id is not None else None
        for g in (summary or {}).get("grids") or ():
            try:
                share = len(g.get("sorties") or ()) or 1
                from_plan[str(g["grid_id"])] = float(g["area_m2"]) / share
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
        known = from_plan if all(code in from_plan for code in grids) else polygon_areas
        out[s.id] = {code: known[code] for code in grids if code in known}
    return out
