"""Fixtures: a fresh database per test module on SQLite and on the real PostgreSQL, an app with
users of every role and their API keys, photo folders and grid layers, ingested flights, placed
findings, orthomosaic uploads, the dashboard's seed data, and a live server and browser page for
the Playwright tests."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

if str(HERE) not in sys.path:  # fakeclassifier.py, importable by the app as CLASSIFIER
    sys.path.insert(0, str(HERE))

ENV_KEYS = (
    "DATABASE_URL",
    "REDIS_URL",
    "GRIDPATROL_DATA_DIR",
    "GRIDPATROL_SECRET_KEY",
    "WEBHOOK_URL",
    "NOTIFIERS",
    "CLASSIFIER",
    "JOB_WORKERS",
    "FAKE_CLASSIFIER_DELAY_S",
)

# Grid G1 covers lon 119.90..119.91, lat 32.40..32.41; G2 lies east of it.
G1 = [[119.90, 32.40], [119.91, 32.40], [119.91, 32.41], [119.90, 32.41], [119.90, 32.40]]
G2 = [[119.91, 32.40], [119.92, 32.40], [119.92, 32.41], [119.91, 32.41], [119.91, 32.40]]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA.resolve()


def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one module; dropped (with every table) afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"gp_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, for one test (migrations from scratch)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        yield from pg_schema_url()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'gridpatrol.sqlite3'}"
    else:
        yield from pg_schema_url()


@dataclass
class Env:
    """An app with one user (and API key) per role and helpers to call the API as them."""

    app: object
    data_dir: Path
    keys: dict[str, str]
    users: dict[str, int]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def client(self):
        return self.app.test_client()

    def storage(self):
        return self.app.extensions["gridpatrol"].storage

    def runner(self):
        return self.app.extensions["gridpatrol"].queue.runner


PEOPLE = {
    "pilot": ("pilot", None),
    "supervisor": ("supervisor", None),
    "admin": ("admin", None),
    "department": ("department", "urban_management"),  # handles illegal_construction
    "other_department": ("department", "ecology_environment"),
}


def make_env(database_url: str, data_dir: Path, **config) -> Env:
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from groundstation.app import create_app
    from groundstation.models import ApiKey, Department, User
    from groundstation.web import hash_api_key

    settings = {
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "AUTO_MIGRATE": True,
        "JOB_WORKERS": 0,
        "ESCALATION_INTERVAL_S": 0,
        "SECRET_KEY": "test-secret",
        "CLASSIFIER": "fakeclassifier:load",
        "MAX_IMAGE_BYTES": 2 * 2**20,
        "MAX_CONTENT_LENGTH": 8 * 2**20,
    }
    settings.update(config)
    app = create_app(settings)
    storage = app.extensions["gridpatrol"].storage
    keys, users = {}, {}
    with storage.session() as session:
        for who, (role, dept) in PEOPLE.items():
            user = session.scalar(select(User).where(User.username == who))
            if user is None:
                dept_id = session.scalar(select(Department.id).where(Department.code == dept))
                user = User(
                    username=who,
                    role=role,
                    department_id=dept_id,
                    password_hash=generate_password_hash(f"{who}-password"),
                )
                session.add(user)
                session.flush()
            key = f"key-{who}-{uuid.uuid4().hex}"
            session.add(
                ApiKey(
                    name=f"{who}-{uuid.uuid4().hex[:6]}",
                    key_hash=hash_api_key(key),
                    user_id=user.id,
                )
            )
            keys[who], users[who] = key, user.id
        session.commit()
    return Env(app, data_dir, keys, users)


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory) -> Iterator[Env]:
    """One app per module and backend; tests create their own rows and do not depend on counts."""
    e = make_env(database_url, tmp_path_factory.mktemp("data"))
    yield e
    e.storage().dispose()


@pytest.fixture
def envs(tmp_path) -> Iterator:
    """``make(**settings)``: an app of its own for one test (webhooks time out after 2 s unless
    told otherwise); apps made twice share one SQLite database and data folder. Every app made
    is stopped and disposed of afterwards."""
    made: list[Env] = []

    def make(**config) -> Env:
        settings = {"WEBHOOK_TIMEOUT_S": 2.0, **config}
        env = make_env(f"sqlite:///{tmp_path / 'gp.sqlite3'}", tmp_path / "data", **settings)
        made.append(env)
        return env

    yield make
    for env in made:
        env.app.extensions["gridpatrol"].queue.stop()
        env.storage().dispose()


def write_photo(
    path: Path,
    rgb: tuple[int, int, int],
    *,
    lonlat: tuple[float, float] | None = None,
    size: tuple[int, int] = (64, 48),
) -> Path:
    """A flat-colour JPEG (and a position sidecar the fake classifier reads). Its name is in
    a JPEG comment: two photos of one colour are two contents, as a camera's photos always
    are (a flight registers the same bytes once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.full((size[1], size[0], 3), rgb, dtype=np.uint8))
    image.save(path, "JPEG", comment=path.name.encode())
    if lonlat is not None:
        write_sidecar(path, lonlat)
    return path


def write_sidecar(path: Path, lonlat: tuple[float, float]) -> None:
    """The position sidecar of photo ``path``: where the fake classifier places its finding."""
    Path(str(path) + ".json").write_text(json.dumps({"lon": lonlat[0], "lat": lonlat[1]}))


def ingest_folder(env: Env, folder: Path, **register_kw) -> int:
    """Register the photos in ``folder`` as a flight and ingest it with the fake classifier."""
    from fakeclassifier import FakeClassifier

    from groundstation.ingest import ingest_flight, register_flight

    storage = env.storage()
    flight_id = register_flight(storage, folder, **register_kw)
    ingest_flight(storage, flight_id, FakeClassifier(), crops_dir=env.data_dir / "crops")
    return flight_id


#: Where the SITL-style photos below are taken: inside grid G1.
PHOTO_LONLAT = (119.905, 32.405)


def sitl_photo(
    path: Path,
    camera,
    *,
    long_px: int,
    height_m: float,
    yaw_deg: float,
    target_m: tuple[float, float],
    ground_m: float = 30.0,
) -> tuple[float, float]:
    """A SITL-style photo taken at PHOTO_LONLAT: the camera's view from `height_m`, stored with a
    `long_px` long side (smaller than the sensor), with a 6 m red square whose centre lies
    `target_m` = (east, north) metres from the photo centre. Returns the square's (lon, lat)."""
    import math

    from gis.crs import LocalFrame
    from gis.exif import GeoTag, write_jpeg

    width = long_px
    height = round(long_px * camera.image_height_px / camera.image_width_px)
    pixel = camera.footprint_m(height_m)[0] / width  # as the SITL renders it
    east, north = target_m
    yaw = math.radians(yaw_deg)
    right = east * math.cos(yaw) - north * math.sin(yaw)
    forward = east * math.sin(yaw) + north * math.cos(yaw)
    cx, cy = width / 2 + right / pixel, height / 2 - forward / pixel
    half = 3.0 / pixel
    image = np.full((height, width, 3), (60, 140, 60), dtype=np.uint8)
    image[round(cy - half) : round(cy + half), round(cx - half) : round(cx + half)] = (255, 0, 0)
    lon0, lat0 = PHOTO_LONLAT
    tag = GeoTag(lat0, lon0, ground_m + height_m, relative_altitude_m=height_m, yaw_deg=yaw_deg)
    write_jpeg(path, image, tag, quality=95)
    lon, lat = LocalFrame(lon0, lat0).inverse(east, north)
    return float(lon), float(lat)


def placed_finding(
    env: Env,
    folder: Path,
    *,
    yaw_deg: float,
    target_m: tuple[float, float],
    score: float,
    name: str | None = None,
) -> dict:
    """Add a SITL-style photo ``a.jpg`` (phantom4pro, 80 m up, ground at 20 m) to ``folder``,
    register the folder as a flight and store a finding on the photo's red square.

    Returns the ids of the flight, of its photos in order, of ``a.jpg`` ("photo") and of the
    finding, and the square's (lon, lat) as "target"."""
    from gis.camera import PRESETS
    from groundstation.ingest import register_flight
    from groundstation.models import Finding, Flight

    target = sitl_photo(
        folder / "a.jpg",
        PRESETS["phantom4pro"],
        long_px=1280,
        height_m=80.0,
        yaw_deg=yaw_deg,
        target_m=target_m,
        ground_m=20.0,
    )
    flight_id = register_flight(env.storage(), folder, camera="phantom4pro", name=name)
    with env.storage().session() as session:
        photos = session.get(Flight, flight_id).photos
        finding = Finding(
            photo_id=photos[0].id,
            flight_id=flight_id,
            label="illegal_construction",
            score=score,
            box_px=[0.0, 0.0, 10.0, 10.0],
            lon=target[0],
            lat=target[1],
        )
        session.add(finding)
        session.commit()
        return {
            "flight": flight_id,
            "photos": [photo.id for photo in photos],
            "photo": photos[0].id,
            "finding": finding.id,
            "target": target,
        }


@pytest.fixture(scope="module")
def rgb_tif(shared_data) -> Path:
    path = shared_data / "geotiff" / "rasterio_RGB.byte.tif"
    assert path.is_file(), f"missing test data {path}"
    return path


def upload_orthomosaic(client, headers, path: Path, *, name: str | None = None, filename=None):
    """POST the GeoTIFF at ``path`` to /api/v1/orthomosaics (as ``filename`` if given)."""
    data = {"file": (io.BytesIO(path.read_bytes()), filename or path.name)}
    if name:
        data["name"] = name
    return client.post(
        "/api/v1/orthomosaics", data=data, headers=headers, content_type="multipart/form-data"
    )


def csrf_token(html: str) -> str:
    """The CSRF token of a page (form field or meta tag)."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    return match.group(1)


def login(client, who: str) -> str:
    """Sign ``who`` in on the test client; return a CSRF token for the pages' forms."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": who, "password": f"{who}-password", "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return csrf_token(client.get("/tickets").get_data(as_text=True))


def grid_geojson(*grids: tuple[str, list[list[float]]]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"grid_id": code, "name": f"grid {code}"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
                for code, ring in grids
            ],
        }
    ).encode()


def add_grids(env: Env, *grids: tuple[str, list[list[float]]]) -> None:
    """Store grids directly (independent of gis.io)."""
    from shapely.geometry import Polygon

    from gis.grids import Grid as GisGrid
    from groundstation.services import import_grids

    with env.storage().session() as session:
        import_grids(
            session, [GisGrid(code, Polygon(ring), {"name": code}) for code, ring in grids]
        )
        session.commit()


def make_findings(
    env: Env,
    specs: list[tuple[str, float, tuple[float, float] | None]],
    *,
    grid_code: str | None = None,
) -> list[int]:
    """Store a flight with one photo per spec (label, score, (lon, lat)) and its findings."""
    from sqlalchemy import select

    from groundstation.models import Finding, Flight, Grid, Photo

    ids = []
    with env.storage().session() as session:
        grid_id = (
            session.scalar(select(Grid.id).where(Grid.code == grid_code)) if grid_code else None
        )
        flight = Flight(name=f"f-{uuid.uuid4().hex[:6]}", source="test", status="done")
        session.add(flight)
        session.flush()
        for i, (label, score, lonlat) in enumerate(specs):
            photo_path = write_photo(env.data_dir / "photos" / f"{flight.id}_{i}.jpg", (90, 90, 90))
            photo = Photo(flight_id=flight.id, path=str(photo_path), status="done")
            session.add(photo)
            session.flush()
            finding = Finding(
                photo_id=photo.id,
                flight_id=flight.id,
                label=label,
                score=score,
                box_px=[10.0, 10.0, 30.0, 30.0],
                grid_id=grid_id,
                lon=lonlat[0] if lonlat else None,
                lat=lonlat[1] if lonlat else None,
                crop_path=str(photo_path),
                review_status="pending",
            )
            session.add(finding)
            session.flush()
            ids.append(finding.id)
        session.commit()
    return ids


def make_ticket(
    env: Env,
    state: str,
    *,
    label: str = "illegal_construction",
    department: str | None = "urban_management",
) -> int:
    """A ticket at PHOTO_LONLAT forced into ``state`` (bypassing the machine, to test each
    transition alone)."""
    from datetime import timedelta

    from sqlalchemy import select

    from groundstation.models import Department, utcnow
    from groundstation.tickets import Actor, open_ticket

    with env.storage().session() as session:
        ticket = open_ticket(
            session,
            label=label,
            actor=Actor("fixture", "admin"),
            lat=PHOTO_LONLAT[1],
            lon=PHOTO_LONLAT[0],
            description="fixture",
        )
        ticket.state = state
        if state in ("dispatched", "in_progress", "resolved", "verified", "closed") and department:
            ticket.department_id = session.scalar(
                select(Department.id).where(Department.code == department)
            )
            ticket.deadline = utcnow() + timedelta(hours=24)
        session.commit()
        return ticket.id


# -- shared test data ---------------------------------------------------------------------------

# A small grid (about 150 m x 130 m) west of G1: quick to plan and to fly.
SMALL = [[119.890, 32.400], [119.8916, 32.400], [119.8916, 32.4012], [119.890, 32.4012],
         [119.890, 32.400]]  # fmt: skip

JUNE_2024 = "period=custom&start=2024-06-01&end=2024-06-30&grid=D-A"


def _june_2024(day: int, hour: int):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(2024, 6, day, hour, tzinfo=ZoneInfo("Asia/Shanghai"))


def seed_dashboard(env: Env) -> None:
    """Two cases in grid D-A: one closed on time (captured 2 h before filing, 96 h from dispatch
    to close), one overdue and escalated; a 5,000 m² landed flight; one finding."""
    from sqlalchemy import select

    from groundstation.models import Finding, FlightSession, Photo, Ticket
    from groundstation.tickets import Actor, escalate_overdue, open_ticket_for_finding, transition

    at = _june_2024
    add_grids(env, ("D-A", G1))
    (finding_id,) = make_findings(env, [("illegal_construction", 0.9, (119.905, 32.405))],
                                  grid_code="D-A")  # fmt: skip
    sup, dept = Actor("supervisor", "supervisor"), None
    with env.storage().session() as session:
        finding = session.get(Finding, finding_id)
        finding.created_at = at(3, 8)
        finding.review_status, finding.reviewed_label = "confirmed", "illegal_construction"
        session.get(Photo, finding.photo_id).taken_at = at(3, 7)
        k1 = open_ticket_for_finding(session, finding, sup, now=at(3, 9))
        session.flush()
        transition(session, k1, "dispatch", sup, now=at(3, 12))
        dept = Actor("department", "department", department_id=k1.department_id)
        transition(session, k1, "start", dept, now=at(4, 9))
        transition(session, k1, "resolve", dept, evidence=[{"note": "拆除"}], now=at(5, 9))
        transition(session, k1, "verify", sup, now=at(6, 9))
        transition(session, k1, "close", sup, now=at(7, 12))
        from groundstation.tickets import open_ticket

        k2 = open_ticket(session, label="straw_burning", actor=sup, lat=32.401, lon=119.901,
                         grid_id=k1.grid_id, now=at(20, 8))  # fmt: skip
        transition(session, k2, "confirm", sup, now=at(20, 8))
        transition(session, k2, "dispatch", sup, now=at(20, 9))  # 4 h deadline: 13:00
        burn = Actor("department", "department", department_id=k2.department_id)
        transition(session, k2, "start", burn, now=at(20, 10))
        session.add(FlightSession(connection="sitl", simulated=True, state="done", sortie=0,
                                  grid_codes=["D-A"], area_m2=5000.0, started_at=at(15, 8),
                                  landed_at=at(15, 9)))  # fmt: skip
        session.commit()
        escalate_overdue(session, now=at(20, 14))
        assert session.scalar(select(Ticket.escalation_level).where(Ticket.id == k2.id)) == 1


# -- browser tests: Playwright driving Debian's Chromium ----------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "groundstation"  # screenshots (git-ignored)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live(tmp_path):
    """A fresh SQLite app served on a free port: (env, base URL)."""
    from werkzeug.serving import make_server

    env = make_env(f"sqlite:///{tmp_path / 'gp.sqlite3'}", tmp_path / "data")
    server = make_server("127.0.0.1", 0, env.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield env, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    env.storage().dispose()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(10000)
        yield pg
        context.close()
        browser.close()


def sign_in(page, base: str, who: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", who)
    page.fill("#password", f"{who}-password")
    page.click("#login-submit")
    page.wait_for_selector("text=" + who)


class RecordingServer:
    """A local HTTP endpoint (webhook, chat robot) recording every POST; answers ``status`` with
    the JSON ``answer``."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        self.answer: dict = {"errcode": 0, "errmsg": "ok"}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                url = urlsplit(self.path)
                server.posts.append(
                    {
                        "path": url.path,
                        "query": parse_qs(url.query),
                        "content_type": self.headers["Content-Type"],
                        "json": json.loads(body),
                    }
                )
                data = json.dumps(server.answer).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    """A started :class:`RecordingServer`, shut down afterwards."""
    server = RecordingServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(5)


@contextmanager
def flight_env(root: Path, grid_code: str) -> Iterator[Env]:
    """An SQLite environment for flight sessions (a SITL flight takes seconds: one database is
    enough) with the SMALL grid as ``grid_code``; its running sessions are shut down after."""
    from groundstation.flights import FlightHub

    env = make_env(f"sqlite:///{root / 'gp.sqlite3'}", root / "data", LINK_TIMEOUT_S=2.0)
    add_grids(env, (grid_code, SMALL))
    try:
        yield env
    finally:
        hub = env.app.extensions.get("gridpatrol_flights")
        if isinstance(hub, FlightHub):
            hub.shutdown()
        env.storage().dispose()


def saved_plan(env: Env, grid_code: str, name: str) -> int:
    """The id of a patrol plan over one grid at 40 m, saved through the API as a pilot."""
    body = {"grids": [grid_code], "profile": "patrol", "altitude_m": 40, "name": name}
    response = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot"))
    assert response.status_code == 201, response.json
    return response.json["id"]
