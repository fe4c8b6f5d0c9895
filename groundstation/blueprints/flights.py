"""The flights page and its JSON API: start a flight session against a connection string (or our
SITL), send the pilot's commands, and follow it over one Server-Sent Events stream per page.

``GET /api/v1/flight-sessions/<id>/events`` is ``text/event-stream``; each event carries its
number as the SSE ``id``, so a browser that reconnects sends ``Last-Event-ID`` and gets exactly
the events it missed. Event kinds: ``state``, ``message``, ``transfer``, ``checks``,
``telemetry``, ``photo`` and a final ``end``. Their texts (messages, check labels, errors) are
rendered in the language of the request that reads the stream.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from rasterio.errors import RasterioError
from sqlalchemy import func, or_, select

from gis.camera import PRESETS
from gis.errors import GisError
from gis.raster import raster_footprint
from groundstation.blueprints.api import (
    MAX_INT,
    MAX_PAGE,
    RECORD_NAMES,
    REVIEWERS,
    _get,
    in_roots,
    odd_size_text,
    parse_int,
    photo_roots,
)
from groundstation.blueprints.api import bp as api_bp
from groundstation.blueprints.plan import saved_plan_warnings
from groundstation.errors import NotFoundError, ValidationError
from groundstation.flights import (
    COMMANDS,
    NOTABLE_OUTCOMES,
    FlightHub,
    FlightRequest,
    FlightSessionError,
    flight_time_label,
    mission_time_labels,
    outcome_label,
    session_outcome,
)
from groundstation.i18n import (
    COMMAND_NAMES,
    SESSION_STATE_NAMES,
    deferred_locale,
    lazy_names,
    lazy_reason,
)
from groundstation.i18n import lazy_message as _l
from groundstation.imagery import open_geotiff
from groundstation.ingest import DEFAULT_CAMERA
from groundstation.models import ROLES, Finding, Flight, FlightSession, Grid, Photo, RoutePlan
from groundstation.params import check_fields, takes, unknown_parameter_error, unknown_parameters
from groundstation.web import current_actor, db, json_error, request_data, roles_required, state
from missions.errors import MissionError
from missions.items import MissionPlan

__all__ = [
    "bp",
    "hub",
    "build_request",
    "sse_stream",
    "state_names",
    "photo_flight_rows",
    "count_forms",
    "odd_size_warning",
    "upload_texts",
    "FLYERS",
    "INGEST_STATUS_NAMES",
    "PHOTO_FLIGHTS_PER_PAGE",
    "INDEX_PARAMS",
    "WorldChoice",
    "world_choices",
    "LOG_FILES",
]

bp = Blueprint("flights", __name__)

FLYERS = ("pilot", "admin")
#: Photo flights per page of the flights page.
PHOTO_FLIGHTS_PER_PAGE = 25
#: ``Flight.status`` as the flights page shows it.
INGEST_STATUS_NAMES = {
    "registered": _l("Registered"),
    "queued": _l("Queued for classification"),
    "ingesting": _l("Classifying"),
    "done": _l("Classified"),
    "done_with_errors": _l("Classified, some photos failed"),
}
KEEPALIVE_S = 10.0
#: The battery endurance a pilot may give (min): a multicopter pack flies minutes, not hours.
MIN_ENDURANCE_MIN, MAX_ENDURANCE_MIN = 1, 120
#: The flights page's query parameters: the page of photo flights, the photo flight to show
#: (its page, highlighted) and the saved plan to fly (chosen in the flight form).
INDEX_PARAMS: tuple[str, ...] = ("page", "flight", "plan")
_HUB_LOCK = threading.Lock()


def hub() -> FlightHub:
    """This app's flight hub (created on first use; stopped with the process)."""
    app = current_app
    with _HUB_LOCK:
        existing = app.extensions.get("gridpatrol_flights")
        if existing is None:
            import atexit

            cfg = app.config
            existing = FlightHub(
                state().storage,
                state().queue,
                data_dir=Path(cfg["DATA_DIR"]),
                max_active=int(cfg.get("FLIGHT_SESSIONS_MAX", 4)),
                runner_options={
                    "connect_timeout_s": float(cfg.get("LINK_TIMEOUT_S", 20.0)),
                    "photo_max_px": cfg.get("SITL_PHOTO_MAX_PX", 1280),
                },
            )
            app.extensions["gridpatrol_flights"] = existing
            atexit.register(existing.shutdown)
        return existing


def _sentence(text: str) -> str:
    """``text`` with its first letter capitalised: the catalogue's state names are phrases
    (``done``, ``returned early ...``), shown on their own as a label (Chinese is unchanged)."""
    return text[:1].upper() + text[1:]


def state_names() -> dict[str, str]:
    """Session states as the pilot reads them, as labels (the API keeps the codes)."""
    return {code: _sentence(str(name)) for code, name in SESSION_STATE_NAMES.items()}


def state_label(state: str, result: dict[str, Any] | None) -> str:
    """A session's state as the pilot reads it; a flight that landed before its last waypoint
    or away from home says so (``Returned early (3/6 waypoints)``) instead of a plain "Done"."""
    if session_outcome(state, result) in NOTABLE_OUTCOMES:
        assert result is not None
        return _sentence(str(outcome_label(result)))
    return state_names().get(state, state)


def _session_json(row: FlightSession) -> dict[str, Any]:
    runner = hub().get(row.id)
    out = {
        "id": row.id,
        "plan_id": row.plan_id,
        "sortie": row.sortie + 1,
        "connection": row.connection,
        "simulated": row.simulated,
        "state": row.state,
        "grids": row.grid_codes,
        "area_m2": row.area_m2,
        "flight_id": row.flight_id,
        "log_dir": row.log_dir,
        "result": row.result,
        "error": row.error,
        "started_by": row.started_by,
        "started_at": row.started_at.isoformat(),
        "landed_at": row.landed_at.isoformat() if row.landed_at else None,
        # running here, or in another serve process on this database (its alive mark)
        "live": (runner is not None and not runner.finished) or hub().alive(row),
        "findings_url": f"/review?flight={row.flight_id}&status=all" if row.flight_id else None,
    }
    if runner is not None:
        live = runner.status()
        # the runner's state leads its database row; its error must come with it
        out.update(
            state=live["state"],
            error=live["error"] or row.error,
            connection=live["connection"] or row.connection,
            checks=live["checks"],
            telemetry=live["telemetry"],
            last_event_id=live["last_event_id"],
        )
    out["outcome"] = session_outcome(out["state"], out["result"])
    out["state_label"] = state_label(out["state"], out["result"])
    flight_time = flight_time_label(out["result"])
    out["flight_time"] = None if flight_time is None else str(flight_time)
    mission_time, before_mission = mission_time_labels(out["result"])
    out["mission_time"] = None if mission_time is None else str(mission_time)
    out["before_mission_time"] = None if before_mission is None else str(before_mission)
    plan = row.plan
    out["plan_name"] = plan.name if plan is not None else None
    out["sorties"] = len(plan.missions) if plan is not None else None
    out["sortie_label"] = (
        None
        if plan is None
        else _("sortie %(sortie)s of %(count)s", sortie=row.sortie + 1, count=len(plan.missions))
    )
    out["plan_url"] = (
        None
        if plan is None
        else url_for("api.plan_download", plan_id=plan.id, fmt="plan", sortie=row.sortie + 1)
    )
    out["log_files"] = [
        {"name": name, "url": url_for("flights.log_file", session_id=row.id, name=name)}
        for name in log_files(row)
    ]
    return out


#: Folder of the data dir holding SITL world rasters (the demo's among them).
WORLDS_DIR = "worlds"
#: The most world rasters the flights page offers, and the most folder entries it looks at
#: to find them (PHOTO_ROOTS may hold whole photo archives).
WORLDS_SHOWN, WORLDS_SCANNED = 200, 20000
WORLD_SUFFIXES = (".tif", ".tiff")


def world_roots() -> list[Path]:
    """The folders a SITL world may come from: the data dir's worlds/ and PHOTO_ROOTS."""
    worlds = (Path(current_app.config["DATA_DIR"]) / WORLDS_DIR).resolve()
    return [worlds, *[r for r in photo_roots() if r != worlds]]


@dataclass(frozen=True, slots=True)
class WorldChoice:
    """A world raster the flights page offers: its path (what the API takes), file name and
    WGS84 bounds (west, south, east, north; None: not a readable, georeferenced GeoTIFF)."""

    path: str
    name: str
    bounds: tuple[float, float, float, float] | None


_FOOTPRINTS: dict[tuple[str, int, int], tuple[float, float, float, float] | None] = {}


def _world_bounds(path: Path) -> tuple[float, float, float, float] | None:
    """A GeoTIFF's WGS84 bounds, kept per file version (the page lists them on every load)."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _FOOTPRINTS:
        try:
            with open_geotiff(path, name=path.name) as dataset:
                bounds = None
                if dataset.crs is not None:
                    bounds = raster_footprint(
                        dataset.crs, dataset.transform, dataset.width, dataset.height
                    ).bounds
        except (RasterioError, GisError, ValidationError, OSError):
            bounds = None
        _FOOTPRINTS[key] = bounds
    return _FOOTPRINTS[key]


def world_choices(
    roots: list[Path], *, shown: int = WORLDS_SHOWN, scanned: int = WORLDS_SCANNED
) -> list[WorldChoice]:
    """The GeoTIFFs under ``roots`` (sorted by name, then path; at most ``shown``, from the
    first ``scanned`` folder entries): the choices of the flights page's world field."""
    found: set[Path] = set()
    seen = 0
    for root in roots:
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            seen += len(files) + len(dirs)
            found.update(Path(folder) / f for f in files if f.lower().endswith(WORLD_SUFFIXES))
            if seen >= scanned:
                break
        if seen >= scanned:
            break
    paths = sorted(found, key=lambda p: (p.name.lower(), str(p)))[:shown]
    return [WorldChoice(str(p), p.name, _world_bounds(p)) for p in paths]


def _world(raw: Any) -> Path | None:
    """A world GeoTIFF for the SITL camera: a TIFF file under PHOTO_ROOTS (as flight ingest) or
    the data dir's worlds/ folder (where `gridpatrol demo` writes its world)."""
    if raw in (None, ""):
        default = current_app.config.get("SITL_WORLD")
        return Path(default) if default else None
    path = Path(str(raw)).resolve()
    roots = world_roots()
    if not in_roots(path, roots):
        raise ValidationError(
            _l(
                "world %(name)s is outside the allowed folders (%(folders)s): choose a GeoTIFF "
                "in one of them",
                name=repr(raw),
                folders=", ".join(str(r) for r in roots),
            )
        )
    if not path.is_file():
        raise ValidationError(_l("world %(name)s: no such file", name=repr(raw)))
    try:
        with open_geotiff(path, name=f"world {raw!r}"):
            pass
    except RasterioError as exc:
        raise ValidationError(
            _l("world %(name)s is not a readable GeoTIFF (%(detail)s)", name=repr(raw), detail=exc)
        ) from None
    return path


def route_points(mission: MissionPlan) -> list[tuple[float, float]]:
    """The (lon, lat) of a mission's home and positioned navigation items (0, 0 and NaN mean
    "here" and are left out)."""
    lat, lon = mission.home[:2]
    points = [(lon, lat)]
    points += [(item.lon, item.lat) for item in mission.items if item.command < 100]
    return [(x, y) for x, y in points if not (x == 0.0 and y == 0.0) and math.isfinite(x + y)]


def _check_world_covers(world: Path, mission: MissionPlan, *, name: str) -> None:
    """Refuse (400) a world raster that leaves part of the route off it: the simulator's
    photos there would show a plain field, and the flight would classify nothing."""
    with open_geotiff(world, name=f"world {name!r}") as dataset:
        if dataset.crs is None:
            raise ValidationError(
                _l("world %(name)s has no coordinate reference system", name=repr(name))
            )
        try:
            footprint = raster_footprint(
                dataset.crs, dataset.transform, dataset.width, dataset.height
            )
        except GisError as exc:
            raise ValidationError(
                _l("world %(name)s: %(detail)s", name=repr(name), detail=lazy_reason(exc))
            ) from None
    points = route_points(mission)
    outside = footprint.outside(points)
    if not outside:
        return
    west, south, east, north = footprint.bounds
    raise ValidationError(
        _l(
            "world %(name)s does not cover this flight: %(outside)d of the route's %(total)d "
            "points (home included) lie off the raster, which covers latitude %(south)s to "
            "%(north)s, longitude %(west)s to %(east)s; photos there would show a plain field. "
            "Choose a world raster of the plan's area",
            name=repr(name),
            outside=len(outside),
            total=len(points),
            south=f"{south:.5f}",
            north=f"{north:.5f}",
            west=f"{west:.5f}",
            east=f"{east:.5f}",
        )
    )


def build_request(data: dict[str, Any]) -> FlightRequest:
    """A flight request from form/JSON fields: plan_id, sortie, connection | simulate, speedup."""
    from missions.formats import plan_from_dict

    plan_id = parse_int(data.get("plan_id"), field="plan_id")
    if plan_id is None:
        raise ValidationError(
            _l("plan_id is required: the id of a plan saved on the planning page")
        )
    sortie = parse_int(data.get("sortie"), field="sortie", default=1)
    assert sortie is not None
    speedup = _speedup(data.get("speedup"))
    plan = db().get(RoutePlan, plan_id)
    if plan is None:
        raise NotFoundError(
            _l("plan %(id)s does not exist: save a plan on the planning page", id=plan_id)
        )
    if not 1 <= sortie <= len(plan.missions):
        raise ValidationError(
            _l(
                "plan %(id)s has sorties 1 to %(count)d, not %(sortie)s",
                id=plan_id,
                count=len(plan.missions),
                sortie=sortie,
            )
        )
    simulate = str(data.get("simulate") or "").lower() in ("1", "true", "on", "yes")
    endurance_s = _endurance_s(data.get("endurance_min"))
    mission = plan_from_dict(plan.missions[sortie - 1], source=f"plan {plan_id}")
    sortie_grids = plan.summary.get("sorties", [{}])[sortie - 1].get("grid_ids", [])
    grids = [g for g in sortie_grids if g in plan.grid_codes] or list(plan.grid_codes)
    areas = {g["grid_id"]: g["area_m2"] for g in plan.summary.get("grids", [])}
    camera = PRESETS.get(str(plan.params.get("camera")))
    world = _world(data.get("world")) if simulate else None
    if world is not None:
        _check_world_covers(world, mission, name=str(data.get("world") or world.name))
    try:
        return FlightRequest(
            mission=mission,
            # language-neutral (it names the photo flight on every page): sortie k of n
            name=f"{plan.name} {sortie}/{len(plan.missions)}",
            connection=None if simulate else str(data.get("connection") or "").strip(),
            simulate=simulate,
            speedup=speedup,
            world=world,
            camera=camera,
            plan_id=plan.id,
            sortie=sortie - 1,
            grid_codes=tuple(grids),
            area_m2=float(sum(areas.get(g, 0.0) for g in sortie_grids)) or plan.area_m2,
            started_by=current_actor().name,
            endurance_s=endurance_s,
        )
    except MissionError as exc:
        raise ValidationError(_l("cannot start the flight: %(detail)s", detail=exc)) from None


def _speedup(value: Any) -> float:
    """The optional ``speedup`` field (the SITL's speed-up factor; empty: 1); its range is
    checked by :class:`FlightRequest`, for simulated flights only."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1.0
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            _l(
                "speedup must be a number (the simulator's speed-up, e.g. 10), got %(value)s",
                value=repr(value),
            )
        ) from None


def _endurance_s(value: Any) -> float | None:
    """The optional ``endurance_min`` field (a full battery's flight time in minutes, as
    ``gridpatrol fly --endurance`` takes it) in seconds; empty: None, the vehicle's own
    BATT_CAPACITY decides."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        minutes = math.nan
    if isinstance(value, bool) or not MIN_ENDURANCE_MIN <= minutes <= MAX_ENDURANCE_MIN:
        raise ValidationError(
            _l(
                "%(field)s must be a number of minutes from %(lo)s to %(hi)s, or empty to "
                "work from the vehicle's battery capacity (BATT_CAPACITY); got %(value)s",
                field=_l("Battery endurance (%(key)s)", key="endurance_min"),  # page and API
                lo=MIN_ENDURANCE_MIN,
                hi=MAX_ENDURANCE_MIN,
                value=repr(value),
            )
        )
    return minutes * 60.0


def sse_stream(runner: Any, last_id: int, *, keepalive_s: float = KEEPALIVE_S) -> Iterator[str]:
    """Server-Sent Events from ``last_id`` on until the session's log is closed and read; lazy
    texts in the language of the calling request (English without one)."""
    return _sse_events(runner, last_id, deferred_locale(), keepalive_s)


def _sse_events(runner: Any, last_id: int, language: Any, keepalive_s: float) -> Iterator[str]:
    yield "retry: 2000\n\n"
    while True:
        events, done = runner.events.after(last_id, timeout=keepalive_s)
        with language():  # the request context is gone while the body streams
            blocks = [
                f"id: {e.id}\nevent: {e.kind}\n"
                f"data: {json.dumps(e.data, separators=(',', ':'), default=str)}\n\n"
                for e in events
            ]
        for event, block in zip(events, blocks, strict=True):
            last_id = event.id
            yield block
        if done:
            yield f"id: {last_id}\nevent: end\ndata: {{}}\n\n"
            return
        if not events:
            yield ": keepalive\n\n"


# -- pages ------------------------------------------------------------------------------------


#: How many failed photos (name and reason) a flight's row on the flights page lists.
FAILED_SHOWN = 5


def photo_flight_rows(session: Any, flights: list[Flight], actor: Any) -> list[dict[str, Any]]:
    """The flights page's rows for ``flights``: photo counts by status, the objects the flight
    saw (one per primary finding, as the review queue lists them) and their other views, the
    grids (those its photos were taken over, its findings' and its session's), and the flight
    session that took the photos. Findings are those ``actor`` may see."""
    from groundstation.blueprints.api import finding_counts, photo_counts, visible_findings
    from groundstation.ingest import photo_grids, photo_issues

    ids = [f.id for f in flights]
    photos = photo_counts(session, ids)
    issues = photo_issues(session, ids, shown=FAILED_SHOWN)
    counts = finding_counts(session, ids, actor)
    grids: dict[int, set[str]] = {i: set() for i in ids}
    for flight_id, code in session.execute(
        visible_findings(
            select(Finding.flight_id, Grid.code)
            .join(Grid, Finding.grid_id == Grid.id)
            .where(Finding.flight_id.in_(ids))
            .distinct(),
            actor,
        )
    ):
        grids[flight_id].add(code)
    sessions: dict[int, int] = {}
    for session_id, flight_id, codes in session.execute(
        select(FlightSession.id, FlightSession.flight_id, FlightSession.grid_codes)
        .where(FlightSession.flight_id.in_(ids))
        .order_by(FlightSession.id)
    ):
        sessions[flight_id] = session_id
        grids[flight_id].update(codes or ())
    for flight_id, codes in photo_grids(session, ids).items():  # also flights that found nothing
        grids[flight_id].update(codes)
    can_review = actor.role in REVIEWERS
    rows = []
    for f in flights:
        objects, views = counts.get(f.id, (0, 0))
        by_status = photos[f.id]
        rows.append(
            {
                "id": f.id,
                "name": f.name,
                "created_at": f.created_at,
                "status": f.status,
                "photos": sum(by_status.values()),
                "photos_waiting": by_status.get("pending", 0),
                "photos_failed": by_status.get("error", 0),
                "photos_unplaced": issues[f.id].unplaced,
                "photos_at_camera_position": issues[f.id].at_camera_position,
                "failed_photos": issues[f.id].failed_photos,
                "odd_size_warning": odd_size_warning(f, photos=sum(by_status.values())),
                "findings": objects,
                "more_views": views - objects,
                "grids": sorted(grids[f.id]),
                "session_id": sessions.get(f.id),
                "review_url": url_for("review.index", flight=f.id, status="all")
                if can_review
                else None,
            }
        )
    return rows


def odd_size_warning(flight: Flight, *, photos: int) -> Any:
    """The warning the upload gave for photos not of the camera's image size (their GSD is
    unknown), from what the flight keeps (``photos``: its photo count); None when its photos
    fit its camera."""
    odd = flight.odd_size
    if not odd or not odd.get("photos"):
        return None
    camera = flight.camera or {}
    return odd_size_text(
        int(odd["photos"]),
        photos=photos,
        size="×".join(map(str, odd.get("size", []))),
        native=f"{camera.get('image_width_px', '?')}×{camera.get('image_height_px', '?')}",
        camera=camera.get("name", "?"),
    )


def count_forms(message: Callable[[int], str]) -> dict[str, str]:
    """A message that counts, for a page script that fills in the count (``{n}``): the
    reader's form for one (``one``) and for more (``other``), from ``message(n)``, an
    ``ngettext`` call that passes ``n="{n}"`` (its ``num`` is the real count). The station's
    languages need no other forms (Chinese has one)."""
    return {"one": message(1), "other": message(2)}


def upload_texts() -> dict[str, Any]:
    """The flights page's photo upload messages for upload.js, in the reader's language;
    ``{name}`` placeholders are filled in by the script, counts under ``plural``."""
    return {
        "refused": _("(%(n)s not added)", n="{n}"),
        "none": _("Choose photos or a folder first."),
        "starting": _("Starting the upload…"),
        "uploading": _("Uploading…"),
        "finishing": _("Registering the flight…"),
        "too_large": _("larger than %(limit)s MiB", limit="{limit}"),
        "network": _("no answer from the ground station"),
        "continue": _("Continue"),
        "discard": _("Discard"),
        "continuing": _(
            "Continuing %(name)s: choose the same photos again, those already here are skipped.",
            name="{name}",
        ),
        "discarded": _("The upload was discarded."),
        "unnamed": _("(no name)"),
        "unplaced": _(
            "None of these photos has a GPS position: they are classified as usual, but their "
            "findings cannot be placed on the map or in a grid and are listed for review "
            "without a place."
        ),
        "confirm_unplaced": _("Register these photos as a flight anyway?"),
        "confirm_duplicate": _("Register them as another flight anyway?"),
        "kept_unplaced": _(
            "The photos were not registered and stay in this upload: finish it to register "
            "them anyway, or discard it."
        ),
        "plural": {
            # {n}: the photos chosen; {done}: those that arrived (the not-added are counted out)
            "progress": count_forms(
                lambda n: ngettext(
                    "%(done)s of %(n)s photo, %(mb)s of %(total_mb)s MB",
                    "%(done)s of %(n)s photos, %(mb)s of %(total_mb)s MB",
                    n,
                    n="{n}",
                    done="{done}",
                    mb="{mb}",
                    total_mb="{total_mb}",
                )
            ),
            "failed": count_forms(
                lambda n: ngettext(
                    "%(n)s photo could not be added (listed below); the others continue.",
                    "%(n)s photos could not be added (listed below); the others continue.",
                    n,
                    n="{n}",
                )
            ),
            "retry_failed": count_forms(
                lambda n: ngettext(
                    "Choose the failed photo again and press Upload, or finish with the photos "
                    "that arrived.",
                    "Choose the failed photos again and press Upload, or finish with the photos "
                    "that arrived.",
                    n,
                )
            ),
            "skipped": count_forms(
                lambda n: ngettext(
                    "%(n)s file that is not a photo (a video, a log) is left out.",
                    "%(n)s files that are not photos (videos, logs) are left out.",
                    n,
                    n="{n}",
                )
            ),
            "skipped_done": count_forms(
                lambda n: ngettext(
                    "%(n)s file was not uploaded: it is not a photo (JPEG, PNG or TIFF): "
                    "%(names)s.",
                    "%(n)s files were not uploaded: they are not photos (JPEG, PNG or TIFF): "
                    "%(names)s.",
                    n,
                    n="{n}",
                    names="{names}",
                )
            ),
            "finished": count_forms(
                lambda n: ngettext(
                    "Photo flight #%(id)s registered with %(n)s photo; it is being classified.",
                    "Photo flight #%(id)s registered with %(n)s photos; they are being classified.",
                    n,
                    n="{n}",
                    id="{id}",
                )
            ),
            "resume": count_forms(
                lambda n: ngettext(
                    "%(name)s: %(n)s photo (%(mb)s MB) arrived",
                    "%(name)s: %(n)s photos (%(mb)s MB) arrived",
                    n,
                    n="{n}",
                    name="{name}",
                    mb="{mb}",
                )
            ),
        },
    }


def _index_args(session: Any, args: Any) -> tuple[dict[str, int | None], list[str]]:
    """The flights page's ``page``, ``flight`` and ``plan`` (None: not given or unusable) and
    the problems of the address: parameters the page does not take, values that are no number
    in range, and a flight or plan that does not exist. The page shows what it can with the
    problems above it (status 400), as the ticket list does."""
    problems: list[str] = []
    unknown = unknown_parameters(args, INDEX_PARAMS)
    if unknown:
        problems.append(str(unknown_parameter_error(unknown, INDEX_PARAMS)))
    values: dict[str, int | None] = {}
    for name, hi in (("page", MAX_PAGE), ("flight", MAX_INT), ("plan", MAX_INT)):
        try:
            values[name] = parse_int(args.get(name), field=name, lo=1, hi=hi)
        except ValidationError as exc:
            problems.append(str(exc))
            values[name] = None
    for name, model in (("flight", Flight), ("plan", RoutePlan)):
        if values[name] is not None and session.get(model, values[name]) is None:
            problems.append(
                str(_l("%(what)s %(id)s does not exist", what=RECORD_NAMES[name], id=values[name]))
            )
            values[name] = None
    return values, problems


@bp.get("/flights")
@roles_required(*ROLES)
def index() -> Any:
    from groundstation.blueprints.tickets import page_numbers

    session = db()
    wanted_args, problems = _index_args(session, request.args)
    for message in problems:
        flash(message, "error")
    sessions = list(
        session.scalars(select(FlightSession).order_by(FlightSession.id.desc()).limit(50))
    )
    plans = list(session.scalars(select(RoutePlan).order_by(RoutePlan.id.desc()).limit(50)))
    per_page = PHOTO_FLIGHTS_PER_PAGE
    total = session.scalar(select(func.count(Flight.id))) or 0
    pages = max(1, -(-total // per_page))
    page = wanted_args["page"] or 1
    wanted = wanted_args["flight"]
    if wanted is not None:
        # the page that lists this flight (newest first)
        page = (
            1
            + (session.scalar(select(func.count(Flight.id)).where(Flight.id > wanted)) or 0)
            // per_page
        )
    page = min(max(page, 1), pages)
    flights = list(
        session.scalars(
            select(Flight).order_by(Flight.id.desc()).offset((page - 1) * per_page).limit(per_page)
        )
    )
    can_review = current_actor().role in REVIEWERS
    return render_template(
        "flights.html",
        sessions=[_session_row(s, can_review=can_review) for s in sessions],
        plans=plans,
        plan_warnings={p.id: saved_plan_warnings(p) for p in plans},
        plan_bounds={p.id: _sortie_bounds(p) for p in plans},
        worlds=world_choices(world_roots()) if current_actor().role in FLYERS else [],
        world_folders=[str(r) for r in world_roots()],
        selected_plan=wanted_args["plan"],
        state_names=state_names(),
        photo_flights=photo_flight_rows(session, flights, current_actor()),
        ingest_status_names=INGEST_STATUS_NAMES,
        highlight=wanted,
        page=page,
        pages=pages,
        page_numbers=page_numbers(page, pages),
        cameras=list(PRESETS),
        default_camera=DEFAULT_CAMERA,
        max_image_bytes=int(current_app.config["MAX_IMAGE_BYTES"]),
        upload_text=upload_texts(),
    ), (400 if problems else 200)


def _sortie_bounds(plan: RoutePlan) -> list[list[float] | None]:
    """Each sortie's route bounds [west, south, east, north] (home included; None: no
    positions), for the page to tell which world rasters cover the chosen sortie."""
    from missions.formats import plan_from_dict

    out: list[list[float] | None] = []
    for index, raw in enumerate(plan.missions):
        try:
            points = route_points(plan_from_dict(raw, source=f"plan {plan.id}/{index + 1}"))
        except MissionError:
            points = []
        if not points:
            out.append(None)
            continue
        lons, lats = zip(*points, strict=True)
        out.append([min(lons), min(lats), max(lons), max(lats)])
    return out


def _session_row(row: FlightSession, *, can_review: bool) -> dict[str, Any]:
    """A flight session as the flights page lists it: its start time as a datetime (the page
    shows it in the station's time zone), and a review link only for roles that may review."""
    out = _session_json(row)
    out["started"] = row.started_at
    if not can_review:
        out["findings_url"] = None
    return out


@bp.get("/flights/<int:session_id>")
@roles_required(*ROLES)
@takes()
def detail(session_id: int) -> Any:
    row = _get(db(), FlightSession, session_id, "flight session")
    plan = row.plan
    photos = unplaced = 0
    if row.flight_id is not None:
        photos, unplaced = (
            db()
            .execute(
                select(
                    func.count(Photo.id),
                    func.count(Photo.id).filter(or_(Photo.lat.is_(None), Photo.lon.is_(None))),
                ).where(Photo.flight_id == row.flight_id)
            )
            .one()
        )
    return render_template(
        "flight.html",
        photos=photos,
        photos_unplaced=unplaced,
        # a session not running in this server (finished, or from before a restart) has no
        # live telemetry or checks: the page shows its stored state
        flight={"telemetry": None, "checks": [], **_session_json(row)},
        plan_layers=plan.layers if plan is not None else None,
        commands=COMMANDS,
        state_names=state_names(),
        can_review=current_actor().role in REVIEWERS,
    )


#: The files of a session's log folder (as ``gridpatrol fly`` writes them) that those who may
#: see the session may download, and their types: nothing else in the folder is served.
LOG_FILES = {
    "flight.json": "application/json",
    "telemetry.csv": "text/csv",
    "camera.csv": "text/csv",
}


def log_files(row: FlightSession) -> list[str]:
    """The downloadable files (:data:`LOG_FILES`) in the session's log folder, in its order."""
    if not row.log_dir:
        return []
    folder = Path(row.log_dir)
    return [name for name in LOG_FILES if (folder / name).is_file()]


@bp.get("/flights/<int:session_id>/log/<name>")
@roles_required(*ROLES)
@takes()
def log_file(session_id: int, name: str) -> Any:
    """One file of a session's log, as a download (only the files :data:`LOG_FILES` names:
    the name is looked up, never joined as a path)."""
    row = _get(db(), FlightSession, session_id, "flight session")
    if name not in log_files(row):
        abort(404)
    assert row.log_dir is not None
    return send_file(
        Path(row.log_dir) / name,
        mimetype=LOG_FILES[name],
        as_attachment=True,
        download_name=f"session_{row.id}_{name}",
    )


# -- JSON API ---------------------------------------------------------------------------------


#: The fields ``POST /flight-sessions`` takes (:func:`build_request`).
SESSION_FIELDS = (
    "plan_id",
    "sortie",
    "connection",
    "simulate",
    "speedup",
    "world",
    "endurance_min",
)


@api_bp.post("/flight-sessions")
@roles_required(*FLYERS)
@takes()
def flight_session_start() -> Any:
    data = request_data()
    check_fields(data, SESSION_FIELDS)
    try:
        runner = hub().start(build_request(data))
    except FlightSessionError as exc:
        return json_error(str(exc), 409)
    return jsonify({"id": runner.id, "url": f"/flights/{runner.id}"}), 201


@api_bp.get("/flight-sessions")
@roles_required(*ROLES)
@takes()
def flight_session_list() -> Any:
    rows = db().scalars(select(FlightSession).order_by(FlightSession.id.desc()).limit(200))
    return jsonify([_session_json(r) for r in rows])


@api_bp.get("/flight-sessions/<int:session_id>")
@roles_required(*ROLES)
@takes()
def flight_session_detail(session_id: int) -> Any:
    return jsonify(_session_json(_get(db(), FlightSession, session_id, "flight session")))


@api_bp.post("/flight-sessions/<int:session_id>/commands")
@roles_required(*FLYERS)
@takes()
def flight_session_command(session_id: int) -> Any:
    """Run one pilot command (arm, start, rtl, land, cancel); waits for the vehicle's answer.
    RTL, land and pause that cannot reach the vehicle now are queued (202, ``queued``)."""
    data = request_data()
    check_fields(data, ("command",))
    _get(db(), FlightSession, session_id, "flight session")
    verb = str(data.get("command") or "")
    runner = hub().get(session_id)
    if runner is None:
        return json_error(
            _l("flight session %(id)s is not running in this server", id=session_id), 409
        )
    try:
        future = runner.command(verb)
    except FlightSessionError as exc:
        return json_error(str(exc), 409)
    try:
        answer = future.result(timeout=30.0)
    except FlightSessionError as exc:
        # the session refused it and said so on its event stream: the page shows it from there
        response = jsonify({"error": str(exc), "published": True})
        response.status_code = 409
        return response
    except TimeoutError:
        return json_error(
            _l(
                "%(verb)s: no answer from the flight session within 30 s",
                verb=lazy_names(COMMAND_NAMES, verb),
            ),
            504,
        )
    # 202: kept while the link is lost or the vehicle does not answer, sent until it takes it
    body = {"ok": True, "command": verb, "message": str(answer.message), "queued": answer.queued}
    return jsonify(body), 202 if answer.queued else 200


@api_bp.get("/flight-sessions/<int:session_id>/events")
@roles_required(*ROLES)
@takes("last_event_id")
def flight_session_events(session_id: int) -> Any:
    """The session's event stream from after event ``Last-Event-ID`` (the header a
    reconnecting browser sends) or ``last_event_id`` (for clients that cannot set it)."""
    _get(db(), FlightSession, session_id, "flight session")
    from_query = parse_int(request.args.get("last_event_id"), field="last_event_id", lo=0)
    runner = hub().get(session_id)
    if runner is None:
        return json_error(
            _l("flight session %(id)s is not running in this server", id=session_id), 404
        )
    raw = request.headers.get("Last-Event-ID")
    if raw:
        try:
            last_id = max(0, int(raw))
        except ValueError:
            return json_error(_l("Last-Event-ID %(value)s is not a number", value=repr(raw)), 400)
    else:
        last_id = from_query or 0
    return Response(
        sse_stream(runner, last_id),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
