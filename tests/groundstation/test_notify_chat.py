"""The WeCom and DingTalk group-robot notifiers against a local HTTP server on 127.0.0.1: the
markdown they POST, DingTalk's signature, robot errors and unreachable robots logged without
breaking the ticket transition, and a robot in NOTIFIERS without its URL stopping the app start."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import G1, RecordingServer, add_grids, make_ticket, recording_server

ROBOT_KEYS = ("WECOM_WEBHOOK_URL", "DINGTALK_WEBHOOK_URL", "DINGTALK_SECRET", "PUBLIC_BASE_URL")
# where each robot's URL points on the local server, as on qyapi.weixin.qq.com / oapi.dingtalk.com
ROBOT_PATHS = {
    "wecom": ("WECOM_WEBHOOK_URL", "/cgi-bin/webhook/send?key=KEY1"),
    "dingtalk": ("DINGTALK_WEBHOOK_URL", "/robot/send?access_token=TOKEN1"),
}
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def no_robot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ROBOT_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def robot() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def _robot_env(envs, robot: RecordingServer, name: str, **config):
    setting, path = ROBOT_PATHS[name]
    return envs(NOTIFIERS=f"log,{name}", **{setting: robot.base + path}, **config)


def _ticket_in_g1(env) -> int:
    """A confirmed illegal_construction ticket in grid G1."""
    from sqlalchemy import select

    from groundstation.models import Grid, Ticket

    add_grids(env, ("G1", G1))
    ticket_id = make_ticket(env, "confirmed")
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).grid_id = session.scalar(
            select(Grid.id).where(Grid.code == "G1")
        )
        session.commit()
    return ticket_id


def _dispatch(env, ticket_id: int):
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "dispatch"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 200, response.json
    assert response.json["state"] == "dispatched"
    return response.json


def _log_rows(env, ticket_id: int) -> dict[str, dict]:
    log = env.client().get("/api/v1/notifications", headers=env.headers("admin")).json
    return {n["channel"]: n for n in log if n["ticket_id"] == ticket_id}


def _beijing(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _overdue(env, ticket_id: int, hours: float) -> None:
    from groundstation.models import Ticket, utcnow

    with env.storage().session() as session:
        session.get(Ticket, ticket_id).deadline = utcnow() - timedelta(hours=hours)
        session.commit()


def _escalate_through_the_app_hub(env) -> list[int]:
    """What the escalation job does, with the notifiers create_app built."""
    from groundstation.tickets import escalate_overdue

    hub = env.app.extensions["gridpatrol"].notifier
    with env.storage().session() as session:
        messages = escalate_overdue(session)
        hub.deliver(session, messages)
    return [m.ticket_id for m in messages]


def test_wecom_dispatch_posts_chinese_markdown_with_a_ticket_link(envs, robot) -> None:
    env = _robot_env(envs, robot, "wecom", PUBLIC_BASE_URL="https://gp.example.gov.cn/")
    ticket_id = _ticket_in_g1(env)
    ticket = _dispatch(env, ticket_id)

    assert len(robot.posts) == 1
    post = robot.posts[0]
    assert post["path"] == "/cgi-bin/webhook/send" and post["query"] == {"key": ["KEY1"]}
    assert post["content_type"].startswith("application/json")
    assert set(post["json"]) == {"msgtype", "markdown"} and post["json"]["msgtype"] == "markdown"
    content = post["json"]["markdown"]["content"]
    assert f"【派遣】案件 {ticket_id} 违法建设" in content
    assert "网格：G1" in content
    assert "责任部门：城市管理综合行政执法局" in content
    assert f"处置时限：{_beijing(ticket['deadline'])}" in content  # Beijing time, not UTC
    assert f"[查看案件](https://gp.example.gov.cn/tickets/{ticket_id})" in content
    assert len(content.encode()) <= 4096  # WeCom's markdown limit
    rows = _log_rows(env, ticket_id)
    assert rows["wecom"]["ok"] is True and rows["wecom"]["event"] == "dispatched"


def test_dingtalk_signs_and_posts_dispatch_and_escalation(envs, robot) -> None:
    secret = "SEC0123456789abcdef+/="
    env = _robot_env(envs, robot, "dingtalk", DINGTALK_SECRET=secret)
    ticket_id = _ticket_in_g1(env)
    ticket = _dispatch(env, ticket_id)
    _overdue(env, ticket_id, hours=3)
    assert _escalate_through_the_app_hub(env) == [ticket_id]

    assert len(robot.posts) == 2
    for post in robot.posts:
        assert post["path"] == "/robot/send"
        query = post["query"]
        assert query["access_token"] == ["TOKEN1"]
        (timestamp,), (sign,) = query["timestamp"], query["sign"]
        # milliseconds, within the hour DingTalk accepts
        assert abs(int(timestamp) - time.time() * 1000) < 3600 * 1000
        expected = hmac.new(
            secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
        ).digest()
        assert base64.b64decode(sign) == expected
        assert post["json"]["msgtype"] == "markdown"
        assert set(post["json"]["markdown"]) == {"title", "text"}

    dispatched = robot.posts[0]["json"]["markdown"]
    assert dispatched["title"] == f"【派遣】案件 {ticket_id} 违法建设"
    assert "网格：G1" in dispatched["text"]
    assert "责任部门：城市管理综合行政执法局" in dispatched["text"]
    assert f"处置时限：{_beijing(ticket['deadline'])}" in dispatched["text"]
    assert "查看案件" not in dispatched["text"]  # no PUBLIC_BASE_URL, no link
    escalated = robot.posts[1]["json"]["markdown"]
    assert escalated["title"] == f"【督办（第1级）】案件 {ticket_id} 违法建设"
    assert "已超时：3.0 小时" in escalated["text"]
    assert "责任部门：城市管理综合行政执法局" in escalated["text"]
    rows = [
        n
        for n in env.client().get("/api/v1/notifications", headers=env.headers("admin")).json
        if n["channel"] == "dingtalk" and n["ticket_id"] == ticket_id
    ]
    assert sorted(n["event"] for n in rows) == ["dispatched", "escalated"]
    assert all(n["ok"] for n in rows)


def test_dingtalk_without_secret_is_not_signed(envs, robot) -> None:
    env = _robot_env(envs, robot, "dingtalk")
    _dispatch(env, _ticket_in_g1(env))
    assert robot.posts[0]["query"] == {"access_token": ["TOKEN1"]}


def test_escalation_job_reaches_the_chat_robot(envs, robot) -> None:
    env = _robot_env(envs, robot, "wecom")
    ticket_id = _ticket_in_g1(env)
    _dispatch(env, ticket_id)
    _overdue(env, ticket_id, hours=3)
    queued = env.client().post("/api/v1/escalations", headers=env.headers("supervisor"))
    assert queued.status_code == 202
    env.runner().run_pending()
    assert len(robot.posts) == 2
    assert "【督办（第1级）】" in robot.posts[1]["json"]["markdown"]["content"]


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}),
        ("dingtalk", {"errcode": 310000, "errmsg": "sign not match"}),
    ],
)
def test_robot_errcode_is_logged_as_failure_and_the_transition_stands(
    envs, robot, name, answer
) -> None:
    env = _robot_env(envs, robot, name)
    robot.answer = answer  # with HTTP 200, as the robots answer
    ticket_id = _ticket_in_g1(env)
    _dispatch(env, ticket_id)
    assert len(robot.posts) == 1  # it was tried
    ticket = env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert ticket["state"] == "dispatched"
    rows = _log_rows(env, ticket_id)
    assert rows[name]["ok"] is False
    assert str(answer["errcode"]) in rows[name]["error"] and answer["errmsg"] in rows[name]["error"]
    assert rows["log"]["ok"] is True


@pytest.mark.parametrize("name", ["wecom", "dingtalk"])
def test_unreachable_robot_is_logged_and_the_transition_stands(envs, name) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    setting, path = ROBOT_PATHS[name]
    env = envs(NOTIFIERS=name, **{setting: f"http://127.0.0.1:{port}{path}"})
    ticket_id = _ticket_in_g1(env)
    _dispatch(env, ticket_id)
    row = _log_rows(env, ticket_id)[name]
    assert row["ok"] is False and row["error"]
    assert "KEY1" not in row["error"] and "TOKEN1" not in row["error"]  # the URL is a credential


@pytest.mark.parametrize(("name", "setting"), [(n, s) for n, (s, _) in ROBOT_PATHS.items()])
def test_robot_without_url_stops_the_app_start(envs, name, setting) -> None:
    from groundstation.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{name} but {setting} is not set"):
        envs(NOTIFIERS=f"log,{name}")


def test_robot_settings_come_from_the_environment(envs, robot, monkeypatch) -> None:
    monkeypatch.setenv("NOTIFIERS", "wecom")
    monkeypatch.setenv("WECOM_WEBHOOK_URL", robot.base + ROBOT_PATHS["wecom"][1])
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://gp.example.gov.cn")
    env = envs()
    ticket_id = _ticket_in_g1(env)
    _dispatch(env, ticket_id)
    assert robot.posts[0]["query"] == {"key": ["KEY1"]}
    content = robot.posts[0]["json"]["markdown"]["content"]
    assert f"(https://gp.example.gov.cn/tickets/{ticket_id})" in content


def test_user_text_cannot_inject_markdown() -> None:
    from groundstation.notify import Message, chat_markdown

    message = Message(
        "dispatched",
        7,
        "ticket 7 dispatched",
        {"department": "城管<@all>\n# 假标题 [点我](http://evil.example) **急**"},
        {"class_name": "违法建设", "grid": "G_1*", "deadline": None},
    )
    _, lines = chat_markdown(message, timezone=BEIJING)
    content = "\n".join(lines)
    assert len(lines) == 3  # heading, grid, department: no line of the user's own
    assert "<@all>" not in content  # no @everyone in WeCom
    assert "[点我](" not in content and "**急**" not in content
    assert r"\[点我\]" in content and "网格：G\\_1\\*" in content


@pytest.mark.parametrize(
    ("hours", "shown"),
    [
        (0.3, "已超时：18 分钟"),
        (0.01, "已超时：1 分钟"),
        (3.04, "已超时：3.0 小时"),
        (50.0, "已超时：2.1 天"),
    ],
)
def test_an_escalation_says_how_late_in_the_unit_the_pages_use(hours, shown) -> None:
    from groundstation.notify import Message, chat_markdown

    message = Message("escalated", 7, "ticket 7 escalated", {"level": 1, "overdue_hours": hours})
    _, lines = chat_markdown(message, timezone=BEIJING)
    assert f"> {shown}" in lines


def test_every_notice_event_has_a_name_in_the_notifier_log() -> None:
    """The robots' titles and the admin's notifier log name the same events (no raw codes)."""
    from groundstation.blueprints.admin import EVENT_NAMES
    from groundstation.notify import _EVENT_NAMES as ROBOT_TITLES

    assert set(ROBOT_TITLES) <= set(EVENT_NAMES)


def test_a_retried_notice_names_the_department_of_its_first_send(envs, robot) -> None:
    """QA: a dispatch notice retried after an outage named the department the case had moved to
    since (recalled and dispatched elsewhere), telling the wrong department."""
    from groundstation.models import Department, Ticket

    env = _robot_env(envs, robot, "wecom", NOTIFY_RETRIES=2, NOTIFY_RETRY_S=0.05)
    robot.status = 500
    ticket_id = _ticket_in_g1(env)
    _dispatch(env, ticket_id)
    with env.storage().session() as session:  # the case has moved on to another department
        other = Department(code=f"eco-{ticket_id}", name="生态环境局")
        session.add(other)
        session.flush()
        session.get(Ticket, ticket_id).department_id = other.id
        session.commit()
    robot.status = 200
    time.sleep(0.1)
    assert env.runner().run_pending() == 1
    retried = robot.posts[-1]["json"]["markdown"]["content"]
    assert "责任部门：城市管理综合行政执法局" in retried and "生态环境局" not in retried
