"""Attacks on the inputs and the access control: each one that used to work now gets a clear 4xx
and stores nothing."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from pathlib import Path

import pytest
from conftest import (
    G1,
    SMALL,
    add_grids,
    csrf_token,
    grid_geojson,
    login,
    make_ticket,
    placed_finding,
    write_photo,
)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of ``width`` x ``height`` black pixels, a few KiB packed."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    packer, row, rows = zlib.compressobj(9), b"\0" * (width + 1), []
    for _ in range(height):
        rows.append(packer.compress(row))
    rows.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(rows))
        + chunk(b"IEND", b"")
    )


def _new_user(env, role: str = "pilot", *, active: bool = True) -> tuple[str, str]:
    """A fresh user (password ``<name>-password``) and an API key bound to it."""
    from werkzeug.security import generate_password_hash

    from groundstation.models import ApiKey, User
    from groundstation.web import hash_api_key

    name, key = f"u{uuid.uuid4().hex[:10]}", f"key-{uuid.uuid4().hex}"
    with env.storage().session() as session:
        user = User(
            username=name,
            role=role,
            password_hash=generate_password_hash(f"{name}-password"),
            active=active,
        )
        session.add(user)
        session.flush()
        session.add(ApiKey(name=name, key_hash=hash_api_key(key), user_id=user.id))
        session.commit()
    return name, key


def _flight_count(env) -> int:
    return len(env.client().get("/api/v1/flights", headers=env.headers("admin")).json)


# -- images ------------------------------------------------------------------------------------


def test_evidence_photo_decompression_bomb_is_refused(env) -> None:
    bomb = _png_bomb(9000, 9000)  # 81 MP: below Pillow's own warning, above our limit
    assert len(bomb) < 200_000
    ticket_id = make_ticket(env, "in_progress")
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        data={"action": "resolve", "note": "done", "photo": (io.BytesIO(bomb), "after.png")},
        headers=env.headers("department"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "pixels" in response.json["error"]
    ticket = env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert ticket["state"] == "in_progress" and ticket["evidence"] == []
    assert not list((env.data_dir / "evidence" / str(ticket_id)).glob("*"))


def test_flight_photo_decompression_bomb_is_refused(env) -> None:
    before = _flight_count(env)
    response = env.client().post(
        "/api/v1/flights",
        data={"photos": (io.BytesIO(_png_bomb(9000, 9000)), "a.png")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "pixels" in response.json["error"]
    assert _flight_count(env) == before


# -- server paths ------------------------------------------------------------------------------


def test_flight_source_symlink_to_a_file_outside_the_roots_is_refused(env, tmp_path) -> None:
    secret = write_photo(tmp_path / "elsewhere" / "secret.jpg", (1, 2, 3))
    folder = env.data_dir / "photos" / f"link_{uuid.uuid4().hex[:6]}"
    write_photo(folder / "a.jpg", (9, 9, 9))
    (folder / "b.jpg").symlink_to(secret)
    before = _flight_count(env)
    response = env.client().post(
        "/api/v1/flights", json={"source": str(folder)}, headers=env.headers("pilot")
    )
    assert response.status_code == 400 and "outside the allowed folders" in response.json["error"]
    assert _flight_count(env) == before


def test_flight_log_listing_photos_outside_the_roots_is_refused(env, tmp_path) -> None:
    secret = write_photo(tmp_path / "elsewhere" / "secret.jpg", (1, 2, 3))
    log = env.data_dir / "photos" / f"log_{uuid.uuid4().hex[:6]}.txt"
    log.write_text(f"{secret}\n")
    before = _flight_count(env)
    response = env.client().post(
        "/api/v1/flights", json={"source": str(log)}, headers=env.headers("pilot")
    )
    assert response.status_code == 400 and "outside the allowed folders" in response.json["error"]
    assert _flight_count(env) == before


def test_flight_source_in_the_evidence_folder_is_refused(env) -> None:
    # the data dir holds evidence photos, crops and the secret key: only photos/ is a root
    folder = env.data_dir / "evidence" / "999999"
    write_photo(folder / "after.jpg", (5, 5, 5))
    before = _flight_count(env)
    response = env.client().post(
        "/api/v1/flights", json={"source": str(folder)}, headers=env.headers("pilot")
    )
    assert response.status_code == 400 and "outside" in response.json["error"]
    assert _flight_count(env) == before


def test_photo_roots_given_as_one_string(env, tmp_path, monkeypatch) -> None:
    root = tmp_path / "root"
    write_photo(root / "ok" / "a.jpg", (1, 1, 1))
    write_photo(tmp_path / "other" / "a.jpg", (1, 1, 1))
    monkeypatch.setitem(env.app.config, "PHOTO_ROOTS", str(root))
    before = _flight_count(env)
    response = env.client().post(
        "/api/v1/flights", json={"source": str(tmp_path / "other")}, headers=env.headers("pilot")
    )
    assert response.status_code == 400 and "outside" in response.json["error"]
    assert _flight_count(env) == before
    response = env.client().post(
        "/api/v1/flights",
        json={"source": str(root / "ok"), "allow_unplaced": True},
        headers=env.headers("pilot"),
    )
    assert response.status_code == 202


def _geotiff(path: Path) -> Path:
    """A small georeferenced GeoTIFF (a usable SITL world) at ``path``."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_bounds

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": 20, "height": 20, "count": 3, "dtype": "uint8"}
    transform = from_bounds(119.887, 32.397, 119.895, 32.404, 20, 20)
    with rasterio.open(path, "w", crs="EPSG:4326", transform=transform, **profile) as dst:
        dst.write(np.full((3, 20, 20), 120, dtype=np.uint8))
    return path


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    code = f"SEC-P-{uuid.uuid4().hex[:6]}"
    add_grids(env, (code, SMALL))
    body = {"grids": [code], "profile": "patrol", "altitude_m": 40, "name": "security"}
    response = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot"))
    assert response.status_code == 201, response.json
    return response.json["id"]


def _session_count(env) -> int:
    return len(env.client().get("/api/v1/flight-sessions", headers=env.headers("admin")).json)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("data_dir", "outside the allowed folders"),  # evidence, keys: not a photo root
        ("string_roots", "outside the allowed folders"),  # PHOTO_ROOTS given as one string
        ("vrt", "not a TIFF file"),  # XML rendering a raster outside the roots
    ],
)
def test_sitl_world_outside_the_photo_roots_or_not_a_tiff_is_refused(
    env, plan_id, tmp_path, monkeypatch, kind: str, words: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    if kind == "data_dir":
        world = _geotiff(env.data_dir / "evidence" / f"world_{tag}.tif")
    elif kind == "string_roots":
        monkeypatch.setitem(env.app.config, "PHOTO_ROOTS", str(tmp_path / "root"))
        (tmp_path / "root").mkdir()
        world = _geotiff(tmp_path / "other" / "world.tif")
    else:
        outside = _geotiff(tmp_path / "outside" / "world.tif")
        world = env.data_dir / "photos" / f"world_{tag}.tif"
        world.parent.mkdir(parents=True, exist_ok=True)
        world.write_text(
            '<VRTDataset rasterXSize="20" rasterYSize="20"><SRS>EPSG:4326</SRS>'
            "<GeoTransform>119.887,4e-4,0,32.404,0,-3.5e-4</GeoTransform>"
            '<VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
            f'<SourceFilename relativeToVRT="0">{outside}</SourceFilename>'
            "<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
        )
    before = _session_count(env)
    response = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "simulate": True, "world": str(world)},
        headers=env.headers("pilot"),
    )
    assert response.status_code == 400, response.json
    assert words in response.json["error"]
    assert _session_count(env) == before


# -- departments see their own cases only ------------------------------------------------------


@pytest.fixture
def two_findings(env, tmp_path) -> dict:
    """Two findings in grid G1, one behind an urban-management ticket, one behind another
    department's ticket."""
    from sqlalchemy import select

    from groundstation.models import Department, Finding, Grid, Ticket

    code = f"SEC-{uuid.uuid4().hex[:6]}"
    add_grids(env, (code, G1))
    out = {"grid": code}
    for who, dept in (("own", "urban_management"), ("other", "ecology_environment")):
        (tmp_path / who).mkdir()
        placed = placed_finding(
            env, tmp_path / who, yaw_deg=0.0, target_m=(0.0, 0.0), score=0.9, name=who
        )
        with env.storage().session() as session:
            grid_id = session.scalar(select(Grid.id).where(Grid.code == code))
            session.get(Finding, placed["finding"]).grid_id = grid_id
            ticket_id = make_ticket(env, "dispatched", department=dept)
            ticket = session.get(Ticket, ticket_id)
            ticket.finding_id, ticket.grid_id = placed["finding"], grid_id
            ticket.department_id = session.scalar(
                select(Department.id).where(Department.code == dept)
            )
            session.commit()
        out[who] = {**placed, "ticket": ticket_id}
    return out


def test_department_sees_only_findings_and_photos_of_its_tickets(env, two_findings) -> None:
    client, headers = env.client(), env.headers("department")
    own, other = two_findings["own"], two_findings["other"]
    assert client.get(f"/api/v1/findings/{own['finding']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/photos/{own['photo']}/image", headers=headers).status_code == 200
    assert client.get(f"/api/v1/findings/{other['finding']}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/photos/{other['photo']}/image", headers=headers).status_code == 404
    assert (
        client.get(f"/api/v1/findings/{other['finding']}/crop", headers=headers).status_code == 404
    )
    listed = client.get("/api/v1/findings?status=all&page_size=500", headers=headers).json
    ids = {f["id"] for f in listed["items"]}
    assert own["finding"] in ids and other["finding"] not in ids
    supervisor = client.get(
        "/api/v1/findings?status=all&page_size=500", headers=env.headers("supervisor")
    )
    assert other["finding"] in {f["id"] for f in supervisor.json["items"]}


def test_department_sees_only_photo_overlays_of_its_tickets(env, two_findings) -> None:
    client, headers = env.client(), env.headers("department")
    own, other = two_findings["own"], two_findings["other"]
    for item, status in ((own, 200), (other, 404)):
        urls = [
            f"/api/v1/photos/{item['photo']}/overlay",
            f"/api/v1/photos/{item['photo']}/overlay.png",
            f"/api/v1/findings/{item['finding']}/overlay",
        ]
        assert [client.get(url, headers=headers).status_code for url in urls] == [status] * 3
    for item, photos in ((own, [own["photo"]]), (other, [])):
        listed = client.get(f"/api/v1/flights/{item['flight']}/overlays", headers=headers).json
        assert [i["photo_id"] for i in listed["items"] + listed["skipped"]] == photos
    supervisor = client.get(
        f"/api/v1/flights/{other['flight']}/overlays", headers=env.headers("supervisor")
    ).json
    assert [i["photo_id"] for i in supervisor["items"]] == [other["photo"]]
    overlay = client.get(
        f"/api/v1/findings/{other['finding']}/overlay", headers=env.headers("supervisor")
    )
    assert overlay.status_code == 200


def test_department_sees_only_its_tickets_in_a_grid(env, two_findings) -> None:
    code, own, other = two_findings["grid"], two_findings["own"], two_findings["other"]
    detail = env.client().get(f"/api/v1/grids/{code}", headers=env.headers("department")).json
    assert [t["id"] for t in detail["tickets"]] == [own["ticket"]]
    assert [f["id"] for f in detail["findings"]] == [own["finding"]]
    everything = env.client().get(f"/api/v1/grids/{code}", headers=env.headers("admin")).json
    assert {t["id"] for t in everything["tickets"]} == {own["ticket"], other["ticket"]}
    client = env.client()
    login(client, "department")
    page = client.get(f"/grids/{code}").get_data(as_text=True)
    assert f'/tickets/{own["ticket"]}"' in page and f'/tickets/{other["ticket"]}"' not in page


# -- Open311 -----------------------------------------------------------------------------------


def _open311(env, key: str, **fields):
    data = {
        "api_key": key,
        "service_code": "straw_burning",
        "lat": "32.405",
        "long": "119.905",
        "description": "smoke",
        **fields,
    }
    return env.client().post("/open311/v2/requests.json", data=data)


def _open311_count(env) -> int:
    got = env.client().get("/api/v1/tickets?page_size=1", headers=env.headers("admin")).json
    return got["total"]


def test_open311_key_of_a_deactivated_user_is_refused(env) -> None:
    _, key = _new_user(env, active=False)
    before = _open311_count(env)
    response = _open311(env, key)
    assert response.status_code == 403 and response.json[0]["code"] == 403
    assert _open311_count(env) == before


@pytest.mark.parametrize(
    ("field", "size", "message"),
    [("address_string", 501, "address_string is longer"), ("media_url", 2001, "media_url is")],
)
def test_open311_long_fields_are_refused(env, field: str, size: int, message: str) -> None:
    value = "https://x.cn/" + "a" * size if field == "media_url" else "路" * size
    before = _open311_count(env)
    response = _open311(env, env.keys["supervisor"], **{field: value})
    assert response.status_code == 400 and message in response.json[0]["description"]
    assert _open311_count(env) == before


def test_open311_requests_per_key_and_hour_are_bounded(env, monkeypatch) -> None:
    monkeypatch.setitem(env.app.config, "OPEN311_MAX_REQUESTS_PER_HOUR", 2)
    _, key = _new_user(env, "supervisor")
    assert [_open311(env, key).status_code for _ in range(2)] == [200, 200]
    before = _open311_count(env)
    response = _open311(env, key)
    assert response.status_code == 429 and response.json[0]["code"] == 429
    assert _open311_count(env) == before


def test_open311_huge_request_ids_are_a_400(env) -> None:
    response = env.client().get(
        "/open311/v2/requests.json?service_request_id=99999999999999999999",
        headers=env.headers("admin"),
    )
    assert response.status_code == 400 and response.json[0]["code"] == 400


# -- sign-in -----------------------------------------------------------------------------------


def _login(client, name: str, password: str):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    data = {"username": name, "password": password, "csrf_token": token}
    return client.post("/login?lang=en", data=data)


def test_login_is_locked_after_repeated_failures(env) -> None:
    name, _ = _new_user(env)
    client = env.client()
    assert [_login(client, name, "guess").status_code for _ in range(5)] == [401] * 5
    locked = _login(client, name, f"{name}-password")  # even the right password now
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401
    other, _ = _new_user(env)  # another user name from the same address is not locked
    assert _login(client, other, f"{other}-password").status_code == 302


@pytest.mark.parametrize("hops", [1, 0])
def test_behind_a_proxy_sign_in_locks_go_by_the_forwarded_address(envs, hops: int) -> None:
    """Behind one trusted proxy (PROXY_HOPS=1) every request comes from the proxy's address:
    five wrong guesses from one client lock that client only, not the user everywhere.
    Without it, X-Forwarded-For is a header anyone can forge, and is ignored."""
    env = envs(PROXY_HOPS=hops)
    name, _ = _new_user(env)
    guesser, owner = env.client(), env.client()
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.5"
    owner.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    assert [_login(guesser, name, "guess").status_code for _ in range(5)] == [401] * 5
    assert _login(guesser, name, f"{name}-password").status_code == 429
    assert _login(owner, name, f"{name}-password").status_code == (302 if hops else 429)


def test_login_starts_a_fresh_session(env) -> None:
    name, _ = _new_user(env)
    client = env.client()
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "attacker"
        before = session["csrf_token"]
    assert _login(client, name, f"{name}-password").status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session and session.get("csrf_token") != before
        assert session.permanent
    token = csrf_token(client.get("/tickets").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    with client.session_transaction() as session:
        assert "_user_id" not in session and "csrf_token" not in session


# -- stored XSS --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ['<img src=x onerror="alert(1)">', "G1\u0000"])
def test_grid_codes_with_markup_are_refused(env, code: str) -> None:
    before = env.client().get("/api/v1/grids", headers=env.headers("admin")).json
    layer = grid_geojson((code, G1))
    response = env.client().post(
        "/api/v1/grids",
        data={"file": (io.BytesIO(layer), "grids.geojson")},
        headers=env.headers("supervisor"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "markup" in response.json["error"]
    client = env.client()
    token = login(client, "supervisor")
    page = client.post(
        "/grids/import",
        data={"file": (io.BytesIO(layer), "grids.geojson"), "csrf_token": token},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "含有标记符号或控制字符" in page.get_data(as_text=True)  # the page's language
    assert env.client().get("/api/v1/grids", headers=env.headers("admin")).json == before


def test_a_pages_fetches_do_not_write_the_session_back(env) -> None:
    """Only page loads and changes re-send the session cookie: a fetch answered just after the
    reader switched language wrote the old session (without the language) back over it."""
    client = env.client()
    login(client, "supervisor")
    fetch = client.get("/api/v1/me", headers={"Sec-Fetch-Mode": "cors"})
    assert fetch.status_code == 200 and "Set-Cookie" not in fetch.headers
    switched = client.get("/lang/en", headers={"Sec-Fetch-Mode": "navigate"})
    assert "Set-Cookie" in switched.headers  # changed: sent
    page = client.get("/tickets", headers={"Sec-Fetch-Mode": "navigate"})
    assert "Set-Cookie" in page.headers  # a page load slides the expiry on
    assert 'lang="en"' in page.get_data(as_text=True)
