"""Camera math against the worked example in docs/formats.md (Phantom 4 Pro, 100 m, 75/70 %)."""

from __future__ import annotations

import json

import pytest

from gis.camera import PRESETS, Camera, load_camera
from gis.errors import CameraError, GisError

P4P = PRESETS["phantom4pro"]


def test_worked_example_gsd() -> None:
    assert P4P.gsd_m(100.0) == pytest.approx(0.0274, abs=5e-5)


def test_worked_example_footprint_across_and_along() -> None:
    across, along = P4P.footprint_m(100.0)
    assert across == pytest.approx(150.0)
    assert along == pytest.approx(100.0)


def test_worked_example_line_spacing_and_trigger() -> None:
    assert P4P.line_spacing_m(100.0, 0.70) == pytest.approx(45.0)
    assert P4P.trigger_distance_m(100.0, 0.75) == pytest.approx(25.0)


def test_altitude_for_gsd_inverts_gsd() -> None:
    for camera in PRESETS.values():
        assert camera.gsd_m(camera.altitude_for_gsd(0.02)) == pytest.approx(0.02)


def test_presets_named_in_the_interface_exist() -> None:
    assert {"phantom4pro", "mavic3e", "m300-p1", "generic-1/2.3"} <= set(PRESETS)


@pytest.mark.parametrize("overlap", [1.0, 1.2, -0.1])
def test_impossible_overlap_is_refused(overlap: float) -> None:
    with pytest.raises(CameraError, match="overlap"):
        P4P.line_spacing_m(100.0, overlap)


@pytest.mark.parametrize("value", [0, -8.8, float("nan"), float("inf"), "8.8", True])
def test_impossible_parameter_is_refused(value: object) -> None:
    with pytest.raises(CameraError, match="focal_length_mm"):
        Camera("bad", 13.2, 8.8, value, 5472, 3648)  # type: ignore[arg-type]


def test_load_camera_by_name_and_from_json(tmp_path) -> None:
    assert load_camera("mavic3e") is PRESETS["mavic3e"]
    path = tmp_path / "cam.json"
    path.write_text(json.dumps(P4P.to_dict() | {"name": "mine"}), encoding="utf-8")
    camera = load_camera(path)
    assert camera.name == "mine"
    assert camera.gsd_m(100.0) == pytest.approx(P4P.gsd_m(100.0))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "JSON object"),
        ('{"name": "x", "sensor_width_mm": 13.2}', "lacks"),
    ],
)
def test_load_camera_bad_file(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "cam.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CameraError, match=message):
        load_camera(path)


def test_load_camera_unknown_name_lists_presets(tmp_path) -> None:
    with pytest.raises(GisError, match="phantom4pro"):
        load_camera("hasselblad")
    with pytest.raises(CameraError, match="does not exist"):
        load_camera(tmp_path / "missing.json")
