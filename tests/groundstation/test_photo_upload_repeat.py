"""The same photos uploaded again (the SD card sent twice): the finish is refused with a 409
naming how many photos and the flight that holds them, unless forced, as a server folder
registered twice is; photos keep their content hash (migration 0010)."""

from __future__ import annotations

import io

import numpy as np
from sqlalchemy import func, select

from groundstation.models import Flight, Photo
from groundstation.storage import Storage

LONLAT = (119.905, 32.405)


def jpeg(shade: int) -> bytes:
    """A small geotagged JPEG, its content set by ``shade``."""
    import tempfile
    from pathlib import Path

    from gis.exif import GeoTag, write_jpeg

    image = np.full((48, 64, 3), (shade, 90, 60), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.jpg"
        write_jpeg(path, image, GeoTag(LONLAT[1], LONLAT[0], 120.0, relative_altitude_m=100.0))
        return path.read_bytes()


def upload(env, photos: dict[str, bytes]) -> str:
    upload_id = (
        env.client()
        .post("/api/v1/photo-uploads", json={"name": "SD"}, headers=env.headers("pilot"))
        .json["id"]
    )
    for name, data in photos.items():
        response = env.client().post(
            f"/api/v1/photo-uploads/{upload_id}/photos",
            data={"photos": (io.BytesIO(data), name)},
            headers=env.headers("pilot"),
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.json
    return upload_id


def finish(env, upload_id: str, **body):
    return env.client().post(
        f"/api/v1/photo-uploads/{upload_id}/finish", json=body, headers=env.headers("pilot")
    )


def flights(env) -> int:
    with env.storage().session() as session:
        return session.scalar(select(func.count(Flight.id)))


def test_the_same_photos_again_are_refused_unless_forced(env) -> None:
    card = {f"DJI_{i:04d}.JPG": jpeg(10 + i) for i in range(3)}
    first = finish(env, upload(env, card))
    assert first.status_code == 202, first.json
    flight_id = first.json["flight_id"]
    before = flights(env)

    again = upload(env, card)  # the same SD card, sent again
    refused = finish(env, again)
    assert refused.status_code == 409
    assert refused.json["error"] == (
        f"3 of these 3 photos are already stored as photo flight {flight_id} (the same files): "
        "send force=1 to register them again"
    )
    assert refused.json["existing_flights"] == [flight_id]
    assert refused.json["photos_stored"] == 3 and refused.json["confirm"] == "force"
    assert flights(env) == before  # nothing registered; the photos stay in the upload
    files = env.client().get(f"/api/v1/photo-uploads/{again}", headers=env.headers("pilot"))
    assert len(files.json["files"]) == 3

    forced = finish(env, again, force=True)
    assert forced.status_code == 202, forced.json
    assert flights(env) == before + 1


def test_one_repeated_photo_among_new_ones_is_counted_in_the_singular(env) -> None:
    old = jpeg(200)
    flight_id = finish(env, upload(env, {"a.jpg": old})).json["flight_id"]
    refused = finish(env, upload(env, {"b.jpg": jpeg(201), "c.jpg": jpeg(202), "a2.jpg": old}))
    assert refused.status_code == 409
    assert refused.json["error"].startswith(
        f"1 of these 3 photos is already stored as photo flight {flight_id} (the same file)"
    )


def test_new_photos_are_registered_with_their_content_hash(env) -> None:
    import hashlib

    data = jpeg(150)
    flight_id = finish(env, upload(env, {"new.jpg": data})).json["flight_id"]
    with env.storage().session() as session:
        stored = session.scalars(select(Photo.content_hash).where(Photo.flight_id == flight_id))
        assert list(stored) == [hashlib.sha256(data).hexdigest()]


def test_migration_0010_keeps_photos_and_adds_the_hash(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    storage.upgrade("0009")
    with storage.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO flights (name, source, status, created_at) "
            "VALUES ('old', '/tmp/old', 'done', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO photos (flight_id, path, status) "
            "VALUES ((SELECT id FROM flights WHERE name = 'old'), '/tmp/old/a.jpg', 'done')"
        )
    storage.upgrade()
    with storage.session() as session:
        photo = session.scalars(select(Photo)).one()
        assert photo.path == "/tmp/old/a.jpg" and photo.content_hash is None
    storage.dispose()
