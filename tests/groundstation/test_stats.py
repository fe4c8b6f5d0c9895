"""The dashboard statistics against figures computed by hand on a fixed set of seven tickets.

June 2025 (China time), seen on 20 June 12:00:
T1 construction A/urban: captured 1 h before it was opened, dispatched 2 Jun 12:00, resolved
   before its 9 Jun deadline, closed 6 Jun 12:00 (96 h after dispatch) — due, closed on time.
T2 burning A/ecology: captured 3 h before, due 10 Jun 14:00, escalated, resolved late, closed
   11 Jun 10:00 (24 h after dispatch) — due, closed, not on time.
T3 fishing B/fisheries: due 17 Jun, escalated, still in progress — due, overdue.
T4 construction B/urban: opened and due in May, closed 3 Jun (312 h after its 21 May dispatch).
T5 construction A: captured 2 h before, still new. T6 burning B: filed then rejected.
T7 construction A/urban: in progress, due in July.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from groundstation.stats import (
    EventRecord,
    FindingRecord,
    FlightRecord,
    TicketRecord,
    build_dashboard,
    csv_rows,
    figures_to_date,
    filed_at,
    is_due,
    period_for,
    state_at,
    ticket_figures,
)

CN = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=CN)


def ticket(tid, label, grid, dept, created, deadline, events, captured=None) -> TicketRecord:
    return TicketRecord(
        id=tid, label=label, grid=grid, department=dept, created_at=created, deadline=deadline,
        events=tuple(EventRecord(a, s, t) for a, s, t in [("open", "new", created), *events]),
        captured_at=captured, lat=32.4, lon=119.9,
    )  # fmt: skip


TICKETS = [
    ticket(1, "illegal_construction", "A", "urban", at(6, 2, 9), at(6, 9, 12), [
        ("confirm", "confirmed", at(6, 2, 10)), ("dispatch", "dispatched", at(6, 2, 12)),
        ("start", "in_progress", at(6, 3)), ("resolve", "resolved", at(6, 5, 12)),
        ("verify", "verified", at(6, 6)), ("close", "closed", at(6, 6, 12))], at(6, 2, 8)),
    ticket(2, "straw_burning", "A", "ecology", at(6, 10, 8), at(6, 10, 14), [
        ("confirm", "confirmed", at(6, 10, 9)), ("dispatch", "dispatched", at(6, 10, 10)),
        ("start", "in_progress", at(6, 10, 11)), ("escalate", "in_progress", at(6, 10, 15)),
        ("resolve", "resolved", at(6, 10, 16)), ("verify", "verified", at(6, 11, 8)),
        ("close", "closed", at(6, 11, 10))], at(6, 10, 5)),
    ticket(3, "illegal_fishing", "B", "fisheries", at(6, 15, 8), at(6, 17, 10), [
        ("confirm", "confirmed", at(6, 15, 9)), ("dispatch", "dispatched", at(6, 15, 10)),
        ("start", "in_progress", at(6, 15, 12)), ("escalate", "in_progress", at(6, 17, 11))]),
    ticket(4, "illegal_construction", "B", "urban", at(5, 20, 8), at(5, 28, 10), [
        ("confirm", "confirmed", at(5, 20, 9)), ("dispatch", "dispatched", at(5, 21, 10)),
        ("start", "in_progress", at(5, 22)), ("resolve", "resolved", at(5, 27)),
        ("verify", "verified", at(5, 28)), ("close", "closed", at(6, 3, 10))], at(5, 20, 7)),
    ticket(5, "illegal_construction", "A", None, at(6, 18, 8), None, [], at(6, 18, 6)),
    ticket(6, "straw_burning", "B", None, at(6, 19, 8), None, [
        ("confirm", "confirmed", at(6, 19, 9)), ("reject", "rejected", at(6, 19, 10))]),
    ticket(7, "illegal_construction", "A", "urban", at(6, 12, 8), at(7, 5, 10), [
        ("confirm", "confirmed", at(6, 12, 9)), ("dispatch", "dispatched", at(6, 12, 10)),
        ("start", "in_progress", at(6, 12, 11))]),
]  # fmt: skip
FLIGHTS = [
    FlightRecord("s1", at(6, 5), 10_000.0, ("A",)),
    FlightRecord("s2", at(5, 30), 50_000.0, ("A", "B")),
    FlightRecord("f3", at(6, 10), None, ("B",)),
]
FINDINGS = [
    FindingRecord(1, "illegal_construction", "A", at(6, 2)),
    FindingRecord(2, "illegal_construction", "B", at(6, 3)),
    FindingRecord(3, "straw_burning", "A", at(6, 10)),
    FindingRecord(4, "straw_burning", "A", at(5, 10)),
]
JUNE = period_for("month", today=date(2025, 6, 20), tz=CN)
NOW = at(6, 20, 12)


def test_periods() -> None:
    assert (JUNE.start, JUNE.end) == (at(6, 1), at(7, 1))
    week = period_for("week", today=date(2025, 6, 18), tz=CN)  # a Wednesday
    assert (week.start, week.end) == (at(6, 16), at(6, 23))
    day = period_for("day", today=date(2025, 6, 18), tz=CN)
    assert (day.start, day.end) == (at(6, 18), at(6, 19))
    feb = period_for("month", today=date(2024, 2, 29), tz=CN)
    assert feb.end - feb.start == timedelta(days=29)
    custom = period_for("custom", today=date(2025, 1, 1), tz=CN, start=date(2025, 6, 3),
                        end=date(2025, 6, 4))  # fmt: skip
    assert (custom.start, custom.end) == (at(6, 3), at(6, 5))
    assert custom.contains(at(6, 4, 23)) and not custom.contains(at(6, 5))
    with pytest.raises(ValueError, match="before it starts"):
        period_for("custom", today=date(2025, 1, 1), tz=CN, start=date(2025, 6, 4),
                   end=date(2025, 6, 3))  # fmt: skip
    with pytest.raises(ValueError, match="needs a start"):
        period_for("custom", today=date(2025, 1, 1), tz=CN)
    with pytest.raises(ValueError, match="year"):
        period_for("year", today=date(2025, 1, 1), tz=CN)


def test_state_replay() -> None:
    t3 = TICKETS[2]
    assert state_at(t3, at(6, 15, 7)) is None
    assert state_at(t3, at(6, 15, 9)) == "confirmed"
    assert state_at(t3, at(6, 16)) == "in_progress"


def test_hand_computed_totals() -> None:
    f = ticket_figures(TICKETS, JUNE, as_of=NOW)
    assert (f.received, f.filed, f.due, f.closed) == (6, 5, 3, 3)
    assert (f.closed_due, f.closed_on_time, f.overdue, f.escalated) == (2, 1, 1, 2)
    assert f.closure_rate == pytest.approx(2 / 3)
    assert f.on_time_rate == pytest.approx(1 / 3)
    assert f.median_capture_to_ticket_h == pytest.approx(2.0)  # 1, 3, 2 h
    assert f.median_dispatch_to_close_h == pytest.approx(96.0)  # 96, 24, 312 h


def test_as_of_the_period_end_for_a_past_period() -> None:
    may = period_for("month", today=date(2025, 5, 2), tz=CN)
    f = ticket_figures(TICKETS, may, as_of=min(may.end, NOW))
    assert (f.received, f.filed, f.due, f.closed) == (1, 1, 1, 0)  # T4 closed only in June
    assert state_at(TICKETS[3], may.end) == "verified"  # resolved in time, not yet closed
    assert f.overdue == 0 and f.closure_rate == 0.0 and f.on_time_rate == 0.0


def test_area_flown_is_unknown_not_zero_when_no_flight_knows_its_area() -> None:
    only_photos = [f for f in FLIGHTS if f.area_m2 is None]
    d = build_dashboard(tickets=[], flights=only_photos, findings=[], period=JUNE, now=NOW)
    assert d.flights == 1 and d.area_flown_m2 is None and d.flights_without_area == 1
    assert d.as_dict()["area_flown_m2"] is None
    assert ["area_flown_m2", ""] in csv_rows(d)


def test_dashboard_breakdowns_and_area_filter() -> None:
    d = build_dashboard(tickets=TICKETS, flights=FLIGHTS, findings=FINDINGS, period=JUNE, now=NOW)
    assert d.as_of == NOW
    assert d.flights == 2 and d.area_flown_m2 == 10_000.0
    assert d.flights_without_area == 1  # f3: photos without a session, area unknown
    assert d.findings_by_class == {"illegal_construction": 2, "straw_burning": 1}
    assert sorted(t.id for t in d.open_tickets) == [3, 5, 7]
    a, b = d.by_grid["A"], d.by_grid["B"]
    assert (a.received, a.filed, a.due, a.closed, a.overdue, a.escalated) == (4, 3, 2, 2, 0, 1)
    assert (a.closure_rate, a.on_time_rate) == (1.0, 0.5)
    assert (b.received, b.filed, b.due, b.closed, b.overdue, b.escalated) == (2, 2, 1, 1, 1, 1)
    assert b.closure_rate == 0.0
    urban = d.by_department["urban"]
    assert (urban.received, urban.due, urban.closed, urban.on_time_rate) == (2, 1, 2, 1.0)
    assert set(d.by_department) == {"urban", "ecology", "fisheries", "—"}
    assert d.by_class["illegal_construction"].received == 3
    assert d.by_class["straw_burning"].escalated == 1

    only_a = build_dashboard(tickets=TICKETS, flights=FLIGHTS, findings=FINDINGS, period=JUNE,
                             now=NOW, grid="A")  # fmt: skip
    assert only_a.tickets == a
    assert only_a.flights == 1 and only_a.findings_by_class == {
        "illegal_construction": 1,
        "straw_burning": 1,
    }
    assert sorted(t.id for t in only_a.open_tickets) == [5, 7]
    data = only_a.as_dict()
    assert data["tickets"]["closure_rate"] == 1.0 and data["grid"] == "A"
    assert {t["id"]: t["state"] for t in data["open_tickets"]} == {5: "new", 7: "in_progress"}


def test_csv_rows() -> None:
    d = build_dashboard(tickets=TICKETS, flights=FLIGHTS, findings=FINDINGS, period=JUNE, now=NOW)
    rows = csv_rows(d)
    header = rows.index(["group", "key", "received", "filed", "due", "closed", "closure_rate",
                         "on_time_rate", "overdue", "escalated", "median_capture_to_ticket_h",
                         "median_dispatch_to_close_h"])  # fmt: skip
    assert rows[header + 1] == ["all", "district", 6, 5, 3, 3, "0.6667", "0.3333", 1, 2,
                                "2.0000", "96.0000"]  # fmt: skip
    assert ["grid", "B", 2, 2, 1, 1, "0.0000", "0.0000", 1, 1, "", "312.0000"] in rows
    assert ["flights", 2] in rows and ["findings", "straw_burning", 1] in rows


def test_figures_to_date_use_the_dashboards_definitions() -> None:
    """``/api/v1/stats``' figures: every ticket due by now (T1-T4; T7 is due in July), closed
    (T1, T2, T4) and closed on time, i.e. resolved by the deadline (T1, T4; T2 late): the
    on-time closure rate is 按期结案数 / 应结案数, as on the dashboard."""
    f = figures_to_date(TICKETS, now=NOW)
    assert (f.due, f.closed_due, f.closed_on_time) == (4, 3, 2)
    assert (f.closure_rate, f.on_time_rate) == (0.75, 0.5)
    june = ticket_figures(TICKETS, JUNE, as_of=NOW)  # the same rule over a period
    assert june.on_time_rate == june.closed_on_time / june.due


# T8: a false alarm rejected from new (no confirm), reopened, then dispatched with a deadline six
# days ahead (25 Jun, later in June but after NOW). T9: filed, rejected, reopened, dispatched.
REOPENED = [
    ticket(8, "illegal_construction", "A", "urban", at(6, 18, 8), at(6, 25, 10), [
        ("reject", "rejected", at(6, 18, 8)), ("reopen", "reopened", at(6, 19, 9)),
        ("dispatch", "dispatched", at(6, 19, 10))]),
    ticket(9, "illegal_construction", "A", "urban", at(6, 18, 8), at(6, 25, 10), [
        ("confirm", "confirmed", at(6, 18, 9)), ("reject", "rejected", at(6, 18, 10)),
        ("reopen", "reopened", at(6, 19, 9)), ("dispatch", "dispatched", at(6, 19, 10))]),
]  # fmt: skip


def test_a_reopened_and_dispatched_case_is_filed_once() -> None:
    """立案: a case rejected from new and reopened is filed at the reopen; one confirmed, then
    rejected and reopened stays filed once, at its confirm."""
    t8, t9 = REOPENED
    assert filed_at(t8) == at(6, 19, 9) and filed_at(t9) == at(6, 18, 9)
    for tickets in ([t8], [t9], REOPENED):
        f = ticket_figures(tickets, JUNE, as_of=NOW)
        assert (f.received, f.filed) == (len(tickets), len(tickets))
        assert figures_to_date(tickets, now=NOW).filed == len(tickets)
    assert ticket_figures(TICKETS + REOPENED, JUNE, as_of=NOW).filed == 7  # 5 + T8 + T9
    before = period_for("day", today=date(2025, 6, 18), tz=CN)  # T8 only rejected that day
    assert ticket_figures([t8], before, as_of=at(6, 19)).filed == 0


def test_a_future_deadline_inside_the_period_is_not_due_yet() -> None:
    """应结案数: the deadline falls in the period and has passed; six days left is not due, so
    the rates stay unknown instead of 0 %, as in ``/api/v1/stats``."""
    t8 = REOPENED[0]
    f = ticket_figures([t8], JUNE, as_of=NOW)
    assert (f.due, f.closed_due, f.closed_on_time) == (0, 0, 0)
    assert (f.closure_rate, f.on_time_rate) == (None, None)
    assert not is_due(t8, JUNE, NOW) and is_due(t8, JUNE, at(6, 25, 10))  # at the deadline
    later = ticket_figures([t8], JUNE, as_of=at(6, 26))
    assert (later.due, later.on_time_rate, later.overdue) == (1, 0.0, 1)
    assert figures_to_date([t8], now=at(6, 25, 10)).due == 1  # the same rule, up to now
    # the full June data set: T7 (due in July) and T8/T9 (due 25 Jun) add nothing due on 20 Jun
    assert ticket_figures(TICKETS + REOPENED, JUNE, as_of=NOW).due == 3


def test_dashboard_and_figures_to_date_agree_on_the_same_data() -> None:
    """Seen on 20 June with every ticket's story inside June, June's figures (the dashboard) and
    those up to now (``/api/v1/stats``) are the same: filed T1-T3, T6-T9; due T1-T3."""
    june_only = [t for t in TICKETS + REOPENED if t.id != 4]  # T4 began in May
    d = build_dashboard(tickets=june_only, flights=[], findings=[], period=JUNE, now=NOW)
    f = figures_to_date(june_only, now=NOW)
    assert d.tickets == f
    assert (f.filed, f.due, f.closure_rate, f.on_time_rate) == (7, 3, pytest.approx(2 / 3), 1 / 3)
