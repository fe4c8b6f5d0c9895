"""The one door to background work: durable jobs in the database, run by threads or by Celery.

Every job is a row in ``jobs`` before anything runs it. A worker *claims* a job with one atomic
UPDATE that also sets a lease; handlers call :meth:`JobContext.heartbeat` to extend it. A worker
killed mid-job simply stops renewing its lease, and the job is claimed again once the lease expires.
Handlers are idempotent (ingest commits each photo together with its findings), so a re-run loses
nothing and duplicates nothing.

``lease_until`` is a job's time lock: for a running job, when its lease expires; for a queued job,
the earliest time it may run (a handler that raises :class:`RetryLater` backs off this way, and
:func:`schedule_job` stores a job to run later).

- :class:`ThreadQueue` (default): worker threads in this process poll the table.
- :class:`CeleryQueue` (``REDIS_URL`` set): each job is also a Celery message on Redis, with late
  acknowledgement, so a message held by a dead worker is redelivered; ``gridpatrol worker`` runs the
  consumers and sweeps the table for jobs whose lease expired. A job stored to run later
  (:func:`schedule_job`) is announced with a countdown once committed (:meth:`JobQueue.announce`),
  so Celery runs it at its time; the sweep only catches what was never announced.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import traceback
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from groundstation.config import redacted_url
from groundstation.errors import ConfigError, JobError
from groundstation.models import Job, utcnow
from groundstation.storage import Storage

__all__ = [
    "Handler",
    "JobContext",
    "RetryLater",
    "JobRunner",
    "JobQueue",
    "ThreadQueue",
    "CeleryQueue",
    "make_celery",
    "default_handlers",
    "build_queue",
    "run_schedule",
    "schedule_job",
    "check_redis",
    "first_line",
]

log = logging.getLogger("gridpatrol.jobs")

Handler = Callable[["JobContext", dict[str, Any]], dict[str, Any] | None]


@dataclass
class JobContext:
    """What a handler gets: its job id, the storage, the settings and a lease heartbeat."""

    runner: JobRunner
    job_id: int
    cache: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1  # this run's number (1 for the first)
    max_attempts: int = 1  # runs the job may have in all

    @property
    def storage(self) -> Storage:
        return self.runner.storage

    @property
    def config(self) -> Mapping[str, Any]:
        return self.runner.config

    @property
    def queue(self) -> JobQueue | None:
        """The queue that runs this job, to announce the jobs a handler stores."""
        return self.runner.queue

    def heartbeat(self) -> None:
        """Extend this job's lease; raise :class:`JobError` if another worker has taken it over."""
        self.runner.extend_lease(self.job_id)


class RetryLater(JobError):
    """Raised by a handler: this attempt failed (the message says why); run the job again in
    ``after_s`` seconds if it has attempts left, else it has failed."""

    def __init__(self, reason: str, *, after_s: float) -> None:
        super().__init__(reason)
        self.after_s = max(0.0, after_s)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened when a worker tried to run one job."""

    job_id: int
    state: str  # done | failed | queued (will retry) | busy (leased elsewhere) | gone (no such job)
    retry_in_s: float | None = None
    owner: str | None = None  # busy: the worker running it (None: queued to run later)


class JobRunner:
    """Claims and runs jobs from the table; shared by every queue implementation."""

    def __init__(
        self,
        storage: Storage,
        *,
        handlers: Mapping[str, Handler] | None = None,
        config: Mapping[str, Any] | None = None,
        lease_s: float = 120.0,
        owner: str | None = None,
    ) -> None:
        self.storage = storage
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.config: Mapping[str, Any] = config or {}
        self.lease = timedelta(seconds=lease_s)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.services: dict[str, Any] = {}  # per-process caches handlers may fill (classifier)
        self.queue: JobQueue | None = None  # set by the queue built on this runner

    # -- producing -------------------------------------------------------------------------
    def enqueue(
        self, kind: str, payload: Mapping[str, Any] | None = None, *, max_attempts: int = 5
    ) -> int:
        """Store a new job and return its id."""
        job = self._new_job(kind, payload, max_attempts=max_attempts)
        with self.storage.session() as session:
            session.add(job)
            session.commit()
            return job.id

    def _new_job(
        self, kind: str, payload: Mapping[str, Any] | None = None, *, max_attempts: int = 5
    ) -> Job:
        """A queued job of a kind this runner has a handler for, created now (not stored)."""
        if kind not in self.handlers:
            raise JobError(f"no handler for job kind {kind!r} (known: {', '.join(self.handlers)})")
        return Job(
            kind=kind,
            payload=dict(payload or {}),
            state="queued",
            attempts=0,
            max_attempts=max_attempts,
            created_at=utcnow(),
        )

    def enqueue_periodic(self, kind: str, every_s: float) -> int | None:
        """Store a ``kind`` job unless one is pending or one was stored less than ``every_s``
        ago; return its id, or None. Atomic across processes, so every scheduler (one per
        worker and per `serve`) may call it often and the job is still queued once per period."""
        job = self._new_job(kind)
        with self.storage.session() as session:
            self._lock_schedule(session, kind)
            now = job.created_at = utcnow()  # after the lock: the period counts from here
            recent = session.scalar(
                select(Job.id)
                .where(
                    Job.kind == kind,
                    or_(
                        Job.state.in_(("queued", "running")),
                        Job.created_at > now - timedelta(seconds=every_s),
                    ),
                )
                .limit(1)
            )
            if recent is not None:
                session.commit()  # releases the lock
                return None
            session.add(job)
            session.commit()
            return job.id

    def _lock_schedule(self, session: Session, kind: str) -> None:
        """Serialise schedulers until the session commits: a PostgreSQL advisory lock; on
        SQLite, the database write lock (taken by a write that changes nothing)."""
        if self.storage.dialect == "postgresql":
            key = zlib.crc32(f"gridpatrol.schedule.{kind}".encode())
            session.execute(select(func.pg_advisory_xact_lock(key)))
        else:
            session.execute(
                update(Job)
                .where(false())
                .values(kind=Job.kind)
                .execution_options(synchronize_session=False)
            )

    # -- claiming --------------------------------------------------------------------------
    def _claimable(self, now: datetime):
        return or_(
            and_(Job.state == "queued", _due(now)),
            and_(Job.state == "running", Job.lease_until < now),
        )

    def claim(self, job_id: int) -> bool:
        """Atomically take ``job_id`` if it is queued or its lease has expired."""
        now = utcnow()
        with self.storage.session() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, self._claimable(now))
                .values(
                    state="running",
                    lease_owner=self.owner,
                    lease_until=now + self.lease,
                    attempts=Job.attempts + 1,
                    started_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return result.rowcount == 1

    def claim_next(self) -> int | None:
        """Claim the oldest claimable job, if any."""
        now = utcnow()
        with self.storage.session() as session:
            candidates = list(
                session.scalars(
                    select(Job.id).where(self._claimable(now)).order_by(Job.id).limit(8)
                )
            )
        for job_id in candidates:
            if self.claim(job_id):
                return job_id
        return None

    def extend_lease(self, job_id: int) -> None:
        now = utcnow()
        with self.storage.session() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.lease_owner == self.owner, Job.state == "running")
                .values(lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        if result.rowcount != 1:
            raise JobError(f"job {job_id}: lease lost to another worker; stopping this run")

    def stale_job_ids(self, *, queued_older_than_s: float) -> list[int]:
        """Jobs nobody is running: queued for long, or running with an expired lease."""
        now = utcnow()
        with self.storage.session() as session:
            return list(
                session.scalars(
                    select(Job.id)
                    .where(
                        or_(
                            and_(
                                Job.state == "queued",
                                Job.created_at < now - timedelta(seconds=queued_older_than_s),
                                _due(now),
                            ),
                            and_(Job.state == "running", Job.lease_until < now),
                        )
                    )
                    .order_by(Job.id)
                )
            )

    # -- running ---------------------------------------------------------------------------
    def run_claimed(self, job_id: int) -> RunOutcome:
        """Run a job this runner has claimed and record its outcome."""
        with self.storage.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                return RunOutcome(job_id, "gone")
            kind, payload, attempts, max_attempts = (
                job.kind,
                dict(job.payload),
                job.attempts,
                job.max_attempts,
            )
        handler = self.handlers.get(kind)
        error: str | None = None
        result: dict[str, Any] | None = None
        backoff_s: float | None = None
        if handler is None:
            error, attempts = f"no handler for job kind {kind!r}", max_attempts
        else:
            context = JobContext(self, job_id, attempt=attempts, max_attempts=max_attempts)
            try:
                result = handler(context, payload) or {}
            except RetryLater as exc:  # an expected failure: one line, no traceback
                error, backoff_s = str(exc), exc.after_s
                log.warning(
                    "job %s (%s) attempt %s of %s failed: %s",
                    job_id,
                    kind,
                    attempts,
                    max_attempts,
                    error,
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "job %s (%s) attempt %s failed: %s\n%s",
                    job_id,
                    kind,
                    attempts,
                    error,
                    traceback.format_exc(),
                )
        now = utcnow()
        with self.storage.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.lease_owner != self.owner:
                return RunOutcome(job_id, "busy")
            if error is None:
                job.state, job.result, job.error = "done", result, None
            elif attempts < max_attempts:
                job.state, job.error = "queued", error
            else:
                job.state, job.error = "failed", error
            if job.state != "queued":
                job.finished_at = now
            job.lease_owner, job.lease_until = None, None
            if job.state == "queued" and backoff_s:
                job.lease_until = now + timedelta(seconds=backoff_s)  # not before
            session.commit()
            state = job.state
        retry_in_s = None if state != "queued" else 5.0 if backoff_s is None else backoff_s
        return RunOutcome(job_id, state, retry_in_s=retry_in_s)

    def run_job(self, job_id: int) -> RunOutcome:
        """Claim and run one specific job (the Celery task body)."""
        if not self.claim(job_id):
            with self.storage.session() as session:
                job = session.get(Job, job_id)
                if job is None:
                    return RunOutcome(job_id, "gone")
                if job.state in ("running", "queued") and job.lease_until is not None:
                    # leased elsewhere, or queued to run later (a message that came early)
                    wait = (job.lease_until - utcnow()).total_seconds() + 0.5
                    owner = job.lease_owner if job.state == "running" else None
                    return RunOutcome(job_id, "busy", retry_in_s=max(wait, 0.5), owner=owner)
                return RunOutcome(job_id, job.state)
        return self.run_claimed(job_id)

    def run_until_finished(
        self,
        job_id: int,
        *,
        timeout_s: float,
        poll_s: float = 0.5,
        on_wait: Callable[[RunOutcome], None] | None = None,
    ) -> RunOutcome:
        """Run ``job_id`` to its end, ``done`` or ``failed``, whoever runs it: here when it can
        be claimed (retries included, once due), else waiting while another worker holds it (a
        station serving the same database took it). ``on_wait`` hears of each worker found
        holding it. A :class:`JobError` naming the job when it has not ended in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        holder: str | None = None
        while True:
            outcome = self.run_job(job_id)
            if outcome.state in ("done", "failed", "gone"):
                return outcome
            if outcome.owner is not None and outcome.owner != holder:
                holder = outcome.owner
                if on_wait is not None:
                    on_wait(outcome)
            left = deadline - time.monotonic()
            if left <= 0:
                held = f", held by {outcome.owner}" if outcome.owner else ""
                raise JobError(
                    f"job {job_id}: not finished after {timeout_s:g} s "
                    f"(still {outcome.state}{held})"
                )
            time.sleep(min(poll_s, left, outcome.retry_in_s or poll_s))

    def run_pending(self, *, limit: int | None = None) -> int:
        """Run claimable jobs in this thread until none is left (or ``limit``); return the count."""
        count = 0
        while limit is None or count < limit:
            job_id = self.claim_next()
            if job_id is None:
                break
            self.run_claimed(job_id)
            count += 1
        return count


class JobQueue(Protocol):
    """What the app uses: put work in, start and stop whatever runs it."""

    runner: JobRunner

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None) -> int: ...

    def announce(self, job_id: int, *, countdown: float | None = None) -> None:
        """Tell the workers of a committed job, due in ``countdown`` seconds (None: now)."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class ThreadQueue:
    """Durable jobs run by worker threads in this process (the embedded default)."""

    def __init__(
        self,
        runner: JobRunner,
        *,
        workers: int = 2,
        poll_s: float = 0.5,
        escalation_interval_s: float = 0.0,
    ) -> None:
        self.runner = runner
        runner.queue = self
        self.workers = workers
        self.poll_s = poll_s
        self.escalation_interval_s = escalation_interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        job_id = self.runner.enqueue(kind, payload)
        self.announce(job_id)
        return job_id

    def announce(self, job_id: int, *, countdown: float | None = None) -> None:
        """Wake a worker thread for a stored job that is due now (the threads poll the table,
        so a job due later is found at its time)."""
        if not countdown:
            self._wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"gridpatrol-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.escalation_interval_s > 0 and "escalate" in self.runner.handlers:
            thread = threading.Thread(
                target=self._schedule, name="gridpatrol-scheduler", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.runner.run_pending(limit=1)
            except Exception as exc:  # database briefly unavailable: keep the worker alive
                log.warning("job worker loop: %s", first_line(exc))
                ran = 0
            if not ran:
                self._wake.wait(self.poll_s)
                self._wake.clear()

    def _schedule(self) -> None:
        run_schedule(self, "escalate", self.escalation_interval_s, self._stop)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()


def _due(now: datetime):
    """A queued job may run: it has no time lock, or its time has come."""
    return or_(Job.lease_until.is_(None), Job.lease_until <= now)


def schedule_job(
    session: Session,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    after_s: float = 0.0,
    max_attempts: int = 5,
) -> Job:
    """Add a ``kind`` job that may run ``after_s`` seconds from now to ``session`` (stored when
    the caller commits, together with the change it follows from). Once committed, the caller
    announces it (:meth:`JobQueue.announce` with ``countdown=after_s``): Celery then runs it at
    its time. Worker threads find it by polling; the Celery workers' sweep announces a job
    nobody announced once it is due."""
    now = utcnow()
    job = Job(
        kind=kind,
        payload=dict(payload or {}),
        state="queued",
        attempts=0,
        max_attempts=max_attempts,
        created_at=now,
        lease_until=now + timedelta(seconds=after_s) if after_s > 0 else None,
    )
    session.add(job)
    return job


def check_redis(url: str, *, timeout_s: float = 3.0) -> None:
    """A one-line :class:`JobError` naming ``url`` (password hidden) unless Redis answers there.

    Redis reached but refusing the URL's settings (a database index it does not have, a wrong
    user or password, an ACL denying the commands) is a :class:`ConfigError` instead: waiting
    for Redis cannot fix it, so callers must not retry.
    """
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except (redis.ResponseError, redis.AuthenticationError) as exc:
        reason = f"refuses the URL's settings ({first_line(exc)})"
        if "DB index is out of range" in str(exc):
            db = client.connection_pool.connection_kwargs.get("db", 0)
            reason = (
                f"has no database {db} (DB index is out of range: 0 to 15 unless its "
                "'databases' setting says otherwise)"
            )
        raise ConfigError(
            f"REDIS_URL {redacted_url(url)!r}: Redis answers but {reason}; fix REDIS_URL, "
            "as retrying cannot help"
        ) from None
    except (redis.RedisError, OSError) as exc:
        raise JobError(f"Redis at {redacted_url(url)} is unreachable ({first_line(exc)})") from None
    finally:
        client.close()


def first_line(exc: BaseException) -> str:
    """An error in one line for the log (a driver's message runs over several)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run_schedule(queue: JobQueue, kind: str, every_s: float, stop: threading.Event) -> None:
    """Queue a ``kind`` job every ``every_s`` seconds until ``stop`` is set. Any number of
    processes may run this: :meth:`JobRunner.enqueue_periodic` queues it once per period."""
    while not stop.wait(every_s / 4):
        try:
            job_id = queue.runner.enqueue_periodic(kind, every_s)
            if job_id is not None:
                queue.announce(job_id)
        except Exception as exc:  # database briefly unavailable: try again next time
            log.warning("%s scheduler: %s", kind, first_line(exc))


def make_celery(config: Mapping[str, Any], runner_factory: Callable[[], JobRunner]) -> Any:
    """A Celery app on ``REDIS_URL`` with the one task, ``gridpatrol.run_job(job_id)``."""
    from celery import Celery

    if not config.get("REDIS_URL"):
        raise JobError("Celery needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    queue = config.get("CELERY_QUEUE", "gridpatrol")
    app = Celery("gridpatrol", broker=config["REDIS_URL"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": int(config.get("CELERY_VISIBILITY_TIMEOUT_S", 600)),
            "unacked_restore_interval": max(1, int(config.get("CELERY_RESTORE_INTERVAL_S", 10))),
        },
    )

    @app.task(name="gridpatrol.run_job", bind=True, max_retries=None)
    def run_job(self: Any, job_id: int) -> str:
        outcome = runner_factory().run_job(int(job_id))
        if outcome.retry_in_s is not None:
            raise self.retry(countdown=outcome.retry_in_s)
        return outcome.state

    app.gridpatrol_run_job = run_job
    return app


class CeleryQueue:
    """Durable jobs announced to Celery workers on Redis (``gridpatrol worker``)."""

    def __init__(self, runner: JobRunner, celery_app: Any) -> None:
        self.runner = runner
        runner.queue = self
        self.celery = celery_app
        self._swept: dict[int, float] = {}  # job id -> when this process's sweep last sent it

    def enqueue(self, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        job_id = self.runner.enqueue(kind, payload)
        self.send(job_id)
        return job_id

    def send(self, job_id: int, *, countdown: float | None = None) -> None:
        """Announce a committed job to the Celery workers, to run in ``countdown`` seconds."""
        try:
            self.celery.gridpatrol_run_job.apply_async(args=[job_id], countdown=countdown)
        except Exception as exc:  # the row is stored: the worker's sweep will still find it
            log.warning("job %s stored but not announced to Redis: %s", job_id, exc)

    announce = send

    def sweep(self, *, queued_older_than_s: float, resend_after_s: float = 0.0) -> list[int]:
        """Re-announce jobs nobody is running (their worker died, or Redis was down when they
        were stored), each at most once per ``resend_after_s``; return their ids."""
        now = time.monotonic()
        stale = self.runner.stale_job_ids(queued_older_than_s=queued_older_than_s)
        self._swept = {i: t for i, t in self._swept.items() if i in stale}
        ids = [i for i in stale if now - self._swept.get(i, -math.inf) >= resend_after_s]
        for job_id in ids:
            self.send(job_id)
            self._swept[job_id] = now
        return ids

    def start(self) -> None:
        """Nothing to start here: `gridpatrol worker` runs the consumers."""

    def stop(self) -> None:
        """Nothing to stop here."""


def default_handlers() -> dict[str, Handler]:
    """The built-in job kinds: ``ingest_flight``, ``escalate`` and ``notify`` (a failed notice
    sent again)."""
    from groundstation.ingest import ingest_job
    from groundstation.notify import redeliver_job
    from groundstation.tickets import escalate_overdue

    def escalate_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
        from groundstation.notify import notifiers_from_config

        hub = notifiers_from_config(ctx.config, queue=ctx.queue)
        with ctx.storage.session() as session:
            messages = escalate_overdue(session)
            hub.deliver(session, messages)
        return {"escalated": [m.ticket_id for m in messages]}

    return {"ingest_flight": ingest_job, "escalate": escalate_job, "notify": redeliver_job}


def build_queue(
    config: Mapping[str, Any], storage: Storage, *, handlers: Mapping[str, Handler] | None = None
) -> JobQueue:
    """The queue the settings ask for: Celery when ``REDIS_URL`` is set, else threads."""
    runner = JobRunner(
        storage,
        handlers=handlers or default_handlers(),
        config=config,
        lease_s=float(config.get("JOB_LEASE_S", 120.0)),
    )
    if config.get("REDIS_URL"):
        return CeleryQueue(runner, make_celery(config, lambda: runner))
    return ThreadQueue(
        runner,
        workers=int(config.get("JOB_WORKERS", 2)),
        poll_s=float(config.get("JOB_POLL_S", 0.5)),
        escalation_interval_s=float(config.get("ESCALATION_INTERVAL_S", 0.0)),
    )
