"""Staged photo uploads (``/api/v1/photo-uploads``): create, add photos one request at a time,
list what arrived, finish into a queued photo flight, cancel; bad photos, retries and conflicts;
abandoned uploads cleaned; and the flights page's upload section driven in a browser."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import ARTIFACTS, SMALL, add_grids, csrf_token, login, saved_plan, sign_in

from groundstation.blueprints.photo_uploads import clean_stale_uploads
from groundstation.uploads import photo_file_name

RED, BLUE, GREEN = (200, 40, 30), (30, 50, 200), (40, 200, 40)
LONLAT = (119.905, 32.405)


def _test_mark() -> tuple[int, int]:
    """Two pixel values of the running test's own: its photos differ from other tests' (the
    same photo again is refused as stored), and are the same for the same arguments in it."""
    mark = zlib.crc32(os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0].encode())
    return mark & 255, (mark >> 8) & 255


def jpeg(rgb: tuple[int, int, int], *, lonlat: tuple[float, float] | None = LONLAT) -> bytes:
    """A small flat-colour JPEG, geotagged (GPS EXIF) unless ``lonlat`` is None."""
    from PIL import Image

    from gis.exif import GeoTag, write_jpeg

    image = np.full((48, 64, 3), rgb, dtype=np.uint8)
    image[0, :2] = np.array(_test_mark(), dtype=np.uint8)[:, None]
    buf = io.BytesIO()
    if lonlat is None:
        Image.fromarray(image).save(buf, "JPEG")
        return buf.getvalue()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.jpg"
        write_jpeg(path, image, GeoTag(lonlat[1], lonlat[0], 120.0, relative_altitude_m=100.0))
        return path.read_bytes()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def create(env, who: str = "pilot", **body):
    return env.client().post("/api/v1/photo-uploads", json=body, headers=env.headers(who))


def add(env, upload_id: str, name: str, data: bytes, who: str = "pilot"):
    return env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/photos",
        data={"photos": (io.BytesIO(data), name)},
        headers=env.headers(who),
        content_type="multipart/form-data",
    )


def detail(env, upload_id: str, who: str = "pilot"):
    return env.client().get(f"/api/v1/photo-uploads/{upload_id}", headers=env.headers(who))


def finish(env, upload_id: str, who: str = "pilot", **body):
    return env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/finish", json=body, headers=env.headers(who)
    )


def stage(env, upload_id: str) -> Path:
    return env.data_dir / "uploads" / upload_id


def test_upload_in_pieces_then_finish_queues_the_flight(env) -> None:
    made = create(env, name="SD card 1", camera="mavic3e")
    assert made.status_code == 201, made.json
    upload_id = made.json["id"]
    assert made.json["photos"] == 0 and made.json["camera"]["name"] == "mavic3e"
    photos = {"DJI_0001.JPG": jpeg(RED), "DJI_0002.JPG": jpeg(BLUE), "DJI_0003.JPG": jpeg(GREEN)}
    for name, data in photos.items():
        response = add(env, upload_id, name, data)
        assert response.status_code == 201, response.json
        assert response.json["stored"] == [
            {"name": name, "original": name, "bytes": len(data), "new": True}
        ]

    arrived = detail(env, upload_id).json
    assert [f["name"] for f in arrived["files"]] == sorted(photos)
    assert arrived["photos"] == 3 and arrived["bytes"] == sum(map(len, photos.values()))
    listed = env.client().get("/api/v1/photo-uploads", headers=env.headers("pilot")).json
    assert upload_id in [u["id"] for u in listed]
    # another uploader does not see it; an admin does
    others = env.client().get("/api/v1/photo-uploads", headers=env.headers("supervisor")).json
    assert upload_id not in [u["id"] for u in others]
    assert detail(env, upload_id, "supervisor").status_code == 404
    assert detail(env, upload_id, "admin").status_code == 200

    short = finish(env, upload_id, photos=4)  # the caller sent one more than arrived
    assert short.status_code == 409 and "3 photos have arrived" in short.json["error"]
    assert detail(env, upload_id).json["photos"] == 3  # nothing changed

    done = finish(env, upload_id, photos=3)
    assert done.status_code == 202, done.json
    flight_id, job_id = done.json["flight_id"], done.json["job_id"]
    assert done.json["flight_url"] == f"/flights?flight={flight_id}#flight-{flight_id}"
    assert done.json["findings_url"] is None  # a pilot may not open the review queue
    assert not (stage(env, upload_id) / "photos").exists()  # the photos are the flight's now
    # a client that lost the 202 finds the flight: a retried finish gets that answer again
    again = finish(env, upload_id, photos=3)
    assert again.status_code == 200 and again.json == done.json
    shown = detail(env, upload_id).json
    assert shown["status"] == "finished" and shown["finished"]["flight_id"] == flight_id
    assert shown["finished"]["job_id"] == job_id and shown["photos"] == 0
    listed = env.client().get("/api/v1/photo-uploads", headers=env.headers("pilot")).json
    assert upload_id not in [u["id"] for u in listed]  # no longer an unfinished upload
    late = add(env, upload_id, "late.jpg", jpeg(RED))
    assert late.status_code == 409
    assert late.json["error"] == (
        f"the upload was finished as flight {flight_id}: start a new upload to send more photos"
    )
    cancelled = env.client().delete(
        f"/api/v1/photo-uploads/{upload_id}", headers=env.headers("pilot")
    )
    assert cancelled.status_code == 409  # QA: it said "being finished or was cancelled"
    assert cancelled.json["error"] == (
        f"the upload was finished as flight {flight_id}: it can no longer be cancelled"
    )

    client = env.client()
    flight = client.get(f"/api/v1/flights/{flight_id}", headers=env.headers("pilot")).json
    assert flight["status"] == "queued" and flight["job_id"] == job_id
    assert flight["name"] == "SD card 1" and flight["camera"]["name"] == "mavic3e"
    assert env.runner().run_job(job_id).state == "done"
    flight = client.get(f"/api/v1/flights/{flight_id}", headers=env.headers("pilot")).json
    assert flight["status"] == "done" and flight["photos"] == {"done": 3}
    assert flight["findings"] == 2  # red and blue; green is background
    findings = client.get(
        f"/api/v1/findings?flight={flight_id}&status=all", headers=env.headers("supervisor")
    ).json
    assert {f["label"] for f in findings["items"]} == {"straw_burning", "illegal_fishing"}

    from sqlalchemy import select

    from groundstation.models import Photo

    with env.storage().session() as session:
        rows = list(session.scalars(select(Photo).where(Photo.flight_id == flight_id)))
    assert sorted(Path(p.path).name for p in rows) == sorted(photos)
    assert all(Path(p.path).is_file() for p in rows)
    assert all(Path(p.path).parent.parent == (env.data_dir / "photos").resolve() for p in rows)
    assert all(p.lat == pytest.approx(LONLAT[1], abs=1e-6) for p in rows)  # GPS EXIF read

    page = english_page(env, "pilot")
    assert f'<tr id="flight-{flight_id}"' in page and "SD card 1" in page


def english_page(env, who: str) -> str:
    client = env.client()
    login(client, who)
    client.get("/lang/en")
    return client.get("/flights").get_data(as_text=True)


def test_a_supervisor_gets_the_findings_link(env) -> None:
    upload_id = create(env, "supervisor").json["id"]
    assert add(env, upload_id, "a.jpg", jpeg(RED), "supervisor").status_code == 201
    done = finish(env, upload_id, "supervisor")
    assert done.status_code == 202
    flight_id = done.json["flight_id"]
    assert done.json["findings_url"] == f"/review?flight={flight_id}&status=all"
    flight = env.client().get(f"/api/v1/flights/{flight_id}", headers=env.headers("admin")).json
    assert flight["name"].startswith("upload_") and flight["camera"]["name"] == "phantom4pro"


@pytest.mark.parametrize(
    ("name", "data", "status", "needle"),
    [
        ("notes.jpg", b"not a photo at all", 400, "is not an image"),
        ("cut.jpg", jpeg(RED)[:300], 400, "truncated or damaged"),
        ("big.jpg", b"\xff" * (2 * 2**20 + 1), 413, "larger than 2 MiB"),
        ("bomb.png", png_declaring(9_000, 8_000), 413, "more than the 64,000,000 allowed"),
        ("empty.jpg", b"", 400, "is empty"),
    ],
    ids=["not-an-image", "truncated", "too-large", "too-many-pixels", "empty"],
)
def test_bad_photos_are_refused_and_nothing_is_stored(env, name, data, status, needle) -> None:
    upload_id = create(env).json["id"]
    assert add(env, upload_id, "good.jpg", jpeg(RED)).status_code == 201
    response = add(env, upload_id, name, data)
    assert response.status_code == status, response.json
    assert needle in response.json["error"]
    assert [f["name"] for f in detail(env, upload_id).json["files"]] == ["good.jpg"]
    assert sorted(p.name for p in (stage(env, upload_id) / "photos").iterdir()) == ["good.jpg"]


def test_a_request_with_a_bad_photo_stores_none_of_its_photos(env) -> None:
    upload_id = create(env).json["id"]
    response = env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/photos",
        data={"photos": [(io.BytesIO(jpeg(RED)), "a.jpg"), (io.BytesIO(b"nope"), "b.jpg")]},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "'b.jpg'" in response.json["error"]
    assert detail(env, upload_id).json["files"] == []
    missing = env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/photos",
        data={},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert missing.status_code == 400 and "'photos'" in missing.json["error"]
    other = env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/photos",
        data={"other": "x", "photos": [(io.BytesIO(jpeg(RED)), "a.jpg")]},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert other.status_code == 400 and "unknown field 'other'" in other.json["error"]
    assert detail(env, upload_id).json["files"] == []


def test_retried_photo_is_skipped_and_a_different_one_of_that_name_refused(env) -> None:
    upload_id = create(env).json["id"]
    first = jpeg(RED)
    assert add(env, upload_id, "DJI_0007.JPG", first).status_code == 201
    again = add(env, upload_id, "DJI_0007.JPG", first)  # the answer was lost: sent again
    assert again.status_code == 200 and again.json["stored"][0]["new"] is False
    other = add(env, upload_id, "DJI_0007.JPG", jpeg(BLUE))
    assert other.status_code == 409 and "'DJI_0007.JPG'" in other.json["error"]
    files = detail(env, upload_id).json["files"]
    assert files == [{"name": "DJI_0007.JPG", "original": "DJI_0007.JPG", "bytes": len(first)}]
    stored = stage(env, upload_id) / "photos" / "DJI_0007.JPG"
    assert stored.read_bytes() == first
    assert [p.name for p in stored.parent.iterdir()] == ["DJI_0007.JPG"]  # no temporary files


def test_odd_names_are_stored_safely_and_listed_as_sent(env) -> None:
    upload_id = create(env).json["id"]
    sent = ["照片 1.jpg", "照片 2.jpg", "../../etc/x.jpg", "raw_photo"]
    for name in sent:
        response = add(env, upload_id, name, jpeg(RED, lonlat=None))
        assert response.status_code == 201, response.json
    files = detail(env, upload_id).json["files"]
    assert sorted(f["original"] for f in files) == sorted(["照片 1.jpg", "照片 2.jpg", "x.jpg",
                                                           "raw_photo"])  # fmt: skip
    names = [f["name"] for f in files]
    assert len(set(names)) == 4 and "x.jpg" in names
    assert all(n.isascii() and Path(n).suffix in (".jpg",) for n in names)
    assert add(env, upload_id, "照片 1.jpg", jpeg(RED, lonlat=None)).status_code == 200
    folder = stage(env, upload_id) / "photos"
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    long = add(env, upload_id, "x" * 300 + ".jpg", jpeg(RED, lonlat=None))
    assert long.status_code == 400 and "longer than 255 characters" in long.json["error"]


def test_staged_names() -> None:
    assert photo_file_name("DJI_0001.JPG", "JPEG") == "DJI_0001.JPG"
    assert photo_file_name("a b.jpg", "JPEG").startswith("a_b-")
    assert photo_file_name("photo", "PNG").endswith(".png")
    assert photo_file_name("照片.tif", "TIFF").endswith(".tif")
    assert photo_file_name("照片.tif", "TIFF") != photo_file_name("图片.tif", "TIFF")
    assert len(photo_file_name("x" * 300 + ".jpg", "JPEG")) < 200
    # secure_filename keeps ASCII only: 航拍_001.jpg would be 001.jpg, 航拍.jpg would be "jpg"
    assert photo_file_name("航拍_001.jpg", "JPEG").startswith("001-")
    assert photo_file_name("航拍.jpg", "JPEG").startswith("photo-")


def test_chinese_photo_names_are_kept_for_display_and_exports(env, tmp_path) -> None:
    """Files are stored under safe names; the names they were sent under show in the findings
    API (which the review page shows), the ticket page, the photo's download name and the
    review export."""
    import csv
    from urllib.parse import quote

    from sqlalchemy import select

    from groundstation.models import Photo
    from groundstation.services import export_reviews

    upload_id = create(env, "supervisor").json["id"]
    sent = {"航拍_001.jpg": jpeg(RED), "巡查_001.jpg": jpeg(BLUE), "DJI_0003.JPG": jpeg(GREEN)}
    for name, data in sent.items():
        assert add(env, upload_id, name, data, "supervisor").status_code == 201
    done = finish(env, upload_id, "supervisor", photos=3)
    assert done.status_code == 202, done.json
    flight_id = done.json["flight_id"]
    assert env.runner().run_job(done.json["job_id"]).state == "done"
    with env.storage().session() as session:
        photos = {
            p.display_name: (Path(p.path).name, p.original_name, p.id)
            for p in session.scalars(select(Photo).where(Photo.flight_id == flight_id))
        }
    assert sorted(photos) == sorted(sent)
    for shown, (stored, original, _) in photos.items():
        assert stored.isascii()
        assert original == (None if shown == "DJI_0003.JPG" else shown)
    assert photos["航拍_001.jpg"][0] != photos["巡查_001.jpg"][0]  # both 001.jpg to secure_filename

    client = env.client()
    listed = client.get(
        f"/api/v1/findings?flight={flight_id}&status=all", headers=env.headers("supervisor")
    ).json["items"]
    by_label = {f["label"]: f for f in listed}
    fire = by_label["straw_burning"]  # the red photo
    assert fire["photo_name"] == "航拍_001.jpg"
    image = client.get(fire["photo_url"], headers=env.headers("supervisor"))
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert quote("航拍_001.jpg") in image.headers["Content-Disposition"]

    confirmed = client.post(
        f"/api/v1/findings/{fire['id']}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    assert confirmed.status_code == 200, confirmed.json
    login(client, "supervisor")
    html = client.get(f"/tickets/{confirmed.json['ticket_id']}").get_data(as_text=True)
    assert '<small id="photo-name">航拍_001.jpg</small>' in html

    with env.storage().session() as session:
        assert export_reviews(session, tmp_path / "export") >= 1
    with (tmp_path / "export" / "labels.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["finding_id"] == str(fire["id"])]
    assert row["photo_name"] == "航拍_001.jpg" and Path(row["image"]).name.isascii()


def test_flight_upload_keeps_photos_whose_names_sanitise_alike(env) -> None:
    """POST /api/v1/flights with photos: 照片_1.jpg and 图片_1.jpg were both stored as 1.jpg,
    the second overwriting the first."""
    from sqlalchemy import select

    from groundstation.models import Photo

    response = env.client().post(
        "/api/v1/flights",
        data={
            "photos": [
                (io.BytesIO(jpeg(RED)), "照片_1.jpg"),
                (io.BytesIO(jpeg(BLUE)), "图片_1.jpg"),
                (io.BytesIO(jpeg(GREEN)), "DJI_0001.JPG"),
            ]
        },
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.json
    with env.storage().session() as session:
        photos = list(
            session.scalars(select(Photo).where(Photo.flight_id == response.json["flight_id"]))
        )
    assert sorted(p.display_name for p in photos) == sorted(
        ["照片_1.jpg", "图片_1.jpg", "DJI_0001.JPG"]
    )
    assert len({p.path for p in photos}) == 3 and all(Path(p.path).name.isascii() for p in photos)


def test_empty_upload_cannot_be_finished(env) -> None:
    upload_id = create(env).json["id"]
    response = finish(env, upload_id)
    assert response.status_code == 400 and "no photos" in response.json["error"]
    assert detail(env, upload_id).status_code == 200  # still open


def test_failed_registration_keeps_the_photos_for_another_try(env, monkeypatch) -> None:
    from groundstation.blueprints import photo_uploads
    from groundstation.errors import IngestError

    upload_id = create(env).json["id"]
    assert add(env, upload_id, "a.jpg", jpeg(RED)).status_code == 201

    def broken(*args, **kwargs):
        raise IngestError("the database said no")

    monkeypatch.setattr(photo_uploads, "register_photos", broken)
    failed = finish(env, upload_id)
    assert failed.status_code == 400 and "the database said no" in failed.json["error"]
    assert [f["name"] for f in detail(env, upload_id).json["files"]] == ["a.jpg"]
    monkeypatch.undo()
    assert finish(env, upload_id).status_code == 202


def test_cancel_deletes_the_staged_photos(env) -> None:
    upload_id = create(env).json["id"]
    assert add(env, upload_id, "a.jpg", jpeg(RED)).status_code == 201
    assert (
        env.client()
        .delete(f"/api/v1/photo-uploads/{upload_id}", headers=env.headers("supervisor"))
        .status_code
        == 404
    )  # not theirs
    response = env.client().delete(
        f"/api/v1/photo-uploads/{upload_id}", headers=env.headers("pilot")
    )
    assert response.status_code == 200 and response.json == {
        "id": upload_id,
        "cancelled": True,
        "photos": 1,
    }
    assert not stage(env, upload_id).exists()
    assert detail(env, upload_id).status_code == 404
    assert add(env, upload_id, "b.jpg", jpeg(RED)).status_code == 404


def test_abandoned_uploads_are_cleaned_when_a_new_one_starts(env) -> None:
    old = create(env).json["id"]
    assert add(env, old, "a.jpg", jpeg(RED)).status_code == 201
    recent = create(env).json["id"]
    unrelated = env.data_dir / "uploads" / "keep-me"
    unrelated.mkdir(exist_ok=True)
    two_days_ago = time.time() - 2 * 86400
    for path in (stage(env, old), stage(env, old) / "photos", stage(env, old) / "upload.json"):
        os.utime(path, (two_days_ago, two_days_ago))
    os.utime(unrelated, (two_days_ago, two_days_ago))
    newest = create(env).json["id"]
    assert not stage(env, old).exists()
    assert stage(env, recent).is_dir() and stage(env, newest).is_dir() and unrelated.is_dir()
    assert clean_stale_uploads(env.data_dir / "uploads") == []  # nothing else is stale


def test_roles_ids_and_camera_are_checked(env) -> None:
    assert create(env, "department").status_code == 403
    assert env.client().post("/api/v1/photo-uploads", json={}).status_code == 401
    bad = create(env, camera="hasselblad")
    assert bad.status_code == 400 and "hasselblad" in bad.json["error"]
    custom = create(
        env,
        camera={
            "name": "custom",
            "sensor_width_mm": "13.2",
            "sensor_height_mm": 8.8,
            "focal_length_mm": 8.8,
            "image_width_px": 5472,
            "image_height_px": "3648",
        },
    )
    assert custom.status_code == 201 and custom.json["camera"]["sensor_width_mm"] == 13.2
    broken = create(env, camera={"name": "custom", "sensor_width_mm": -1})
    assert broken.status_code == 400
    for ident in ("../../photos", "0" * 32, "xyz"):
        assert detail(env, ident).status_code == 404


def test_session_clients_need_the_csrf_token(env) -> None:
    client = env.client()
    login(client, "pilot")
    refused = client.post("/api/v1/photo-uploads", json={"name": "x"})
    assert refused.status_code == 400 and "CSRF" in refused.json["error"]
    token = csrf_token(client.get("/flights").get_data(as_text=True))
    made = client.post("/api/v1/photo-uploads", json={}, headers={"X-CSRFToken": token})
    assert made.status_code == 201
    upload_id = made.json["id"]
    no_token = client.post(
        f"/api/v1/photo-uploads/{upload_id}/photos",
        data={"photos": (io.BytesIO(jpeg(RED)), "a.jpg")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400
    assert client.delete(f"/api/v1/photo-uploads/{upload_id}").status_code == 400
    assert (
        client.delete(
            f"/api/v1/photo-uploads/{upload_id}", headers={"X-CSRFToken": token}
        ).status_code
        == 200
    )


# -- the flights page's upload section in a browser ---------------------------------------------


@pytest.mark.slow
def test_upload_section_sends_photos_and_lists_the_new_flight(live, page, tmp_path) -> None:
    env, base = live
    folder = tmp_path / "sd"
    folder.mkdir()
    for name, rgb in (("DJI_0001.JPG", RED), ("DJI_0002.JPG", BLUE), ("DJI_0003.JPG", GREEN)):
        (folder / name).write_bytes(jpeg(rgb))
    (folder / "DJI_0004.MP4").write_bytes(b"video")  # left out: not a photo
    (folder / "broken.jpg").write_bytes(b"not a photo")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/photos") else None)
    add_grids(env, ("UP-S", SMALL))
    plan_id = saved_plan(env, "UP-S", "upload page")
    # an upload interrupted after its first photo: the page offers to continue it
    upload_id = create(env, "admin", name="Browser SD card", camera="mavic3e").json["id"]
    assert add(env, upload_id, "DJI_0001.JPG", jpeg(RED), "admin").status_code == 201
    sign_in(page, base, "admin")  # may upload, review and start flights
    page.goto(f"{base}/lang/en?next=/flights")
    resume = page.wait_for_selector(f"#resume-{upload_id}")
    assert "Browser SD card: 1 photo (" in resume.inner_text()  # one photo, not "1 photos"
    page.click(f"#resume-{upload_id} button.resume")
    page.wait_for_selector(f"#photo-upload[data-upload='{upload_id}']")
    assert page.input_value("#upload-name") == "Browser SD card"
    assert page.is_disabled("#upload-name") and page.input_value("#upload-camera") == "mavic3e"
    page.set_input_files("#upload-files", sorted(folder.iterdir()))
    page.click("#upload-start")
    page.wait_for_selector("#upload-errors li")  # broken.jpg refused, the others go on
    page.wait_for_function("document.getElementById('photo-upload').dataset.busy === ''")
    assert "broken.jpg" in page.inner_text("#upload-errors")
    assert len(sent) == 3  # DJI_0001.JPG had arrived before: not sent again
    # the counts add up: 3 of the 4 photos chosen are here, broken.jpg is not
    assert "3 of 4 photos, " in page.inner_text("#upload-count")
    assert page.inner_text("#upload-count").endswith("(1 not added)")
    status = page.inner_text("#upload-status")
    assert status.startswith("1 photo could not be added") and "the failed photo again" in status
    assert "1 file that is not a photo" in status
    assert page.is_visible("#upload-finish")
    page.screenshot(path=str(ARTIFACTS / "upload_01_errors.png"))
    page.click("#upload-finish")
    page.wait_for_selector("#upload-done:not([hidden])")
    assert "registered with 3 photos" in page.inner_text("#upload-done")
    # the status line that said so is gone: the result names the file left out, and why
    assert page.is_hidden("#upload-status")
    assert page.inner_text("#upload-done-text").endswith(
        " 1 file was not uploaded: it is not a photo (JPEG, PNG or TIFF): DJI_0004.MP4."
    )
    assert page.is_visible("#upload-findings-link")
    flight_id = page.get_attribute("#upload-flight-link", "data-flight")
    # the photo flights list shows the new flight without reloading the page
    listed = page.wait_for_selector(f"#photo-flights #flight-{flight_id}.highlight")
    assert "Browser SD card" in listed.inner_text()
    page.click("#upload-flight-link")
    row = page.wait_for_selector(f"#flight-{flight_id}.highlight")
    assert "Browser SD card" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "upload_02_listed.png"))
    kept = sorted(p.name for p in (env.data_dir / "uploads").rglob("*") if p.is_file())
    assert kept == ["finished.json", "upload.json"]  # no photo left behind: its finish answer
    flight = env.client().get(f"/api/v1/flights/{flight_id}", headers=env.headers("admin")).json
    assert flight["photos"] == {"pending": 3} and flight["camera"]["name"] == "mavic3e"

    # "Connect and upload" waits for its answer: a double click starts one session, not two
    page.select_option("#start-plan", str(plan_id))
    page.fill("#start-connection", "tcp:192.0.2.1:5760")
    page.evaluate(
        "() => { window.calls = 0; window.fetch = function () { window.calls += 1;"
        " return new Promise(function () {}); }; }"
    )
    page.click("#start-flight")
    page.click("#start-flight", force=True, no_wait_after=True)
    assert page.evaluate("window.calls") == 1 and page.is_disabled("#start-flight")
    page.evaluate(
        "() => { window.fetch = function () { return Promise.resolve(new Response("
        "JSON.stringify({error: 'vehicle busy'}), {status: 409,"
        " headers: {'Content-Type': 'application/json'}})); };"
        " document.getElementById('start-flight').disabled = false; }"
    )
    page.click("#start-flight")
    page.wait_for_selector("#start-error:not([hidden])")
    assert page.inner_text("#start-error") == "vehicle busy" and page.is_enabled("#start-flight")
    assert errors == []


@pytest.mark.slow
def test_a_registered_upload_lists_each_warning_apart_and_counts_one_photo(
    live, page, tmp_path
) -> None:
    """QA: the warnings of a registered upload ran together with each other and with the link
    ("…in a grid 3 of 5 photos are …", "Choose the camera that took them Show the flight"),
    and one photo read "1 photos"."""
    _env, base = live
    folder = tmp_path / "sd"
    folder.mkdir()
    (folder / "DJI_0001.JPG").write_bytes(jpeg(RED))
    (folder / "DJI_0002.JPG").write_bytes(jpeg(BLUE, lonlat=None))  # no GPS position
    sign_in(page, base, "pilot")
    page.goto(f"{base}/lang/en?next=/flights")
    page.set_input_files("#upload-files", sorted(folder.iterdir()))
    page.select_option("#upload-camera", "mavic3e")  # not the size of these photos
    page.click("#upload-start")
    page.wait_for_selector("#upload-done:not([hidden])")
    assert page.inner_text("#upload-count").startswith("2 of 2 photos, ")
    warnings = page.locator("#upload-done-warnings li").all_inner_texts()
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("1 of 2 photos has no GPS position")
    assert "pixels, not the" in warnings[1]
    links = page.locator("#upload-done .upload-links")
    assert links.locator("#upload-flight-link").is_visible()
    assert page.locator("#upload-done-warnings a").count() == 0  # the link stands apart
    flight_id = page.get_attribute("#upload-flight-link", "data-flight")
    row = page.wait_for_selector(f"#photo-flights #flight-{flight_id}")
    assert "1 of 2 photos has no GPS position" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "upload_03_warnings.png"))

    one = tmp_path / "one"
    one.mkdir()
    (one / "DJI_0009.JPG").write_bytes(jpeg(GREEN))
    page.set_input_files("#upload-files", [one / "DJI_0009.JPG"])
    page.select_option("#upload-camera", "mavic3e")
    page.click("#upload-start")
    page.wait_for_function(
        "document.getElementById('upload-done-text').textContent.includes('with 1 photo;')"
    )
    assert page.inner_text("#upload-count").startswith("1 of 1 photo, ")
    assert "it is being classified" in page.inner_text("#upload-done-text")


def test_finishing_an_upload_another_tab_is_finishing_is_a_conflict(env) -> None:
    upload_id = create(env).json["id"]
    assert add(env, upload_id, "a.jpg", jpeg(RED)).status_code == 201
    photos = stage(env, upload_id) / "photos"
    moved = photos.with_name("photos-elsewhere")
    photos.rename(moved)  # as the other tab's finish does, before it deletes the upload
    try:
        response = finish(env, upload_id)
        assert response.status_code == 409, response.json
        assert response.json["error"] == (
            "the upload is being finished by another request: try again once it has answered"
        )
    finally:
        moved.rename(photos)
    assert finish(env, upload_id).status_code == 202
