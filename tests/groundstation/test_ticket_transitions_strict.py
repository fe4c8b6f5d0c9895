"""Ticket transitions and the pages around them refuse what they would otherwise get wrong
silently: a second extension racing the first (stale, 409, nothing archived or notified), input
an action does not take (400 naming the field), and query values a page would ignore (codes,
days outside their period, a page past the last one, a language the station does not offer).
Every test runs on SQLite and on PostgreSQL (the ``env`` fixture)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PHOTO_LONLAT, csrf_token, login, make_findings, make_ticket
from sqlalchemy import select

import groundstation.tickets as tickets_module
from groundstation.models import Notification, Ticket, TicketEvent


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash \w+" role="alert">(.*?)</p>', html)


def _ticket(env, ticket_id: int) -> dict:
    return env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json


def _events(env, ticket_id: int, action: str) -> list[TicketEvent]:
    with env.storage().session() as session:
        return list(
            session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == ticket_id, TicketEvent.action == action
                )
            )
        )


def _notices(env, ticket_id: int, event: str) -> int:
    with env.storage().session() as session:
        rows = session.scalars(
            select(Notification).where(
                Notification.ticket_id == ticket_id, Notification.event == event
            )
        )
        return len(list(rows))


def _deadline(env, ticket_id: int) -> datetime:
    with env.storage().session() as session:
        return session.get(Ticket, ticket_id).deadline


# -- two extensions at once ------------------------------------------------------------------


def test_second_of_two_concurrent_extensions_is_refused_as_stale(env, monkeypatch) -> None:
    """Two supervisors extend one deadline at the same moment (both requests have read the
    ticket before either writes): one extension is archived and notified, the other is a 409
    saying the ticket changed, and the deadline is the winner's, never the earlier one."""
    ticket_id = make_ticket(env, "dispatched")
    before = _deadline(env, ticket_id)
    both_read = threading.Barrier(2)
    department = tickets_module._department

    def read_then_wait(session, ticket):  # called by extend after its checks, before the claim
        found = department(session, ticket)
        both_read.wait(timeout=30)
        return found

    monkeypatch.setattr(tickets_module, "_department", read_then_wait)
    later, earlier = before + timedelta(days=6), before + timedelta(days=1)
    results: dict[datetime, tuple[int, dict]] = {}

    def extend(deadline: datetime) -> None:
        response = env.client().post(
            f"/api/v1/tickets/{ticket_id}/transitions",
            json={"action": "extend", "deadline": deadline.isoformat(), "reason": "rain"},
            headers=env.headers("supervisor"),
        )
        results[deadline] = (response.status_code, response.json)

    threads = [threading.Thread(target=extend, args=(d,)) for d in (later, earlier)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(status for status, _ in results.values()) == [200, 409], results
    (winner,) = [d for d, (status, _) in results.items() if status == 200]
    (refused,) = [body for status, body in results.values() if status == 409]
    assert "changed meanwhile" in refused["error"]
    assert _deadline(env, ticket_id) == winner.replace(microsecond=0)
    (event,) = _events(env, ticket_id, "extend")
    assert datetime.fromisoformat(event.data["previous_deadline"]) == before
    assert _notices(env, ticket_id, "deadline_extended") == 1


def test_extension_decided_on_an_old_deadline_is_refused(env) -> None:
    """The page sends the deadline it showed: an extension decided before another supervisor's
    is refused as stale (page banner, API 409), however late the new deadline is."""
    ticket_id = make_ticket(env, "dispatched")
    client = env.client()
    login(client, "supervisor")
    html = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    token = csrf_token(html)
    shown = re.search(r'name="expected_deadline" value="([^"]+)"', html).group(1)
    first = _deadline(env, ticket_id) + timedelta(days=2)
    done = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "extend", "deadline": first.isoformat(), "reason": "flood"},
        headers=env.headers("admin"),
    )
    assert done.status_code == 200, done.json
    page = client.post(
        f"/tickets/{ticket_id}/transition",
        data={
            "action": "extend",
            "expected_state": "dispatched",
            "expected_deadline": shown,
            "deadline": (first + timedelta(days=5)).isoformat(),
            "reason": "more time",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert any("其他人已更改" in m for m in flashes(page.get_data(as_text=True)))
    api = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={
            "action": "extend",
            "expected_deadline": shown,
            "deadline": (first + timedelta(days=5)).isoformat(),
            "reason": "more time",
        },
        headers=env.headers("supervisor"),
    )
    assert api.status_code == 409 and "changed meanwhile" in api.json["error"]
    assert len(_events(env, ticket_id, "extend")) == 1
    assert _deadline(env, ticket_id) == first.replace(microsecond=0)


# -- input an action does not take -------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "body", "field"),
    [
        ("dispatched", {"action": "extend", "department_id": 3}, "department_id"),
        ("new", {"action": "confirm", "note": "seen twice"}, "note"),
        ("new", {"action": "confirm", "deadline": "2030-01-01T10:00:00+08:00"}, "deadline"),
        ("in_progress", {"action": "resolve", "note": "done", "department_id": 2}, "department_id"),
        ("dispatched", {"action": "start", "evidence": [{"note": "x"}]}, "evidence"),
    ],
)
def test_transition_refuses_fields_its_action_does_not_take(env, state, body, field) -> None:
    ticket_id = make_ticket(env, state)
    if body["action"] == "extend":
        body["deadline"] = (_deadline(env, ticket_id) + timedelta(days=2)).isoformat()
        body["reason"] = "rain"
    before = _ticket(env, ticket_id)
    department_acts = body["action"] in ("start", "resolve")
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json=body,
        headers=env.headers("department" if department_acts else "supervisor"),
    )
    assert response.status_code == 400, response.json
    assert repr(field) in response.json["error"] and "reason" in response.json["error"]
    after = _ticket(env, ticket_id)
    assert (after["state"], after["deadline"], after["department"]) == (
        before["state"],
        before["deadline"],
        before["department"],
    )
    assert len(after["events"]) == len(before["events"])


def test_transition_refusal_names_the_field_in_chinese_on_the_page(env) -> None:
    ticket_id = make_ticket(env, "new")
    client = env.client()
    token = login(client, "supervisor")
    response = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"action": "confirm", "note": "x", "expected_state": "new", "csrf_token": token},
        follow_redirects=True,
    )
    (message,) = flashes(response.get_data(as_text=True))
    assert "&#39;note&#39;" in message and "立案" in message, message
    assert _ticket(env, ticket_id)["state"] == "new"


def test_review_refuses_a_label_with_confirm(env) -> None:
    (finding_id,) = make_findings(env, [("straw_burning", 0.9, PHOTO_LONLAT)])
    client = env.client()
    response = client.post(
        f"/api/v1/findings/{finding_id}/review",
        json={"decision": "confirm", "label": "illegal_fishing"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 400 and "label" in response.json["error"]
    assert "reclassify" in response.json["error"]
    finding = client.get(f"/api/v1/findings/{finding_id}", headers=env.headers("supervisor")).json
    assert finding["review_status"] == "pending"
    reclassified = client.post(
        f"/api/v1/findings/{finding_id}/review",
        json={"decision": "reclassify", "label": "illegal_fishing"},
        headers=env.headers("supervisor"),
    )
    assert reclassified.status_code == 200, reclassified.json
    assert reclassified.json["reviewed_label"] == "illegal_fishing"


# -- query values a page would ignore ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/tickets.csv", "/dashboard.csv"])
def test_csv_codes_takes_1_or_0(env, path) -> None:
    client = env.client()
    login(client, "supervisor")
    refused = client.get(f"{path}?codes=2")
    assert refused.status_code == 400
    assert "codes" in refused.get_data(as_text=True)
    coded = client.get(f"{path}?codes=1").get_data(as_text=True)
    named = client.get(f"{path}?codes=0").get_data(as_text=True)
    assert coded != named  # codes=1: stable codes; codes=0: the reader's words
    assert coded.splitlines()[0].lstrip("\ufeff").isascii()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("period=day&start=2026-11-01", "start"),
        ("period=month&end=2026-11-30", "end"),
        ("period=custom&start=2026-11-01&end=2026-11-03&date=2026-11-02", "date"),
    ],
)
def test_dashboard_refuses_days_its_period_ignores(env, query, named) -> None:
    api = env.client().get(f"/api/v1/dashboard?{query}", headers=env.headers("supervisor"))
    assert api.status_code == 400 and named in api.json["error"], api.json
    assert "period=" in api.json["error"]
    client = env.client()
    login(client, "supervisor")
    page = client.get(f"/dashboard?{query}&lang=en")
    assert page.status_code == 400
    assert f"{named} cannot go with period=" in page.get_data(as_text=True)
    fine = env.client().get(
        "/api/v1/dashboard?period=custom&start=2026-11-01&end=2026-11-03",
        headers=env.headers("supervisor"),
    )
    assert fine.status_code == 200


def test_ticket_list_past_the_last_page_shows_the_last_page(env) -> None:
    ticket_id = make_ticket(env, "new")
    client = env.client()
    login(client, "supervisor")
    response = client.get("/tickets?page=999&per_page=25&order=newest")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    (banner,) = flashes(html)
    assert "999" in banner, banner
    total = int(re.search(r"共 (\d+) 条", html).group(1))
    last = -(-total // 25)
    assert f"（{last}）" in banner or f"({last})" in banner, banner
    oldest_page = client.get(f"/tickets?page={last}&per_page=25&order=newest")
    assert oldest_page.status_code == 200
    shown = set(re.findall(r'href="/tickets/(\d+)"', html))
    assert shown == set(re.findall(r'href="/tickets/(\d+)"', oldest_page.get_data(as_text=True)))
    assert shown  # rows, not an empty table under the total
    first = client.get("/tickets?order=newest").get_data(as_text=True)
    assert f'href="/tickets/{ticket_id}"' in first


@pytest.mark.parametrize("path", ["/tickets", "/dashboard", "/api/v1/tickets", "/api/v1/me"])
def test_unsupported_language_is_refused_naming_lang(env, path) -> None:
    client = env.client()
    if path.startswith("/api/"):
        response = client.get(f"{path}?lang=fr", headers=env.headers("supervisor"))
        assert response.status_code == 400
        message = response.json["error"]
    else:
        login(client, "supervisor")
        response = client.get(f"{path}?lang=fr")
        assert response.status_code == 400
        message = response.get_data(as_text=True)
    assert "lang" in message and "zh, en" in message and "'fr'" in message.replace("&#39;", "'")


@pytest.mark.parametrize(
    ("lang", "chinese"), [("zh", True), ("zh-CN", True), ("zh_cn", True), ("en", False)]
)
def test_offered_languages_are_honoured(env, lang, chinese) -> None:
    client = env.client()
    login(client, "supervisor")
    response = client.get(f"/tickets?lang={lang}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ('<html lang="zh' in html) == chinese
    api = env.client().get(f"/api/v1/tickets/999999?lang={lang}", headers=env.headers("admin"))
    assert api.status_code == 404
    assert any("\u4e00" <= ch <= "\u9fff" for ch in api.json["error"]) == chinese


def test_extend_still_works_alone(env) -> None:
    """The claim on (state, deadline) lets a lone extension through, archived and notified."""
    ticket_id = make_ticket(env, "dispatched")
    new = datetime.now(UTC) + timedelta(days=4)
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "extend", "deadline": new.isoformat(), "reason": "heavy rain"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 200, response.json
    assert _deadline(env, ticket_id) == new.replace(microsecond=0)
    assert _notices(env, ticket_id, "deadline_extended") == 1
