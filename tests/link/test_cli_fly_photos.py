"""`gridpatrol fly` tells the truth about photos: it downloads none, so without --photos it says
they stay on the vehicle; with --photos DIR it counts the photo files written there during the
flight against the photos the vehicle took, and says when a simulator without a world raster
made no pictures at all."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from click.testing import CliRunner

from groundstation.cli import cli
from missions.formats import save_mission
from missions.items import MissionPlan
from tests.link.conftest import HOME, survey_items

pytestmark = pytest.mark.slow


@pytest.fixture
def plan_file(tmp_path):
    """Four waypoints about 16 m apart, a photo every 10 m, then home."""
    items = survey_items()
    return save_mission(tmp_path / "survey.plan", MissionPlan(items=tuple(items), home=HOME))


def _world(path):
    """A small EPSG:4326 world raster around HOME for the simulator's camera."""
    import rasterio
    from rasterio.transform import from_origin

    rgb = np.random.default_rng(0).integers(60, 200, (3, 400, 400), dtype=np.uint8)
    with rasterio.open(
        path, "w", driver="GTiff", width=400, height=400, count=3, dtype="uint8",
        crs="EPSG:4326", transform=from_origin(HOME[1] - 0.002, HOME[0] + 0.002, 1e-5, 1e-5),
    ) as dst:  # fmt: skip
        dst.write(rgb)
    return path


def _sitl(**options):
    from simulator import Sitl

    params = {"RTL_LOIT_TIME": 0, "CAM1_TYPE": 1}
    return Sitl(home=HOME, speedup=20, params=params, photo_max_px=64, **options)


def _fly(plan, url: str, *extra: str):
    result = CliRunner().invoke(cli, ["fly", str(plan), "--connect", url, *extra])
    assert result.exit_code == 0, result.output
    return result


def _taken(stdout: str) -> int:
    """The photos taken, from the summary line (``..., 6 photos, max 15 m``)."""
    summary = next(line for line in stdout.splitlines() if ": landed: " in line)
    return int(summary.split(" photo")[0].rsplit(" ", 1)[1])


def test_without_photos_folder_fly_says_the_photos_stay_on_the_vehicle(plan_file) -> None:
    with _sitl() as sitl:
        result = _fly(plan_file, sitl.connection_string)
    taken = _taken(result.stdout)
    assert taken > 0
    assert result.stdout.strip().splitlines()[-1] == (
        f"survey.plan: {taken} photos taken by the vehicle, none downloaded: they stay on the "
        "vehicle (a simulator writes them to its --photos folder: give it as --photos to count "
        "them there)"
    )


def test_photo_files_written_during_the_flight_are_counted(plan_file, tmp_path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    older = photos / "DJI_0001.JPG"
    older.write_bytes(b"a photo of an earlier flight")
    os.utime(older, (time.time() - 3600, time.time() - 3600))
    with _sitl(world=_world(tmp_path / "world.tif"), photos_dir=photos) as sitl:
        result = _fly(plan_file, sitl.connection_string, "--photos", str(photos))
        written = len(list(photos.glob("IMG_*.jpg")))
    taken = _taken(result.stdout)
    assert taken > 0 and written == taken
    assert result.stdout.strip().splitlines()[-1] == (
        f"survey.plan: {taken} photos taken, {taken} photo files written to {photos} during the "
        "flight"
    )
    assert "warning" not in result.stderr


def test_a_simulator_without_a_world_is_said_to_have_made_no_pictures(plan_file, tmp_path) -> None:
    photos = tmp_path / "photos"
    with _sitl(photos_dir=photos) as sitl:  # no world: photos.csv logs triggers, no images
        result = _fly(plan_file, sitl.connection_string, "--photos", str(photos))
    taken = _taken(result.stdout)
    assert taken > 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"warning: survey.plan: {taken} photos taken, but the simulator writing to {photos} has "
        "no world raster (--world): its camera triggers made no pictures, so there are no "
        "photos to classify"
    )


def test_missing_photo_files_are_counted_and_named(plan_file, tmp_path, monkeypatch) -> None:
    """A folder nobody writes to (the wrong one, or a camera that failed): fly waits while the
    files could still come, then says how many are missing."""
    from groundstation.cli import fly

    monkeypatch.setattr(fly, "PHOTO_STALL_S", 0.5)  # give up on them sooner
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    with _sitl() as sitl:
        result = _fly(plan_file, sitl.connection_string, "--photos", str(empty))
    taken = _taken(result.stdout)
    assert f"waiting for {taken} photos to be written to {empty}" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"warning: survey.plan: {taken} photos taken, but 0 photo files written to {empty} "
        f"during the flight: {taken} missing (not written there, or not yet)"
    )
