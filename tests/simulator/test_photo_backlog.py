"""Renders that lag the flight: the vehicle never waits for them, `gridpatrol sitl` says how many
are still rendering and finishes (or, interrupted twice, abandons) them, and a temporary photo
directory does not outlive the simulator."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from pymavlink import mavutil
from pyproj import Transformer
from rasterio.transform import from_origin

import simulator.camera
from gis.camera import Camera
from groundstation.cli import cli
from groundstation.cli.sitl import RenderProgress
from simulator.autopilot import CameraTrigger
from simulator.camera import PhotoCamera
from tests.simulator.conftest import HOME

mavlink = mavutil.mavlink
CAMERA = Camera("test-cam", 13.2, 8.8, 8.8, 60, 40)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A 400 m grey checkerboard in EPSG:32651 centred on home."""
    x0, y0 = Transformer.from_crs(4326, 32651, always_xy=True).transform(HOME[1], HOME[0])
    cells = np.arange(200)
    checker = ((cells[None, :] // 10 + cells[:, None] // 10) % 2).astype(np.uint8)
    path = tmp_path_factory.mktemp("world") / "world.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=200,
        height=200,
        count=3,
        dtype="uint8",
        crs="EPSG:32651",
        transform=from_origin(x0 - 200.0, y0 + 200.0, 2.0, 2.0),
    ) as dataset:
        dataset.write(np.stack([60 + 60 * checker] * 3))
    return path


@pytest.fixture
def slow_renders(monkeypatch) -> None:
    """Every render takes 0.5 s, like a full-size photo at a high speed-up."""
    render = simulator.camera.render_photo

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return render(*args, **kwargs)

    monkeypatch.setattr(simulator.camera, "render_photo", slow)


def trigger(index: int) -> CameraTrigger:
    return CameraTrigger(index, float(index), HOME[0], HOME[1], 45.0, 40.0, 0.0, 0.0, 0.0)


def test_the_vehicle_reports_its_disarm_while_photos_still_render(
    make_sitl, connect, tmp_path, world, slow_renders
) -> None:
    sitl = make_sitl(speedup=20, world=world, camera=CAMERA, photos_dir=tmp_path / "photos")
    gcs = connect(sitl)
    gcs.heartbeat()
    gcs.wait_gps()
    assert gcs.set_mode(4).result == 0 and gcs.arm().result == 0
    for _ in range(6):
        assert gcs.command(mavlink.MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 1).result == 0
    gcs.command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0)
    sent = time.monotonic()
    gcs.wait("HEARTBEAT", timeout=2.0, condition=lambda m: not m.base_mode & 128)
    assert time.monotonic() - sent < 1.5
    assert sitl.photos_pending > 0  # still rendering: nobody waited for them
    before = sitl.sim_time
    time.sleep(0.3)
    assert sitl.sim_time > before  # the vehicle keeps flying its clock meanwhile
    records = sitl.wait_photos(timeout=10.0)
    assert len(records) == 6
    assert len(list((tmp_path / "photos").glob("IMG_*.jpg"))) == 6


def test_stop_abandons_what_it_cannot_finish_in_time(tmp_path, world, slow_renders) -> None:
    camera = PhotoCamera(camera=CAMERA, world=world, photos_dir=tmp_path)
    camera.start()
    for index in range(1, 6):
        camera.submit(trigger(index))
    lost = camera.stop(timeout=0.7)  # time for one photo, most of a second
    assert 3 <= lost <= 4
    time.sleep(0.6)  # a render under way when abandoned may still finish: whole, or not at all
    written = sorted(path.name for path in tmp_path.iterdir() if path.suffix != ".csv")
    assert 1 <= len(written) <= 5 - lost + 1
    assert all(re.fullmatch(r"IMG_\d{5}\.jpg", name) for name in written), written


def test_a_temporary_photo_directory_is_removed_on_stop(tmp_path, world) -> None:
    camera = PhotoCamera(camera=CAMERA, world=world)
    assert camera.photos_dir is None  # nothing is made before the camera starts
    camera.start()
    made = camera.photos_dir
    assert made is not None and made.is_dir() and camera.temporary_dir
    camera.submit(trigger(1))
    assert camera.wait_idle(timeout=10.0)
    assert (made / "IMG_00001.jpg").is_file()
    assert camera.stop() == 0
    assert not made.exists()
    given = PhotoCamera(camera=CAMERA, world=world, photos_dir=tmp_path / "kept")
    given.start()
    given.submit(trigger(1))
    given.stop()
    assert (tmp_path / "kept" / "IMG_00001.jpg").is_file()  # the caller's directory is kept


def test_sitl_with_a_world_but_no_photos_option_leaves_no_directory(world) -> None:
    result = CliRunner().invoke(
        cli, ["sitl", "--listen", "tcp:127.0.0.1:0", "--world", str(world), "--duration", "0"]
    )
    assert result.exit_code == 0, result.output
    made = Path(re.search(r"photos in (\S+) \(temporary", result.output).group(1))
    assert made.name.startswith("gridpatrol-photos-")
    assert not made.exists()
    assert f"removed the temporary photo directory {made}" in result.output


def test_render_progress_says_when_renders_lag_and_when_they_caught_up() -> None:
    progress = RenderProgress(every_s=5.0, lag=2)
    assert progress.update(1, 0.0) is None  # one rendering is not lagging
    assert progress.update(3, 1.0) == "3 photos still rendering"
    assert progress.update(4, 2.0) is None  # at most every 5 s
    assert progress.update(4, 6.0) == "4 photos still rendering"
    assert progress.update(4, 12.0) is None  # no change, nothing said
    assert progress.update(0, 13.0) == "all photos rendered"
    assert progress.update(0, 20.0) is None


def _sitl_process(tmp_path: Path, world: Path, *, render_s: float) -> subprocess.Popen:
    """`gridpatrol sitl` in its own process with renders that take `render_s` seconds."""
    params = tmp_path / "fast.parm"
    params.write_text("SIM_GPS_DELAY 0.2\n", encoding="utf-8")
    script = (
        "import time\n"
        "import simulator.camera as camera\n"
        "render = camera.render_photo\n"
        "def slow(*args, **kwargs):\n"
        f"    time.sleep({render_s})\n"
        "    return render(*args, **kwargs)\n"
        "camera.render_photo = slow\n"
        "from groundstation.cli import cli\n"
        "cli(['sitl', '--listen', 'tcp:127.0.0.1:0', '--speedup', '20', '--duration', '60',"
        f" '--world', {str(world)!r}, '--photos', {str(tmp_path / 'photos')!r},"
        f" '--photo-max-px', '64', '--params', {str(params)!r}])\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(process: subprocess.Popen, pattern: str, lines: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no {pattern!r} in {lines}")


def _trigger_photos(process: subprocess.Popen, lines: list[str], count: int) -> None:
    address = re.search(r"tcp:127\.0\.0\.1:\d+", _read_until(process, "listening", lines, 20))
    conn = mavutil.mavlink_connection(address.group(0), source_system=255)
    try:
        assert conn.wait_heartbeat(timeout=5) is not None
        for _ in range(count):
            conn.mav.command_long_send(
                1, 1, mavlink.MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 0, 1, 0, 0
            )
            time.sleep(0.05)
        _read_until(process, r"^\d+ photos still rendering", lines, 10)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("signal_name", "said", "status"),
    [("SIGTERM", "stopping on SIGTERM", 0), ("SIGINT", "interrupted", 130)],
)
def test_a_stop_finishes_the_photos_still_rendering(
    tmp_path, world, signal_name: str, said: str, status: int
) -> None:
    """SIGTERM (a service manager's stop) exits 0; Ctrl-C exits 130, as a shell reports it."""
    process = _sitl_process(tmp_path, world, render_s=0.4)
    lines: list[str] = []
    try:
        _trigger_photos(process, lines, 5)
        process.send_signal(getattr(signal, signal_name))
        _read_until(process, said, lines, 10)
        _read_until(process, r"finishing \d photos? still rendering", lines, 10)
        last = _read_until(process, "stopped after", lines, 20)
        assert process.wait(timeout=10) == status, lines
    finally:
        process.kill()
        process.wait()
    assert last.rstrip().endswith(", 5 photos"), lines
    assert len(list((tmp_path / "photos").glob("IMG_*.jpg"))) == 5


def test_a_second_signal_abandons_them_and_says_how_many(tmp_path, world) -> None:
    process = _sitl_process(tmp_path, world, render_s=1.0)
    lines: list[str] = []
    try:
        _trigger_photos(process, lines, 5)
        process.send_signal(signal.SIGINT)
        _read_until(process, "interrupted", lines, 10)
        finishing = _read_until(process, r"finishing \d photos? still rendering", lines, 10)
        process.send_signal(signal.SIGINT)
        abandoned = _read_until(
            process, r"warning: abandoned \d photos? still rendering", lines, 10
        )
        last = _read_until(process, "stopped after", lines, 10)
        assert process.wait(timeout=10) == 130, lines  # Ctrl-C's status, photos handled first
    finally:
        process.kill()
        process.wait()
    pending = int(re.search(r"finishing (\d)", finishing).group(1))
    lost = int(re.search(r"abandoned (\d)", abandoned).group(1))
    assert 1 <= lost <= pending
    assert f"({lost} abandoned)" in last
    assert not list((tmp_path / "photos").glob(".*.part"))
