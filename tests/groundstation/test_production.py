"""The production layout of the README: several `serve` and `worker` processes on one PostgreSQL
database and one data folder, configured from the environment."""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from conftest import make_env, pg_schema_url, write_photo
from sqlalchemy import func, select, update

from groundstation.config import DEFAULTS, build_config
from groundstation.errors import ConfigError
from groundstation.jobs import JobRunner
from groundstation.models import Job, utcnow
from groundstation.storage import Storage


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{tmp_path / 'prod.sqlite3'}"])
    else:
        urls = pg_schema_url()
    storage = Storage(next(urls))
    storage.upgrade()
    yield storage
    storage.dispose()
    next(urls, None)  # drops the PostgreSQL schema


def _together(count: int, call) -> list:
    """``call()`` from ``count`` threads released at once; their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(call())
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_periodic_job_is_queued_once_by_concurrent_schedulers(storage) -> None:
    """Every worker runs the escalation scheduler; together they queue it once per period."""
    handlers = {"escalate": lambda ctx, payload: {}}
    runners = iter([JobRunner(storage, handlers=handlers, owner=f"w{i}") for i in range(4)])
    ids = _together(4, lambda: next(runners).enqueue_periodic("escalate", 300.0))
    queued = [i for i in ids if i is not None]
    assert len(queued) == 1, ids
    runner = JobRunner(storage, handlers=handlers)
    assert runner.run_pending() == 1
    assert runner.enqueue_periodic("escalate", 300.0) is None  # done, but within the period
    with storage.session() as session:
        session.execute(update(Job).values(created_at=utcnow() - timedelta(seconds=301)))
        session.commit()
    assert runner.enqueue_periodic("escalate", 300.0) is not None
    with storage.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2


def test_secret_key_is_shared_by_processes_starting_together(tmp_path) -> None:
    """Several serve/worker processes started at once on a fresh shared data folder."""
    for attempt in range(20):
        data = tmp_path / f"d{attempt}"
        keys = _together(4, lambda d=data: build_config(data_dir=d, environ={})["SECRET_KEY"])
        assert all(isinstance(k, str) for k in keys), keys
        assert len(set(keys)) == 1 and len(keys[0]) == 64, keys
        assert sorted(p.name for p in data.iterdir() if "secret" in p.name) == ["secret_key"]


def test_sessions_work_across_serve_processes_with_one_secret_key(tmp_path, monkeypatch) -> None:
    """Two serve processes on different hosts (data folders) share GRIDPATROL_SECRET_KEY."""
    monkeypatch.setenv("GRIDPATROL_SECRET_KEY", "one-key-for-every-serve")
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first = make_env(url, tmp_path / "a", SECRET_KEY=None)
    second = make_env(url, tmp_path / "b", SECRET_KEY=None)
    client = first.client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed_in = client.post(
        "/login",
        data={"username": "supervisor", "password": "supervisor-password", "csrf_token": token},
    )
    assert signed_in.status_code == 302
    other = second.client()
    other.set_cookie("session", client.get_cookie("session").value)
    me = other.get("/api/v1/me")
    assert me.status_code == 200 and me.json["username"] == "supervisor"


def test_photo_roots_from_the_environment(tmp_path, monkeypatch) -> None:
    """PHOTO_ROOTS, like every other setting the README names, is read from the environment."""
    flights, other = tmp_path / "flights", tmp_path / "nas"
    write_photo(other / "f1" / "p.jpg", (200, 40, 30))
    write_photo(tmp_path / "elsewhere" / "p.jpg", (200, 40, 30))
    monkeypatch.setenv("PHOTO_ROOTS", f"{flights}{os.pathsep}{other}")
    assert build_config(data_dir=tmp_path / "data")["PHOTO_ROOTS"] == [str(flights), str(other)]
    env = make_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data")
    client = env.client()
    ok = client.post(
        "/api/v1/flights",
        json={"source": str(other / "f1"), "allow_unplaced": True},  # a photo without GPS
        headers=env.headers("pilot"),
    )
    assert ok.status_code == 202, ok.json
    refused = client.post(
        "/api/v1/flights",
        json={"source": str(tmp_path / "elsewhere")},
        headers=env.headers("pilot"),
    )
    assert refused.status_code == 400 and "outside" in refused.json["error"]
    env.storage().dispose()


LIMITS = (
    "MAX_CONTENT_LENGTH",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_GRID_FILE_BYTES",
    "MAX_ORTHOMOSAIC_BYTES",
    "MAX_ORTHOMOSAIC_PIXELS",
)


@pytest.mark.parametrize("key", LIMITS)
def test_size_limits_are_read_from_the_environment(tmp_path, key) -> None:
    config = build_config(data_dir=tmp_path, environ={key: " 1000 "})
    assert config[key] == 1000


@pytest.mark.parametrize("key", LIMITS)
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "must be at least 1"),
        ("-5", "must be at least 1"),
        ("2.5", "not a whole number of bytes or pixels"),
        ("64MB", "not a whole number of bytes or pixels"),
    ],
)
def test_a_bad_size_limit_stops_the_station_naming_it(tmp_path, key, value, why) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(data_dir=tmp_path, environ={key: value})
    assert str(caught.value).startswith(f"environment {key}={value!r}: {why}")


@pytest.mark.parametrize(
    ("value", "secure"), [("on", True), (" On ", True), ("1", True), ("off", False), ("no", False)]
)
def test_session_cookie_secure_reads_yes_and_no_like_every_flag(
    tmp_path, monkeypatch, value, secure
) -> None:
    """SESSION_COOKIE_SECURE=on (as OPEN311_PUBLIC_READS reads it) marks the cookie Secure."""
    monkeypatch.setenv("SESSION_COOKIE_SECURE", value)
    env = make_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data")
    cookie = env.client().get("/login").headers["Set-Cookie"]
    assert ("; Secure" in cookie) is secure, cookie
    env.storage().dispose()


FLAGS = ("SESSION_COOKIE_SECURE", "OPEN311_PUBLIC_READS")


@pytest.mark.parametrize("key", FLAGS)
@pytest.mark.parametrize("value", ["enabled", "ture", "2"])
def test_a_flag_that_is_not_yes_or_no_stops_the_station_naming_it(tmp_path, key, value) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(data_dir=tmp_path, environ={key: value})
    assert str(caught.value) == (
        f"environment {key}={value!r}: not a yes/no value: 1/true/yes/on or 0/false/no/off"
    )


#: Every numeric setting, a good value as written and as read, and its smallest allowed value.
NUMBERS = {
    "NOTIFY_RETRIES": (" 5 ", 5, 0),
    "JOB_WORKERS": ("4", 4, 0),
    "OPEN311_MAX_REQUESTS_PER_HOUR": ("50", 50, 0),
    "PROXY_HOPS": ("1", 1, 0),
    "LOGIN_MAX_FAILURES": ("3", 3, 1),
    "CELERY_VISIBILITY_TIMEOUT_S": ("900", 900, 1),
    "CELERY_RESTORE_INTERVAL_S": ("5", 5, 1),
    "NOTIFY_RETRY_S": ("2.5", 2.5, None),  # None: seconds above 0
    "JOB_LEASE_S": ("60", 60.0, None),
    "LOGIN_LOCKOUT_S": ("1e3", 1000.0, None),
    "ESCALATION_INTERVAL_S": ("0", 0.0, 0),  # 0: never
}


@pytest.mark.parametrize("key", NUMBERS)
def test_numeric_settings_are_read_from_the_environment(tmp_path, key) -> None:
    written, read, _ = NUMBERS[key]
    assert build_config(data_dir=tmp_path, environ={key: written})[key] == read


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("NOTIFY_RETRIES", "x", "not a whole number of retries (e.g. 3)"),
        ("NOTIFY_RETRIES", "-1", "must be a whole number of retries, 0 or more"),
        ("NOTIFY_RETRIES", "2.5", "not a whole number of retries (e.g. 3)"),
        ("JOB_WORKERS", "-2", "must be a whole number of worker threads, 0 or more"),
        (
            "OPEN311_MAX_REQUESTS_PER_HOUR",
            "many",
            "not a whole number of requests an hour (e.g. 500)",
        ),
        (
            "OPEN311_MAX_REQUESTS_PER_HOUR",
            "-1",
            "must be a whole number of requests an hour, 0 or more",
        ),
        (
            "PROXY_HOPS",
            "-1",
            "must be a whole number of proxies in front of the station, 0 or more",
        ),
        ("LOGIN_MAX_FAILURES", "0", "must be a whole number of failed sign-ins, 1 or more"),
        ("CELERY_VISIBILITY_TIMEOUT_S", "0", "must be a whole number of seconds, 1 or more"),
        ("CELERY_RESTORE_INTERVAL_S", "1.5", "not a whole number of seconds (e.g. 10)"),
        ("JOB_LEASE_S", "-5", "must be a number of seconds above 0"),
        ("JOB_LEASE_S", "0", "must be a number of seconds above 0"),
        ("JOB_LEASE_S", "inf", "not a number of seconds (e.g. 120)"),
        ("NOTIFY_RETRY_S", "-1", "must be a number of seconds above 0"),
        ("LOGIN_LOCKOUT_S", "15m", "not a number of seconds (e.g. 900)"),
        ("ESCALATION_INTERVAL_S", "abc", "not a number of seconds (e.g. 300)"),
        ("ESCALATION_INTERVAL_S", "nan", "not a number of seconds (e.g. 300)"),
        ("ESCALATION_INTERVAL_S", "-1", "must be a number of seconds, 0 or more (0: never)"),
    ],
)
def test_a_bad_number_stops_the_station_naming_it_and_what_it_takes(
    tmp_path, key, value, why
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(data_dir=tmp_path, environ={key: value})
    assert str(caught.value) == f"environment {key}={value!r}: {why}"


def test_every_numeric_setting_is_checked() -> None:
    """A numeric setting added later gets a bound and a test here, not a bare int()."""
    from groundstation.config import _ENV_KEYS

    numeric = {key for key in _ENV_KEYS if isinstance(DEFAULTS[key], int | float)}
    numeric -= {key for key in _ENV_KEYS if isinstance(DEFAULTS[key], bool)}
    assert numeric - set(LIMITS) == set(NUMBERS)
    assert all(_ENV_KEYS[key] not in (int, float) for key in _ENV_KEYS)


class _RecordingCelery:
    """Stands in for the Celery app: records the job ids announced to Redis."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.gridpatrol_run_job = self

    def apply_async(self, args, countdown=None) -> None:
        self.sent.append(args[0])


def test_sweep_announces_a_job_redis_missed_once(storage) -> None:
    """A flight stored while Redis was down is run once Redis is back, without waiting for the
    visibility timeout, and a job still waiting is not announced again at every sweep."""
    from groundstation.jobs import CeleryQueue

    celery = _RecordingCelery()
    queue = CeleryQueue(JobRunner(storage, handlers={"x": lambda ctx, p: {}}), celery)
    job_id = queue.runner.enqueue("x", {})  # stored; the announcement was lost
    with storage.session() as session:
        session.execute(update(Job).values(created_at=utcnow() - timedelta(seconds=30)))
        session.commit()
    assert queue.sweep(queued_older_than_s=10, resend_after_s=600) == [job_id]
    assert queue.sweep(queued_older_than_s=10, resend_after_s=600) == []
    assert celery.sent == [job_id]
    assert queue.sweep(queued_older_than_s=10, resend_after_s=0) == [job_id]  # period over


def test_a_database_outage_is_a_503_not_a_traceback(tmp_path, caplog) -> None:
    """While PostgreSQL is down every API call fails: the client gets a 503 saying so (and
    may retry), the log one line per request."""
    from conftest import make_env
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    env = make_env(f"sqlite:///{tmp_path / 'gp.sqlite3'}", tmp_path / "data")
    storage = env.app.extensions["gridpatrol"].storage
    assert env.client().get("/api/v1/me", headers=env.headers("pilot")).status_code == 200
    down = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")  # nothing listens
    storage.sessionmaker = sessionmaker(down)
    try:
        with caplog.at_level("WARNING", logger="groundstation.app"):
            response = env.client().get("/api/v1/tickets", headers=env.headers("supervisor"))
        assert response.status_code == 503
        assert response.json == {"error": "the database is unavailable; try again shortly"}
        assert any("database unavailable" in r.message for r in caplog.records)
        assert not any(r.exc_info for r in caplog.records)
    finally:
        down.dispose()
        storage.dispose()
