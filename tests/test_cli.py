"""The `gridpatrol` entry point: help, version, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from gis.errors import CoordinateError
from groundstation.cli import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_global_options(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "--verbose" in result.output
    assert "--version" in result.output


def test_version_prints_the_installed_version(runner: CliRunner) -> None:
    from importlib import metadata

    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert metadata.version("gridpatrol") in result.output


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


@pytest.fixture
def failing_command():
    """A throwaway command raising a GridPatrol error, registered for one test only."""

    @click.command("explode")
    def explode() -> None:
        raise CoordinateError("grid 'G7': latitude and longitude look swapped")

    cli.add_command(explode)
    yield explode
    cli.commands.pop("explode")


def test_package_error_becomes_one_line_and_exit_1(runner: CliRunner, failing_command) -> None:
    result = runner.invoke(cli, ["explode"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: grid 'G7': latitude and longitude look swapped"
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback(runner: CliRunner, failing_command) -> None:
    result = runner.invoke(cli, ["--verbose", "explode"])
    assert isinstance(result.exception, CoordinateError)


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "groundstation.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "GridPatrol" in result.stdout


def test_help_does_not_import_torch_or_flask() -> None:
    script = (
        "import sys\nfrom groundstation.cli import cli\n"
        "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'flask') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[]")
