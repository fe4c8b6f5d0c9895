"""The same photos uploaded again (the SD card sent twice): the finish is refused with a 409
naming how many photos and the flight that holds them, unless forced, as a server folder
registered twice is; photos keep their content hash (migration 0010)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
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


# -- every way photos enter: finish, multipart POST /flights, a server folder -------------------


def unique_jpeg() -> bytes:
    """A geotagged JPEG no other photo shares (the database is shared by a module's tests)."""
    import tempfile
    import uuid
    from pathlib import Path

    from gis.exif import GeoTag, write_jpeg

    image = np.full((48, 64, 3), (90, 120, 60), dtype=np.uint8)
    image[0, :16] = np.frombuffer(uuid.uuid4().bytes, dtype=np.uint8)[:, None]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.jpg"
        write_jpeg(path, image, GeoTag(LONLAT[1], LONLAT[0], 120.0, relative_altitude_m=100.0))
        return path.read_bytes()


def post_photos(env, photos: dict[str, bytes], **fields):
    """``POST /api/v1/flights`` with the photos as multipart ``photos``."""
    return env.client().post(
        "/api/v1/flights",
        data={"photos": [(io.BytesIO(data), name) for name, data in photos.items()], **fields},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )


def post_folder(env, photos: dict[str, bytes], **fields):
    """``POST /api/v1/flights`` naming a fresh server folder (under PHOTO_ROOTS) with the
    photos, as a card copied to the server is."""
    import uuid

    folder = env.data_dir / "photos" / f"card_{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    for name, data in photos.items():
        (folder / name).write_bytes(data)
    return env.client().post(
        "/api/v1/flights", json={"source": str(folder), **fields}, headers=env.headers("pilot")
    )


def post_upload(env, photos: dict[str, bytes], **fields):
    """A staged upload of the photos, finished."""
    return finish(env, upload(env, photos), **fields)


ENTRY_POINTS = {"finish": post_upload, "multipart": post_photos, "folder": post_folder}


def flight_photos(env, flight_id: int) -> list[tuple[str, str | None]]:
    """A flight's photos: (path, content hash), by path."""
    with env.storage().session() as session:
        rows = session.execute(
            select(Photo.path, Photo.content_hash)
            .where(Photo.flight_id == flight_id)
            .order_by(Photo.path)
        )
        return [tuple(row) for row in rows]


def forget_hashes(env, flight_id: int) -> None:
    """Make a flight's photos look registered before migration 0010: no content hash."""
    from sqlalchemy import update

    with env.storage().session() as session:
        session.execute(update(Photo).where(Photo.flight_id == flight_id).values(content_hash=None))
        session.commit()


@pytest.mark.parametrize("first", ENTRY_POINTS)
@pytest.mark.parametrize("again", ENTRY_POINTS)
def test_every_entry_point_refuses_stored_photos_unless_forced(env, first, again) -> None:
    card = {"DJI_0001.JPG": unique_jpeg(), "DJI_0002.JPG": unique_jpeg()}
    stored = ENTRY_POINTS[first](env, card)
    assert stored.status_code == 202, stored.json
    flight_id = stored.json["flight_id"]
    kept = flight_photos(env, flight_id)
    before = flights(env)
    upload_folders = sorted((env.data_dir / "photos").iterdir())

    refused = ENTRY_POINTS[again](env, {**card, "DJI_0003.JPG": unique_jpeg()})
    assert refused.status_code == 409, refused.json
    assert refused.json == {
        "error": f"2 of these 3 photos are already stored as photo flight {flight_id} (the "
        "same files): send force=1 to register them again",
        "existing_flights": [flight_id],
        "photos_stored": 2,
        "confirm": "force",
    }
    assert flights(env) == before
    assert flight_photos(env, flight_id) == kept  # the stored flight is untouched
    assert all(Path(path).is_file() for path, _ in kept)
    if again == "multipart":  # the refused request's photos are not left on the server
        assert sorted((env.data_dir / "photos").iterdir()) == upload_folders

    forced = ENTRY_POINTS[again](env, {**card, "DJI_0003.JPG": unique_jpeg()}, force=True)
    assert forced.status_code == 202, forced.json
    assert flights(env) == before + 1 and forced.json["photos"] == 3


@pytest.mark.parametrize("again", ENTRY_POINTS)
def test_photos_stored_before_their_hash_was_kept_are_recognised(env, again) -> None:
    """Photos registered before migration 0010 have no content hash: the check hashes their
    files when it needs them, keeps the hash, and refuses them as any stored photo."""
    card = {"DJI_0001.JPG": unique_jpeg()}
    flight_id = post_folder(env, card).json["flight_id"]
    hashed = flight_photos(env, flight_id)
    forget_hashes(env, flight_id)

    refused = ENTRY_POINTS[again](env, card)
    assert refused.status_code == 409, refused.json
    assert refused.json["existing_flights"] == [flight_id]
    assert flight_photos(env, flight_id) == hashed  # hashed again, and kept though refused


def test_a_stored_photo_whose_file_is_gone_is_skipped_with_a_warning(env, caplog) -> None:
    gone = {"DJI_0001.JPG": unique_jpeg()}
    flight_id = post_folder(env, gone).json["flight_id"]
    forget_hashes(env, flight_id)
    [(path, _)] = flight_photos(env, flight_id)
    Path(path).unlink()

    with caplog.at_level("WARNING", logger="gridpatrol.ingest"):
        new = post_photos(env, {"DJI_0002.JPG": unique_jpeg()})
        again = post_photos(env, gone)  # its stored copy cannot be read: not recognised
    assert new.status_code == 202, new.json
    assert again.status_code == 202, again.json
    assert flight_photos(env, flight_id) == [(path, None)]
    warned = [r.getMessage() for r in caplog.records if path in r.getMessage()]
    assert warned and warned[0].startswith("1 stored photos without a content hash cannot be")


def test_only_stored_photos_of_a_sent_photos_size_are_read(env) -> None:
    """A file of another size cannot hold the same bytes: its hash waits for a check that
    needs it, so a registration does not read every older photo."""
    from groundstation.ingest import hash_stored_photos

    small, large = unique_jpeg(), unique_jpeg() + b"\0" * 4096
    flight_id = post_photos(env, {"small.jpg": small, "large.jpg": large}).json["flight_id"]
    forget_hashes(env, flight_id)

    hash_stored_photos(env.storage(), sizes={len(large)})
    hashes = {Path(p).name: h for p, h in flight_photos(env, flight_id)}
    assert hashes == {"large.jpg": hashlib.sha256(large).hexdigest(), "small.jpg": None}
    hash_stored_photos(env.storage())
    hashes = {Path(p).name: h for p, h in flight_photos(env, flight_id)}
    assert hashes["small.jpg"] == hashlib.sha256(small).hexdigest()


# -- the same bytes twice in one batch --------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("force", [False, True])
def test_the_same_photo_twice_in_one_batch_is_registered_once(env, entry, force) -> None:
    """Two names, one content: a second copy would be classified and its findings counted
    twice, so it is left out and named, forced or not."""
    same, other = unique_jpeg(), unique_jpeg()
    photos = {"DJI_0001.JPG": same, "DJI_0002.JPG": other, "copy of DJI_0001.JPG": same}
    fields = {"force": True} if force else {}
    answer = ENTRY_POINTS[entry](env, photos, **fields)
    assert answer.status_code == 202, answer.json
    assert answer.json["photos"] == 2
    assert answer.json["duplicates_merged"] == 1
    assert answer.json["photos_repeated"] == [
        {"name": "copy of DJI_0001.JPG", "same_as": "DJI_0001.JPG"}
    ]
    assert any(
        w.startswith("1 photo has the same bytes as another photo of this flight")
        and "copy of DJI_0001.JPG = DJI_0001.JPG" in w
        for w in answer.json["warnings"]
    ), answer.json["warnings"]
    stored = flight_photos(env, answer.json["flight_id"])
    assert sorted(h for _, h in stored) == sorted(
        hashlib.sha256(data).hexdigest() for data in (same, other)
    )


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_batch_without_repeats_says_nothing_of_them(env, entry) -> None:
    answer = ENTRY_POINTS[entry](env, {"a.jpg": unique_jpeg(), "b.jpg": unique_jpeg()})
    assert answer.status_code == 202, answer.json
    assert answer.json["photos"] == 2
    assert "duplicates_merged" not in answer.json and "photos_repeated" not in answer.json
    assert not any("same bytes" in w for w in answer.json["warnings"])


def test_a_stored_photo_sent_twice_in_a_batch_counts_as_two_of_those_sent(env) -> None:
    same = unique_jpeg()
    flight_id = post_photos(env, {"a.jpg": same}).json["flight_id"]
    refused = post_upload(env, {"a.jpg": same, "b.jpg": same, "c.jpg": unique_jpeg()})
    assert refused.status_code == 409, refused.json
    assert refused.json["existing_flights"] == [flight_id]
    assert refused.json["error"].startswith("2 of these 3 photos are already stored")


def test_repeats_within_a_batch_and_under_one_name_are_counted_together(env) -> None:
    """The multipart upload's own merge (one name sent twice) and the batch rule add up."""
    same = unique_jpeg()
    answer = env.client().post(
        "/api/v1/flights",
        data={
            "photos": [
                (io.BytesIO(same), "a.jpg"),
                (io.BytesIO(same), "a.jpg"),
                (io.BytesIO(same), "b.jpg"),
            ]
        },
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert answer.status_code == 202, answer.json
    assert answer.json["photos"] == 1 and answer.json["duplicates_merged"] == 2
    assert answer.json["photos_repeated"] == [{"name": "b.jpg", "same_as": "a.jpg"}]


def test_register_photos_names_repeats_from_the_folder(env, tmp_path) -> None:
    """The shared rule, as the demo and flight sessions meet it: paths from the folder."""
    from groundstation.ingest import register_photos

    same = unique_jpeg()
    (tmp_path / "day1").mkdir()
    (tmp_path / "day1" / "IMG_1.jpg").write_bytes(same)
    (tmp_path / "day2").mkdir()
    (tmp_path / "day2" / "IMG_1.jpg").write_bytes(same)
    registration = register_photos(env.storage(), tmp_path)
    assert registration.photos == 1
    assert registration.repeated == (("day2/IMG_1.jpg", "day1/IMG_1.jpg"),)
    assert len(flight_photos(env, registration.flight_id)) == 1
