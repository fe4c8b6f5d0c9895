"""A supervisor's hold on a dispatched case (recall it, extend its deadline), escalation that
leaves with the case, evidence that must say something, and one timestamp format in the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from conftest import login, make_ticket

from groundstation.models import Ticket, utcnow


def post(env, ticket_id: int, who: str, **body):
    return env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=body, headers=env.headers(who)
    )


def get(env, ticket_id: int, who: str = "admin") -> dict:
    return env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers(who)).json


def escalated_ticket(env, state: str, level: int = 2) -> int:
    """A ticket in ``state`` (urban management's when dispatched) escalated to ``level``."""
    ticket_id = make_ticket(env, state)
    with env.storage().session() as session:
        ticket = session.get(Ticket, ticket_id)
        ticket.escalation_level, ticket.escalated_at = level, utcnow()
        session.commit()
    return ticket_id


def notified(env, ticket_id: int) -> list[dict]:
    log = env.client().get("/api/v1/notifications", headers=env.headers("admin")).json
    return [n for n in log if n["ticket_id"] == ticket_id]


# -- evidence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"note": "   "},
        {"evidence": "  "},
        {"evidence": [{"note": " \t "}]},
        {"evidence": [{"note": ""}], "note": "\u3000 "},
    ],
)
def test_resolve_with_blank_evidence_is_refused(env, body) -> None:
    ticket_id = make_ticket(env, "in_progress")
    response = post(env, ticket_id, "department", action="resolve", **body)
    assert response.status_code == 400
    assert "resolve needs evidence" in response.json["error"]
    after = get(env, ticket_id)
    assert after["state"] == "in_progress" and after["evidence"] == []
    assert len(after["events"]) == 1


def test_evidence_is_kept_without_its_surrounding_spaces(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    response = post(env, ticket_id, "department", action="resolve", note="  违建已拆除  ")
    assert response.status_code == 200, response.json
    assert [e["note"] for e in response.json["evidence"]] == ["违建已拆除"]


# -- escalation leaves with the case -------------------------------------------------------------


def test_return_resets_the_escalation(env) -> None:
    ticket_id = escalated_ticket(env, "dispatched")
    response = post(env, ticket_id, "department", action="return", reason="不属我局")
    assert response.status_code == 200, response.json
    assert response.json["escalation_level"] == 0
    assert response.json["events"][-1]["data"]["escalation_level"] == 2  # archived
    listed = env.client().get("/api/v1/tickets?escalated=1", headers=env.headers("admin")).json
    assert ticket_id not in [t["id"] for t in listed["items"]]


def test_the_list_page_shows_no_escalation_on_a_returned_case(env) -> None:
    ticket_id = escalated_ticket(env, "dispatched", level=1)
    client = env.client()
    login(client, "supervisor")
    row = lambda: re.search(  # noqa: E731
        rf'<tr[^>]*>(?:(?!</tr>).)*?/tickets/{ticket_id}"(?:(?!</tr>).)*</tr>',
        client.get(f"/tickets?q={ticket_id}").get_data(as_text=True),
        re.S,
    ).group(0)
    assert "⚠1" in row()
    assert post(env, ticket_id, "department", action="return", reason="x").status_code == 200
    assert "⚠" not in row()


def test_reject_resets_an_escalation_left_from_before(env) -> None:
    """A case returned while escalated before returns reset it: rejecting it clears it too."""
    ticket_id = escalated_ticket(env, "confirmed", level=1)
    response = post(env, ticket_id, "supervisor", action="reject", reason="重复")
    assert response.status_code == 200, response.json
    assert response.json["escalation_level"] == 0


# -- recall --------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["dispatched", "in_progress"])
def test_a_supervisor_recalls_a_dispatched_case_and_dispatches_it_elsewhere(env, state) -> None:
    ticket_id = escalated_ticket(env, state, level=1)
    before = get(env, ticket_id)
    assert "recall" in get(env, ticket_id, "supervisor")["actions"]
    response = post(env, ticket_id, "supervisor", action="recall", reason="派错部门")
    assert response.status_code == 200, response.json
    t = response.json
    assert (t["state"], t["department"], t["deadline"], t["escalation_level"]) == (
        "confirmed",
        None,
        None,
        0,
    )
    last = t["events"][-1]
    assert (last["action"], last["from"], last["to"], last["reason"]) == (
        "recall",
        state,
        "confirmed",
        "派错部门",
    )
    assert last["data"]["department"] == "城市管理综合行政执法局"
    assert last["data"]["department_id"] == before["department"]["id"]
    assert last["data"]["escalation_level"] == 1
    assert datetime.fromisoformat(last["data"]["deadline"]) == datetime.fromisoformat(
        before["deadline"]
    )
    # the department is told, and no longer sees the case
    assert any(n["event"] == "recalled" and n["ok"] for n in notified(env, ticket_id))
    assert (
        env.client()
        .get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("department"))
        .status_code
        == 404
    )
    other = env.client().get("/api/v1/departments", headers=env.headers("admin")).json
    ecology = next(d["id"] for d in other if d["code"] == "ecology_environment")
    again = post(env, ticket_id, "supervisor", action="dispatch", department_id=ecology)
    assert again.status_code == 200 and again.json["department"]["id"] == ecology


@pytest.mark.parametrize(
    ("who", "body", "status", "message"),
    [
        ("supervisor", {}, 400, "needs a reason"),
        ("supervisor", {"reason": "   "}, 400, "needs a reason"),
        ("department", {"reason": "x"}, 403, "may not"),
        ("pilot", {"reason": "x"}, 403, "may not"),
    ],
)
def test_recall_refusals_change_nothing(env, who, body, status, message) -> None:
    ticket_id = make_ticket(env, "dispatched")
    response = post(env, ticket_id, who, action="recall", **body)
    assert response.status_code == status and message in response.json["error"]
    after = get(env, ticket_id)
    assert after["state"] == "dispatched" and after["department"] is not None
    assert len(after["events"]) == 1


def test_recall_only_while_a_department_holds_the_case(env) -> None:
    ticket_id = make_ticket(env, "resolved")
    response = post(env, ticket_id, "supervisor", action="recall", reason="x")
    assert response.status_code == 409 and "cannot" in response.json["error"]


# -- extend --------------------------------------------------------------------------------------


def test_a_supervisor_extends_the_deadline(env) -> None:
    ticket_id = escalated_ticket(env, "in_progress", level=1)
    before = get(env, ticket_id)
    new = (datetime.fromisoformat(before["deadline"]) + timedelta(days=2)).replace(microsecond=0)
    response = post(env, ticket_id, "supervisor", action="extend", reason="需协调产权单位",
                    deadline=new.astimezone(UTC).isoformat())  # fmt: skip
    assert response.status_code == 200, response.json
    t = response.json
    assert t["state"] == "in_progress" and t["escalation_level"] == 0
    assert datetime.fromisoformat(t["deadline"]) == new
    assert t["department"] == before["department"]
    last = t["events"][-1]
    assert (last["action"], last["from"], last["to"]) == ("extend", "in_progress", "in_progress")
    assert datetime.fromisoformat(last["data"]["previous_deadline"]) == datetime.fromisoformat(
        before["deadline"]
    )
    assert last["data"]["deadline"].endswith("+08:00")  # archived in the office's time zone
    assert any(n["event"] == "deadline_extended" for n in notified(env, ticket_id))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reason": "x"}, "needs the new deadline"),
        ({"reason": "x", "deadline": "2020-01-01T00:00:00+08:00"}, "not in the future"),
        ({"reason": "x", "deadline": "EARLIER"}, "not later than the current one"),
        ({"deadline": "LATER"}, "needs a reason"),
        ({"reason": "x", "deadline": "2099-01-01T12:00:00"}, "needs a timezone"),
    ],
)
def test_bad_extensions_change_nothing(env, body, message) -> None:
    ticket_id = make_ticket(env, "dispatched")  # due a day from now
    soon, later = utcnow() + timedelta(hours=2), utcnow() + timedelta(days=5)
    body = {
        k: {"EARLIER": soon.isoformat(), "LATER": later.isoformat()}.get(v, v)
        for k, v in body.items()
    }
    before = get(env, ticket_id)
    response = post(env, ticket_id, "supervisor", action="extend", **body)
    assert response.status_code == 400 and message in response.json["error"]
    after = get(env, ticket_id)
    assert after["deadline"] == before["deadline"] and len(after["events"]) == 1


# -- the page --------------------------------------------------------------------------------------


def test_the_ticket_page_offers_a_supervisor_recall_and_extend(env) -> None:
    ticket_id = make_ticket(env, "dispatched")
    client = env.client()
    token = login(client, "supervisor")
    client.get("/lang/en")
    html = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert "No action is open to you" not in html
    assert 'id="do-recall"' in html and 'id="do-extend"' in html
    extend_form = html[html.index('id="form-extend"') :].split("</form>")[0]
    assert re.search(
        r"type=\"datetime-local\" name=\"deadline\" id=\"[^\"]*\" required", extend_form
    )
    assert re.search(r"name=\"reason\" id=\"[^\"]*\" maxlength=\"4000\" required", extend_form)
    # the page refuses an extension without a deadline before asking the state machine
    refused = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"csrf_token": token, "action": "extend", "reason": "x"},
        follow_redirects=True,
    )
    assert "“Extend deadline” needs the new deadline." in unescape(refused.get_data(as_text=True))
    extended = client.post(
        f"/tickets/{ticket_id}/transition",
        data={
            "csrf_token": token,
            "action": "extend",
            "reason": "雨天",
            "deadline": "2099-01-01T12:00",
        },
        follow_redirects=True,
    )
    html = extended.get_data(as_text=True)
    assert "2099-01-01 12:00" in html and "New deadline 2099-01-01 12:00: 雨天" in html
    recalled = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"csrf_token": token, "action": "recall", "reason": "派错部门"},
        follow_redirects=True,
    )
    html = unescape(recalled.get_data(as_text=True))
    assert f"Ticket {ticket_id} is now: Filed" in html
    assert "Recalled from 城市管理综合行政执法局: 派错部门" in html
    assert 'id="do-dispatch"' in html


# -- one timestamp format --------------------------------------------------------------------------


def test_a_transition_answers_with_the_timestamps_a_get_gives(env) -> None:
    ticket_id = make_ticket(env, "confirmed")
    deadline = "2099-03-01T18:00:00+08:00"
    answer = post(env, ticket_id, "supervisor", action="dispatch", deadline=deadline).json
    again = get(env, ticket_id, "supervisor")
    assert answer["deadline"] == again["deadline"] == "2099-03-01T10:00:00+00:00"
    for key in ("created_at", "updated_at"):
        assert answer[key] == again[key] and answer[key].endswith("+00:00")
    assert [e["at"] for e in answer["events"]] == [e["at"] for e in again["events"]]


def test_the_chat_robots_name_a_recall_and_an_extension_in_chinese() -> None:
    from zoneinfo import ZoneInfo

    from groundstation.notify import Message, chat_markdown

    tz = ZoneInfo("Asia/Shanghai")
    recalled = Message("recalled", 7, "", {"department": "生态环境局"})
    title, lines = chat_markdown(recalled, timezone=tz)
    assert title == "【撤回】案件 7" and "> 责任部门：生态环境局" in lines
    assert not any("处置时限" in line for line in lines)  # the case has no deadline any more
    extended = Message("deadline_extended", 7, "", {"deadline": "2099-01-01T12:00:00+08:00"})
    title, lines = chat_markdown(extended, timezone=tz)
    assert title == "【延期】案件 7" and "> 处置时限：2099-01-01 12:00" in lines


def test_extension_refusals_give_times_as_people_read_them(env) -> None:
    """Both refusals name the deadlines as 2026-11-25 18:00 in the office's time zone, whatever
    zone the request used, never as raw ISO 8601 (2026-11-25T10:00:00+00:00)."""
    ticket_id = make_ticket(env, "dispatched")
    current = datetime.fromisoformat(get(env, ticket_id)["deadline"])
    office = ZoneInfo("Asia/Shanghai")
    earlier = (current - timedelta(hours=1)).replace(second=0, microsecond=0)
    response = post(env, ticket_id, "supervisor", action="extend", reason="x",
                    deadline=earlier.astimezone(UTC).isoformat())  # fmt: skip
    assert response.status_code == 400
    assert response.json["error"] == (
        f"the new deadline {earlier.astimezone(office):%Y-%m-%d %H:%M} is not later than the "
        f"current one ({current.astimezone(office):%Y-%m-%d %H:%M}"
        + (f":{current.astimezone(office):%S}" if current.second else "")
        + ")"
    )
    past = post(env, ticket_id, "supervisor", action="extend", reason="x",
                deadline="2020-01-01T02:30:00+00:00")  # fmt: skip
    assert past.status_code == 400
    assert past.json["error"] == "deadline 2020-01-01 10:30 is not in the future"
