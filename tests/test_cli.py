"""The `gridpatrol` entry point: help, version, exit codes and one-line errors."""

from __future__ import annotations

import json
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


def test_classify_an_empty_folder_is_an_error(runner: CliRunner, tmp_path) -> None:
    (tmp_path / "flight").mkdir()
    out = tmp_path / "findings.json"
    result = runner.invoke(cli, ["classify", str(tmp_path / "flight"), "--out", str(out)])
    assert result.exit_code == 2
    assert "no images found" in result.stderr
    assert not out.exists()


def test_classify_with_no_readable_image_exits_1_and_writes_nothing(
    runner: CliRunner, tmp_path
) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not an image")
    out, geojson = tmp_path / "findings.json", tmp_path / "findings.geojson"
    args = ["classify", str(tmp_path / "empty.jpg"), str(tmp_path / "notes.jpg")]
    result = runner.invoke(cli, [*args, "--out", str(out), "--geojson", str(geojson)])
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "error: none of the 2 inputs is a readable image; nothing written"
    assert not out.exists() and not geojson.exists()


def test_classify_output_below_a_file_is_refused(runner: CliRunner, tmp_path) -> None:
    (tmp_path / "notes").write_text("a file, not a folder")
    image = tmp_path / "p.jpg"
    image.write_bytes(b"")
    result = runner.invoke(cli, ["classify", str(image), "--out", str(tmp_path / "notes/f.json")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'notes'} is not a folder" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["db", "create-user", "", "--role", "pilot"],
        ["db", "create-user", " wang", "--role", "pilot"],
        ["db", "create-api-key", "  "],
    ],
)
def test_db_blank_names_are_refused(runner: CliRunner, tmp_path, args) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli, ["db", "upgrade", *data]).exit_code == 0
    result = runner.invoke(cli, [*args, *data], input="long-password\n")
    assert result.exit_code == 1
    assert "must be non-empty, without surrounding spaces" in result.stderr


def test_db_export_reviews_below_a_file_is_refused(runner: CliRunner, tmp_path) -> None:
    (tmp_path / "notes").write_text("a file, not a folder")
    out = tmp_path / "notes" / "export"
    data = ["--data-dir", str(tmp_path / "data")]
    result = runner.invoke(cli, ["db", "export-reviews", str(out), *data])
    assert result.exit_code == 2
    assert f"{tmp_path / 'notes'} is not a folder" in result.stderr
    assert "Traceback" not in result.output


def test_classify_a_photo_with_malformed_gps_classifies_it_unplaced(
    runner: CliRunner, tmp_path
) -> None:
    import piexif
    from PIL import Image

    gps = {piexif.GPSIFD.GPSLatitude: ((32, 1),), piexif.GPSIFD.GPSLongitude: ((120, 1),)}
    exif = piexif.dump({"0th": {}, "Exif": {}, "GPS": gps, "1st": {}, "thumbnail": None})
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (320, 240), (90, 120, 60)).save(photo, exif=exif)
    out = tmp_path / "findings.json"
    result = runner.invoke(
        cli, ["classify", str(photo), "--camera", "phantom4pro", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 image, " in result.stdout and "0 skipped" in result.stdout
    (image,) = json.loads(out.read_text())["images"]
    assert all(finding["centre"] is None for finding in image["findings"])


# ---------------------------------------------------------------------------- stops at start-up

# Sends the signal from inside an import the CLI makes while it starts (where QA's Ctrl-C at
# 0.7 s landed), deterministically.
_STOP_DURING_IMPORT = """
import importlib.abc, os, signal, sys

MODULE, SIGNAL = sys.argv[1], getattr(signal, sys.argv[2])
if SIGNAL != signal.SIGINT:  # as from a terminal, even when the tests run under nohup
    signal.signal(SIGNAL, signal.SIG_DFL)

class StopOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), SIGNAL)
        return None

sys.meta_path.insert(0, StopOnImport())
sys.argv = ["gridpatrol", *sys.argv[3:]]
from groundstation.cli import main
main()
"""


@pytest.mark.parametrize(
    ("module", "signal_name", "stop"),
    [
        ("shapely", "SIGINT", "interrupted"),
        ("rasterio", "SIGINT", "interrupted"),
        ("shapely", "SIGHUP", "stopped by signal SIGHUP"),
        ("shapely", "SIGTERM", "stopped by signal SIGTERM"),
    ],
)
def test_a_stop_while_the_cli_imports_is_one_line_and_status_130(
    tmp_path, module: str, signal_name: str, stop: str
) -> None:
    """QA: Ctrl-C in the first second printed a 20-line import traceback; SIGHUP killed the
    command without a word."""
    args = [module, signal_name, "fly", "x.plan", "--connect", "tcp:127.0.0.1:17001"]
    result = subprocess.run(
        [sys.executable, "-c", _STOP_DURING_IMPORT, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == f"error: {stop} while starting; nothing was done\n"
    assert result.stdout == ""


def test_ctrl_c_before_fly_connects_says_nothing_was_flown(
    runner: CliRunner, tmp_path, monkeypatch
) -> None:
    """QA: Ctrl-C while fly loaded its libraries printed only click's "Aborted!"."""
    import missions.formats

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(missions.formats, "load_mission", interrupted)
    plan = tmp_path / "p.plan"
    plan.write_text("{}")
    result = runner.invoke(cli, ["fly", str(plan), "--connect", "tcp:127.0.0.1:17002"])
    assert result.exit_code == 130
    assert result.stderr == "error: interrupted before connecting; nothing was flown\n"
    assert "Aborted" not in result.output


def test_sigterm_in_any_command_is_one_line_and_status_130(
    runner: CliRunner, tmp_path, monkeypatch
) -> None:
    """SIGTERM raises a KeyboardInterrupt naming it (installed when the CLI is imported)."""
    import signal

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # e.g. pytest run under nohup
        pytest.skip("the SIGTERM handler is not installed in this process")

    @click.command("wait")
    def wait() -> None:
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    cli.add_command(wait)
    try:
        result = runner.invoke(cli, ["wait"])
    finally:
        cli.commands.pop("wait")
    assert result.exit_code == 130
    assert result.stderr == "error: stopped by signal SIGTERM; wait stopped\n"


def test_nohup_is_respected(tmp_path) -> None:
    """A SIGHUP ignored by nohup stays ignored: the CLI installs over default handlers only."""
    script = (
        "import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "import groundstation.cli\n"
        "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN,"
        " signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
