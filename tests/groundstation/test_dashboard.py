"""The dashboard page, its JSON and CSV over real stored tickets (moved through the state machine
at fixed times in June 2024), a landed flight session and a finding; roles and bad input."""

from __future__ import annotations

import csv
import io
from html import unescape

import pytest
from conftest import G1, JUNE_2024, add_grids, login, make_env, make_findings, seed_dashboard


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
    # shown in the page's language, default period used
    assert "统计周期 &#39;year&#39; 无效" in bad or "统计周期 'year' 无效" in bad


def test_csv_export(env) -> None:
    client = env.client()
    login(client, "admin")
    response = client.get(f"/dashboard.csv?{JUNE_2024}&codes=1")  # the stable codes
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


def test_the_grid_is_found_in_any_case_like_everywhere_else(env) -> None:
    """Grid ids are unique ignoring case, and the ticket list finds them so: the dashboard too."""
    headers = env.headers("supervisor")
    lower = JUNE_2024.replace("grid=D-A", "grid=d-a")
    exact = env.client().get(f"/api/v1/dashboard?{JUNE_2024}", headers=headers)
    typed = env.client().get(f"/api/v1/dashboard?{lower}", headers=headers)
    assert typed.status_code == 200, typed.json
    assert typed.json["grid"] == "D-A"  # the grid's own id
    assert typed.json["tickets"] == exact.json["tickets"] and typed.json["tickets"]["received"] == 2
    client = env.client()
    login(client, "supervisor")
    html = client.get(f"/dashboard?{lower}").get_data(as_text=True)
    assert "<option selected>D-A</option>" in html and 'class="flash error"' not in html


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


DASHBOARD_TAKES = "period, date, start, end, grid"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/api/v1/dashboard?from=2026-13-45&to=x",
            f"unknown query parameters 'from', 'to'; this address takes {DASHBOARD_TAKES}, lang",
        ),
        (
            "/dashboard.csv?from=2026-01-05",
            f"unknown query parameter 'from'; this address takes {DASHBOARD_TAKES}, codes, lang",
        ),
        (
            "/api/v1/stats?since=2026-01-01",
            "unknown query parameter 'since'; this address takes lang",
        ),
    ],
)
def test_parameters_the_dashboard_does_not_take_are_refused(env, path, message) -> None:
    """The QA case: ``?from=…&to=…`` (the form's labels, not its parameters) were ignored and
    the month shown as if asked for."""
    client = env.client()
    login(client, "admin")
    client.get("/lang/en")
    response = client.get(path)
    assert response.status_code == 400
    body = response.json["error"] if response.is_json else response.get_data(as_text=True)
    assert message in unescape(body)


def test_the_page_names_a_parameter_it_does_not_take_and_what_it_takes(env) -> None:
    client = env.client()
    login(client, "admin")
    client.get("/lang/en")
    response = client.get("/dashboard?from=2026-13-45&to=x")
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    assert (
        "<p class=\"flash error\" role=\"alert\">unknown query parameters 'from', 'to'; this "
        f"address takes {DASHBOARD_TAKES}, lang</p>"
    ) in html
    assert "from=" not in html.split('id="csv-link"')[1].split(">")[0]  # not in the export
    later = client.get("/dashboard?period=custom&start=2026-03-01&end=2026-02-01")
    assert later.status_code == 400
    assert "the period ends (2026-02-01) before it starts (2026-03-01)" in later.get_data(
        as_text=True
    )


def test_a_bad_period_reads_in_the_managers_language(env) -> None:
    headers = {**env.headers("admin"), "Accept-Language": "zh-CN"}
    query = "period=custom&start=2024-06-05&end=2024-06-01"
    response = env.client().get(f"/api/v1/dashboard?{query}", headers=headers)
    assert response.status_code == 400
    assert "周期的结束日期（2024-06-01）早于开始日期（2024-06-05）" in response.json["error"]


def test_stats_api_uses_the_dashboards_rates(env) -> None:
    """One 按期结案率: /api/v1/stats (every ticket up to now) and the dashboard (June, when
    both seeded cases fell due) count the same cases the same way: the case closed within its
    deadline is on time, the case still open past its deadline is not (1 of 2)."""
    client = env.client()
    stats = client.get("/api/v1/stats", headers=env.headers("supervisor")).json
    dash = client.get(f"/api/v1/dashboard?{JUNE_2024}", headers=env.headers("supervisor")).json
    assert (stats["due"], stats["closed_due"], stats["closed_on_time"]) == (2, 1, 1)
    assert stats["on_time_closure_rate"] == dash["tickets"]["on_time_rate"] == 0.5
    assert stats["closure_rate"] == dash["tickets"]["closure_rate"] == 0.5
    assert stats["total"] == sum(stats["by_state"].values()) == 2


def test_a_reopened_false_alarm_counts_alike_on_the_dashboard_and_in_stats(tmp_path) -> None:
    """The QA case, on a database of its own: a finding rejected with no case (filed as rejected
    from new), reopened from its ticket page and dispatched with six days left. The dashboard
    (the current days, deadline inside) and /api/v1/stats both count it filed once and not due
    yet, so neither shows a 0 % rate."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from groundstation.models import Finding, utcnow
    from groundstation.tickets import Actor, open_ticket_for_finding, transition

    env = make_env(f"sqlite:///{tmp_path / 'gp.sqlite3'}", tmp_path / "data")
    try:
        add_grids(env, ("Q-A", G1))
        (finding_id,) = make_findings(env, [("illegal_construction", 0.9, (119.905, 32.405))],
                                      grid_code="Q-A")  # fmt: skip
        sup, now = Actor("supervisor", "supervisor"), utcnow()
        with env.storage().session() as session:
            finding = session.get(Finding, finding_id)
            case = open_ticket_for_finding(
                session, finding, sup, confirmed=False, reason="误报", now=now
            )
            session.flush()
            transition(session, case, "reopen", sup, reason="确有违建", now=now)
            transition(session, case, "dispatch", sup, deadline=now + timedelta(days=6), now=now)
            session.commit()
        today = now.astimezone(ZoneInfo(env.app.config["TIMEZONE"])).date()
        days = f"period=custom&start={today - timedelta(days=1)}&end={today + timedelta(days=10)}"
        client = env.client()
        stats = client.get("/api/v1/stats", headers=env.headers("supervisor")).json
        dash = client.get(f"/api/v1/dashboard?{days}", headers=env.headers("supervisor")).json
        t = dash["tickets"]
        assert (stats["filed"], stats["due"], stats["closure_rate"]) == (1, 0, None)
        assert (t["filed"], t["due"], t["closure_rate"], t["on_time_rate"]) == (1, 0, None, None)
        assert stats["on_time_closure_rate"] is None
        login(client, "supervisor")
        html = client.get(f"/dashboard?{days}").get_data(as_text=True)
        assert 'id="card-filed"><span class="value">1<' in html
        assert 'id="card-due"><span class="value">0<' in html
        assert "0.0%" not in html
    finally:
        env.storage().dispose()


@pytest.mark.parametrize("who", ["pilot", "department"])
def test_managers_only(env, who) -> None:
    assert env.client().get("/api/v1/dashboard", headers=env.headers(who)).status_code == 403
    assert env.client().get("/api/v1/stats", headers=env.headers(who)).status_code == 403
    client = env.client()
    login(client, who)
    assert client.get("/dashboard").status_code == 403
