"""`gridpatrol demo`: fly the embedded demo district end to end and report against the truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gis.messages import counted

__all__ = ["demo_command", "print_report"]


@click.command("demo")
@click.option("--quick", is_flag=True, help="A smaller district: the whole run in under 2 minutes.")
@click.option("--no-serve", is_flag=True, help="Exit after the report instead of serving it.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object on stdout.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="GRIDPATROL_DATA_DIR",
    help="Folder for the world, photos, logs and the demo's own SQLite database (default: the "
    "per-user data folder).",
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the ground station served after the report.")  # fmt: skip
def demo_command(
    quick: bool, no_serve: bool, as_json: bool, data_dir: Path | None, port: int
) -> None:
    """Fly a generated district near Jiangyan, find its planted violations and file tickets.

    Builds a world raster with violations planted at recorded positions, plans the grids, flies
    every sortie over MAVLink on the simulator, classifies the photos, files tickets and reports
    recall, precision and position error per class. Progress goes to stderr.

    The demo keeps its own SQLite database in the data folder: DATABASE_URL, REDIS_URL and the
    notifiers' settings are ignored (a note says so), so a configured station is never touched.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from groundstation.cli.serve import check_port
    from groundstation.config import resolve_data_dir
    from groundstation.demo import ignored_settings, run_demo

    root = resolve_data_dir(data_dir)
    if not no_serve:  # say now, not after the whole run, that the port is taken
        check_port("127.0.0.1", port)
    err = Console(stderr=True)
    ignored = ignored_settings()
    if ignored:
        err.print(
            f"note: the demo ignores {', '.join(ignored)} from the environment: it keeps its "
            f"own SQLite database {root / 'gridpatrol.sqlite3'} and never touches the "
            "configured station",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bars:

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=max(total, 1))
            bars.update(tasks[step], completed=done, total=max(total, 1))

        report = run_demo(root, quick=quick, progress=progress, log=bars.console.print)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print_report(report, Console(file=sys.stdout))
    if no_serve:
        _sign_in_later(root, err)
        return
    _serve(root, port, err)


def print_report(report: Any, console: Any) -> None:
    """The human report: per-class table, position error, timings, route, files."""
    from rich.table import Table

    data = report.to_json()
    table = Table(title="Planted violations vs findings")
    for col in ("class", "planted", "found", "false alarms", "recall", "precision"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for label, s in data["classes"].items():
        table.add_row(
            label, str(s["planted"]), str(s["found"]), str(s["false_alarms"]),
            _pct(s["recall"]), _pct(s["precision"]),
        )  # fmt: skip
    console.print(table)
    err = data["position_error_m"]
    console.print(
        f"position error: mean {_m(err['mean'])}, max {_m(err['max'])}; "
        f"landing → ticket median {_s(data['landing_to_ticket_s']['median'])}"
    )
    totals = report.route["totals"]
    s = report.route["settings"]
    console.print(
        f"route: {counted(totals['grids'], 'grid')}, {counted(totals['sorties'], 'sortie')}, "
        f"{totals['route_length_m'] / 1000:.2f} km, {totals['flight_time_s'] / 60:.1f} min planned "
        f"({s['profile']}, {s['camera']} at {s['altitude_m']} m, GSD {s['gsd_cm']} cm/px)"
    )
    for flight in report.flights:
        console.print(
            f"  {flight['sortie']}: {flight['flight']}; flight {flight['flight_id']}: "
            f"{counted(flight['findings'], 'finding')}, {counted(flight['tickets'], 'ticket')}"
        )
    console.print(
        f"{counted(data['photos'], 'photo')}, {counted(data['tickets'], 'ticket')} awaiting review"
    )
    for name, path in report.files.items():
        console.print(f"{name:>9}: {path}")
    console.print(f" database: {report.database}")
    console.print(f"wall time: {report.wall_s:.0f} s")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def _m(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} m"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _sign_in_later(root: Path, console: Any) -> None:
    """For a run that does not serve: create (or reset) the demo supervisor in the demo's
    database, as a serving run does, and say how to serve the folder and sign in."""
    from groundstation.demo import create_demo_supervisor, demo_config, ignored_settings
    from groundstation.storage import Storage

    storage = Storage(demo_config(root)["DATABASE_URL"])
    try:
        password = create_demo_supervisor(storage)
    finally:
        storage.dispose()
    unset = " (with DATABASE_URL unset)" if "DATABASE_URL" in ignored_settings() else ""
    console.print(
        f"to see the results: gridpatrol serve --data-dir {root}{unset}, then sign in as "
        f"demo-supervisor / {password}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _serve(root: Path, port: int, console: Any) -> None:
    from groundstation.app import create_app
    from groundstation.cli.serve import bind_server, bound_port, run_server
    from groundstation.demo import ISOLATED_SETTINGS, create_demo_supervisor

    app = create_app({**ISOLATED_SETTINGS, "DATA_DIR": str(root)})  # the demo's own database
    server = bind_server(app, "127.0.0.1", port)
    password = create_demo_supervisor(app.extensions["gridpatrol"].storage)
    console.print(
        f"GridPatrol ground station on http://127.0.0.1:{bound_port(server)}/ — "
        f"sign in as demo-supervisor / {password}"
    )
    run_server(server)
