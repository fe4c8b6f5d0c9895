"""Failed notices: retried by ``notify`` jobs with backoff (by the runner, by the app's worker
threads and by a Celery worker on the real Redis), a ticket page that says when the department was
not notified, and a notifier log in the reader's language with the raw error kept in a details
element."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from html import unescape

import pytest
from conftest import (
    HERE,
    ROOT,
    RecordingServer,
    login,
    make_env,
    make_ticket,
    recording_server,
)
from sqlalchemy import select

from groundstation.models import Job, Notification, utcnow

ROBOT_KEYS = ("WECOM_WEBHOOK_URL", "DINGTALK_WEBHOOK_URL", "DINGTALK_SECRET", "PUBLIC_BASE_URL")


@pytest.fixture(autouse=True)
def no_robot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (*ROBOT_KEYS, "NOTIFY_RETRIES", "NOTIFY_RETRY_S", "WEBHOOK_URL", "NOTIFIERS"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def hook() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def envs(tmp_path) -> Iterator:
    made = []

    def make(**config):
        env = make_env(
            f"sqlite:///{tmp_path / 'gp.sqlite3'}",
            tmp_path / "data",
            WEBHOOK_TIMEOUT_S=2.0,
            **config,
        )
        made.append(env)
        return env

    yield make
    for env in made:
        env.app.extensions["gridpatrol"].queue.stop()
        env.storage().dispose()


def _dispatch(env, ticket_id: int) -> None:
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "dispatch"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 200 and response.json["state"] == "dispatched", response.json


def _rows(env, ticket_id: int) -> list[Notification]:
    with env.storage().session() as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.ticket_id == ticket_id)
            .order_by(Notification.id)
        ).all()
        session.expunge_all()
        return list(rows)


def _attempts(env, ticket_id: int, channel: str = "webhook") -> list[tuple[int, int, bool]]:
    return [
        (r.payload["delivery"]["attempt"], r.payload["delivery"]["attempts"], r.ok)
        for r in _rows(env, ticket_id)
        if r.channel == channel
    ]


def _notify_due(env) -> datetime:
    """When the queued ``notify`` job may run next (a queued job's ``lease_until``)."""
    with env.storage().session() as session:
        job = session.scalars(select(Job).where(Job.kind == "notify")).one()
        assert job.state == "queued"
        return job.lease_until


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _page(env, ticket_id: int, who: str = "supervisor", lang: str = "zh") -> str:
    client = env.client()
    login(client, who)
    return client.get(f"/tickets/{ticket_id}?lang={lang}").get_data(as_text=True)


def _not_notified(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'id="not-notified-\d+">([^<]*)<', html)]


def test_a_failed_notice_is_retried_with_backoff_until_delivered(envs, hook) -> None:
    env = envs(NOTIFIERS="webhook", WEBHOOK_URL=f"{hook.base}/hook", NOTIFY_RETRIES=3,
               NOTIFY_RETRY_S=0.8)  # fmt: skip
    hook.status = 500
    ticket_id = make_ticket(env, "confirmed")
    before = utcnow()
    _dispatch(env, ticket_id)
    after = utcnow()
    assert len(hook.posts) == 1 and _attempts(env, ticket_id) == [(1, 4, False)]
    # backing off: not before 0.8 s (read from the job, not timed: a loaded machine is slow)
    assert before + timedelta(seconds=0.8) <= _notify_due(env) <= after + timedelta(seconds=0.8)
    runner = env.runner()
    _wait(lambda: runner.run_pending() == 1, 8, "the first retry")
    assert len(hook.posts) == 2 and _attempts(env, ticket_id)[-1] == (2, 4, False)
    failed = _rows(env, ticket_id)[-1].created_at
    due = _notify_due(env)  # the second retry waits four times as long (3.2 s)
    assert failed + timedelta(seconds=3.1) <= due <= failed + timedelta(seconds=4.0)
    hook.status = 200
    _wait(lambda: runner.run_pending() == 1, 10, "the second retry")
    assert len(hook.posts) == 3 and hook.posts[2]["json"] == hook.posts[0]["json"]
    assert _attempts(env, ticket_id) == [(1, 4, False), (2, 4, False), (3, 4, True)]
    with env.storage().session() as session:
        job = session.scalars(select(Job).where(Job.kind == "notify")).one()
        assert (job.state, job.attempts) == ("done", 2)
    assert _not_notified(_page(env, ticket_id)) == []


def test_the_ticket_page_says_when_the_department_was_not_notified(envs, hook) -> None:
    env = envs(NOTIFIERS="log,webhook", WEBHOOK_URL=f"{hook.base}/hook", NOTIFY_RETRIES=1,
               NOTIFY_RETRY_S=0.05)  # fmt: skip
    hook.status = 503
    ticket_id = make_ticket(env, "confirmed")
    _dispatch(env, ticket_id)
    assert _not_notified(_page(env, ticket_id)) == []  # a retry is still to come
    time.sleep(0.1)
    assert env.runner().run_pending() == 1
    assert len(hook.posts) == 2
    assert _attempts(env, ticket_id) == [(1, 2, False), (2, 2, False)]
    assert env.runner().run_pending() == 0  # no more attempts
    (english,) = _not_notified(_page(env, ticket_id, lang="en"))
    assert english == (
        "Department not notified: the “Dispatched” notice via Webhook failed 2 times "
        "(The server answered HTTP 503)."
    )
    html = _page(env, ticket_id)
    (chinese,) = _not_notified(html)
    assert "已派遣" in chinese and "503" in chinese  # the event as the Chinese pages name it
    assert "HTTPError" not in html and "dispatched" not in chinese
    # the department's own page shows no dispatcher's warning
    assert _not_notified(_page(env, ticket_id, who="department")) == []
    # a later notice on the same channel that gets through clears the warning
    from groundstation.models import Ticket

    hook.status = 200
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).state = "confirmed"
        session.commit()
    _dispatch(env, ticket_id)
    assert _not_notified(_page(env, ticket_id, lang="en")) == []


def test_worker_threads_of_the_app_retry_on_their_own(envs, hook) -> None:
    env = envs(NOTIFIERS="webhook", WEBHOOK_URL=f"{hook.base}/hook", NOTIFY_RETRIES=2,
               NOTIFY_RETRY_S=0.2, JOB_WORKERS=1, JOB_POLL_S=0.05)  # fmt: skip
    hook.status = 500
    ticket_id = make_ticket(env, "confirmed")
    _dispatch(env, ticket_id)
    _wait(lambda: len(hook.posts) == 2, 10, "the first retry by a worker thread")
    hook.status = 200
    _wait(lambda: len(_attempts(env, ticket_id)) == 3, 10, "the second retry")
    assert _attempts(env, ticket_id) == [(1, 3, False), (2, 3, False), (3, 3, True)]


def test_retries_zero_means_one_attempt_and_no_job(envs, hook) -> None:
    env = envs(NOTIFIERS="webhook", WEBHOOK_URL=f"{hook.base}/hook", NOTIFY_RETRIES=0)
    hook.status = 500
    ticket_id = make_ticket(env, "confirmed")
    _dispatch(env, ticket_id)
    assert _attempts(env, ticket_id) == [(1, 1, False)]
    with env.storage().session() as session:
        assert session.scalars(select(Job).where(Job.kind == "notify")).all() == []
    (line,) = _not_notified(_page(env, ticket_id, lang="en"))
    assert "failed 1 time (" in line


def test_notifier_log_shows_names_and_short_reasons_with_the_raw_error_kept(envs) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = envs(NOTIFIERS="log,webhook", WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
               NOTIFY_RETRIES=2)  # fmt: skip
    ticket_id = make_ticket(env, "confirmed")
    _dispatch(env, ticket_id)
    client = env.client()
    login(client, "admin")
    html = client.get("/admin/rules").get_data(as_text=True)
    table = html[html.index('id="notifier-log"') :]
    rows = re.findall(r"<tr class=\"(ok|failed)\">(.*?)</tr>", table, re.S)
    failed = next(body for kind, body in rows if kind == "failed" and f">{ticket_id}<" in body)
    cells = re.findall(r"<td>(.*?)</td>", failed, re.S)
    assert cells[2] == "已派遣" and ">dispatched<" not in table  # the event, translated
    assert cells[4] == "1/3"
    summary = re.search(r"<summary>(.*?)</summary>", failed).group(1)
    assert "URLError" not in summary and "urlopen" not in summary
    assert "Connection refused" in re.search(r"<code>(.*?)</code>", failed, re.S).group(1)
    assert 'title="URLError: ' in failed  # the raw detail is kept
    english = client.get("/admin/rules?lang=en").get_data(as_text=True)
    table = english[english.index('id="notifier-log"') :]
    assert "<summary>Could not connect · will be tried again</summary>" in table
    assert "<td>Webhook</td><td>Dispatched</td>" in table
    assert "<td>Server log</td><td>Dispatched</td>" in table and "✓ Delivered" in table


def test_failure_reasons() -> None:
    from groundstation.errors import ConfigError
    from groundstation.notify import DeliveryError, failure_reason

    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    assert failure_reason(refused) == {"code": "unreachable"}
    assert failure_reason(urllib.error.URLError(TimeoutError("timed out"))) == {"code": "timeout"}
    assert failure_reason(TimeoutError("timed out")) == {"code": "timeout"}
    http = urllib.error.HTTPError("http://x", 502, "Bad Gateway", None, None)  # type: ignore[arg-type]
    assert failure_reason(http) == {"code": "http", "status": 502}
    robot = DeliveryError("wecom robot answered errcode 93000", code="refused", errcode=93000)
    assert failure_reason(robot) == {"code": "refused", "errcode": 93000}
    assert failure_reason(ConfigError("gone")) == {"code": "config"}
    assert failure_reason(ValueError("odd")) == {"code": "error"}


def test_robot_errcode_reads_as_refused_in_the_log(envs, hook) -> None:
    env = envs(NOTIFIERS="wecom", WECOM_WEBHOOK_URL=f"{hook.base}/cgi-bin/webhook/send?key=K",
               NOTIFY_RETRIES=1)  # fmt: skip
    hook.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    ticket_id = make_ticket(env, "confirmed")
    _dispatch(env, ticket_id)
    client = env.client()
    login(client, "admin")
    html = client.get("/admin/rules?lang=en").get_data(as_text=True)
    assert "The robot refused the message (error code 93000)" in html
    assert "<td>WeCom</td>" in html


# -- Celery on the real Redis ----------------------------------------------------------------

REDIS_URL = "redis://127.0.0.1:6379/8"


@pytest.mark.slow
def test_a_celery_worker_retries_a_failed_notice(tmp_path, hook) -> None:
    """A notice that failed in `serve` is sent again by `gridpatrol worker` (Celery on Redis):
    announced by the worker's sweep once due, and backed off by Celery's countdown after a
    failed retry."""
    import redis

    from groundstation.notify import Message, build_notifiers
    from groundstation.storage import Storage
    from groundstation.tickets import Actor, open_ticket

    data = tmp_path / "data"
    data.mkdir()
    storage = Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}")
    storage.upgrade()
    hook.status = 500
    hub = build_notifiers("webhook", webhook_url=f"{hook.base}/hook", retries=3, retry_s=0.5)
    with storage.session() as session:
        ticket = open_ticket(session, label="straw_burning", actor=Actor("t", "admin"),
                             lat=32.405, lon=119.905, description="celery")  # fmt: skip
        session.commit()
        hub.deliver(session, [Message("dispatched", ticket.id, f"ticket {ticket.id} dispatched")])
    queue_name = f"gridpatrol-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "GRIDPATROL_DATA_DIR": str(data),
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue_name,
        "ESCALATION_INTERVAL_S": "0",
        "NOTIFIERS": "webhook",
        "WEBHOOK_URL": f"{hook.base}/hook",
        "NOTIFY_RETRY_S": "0.5",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
    }
    env.pop("DATABASE_URL", None)
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from groundstation.cli import cli\ncli(['worker', '--sweep-interval', '1'])",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def delivered() -> bool:
        with storage.session() as session:
            return bool(session.scalars(select(Notification).where(Notification.ok)).all())

    try:
        _wait(lambda: len(hook.posts) >= 2, 60, "the first retry by the Celery worker")
        hook.status = 200  # the next retry (after Celery's countdown of 2 s) gets through
        _wait(delivered, 60, "the second retry")
    except AssertionError:
        raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(queue_name, *client.keys(f"_kombu.binding*.{queue_name}"))
    with storage.session() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert [(r.payload["delivery"]["attempt"], r.ok) for r in rows] == [
            (1, False),
            (2, False),
            (3, True),
        ]
        assert session.scalars(select(Job.state).where(Job.kind == "notify")).one() == "done"
    storage.dispose()
