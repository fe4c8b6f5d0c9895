"""The dashboard's department breakdown gives closures and escalations to the department that
held the case at that moment; "closed" means the same on the dashboard and in /api/v1/stats;
periods outside the days a database stores are a 400, not a 500."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import G1, add_grids, login

from groundstation.stats import (
    NONE_KEY,
    EventRecord,
    TicketRecord,
    build_dashboard,
    held_by,
    period_for,
    ticket_figures,
)

CN = ZoneInfo("Asia/Shanghai")
URBAN, ECOLOGY = "城市管理综合行政执法局", "生态环境局"
MARCH = "period=custom&start=2025-03-01&end=2025-03-31&grid=AT-A"


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=CN)


def record(tid: int, department: str | None, events) -> TicketRecord:
    return TicketRecord(
        id=tid, label="illegal_construction", grid="A", department=department,
        created_at=at(3, 9), deadline=None,
        events=tuple(EventRecord(*e) for e in [("open", "new", at(3, 9)), *events]),
    )  # fmt: skip


#: Closed by urban, reopened and dispatched to ecology, which is working on it now.
REDISPATCHED = record(1, "ecology", [
    ("confirm", "confirmed", at(3, 9)), ("dispatch", "dispatched", at(3, 10), "urban"),
    ("start", "in_progress", at(3, 11)), ("resolve", "resolved", at(4, 9)),
    ("verify", "verified", at(4, 10)), ("close", "closed", at(5, 12)),
    ("reopen", "reopened", at(6, 9)), ("dispatch", "dispatched", at(6, 10), "ecology"),
])  # fmt: skip
#: Escalated while urban had it, then returned by urban: no department holds it now.
RETURNED = record(2, None, [
    ("confirm", "confirmed", at(10, 9)), ("dispatch", "dispatched", at(10, 10), "urban"),
    ("escalate", "dispatched", at(10, 15), "urban"), ("return", "confirmed", at(10, 16), "urban"),
])  # fmt: skip
MARCH_PERIOD = period_for("month", today=date(2025, 3, 20), tz=CN)


def test_held_by_replays_dispatches_returns_and_recalls() -> None:
    assert held_by(REDISPATCHED) == (
        (None, None, "urban", "urban", "urban", "urban", "urban", "urban", "ecology")
    )
    # the return happened at urban; after it nobody holds the case
    assert held_by(RETURNED) == (None, None, "urban", "urban", "urban")
    recalled = record(3, "ecology", [
        ("dispatch", "dispatched", at(3, 10), "urban"), ("recall", "confirmed", at(3, 12)),
        ("escalate", "confirmed", at(3, 13)),
    ])  # fmt: skip
    assert held_by(recalled)[-2:] == ("urban", None)
    # an archive whose dispatch names no department: the department responsible now
    legacy = record(4, "fisheries", [("dispatch", "dispatched", at(3, 10))])
    assert held_by(legacy)[-1] == "fisheries"


def test_closures_and_escalations_count_for_the_department_that_held_the_case() -> None:
    d = build_dashboard(tickets=[REDISPATCHED, RETURNED], flights=[], findings=[],
                        period=MARCH_PERIOD, now=at(20, 12))  # fmt: skip
    assert set(d.by_department) == {"urban", "ecology", NONE_KEY}
    urban, ecology, nobody = (d.by_department[k] for k in ("urban", "ecology", NONE_KEY))
    assert (urban.closed, urban.escalated, urban.received) == (1, 1, 0)
    assert (ecology.closed, ecology.escalated, ecology.received, ecology.filed) == (0, 0, 1, 1)
    assert (nobody.closed, nobody.escalated, nobody.received) == (0, 0, 1)
    assert urban.median_dispatch_to_close_h == pytest.approx(50.0)  # 3 Mar 10:00 → 5 Mar 12:00
    # the district's totals are not split: each case once
    assert (d.tickets.closed, d.tickets.escalated, d.tickets.received) == (1, 1, 2)
    assert ticket_figures([REDISPATCHED, RETURNED], MARCH_PERIOD, as_of=at(20)) == d.tickets


def test_a_case_closed_by_two_departments_counts_once_for_each() -> None:
    twice = record(5, "ecology", [
        ("dispatch", "dispatched", at(3, 10), "urban"), ("close", "closed", at(4, 10)),
        ("reopen", "reopened", at(5, 9)), ("dispatch", "dispatched", at(5, 10), "ecology"),
        ("close", "closed", at(7, 10)),
    ])  # fmt: skip
    d = build_dashboard(tickets=[twice], flights=[], findings=[], period=MARCH_PERIOD,
                        now=at(20))  # fmt: skip
    assert d.tickets.closed == 1
    assert (d.by_department["urban"].closed, d.by_department["ecology"].closed) == (1, 1)


# -- through the app: stored transitions, the dashboard's JSON and page, /api/v1/stats --------


@pytest.fixture(scope="module")
def stored(env) -> dict[str, int]:
    """The two stories above, moved through the state machine at fixed times in March 2025."""
    from sqlalchemy import select

    from groundstation.models import Department, Grid, Ticket
    from groundstation.tickets import Actor, escalate_overdue, open_ticket, transition

    add_grids(env, ("AT-A", G1))
    sup = Actor("supervisor", "supervisor")
    with env.storage().session() as session:
        dept = dict(session.execute(select(Department.code, Department.id)).all())
        urban = Actor("department", "department", department_id=dept["urban_management"])
        ecology = Actor("eco", "department", department_id=dept["ecology_environment"])
        grid_id = session.scalar(select(Grid.id).where(Grid.code == "AT-A"))
        k1 = open_ticket(session, label="illegal_construction", actor=sup, lat=32.405,
                         lon=119.905, grid_id=grid_id, now=at(3, 9))  # fmt: skip
        transition(session, k1, "confirm", sup, now=at(3, 9))
        transition(session, k1, "dispatch", sup, department_id=dept["urban_management"],
                   now=at(3, 10))  # fmt: skip
        transition(session, k1, "start", urban, now=at(3, 11))
        transition(session, k1, "resolve", urban, evidence=[{"note": "拆除"}], now=at(4, 9))
        transition(session, k1, "verify", sup, now=at(4, 10))
        transition(session, k1, "close", sup, now=at(5, 12))
        transition(session, k1, "reopen", sup, reason="又搭起来了", now=at(6, 9))
        transition(session, k1, "dispatch", sup, department_id=dept["ecology_environment"],
                   now=at(6, 10))  # fmt: skip
        transition(session, k1, "start", ecology, now=at(6, 11))
        k2 = open_ticket(session, label="illegal_construction", actor=sup, lat=32.401,
                         lon=119.901, grid_id=grid_id, now=at(10, 9))  # fmt: skip
        transition(session, k2, "confirm", sup, now=at(10, 9))
        transition(session, k2, "dispatch", sup, department_id=dept["urban_management"],
                   deadline=at(10, 14), now=at(10, 10))  # fmt: skip
        session.commit()
        ids = {"redispatched": k1.id, "returned": k2.id}
    with env.storage().session() as session:
        escalate_overdue(session, now=at(10, 15))
    with env.storage().session() as session:
        k2 = session.get(Ticket, ids["returned"])
        assert k2.escalation_level == 1
        transition(session, k2, "return", urban, reason="不归我局管", now=at(10, 16))
        session.commit()
    return ids


def test_the_dashboard_gives_each_department_its_own_closures_and_escalations(env, stored):
    data = env.client().get(f"/api/v1/dashboard?{MARCH}", headers=env.headers("supervisor")).json
    by = data["by_department"]
    assert set(by) == {URBAN, ECOLOGY, NONE_KEY}
    assert (by[URBAN]["closed"], by[URBAN]["escalated"]) == (1, 1)
    assert (by[ECOLOGY]["closed"], by[ECOLOGY]["escalated"], by[ECOLOGY]["received"]) == (0, 0, 1)
    assert (by[NONE_KEY]["closed"], by[NONE_KEY]["escalated"], by[NONE_KEY]["received"]) == (
        0,
        0,
        1,
    )
    assert (data["tickets"]["closed"], data["tickets"]["escalated"]) == (1, 1)


def test_the_page_shows_the_department_rows_and_says_how_they_count(env, stored):
    client = env.client()
    login(client, "supervisor")
    html = client.get(f"/dashboard?{MARCH}", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    table = html[html.index('id="by-department"') :]
    table = table[: table.index("</table>")]
    urban_row = table[table.index(f'data-key="{URBAN}"') :].split("</tr>")[0]
    ecology_row = table[table.index(f'data-key="{ECOLOGY}"') :].split("</tr>")[0]
    cells = [c.split("<")[0] for c in urban_row.split('class="num">')[1:]]
    assert cells[3] == "1" and cells[7] == "1"  # closed, escalated
    cells = [c.split("<")[0] for c in ecology_row.split('class="num">')[1:]]
    assert cells[3] == "0" and cells[7] == "0"
    assert 'id="department-note"' in html


def test_closed_means_the_same_in_stats_and_on_the_dashboard(env, stored):
    """The case closed in March and reopened since: closed once on the dashboard's March and in
    /api/v1/stats (closed to date), while by_state says no case is closed now."""
    client = env.client()
    stats = client.get("/api/v1/stats", headers=env.headers("supervisor")).json
    dash = client.get(f"/api/v1/dashboard?{MARCH}", headers=env.headers("supervisor")).json
    assert stats["closed"] == dash["tickets"]["closed"] == 1
    assert stats["by_state"].get("closed", 0) == 0


def test_return_clears_the_escalation_level_but_not_the_escalated_filter(env, stored):
    """The list's ⚠ shows the level now (none after the return); ``escalated=1`` keeps the
    case, escalated once, as the dashboard counts it."""
    ticket = (
        env.client()
        .get(f"/api/v1/tickets/{stored['returned']}", headers=env.headers("supervisor"))
        .json
    )
    assert ticket["escalation_level"] == 0 and ticket["department"] is None
    assert ticket["events"][-1]["data"] == {
        "department_id": ticket["events"][2]["data"]["department_id"],
        "escalation_level": 1,
    }
    escalated = env.client().get("/api/v1/tickets?escalated=1", headers=env.headers("admin")).json
    assert stored["returned"] in [t["id"] for t in escalated["items"]]


# -- periods the database cannot hold ------------------------------------------------------------

OUT_OF_RANGE = [
    "period=custom&start=0001-01-01&end=0001-01-02",
    "period=custom&start=9999-12-30&end=9999-12-31",
    "period=month&date=9999-12-15",
    "period=week&date=0001-01-02",
    "period=day&date=9999-12-31",
]


@pytest.mark.parametrize("query", OUT_OF_RANGE)
def test_out_of_range_days_are_a_400_in_the_api(env, query) -> None:
    response = env.client().get(f"/api/v1/dashboard?{query}", headers=env.headers("admin"))
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "between 0001-01-03 and 9999-12-29" in response.json["error"]


@pytest.mark.parametrize("query", OUT_OF_RANGE[:2])
def test_out_of_range_days_on_the_page_and_csv(env, query) -> None:
    client = env.client()
    login(client, "admin")
    page = client.get(f"/dashboard?{query}", headers={"Accept-Language": "en"})
    assert page.status_code == 400  # the default figures under the message
    html = page.get_data(as_text=True)  # in the signed-in user's language
    assert 'class="flash error"' in html and "0001-01-03" in html and "9999-12-29" in html
    csv = client.get(f"/dashboard.csv?{query}", headers={"Accept-Language": "en"})
    text = csv.get_data(as_text=True)
    assert csv.status_code == 400 and "0001-01-03" in text and "9999-12-29" in text


def test_the_first_and_last_days_still_work(env) -> None:
    for query in (
        "period=custom&start=0001-01-03&end=0001-01-04",
        "period=custom&start=9999-12-28&end=9999-12-29",
    ):
        response = env.client().get(f"/api/v1/dashboard?{query}", headers=env.headers("admin"))
        assert response.status_code == 200, response.json
        assert response.json["tickets"]["received"] == 0
