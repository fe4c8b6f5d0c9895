"""Ingest places findings of photos stored smaller than the sensor, with the flight's camera.

The SITL and the web flight runner write photos downscaled from the camera's native size, so the
image size alone does not give their GSD: the camera registered with the flight does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import G1, PHOTO_LONLAT, add_grids, sitl_photo
from pyproj import Geod
from sqlalchemy import select

from gis.camera import PRESETS
from gis.exif import GeoTag, write_jpeg
from groundstation.errors import IngestError
from groundstation.ingest import ingest_flight, register_flight, resolve_camera
from groundstation.models import Finding, Flight
from tests.vision.conftest import ColourRule
from vision.infer import Classifier
from vision.models import WeightsRecord

GEOD = Geod(ellps="WGS84")
LON, LAT = PHOTO_LONLAT  # inside conftest's G1


@pytest.fixture(scope="module")
def red_classifier() -> Classifier:
    """Scores pure-red pixels as class 0 (the photos' red squares); the photos hold no pure blue."""
    record = WeightsRecord(name="red-rule")
    return Classifier(ColourRule(record), record, threshold=0.5)


@pytest.mark.parametrize(
    ("camera_name", "long_px", "yaw"), [("phantom4pro", 1280, 30.0), ("mavic3e", 900, 200.0)]
)
def test_downscaled_photo_findings_are_placed_with_the_flights_camera(
    env, tmp_path, red_classifier, camera_name, long_px, yaw
) -> None:
    add_grids(env, ("C-G1", G1))
    camera = PRESETS[camera_name]
    folder = tmp_path / "flight"
    folder.mkdir()
    truth = sitl_photo(
        folder / "IMG_0001.JPG", camera, long_px=long_px, height_m=60.0, yaw_deg=yaw,
        target_m=(17.0, -9.0),
    )  # fmt: skip
    storage = env.storage()
    flight_id = register_flight(storage, folder, camera=camera_name)
    counts = ingest_flight(storage, flight_id, red_classifier, crops_dir=tmp_path / "crops")
    assert counts == {"photos": 1, "findings": 1, "errors": 0}
    with storage.session() as session:
        assert session.get(Flight, flight_id).camera["name"] == camera_name
        (finding,) = session.scalars(select(Finding).where(Finding.flight_id == flight_id))
        assert finding.label == "illegal_construction"
        assert finding.lon is not None and finding.lat is not None
        _, _, error_m = GEOD.inv(finding.lon, finding.lat, *truth)
    assert error_m < 3.0


def test_the_wrong_camera_misplaces_findings(env, tmp_path, red_classifier) -> None:
    """The camera really is used: the same photo registered as another camera lands elsewhere."""
    folder = tmp_path / "flight"
    folder.mkdir()
    truth = sitl_photo(
        folder / "IMG_0001.JPG", PRESETS["phantom4pro"], long_px=1280, height_m=60.0,
        yaw_deg=0.0, target_m=(30.0, 0.0),
    )  # fmt: skip
    storage = env.storage()
    flight_id = register_flight(storage, folder, camera="m300-p1")
    ingest_flight(storage, flight_id, red_classifier, crops_dir=tmp_path / "crops")
    with storage.session() as session:
        (finding,) = session.scalars(select(Finding).where(Finding.flight_id == flight_id))
        _, _, error_m = GEOD.inv(finding.lon, finding.lat, *truth)
    assert error_m > 10.0


def test_flights_default_to_phantom4pro_and_take_camera_json(env, tmp_path) -> None:
    folder = tmp_path / "flight"
    folder.mkdir()
    write_jpeg(folder / "a.jpg", np.zeros((8, 8, 3), np.uint8), GeoTag(LAT, LON, 10.0))
    custom = tmp_path / "cam.json"
    custom.write_text(
        '{"name": "survey", "sensor_width_mm": 23.5, "sensor_height_mm": 15.6, '
        '"focal_length_mm": 24, "image_width_px": 6000, "image_height_px": 4000}'
    )
    storage = env.storage()
    plain = register_flight(storage, folder)
    from_json = register_flight(storage, folder, camera=str(custom))
    with storage.session() as session:
        assert session.get(Flight, plain).camera == PRESETS["phantom4pro"].to_dict()
        assert session.get(Flight, from_json).camera["image_width_px"] == 6000
    assert resolve_camera({**PRESETS["mavic3e"].to_dict()}) == PRESETS["mavic3e"]
    with pytest.raises(IngestError, match="unknown camera"):
        register_flight(storage, folder, camera="gopro")
    with pytest.raises(IngestError, match="lacks"):
        resolve_camera({"name": "half"})


def test_camera_dicts_take_numeric_strings_and_name_a_bad_key() -> None:
    as_text = {key: str(value) for key, value in PRESETS["mavic3e"].to_dict().items()}
    assert resolve_camera(as_text) == PRESETS["mavic3e"]
    with pytest.raises(IngestError) as caught:
        resolve_camera(as_text | {"focal_length_mm": "long"})
    assert (
        str(caught.value)
        == "camera 'mavic3e': focal_length_mm must be a positive number, got 'long'"
    )


def test_upload_api_takes_a_camera(env, tmp_path) -> None:
    import io

    client, headers = env.client(), env.headers("pilot")
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    bad = client.post(
        "/api/v1/flights",
        data={"camera": "../../etc/cam.json", "photos": (io.BytesIO(buf.getvalue()), "a.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "camera" in bad.get_data(as_text=True)
    ok = client.post(
        "/api/v1/flights",
        data={
            "camera": "mavic3e",
            "allow_unplaced": "1",
            "photos": (io.BytesIO(buf.getvalue()), "a.jpg"),
        },
        headers=headers,
        content_type="multipart/form-data",
    )
    assert ok.status_code == 202
    flight = client.get(f"/api/v1/flights/{ok.get_json()['flight_id']}", headers=headers)
    flight = flight.get_json()
    assert flight["camera"]["name"] == "mavic3e"
    any_case = client.post(  # the same photo again: force=1 registers it again
        "/api/v1/flights",
        data={
            "camera": "Mavic3E",
            "allow_unplaced": "1",
            "force": "1",
            "photos": (io.BytesIO(buf.getvalue()), "a.jpg"),
        },
        headers=headers,
        content_type="multipart/form-data",
    )
    assert any_case.status_code == 202, any_case.get_json()
    assert any_case.get_json()["camera"] == "mavic3e"


def test_a_bad_custom_camera_is_named_in_the_readers_language(env) -> None:
    """The upload page's custom camera: a bad field comes back in the page's language, the
    field's own key kept (zh: 相机…必须是正数), English to an English reader."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    camera = PRESETS["mavic3e"].to_dict() | {"name": "mine", "focal_length_mm": -4}
    answers = {}
    for lang in ("zh", "en"):
        answers[lang] = env.client().post(
            f"/api/v1/flights?lang={lang}",
            data={
                "camera": json.dumps(camera),
                "allow_unplaced": "1",
                "photos": (io.BytesIO(buf.getvalue()), "a.jpg"),
            },
            headers=env.headers("pilot"),
            content_type="multipart/form-data",
        )
    assert answers["zh"].status_code == answers["en"].status_code == 400
    assert answers["zh"].get_json()["error"] == (
        "相机参数无效：相机 'mine'：focal_length_mm 必须是正数，收到 -4"
    )
    assert (
        answers["en"]
        .get_json()["error"]
        .endswith("camera 'mine': focal_length_mm must be a positive number, got -4")
    )
