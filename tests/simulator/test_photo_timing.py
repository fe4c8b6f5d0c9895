"""A photo's time is the trigger's, not the render's: renders after the post-landing clock
rebase must not carry times minutes later than photos taken a second before them."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from simulator.autopilot import CameraTrigger
from simulator.camera import LOG_NAME, PhotoCamera


def trigger(index: int, time_s: float) -> CameraTrigger:
    return CameraTrigger(index, time_s, 30.2741, 120.1551, 52.0, 40.0, 90.0, 0.0, 0.0)


def test_photo_time_is_fixed_at_the_trigger_not_at_render(tmp_path) -> None:
    offset = {"unix0": 1_700_000_000.0}
    camera = PhotoCamera(photos_dir=tmp_path, unix_time=lambda s: offset["unix0"] + s)
    camera.submit(trigger(1, 100.0))
    camera.submit(trigger(2, 101.0))
    assert camera.pending == 2
    offset["unix0"] += 120.0  # the clock rebased after landing, before the renders ran
    camera.start()
    assert camera.wait_idle(timeout=10.0)
    camera.stop()
    times = [record.time for record in sorted(camera.records(), key=lambda r: r.index)]
    assert times == [
        datetime.fromtimestamp(1_700_000_100.0, tz=UTC),
        datetime.fromtimestamp(1_700_000_101.0, tz=UTC),
    ]
    rows = list(csv.DictReader((tmp_path / LOG_NAME).open(encoding="utf-8")))
    assert [row[next(iter(row))] for row in rows] == ["1", "2"]
    assert {datetime.fromisoformat(row["time"]) for row in rows} == set(times)
