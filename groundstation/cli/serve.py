"""`gridpatrol serve`: run the ground station web app (with in-process job workers by default)."""

from __future__ import annotations

from typing import Any

import click

from groundstation.errors import ConfigError

__all__ = [
    "serve_command",
    "data_dir_option",
    "bind_server",
    "bound_port",
    "check_port",
    "run_server",
]

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    envvar="GRIDPATROL_DATA_DIR",
    help="Folder for the SQLite database, photos and logs (default: a per-user data folder).",
)


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface; the default answers this machine only).",
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0, 64),
    help="In-process job worker threads (ignored with REDIS_URL: run `gridpatrol worker`).",
)
@click.option(
    "--threads",
    default=32,
    show_default=True,
    type=click.IntRange(4, 512),
    help="Request threads; every open live-flight page holds one for its event stream.",
)
@data_dir_option
def serve_command(host: str, port: int, workers: int, threads: int, data_dir: str | None) -> None:
    """Serve the ground station: review, tickets, JSON API and Open311.

    The embedded SQLite database is created and migrated on first start; with DATABASE_URL set,
    run `gridpatrol db upgrade` first. One process (flight sessions live in it) on waitress, a
    production WSGI server; put an HTTPS proxy in front for other machines.
    """
    from groundstation.app import create_app

    app = create_app(
        {"DATA_DIR": data_dir, "JOB_WORKERS": workers} if data_dir else {"JOB_WORKERS": workers}
    )
    server = bind_server(app, host, port, threads=threads)
    url = f"http://{host}:{bound_port(server)}/"
    click.echo(f"GridPatrol ground station on {url} (data: {app.config['DATA_DIR']})")
    run_server(server)


def bind_server(app: object, host: str, port: int, *, threads: int = 32) -> Any:
    """A waitress server listening on ``host:port``, not serving yet (threads; event streams
    flush at once); ConfigError in one line when the address cannot be had."""
    import logging

    from waitress.server import create_server

    logging.basicConfig()  # waitress logs its warnings through the root logger
    try:
        return create_server(app, host=host, port=port, threads=threads, ident="gridpatrol")
    except OSError as exc:
        raise _unavailable(host, port, exc) from None


def bound_port(server: Any) -> int:
    """The port ``server`` (from :func:`bind_server`) listens on: the one the system chose
    for port 0. A host with several addresses (e.g. localhost) gives the first socket's."""
    listening = getattr(server, "effective_listen", None)  # waitress's MultiSocketServer
    return int(listening[0][1] if listening else server.effective_port)


def check_port(host: str, port: int) -> None:
    """ConfigError now if ``host:port`` cannot be listened on (before long work that ends in
    serving, e.g. the demo)."""
    import socket

    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        raise _unavailable(host, port, exc) from None


def run_server(server: Any) -> None:
    """Serve until stopped. SIGTERM or SIGHUP (a service manager's stop) end it quietly; Ctrl-C
    goes on to the CLI, which says so and exits 130 (waitress itself ends quietly on both)."""
    import signal
    import threading

    from groundstation.cli import StartupInterrupted

    interrupted: list[int] = []

    def on_ctrl_c(number: int, frame: object) -> None:
        interrupted.append(number)
        raise KeyboardInterrupt

    ours = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if ours:
        signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        server.run()
    except StartupInterrupted as exc:
        if exc.signal_name == "SIGINT":
            raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        server.close()
    if interrupted:
        raise KeyboardInterrupt


def _unavailable(host: str, port: int, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot listen on {host}:{port}: {exc.strerror or exc} "
        "(another server may be using the port: choose another with --port)"
    )
