"""`gridpatrol worker`: run background jobs (Celery with REDIS_URL, else DB-polling threads)."""

from __future__ import annotations

import logging
import signal
import threading
import time

import click

from groundstation.cli import StartupInterrupted
from groundstation.cli.serve import data_dir_option

__all__ = ["worker_command"]

log = logging.getLogger("gridpatrol.worker")

#: Seconds between tries while Redis is unreachable at start.
REDIS_RETRY_S = 5.0


def wait_for_redis(url: str, *, wait_s: float, every_s: float | None = None) -> None:
    """Return once Redis at ``url`` answers; until then print why, every ``every_s`` seconds
    (default :data:`REDIS_RETRY_S`), for up to ``wait_s`` seconds, then raise
    :class:`JobError` (the worker exits with status 1). A :class:`ConfigError` (Redis refuses
    the URL's database or credentials) is raised at once: waiting cannot fix it."""
    from groundstation.errors import JobError
    from groundstation.jobs import check_redis

    every_s = REDIS_RETRY_S if every_s is None else every_s
    deadline = time.monotonic() + wait_s
    while True:
        try:
            check_redis(url)
            return
        except JobError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JobError(
                    f"{exc}; gave up after {wait_s:g} s (--redis-wait). Check REDIS_URL and that "
                    "Redis is running; a service manager restarts the worker "
                    "(systemd: Restart=on-failure)"
                ) from None
            click.echo(
                f"gridpatrol worker: {exc}; retrying every {every_s:g} s "
                f"(giving up in {left:.0f} s)",
                err=True,
            )
            time.sleep(min(every_s, left))


@click.command("worker")
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Jobs run at the same time by this worker.",
)
@click.option(
    "--sweep-interval",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds between checks for jobs whose worker died or that Redis missed (Celery mode).",
)
@click.option(
    "--redis-wait",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for an unreachable Redis at start, saying so every few seconds, "
    "before exiting with status 1 (Celery mode).",
)
@data_dir_option
def worker_command(
    concurrency: int, sweep_interval: float, redis_wait: float, data_dir: str | None
) -> None:
    """Run ingest, escalation and notification jobs until interrupted.

    With REDIS_URL set this is a Celery worker (late acknowledgement: a killed worker's job is
    delivered again); otherwise it polls the database's job table like `serve`'s threads do.
    Either way a job whose worker died is picked up again once its lease expires.

    Redis unreachable at start: the worker prints so and retries for --redis-wait seconds, then
    exits with status 1, for a service manager to restart it and show the failure (systemd:
    Restart=on-failure). Redis refusing REDIS_URL (no such database, wrong user or password):
    exits with status 1 at once. Redis lost later: Celery reconnects, logging each try.
    """
    from groundstation.config import build_config, redacted_url
    from groundstation.jobs import CeleryQueue, ThreadQueue, build_queue, first_line, run_schedule
    from groundstation.storage import Storage

    config = build_config(data_dir=data_dir)
    storage = Storage(config["DATABASE_URL"])
    storage.check_migrated()
    queue = build_queue(config, storage)
    stop = threading.Event()

    if isinstance(queue, ThreadQueue):
        queue.workers = concurrency
        click.echo(f"gridpatrol worker: {concurrency} thread(s) polling {storage.dialect} jobs")
        queue.start()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except StartupInterrupted as exc:  # SIGHUP stops it quietly; Ctrl-C goes on to the
            if exc.signal_name == "SIGINT":  # CLI, which says so and exits 130
                raise
        finally:
            queue.stop()
        return

    assert isinstance(queue, CeleryQueue)
    wait_for_redis(config["REDIS_URL"], wait_s=redis_wait)

    def sweep() -> None:
        while not stop.wait(sweep_interval):
            try:
                ids = queue.sweep(
                    queued_older_than_s=sweep_interval,
                    resend_after_s=float(config["CELERY_VISIBILITY_TIMEOUT_S"]),
                )
                if ids:
                    log.info("re-announced jobs %s", ids)
            except Exception as exc:  # database or Redis briefly unavailable
                log.warning("job sweep: %s", first_line(exc))

    interval = float(config["ESCALATION_INTERVAL_S"])
    if interval > 0:
        args = (queue, "escalate", interval, stop)
        threading.Thread(target=run_schedule, args=args, daemon=True).start()
    threading.Thread(target=sweep, daemon=True).start()
    shown = redacted_url(config["REDIS_URL"])
    click.echo(f"gridpatrol worker: Celery on {shown}, concurrency {concurrency}")
    from celery.signals import worker_shutting_down

    stops: list[str] = []

    def shutting_down(sig: str = "", **_: object) -> None:  # Celery handles the signals itself
        stops.append(sig)

    worker_shutting_down.connect(shutting_down, weak=False)
    try:
        queue.celery.worker_main(
            [
                "worker",
                "--pool",
                "threads" if concurrency > 1 else "solo",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--queues",
                config.get("CELERY_QUEUE", "gridpatrol"),
            ]
        )
    finally:
        stop.set()
        worker_shutting_down.disconnect(shutting_down)
    if "SIGINT" in stops:  # Celery's warm shutdown on Ctrl-C is over: the CLI says so, 130
        raise KeyboardInterrupt
