"""The `gridpatrol` command: one click group, each subcommand a thin call into a package.

Heavy libraries (torch, flask) are imported inside the commands that need them, so `--help` is fast.
Any GridPatrol error becomes one line on stderr and exit status 1; `--verbose` shows the traceback.
"""

from __future__ import annotations

import logging
import sys
from importlib import metadata

import click

from gis.errors import GisError
from groundstation.errors import GroundStationError
from missions.errors import MissionError
from simulator.errors import SimulatorError
from vision.errors import VisionError

__all__ = ["main", "cli"]

#: Errors the CLI reports as one line; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    GisError,
    MissionError,
    SimulatorError,
    VisionError,
    GroundStationError,
)


class GridPatrolGroup(click.Group):
    """A click group that turns GridPatrol's errors into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            if (ctx.obj or {}).get("verbose"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


def _version() -> str:
    try:
        return metadata.version("gridpatrol")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


@click.group(cls=GridPatrolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress in detail and show tracebacks.")
@click.version_option(_version(), "--version", prog_name="gridpatrol")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """GridPatrol: drone patrols for grid governance (网格化治理).

    Plan coverage flights over grid polygons, fly them on a real ArduPilot vehicle or the built-in
    simulator, classify the photos and run the findings as tickets to closure.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _register_commands() -> None:
    """Each subcommand lives in its own module; heavy imports stay inside the commands."""
    from groundstation.cli.classify import classify_command
    from groundstation.cli.db import db_command
    from groundstation.cli.demo import demo_command
    from groundstation.cli.evaluate import evaluate_command
    from groundstation.cli.fly import fly_command
    from groundstation.cli.plan import plan_command
    from groundstation.cli.serve import serve_command
    from groundstation.cli.sitl import sitl_command
    from groundstation.cli.train import train_command
    from groundstation.cli.upload import upload_command
    from groundstation.cli.worker import worker_command

    commands = (
        demo_command,
        plan_command,
        upload_command,
        fly_command,
        sitl_command,
        classify_command,
        train_command,
        evaluate_command,
        db_command,
        serve_command,
        worker_command,
    )
    for command in commands:
        cli.add_command(command)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="gridpatrol")
