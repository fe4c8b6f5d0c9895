"""`gridpatrol upload PLAN --connect URL`: put a plan's mission, fence and rally on a vehicle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["connect_option", "plan_argument", "transfer_progress", "upload_command"]


def transfer_progress() -> tuple[Any, Callable[[str, int, int], None]]:
    """A rich progress bar on stderr and its ``on_progress(label, done, total)`` callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
    )
    tasks: dict[str, Any] = {}

    def on_progress(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=max(total, 1))
        progress.update(tasks[label], completed=done if total else 1, total=max(total, 1))

    return progress, on_progress


#: The PLAN argument and --connect option shared by `upload` and `fly`.
plan_argument = click.argument(
    "plan_path", metavar="PLAN", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
connect_option = click.option(
    "--connect",
    "url",
    required=True,
    metavar="URL",
    help="tcp:HOST:PORT, udp:HOST:PORT (listen), udpout:HOST:PORT or /dev/ttyUSB0:57600",
)


@click.command("upload")
@plan_argument
@connect_option
@click.option("--no-verify", is_flag=True, help="Skip reading the lists back and comparing them.")
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the vehicle's heartbeat and position.",
)
def upload_command(plan_path: Path, url: str, no_verify: bool, timeout: float) -> None:
    """Upload PLAN (.plan or .waypoints) to the vehicle at URL and verify it item by item."""
    from gis.messages import counted
    from missions.formats import load_mission
    from missions.link import parse_connection_string

    parse_connection_string(url)  # a typo in URL fails before anything is read or opened
    from missions.items import fence_items
    from missions.link import connect

    plan = load_mission(plan_path)
    progress, on_progress = transfer_progress()
    with connect(url, timeout=timeout) as vehicle, progress:
        vehicle.upload(plan, on_progress=lambda what, k, n: on_progress(f"upload {what}", k, n))
        if not no_verify:
            vehicle.verify(plan, on_progress=lambda what, k, n: on_progress(f"verify {what}", k, n))
    checked = "not verified (--no-verify)" if no_verify else "verified"
    click.echo(
        f"uploaded {counted(len(plan.items), 'mission item')}, "
        f"{counted(len(fence_items(plan)), 'fence item')} and "
        f"{counted(len(plan.rally_points), 'rally point')} from {plan_path.name} to vehicle "
        f"{vehicle.target_system} on {url}: {checked}"
    )
