"""The ticket state machine: every role against every transition (pure and through the API),
illegal moves, the case archive, dispatch deadlines by class and overdue escalation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import make_ticket

from groundstation.errors import PermissionDenied, TransitionError, ValidationError
from groundstation.tickets import (
    TRANSITIONS,
    Actor,
    available_actions,
    check_transition,
    escalation_level_due,
)

# The workflow as the issue states it, written out independently of groundstation.tickets.
EXPECTED = {
    # action: (source state used in the test, target, roles allowed)
    "confirm": ("new", "confirmed", {"supervisor", "admin"}),
    "reject": ("new", "rejected", {"supervisor", "admin"}),
    "dispatch": ("confirmed", "dispatched", {"supervisor", "admin"}),
    "return": ("dispatched", "confirmed", {"department", "admin"}),
    "start": ("dispatched", "in_progress", {"department", "admin"}),
    "resolve": ("in_progress", "resolved", {"department", "admin"}),
    "verify": ("resolved", "verified", {"supervisor", "pilot", "admin"}),
    "close": ("verified", "closed", {"supervisor", "admin"}),
    "reopen": ("closed", "reopened", {"supervisor", "admin"}),
    "recall": ("dispatched", "confirmed", {"supervisor", "admin"}),
    "extend": ("in_progress", "in_progress", {"supervisor", "admin"}),
}
WHO = ("pilot", "supervisor", "department", "other_department", "admin")
ROLE_OF = {
    "pilot": "pilot",
    "supervisor": "supervisor",
    "department": "department",
    "other_department": "department",
    "admin": "admin",
}
CASES = [(action, who) for action in EXPECTED for who in WHO]


def _body(action: str) -> dict:
    body = {"action": action, "reason": f"test {action}"}
    if action == "resolve":  # evidence goes with resolve only
        body["evidence"] = [{"note": "shed removed, photo taken"}]
    if action == "extend":  # make_ticket's deadline is a day ahead
        body["deadline"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    return body


def test_expected_table_covers_every_action() -> None:
    assert set(EXPECTED) == set(TRANSITIONS)


@pytest.mark.parametrize(("action", "who"), CASES)
def test_pure_role_matrix(action: str, who: str) -> None:
    source, target, roles = EXPECTED[action]
    actor = Actor(who, ROLE_OF[who], department_id=1 if who == "department" else 2)
    allowed = ROLE_OF[who] in roles and not (
        who == "other_department" and TRANSITIONS[action].own_department
    )
    if allowed:
        rule = check_transition(source, action, actor, ticket_department_id=1)
        assert rule.leads_to(source) == target
    else:
        with pytest.raises(PermissionDenied):
            check_transition(source, action, actor, ticket_department_id=1)


@pytest.mark.parametrize(("action", "who"), CASES)
def test_api_role_matrix(env, action: str, who: str) -> None:
    """Each role × each transition through POST /api/v1/tickets/<id>/transitions."""
    source, target, roles = EXPECTED[action]
    ticket_id = make_ticket(env, source)
    client = env.client()
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=_body(action), headers=env.headers(who)
    )
    after = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    has_department = source not in ("new", "confirmed")  # make_ticket: urban_management
    visible = ROLE_OF[who] != "department" or (who == "department" and has_department)
    allowed = visible and ROLE_OF[who] in roles
    expected_status = 200 if allowed else (403 if visible else 404)  # others' cases are hidden
    assert response.status_code == expected_status, response.json
    if allowed:
        assert after["state"] == target
        last = after["events"][-1]
        assert (last["action"], last["from"], last["to"]) == (action, source, target)
        assert last["actor"] == who and last["reason"] == f"test {action}"
    else:
        assert "error" in response.json
        assert after["state"] == source
        assert len(after["events"]) == 1  # only the fixture's "open"


@pytest.mark.parametrize("state", ["new", "dispatched", "closed", "rejected"])
def test_illegal_transition_is_409_and_changes_nothing(env, state: str) -> None:
    ticket_id = make_ticket(env, state)
    action = "close" if state != "verified" else "confirm"
    client = env.client()
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=_body(action), headers=env.headers("admin")
    )
    assert response.status_code == 409
    assert f"cannot close a ticket that is {state}" in response.json["error"]
    after = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert after["state"] == state and len(after["events"]) == 1


@pytest.mark.parametrize(
    ("action", "state", "body", "message"),
    [
        ("reject", "new", {"action": "reject"}, "needs a reason"),
        ("reopen", "closed", {"action": "reopen", "reason": "  "}, "needs a reason"),
        ("resolve", "in_progress", {"action": "resolve"}, "needs evidence"),
        (
            "dispatch",
            "confirmed",
            {"action": "dispatch", "deadline": "2020-01-01T00:00:00+08:00"},
            "not in the future",
        ),
        ("dispatch", "confirmed", {"action": "dispatch", "deadline": "tomorrow"}, "ISO 8601"),
        (
            "dispatch",
            "confirmed",
            {"action": "dispatch", "department_id": 999999},
            "does not exist",
        ),
        ("bogus", "new", {"action": "bogus"}, "unknown action"),
    ],
)
def test_bad_transition_input_is_4xx(env, action, state, body, message) -> None:
    ticket_id = make_ticket(env, state)
    client = env.client()
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=body, headers=env.headers("admin")
    )
    assert 400 <= response.status_code < 500
    assert message in response.json["error"]
    after = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert after["state"] == state and len(after["events"]) == 1


def test_full_lifecycle_builds_the_case_archive(env) -> None:
    """new → confirmed → dispatched → in progress → resolved → verified → closed, right roles."""
    client = env.client()
    ticket_id = make_ticket(env, "new")
    steps = [
        ("supervisor", "confirm"),
        ("supervisor", "dispatch"),
        ("department", "start"),
        ("department", "resolve"),
        ("pilot", "verify"),
        ("supervisor", "close"),
    ]
    for who, action in steps:
        response = client.post(
            f"/api/v1/tickets/{ticket_id}/transitions", json=_body(action), headers=env.headers(who)
        )
        assert response.status_code == 200, (action, response.json)
    ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert ticket["state"] == "closed"
    assert [e["action"] for e in ticket["events"]] == ["open"] + [a for _, a in steps]
    assert [e["actor"] for e in ticket["events"][1:]] == [w for w, _ in steps]
    times = [datetime.fromisoformat(e["at"]) for e in ticket["events"]]
    assert times == sorted(times)
    dispatch = ticket["events"][2]
    assert dispatch["data"]["department"] == "城市管理综合行政执法局"
    # whole seconds in the office's time zone, as the department's systems are notified
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", dispatch["data"]["deadline"])
    # the deadline comes from the class table: illegal construction = 7 working days
    assert_close_of_business(ticket["deadline"], after=dispatch["at"], working_days=7)
    assert ticket["evidence"][0]["note"] == "shed removed, photo taken"
    assert ticket["evidence"][0]["by"] == "department"
    # the notifier logged the dispatch
    log = client.get("/api/v1/notifications", headers=env.headers("admin")).json
    assert any(n["ticket_id"] == ticket_id and n["event"] == "dispatched" and n["ok"] for n in log)
    # reopened, the case waits for a new dispatch: the old deadline is archived, not shown
    reopened = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json=_body("reopen"),
        headers=env.headers("supervisor"),
    ).json
    assert reopened["state"] == "reopened" and reopened["deadline"] is None
    assert reopened["events"][-1]["data"] == {"deadline": ticket["deadline"]}


def test_dispatch_table_edit_changes_the_next_deadline(env) -> None:
    client = env.client()
    response = client.put(
        "/api/v1/rules/straw_burning",
        json={"deadline_hours": 2.5},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 403
    response = client.put(
        "/api/v1/rules/straw_burning", json={"deadline_hours": 2.5}, headers=env.headers("admin")
    )
    assert response.status_code == 200 and response.json["deadline_hours"] == 2.5
    assert response.json["updated_by"] == "admin"
    for bad in ({"deadline_hours": -1}, {"deadline_hours": "soon"}, {"department_id": 987654}):
        response = client.put("/api/v1/rules/straw_burning", json=bad, headers=env.headers("admin"))
        assert 400 <= response.status_code < 500
    assert (
        client.put(
            "/api/v1/rules/nope", json={"deadline_hours": 3}, headers=env.headers("admin")
        ).status_code
        == 404
    )
    ticket_id = make_ticket(env, "confirmed", label="straw_burning")
    ticket = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "dispatch"},
        headers=env.headers("supervisor"),
    ).json
    assert ticket["department"]["code"] == "ecology_environment"
    at = datetime.fromisoformat(ticket["events"][-1]["at"])
    assert abs(datetime.fromisoformat(ticket["deadline"]) - at - timedelta(hours=2.5)) < timedelta(
        seconds=1
    )


def test_escalation_levels() -> None:
    deadline = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert escalation_level_due(deadline=deadline, level=0, now=deadline) is None
    assert (
        escalation_level_due(deadline=deadline, level=0, now=deadline + timedelta(minutes=1)) == 1
    )
    assert (
        escalation_level_due(deadline=deadline, level=1, now=deadline + timedelta(hours=5)) is None
    )
    assert escalation_level_due(deadline=deadline, level=1, now=deadline + timedelta(hours=25)) == 2
    assert escalation_level_due(deadline=None, level=0, now=deadline) is None


def test_overdue_ticket_is_escalated_by_the_job(env) -> None:
    from groundstation.models import Ticket, utcnow

    ticket_id = make_ticket(env, "dispatched")
    fresh_id = make_ticket(env, "dispatched")
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).deadline = utcnow() - timedelta(hours=2)
        session.commit()
    client = env.client()
    response = client.post("/api/v1/escalations", headers=env.headers("supervisor"))
    assert response.status_code == 202
    env.runner().run_pending()
    job = client.get(f"/api/v1/jobs/{response.json['job_id']}", headers=env.headers("admin")).json
    assert job["state"] == "done" and ticket_id in job["result"]["escalated"]
    assert fresh_id not in job["result"]["escalated"]
    ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert ticket["escalation_level"] == 1 and ticket["overdue"]
    assert ticket["events"][-1]["action"] == "escalate"
    assert ticket["events"][-1]["actor"] == "system"
    # the facts are data the pages render in the reader's language, not stored English text
    assert ticket["events"][-1]["reason"] == ""
    assert ticket["events"][-1]["data"]["level"] == 1
    assert 2 <= ticket["events"][-1]["data"]["overdue_hours"] < 2.1
    # running it again does not escalate twice
    client.post("/api/v1/escalations", headers=env.headers("supervisor"))
    env.runner().run_pending()
    again = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert again["escalation_level"] == 1 and len(again["events"]) == len(ticket["events"])
    overdue = client.get("/api/v1/tickets?overdue=1", headers=env.headers("admin")).json
    assert ticket_id in [t["id"] for t in overdue["items"]]
    assert fresh_id not in [t["id"] for t in overdue["items"]]
    log = client.get("/api/v1/notifications", headers=env.headers("admin")).json
    assert any(n["ticket_id"] == ticket_id and n["event"] == "escalated" for n in log)


def test_available_actions_follow_role_and_department() -> None:
    own = Actor("d", "department", department_id=1)
    other = Actor("e", "department", department_id=2)
    assert available_actions("dispatched", own, ticket_department_id=1) == ["return", "start"]
    assert available_actions("dispatched", other, ticket_department_id=1) == []
    assert available_actions("new", Actor("s", "supervisor"), ticket_department_id=None) == [
        "confirm",
        "reject",
    ]
    with pytest.raises(TransitionError):
        check_transition("closed", "close", Actor("a", "admin"), ticket_department_id=None)
    with pytest.raises(ValidationError):
        check_transition("new", "fly", Actor("a", "admin"), ticket_department_id=None)


def test_a_deadline_in_working_days_falls_due_at_close_of_business(env) -> None:
    client = env.client()
    admin = env.headers("admin")
    for bad in (
        {"deadline_unit": "fortnights"},
        {"deadline_amount": 1.5, "deadline_unit": "work_days"},
        {"deadline_hours": 3, "deadline_unit": "work_days"},
        {"deadline_unit": 7},
    ):
        response = client.put("/api/v1/rules/illegal_fishing", json=bad, headers=admin)
        assert response.status_code == 400 and response.json["error"]
    response = client.put(
        "/api/v1/rules/illegal_fishing",
        json={"deadline_amount": 2, "deadline_unit": "work_days"},
        headers=admin,
    )
    assert response.status_code == 200, response.json
    assert (response.json["deadline_amount"], response.json["deadline_unit"]) == (2, "work_days")
    try:
        ticket_id = make_ticket(env, "confirmed", label="illegal_fishing")
        ticket = client.post(
            f"/api/v1/tickets/{ticket_id}/transitions",
            json={"action": "dispatch"},
            headers=env.headers("supervisor"),
        ).json
    finally:
        client.put("/api/v1/rules/illegal_fishing", json={"deadline_hours": 48}, headers=admin)
    assert_close_of_business(ticket["deadline"], after=ticket["events"][-1]["at"], working_days=2)


def assert_close_of_business(deadline: str, *, after: str, working_days: int) -> None:
    """``deadline`` is 17:30 Beijing time on the N-th weekday after the day of ``after``
    (the default calendar: no holidays configured)."""
    beijing = ZoneInfo("Asia/Shanghai")
    expected = datetime.fromisoformat(after).astimezone(beijing).date()
    while working_days:
        expected += timedelta(days=1)
        working_days -= expected.weekday() < 5
    due = datetime.fromisoformat(deadline).astimezone(beijing)
    assert (due.date(), due.hour, due.minute) == (expected, 17, 30)
