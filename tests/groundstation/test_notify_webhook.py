"""The webhook notifier against a real HTTP server on 127.0.0.1: the POSTed JSON on dispatch and on
escalation, and a failing webhook that is logged but never breaks the ticket transition."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import RecordingServer, make_env, make_ticket, recording_server


@pytest.fixture
def hook() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def webhook_env(tmp_path, hook):
    e = make_env(
        f"sqlite:///{tmp_path / 'gp.sqlite3'}",
        tmp_path / "data",
        NOTIFIERS="log,webhook",
        WEBHOOK_URL=f"{hook.base}/hook",
        WEBHOOK_TIMEOUT_S=2.0,
    )
    yield e
    e.storage().dispose()


def _dispatch(env, ticket_id: int):
    return env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "dispatch"},
        headers=env.headers("supervisor"),
    )


def test_dispatch_and_escalation_post_json_to_the_webhook(webhook_env, hook) -> None:
    env = webhook_env
    ticket_id = make_ticket(env, "confirmed")
    response = _dispatch(env, ticket_id)
    assert response.status_code == 200, response.json
    assert len(hook.posts) == 1
    post = hook.posts[0]
    assert post["content_type"].startswith("application/json")
    assert post["json"]["event"] == "dispatched" and post["json"]["ticket_id"] == ticket_id
    assert post["json"]["data"]["department"] == "城市管理综合行政执法局"  # UTF-8, not escaped
    assert "dispatched to" in post["json"]["text"]

    from groundstation.models import Ticket, utcnow

    with env.storage().session() as session:
        session.get(Ticket, ticket_id).deadline = utcnow() - timedelta(hours=3)
        session.commit()
    queued = env.client().post("/api/v1/escalations", headers=env.headers("supervisor"))
    assert queued.status_code == 202
    env.runner().run_pending()
    assert [p["json"]["event"] for p in hook.posts] == ["dispatched", "escalated"]
    escalated = hook.posts[1]["json"]
    assert escalated["ticket_id"] == ticket_id and escalated["data"]["level"] == 1
    assert escalated["data"]["overdue_hours"] == pytest.approx(3.0, abs=0.1)
    log = env.client().get("/api/v1/notifications", headers=env.headers("admin")).json
    webhook_rows = [n for n in log if n["channel"] == "webhook" and n["ticket_id"] == ticket_id]
    assert sorted(n["event"] for n in webhook_rows) == ["dispatched", "escalated"]
    assert all(n["ok"] for n in webhook_rows)


def test_failing_webhook_is_logged_and_the_transition_stands(webhook_env, hook, caplog) -> None:
    env = webhook_env
    hook.status = 500
    ticket_id = make_ticket(env, "confirmed")
    with caplog.at_level(logging.WARNING, logger="gridpatrol.notify"):
        response = _dispatch(env, ticket_id)
    assert response.status_code == 200, response.json
    assert response.json["state"] == "dispatched"
    assert len(hook.posts) == 1  # it was tried
    assert any("webhook failed" in r.getMessage() for r in caplog.records)
    ticket = env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert ticket["state"] == "dispatched"
    log = env.client().get("/api/v1/notifications", headers=env.headers("admin")).json
    rows = {n["channel"]: n for n in log if n["ticket_id"] == ticket_id}
    assert rows["webhook"]["ok"] is False and "500" in rows["webhook"]["error"]
    assert rows["log"]["ok"] is True


def test_unreachable_webhook_does_not_break_the_transition(tmp_path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = make_env(
        f"sqlite:///{tmp_path / 'gp.sqlite3'}",
        tmp_path / "data",
        NOTIFIERS="webhook",
        WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        WEBHOOK_TIMEOUT_S=1.0,
    )
    try:
        ticket_id = make_ticket(env, "confirmed")
        response = _dispatch(env, ticket_id)
        assert response.status_code == 200 and response.json["state"] == "dispatched"
        log = env.client().get("/api/v1/notifications", headers=env.headers("admin")).json
        row = next(n for n in log if n["ticket_id"] == ticket_id)
        assert row["ok"] is False and row["error"]
    finally:
        env.storage().dispose()
