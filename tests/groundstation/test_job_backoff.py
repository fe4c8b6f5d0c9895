"""Jobs that back off: a handler's RetryLater queues the job again not before its delay, a job
scheduled for later waits, and neither the sweep nor an early Celery message runs it sooner."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from groundstation.jobs import JobRunner, RetryLater, schedule_job
from groundstation.models import Job
from groundstation.storage import Storage


@pytest.fixture
def storage(tmp_path) -> Storage:
    storage = Storage(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    storage.upgrade()
    yield storage
    storage.dispose()


def test_retry_later_backs_off_then_fails_when_attempts_are_spent(storage) -> None:
    seen = []

    def flaky(ctx, payload):
        seen.append((ctx.attempt, ctx.max_attempts))
        raise RetryLater("robot unreachable", after_s=0.3)

    runner = JobRunner(storage, handlers={"flaky": flaky})
    job_id = runner.enqueue("flaky", {}, max_attempts=2)
    assert runner.run_pending() == 1
    assert runner.run_pending() == 0  # backing off
    assert runner.stale_job_ids(queued_older_than_s=0) == []  # the sweep leaves it too
    outcome = runner.run_job(job_id)  # a Celery message that came early
    assert outcome.state == "busy" and 0 < outcome.retry_in_s <= 0.8
    time.sleep(0.35)
    assert runner.stale_job_ids(queued_older_than_s=0) == [job_id]
    assert runner.run_pending() == 1
    assert seen == [(1, 2), (2, 2)]
    with storage.session() as session:
        job = session.get(Job, job_id)
        assert (job.state, job.error, job.lease_until) == ("failed", "robot unreachable", None)


def test_retry_later_outcome_tells_celery_the_delay(storage) -> None:
    runner = JobRunner(
        storage, handlers={"x": lambda c, p: (_ for _ in ()).throw(RetryLater("no", after_s=7))}
    )
    job_id = runner.enqueue("x", {}, max_attempts=3)
    assert runner.run_job(job_id).retry_in_s == 7


def test_a_scheduled_job_waits_for_its_time(storage) -> None:
    runner = JobRunner(storage, handlers={"x": lambda c, p: {"ran": True}})
    with storage.session() as session:
        job = schedule_job(session, "x", {"n": 1}, after_s=60, max_attempts=2)
        session.commit()
        job_id = job.id
    assert runner.claim_next() is None and runner.run_pending() == 0
    with storage.session() as session:  # its time has come
        session.execute(update(Job).where(Job.id == job_id).values(lease_until=None))
        session.commit()
    assert runner.run_pending() == 1
    with storage.session() as session:
        assert session.get(Job, job_id).result == {"ran": True}
