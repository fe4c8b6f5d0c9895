"""`gridpatrol worker`: run background jobs (Celery with REDIS_URL, else DB-polling threads)."""

from __future__ import annotations

import logging
import signal
import threading

import click

from groundstation.cli.serve import data_dir_option

__all__ = ["worker_command"]

log = logging.getLogger("gridpatrol.worker")


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
@data_dir_option
def worker_command(concurrency: int, sweep_interval: float, data_dir: str | None) -> None:
    """Run ingest and escalation jobs until interrupted.

    With REDIS_URL set this is a Celery worker (late acknowledgement: a killed worker's job is
    delivered again); otherwise it polls the database's job table like `serve`'s threads do.
    Either way a job whose worker died is picked up again once its lease expires.
    """
    from groundstation.config import build_config
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
        except KeyboardInterrupt:
            pass
        finally:
            queue.stop()
        return

    assert isinstance(queue, CeleryQueue)

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
    click.echo(f"gridpatrol worker: Celery on {config['REDIS_URL']}, concurrency {concurrency}")
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
