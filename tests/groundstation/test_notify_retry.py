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
from contextlib import contextmanager
from datetime import datetime, timedelta
from html import unescape

import pytest
from conftest import (
    HERE,
    ROOT,
    RecordingServer,
    login,
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
        "Department “城市管理综合行政执法局” not notified: the “Dispatched” notice via Webhook "
        "failed 2 times (The server answered HTTP 503)."
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


class _RecordingCelery:
    """Stands in for the Celery app: records each job announced and its countdown."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, float | None]] = []
        self.gridpatrol_run_job = self

    def apply_async(self, args, countdown=None) -> None:
        self.sent.append((args[0], countdown))


class _Unreachable:
    name = "webhook"

    def send(self, message) -> None:
        raise OSError("connection refused")


def test_the_first_retry_is_announced_to_celery_with_its_backoff(tmp_path) -> None:
    """QA: with Celery the first retry waited for the worker's sweep; it is announced when
    stored, with its backoff as the countdown, so Celery runs it at its time."""
    from groundstation.jobs import CeleryQueue, JobRunner, default_handlers
    from groundstation.notify import Message, NotifierHub
    from groundstation.storage import Storage
    from groundstation.tickets import Actor, open_ticket

    storage = Storage(f"sqlite:///{tmp_path / 'gp.sqlite3'}")
    storage.upgrade()
    celery = _RecordingCelery()
    queue = CeleryQueue(JobRunner(storage, handlers=default_handlers()), celery)
    hub = NotifierHub([_Unreachable()], retries=2, retry_s=45.0, queue=queue)
    with storage.session() as session:
        ticket = open_ticket(session, label="straw_burning", actor=Actor("t", "admin"),
                             lat=32.405, lon=119.905)  # fmt: skip
        session.commit()
        before = utcnow()
        hub.deliver(session, [Message("dispatched", ticket.id, "dispatched")])
    with storage.session() as session:
        job = session.scalars(select(Job).where(Job.kind == "notify")).one()
        assert job.state == "queued" and job.lease_until >= before + timedelta(seconds=45)
        assert celery.sent == [(job.id, 45.0)]
    storage.dispose()


def test_a_retry_after_a_failed_escalation_notice_is_announced_by_the_worker(tmp_path) -> None:
    """The escalation job runs in the worker: the retries of the notices it sends are announced
    to the worker's own queue."""
    from groundstation.jobs import CeleryQueue, JobRunner, default_handlers
    from groundstation.storage import Storage
    from groundstation.tickets import Actor, open_ticket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    storage = Storage(f"sqlite:///{tmp_path / 'gp.sqlite3'}")
    storage.upgrade()
    config = {"NOTIFIERS": "webhook", "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
              "NOTIFY_RETRIES": 1, "NOTIFY_RETRY_S": 60.0}  # fmt: skip
    celery = _RecordingCelery()
    runner = JobRunner(storage, handlers=default_handlers(), config=config)
    CeleryQueue(runner, celery)
    with storage.session() as session:
        ticket = open_ticket(session, label="straw_burning", actor=Actor("t", "admin"),
                             lat=32.405, lon=119.905)  # fmt: skip
        ticket.state, ticket.department_id = "dispatched", 2
        ticket.deadline = utcnow() - timedelta(hours=1)
        session.commit()
    escalation = runner.enqueue("escalate")
    assert runner.run_pending() == 1
    with storage.session() as session:
        job = session.scalars(select(Job).where(Job.kind == "notify")).one()
        assert session.get(Job, escalation).state == "done"
    assert celery.sent == [(job.id, 60.0)]
    storage.dispose()


# -- Celery on the real Redis ----------------------------------------------------------------

#: The Redis database these tests queue on (each test on a queue of its own, removed after).
REDIS_URL = os.environ.get("GRIDPATROL_TEST_REDIS_URL", "redis://127.0.0.1:6379/8")


@contextmanager
def celery_worker(tmp_path, queue_name: str, *, sweep_s: float, **settings: str) -> Iterator[None]:
    """`gridpatrol worker` as Celery on REDIS_URL, consuming ``queue_name`` with the
    ``settings`` (environment variables), sweeping every ``sweep_s`` seconds; killed after, its
    queue removed from Redis. A failure inside shows the worker's log."""
    import redis

    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue_name,
        "ESCALATION_INTERVAL_S": "0",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        **settings,
    }
    if "DATABASE_URL" not in settings:
        env.pop("DATABASE_URL", None)
    log_path = tmp_path / "worker.log"
    code = f"from groundstation.cli import cli\ncli(['worker', '--sweep-interval', '{sweep_s}'])"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    except AssertionError:
        raise AssertionError(log_path.read_text()[-3000:]) from None
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(10)
        client = redis.Redis.from_url(REDIS_URL)
        client.delete(queue_name, *client.keys(f"_kombu.binding*.{queue_name}"))
        client.close()


@pytest.mark.slow
def test_a_celery_worker_retries_a_failed_notice(tmp_path, hook) -> None:
    """A notice that failed in `serve` is sent again by `gridpatrol worker` (Celery on Redis):
    announced by the worker's sweep once due, and backed off by Celery's countdown after a
    failed retry."""
    from groundstation.notify import Message, build_notifiers
    from groundstation.storage import Storage
    from groundstation.tickets import Actor, open_ticket

    data = tmp_path / "data"
    data.mkdir()
    storage = Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}")
    storage.upgrade()
    hook.status = 500
    hub = build_notifiers("webhook", webhook_url=f"{hook.base}/hook", retries=3, retry_s=0.5)
    with storage.session() as session:  # a hub without a queue: its retry is not announced
        ticket = open_ticket(session, label="straw_burning", actor=Actor("t", "admin"),
                             lat=32.405, lon=119.905, description="celery")  # fmt: skip
        session.commit()
        hub.deliver(session, [Message("dispatched", ticket.id, f"ticket {ticket.id} dispatched")])

    def delivered() -> bool:
        with storage.session() as session:
            return bool(session.scalars(select(Notification).where(Notification.ok)).all())

    settings = {"GRIDPATROL_DATA_DIR": str(data), "NOTIFIERS": "webhook",
                "WEBHOOK_URL": f"{hook.base}/hook", "NOTIFY_RETRY_S": "0.5"}  # fmt: skip
    with celery_worker(tmp_path, f"gridpatrol-test-{uuid.uuid4().hex[:8]}", sweep_s=1, **settings):
        _wait(lambda: len(hook.posts) >= 2, 60, "the first retry by the Celery worker")
        hook.status = 200  # the next retry (after Celery's countdown of 2 s) gets through
        _wait(delivered, 60, "the second retry")
    with storage.session() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert [(r.payload["delivery"]["attempt"], r.ok) for r in rows] == [
            (1, False),
            (2, False),
            (3, True),
        ]
        assert session.scalars(select(Job.state).where(Job.kind == "notify")).one() == "done"
    storage.dispose()


@pytest.mark.slow
def test_with_celery_the_first_retry_runs_at_its_backoff_time_not_at_the_sweep(
    envs, hook, tmp_path
) -> None:
    """QA: the app stored the first retry's job but told no worker, so it waited for the
    worker's sweep (every 10 s by default, minutes on a quiet setting). The app announces it
    with its backoff as Celery's countdown: here the sweep comes only after 10 minutes."""
    queue_name = f"gridpatrol-test-{uuid.uuid4().hex[:8]}"
    url = f"{hook.base}/hook"
    env = envs(NOTIFIERS="webhook", WEBHOOK_URL=url, NOTIFY_RETRIES=2, NOTIFY_RETRY_S=1.0,
               REDIS_URL=REDIS_URL, CELERY_QUEUE=queue_name)  # fmt: skip
    hook.status = 500
    ticket_id = make_ticket(env, "confirmed")
    _dispatch(env, ticket_id)
    due = _notify_due(env)
    hook.status = 200
    settings = {"DATABASE_URL": str(env.storage().engine.url), "NOTIFIERS": "webhook",
                "WEBHOOK_URL": url, "GRIDPATROL_DATA_DIR": str(env.data_dir)}  # fmt: skip
    with celery_worker(tmp_path, queue_name, sweep_s=600, **settings):
        _wait(lambda: len(_attempts(env, ticket_id)) == 2, 60, "the first retry")
    assert _attempts(env, ticket_id) == [(1, 3, False), (2, 3, True)]
    assert _rows(env, ticket_id)[-1].created_at >= due  # not before its backoff
