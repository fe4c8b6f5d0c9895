"""Evidence photos on tickets: a photo sent under a Chinese name keeps it and shows inline in the
browser, a TIFF is stored as a PNG browsers show, "report resolved" with only a photo works in
the browser, and an image of too many pixels gets our own message and limit in the reader's
language (not Pillow's English decompression-bomb text)."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from conftest import Env, csrf_token, login, make_env, make_ticket, sign_in
from PIL import Image

#: The ports this suite may serve on.
PORTS = range(16700, 16720)
CHINESE = "处置后照片.jpg"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    """One SQLite app for the module."""
    e = make_env(
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'gp.sqlite3'}",
        tmp_path_factory.mktemp("data"),
    )
    yield e
    e.storage().dispose()


def picture(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """An RGB image with a gradient, so a conversion that loses or shuffles pixels shows."""
    w, h = size
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    rgb = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` pixels (a decompression bomb's
    shape; its pixels are never decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def resolve(env: Env, ticket_id: int, data: bytes, name: str, **fields: str):
    return env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        data={"action": "resolve", **fields, "photo": (io.BytesIO(data), name)},
        headers=env.headers("department"),
        content_type="multipart/form-data",
    )


def photo_entry(ticket_json: dict) -> tuple[int, dict]:
    return next((i, e) for i, e in enumerate(ticket_json["evidence"]) if e.get("photo"))


# -- names and types -----------------------------------------------------------------------------


def test_chinese_name_is_kept_and_the_photo_shows_inline(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    photo = encoded(picture(), "JPEG")
    done = resolve(env, ticket_id, photo, CHINESE)
    assert done.status_code == 200, done.json
    index, entry = photo_entry(done.json)
    assert entry["name"] == CHINESE
    stored = env.data_dir / entry["photo"]
    assert stored.suffix == ".jpg" and entry["photo"].isascii()
    assert stored.read_bytes() == photo
    # the case archive keeps the name it was sent under
    resolved = next(e for e in done.json["events"] if e["action"] == "resolve")
    assert [e.get("name") for e in resolved["data"]["evidence"] if e.get("photo")] == [CHINESE]

    served = env.client().get(
        f"/api/v1/tickets/{ticket_id}/evidence/{index}", headers=env.headers("supervisor")
    )
    assert served.status_code == 200 and served.data == photo
    assert served.mimetype == "image/jpeg"
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith("inline")
    assert f"filename*=UTF-8''{quote(CHINESE)}" in disposition

    client = env.client()
    login(client, "supervisor")
    html = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert CHINESE in html


@pytest.mark.parametrize(
    ("fmt", "stored_as", "mimetype", "offered"),
    [("JPEG", "0f705f67_jpg", "image/jpeg", ".jpg"), ("TIFF", "1a2b3c4d_tif", "image/png", ".png")],
    ids=["jpeg", "tiff"],
)
def test_evidence_stored_without_extension_is_served_by_its_content(
    env, fmt: str, stored_as: str, mimetype: str, offered: str
) -> None:
    """Evidence stored before names were kept (``evidence/2/0f705f67_jpg``) still shows."""
    from groundstation.models import Ticket

    ticket_id = make_ticket(env, "resolved")
    image = picture()
    path = env.data_dir / "evidence" / str(ticket_id) / stored_as
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded(image, fmt))
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).evidence = [
            {"photo": f"evidence/{ticket_id}/{stored_as}", "by": "old", "at": "2024-01-01"}
        ]
        session.commit()
    served = env.client().get(
        f"/api/v1/tickets/{ticket_id}/evidence/0", headers=env.headers("supervisor")
    )
    assert served.status_code == 200 and served.mimetype == mimetype
    assert served.headers["Content-Disposition"] == (
        f"inline; filename=evidence-{ticket_id}-0{offered}"
    )
    with Image.open(io.BytesIO(served.data)) as shown:
        pixels = np.asarray(shown.convert("RGB"), dtype=int)
    tolerance = 12 if fmt == "JPEG" else 0  # the JPEG's own loss; the PNG is exact
    assert np.abs(pixels - np.asarray(image, dtype=int)).max() <= tolerance


def _legacy_tiff_evidence(env: Env, image: Image.Image) -> tuple[int, Path]:
    """A resolved ticket whose evidence photo is a TIFF stored before TIFFs were converted."""
    from groundstation.models import Ticket

    ticket_id = make_ticket(env, "resolved")
    path = env.data_dir / "evidence" / str(ticket_id) / "5e6f7a8b_old.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded(image, "TIFF"))
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).evidence = [
            {"photo": f"evidence/{ticket_id}/{path.name}", "by": "old", "at": "2024-01-01"}
        ]
        session.commit()
    return ticket_id, path


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as shown:
        return np.asarray(shown.convert("RGB"), dtype=int)


def test_a_converted_tiff_is_answered_conditionally_and_converted_once(env, monkeypatch) -> None:
    """A map or ticket page showing a TIFF again gets 304 (no body), and the PNG is converted
    once, not on every request; a changed file is converted again and sent in full."""
    from groundstation import uploads

    conversions = []
    to_png = uploads._to_png
    monkeypatch.setattr(uploads, "_to_png", lambda data: conversions.append(1) or to_png(data))
    first = picture()
    ticket_id, path = _legacy_tiff_evidence(env, first)
    url, headers = f"/api/v1/tickets/{ticket_id}/evidence/0", env.headers("supervisor")
    served = env.client().get(url, headers=headers)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert (_pixels(served.data) == np.asarray(first, dtype=int)).all()
    etag, modified = served.headers["ETag"], served.headers["Last-Modified"]

    again = env.client().get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    since = env.client().get(url, headers={**headers, "If-Modified-Since": modified})
    assert since.status_code == 304
    assert env.client().get(url, headers=headers).data == served.data
    assert len(conversions) == 1

    second = picture().transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    path.write_bytes(encoded(second, "TIFF"))
    later = path.stat().st_mtime + 5  # as a later edit: not within the same clock tick
    os.utime(path, (later, later))
    changed = env.client().get(url, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert (_pixels(changed.data) == np.asarray(second, dtype=int)).all()
    assert len(conversions) == 2


def test_a_tiff_flight_photo_is_answered_conditionally(env) -> None:
    """A TIFF photo of a flight (a finding's, as a map page shows it) is sent as PNG once and
    then answered 304 while the browser has it."""
    import uuid

    from groundstation.models import Flight, Photo

    path = env.data_dir / "photos" / f"{uuid.uuid4().hex[:8]}.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    picture().save(path, "TIFF")
    with env.storage().session() as session:
        flight = Flight(name=f"f-{uuid.uuid4().hex[:6]}", source="test", status="done")
        session.add(flight)
        session.flush()
        photo = Photo(flight_id=flight.id, path=str(path), status="done")
        session.add(photo)
        session.commit()
        photo_id = photo.id
    url, headers = f"/api/v1/photos/{photo_id}/image", env.headers("supervisor")
    served = env.client().get(url, headers=headers)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert (_pixels(served.data) == np.asarray(picture(), dtype=int)).all()
    # a login protects it: the browser may keep it, a shared proxy may not
    assert served.cache_control.private and not served.cache_control.public
    again = env.client().get(url, headers={**headers, "If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_tiff_evidence_is_stored_and_served_as_png(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    image = picture()
    done = resolve(env, ticket_id, encoded(image, "TIFF"), "现场.tif")
    assert done.status_code == 200, done.json
    index, entry = photo_entry(done.json)
    assert entry["name"] == "现场.tif"  # the archive keeps the name it was sent under
    stored = env.data_dir / entry["photo"]
    assert stored.suffix == ".png"
    with Image.open(stored) as saved:
        assert saved.format == "PNG"
        assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(image))
    served = env.client().get(
        f"/api/v1/tickets/{ticket_id}/evidence/{index}", headers=env.headers("supervisor")
    )
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert f"filename*=UTF-8''{quote('现场.png')}" in served.headers["Content-Disposition"]


def test_cmyk_tiff_evidence_becomes_an_rgb_png(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    done = resolve(env, ticket_id, encoded(picture().convert("CMYK"), "TIFF"), "scan.tiff")
    assert done.status_code == 200, done.json
    _, entry = photo_entry(done.json)
    with Image.open(env.data_dir / entry["photo"]) as saved:
        assert (saved.format, saved.mode) == ("PNG", "RGB")


# -- too many pixels -------------------------------------------------------------------------


HUGE = png_declaring(20_000, 20_000)  # 400 MP: over Pillow's own refusal limit (179 MP)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh", "'巨图.png' 为 20000×20000 像素，超过允许的 64,000,000 像素"),
        ("en", "'巨图.png' is 20000×20000 pixels, more than the 64,000,000 allowed"),
    ],
)
def test_huge_evidence_gets_our_message_on_the_ticket_page(env, lang: str, expected: str) -> None:
    ticket_id = make_ticket(env, "in_progress")
    client = env.client()
    login(client, "department")
    client.get(f"/lang/{lang}")
    token = csrf_token(client.get(f"/tickets/{ticket_id}").get_data(as_text=True))
    page = client.post(
        f"/tickets/{ticket_id}/transition",
        data={
            "csrf_token": token,
            "action": "resolve",
            "expected_state": "in_progress",
            "note": "done",
            "photo": (io.BytesIO(HUGE), "巨图.png"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    html = page.get_data(as_text=True)
    assert expected.replace("'", "&#39;") in html
    assert "decompression bomb" not in html and "178956970" not in html
    assert 'data-state="in_progress"' in html
    assert not list((env.data_dir / "evidence" / str(ticket_id)).glob("*"))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Accept-Language": "zh-CN"}, "20000×20000 像素，超过允许的 64,000,000 像素"),
        ({"Accept-Language": "en"}, "20000×20000 pixels, more than the 64,000,000 allowed"),
    ],
    ids=["zh", "en"],
)
def test_huge_flight_photo_gets_our_message(env, headers: dict, expected: str) -> None:
    response = env.client().post(
        "/api/v1/flights",
        data={"photos": (io.BytesIO(HUGE), "航拍_001.png")},
        headers={**env.headers("pilot"), **headers},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert expected in response.json["error"] and "bomb" not in response.json["error"]


def test_huge_photo_in_a_photo_upload_gets_our_message(env) -> None:
    client, headers = env.client(), env.headers("pilot")
    created = client.post("/api/v1/photo-uploads", json={"name": "巨图"}, headers=headers)
    assert created.status_code == 201, created.json
    response = client.post(
        f"/api/v1/photo-uploads/{created.json['id']}/photos",
        data={"photos": (io.BytesIO(HUGE), "航拍_002.png")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "20000×20000 pixels, more than the 64,000,000 allowed" in response.json["error"]


def test_limit_above_pillows_cites_the_limit_in_force(envs) -> None:
    """A setting above Pillow's own limit cannot let Pillow open the image: the message names
    the limit that refused it, not a setting the image is within."""
    from PIL import Image as PILImage

    env = envs(MAX_IMAGE_PIXELS=500_000_000)
    ticket_id = make_ticket(env, "in_progress")
    response = resolve(env, ticket_id, HUGE, "巨图.png", note="done")
    assert response.status_code == 413
    assert f"more than the {2 * PILImage.MAX_IMAGE_PIXELS:,} allowed" in response.json["error"]


# -- the browser -------------------------------------------------------------------------------


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[Env, str]]:
    """A fresh SQLite app served on one of this suite's ports: (env, base URL)."""
    from werkzeug.serving import make_server

    env = make_env(f"sqlite:///{tmp_path / 'gp.sqlite3'}", tmp_path / "data")
    server = make_server("127.0.0.1", _free_port(), env.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield env, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    env.storage().dispose()


def server_message(env: Env, lang: str) -> str:
    """What the server answers a resolve form with neither note nor photo, in ``lang``."""
    from flask_babel import force_locale, gettext

    with env.app.test_request_context(), force_locale(lang):
        return gettext("Report resolved needs evidence: a note or a photo of the result.")


@pytest.mark.slow
def test_resolve_with_only_a_tiff_photo_in_the_browser(served, page, tmp_path) -> None:
    """Neither note nor photo: the browser refuses with the server's message. A photo alone
    (a TIFF under a Chinese name) resolves the ticket, and the page shows the photo."""
    env, base = served
    ticket_id = make_ticket(env, "in_progress")
    sign_in(page, base, "department")
    page.goto(f"{base}/tickets/{ticket_id}")
    form = page.locator("#form-resolve")
    form.locator("#do-resolve").click()
    note = form.locator('[name="note"]')
    assert note.evaluate("n => n.validationMessage") == server_message(env, "zh")
    assert page.locator("#ticket-state").get_attribute("data-state") == "in_progress"

    tiff = tmp_path / "处置后.tif"
    picture((120, 80)).save(tiff, "TIFF")
    form.locator('[name="photo"]').set_input_files(str(tiff))
    assert note.evaluate("n => n.validationMessage") == ""
    form.locator("#do-resolve").click()
    page.wait_for_selector("#ticket-state[data-state='resolved']")
    image = page.locator("#evidence img.evidence")
    image.wait_for()
    page.wait_for_function("document.querySelector('#evidence img.evidence').complete")
    assert image.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [120, 80]
    assert "处置后.tif" in page.locator("#evidence").inner_text()


def test_huge_photo_registered_from_a_folder_is_placed_but_not_rendered(tmp_path) -> None:
    """A photo registered from a folder skips the upload checks: placing it needs only its
    header's size; rendering it is refused with our message, not Pillow's."""
    from types import SimpleNamespace

    from PIL import Image as PILImage

    from gis.camera import PRESETS
    from groundstation.errors import TooLargeError
    from groundstation.imagery import place_photo, render_photo_overlay

    path = tmp_path / "DJI_0001.png"
    path.write_bytes(HUGE)
    fields = {"lon": 119.905, "lat": 32.405, "relative_altitude_m": 100.0, "yaw_deg": 0.0}
    photo = SimpleNamespace(id=7, path=str(path), **fields)
    georef = place_photo(photo, PRESETS["phantom4pro"])
    assert (georef.width, georef.height) == (20_000, 20_000)
    with pytest.raises(TooLargeError) as refused:
        render_photo_overlay(
            path, tmp_path / "overlay.png", georef_fields=fields, camera=PRESETS["phantom4pro"]
        )
    limit = 2 * PILImage.MAX_IMAGE_PIXELS
    assert str(refused.value) == (
        f"'DJI_0001.png' is 20000×20000 pixels, more than the {limit:,} allowed"
    )
