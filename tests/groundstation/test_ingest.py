"""Ingest: a flight's photos are registered, classified in a job and stored as findings in grids;
re-runs add nothing; a bad photo does not stop the flight."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from conftest import G1, G2, add_grids, make_env, write_photo
from fakeclassifier import FakeClassifier
from sqlalchemy import func, select

from groundstation.errors import IngestError
from groundstation.ingest import ingest_flight, photo_paths, register_flight
from groundstation.models import Finding, Grid, Photo

RED, BLUE, GREY, GREEN = (200, 40, 30), (30, 50, 200), (128, 128, 128), (40, 200, 40)


def _flight_folder(root: Path) -> Path:
    write_photo(root / "a_red.jpg", RED, lonlat=(119.905, 32.405))  # G1, straw burning
    write_photo(root / "b_blue.jpg", BLUE, lonlat=(119.915, 32.405))  # G2, fishing
    write_photo(root / "c_grey.jpg", GREY)  # construction, no position
    write_photo(root / "d_green.jpg", GREEN, lonlat=(119.905, 32.405))  # background
    write_photo(root / "broken_e.jpg", RED)  # the fake classifier fails on it
    (root / "notes.txt").write_text("not a photo")
    return root


def test_register_and_ingest(env, tmp_path) -> None:
    add_grids(env, ("I-G1", G1), ("I-G2", G2))
    folder = _flight_folder(tmp_path / "flight")
    storage = env.storage()
    flight_id = register_flight(storage, folder, name="morning")
    classifier = FakeClassifier()
    counts = ingest_flight(storage, flight_id, classifier, crops_dir=env.data_dir / "crops")
    assert counts == {"photos": 5, "findings": 3, "errors": 1}
    with storage.session() as session:
        statuses = dict(
            session.execute(
                select(Photo.path, Photo.status).where(Photo.flight_id == flight_id)
            ).all()
        )
        assert sorted(Path(p).name for p, s in statuses.items() if s == "error") == ["broken_e.jpg"]
        rows = session.execute(
            select(Finding.label, Grid.code, Finding.crop_path)
            .outerjoin(Grid, Finding.grid_id == Grid.id)
            .where(Finding.flight_id == flight_id)
        ).all()
    by_label = {label: (code, crop) for label, code, crop in rows}
    assert by_label["straw_burning"][0] == "I-G1"
    assert by_label["illegal_fishing"][0] == "I-G2"
    assert by_label["illegal_construction"][0] is None
    assert all(Path(crop).is_file() for _, crop in by_label.values())
    # a second run finds nothing pending: no classifier calls, no new findings
    again = ingest_flight(storage, flight_id, classifier, crops_dir=env.data_dir / "crops")
    assert again == {"photos": 0, "findings": 0, "errors": 0}
    assert len(classifier.calls) == 5


def test_sources(tmp_path) -> None:
    folder = _flight_folder(tmp_path / "f")
    assert [p.name for p in photo_paths(folder)] == [
        "a_red.jpg",
        "b_blue.jpg",
        "broken_e.jpg",
        "c_grey.jpg",
        "d_green.jpg",
    ]
    log = tmp_path / "f" / "flight.jsonl"
    log.write_text('{"event": "takeoff"}\n{"photo": "a_red.jpg", "seq": 1}\nb_blue.jpg\n')
    assert [p.name for p in photo_paths(log)] == ["a_red.jpg", "b_blue.jpg"]
    with pytest.raises(IngestError, match="no such folder"):
        photo_paths(tmp_path / "missing")


def test_empty_folder_is_refused(env, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="no photos"):
        register_flight(env.storage(), tmp_path / "empty")


def test_geotags_are_read_with_gis_exif(env, tmp_path) -> None:
    exif = pytest.importorskip("gis.exif")
    import numpy as np

    tag = exif.GeoTag(
        lat=32.405,
        lon=119.905,
        altitude_m=120.0,
        relative_altitude_m=100.0,
        yaw_deg=90.0,
        time=None,
    )
    (tmp_path / "g").mkdir()
    exif.write_jpeg(tmp_path / "g" / "p.jpg", np.full((48, 64, 3), 128, dtype=np.uint8), tag)
    flight_id = register_flight(env.storage(), tmp_path / "g")
    with env.storage().session() as session:
        photo = session.scalars(select(Photo).where(Photo.flight_id == flight_id)).one()
    assert photo.lat == pytest.approx(32.405, abs=1e-6)
    assert photo.lon == pytest.approx(119.905, abs=1e-6)
    assert photo.relative_altitude_m == pytest.approx(100.0, abs=0.1)


def test_upload_flight_is_ingested_in_the_background(database_url, tmp_path) -> None:
    """POST photos → 202 at once → worker threads classify → findings in the review queue."""
    env = make_env(database_url, tmp_path / "data", JOB_WORKERS=1, JOB_POLL_S=0.05)
    queue = env.app.extensions["gridpatrol"].queue
    queue.start()
    try:
        files = []
        for name, rgb in (("x_red.jpg", RED), ("y_blue.jpg", BLUE), ("z_green.jpg", GREEN)):
            buf = io.BytesIO()
            # a size of its own: the module's other tests stored photos of these colours
            write_photo(tmp_path / "src" / name, rgb, size=(80, 60))
            buf.write((tmp_path / "src" / name).read_bytes())
            buf.seek(0)
            files.append((buf, name))
        client = env.client()
        response = client.post(
            "/api/v1/flights",
            data={"photos": files, "name": "upload", "allow_unplaced": "1"},
            headers=env.headers("pilot"),
            content_type="multipart/form-data",
        )
        assert response.status_code == 202, response.json
        flight_id = response.json["flight_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            flight = client.get(f"/api/v1/flights/{flight_id}", headers=env.headers("pilot")).json
            if flight["status"] == "done":
                break
            time.sleep(0.1)
        assert flight["status"] == "done" and flight["photos"] == {"done": 3}
        assert flight["findings"] == 2
        job = client.get(
            f"/api/v1/jobs/{response.json['job_id']}", headers=env.headers("pilot")
        ).json
        assert job["state"] == "done" and job["result"]["findings"] == 2
        queue_page = client.get(
            f"/api/v1/findings?flight={flight_id}", headers=env.headers("supervisor")
        ).json
        assert {f["label"] for f in queue_page["items"]} == {"straw_burning", "illegal_fishing"}
    finally:
        queue.stop()
        env.storage().dispose()
    with env.storage().session() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Finding).where(Finding.flight_id == flight_id)
            )
            == 2
        )
