"""The dashboard page, its JSON and CSV over real stored tickets (moved through the state machine
at fixed times in June 2024), a landed flight session and a finding; roles and bad input."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import G1, add_grids, login, make_findings

CN = ZoneInfo("Asia/Shanghai")
JUNE_2024 = "period=custom&start=2024-06-01&end=2024-06-30&grid=D-A"


def at(day: int, hour: int) -> datetime:
    return datetime(2024, 6, day, hour, tzinfo=CN)


def seed_dashboard(env) -> None:
    """Two cases in grid D-A: one closed on time (captured 2 h before filing, 96 h from dispatch
    to close), one overdue and escalated; a 5,000 m² landed flight; one finding."""
    from sqlalchemy import select

    from groundstation.models import Finding, FlightSession, Photo, Ticket
    from groundstation.tickets import Actor, escalate_overdue, open_ticket_for_finding, transition

    add_grids(env, ("D-A", G1))
    (finding_id,) = make_findings(env, [("illegal_construction", 0.9, (119.905, 32.405))],
                                  grid_code="D-A")  # fmt: skip
    sup, dept = Actor("supervisor", "supervisor"), None
    with env.storage().session() as session:
        finding = session.get(Finding, finding_id)
        finding.created_at = at(3, 8)
        finding.review_status, finding.reviewed_label = "confirmed", "illegal_construction"
        session.get(Photo, finding.photo_id).taken_at = at(3, 7)
        k1 = open_ticket_for_finding(session, finding, sup, now=at(3, 9))
        session.flush()
        transition(session, k1, "dispatch", sup, now=at(3, 12))
        dept = Actor("department", "department", department_id=k1.department_id)
        transition(session, k1, "start", dept, now=at(4, 9))
        transition(session, k1, "resolve", dept, evidence=[{"note": "拆除"}], now=at(5, 9))
        transition(session, k1, "verify", sup, now=at(6, 9))
        transition(session, k1, "close", sup, now=at(7, 12))
        from groundstation.tickets import open_ticket

        k2 = open_ticket(session, label="straw_burning", actor=sup, lat=32.401, lon=119.901,
                         grid_id=k1.grid_id, now=at(20, 8))  # fmt: skip
        transition(session, k2, "confirm", sup, now=at(20, 8))
        transition(session, k2, "dispatch", sup, now=at(20, 9))  # 4 h deadline: 13:00
        burn = Actor("department", "department", department_id=k2.department_id)
        transition(session, k2, "start", burn, now=at(20, 10))
        session.add(FlightSession(connection="sitl", simulated=True, state="done", sortie=0,
                                  grid_codes=["D-A"], area_m2=5000.0, started_at=at(15, 8),
                                  landed_at=at(15, 9)))  # fmt: skip
        session.commit()
        escalate_overdue(session, now=at(20, 14))
        assert session.scalar(select(Ticket.escalation_level).where(Ticket.id == k2.id)) == 1


@pytest.fixture(scope="module", autouse=True)
def seeded(env):
    seed_dashboard(env)


def test_json_figures(env) -> None:
    data = (
        env.client().get(f"/api/v1/dashboard?{JUNE_2024}", headers=env.headers("supervisor")).json
    )
    t = data["tickets"]
    assert (t["received"], t["filed"], t["due"], t["closed"]) == (2, 2, 2, 1)
    assert (t["closure_rate"], t["on_time_rate"], t["overdue"], t["escalated"]) == (0.5, 0.5, 1, 1)
    assert t["median_capture_to_ticket_h"] == pytest.approx(2.0)
    assert t["median_dispatch_to_close_h"] == pytest.approx(96.0)
    assert data["flights"] == 1 and data["area_flown_m2"] == 5000.0
    assert data["findings_by_class"] == {"illegal_construction": 1}
    assert set(data["by_class"]) == {"illegal_construction", "straw_burning"}
    assert data["by_department"]["生态环境局"]["overdue"] == 1
    assert [o["state"] for o in data["open_tickets"]] == ["in_progress"]
    assert data["period"]["start"] == "2024-06-01T00:00:00+08:00"


def test_page_cards_charts_and_map_data(env) -> None:
    client = env.client()
    login(client, "supervisor")
    html = client.get(f"/dashboard?{JUNE_2024}").get_data(as_text=True)
    assert "结案率" in html and "按期结案率" in html
    assert 'id="card-closure-rate"><span class="value">50.0%' in html
    assert 'id="card-received"><span class="value">2<' in html
    assert 'id="card-dispatch"><span class="value">96.0 h' in html
    assert "<svg" in html and 'id="open-tickets"' in html and "https://" not in html
    bad = client.get("/dashboard?period=year").get_data(as_text=True)
    assert "period &#39;year&#39;" in bad or "period 'year'" in bad  # shown, default period used


def test_csv_export(env) -> None:
    client = env.client()
    login(client, "admin")
    response = client.get(f"/dashboard.csv?{JUNE_2024}")
    assert (
        response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert ["area", "D-A"] in rows and ["flights", "1"] in rows
    assert [
        "all",
        "D-A",
        "2",
        "2",
        "2",
        "1",
        "0.5000",
        "0.5000",
        "1",
        "1",
        "2.0000",
        "96.0000",
    ] in rows


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ("period=year", 400, "period 'year'"),
        ("period=custom&start=2024-06-05&end=2024-06-01", 400, "before it starts"),
        ("period=custom&start=June", 400, "not a date"),
        ("grid=NOPE", 404, "grid 'NOPE'"),
    ],
)
def test_bad_queries(env, query, status, needle) -> None:
    response = env.client().get(f"/api/v1/dashboard?{query}", headers=env.headers("admin"))
    assert response.status_code == status and needle in response.json["error"]


@pytest.mark.parametrize("who", ["pilot", "department"])
def test_managers_only(env, who) -> None:
    assert env.client().get("/api/v1/dashboard", headers=env.headers(who)).status_code == 403
    client = env.client()
    login(client, who)
    assert client.get("/dashboard").status_code == 403
