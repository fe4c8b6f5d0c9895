"""The job queue: atomic claims, retries, lease expiry, and killed workers (DB threads and
Celery on the real Redis) losing no photo and duplicating no finding."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import HERE, ROOT, write_photo
from sqlalchemy import func, select

from groundstation.errors import JobError
from groundstation.ingest import register_flight
from groundstation.jobs import JobRunner, build_queue
from groundstation.models import Finding, Job, Photo
from groundstation.storage import Storage

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def storage(tmp_path) -> Storage:
    storage = Storage(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    storage.upgrade()
    yield storage
    storage.dispose()


def test_a_job_is_claimed_once(storage) -> None:
    ran = []
    handlers = {"echo": lambda ctx, payload: ran.append(payload["n"]) or {"n": payload["n"]}}
    a = JobRunner(storage, handlers=handlers, owner="a")
    b = JobRunner(storage, handlers=handlers, owner="b")
    job_id = a.enqueue("echo", {"n": 7})
    assert a.claim(job_id) is True
    assert b.claim(job_id) is False
    assert b.claim_next() is None
    assert a.run_claimed(job_id).state == "done"
    assert ran == [7]
    with storage.session() as session:
        job = session.get(Job, job_id)
        assert (job.state, job.result, job.attempts, job.lease_owner) == ("done", {"n": 7}, 1, None)


def test_failures_are_retried_then_failed(storage) -> None:
    calls = []

    def flaky(ctx, payload):
        calls.append(1)
        raise OSError("camera folder unreadable")

    runner = JobRunner(storage, handlers={"flaky": flaky})
    job_id = runner.enqueue("flaky", {}, max_attempts=3)
    assert runner.run_pending() == 3
    with storage.session() as session:
        job = session.get(Job, job_id)
        assert job.state == "failed" and job.attempts == 3
        assert "OSError: camera folder unreadable" in job.error
    with pytest.raises(JobError, match="no handler"):
        runner.enqueue("nope", {})


def test_expired_lease_is_taken_over(storage) -> None:
    a = JobRunner(storage, handlers={"x": lambda ctx, p: {}}, lease_s=0.2, owner="dead")
    b = JobRunner(storage, handlers={"x": lambda ctx, p: {"by": "b"}}, lease_s=5, owner="alive")
    job_id = a.enqueue("x", {})
    assert a.claim(job_id)  # ... and the process dies here
    assert b.claim_next() is None
    time.sleep(0.3)
    assert b.claim_next() == job_id
    assert b.run_claimed(job_id).state == "done"
    with pytest.raises(JobError, match="lease lost"):
        a.extend_lease(job_id)
    # the dead worker's late completion does not overwrite the result
    assert a.run_claimed(job_id).state == "busy"
    with storage.session() as session:
        assert session.get(Job, job_id).result == {"by": "b"}


def _run_in_thread(runner: JobRunner, job_id: int, **options) -> tuple[threading.Thread, dict]:
    """``runner.run_until_finished(job_id, **options)`` in a thread; its outcome or error."""
    out: dict = {}

    def run() -> None:
        try:
            out["outcome"] = runner.run_until_finished(job_id, poll_s=0.01, **options)
        except JobError as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_job_another_worker_took_is_waited_for_to_its_end(storage) -> None:
    """The demo beside a running station on the same database: the station's worker took the
    ingest job first; the demo waits for its outcome instead of failing because it is busy."""
    ran: list[str] = []
    handlers = {"x": lambda ctx, payload: ran.append(ctx.runner.owner) or {"n": 1}}
    demo = JobRunner(storage, handlers=handlers, owner="demo")
    station = JobRunner(storage, handlers=handlers, owner="station")
    job_id = demo.enqueue("x", {})
    assert station.claim(job_id)
    told = threading.Event()
    holders: list[str | None] = []

    def on_wait(outcome) -> None:
        holders.append(outcome.owner)
        told.set()

    thread, out = _run_in_thread(demo, job_id, timeout_s=120, on_wait=on_wait)
    assert told.wait(60), "the waiting runner never said who holds the job"
    assert station.run_claimed(job_id).state == "done"
    thread.join(60)
    assert out["outcome"].state == "done"
    assert ran == ["station"] and holders == ["station"]  # run once, by the station


def test_a_job_that_fails_elsewhere_ends_failed_for_the_waiter(storage) -> None:
    def broken(ctx, payload):
        raise OSError("photos folder unreadable")

    demo = JobRunner(storage, handlers={"x": broken}, owner="demo")
    station = JobRunner(storage, handlers={"x": broken}, owner="station")
    job_id = demo.enqueue("x", {}, max_attempts=1)
    assert station.claim(job_id)
    thread, out = _run_in_thread(demo, job_id, timeout_s=120)
    assert station.run_claimed(job_id).state == "failed"
    thread.join(60)
    assert out["outcome"].state == "failed"


def test_a_job_still_held_when_the_wait_ends_is_a_clear_error(storage) -> None:
    runner = JobRunner(storage, handlers={"x": lambda ctx, p: {}}, owner="demo")
    station = JobRunner(storage, handlers={"x": lambda ctx, p: {}}, owner="station")
    job_id = runner.enqueue("x", {})
    assert station.claim(job_id)  # and never finishes within the wait
    with pytest.raises(JobError, match=rf"job {job_id}: not finished .*held by station"):
        runner.run_until_finished(job_id, timeout_s=0.05, poll_s=0.01)


def test_a_job_nobody_holds_is_run_here(storage) -> None:
    runner = JobRunner(storage, handlers={"x": lambda ctx, p: {"by": ctx.runner.owner}})
    job_id = runner.enqueue("x", {})
    assert runner.run_until_finished(job_id, timeout_s=60).state == "done"
    with storage.session() as session:
        assert session.get(Job, job_id).result == {"by": runner.owner}


# -- killed workers --------------------------------------------------------------------------

PHOTOS = 8
COLOURS = [(200, 40, 30), (30, 50, 200), (128, 128, 128), (40, 200, 40)]  # 3 of 4 are findings


def _setup_flight(tmp_path: Path) -> tuple[Path, Storage, int]:
    data = tmp_path / "data"
    data.mkdir()
    storage = Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}")
    storage.upgrade()
    for i in range(PHOTOS):
        write_photo(tmp_path / "flight" / f"p{i:02d}.jpg", COLOURS[i % 4])
    return data, storage, register_flight(storage, tmp_path / "flight")


def _worker(data: Path, tmp_path: Path, name: str, **env: str) -> subprocess.Popen:
    script = (
        "from groundstation.cli import cli\n"
        "cli(['worker', '--sweep-interval', '1'])\n"
    )
    full_env = {
        **os.environ,
        "GRIDPATROL_DATA_DIR": str(data),
        "CLASSIFIER": "fakeclassifier:load",
        "FAKE_CLASSIFIER_DELAY_S": "0.3",
        "JOB_LEASE_S": "2",
        "ESCALATION_INTERVAL_S": "0",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        **env,
    }
    for key in ("DATABASE_URL",):
        full_env.pop(key, None)
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _done_photos(storage: Storage, flight_id: int) -> int:
    with storage.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(Photo)
            .where(Photo.flight_id == flight_id, Photo.status == "done")
        )


def _wait(predicate, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {what}:\n"
        + "\n".join(p.read_text()[-3000:] for p in logs if p.exists())
    )


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _check_complete(storage: Storage, flight_id: int, job_id: int) -> None:
    with storage.session() as session:
        job = session.get(Job, job_id)
        assert job.state == "done", job.error
        assert job.attempts >= 2  # the killed attempt and the one that finished
        statuses = session.scalars(select(Photo.status).where(Photo.flight_id == flight_id)).all()
        assert statuses == ["done"] * PHOTOS
        per_photo = session.execute(
            select(Finding.photo_id, func.count())
            .where(Finding.flight_id == flight_id)
            .group_by(Finding.photo_id)
        ).all()
    assert len(per_photo) == PHOTOS * 3 // 4  # every non-background photo has its finding...
    assert all(n == 1 for _, n in per_photo)  # ...exactly once


@pytest.mark.slow
def test_killed_thread_worker_loses_nothing(tmp_path) -> None:
    data, storage, flight_id = _setup_flight(tmp_path)
    job_id = JobRunner(storage, handlers={"ingest_flight": lambda c, p: None}).enqueue(
        "ingest_flight", {"flight_id": flight_id}
    )
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = _worker(data, tmp_path, "first")
    try:
        _wait(lambda: _done_photos(storage, flight_id) >= 2, 30, "first photos", logs)
    finally:
        _kill(first)
    assert _done_photos(storage, flight_id) < PHOTOS  # killed mid-job
    second = _worker(data, tmp_path, "second")
    try:
        _wait(lambda: _done_photos(storage, flight_id) == PHOTOS, 60, "the rest", logs)
        _wait(lambda: storage.sessionmaker().get(Job, job_id).state == "done", 10, "job", logs)
    finally:
        _kill(second)
    _check_complete(storage, flight_id, job_id)
    storage.dispose()


@pytest.mark.slow
def test_killed_celery_worker_loses_nothing(tmp_path) -> None:
    import redis

    queue_name = f"gridpatrol-test-{uuid.uuid4().hex[:8]}"
    celery_env = {
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue_name,
        "CELERY_VISIBILITY_TIMEOUT_S": "3",
        "CELERY_RESTORE_INTERVAL_S": "1",
    }
    data, storage, flight_id = _setup_flight(tmp_path)
    config = {
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue_name,
        "DATA_DIR": str(data),
        "CELERY_VISIBILITY_TIMEOUT_S": 3,
    }
    queue = build_queue(config, storage)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = _worker(data, tmp_path, "first", **celery_env)
    try:
        job_id = queue.enqueue("ingest_flight", {"flight_id": flight_id})
        _wait(lambda: _done_photos(storage, flight_id) >= 2, 60, "first photos", logs)
    finally:
        _kill(first)
    assert _done_photos(storage, flight_id) < PHOTOS
    second = _worker(data, tmp_path, "second", **celery_env)
    try:
        _wait(lambda: _done_photos(storage, flight_id) == PHOTOS, 90, "the rest", logs)
        _wait(lambda: storage.sessionmaker().get(Job, job_id).state == "done", 20, "job", logs)
    finally:
        _kill(second)
        redis.Redis.from_url(REDIS_URL).delete(queue_name)
    _check_complete(storage, flight_id, job_id)
    storage.dispose()
