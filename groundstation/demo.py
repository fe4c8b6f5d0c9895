"""The end-to-end demo: fly a generated district, find its planted violations, file tickets.

Composed only of the product's public pieces: the grids go through :mod:`missions.planner` and
:mod:`missions.build`, every sortie is uploaded, verified and flown over MAVLink by
:func:`missions.link.fly` against our SITL photographing a :mod:`vision.synth` world, each landed
sortie is registered and classified through :mod:`groundstation.ingest` on the job runner, and
the findings become tickets through :func:`groundstation.tickets.open_ticket` (state ``new``:
awaiting the supervisor's review). The report is computed against the planted truth by the pure
functions :func:`cluster_findings` and :func:`score_detections`.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, mapping, shape
from sqlalchemy import select

from gis.camera import PRESETS
from gis.crs import LocalFrame
from gis.grids import Grid
from gis.messages import counted
from groundstation.demo_district import DISTRICT_CENTRE, district_grids, district_water
from groundstation.errors import GroundStationError
from groundstation.sightings import MERGE_RADIUS_M, view_rank  # one object, several photos

__all__ = [
    "CLASSES",
    "DemoError",
    "TruthItem",
    "FoundItem",
    "Detection",
    "ClassScore",
    "Scores",
    "DemoReport",
    "cluster_findings",
    "score_detections",
    "read_truth",
    "read_findings",
    "run_demo",
    "run_ingest",
    "sortie_area_m2",
    "create_demo_supervisor",
    "ISOLATED_SETTINGS",
    "demo_config",
    "ignored_settings",
]

#: Violation classes, in report order.
CLASSES: tuple[str, ...] = ("illegal_construction", "straw_burning", "illegal_fishing")
#: A detection counts as a planted violation when its centre is this close to the footprint.
MATCH_TOLERANCE_M = 10.0


class DemoError(GroundStationError):
    """A step of the demo failed (which step, and why)."""


#: Settings the demo never takes from the environment, so that running it on a station's
#: machine leaves the station alone: its own SQLite database in its data dir (never
#: ``DATABASE_URL``), in-process jobs (never the station's Redis queue), notifications only
#: logged (never the station's webhooks and chat robots) and no server folders to ingest from.
ISOLATED_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {
        "DATABASE_URL": None,  # None: <data dir>/gridpatrol.sqlite3, migrated on start
        "REDIS_URL": None,
        "NOTIFIERS": "log",
        "WEBHOOK_URL": None,
        "WECOM_WEBHOOK_URL": None,
        "DINGTALK_WEBHOOK_URL": None,
        "PHOTO_ROOTS": None,
    }
)


def demo_config(
    data_dir: str | Path, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The demo's settings: :func:`groundstation.config.build_config` for ``data_dir`` with
    :data:`ISOLATED_SETTINGS` over whatever the environment says."""
    from groundstation.config import build_config

    return build_config(data_dir=data_dir, overrides=ISOLATED_SETTINGS, environ=environ)


def ignored_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """The :data:`ISOLATED_SETTINGS` the environment sets otherwise, which the demo ignores."""
    env = os.environ if environ is None else environ
    return [
        key for key in ISOLATED_SETTINGS if env.get(key, "") not in ("", ISOLATED_SETTINGS[key])
    ]


# -- the report maths (pure) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TruthItem:
    """A planted violation: class, centre (lon, lat), footprint polygon (WGS84), grid id."""

    label: str
    centre: tuple[float, float]
    footprint: Polygon
    grid_id: str | None = None


@dataclass(frozen=True, slots=True)
class FoundItem:
    """One stored finding: class, score, centre (lon, lat), grid code, ticket id."""

    label: str
    score: float
    centre: tuple[float, float]
    grid_id: str | None = None
    ticket_id: int | None = None
    finding_id: int | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """Findings of one class within :data:`MERGE_RADIUS_M` of each other: one object on the
    ground. Its centre is the score-weighted mean of theirs; its grid is its best finding's."""

    label: str
    score: float
    centre: tuple[float, float]
    grid_id: str | None
    members: tuple[int, ...]  # indexes into the findings list


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Planted / found / false alarms of one class, and the matched position errors (m)."""

    planted: int
    found: int
    false_alarms: int
    errors_m: tuple[float, ...] = ()

    @property
    def recall(self) -> float | None:
        return self.found / self.planted if self.planted else None

    @property
    def precision(self) -> float | None:
        detections = len(self.errors_m) + self.false_alarms
        return len(self.errors_m) / detections if detections else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "planted": self.planted,
            "found": self.found,
            "false_alarms": self.false_alarms,
            "recall": _round(self.recall),
            "precision": _round(self.precision),
        }


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-class scores and the position errors of every matched detection."""

    classes: dict[str, ClassScore]
    matches: tuple[tuple[int, int, float], ...]  # (truth index, detection index, error m)

    @property
    def errors_m(self) -> list[float]:
        return [error for _, _, error in self.matches]


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _frame_for(points: Sequence[tuple[float, float]]) -> LocalFrame:
    if not points:
        return LocalFrame(*DISTRICT_CENTRE)
    lons, lats = zip(*points, strict=True)
    return LocalFrame(float(np.mean(lons)), float(np.mean(lats)))


def cluster_findings(
    findings: Sequence[FoundItem], *, radius_m: float = MERGE_RADIUS_M
) -> list[Detection]:
    """Merge same-class findings into detections, strongest first (greedy, by distance to the
    detection's strongest finding)."""
    frame = _frame_for([f.centre for f in findings])
    order = sorted(range(len(findings)), key=lambda i: -findings[i].score)
    seeds: list[tuple[str, float, float, list[int]]] = []
    for i in order:
        f = findings[i]
        x, y = frame.forward(*f.centre)
        for label, sx, sy, members in seeds:
            if label == f.label and math.hypot(x - sx, y - sy) <= radius_m:
                members.append(i)
                break
        else:
            seeds.append((f.label, float(x), float(y), [i]))
    out = []
    for label, _, _, members in seeds:
        weights = np.array([findings[i].score for i in members])
        lons = np.array([findings[i].centre[0] for i in members])
        lats = np.array([findings[i].centre[1] for i in members])
        best = findings[members[0]]
        out.append(
            Detection(
                label=label,
                score=best.score,
                centre=(
                    float(weights @ lons / weights.sum()),
                    float(weights @ lats / weights.sum()),
                ),
                grid_id=best.grid_id,
                members=tuple(members),
            )
        )
    return out


def score_detections(
    truth: Sequence[TruthItem],
    detections: Sequence[Detection],
    *,
    tolerance_m: float = MATCH_TOLERANCE_M,
    classes: Sequence[str] = CLASSES,
) -> Scores:
    """Match detections to planted violations one to one, per class, nearest pair first.

    A pair can match when the detection's centre lies within ``tolerance_m`` of the footprint;
    its position error is the distance between the two centres. Unmatched detections are false
    alarms; a planted violation is found when some detection matches it.
    """
    frame = _frame_for([t.centre for t in truth] + [d.centre for d in detections])
    result: dict[str, ClassScore] = {}
    matches: list[tuple[int, int, float]] = []
    for label in classes:
        ti = [i for i, t in enumerate(truth) if t.label == label]
        di = [j for j, d in enumerate(detections) if d.label == label]
        pairs = []
        for i in ti:
            footprint = frame.to_local(truth[i].footprint)
            tx, ty = frame.forward(*truth[i].centre)
            for j in di:
                dx, dy = frame.forward(*detections[j].centre)
                if footprint.distance(Point(dx, dy)) <= tolerance_m:
                    pairs.append((math.hypot(dx - tx, dy - ty), i, j))
        used_t: set[int] = set()
        used_d: set[int] = set()
        errors = []
        for error, i, j in sorted(pairs):
            if i in used_t or j in used_d:
                continue
            used_t.add(i)
            used_d.add(j)
            errors.append(error)
            matches.append((i, j, error))
        result[label] = ClassScore(
            planted=len(ti),
            found=len(used_t),
            false_alarms=len(di) - len(used_d),
            errors_m=tuple(errors),
        )
    return Scores(result, tuple(matches))


def read_truth(path: str | Path) -> list[TruthItem]:
    """Planted violations from ``truth.geojson``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        TruthItem(
            f["properties"]["class"],
            (float(f["properties"]["lon"]), float(f["properties"]["lat"])),
            shape(f["geometry"]),
            f["properties"].get("grid_id"),
        )
        for f in data["features"]
    ]


def read_findings(path: str | Path) -> list[FoundItem]:
    """Findings from ``findings.geojson``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        FoundItem(
            p["class"],
            float(p["score"]),
            tuple(f["geometry"]["coordinates"][:2]),
            p.get("grid_id"),
            p.get("ticket_id"),
            p.get("finding_id"),
        )
        for f in data["features"]
        for p in [f["properties"]]
    ]


def _findings_geojson(findings: Sequence[FoundItem], detection_of: Sequence[int]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(Point(*f.centre)),
                "properties": {
                    "class": f.label,
                    "score": round(f.score, 4),
                    "grid_id": f.grid_id,
                    "ticket_id": f.ticket_id,
                    "finding_id": f.finding_id,
                    "detection": detection_of[k],
                },
            }
            for k, f in enumerate(findings)
        ],
    }


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoReport:
    """Everything the demo prints; :meth:`to_json` is the issue's JSON object."""

    scores: Scores
    grids: int
    sorties: int
    photos: int
    tickets: int
    landing_to_ticket_s: tuple[float, ...]
    data_dir: Path
    database: str
    route: dict[str, Any]
    flights: tuple[dict[str, Any], ...] = ()
    wall_s: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        errors = self.scores.errors_m
        return {
            "classes": {label: s.to_dict() for label, s in self.scores.classes.items()},
            "position_error_m": {
                "mean": _round(statistics.fmean(errors), 2) if errors else None,
                "max": _round(max(errors), 2) if errors else None,
            },
            "grids": self.grids,
            "sorties": self.sorties,
            "photos": self.photos,
            "tickets": self.tickets,
            "landing_to_ticket_s": {
                "median": _round(statistics.median(self.landing_to_ticket_s), 2)
                if self.landing_to_ticket_s
                else None
            },
            "data_dir": str(self.data_dir),
        }


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Profile:
    """Sizes of a demo run."""

    quick: bool
    altitude_m: float = 60.0
    speedup: float = 100.0
    world_margin_m: float = 20.0
    seed: int = 7
    ingest_timeout_s: float = 3600.0  # a station that took the ingest job may run it this long


def _patrol_overlaps(camera: Any, altitude_m: float, *, tile_m: float) -> tuple[float, float]:
    """(front, side) overlaps at which neighbouring photos share a strip at least one model
    tile wide (plus a margin), so an object up to a tile across lies whole in some photo."""
    across, along = camera.footprint_m(altitude_m)
    margin_m = 0.25 * tile_m
    front = min(0.6, (tile_m + margin_m) / along)
    side = min(0.6, (tile_m + margin_m) / across)
    return max(front, 0.20), max(side, 0.15)  # never less than the patrol profile's


Progress = Callable[[str, int, int], None]


def _no_progress(_step: str, _done: int, _total: int) -> None:
    return None


def _world_bounds(grids: Sequence[Grid], margin_m: float) -> tuple[float, float, float, float]:
    union = shapely.union_all([g.geometry for g in grids])
    frame = LocalFrame.around(union)
    local = frame.to_local(union).envelope.buffer(margin_m, join_style="mitre")
    lons, lats = frame.inverse(*np.asarray(local.exterior.coords).T)
    return float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats))


def run_demo(
    data_dir: str | Path,
    *,
    quick: bool = False,
    progress: Progress = _no_progress,
    log: Callable[[str], None] = lambda _text: None,
) -> DemoReport:
    """Build the world, plan, fly every sortie, ingest, file tickets; return the report.

    ``progress(step, done, total)`` follows the long steps (``world``, ``fly s1``, ``classify
    s1`` ...); ``log`` gets one line per milestone.
    """
    from groundstation.ingest import register_flight
    from groundstation.jobs import JobRunner, default_handlers
    from groundstation.models import Flight, Photo
    from groundstation.services import import_grids
    from groundstation.storage import Storage
    from missions.build import build_missions
    from missions.errors import MissionError
    from missions.link import VehicleSettings, connect, fly
    from missions.planner import PlanSettings, plan
    from simulator import Sitl
    from simulator.errors import SimulatorError
    from vision.infer import Classifier
    from vision.synth import build_world

    started = time.monotonic()
    profile = _Profile(quick=quick)
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = demo_config(data_dir)  # never the station's DATABASE_URL: see ISOLATED_SETTINGS
    storage = Storage(config["DATABASE_URL"])
    if storage.current_revision() != storage.head_revision():
        storage.upgrade()

    grids = district_grids(quick=quick)
    grids_path = data_dir / "grids.geojson"
    grids_path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": mapping(g.geometry), "properties": g.properties}
                    for g in grids
                ],
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    with storage.session() as session:
        import_grids(session, grids)
        session.commit()

    # 1. the world raster with planted violations, and its truth
    progress("world", 0, 1)
    truth_path = data_dir / "truth.geojson"
    world = build_world(
        data_dir / "worlds" / "world.tif",  # where the flights page may fly the SITL over it
        bounds_wgs84=_world_bounds(grids, profile.world_margin_m),
        gsd_m=0.05,
        grids=grids,
        violations=1 if quick else 3,
        seed=profile.seed,
        truth_path=truth_path,
        water=district_water(quick=quick),
    )
    progress("world", 1, 1)
    log(f"world {world.raster_path} ({world.gsd_m * 100:.0f} cm/px), "
        f"{len(world.violations)} violations planted")  # fmt: skip

    # 2. plan (patrol profile) and build one mission per sortie
    camera = PRESETS["phantom4pro"]
    classifier = Classifier.load()
    front, side = _patrol_overlaps(
        camera,
        profile.altitude_m,
        tile_m=classifier.record.tile_px * float(classifier.record.working_gsd_m),
    )
    settings = PlanSettings.for_profile(
        "patrol",
        camera=camera,
        altitude_m=profile.altitude_m,
        front_overlap=front,
        side_overlap=side,
    )
    route = plan(grids, settings)
    missions = build_missions(route)
    summary = route.summary()
    run_tag = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    plan_id = _save_plan(storage, route, missions, name=f"demo {run_tag}")
    log(
        f"route: {counted(len(missions), 'sortie')}, {route.route_length_m / 1000:.2f} km, "
        f"{counted(route.photos, 'photo')} planned at {settings.altitude_m:.0f} m "
        f"(saved as plan {plan_id})"
    )

    working_gsd = float(classifier.record.working_gsd_m)
    across, _ = camera.footprint_m(settings.altitude_m)
    photo_px = max(64, math.ceil(across / working_gsd))  # photos at about the model's GSD
    runner = JobRunner(storage, handlers=default_handlers(), config=config)
    runner.services["classifier"] = classifier

    found: list[FoundItem] = []
    ticket_delays: list[float] = []
    flights: list[dict[str, Any]] = []
    ticket_ids: list[int] = []
    link_settings = VehicleSettings()
    for k, mission in enumerate(missions):
        name = f"demo {run_tag} s{k + 1}"
        photos_dir = data_dir / "photos" / f"demo_{run_tag}" / f"s{k + 1}"
        waypoints = [i for i, item in enumerate(mission.items) if item.command == 16]
        progress(f"fly s{k + 1}", 0, len(waypoints))
        started_at = datetime.now(UTC)

        def on_status(snapshot: Any, k: int = k, total: int = len(waypoints)) -> None:
            progress(f"fly s{k + 1}", min(total, len(snapshot.mission.reached)), total)

        with Sitl(
            home=mission.home,
            speedup=profile.speedup,
            world=world.raster_path,
            camera=camera,
            photos_dir=photos_dir,
            photo_max_px=photo_px,
            params={"RTL_LOIT_TIME": 0},
        ) as sitl:
            try:
                with connect(sitl.connection_string, timeout=30.0, settings=link_settings) as v:
                    result = fly(
                        v,
                        mission,
                        log_dir=data_dir / "logs" / f"demo_{run_tag}" / f"s{k + 1}",
                        on_status=on_status,
                        preflight_timeout_s=120.0,
                        flight_timeout_s=3600.0,
                    )
            except (MissionError, SimulatorError) as exc:
                raise DemoError(f"sortie s{k + 1}: flight failed: {exc}") from exc
            landed_at = time.monotonic()
            flown = _Flown(started_at, datetime.now(UTC), sitl.connection_string, result, name)
            sitl.wait_photos(timeout=300.0)
        if not result.landed:
            raise DemoError(f"sortie s{k + 1}: the vehicle did not land ({result.summary()})")
        log(f"s{k + 1}: {result.summary()}")

        # 3. register the flight and classify it on the job runner (the ingest job)
        flight_id = register_flight(
            storage, photos_dir, name=name, created_by="demo", camera=camera
        )
        # flown from the saved plan, as the flights page records it: the dashboard's area flown
        _record_sortie(storage, plan_id, route, k, flown, flight_id=flight_id)
        job_id = runner.enqueue("ingest_flight", {"flight_id": flight_id})
        with storage.session() as session:
            row = session.get(Flight, flight_id)
            row.job_id, row.status = job_id, "queued"
            session.commit()
            n_photos = len(
                list(session.scalars(select(Photo.id).where(Photo.flight_id == flight_id)))
            )
        progress(f"classify s{k + 1}", 0, n_photos)
        run_ingest(runner, job_id, sortie=f"s{k + 1}", timeout_s=profile.ingest_timeout_s, log=log)
        progress(f"classify s{k + 1}", n_photos, n_photos)

        # 4. tickets for the supervisor, one per object on the ground
        new_found, new_tickets = _file_tickets(storage, flight_id, found)
        ticket_ids.extend(new_tickets)
        now = time.monotonic()
        ticket_delays.extend(now - landed_at for _ in new_tickets)
        found.extend(new_found)
        flights.append(
            {
                "sortie": f"s{k + 1}",
                "flight_id": flight_id,
                "photos": n_photos,
                "findings": len(new_found),
                "tickets": len(new_tickets),
                "flight": result.summary(),
            }
        )
        log(
            f"s{k + 1}: {counted(n_photos, 'photo')}, {counted(len(new_found), 'finding')}, "
            f"{counted(len(new_tickets), 'ticket')}"
        )

    detections = cluster_findings(found)
    detection_of = [0] * len(found)
    for d, det in enumerate(detections):
        for i in det.members:
            detection_of[i] = d
    findings_path = data_dir / "findings.geojson"
    findings_path.write_text(
        json.dumps(_findings_geojson(found, detection_of), ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    truth = read_truth(truth_path)
    scores = score_detections(truth, detections)
    return DemoReport(
        scores=scores,
        grids=len(grids),
        sorties=len(missions),
        photos=sum(f["photos"] for f in flights),
        tickets=len(ticket_ids),
        landing_to_ticket_s=tuple(ticket_delays),
        data_dir=data_dir,
        database=str(storage.engine.url),
        route=summary,
        flights=tuple(flights),
        wall_s=time.monotonic() - started,
        files={
            "grids": str(grids_path),
            "world": str(world.raster_path),
            "truth": str(truth_path),
            "findings": str(findings_path),
            "photos": str(data_dir / "photos" / f"demo_{run_tag}"),
            "logs": str(data_dir / "logs" / f"demo_{run_tag}"),
        },
    )


@dataclass(frozen=True, slots=True)
class _Flown:
    """One sortie as flown: when, over which link, what the vehicle did, under which name."""

    started_at: datetime
    landed_at: datetime
    connection: str
    result: Any  # missions.link.FlightResult
    name: str


def _save_plan(storage: Any, route: Any, missions: Sequence[Any], *, name: str) -> int:
    """Store the demo's plan as the planning page saves one (summary, map layers, one mission
    per sortie), so its flights are flown from a plan like the pilots'; return its id."""
    from groundstation.blueprints.plan import find_plan_warnings, plan_layers
    from groundstation.models import RoutePlan
    from missions.formats import plan_to_dict

    summary = route.summary()
    s = route.settings
    row = RoutePlan(
        name=name,
        params={
            "grids": [g.grid_id for g in route.grids],
            "polygon": None,
            "no_fly_layer": None,
            "camera": s.camera.name,
            "profile": s.profile,
            "altitude_m": s.altitude_m,
            "gsd_cm": None,
            "front_overlap": s.front_overlap * 100,
            "side_overlap": s.side_overlap * 100,
            "speed_mps": s.speed_mps,
            "battery_minutes": s.battery_minutes,
            "home": list(route.home),
        },
        grid_codes=[g.grid_id for g in route.grids],
        area_m2=float(sum(g.area_m2 for g in route.grids)),
        summary=summary,
        warnings=[w.to_json() for w in find_plan_warnings(summary)],
        layers=plan_layers(route),
        missions=[plan_to_dict(m) for m in missions],
        created_by="demo",
    )
    with storage.session() as session:
        session.add(row)
        session.commit()
        return row.id


def sortie_area_m2(route: Any, index: int) -> float:
    """The area (m²) sortie ``index`` of ``route`` (a :class:`missions.planner.result.Plan`)
    is planned to cover: its grids' flyable areas, a grid flown over several sorties shared
    equally among them, so the sorties add up to the plan's area."""
    return float(sum(g.area_m2 / len(g.sorties) for g in route.grids if index in g.sorties))


def _record_sortie(
    storage: Any, plan_id: int, route: Any, index: int, flown: _Flown, *, flight_id: int
) -> int:
    """Record a landed sortie as the flights page records a flight session: its plan, grids,
    the area covered (the sortie's share of the plan, by the waypoints reached) and its photos'
    flight; return the session's id."""
    from groundstation.models import FlightSession

    result = flown.result
    reached = len(set(result.waypoints) & set(result.reached))
    fraction = reached / len(result.waypoints) if result.waypoints else 0.0
    sortie = route.sorties[index]
    row = FlightSession(
        plan_id=plan_id,
        sortie=index,
        connection=flown.connection[:200],
        simulated=True,
        state="done",
        grid_codes=list(sortie.grid_ids),
        area_m2=sortie_area_m2(route, index) * fraction,
        flight_id=flight_id,
        log_dir=result.log_dir,
        result={
            "landed": result.landed,
            "waypoints": len(result.waypoints),
            "reached": reached,
            "all_reached": result.all_reached,
            "photos": result.photos,
            "photos_taken": result.photos + result.photos_unreported,
            "photos_unreported": result.photos_unreported,
            "connection": flown.connection,
            "mission": flown.name,
        },
        started_by="demo",
        started_at=flown.started_at,
        landed_at=flown.landed_at,
    )
    with storage.session() as session:
        session.add(row)
        session.commit()
        return row.id


def run_ingest(
    runner: Any, job_id: int, *, sortie: str, timeout_s: float, log: Callable[[str], None]
) -> None:
    """Run a sortie's ingest job to its end. A station serving the same data folder may take
    the job first (its worker polls the same table): then the demo says so and waits for it,
    as the findings are the same whoever classifies the photos. A :class:`DemoError` when the
    job fails, with the job's error."""
    from groundstation.errors import JobError
    from groundstation.models import Job

    def waiting(outcome: Any) -> None:
        log(
            f"{sortie}: ingest job {job_id} is being run by another worker ({outcome.owner}), "
            "e.g. a station serving this data folder; waiting for it to finish"
        )

    try:
        outcome = runner.run_until_finished(job_id, timeout_s=timeout_s, on_wait=waiting)
    except JobError as exc:
        raise DemoError(f"sortie {sortie}: ingest: {exc}") from exc
    if outcome.state != "done":
        with runner.storage.session() as session:
            job = session.get(Job, job_id)
            error = job.error if job is not None and job.error else "no error recorded"
        raise DemoError(f"sortie {sortie}: ingest job {job_id} {outcome.state}: {error}")


def _file_tickets(
    storage: Any, flight_id: int, earlier: Sequence[FoundItem]
) -> tuple[list[FoundItem], list[int]]:
    """File one ``new`` ticket per object a flight's findings show inside a grid, unless an
    earlier finding of this run already ticketed it; return the flight's findings (one per
    object) and the new ticket ids. Objects an earlier flight found (ingest linked this flight's
    views to them as sightings, e.g. when the demo runs again on the same data folder) count as
    found again, under their existing ticket."""
    from groundstation.models import Finding, Ticket
    from groundstation.models import Grid as GridRow
    from groundstation.tickets import Actor, open_ticket

    actor = Actor(name="gridpatrol-demo", role="system")
    with storage.session() as session:
        seen = list(
            session.scalars(
                select(Finding).where(Finding.flight_id == flight_id).order_by(Finding.id)
            )
        )
        # one per object: ingest already linked overlapping photos' views as sightings
        rows = [r for r in seen if r.sighting_of is None]
        this_flight = {r.id for r in seen}
        known: dict[int, Finding] = {}  # object first found by an earlier flight -> best view
        frame = LocalFrame(*DISTRICT_CENTRE)
        for r in seen:
            if r.sighting_of is not None and r.sighting_of not in this_flight:
                best = known.get(r.sighting_of)
                if best is None or view_rank(r, frame) < view_rank(best, frame):
                    known[r.sighting_of] = r
        grid_rows = list(session.scalars(select(GridRow)))
        codes = {g.id: g.code for g in grid_rows}
        shapes = {g.code: shape(g.geometry) for g in grid_rows}
        items = [
            FoundItem(r.label, r.score, (r.lon, r.lat), codes.get(r.grid_id), None, r.id)
            for r in rows
            if r.lon is not None and r.lat is not None
        ]
        by_id = {r.id: r for r in rows}
        ticketed = [f for f in earlier if f.ticket_id is not None]
        merged = cluster_findings(list(ticketed) + items)
        new_tickets: list[int] = []
        ticket_of: dict[int, int | None] = {}
        for det in merged:
            members = list(det.members)
            old = next((ticketed[m].ticket_id for m in members if m < len(ticketed)), None)
            fresh = [m - len(ticketed) for m in members if m >= len(ticketed)]
            if not fresh:
                continue
            if old is None and _near_grid(det, shapes):
                best = max(fresh, key=lambda m: items[m].score)
                row = by_id[items[best].finding_id]
                ticket = open_ticket(
                    session,
                    label=row.label,
                    actor=actor,
                    lat=det.centre[1],
                    lon=det.centre[0],
                    grid_id=row.grid_id,
                    source="drone",
                    finding=row,  # the ticket page describes the case from its finding
                )
                session.flush()
                old = ticket.id
                new_tickets.append(ticket.id)
            for m in fresh:
                ticket_of[m] = old
        this_run = {f.finding_id for f in earlier}  # found by an earlier sortie: counted there
        for primary, r in known.items():
            if primary in this_run or r.lon is None or r.lat is None:
                continue
            old = session.scalar(select(Ticket.id).where(Ticket.finding_id == primary))
            items.append(
                FoundItem(r.label, r.score, (r.lon, r.lat), codes.get(r.grid_id), None, r.id)
            )
            ticket_of[len(items) - 1] = old
        session.commit()
    out = [
        FoundItem(f.label, f.score, f.centre, f.grid_id, ticket_of.get(k), f.finding_id)
        for k, f in enumerate(items)
    ]
    return out, new_tickets


def _near_grid(detection: Detection, shapes: dict[str, Any]) -> bool:
    """Whether a detection lies in its grid, give or take the position tolerance."""
    if detection.grid_id is None or detection.grid_id not in shapes:
        return False
    frame = LocalFrame(*detection.centre)
    return frame.to_local(shapes[detection.grid_id]).distance(Point(0, 0)) <= MATCH_TOLERANCE_M


def create_demo_supervisor(storage: Any, *, username: str = "demo-supervisor") -> str:
    """Create (or reset) the demo supervisor through the user table; return its password. A
    reset ends the sessions signed in with the old one, as ``db reset-password`` does."""
    import secrets

    from werkzeug.security import generate_password_hash

    from groundstation.models import User
    from groundstation.user_sessions import end_user_sessions

    password = secrets.token_urlsafe(9)
    with storage.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, role="supervisor", active=True, password_hash="")
            session.add(user)
        else:
            end_user_sessions(session, user.id)
        user.role, user.active = "supervisor", True
        user.password_hash = generate_password_hash(password)
        session.commit()
    return password
