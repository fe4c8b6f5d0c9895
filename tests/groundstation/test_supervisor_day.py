"""What a supervisor's working day showed: every page counts a false alarm where the ticket
list shows it, "escalated" is one set on every page, a department acting on a case recalled
meanwhile is told so, the score filter keeps what the queue shows, the language switch keeps a
signed-in user signed in, and the archive says how long a case was overdue in words."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
from conftest import G1, add_grids, csrf_token, login, make_findings, make_ticket

HERE = (119.905, 32.405)


def _code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _review(env, finding_id: int, decision: str) -> None:
    reply = env.client().post(
        f"/api/v1/findings/{finding_id}/review",
        json={"decision": decision},
        headers=env.headers("supervisor"),
    )
    assert reply.status_code == 200, reply.get_json()


def _get(env, url: str, who: str = "supervisor") -> dict:
    reply = env.client().get(url, headers=env.headers(who))
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def _flashes(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', html)]


# -- 1. a false alarm counts under the class as reviewed, everywhere ------------------------


def test_a_false_alarm_counts_as_background_on_the_dashboard_stats_and_grid_page(env) -> None:
    code = _code("FA")
    add_grids(env, (code, G1))
    before = _get(env, "/api/v1/stats")["by_label"]
    fishing, false_alarm = make_findings(
        env,
        [("illegal_fishing", 0.9, HERE), ("illegal_fishing", 0.6, (119.908, 32.408))],
        grid_code=code,
    )
    _review(env, fishing, "confirm")
    _review(env, false_alarm, "reject")
    [rejected] = _get(env, f"/api/v1/tickets?grid={code}&state=rejected")["items"]

    after = _get(env, "/api/v1/stats")["by_label"]
    assert after.get("illegal_fishing", 0) - before.get("illegal_fishing", 0) == 1
    assert after.get("background", 0) - before.get("background", 0) == 1

    dash = _get(env, f"/api/v1/dashboard?grid={code}")
    assert {k: v["received"] for k, v in dash["by_class"].items()} == {
        "illegal_fishing": 1,
        "background": 1,
    }
    open_labels = {t["id"]: t["label"] for t in dash["open_tickets"]}
    assert rejected["id"] not in open_labels  # rejected: not on the map

    client = env.client()
    login(client, "supervisor")
    html = client.get(f"/dashboard?grid={code}&lang=en").get_data(as_text=True)
    table = re.search(r'<table class="figures" id="by-class".*?</table>', html, re.S).group(0)
    rows = re.findall(r'<tr data-key="([^"]+)"><td>([^<]+)</td><td class="num">(\d+)', table)
    assert [(k, unescape(name), n) for k, name, n in rows] == [  # false alarms after
        ("illegal_fishing", "Illegal fishing", "1"),
        ("background", "Background (false positive)", "1"),
    ]
    grid_page = unescape(client.get(f"/grids/{code}?lang=en").get_data(as_text=True))
    tickets = grid_page.split("<h2>Tickets</h2>", 1)[1]
    row = re.search(rf">{rejected['id']}</a></td><td>([^<]+)</td>", tickets).group(1)
    assert row == "Background (false positive)"


# -- 2. "escalated" means escalated at least once, on every page ----------------------------


def test_an_escalated_case_stays_escalated_after_its_extension(env) -> None:
    from groundstation.models import Department, Ticket, utcnow
    from groundstation.tickets import Actor, escalate_overdue, transition

    code = _code("ES")
    add_grids(env, (code, G1))
    [finding] = make_findings(env, [("illegal_construction", 0.9, HERE)], grid_code=code)
    _review(env, finding, "confirm")
    [ticket] = _get(env, f"/api/v1/tickets?grid={code}")["items"]
    with env.storage().session() as session:
        row = session.get(Ticket, ticket["id"])
        urban = session.query(Department).filter_by(code="urban_management").one()
        sup = Actor("supervisor", "supervisor")
        transition(session, row, "dispatch", sup, department_id=urban.id)
        row.deadline = utcnow() - timedelta(minutes=5)
        session.commit()
        escalate_overdue(session)
        assert session.get(Ticket, ticket["id"]).escalation_level == 1
        row = session.get(Ticket, ticket["id"])
        transition(
            session, row, "extend", sup, deadline=utcnow() + timedelta(days=3), reason="雨天"
        )
        session.commit()

    listed = _get(env, f"/api/v1/tickets?grid={code}&escalated=1")["items"]
    assert [(t["id"], t["escalation_level"]) for t in listed] == [(ticket["id"], 0)]
    dash = _get(env, f"/api/v1/dashboard?grid={code}")
    assert dash["tickets"]["escalated"] == 1 == len(listed)
    client = env.client()
    login(client, "supervisor")
    page = client.get(f"/tickets?grid={code}&escalated=1").get_data(as_text=True)
    assert f'id="ticket-{ticket["id"]}"' in page
    assert "⚠" not in page.split("<tbody", 1)[1]  # the level now: none after the extension


def test_a_case_never_escalated_is_not_listed_as_escalated(env) -> None:
    code = _code("EN")
    add_grids(env, (code, G1))
    [finding] = make_findings(env, [("straw_burning", 0.9, HERE)], grid_code=code)
    _review(env, finding, "confirm")
    assert _get(env, f"/api/v1/tickets?grid={code}")["items"]
    assert _get(env, f"/api/v1/tickets?grid={code}&escalated=1")["items"] == []


# -- 3. a department acting on a case recalled meanwhile ------------------------------------


def _dispatched_to_department(env) -> int:
    from groundstation.models import Department, Ticket
    from groundstation.tickets import Actor, transition

    ticket_id = make_ticket(env, "confirmed")
    with env.storage().session() as session:
        ticket = session.get(Ticket, ticket_id)
        department = session.query(Department).filter_by(code="urban_management").one()
        transition(session, ticket, "dispatch", Actor("supervisor", "supervisor"),
                   department_id=department.id)  # fmt: skip
        session.commit()
    return ticket_id


def _recall(env, ticket_id: int) -> None:
    reply = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "recall", "reason": "改派"},
        headers=env.headers("supervisor"),
    )
    assert reply.status_code == 200, reply.get_json()


def test_a_department_acting_on_a_case_recalled_meanwhile_is_told_so(env) -> None:
    ticket_id = _dispatched_to_department(env)
    client = env.client()
    login(client, "department")
    client.get("/lang/en")
    token = csrf_token(client.get(f"/tickets/{ticket_id}").get_data(as_text=True))
    _recall(env, ticket_id)

    reply = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"action": "start", "expected_state": "dispatched", "csrf_token": token},
    )
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/tickets")
    listed = client.get("/tickets").get_data(as_text=True)
    assert _flashes(listed) == [
        f"Ticket {ticket_id} changed while you had it open: it is no longer assigned to your "
        "department. Nothing was changed."
    ]

    # Back to its page: the same explanation, not "does not exist"
    back = client.get(f"/tickets/{ticket_id}")
    assert back.status_code == 302 and back.headers["Location"].endswith("/tickets")
    listed = client.get("/tickets").get_data(as_text=True)
    assert _flashes(listed) == [f"Ticket {ticket_id} is no longer assigned to your department."]
    assert f'id="ticket-{ticket_id}"' not in listed


def test_a_department_that_never_held_a_case_still_gets_not_found(env) -> None:
    ticket_id = _dispatched_to_department(env)  # to urban management
    client = env.client()
    login(client, "other_department")
    assert client.get(f"/tickets/{ticket_id}").status_code == 404


# -- 4. the score filter keeps what the queue shows -----------------------------------------


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("min_score=0.95", {0.9461, 0.97}),  # 0.9461 is shown as 0.95
        ("max_score=0.93", {0.9348, 0.9324, 0.92}),  # both shown as 0.93
        ("min_score=0.93&max_score=0.93", {0.9348, 0.9324}),
        ("min_score=0.947", {0.9461, 0.97}),  # shown 0.95 ≥ 0.947
        ("max_score=0.939", {0.92, 0.9324, 0.9348}),  # shown 0.93 ≤ 0.939; 0.9449 shows 0.94
        ("max_score=0.94", {0.92, 0.9324, 0.9348, 0.9449}),
    ],
)
def test_the_score_filter_compares_the_scores_as_shown(env, query, kept) -> None:
    scores = [0.92, 0.9324, 0.9348, 0.9449, 0.9461, 0.97]
    code = _code("SC")
    add_grids(env, (code, G1))
    ids = make_findings(env, [("illegal_construction", s, HERE) for s in scores], grid_code=code)
    by_id = dict(zip(ids, scores, strict=True))
    items = _get(env, f"/api/v1/findings?grid={code}&status=all&{query}")["items"]
    assert {by_id[f["id"]] for f in items} == kept


# -- 6. the language switch keeps a signed-in user where they were ----------------------------


@pytest.mark.parametrize("query", ["", "?next=https://evil.example/"])
def test_switching_language_without_a_usable_next_goes_home(env, query) -> None:
    client = env.client()
    login(client, "supervisor")
    reply = client.get(f"/lang/en{query}")
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/review")
    anonymous = env.client().get(f"/lang/en{query}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


# -- 8. how long overdue, in words ---------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "en"),
    [
        (36 / 3600, "Overdue by 1 minute, escalation level 1"),  # was "0.0 h"
        (0.5, "Overdue by 30 minutes, escalation level 1"),
        (5.4, "Overdue by 5.4 hours, escalation level 1"),
        (60, "Overdue by 2.5 days, escalation level 1"),
    ],
)
def test_the_archive_says_how_long_a_case_was_overdue(env, hours, en) -> None:
    from groundstation.models import Ticket
    from groundstation.tickets import SYSTEM, record_event

    ticket_id = make_ticket(env, "dispatched")
    with env.storage().session() as session:
        ticket = session.get(Ticket, ticket_id)
        record_event(session, ticket, "escalate", SYSTEM,
                     data={"level": 1, "overdue_hours": hours})  # fmt: skip
        session.commit()
    client = env.client()
    login(client, "supervisor")
    page = unescape(client.get(f"/tickets/{ticket_id}?lang=en").get_data(as_text=True))
    assert en in re.findall(r'<td class="why">(.*?)</td>', page, re.S)


def test_the_api_answers_409_to_a_department_acting_on_a_recalled_case(env) -> None:
    """The API client of a department that held the case learns it changed (409), as a page
    user does; a department that never held it learns nothing (404)."""
    ticket_id = _dispatched_to_department(env)
    _recall(env, ticket_id)
    reply = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "start"},
        headers=env.headers("department"),
    )
    assert reply.status_code == 409, reply.get_json()
    assert "no longer assigned to your department" in reply.get_json()["error"]
    other = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "start"},
        headers=env.headers("other_department"),
    )
    assert other.status_code == 404
