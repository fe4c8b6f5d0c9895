"""Camera math against the worked example in docs/formats.md (Phantom 4 Pro, 100 m, 75/70 %)."""

from __future__ import annotations

import json

import pytest

from gis.camera import PRESETS, Camera, camera_from_dict, load_camera
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


def test_camera_from_dict_takes_numbers_and_numeric_strings() -> None:
    as_text = {key: str(value) for key, value in P4P.to_dict().items()}
    assert camera_from_dict(as_text) == P4P
    assert camera_from_dict(P4P.to_dict() | {"image_width_px": 5472.0}) == P4P
    assert camera_from_dict(P4P.to_dict() | {"focal_length_mm": " 8.8 "}) == P4P


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("focal_length_mm", "wide", "focal_length_mm must be a positive number, got 'wide'"),
        ("sensor_width_mm", "-13.2", "sensor_width_mm must be a positive number, got '-13.2'"),
        ("sensor_height_mm", "nan", "sensor_height_mm must be a positive number, got 'nan'"),
        ("sensor_height_mm", None, "sensor_height_mm must be a positive number, got None"),
        ("sensor_width_mm", True, "sensor_width_mm must be a positive number, got True"),
        (
            "image_width_px",
            "5472.5",
            "image_width_px must be a positive whole number, got '5472.5'",
        ),
        ("image_height_px", 0, "image_height_px must be a positive whole number, got 0"),
    ],
)
def test_camera_from_dict_names_the_bad_key(key: str, value: object, message: str) -> None:
    with pytest.raises(CameraError) as caught:
        camera_from_dict(P4P.to_dict() | {key: value})
    assert str(caught.value) == f"camera 'phantom4pro': {message}"


def test_camera_from_dict_lists_missing_keys() -> None:
    partial = {"name": "x", "sensor_width_mm": 1, "focal_length_mm": 2, "image_width_px": 3}
    with pytest.raises(CameraError) as caught:
        camera_from_dict(partial)
    assert str(caught.value) == "camera lacks sensor_height_mm, image_height_px"


def test_camera_json_file_takes_numeric_strings_and_names_file_and_key(tmp_path) -> None:
    path = tmp_path / "cam.json"
    path.write_text(json.dumps(P4P.to_dict() | {"focal_length_mm": "8.8"}), encoding="utf-8")
    assert load_camera(path) == P4P
    path.write_text(json.dumps(P4P.to_dict() | {"focal_length_mm": "8,8"}), encoding="utf-8")
    with pytest.raises(CameraError) as caught:
        load_camera(path)
    assert str(caught.value) == (
        f"camera file {path}: focal_length_mm must be a positive number, got '8,8'"
    )
