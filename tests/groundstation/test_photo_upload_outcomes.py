"""What a finished photo upload leaves and tells: a finish and a cancel of one upload at once
(exactly one wins, no photo is orphaned), photos with a GPS position but no height above ground
(findings at the camera's position, counted and named), a flight's unplaced and failed photos
with their reasons, and the wording of a few refusals."""

from __future__ import annotations

import io
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import add_grids

from gis.exif import GeoTag, write_jpeg

RED, GREEN = (200, 40, 30), (40, 200, 40)
#: Inside grid OUT-G below.
LAT, LON = 32.4511, 120.1811
RING = [
    [120.180, 32.450],
    [120.183, 32.450],
    [120.183, 32.453],
    [120.180, 32.453],
    [120.180, 32.450],
]


def _test_mark() -> tuple[int, int]:
    """Two pixel values of the running test's own: its photos differ from other tests' (the
    same photo again is refused as stored), and are the same for the same arguments in it."""
    mark = zlib.crc32(os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0].encode())
    return mark & 255, (mark >> 8) & 255


def jpeg(rgb, *, relative_altitude_m: float | None = 100.0, gps: bool = True) -> bytes:
    """A small flat-colour JPEG; with a GPS geotag at (LAT, LON) unless ``gps`` is false, and a
    DJI-style relative altitude unless it is None."""
    from PIL import Image

    image = np.full((48, 64, 3), rgb, dtype=np.uint8)
    image[0, :2] = np.array(_test_mark(), dtype=np.uint8)[:, None]
    if not gps:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG")
        return buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.jpg"
        write_jpeg(path, image, GeoTag(LAT, LON, 120.0, relative_altitude_m=relative_altitude_m))
        return path.read_bytes()


def upload(env, photos: dict[str, bytes], who: str = "pilot", **body) -> str:
    client = env.client()
    made = client.post("/api/v1/photo-uploads", json=body, headers=env.headers(who))
    assert made.status_code == 201, made.json
    for name, data in photos.items():
        added = client.post(
            f"/api/v1/photo-uploads/{made.json['id']}/photos",
            data={"photos": (io.BytesIO(data), name)},
            headers=env.headers(who),
            content_type="multipart/form-data",
        )
        assert added.status_code == 201, added.json
    return made.json["id"]


def finish(env, upload_id: str, who: str = "pilot", **body):
    return env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/finish", json=body, headers=env.headers(who)
    )


def cancel(env, upload_id: str, who: str = "pilot"):
    return env.client().delete(f"/api/v1/photo-uploads/{upload_id}", headers=env.headers(who))


def upload_folders(env) -> list[Path]:
    """The flight folders finishes made under the data dir's photos/."""
    return sorted((env.data_dir / "photos").glob("upload_*"))


def flight(env, flight_id: int, who: str = "pilot") -> dict:
    return env.client().get(f"/api/v1/flights/{flight_id}", headers=env.headers(who)).json


@pytest.fixture
def cancel_during_registration(env, monkeypatch):
    """Make every finish send a DELETE of its upload once it holds the photos, just before it
    registers them; the DELETE answers are collected in the returned list."""
    from groundstation.blueprints import photo_uploads

    answers = []
    register = photo_uploads.register_photos

    def racing(storage, source, **kwargs):
        [stage] = [  # the upload being finished: photos taken, not finished yet
            p
            for p in (env.data_dir / "uploads").iterdir()
            if (p / "upload.json").exists()
            and not (p / "photos").exists()
            and not (p / "finished.json").exists()
        ]
        answers.append(cancel(env, stage.name))
        return register(storage, source, **kwargs)

    monkeypatch.setattr(photo_uploads, "register_photos", racing)
    return answers


def test_a_cancel_during_a_finish_is_refused_and_the_finish_wins(
    env, cancel_during_registration
) -> None:
    upload_id = upload(env, {"a.jpg": jpeg(RED)})
    before = upload_folders(env)
    done = finish(env, upload_id)
    assert done.status_code == 202, done.json
    [refused] = cancel_during_registration
    assert refused.status_code == 409
    assert refused.json["error"] == (
        "the upload is being finished by another request: try again once it has answered"
    )
    assert flight(env, done.json["flight_id"])["photos"] == {"pending": 1}
    [made] = [f for f in upload_folders(env) if f not in before]
    assert [p.name for p in made.iterdir()] == ["a.jpg"]  # the flight's photo, kept


def test_a_cancel_during_a_refused_finish_leaves_no_photo_behind(
    env, cancel_during_registration
) -> None:
    upload_id = upload(env, {"nogps.jpg": jpeg(RED, gps=False)})
    before = upload_folders(env)
    refused = finish(env, upload_id)  # no photo has a GPS position: 422, photos back in upload
    assert refused.status_code == 422, refused.json
    assert cancel_during_registration[0].status_code == 409
    assert upload_folders(env) == before  # nothing orphaned under photos/
    cancelled = cancel(env, upload_id)  # now the cancel may go on
    assert cancelled.status_code == 200 and cancelled.json["photos"] == 1
    assert not (env.data_dir / "uploads" / upload_id).exists()


def test_a_finish_after_a_cancel_took_the_photos_is_refused(env) -> None:
    upload_id = upload(env, {"a.jpg": jpeg(RED)})
    stage = env.data_dir / "uploads" / upload_id
    (stage / "photos").rename(stage / ".cancelling")  # as a cancel does before deleting
    before = upload_folders(env)
    try:
        refused = finish(env, upload_id)
        assert refused.status_code == 409, refused.json
        assert refused.json["error"] == "the upload was cancelled by another request"
        assert upload_folders(env) == before
    finally:
        (stage / ".cancelling").rename(stage / "photos")
    assert cancel(env, upload_id).status_code == 200
    assert finish(env, upload_id).status_code == 404  # a cancelled upload is gone
    assert (
        env.client()
        .get(f"/api/v1/photo-uploads/{upload_id}", headers=env.headers("pilot"))
        .status_code
        == 404
    )


def test_finish_and_cancel_at_once_from_two_threads_one_wins(env) -> None:
    import threading

    for _ in range(3):
        upload_id = upload(env, {"a.jpg": jpeg(RED, gps=False)})
        before = upload_folders(env)
        start = threading.Barrier(2)
        answers = {}

        def run(kind, call, start=start, answers=answers, upload_id=upload_id):
            start.wait()
            answers[kind] = call(env, upload_id)

        threads = [
            threading.Thread(target=run, args=("finish", finish)),
            threading.Thread(target=run, args=("cancel", cancel)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = {k: r.status_code for k, r in answers.items()}
        assert 500 not in codes.values(), {k: r.json for k, r in answers.items()}
        # no GPS: the finish is refused (422) unless the cancel took the photos first (409/404)
        assert codes["finish"] in (404, 409, 422)
        assert upload_folders(env) == before  # never a photo without a flight
        if codes["cancel"] == 409:  # the finish held them, then gave them back
            assert cancel(env, upload_id).status_code == 200
        else:
            assert codes["cancel"] == 200 and answers["cancel"].json["photos"] == 1
        assert not (env.data_dir / "uploads" / upload_id).exists()


def test_photos_without_a_height_are_placed_at_the_camera_and_counted(env) -> None:
    add_grids(env, ("OUT-G", RING))
    upload_id = upload(
        env,
        {
            "rel1.jpg": jpeg(RED, relative_altitude_m=100.0),
            "norel1.jpg": jpeg(RED, relative_altitude_m=None),
            "green.jpg": jpeg(GREEN, relative_altitude_m=None),
        },
    )
    done = finish(env, upload_id)
    assert done.status_code == 202, done.json
    assert done.json["photos_unplaced"] == 0 and done.json["photos_at_camera_position"] == 2
    [warning] = [w for w in done.json["warnings"] if "height" in w]
    assert warning.startswith("2 of 3 photos have a GPS position but no height above ground")
    assert "placed at the camera's position" in warning
    assert env.runner().run_job(done.json["job_id"]).state == "done"

    shown = flight(env, done.json["flight_id"])
    assert shown["photos_at_camera_position"] == 2
    assert shown["at_camera_position_photos"] == ["green.jpg", "norel1.jpg"]  # in name order
    assert shown["photos_unplaced"] == 0 and shown["unplaced_photos"] == []
    findings = (
        env.client()
        .get(
            f"/api/v1/findings?flight={done.json['flight_id']}&status=all",
            headers=env.headers("supervisor"),
        )
        .json["items"]
    )
    by_photo = {f["photo_id"]: f for f in findings}
    assert len(by_photo) == 2  # rel1 and norel1 (green is background)
    from groundstation.models import Photo

    with env.storage().session() as session:
        names = {
            p.id: Path(p.path).name
            for p in session.query(Photo).filter_by(flight_id=done.json["flight_id"])
        }
    [at_camera] = [f for pid, f in by_photo.items() if names[pid] == "norel1.jpg"]
    assert at_camera["lat"] == pytest.approx(LAT, abs=1e-6)
    assert at_camera["lon"] == pytest.approx(LON, abs=1e-6)
    assert at_camera["grid"] == "OUT-G"


def test_a_flight_names_its_unplaced_and_failed_photos_with_the_reason(env) -> None:
    upload_id = upload(
        env,
        {
            "placed.jpg": jpeg(RED),
            "nogps.jpg": jpeg(RED, gps=False),
            "broken_1.jpg": jpeg(GREEN),  # the fake classifier fails on it
        },
    )
    done = finish(env, upload_id)
    assert done.status_code == 202 and done.json["photos_unplaced"] == 1
    job = env.runner().run_job(done.json["job_id"])
    assert job.state == "done"  # the job ran; one of its photos failed
    shown = flight(env, done.json["flight_id"])
    assert shown["status"] == "done_with_errors"
    assert shown["photos"] == {"done": 2, "error": 1}
    assert shown["photos_unplaced"] == 1 and shown["unplaced_photos"] == ["nogps.jpg"]
    assert shown["failed_photos"] == [
        {"name": "broken_1.jpg", "error": "OSError: broken_1.jpg: truncated JPEG"}
    ]
    answer = (
        env.client().get(f"/api/v1/jobs/{done.json['job_id']}", headers=env.headers("pilot")).json
    )
    assert answer["result"]["errors"] == 1 and answer["result"]["flight_id"] == shown["id"]


def test_an_upload_echoes_the_camera_finishing_will_use(env) -> None:
    made = env.client().post("/api/v1/photo-uploads", json={}, headers=env.headers("pilot"))
    assert made.status_code == 201 and made.json["camera"]["name"] == "phantom4pro"


def test_refusals_say_things_once_and_count_in_words(env) -> None:
    missing = env.data_dir / "photos" / "nope"
    refused = env.client().post(
        "/api/v1/flights", json={"source": str(missing)}, headers=env.headers("pilot")
    )
    assert refused.status_code == 400
    assert refused.json["error"] == f"source {str(missing)!r}: no such folder or file"

    one = finish(env, upload(env, {"nogps.jpg": jpeg(RED, gps=False)}))
    assert one.status_code == 422
    assert one.json["error"].startswith("the 1 photo has no GPS position: its findings cannot")
    assert one.json["error"].endswith("Send allow_unplaced=1 to register it anyway")
