"""The `gridpatrol` command: one click group, each subcommand a thin call into a package.

Heavy libraries (torch, flask) are imported inside the commands that need them, so `--help` is fast.
Any GridPatrol error becomes one line on stderr and exit status 1; `--verbose` shows the traceback.
Ctrl-C anywhere in a command, and SIGTERM or SIGHUP before a command handles stops itself (during
the seconds the imports take, say), is one line too, saying what was stopped and what it left, with
exit status 130; so is an error that a stop caused (fly's vehicle brought back after Ctrl-C).
"""

from __future__ import annotations

import signal
import sys

#: Exit status of a command ended by Ctrl-C or a stop signal it does not handle itself (128 +
#: SIGINT, as shells report Ctrl-C).
INTERRUPTED_EXIT = 130


class StartupInterrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP; SIGINT while the CLI imports) ended a command that does
    not handle stops itself: reported like Ctrl-C, in one line, instead of a silent death."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


#: Stop signals received, by name: an import interrupted half-way may fail with another error
#: (numpy turns a KeyboardInterrupt in its C import into ImportError), which this explains.
_received: list[str] = []


def _raise_interrupted(number: int, frame: object) -> None:
    _received.append(signal.Signals(number).name)
    raise StartupInterrupted(_received[-1])


def install_stop_signals(*, sigint: bool = False) -> None:
    """Make SIGTERM and SIGHUP (and SIGINT if `sigint`) raise :class:`StartupInterrupted`
    (main thread only), so a stop during the seconds the heavy imports take ends as Ctrl-C
    does. Signals not at their default (``nohup`` ignores SIGHUP) are left alone; commands
    that handle stops themselves (fly, sitl, worker) install their own over these."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    defaults = {"SIGTERM": signal.SIG_DFL, "SIGHUP": signal.SIG_DFL}
    if sigint:
        defaults["SIGINT"] = signal.default_int_handler
    for name, default in defaults.items():
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is default:
            signal.signal(number, _raise_interrupted)


def _interrupted_line(exc: BaseException, *, command: str | None) -> str:
    """One line for a stop that ended `command` (None: while the CLI was still importing)."""
    if isinstance(exc, StartupInterrupted):
        name = exc.signal_name
    elif isinstance(exc, KeyboardInterrupt):  # plain Ctrl-C
        name = "SIGINT"
    else:  # an import that failed because a stop interrupted it
        name = _received[-1] if _received else "SIGINT"
    stop = "interrupted" if name == "SIGINT" else f"stopped by signal {name}"
    if command == "fly":
        return f"{stop} before connecting; nothing was flown"
    if command is None:
        return f"{stop} while starting; nothing was done"
    left = _LEFT_BEHIND.get(command)
    return f"{stop}; {command} stopped" + (f": {left}" if left else "")


#: What a command stopped half-way leaves behind, where that is known (its outputs are written
#: all at once at the end, or a transfer may be cut short).
_LEFT_BEHIND = {
    "plan": "no plan file written",
    "classify": "no findings written",
    "evaluate": "no metrics written",
    "upload": "if the transfer had begun, the vehicle may hold part of the mission, fence or "
    "rally list; upload again",
    "train": "its --workdir keeps the tiles and checkpoints made so far: run it again to resume",
    "demo": "what it made so far stays in its data folder",
    "worker": "a job it did not finish is taken up again once its lease expires",
}


def _stopped_by(exc: BaseException) -> bool:
    """Whether a stop (Ctrl-C, a stop signal) caused ``exc``: an error raised while a stop was
    handled, e.g. fly's FlightAborted saying it commanded RTL after Ctrl-C."""
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _exit_interrupted(exc: BaseException) -> None:
    """Leave with one line if a stop caused `exc` (raised while importing), else re-raise."""
    if not (_received or isinstance(exc, KeyboardInterrupt)):
        raise exc
    sys.stderr.write(f"error: {_interrupted_line(exc, command=None)}\n")
    sys.stderr.flush()
    raise SystemExit(INTERRUPTED_EXIT)


# The imports below take seconds on a loaded machine (shapely, rasterio, the simulator): a stop
# meanwhile is one line and status 130, never an import traceback or a silent exit.
install_stop_signals(sigint=True)
try:
    import logging
    from importlib import metadata

    import click

    from gis.errors import GisError
    from groundstation.errors import GroundStationError
    from missions.errors import MissionError
    from simulator.errors import SimulatorError
    from vision.errors import VisionError
except BaseException as _exc:
    _exit_interrupted(_exc)

__all__ = ["INTERRUPTED_EXIT", "StartupInterrupted", "cli", "install_stop_signals", "main"]

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
        _received.clear()  # stops seen by an earlier invocation in this process are not this one's
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            if (ctx.obj or {}).get("verbose"):
                raise
            click.echo(f"error: {exc}", err=True)
            # an error that a stop caused (fly's or the demo's flight brought back after
            # Ctrl-C) already says what the stop left: it ends as the stop does
            ctx.exit(INTERRUPTED_EXIT if _stopped_by(exc) else 1)
        except click.Abort as exc:  # click's prompts turn Ctrl-C into Abort ("Aborted!", 1)
            if not _stopped_by(exc):
                raise
            line = _interrupted_line(exc.__context__ or exc, command=ctx.invoked_subcommand)
            click.echo(f"error: {line}", err=True)
            ctx.exit(INTERRUPTED_EXIT)
        except KeyboardInterrupt as exc:
            # a stop the link said in words (missions.link.errors.Interrupted: "interrupted
            # (Ctrl-C)") keeps them; any other ended a command early
            link_errors = sys.modules.get("missions.link.errors")
            if link_errors is not None and isinstance(exc, link_errors.Interrupted):
                line = f"{exc}; {ctx.invoked_subcommand} stopped"
            else:
                line = _interrupted_line(exc, command=ctx.invoked_subcommand)
            click.echo(f"error: {line}", err=True)
            ctx.exit(INTERRUPTED_EXIT)


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


try:
    _register_commands()
except BaseException as _exc:
    _exit_interrupted(_exc)
finally:  # from here on Ctrl-C is plain KeyboardInterrupt again
    if signal.getsignal(signal.SIGINT) is _raise_interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="gridpatrol")
