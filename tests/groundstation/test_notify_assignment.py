"""Undelivered notices belong to the assignment they were sent for: the ticket page names the
department that was not notified and warns only about the case's current assignment, and a
recall or a new dispatch cancels the old department's pending retries (logged, not sent)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from conftest import RecordingServer, login, make_ticket, recording_server
from sqlalchemy import select
from test_notify_retry import _not_notified, _page, _rows

from groundstation.models import Department, Job

URBAN = "城市管理综合行政执法局"  # illegal_construction's department in the dispatch table
ECOLOGY = "生态环境局"


@pytest.fixture(autouse=True)
def no_notifier_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NOTIFY_RETRIES", "NOTIFY_RETRY_S", "WEBHOOK_URL", "NOTIFIERS",
                "DINGTALK_WEBHOOK_URL", "DINGTALK_SECRET"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def hook() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def _act(env, ticket_id: int, action: str, **body) -> dict:
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": action, **body},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 200, response.json
    return response.json


def _department_id(env, name: str) -> int:
    with env.storage().session() as session:
        return session.scalar(select(Department.id).where(Department.name == name))


def _posted_events(hook: RecordingServer) -> list[tuple[str, str | None]]:
    """What reached the webhook: (event, department) of each POST, in order."""
    return [(p["json"]["event"], p["json"]["data"].get("department")) for p in hook.posts]


def _webhook_env(envs, hook: RecordingServer, *, retries: int):
    return envs(NOTIFIERS="webhook", WEBHOOK_URL=f"{hook.base}/hook", NOTIFY_RETRIES=retries,
                NOTIFY_RETRY_S=0)  # fmt: skip


def test_the_warning_names_the_department_that_was_not_notified(envs, hook) -> None:
    env = _webhook_env(envs, hook, retries=0)
    hook.status = 503
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    (english,) = _not_notified(_page(env, ticket_id, lang="en"))
    assert english == (
        f"Department “{URBAN}” not notified: the “Dispatched” notice via Webhook failed "
        "1 time (The server answered HTTP 503)."
    )
    (chinese,) = _not_notified(_page(env, ticket_id))
    assert URBAN in chinese and "503" in chinese


def test_a_recall_ends_the_old_departments_warning_and_the_log_keeps_it(envs, hook) -> None:
    env = _webhook_env(envs, hook, retries=0)
    hook.status = 503
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    assert len(_not_notified(_page(env, ticket_id, lang="en"))) == 1
    hook.status = 200  # the recall notice gets through
    _act(env, ticket_id, "recall", reason="派错部门")
    assert _not_notified(_page(env, ticket_id, lang="en")) == []
    # the failed dispatch notice stays in the notifier log (history)
    client = env.client()
    login(client, "supervisor")
    log = client.get("/admin/rules?lang=en").get_data(as_text=True)
    log = log[log.index('id="notifier-log"') :]
    failed = re.findall(r'<tr class="failed">(.*?)</tr>', log, re.S)
    assert any(f">{ticket_id}<" in row and "<td>Dispatched</td>" in row for row in failed)


def test_after_a_reassignment_only_the_new_departments_notice_is_warned_of(envs, hook) -> None:
    env = _webhook_env(envs, hook, retries=0)
    hook.status = 503  # every notice fails
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    _act(env, ticket_id, "recall", reason="派错部门")
    # recalled, not yet dispatched again: the old department was not told of the recall
    (recall,) = _not_notified(_page(env, ticket_id, lang="en"))
    assert recall.startswith(f"Department “{URBAN}” not notified: the “Recalled” notice")
    _act(env, ticket_id, "dispatch", department_id=_department_id(env, ECOLOGY))
    (line,) = _not_notified(_page(env, ticket_id, lang="en"))
    assert line.startswith(f"Department “{ECOLOGY}” not notified: the “Dispatched” notice")


def test_a_recall_cancels_the_old_departments_pending_retries(envs, hook) -> None:
    env = _webhook_env(envs, hook, retries=2)
    hook.status = 503
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")  # failed: a retry is queued
    hook.status = 200
    _act(env, ticket_id, "recall", reason="派错部门")
    assert env.runner().run_pending() == 1  # the dispatch notice's retry job
    assert _posted_events(hook) == [("dispatched", URBAN), ("recalled", URBAN)]  # not sent again
    rows = [r for r in _rows(env, ticket_id) if r.event == "dispatched"]
    assert [
        (r.payload["delivery"]["attempt"], r.payload["delivery"].get("cancelled", False), r.ok)
        for r in rows
    ] == [(1, False, False), (2, True, False)]
    assert "no longer" in rows[-1].error and "not sent" in rows[-1].error
    with env.storage().session() as session:
        job = session.scalars(select(Job).where(Job.kind == "notify")).one()
        assert job.state == "done" and job.result["cancelled"] is True
    assert env.runner().run_pending() == 0  # nothing is tried again
    assert _not_notified(_page(env, ticket_id, lang="en")) == []
    # the notifier log says it was not sent, and will not be
    client = env.client()
    login(client, "admin")
    log = unescape(client.get("/admin/rules?lang=en").get_data(as_text=True))
    assert "Not sent: the assignment it was about has ended · no more attempts" in log


def test_a_new_dispatch_to_the_same_department_cancels_the_old_notices_retry(envs, hook) -> None:
    """The old retry would tell the department the old deadline after the new dispatch."""
    env = _webhook_env(envs, hook, retries=2)
    hook.status = 503
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    hook.status = 200
    _act(env, ticket_id, "recall", reason="补充材料")
    _act(env, ticket_id, "dispatch", deadline="2099-01-01T18:00:00+08:00")
    assert env.runner().run_pending() == 1
    assert _posted_events(hook) == [
        ("dispatched", URBAN),
        ("recalled", URBAN),
        ("dispatched", URBAN),
    ]
    assert hook.posts[0]["json"]["data"]["deadline"] != hook.posts[2]["json"]["data"]["deadline"]
    assert _not_notified(_page(env, ticket_id, lang="en")) == []


def test_a_retry_for_the_department_still_holding_the_case_is_sent(envs, hook) -> None:
    env = _webhook_env(envs, hook, retries=2)
    hook.status = 503
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    hook.status = 200
    _act(env, ticket_id, "extend", reason="材料补正", deadline="2099-01-01T18:00:00+08:00")
    assert env.runner().run_pending() == 1
    assert _posted_events(hook) == [
        ("dispatched", URBAN),
        ("deadline_extended", URBAN),
        ("dispatched", URBAN),  # still this department's case: sent again
    ]


@pytest.fixture
def robot() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def _two_channel_env(envs, hook: RecordingServer, robot: RecordingServer, *, retries: int):
    """The webhook and the DingTalk robot, both answering 503."""
    hook.status = robot.status = 503
    return envs(NOTIFIERS="log,webhook,dingtalk", WEBHOOK_URL=f"{hook.base}/hook",
                DINGTALK_WEBHOOK_URL=f"{robot.base}/robot/send?access_token=abc",
                NOTIFY_RETRIES=retries, NOTIFY_RETRY_S=0)  # fmt: skip


def test_every_failed_channel_of_a_dispatch_notice_is_retried(envs, hook, robot) -> None:
    """QA: with webhook and DingTalk both down, the webhook's retry was cancelled as if the case
    had been reassigned, and the ticket page warned only about DingTalk."""
    env = _two_channel_env(envs, hook, robot, retries=1)
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    assert env.runner().run_pending() == 2  # one retry per failed channel
    assert len(hook.posts) == 2 and len(robot.posts) == 2  # both sent again
    retries = [r for r in _rows(env, ticket_id) if r.payload["delivery"]["attempt"] == 2]
    assert sorted(r.channel for r in retries) == ["dingtalk", "webhook"]
    assert not any(r.payload["delivery"].get("cancelled") for r in retries)
    warnings = _not_notified(_page(env, ticket_id, lang="en"))
    assert len(warnings) == 2
    assert any("via Webhook" in w for w in warnings) and any("DingTalk" in w for w in warnings)
    # both delivered at the next dispatch: no warning is left
    hook.status = robot.status = 200
    _act(env, ticket_id, "recall", reason="补充材料")
    _act(env, ticket_id, "dispatch")
    assert _not_notified(_page(env, ticket_id, lang="en")) == []


def test_a_recall_cancels_the_retries_of_every_channel(envs, hook, robot) -> None:
    env = _two_channel_env(envs, hook, robot, retries=1)
    ticket_id = make_ticket(env, "confirmed")
    _act(env, ticket_id, "dispatch")
    hook.status = robot.status = 200
    _act(env, ticket_id, "recall", reason="派错部门")
    assert env.runner().run_pending() == 2
    assert _posted_events(hook) == [("dispatched", URBAN), ("recalled", URBAN)]  # not sent again
    assert len(robot.posts) == 2  # the dispatch and the recall, once each
    retries = [r for r in _rows(env, ticket_id) if r.payload["delivery"]["attempt"] == 2]
    assert sorted(r.channel for r in retries) == ["dingtalk", "webhook"]
    assert all(r.payload["delivery"]["cancelled"] for r in retries)


def test_rows_logged_before_notices_had_a_key_keep_every_channel_of_the_last_dispatch() -> None:
    from groundstation.models import Notification
    from groundstation.notify import current_notice_ids

    def row(id_: int, channel: str, event: str, department_id: int) -> Notification:
        payload = {"text": "t", "department_id": department_id,
                   "delivery": {"attempt": 1, "attempts": 2, "retry_of": None}}  # fmt: skip
        return Notification(id=id_, channel=channel, event=event, payload=payload, ok=False)

    rows = [
        row(1, "webhook", "dispatched", 1),
        row(2, "dingtalk", "dispatched", 1),
        row(3, "webhook", "recalled", 1),
        row(4, "dingtalk", "recalled", 1),
        row(5, "webhook", "dispatched", 1),  # dispatched again to the same department
        row(6, "dingtalk", "dispatched", 1),
    ]
    assert current_notice_ids(rows, held_by=1) == {5, 6}
