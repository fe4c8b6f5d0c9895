"""The planning page and its JSON API: grids or a drawn polygon in, route, cells, sorties and the
summary out (the planner runs here, server-side), saved plans, file downloads, no-fly layers and
upload to a vehicle with verification.

Planning parameters (JSON body of ``POST /api/v1/plans/preview`` and ``POST /api/v1/plans``):
``grids`` (grid codes), ``polygon`` (a drawn GeoJSON Polygon, WGS84), ``no_fly_layer`` (id),
``camera`` (preset), ``profile`` (mapping | patrol), ``altitude_m`` or ``gsd_cm``,
``front_overlap``/``side_overlap`` (percent; default: the profile's), ``speed_mps``,
``battery_minutes``, ``home`` ([lon, lat]; default: the planner's), ``name`` (save only).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from flask import Blueprint, current_app, jsonify, render_template, request, send_file
from flask_babel.speaklater import LazyString
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping, shape
from sqlalchemy import select

from gis.camera import PRESETS
from gis.errors import GisError
from gis.grids import Grid as GisGrid
from gis.messages import Message
from groundstation.blueprints.api import _get, camera_preset, grids_by_codes, parse_text
from groundstation.blueprints.api import bp as api_bp
from groundstation.errors import NotFoundError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.i18n import lazy_names
from groundstation.models import ROLES, Grid, NoFlyLayer, RoutePlan
from groundstation.params import check_fields, takes
from groundstation.uploads import read_limited
from groundstation.web import (
    api_key_from_request,
    check_text,
    current_actor,
    db,
    json_error,
    request_data,
    roles_required,
)
from missions.errors import MissionError, PlanFileError
from missions.planner.result import shown_pct
from missions.planner.settings import MAX_SPEED_MPS, MIN_SPEED_MPS, SUGGESTED_LEAD_IN_M

__all__ = [
    "bp",
    "PLANNERS",
    "MAX_GRIDS",
    "DOWNLOAD_FORMATS",
    "PlanRequest",
    "DRAWN_ID",
    "DRAWN_NAME",
    "grid_name",
    "FIELD_NAMES",
    "field_name",
    "parse_plan_request",
    "run_plan",
    "PlanWarning",
    "find_plan_warnings",
    "plan_warnings",
    "saved_plan_warnings",
    "plan_layers",
    "mission_file",
    "preview_cells",
]

bp = Blueprint("plan", __name__)

PLANNERS = ("pilot", "supervisor", "admin")
FLYERS = ("pilot", "admin")
MAX_GRIDS = 50
#: Plan files a saved plan downloads as (one file per sortie), as ``gridpatrol plan`` writes them.
DOWNLOAD_FORMATS = {
    ".plan": "application/json",
    ".waypoints": "text/plain",
    ".kml": "application/vnd.google-earth.kml+xml",
    ".geojson": "application/geo+json",
}


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """Validated planning parameters."""

    grids: tuple[GisGrid, ...]
    no_fly: tuple[Polygon, ...]
    no_fly_layer: int | None
    camera: str
    profile: str
    altitude_m: float | None
    gsd_m: float | None
    front_overlap: float | None
    side_overlap: float | None
    speed_mps: float
    battery_minutes: float
    home: tuple[float, float] | None
    lead_in_m: float = 0.0

    def params(self) -> dict[str, Any]:
        """The parameters as stored with a saved plan (grids by code, polygon as GeoJSON)."""
        drawn = [g for g in self.grids if g.grid_id == DRAWN_ID]
        return {
            "grids": [g.grid_id for g in self.grids if g.grid_id != DRAWN_ID],
            "polygon": mapping(drawn[0].geometry) if drawn else None,
            "no_fly_layer": self.no_fly_layer,
            "camera": self.camera,
            "profile": self.profile,
            "altitude_m": self.altitude_m,
            "gsd_cm": None if self.gsd_m is None else self.gsd_m * 100,
            "front_overlap": None if self.front_overlap is None else self.front_overlap * 100,
            "side_overlap": None if self.side_overlap is None else self.side_overlap * 100,
            "speed_mps": self.speed_mps,
            "battery_minutes": self.battery_minutes,
            "home": list(self.home) if self.home else None,
            "lead_in_m": self.lead_in_m,
        }


DRAWN_ID = "drawn"
#: The drawn area as messages name it (its id in the API and summaries stays DRAWN_ID).
DRAWN_NAME = _l("drawn area")
#: The longest lead-in the page takes (m).
MAX_LEAD_IN_M = 50.0


def _page_label(label: LazyString) -> LazyString:
    """A label of plan.html for a message: Jinja formats every msgid of a template, so a percent
    sign is written ``%%`` there; it is formatted the same way here."""
    return LazyString(lambda: str(label) % {})


#: Planning fields by their labels on the page (plan.html's msgids), for error messages.
FIELD_NAMES = {
    "altitude_m": _page_label(_l("Altitude (m)")),
    "gsd_cm": _page_label(_l("GSD (cm/px)")),
    "front_overlap": _page_label(_l("Front overlap (%%)")),
    "side_overlap": _page_label(_l("Side overlap (%%)")),
    "speed_mps": _page_label(_l("Speed (m/s)")),
    "battery_minutes": _page_label(_l("Battery (min)")),
    "lead_in_m": _page_label(_l("Lead-in (m)")),
}


def field_name(key: str) -> Any:
    """A planning field as the reader of an error knows it: the page's label (in the page's
    language) for the planning page's own requests; for an API-key client, the JSON key it
    sent in English (the label in other languages)."""
    if api_key_from_request() is None:
        return FIELD_NAMES[key]
    return lazy_names(FIELD_NAMES, key)


def _number(data: dict[str, Any], key: str, *, lo: float, hi: float, default: Any = None) -> Any:
    """A number in [lo, hi] from the request, or `default` when absent; errors name the field
    (:func:`field_name`)."""
    field = field_name(key)
    value = data.get(key)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            _l("%(key)s %(value)s is not a number", key=field, value=repr(value))
        ) from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise ValidationError(
            _l(
                "%(key)s %(value)s is out of range [%(lo)s, %(hi)s]",
                key=field,
                value=f"{number:g}",
                lo=f"{lo:g}",
                hi=f"{hi:g}",
            )
        )
    return number


def _polygon(raw: Any) -> Polygon:
    try:
        geometry = shape(raw)
    except (AttributeError, KeyError, TypeError, ValueError, GisError) as exc:
        raise ValidationError(
            _l("polygon is not a GeoJSON Polygon: %(detail)s", detail=exc)
        ) from None
    if not isinstance(geometry, Polygon) or geometry.is_empty:
        raise ValidationError(
            _l("polygon must be a GeoJSON Polygon, got %(type)s", type=geometry.geom_type)
        )
    if len(geometry.exterior.coords) < 4:
        raise ValidationError(_l("polygon needs at least three corners"))
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ValidationError(_l("polygon coordinates are not WGS84 [lon, lat]"))
    if not geometry.is_valid:
        raise ValidationError(_l("polygon crosses itself: move a corner so its edges do not cross"))
    return geometry


def parse_plan_request(session: Any, data: dict[str, Any]) -> PlanRequest:
    """Check the planning parameters and load the grids and no-fly zones they name."""
    codes = data.get("grids") or []
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise ValidationError(_l("grids must be a list of grid codes"))
    codes = list(dict.fromkeys(codes))
    if len(codes) > MAX_GRIDS:
        raise ValidationError(
            _l("at most %(max)d grids per plan, got %(count)d", max=MAX_GRIDS, count=len(codes))
        )
    rows = grids_by_codes(session, codes)  # any case, as the grid pages and filters take ids
    missing = [c for c in codes if c not in rows]
    if missing:
        raise NotFoundError(_l("grid(s) %(codes)s do not exist", codes=", ".join(missing)))
    stored = {rows[c].code: rows[c] for c in codes}  # the plan names the stored ids, each once
    grids = [GisGrid(c, shape(g.geometry), dict(g.properties or {})) for c, g in stored.items()]
    if data.get("polygon"):
        grids.append(GisGrid(DRAWN_ID, _polygon(data["polygon"]), {"name": "drawn area"}))
    if not grids:
        raise ValidationError(_l("pick at least one grid or draw an area"))
    no_fly: list[Polygon] = []
    layer_id = data.get("no_fly_layer")
    if layer_id not in (None, ""):
        try:
            layer = session.get(NoFlyLayer, int(layer_id))
        except (TypeError, ValueError):
            raise ValidationError(
                _l("no_fly_layer %(value)s is not an id", value=repr(layer_id))
            ) from None
        if layer is None:
            raise NotFoundError(_l("no-fly layer %(id)s does not exist", id=layer_id))
        geometry = shape(layer.geometry)
        no_fly = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
        layer_id = layer.id
    camera = camera_preset(str(data.get("camera") or "phantom4pro"))
    profile = str(data.get("profile") or "patrol")
    if profile not in ("mapping", "patrol"):
        raise ValidationError(_l("profile %(value)s: mapping or patrol", value=repr(profile)))
    altitude = _number(data, "altitude_m", lo=10, hi=500)
    gsd_cm = _number(data, "gsd_cm", lo=0.1, hi=50)
    if altitude is None and gsd_cm is None:
        # a height field sent empty (the page sends the one it plans by) is refused, as any
        # emptied field is: 100 m is the default of a request that gives neither
        for key, lo, hi in (("altitude_m", 10, 500), ("gsd_cm", 0.1, 50)):
            if key in data:
                raise ValidationError(
                    _l(
                        "%(key)s is empty: give a value from %(lo)s to %(hi)s",
                        key=field_name(key),
                        lo=f"{lo:g}",
                        hi=f"{hi:g}",
                    )
                )
        altitude = 100.0
    if altitude is not None and gsd_cm is not None:
        raise ValidationError(
            _l(
                "give %(altitude)s or %(gsd)s, not both",
                altitude=field_name("altitude_m"),
                gsd=field_name("gsd_cm"),
            )
        )
    front = _number(data, "front_overlap", lo=0, hi=95)
    side = _number(data, "side_overlap", lo=0, hi=95)
    home = data.get("home")
    if home not in (None, ""):
        try:
            lon, lat = (float(v) for v in home)
        except (TypeError, ValueError):
            raise ValidationError(_l("home must be [lon, lat]")) from None
        if abs(lat) > 90 and abs(lat) <= 180 and abs(lon) <= 90:
            raise ValidationError(
                _l(
                    "home [%(lon)s, %(lat)s] looks swapped: it is [lon, lat]; "
                    "did you mean [%(lat)s, %(lon)s]?",
                    lon=f"{lon:g}",
                    lat=f"{lat:g}",
                )
            )
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationError(
                _l("home [%(lon)s, %(lat)s] is not WGS84 [lon, lat]", lon=lon, lat=lat)
            )
        home = (lon, lat)
    else:
        home = None
    return PlanRequest(
        grids=tuple(grids),
        no_fly=tuple(no_fly),
        no_fly_layer=layer_id if no_fly else None,
        camera=camera,
        profile=profile,
        altitude_m=altitude,
        gsd_m=None if gsd_cm is None else gsd_cm / 100,
        front_overlap=None if front is None else front / 100,
        side_overlap=None if side is None else side / 100,
        speed_mps=_number(data, "speed_mps", lo=MIN_SPEED_MPS, hi=MAX_SPEED_MPS, default=10.0),
        battery_minutes=_number(data, "battery_minutes", lo=3, hi=120, default=25.0),
        home=home,
        lead_in_m=_number(data, "lead_in_m", lo=0, hi=MAX_LEAD_IN_M, default=0.0),
    )


def grid_name(grid_id: str | None) -> Any:
    """A grid as messages name it: its code, or :data:`DRAWN_NAME` for the drawn area."""
    return DRAWN_NAME if grid_id == DRAWN_ID else grid_id


def _drawn_named(value: Any) -> Any:
    """A gis/missions message (or an error made of one) with the drawn area's id, where it
    names a grid, replaced by its display name; anything else as it is."""
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], Message):
        value = value.args[0]
    if not isinstance(value, Message):
        return value
    values = {
        key: grid_name(v) if key == "grid" and v == DRAWN_ID else _drawn_named(v)
        for key, v in value.values.items()
    }
    return Message(value.template, values)


def run_plan(req: PlanRequest) -> Any:
    """Plan with the server-side planner; its PlanningError (a clear message) becomes a 400."""
    from missions.planner import PlanSettings, plan
    from missions.planner.settings import SettingError

    try:
        settings = PlanSettings.for_profile(
            req.profile,
            camera=PRESETS[req.camera],
            altitude_m=req.altitude_m,
            gsd_m=req.gsd_m,
            front_overlap=req.front_overlap,
            side_overlap=req.side_overlap,
            speed_mps=req.speed_mps,
            battery_minutes=req.battery_minutes,
            lead_in_m=req.lead_in_m,
        )
        return plan(list(req.grids), settings, no_fly=req.no_fly, home=req.home)
    except SettingError as exc:  # named as the page's field, not the planner's
        key = SETTING_FIELDS.get(exc.setting)
        detail = exc.named(field_name(key)) if key else exc.message
        raise ValidationError(_l("cannot plan: %(detail)s", detail=detail)) from None
    except (MissionError, GisError) as exc:
        raise ValidationError(_l("cannot plan: %(detail)s", detail=_drawn_named(exc))) from None


#: The page's field (a :data:`FIELD_NAMES` key) of each planner setting it sets.
SETTING_FIELDS = {
    "altitude_m": "altitude_m",
    "gsd_m": "gsd_cm",
    "speed_mps": "speed_mps",
    "battery_minutes": "battery_minutes",
    "lead_in_m": "lead_in_m",
}


@dataclass(frozen=True, slots=True)
class PlanWarning:
    """One thing the pilot should know before flying a plan, kept as data (stored with a saved
    plan) and worded in each reader's language when shown.

    ``altitude``: the plan flies at ``value`` m, above the legal ``limit`` m; ``coverage``: grid
    ``grid`` is photographed at least once on only ``value`` % of its flyable area, below
    ``limit`` %."""

    kind: Literal["altitude", "coverage"]
    value: float
    limit: float
    grid: str | None = None
    lead_in_m: float | None = None  # coverage: the plan's lead-in (0: suggest one)

    def text(self) -> LazyString:
        """The warning as a lazy message (rendered in the language of whoever reads it)."""
        if self.kind == "altitude":
            return _l(
                "The plan flies at %(altitude)s m above ground, above the %(limit)s m limit for "
                "light UAVs in China without special approval; a vehicle with an altitude fence "
                "will refuse it.",
                altitude=f"{self.value:g}",
                limit=f"{self.limit:g}",
            )
        if self.lead_in_m == 0:
            return _l(
                "%(grid)s: only %(pct)s %% of its flyable area is photographed at least once "
                "(below %(min)s %%); check the plan before flying it. Without a lead-in each "
                "strip's first photo is taken while the vehicle still turns: try a lead-in of "
                "%(lead_in)s m.",
                grid=grid_name(self.grid),
                pct=shown_pct(self.value, self.limit),
                min=f"{self.limit:g}",
                lead_in=f"{SUGGESTED_LEAD_IN_M:g}",
            )
        return _l(
            "%(grid)s: only %(pct)s %% of its flyable area is photographed at least once "
            "(below %(min)s %%); check the plan before flying it.",
            grid=grid_name(self.grid),
            pct=shown_pct(self.value, self.limit),
            min=f"{self.limit:g}",
        )

    def to_json(self) -> dict[str, Any]:
        """The warning as stored with a plan (``route_plans.warnings``)."""
        stored = asdict(self)
        if self.lead_in_m is None:
            del stored["lead_in_m"]
        return stored

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanWarning:
        """A stored warning; a ValueError names a kind this version does not know."""
        if data.get("kind") not in ("altitude", "coverage"):
            raise ValueError(f"stored plan warning of unknown kind {data.get('kind')!r}")
        return cls(
            kind=data["kind"],
            value=float(data["value"]),
            limit=float(data["limit"]),
            grid=data.get("grid"),
            lead_in_m=None if data.get("lead_in_m") is None else float(data["lead_in_m"]),
        )


def find_plan_warnings(summary: dict[str, Any]) -> list[PlanWarning]:
    """What the pilot should know before flying a plan with this summary: an altitude above the
    legal limit, grids photographed on too little of their area."""
    from missions.planner.result import MIN_COVERAGE_ONCE_PCT, low_coverage
    from missions.planner.settings import LEGAL_MAX_ALTITUDE_M

    warnings = []
    lead_in = summary["settings"].get("lead_in_m")
    altitude = float(summary["settings"]["altitude_m"])
    if altitude > LEGAL_MAX_ALTITUDE_M:
        warnings.append(PlanWarning("altitude", altitude, float(LEGAL_MAX_ALTITUDE_M)))
    for g in low_coverage(summary):
        warnings.append(
            PlanWarning(
                "coverage",
                float(g["coverage_once_pct"]),
                float(MIN_COVERAGE_ONCE_PCT),
                grid=str(g["grid_id"]),
                lead_in_m=None if lead_in is None else float(lead_in),
            )
        )
    return warnings


def plan_warnings(summary: dict[str, Any]) -> list[str]:
    """:func:`find_plan_warnings` in the reader's language (the preview's ``warnings``)."""
    return [str(w.text()) for w in find_plan_warnings(summary)]


def saved_plan_warnings(row: RoutePlan) -> list[str]:
    """The warnings stored with a saved plan, in the reader's language; a plan saved before
    warnings were stored (``warnings`` NULL) gets those of its stored summary."""
    if row.warnings is None:
        warnings = find_plan_warnings(row.summary)
    else:
        warnings = [PlanWarning.from_json(w) for w in row.warnings]
    return [str(w.text()) for w in warnings]


def plan_layers(result: Any) -> dict[str, Any]:
    """The plan as one GeoJSON FeatureCollection; ``properties.kind`` says what each feature is."""
    features: list[dict[str, Any]] = []

    def add(geometry: Any, **props: Any) -> None:
        features.append({"type": "Feature", "geometry": mapping(geometry), "properties": props})

    for g in result.grids:
        for k, cell in enumerate(g.cells):
            add(cell, kind="cell", grid=g.grid_id, cell=k)
        for k, strip in enumerate(g.strips):
            add(strip, kind="strip", grid=g.grid_id, strip=k)
    for s in result.sorties:
        points = [s.home, *[(lon, lat) for lon, lat, _, _ in s.waypoints], s.home]
        add(LineString(points), kind="route", sortie=s.index + 1, photos=s.photos)
    for zone in result.no_fly:
        add(zone, kind="no_fly")
    add(Point(result.home), kind="home")
    return {"type": "FeatureCollection", "features": features}


def _missions(result: Any) -> list[dict[str, Any]]:
    from missions.build import build_missions
    from missions.formats import plan_to_dict

    try:
        return [plan_to_dict(m) for m in build_missions(result)]
    except MissionError as exc:
        raise ValidationError(_l("cannot build the missions: %(detail)s", detail=exc)) from None


def mission_file(
    mission_dict: dict[str, Any], suffix: str, *, extra: Sequence[tuple[Any, dict]] = ()
) -> bytes:
    """One sortie's mission as the bytes of a :data:`DOWNLOAD_FORMATS` file; ``extra``
    ((geometry, properties) pairs, WGS84) is drawn by the KML and GeoJSON previews only."""
    from missions.formats import plan_from_dict, save_mission

    if suffix not in DOWNLOAD_FORMATS:
        raise ValidationError(
            _l(
                "format %(value)s: one of %(known)s",
                value=repr(suffix),
                known=", ".join(DOWNLOAD_FORMATS),
            )
        )
    mission = plan_from_dict(mission_dict, source="stored plan")
    with tempfile.TemporaryDirectory(prefix="gridpatrol-plan-") as tmp:
        path = Path(tmp) / f"mission{suffix}"
        save_mission(path, mission, extra=extra)
        return path.read_bytes()


def preview_cells(layers: dict[str, Any] | None) -> list[tuple[Any, dict[str, Any]]]:
    """The cells of a saved plan's layers as ``extra`` for the previews, as the CLI draws them."""
    return [
        (
            shape(f["geometry"]),
            {
                "grid_id": f["properties"]["grid"],
                "kind": "cell",
                "cell": f["properties"]["cell"] + 1,
            },
        )
        for f in (layers or {}).get("features", [])
        if f.get("properties", {}).get("kind") == "cell"
    ]


def _plan_json(row: RoutePlan, *, full: bool = False) -> dict[str, Any]:
    out = {
        "id": row.id,
        "name": row.name,
        "grids": row.grid_codes,
        "area_m2": row.area_m2,
        "sorties": len(row.missions),
        "totals": row.summary.get("totals"),
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "downloads": {
            fmt.lstrip("."): [
                f"/api/v1/plans/{row.id}/download/{fmt.lstrip('.')}?sortie={k + 1}"
                for k in range(len(row.missions))
            ]
            for fmt in DOWNLOAD_FORMATS
        },
        "warnings": saved_plan_warnings(row),
    }
    if full:
        out.update(params=row.params, summary=row.summary, layers=row.layers)
    return out


def _sortie_index(row: RoutePlan, raw: Any) -> int:
    try:
        sortie = int(raw or 1)
    except (TypeError, ValueError):
        raise ValidationError(_l("sortie %(value)s is not a number", value=repr(raw))) from None
    if not 1 <= sortie <= len(row.missions):
        raise ValidationError(
            _l(
                "plan %(id)s has sorties 1 to %(count)d, not %(sortie)s",
                id=row.id,
                count=len(row.missions),
                sortie=sortie,
            )
        )
    return sortie - 1


# -- pages ------------------------------------------------------------------------------------


@bp.get("/plan")
@roles_required(*PLANNERS)
@takes()
def page() -> Any:
    session = db()
    grids = list(session.execute(select(Grid.code, Grid.name).order_by(Grid.code)))
    layers = list(session.execute(select(NoFlyLayer.id, NoFlyLayer.name).order_by(NoFlyLayer.name)))
    plans = list(session.scalars(select(RoutePlan).order_by(RoutePlan.id.desc()).limit(50)))
    return render_template(
        "plan.html",
        grids=grids,
        no_fly_layers=layers,
        cameras=list(PRESETS),
        plans=plans,
        plan_warnings={p.id: saved_plan_warnings(p) for p in plans},
        formats=[f.lstrip(".") for f in DOWNLOAD_FORMATS],
    )


# -- JSON API ---------------------------------------------------------------------------------


#: The fields a plan is made from (``POST /plans/preview``; ``POST /plans`` takes ``name`` too).
PLAN_FIELDS: tuple[str, ...] = (
    "grids",
    "polygon",
    "no_fly_layer",
    "camera",
    "profile",
    "altitude_m",
    "gsd_cm",
    "front_overlap",
    "side_overlap",
    "speed_mps",
    "battery_minutes",
    "lead_in_m",
    "home",
)


@api_bp.post("/plans/preview")
@roles_required(*PLANNERS)
@takes()
def plan_preview() -> Any:
    """Plan without saving: summary and map layers."""
    data = request_data(form=False)
    check_fields(data, PLAN_FIELDS)
    req = parse_plan_request(db(), data)
    result = run_plan(req)
    summary = result.summary()
    return jsonify(
        {"summary": summary, "layers": plan_layers(result), "warnings": plan_warnings(summary)}
    )


@api_bp.post("/plans")
@roles_required(*PLANNERS)
@takes()
def plan_save() -> Any:
    data = request_data(form=False)
    check_fields(data, ("name", *PLAN_FIELDS))
    name = str(data.get("name") or "").strip()[:200]
    session = db()
    req = parse_plan_request(session, data)
    result = run_plan(req)
    summary = result.summary()
    row = RoutePlan(
        name=name or "plan " + ", ".join(g.grid_id for g in req.grids)[:180],
        params=req.params(),
        grid_codes=[g.grid_id for g in req.grids if g.grid_id != DRAWN_ID],
        area_m2=float(sum(g.area_m2 for g in result.grids)),
        summary=summary,
        warnings=[w.to_json() for w in find_plan_warnings(summary)],  # shown when reopened
        layers=plan_layers(result),
        missions=_missions(result),
        created_by=current_actor().name,
    )
    session.add(row)
    session.commit()
    return jsonify(_plan_json(row, full=True)), 201


@api_bp.get("/plans")
@roles_required(*ROLES)
@takes()
def plan_list() -> Any:
    rows = db().scalars(select(RoutePlan).order_by(RoutePlan.id.desc()).limit(200))
    return jsonify([_plan_json(r) for r in rows])


@api_bp.get("/plans/<int:plan_id>")
@roles_required(*ROLES)
@takes()
def plan_detail(plan_id: int) -> Any:
    return jsonify(_plan_json(_get(db(), RoutePlan, plan_id, "plan"), full=True))


@api_bp.get("/plans/<int:plan_id>/download/<fmt>")
@roles_required(*ROLES)
@takes("sortie")
def plan_download(plan_id: int, fmt: str) -> Any:
    row = _get(db(), RoutePlan, plan_id, "plan")
    suffix = "." + fmt.lower()
    index = _sortie_index(row, request.args.get("sortie"))
    try:
        data = mission_file(row.missions[index], suffix, extra=preview_cells(row.layers))
    except PlanFileError as exc:
        raise ValidationError(
            _l("plan %(id)s cannot be exported: %(detail)s", id=plan_id, detail=exc)
        ) from None
    import io

    return send_file(
        io.BytesIO(data),
        mimetype=DOWNLOAD_FORMATS[suffix],
        as_attachment=True,
        download_name=f"gridpatrol-plan{plan_id}-s{index + 1}{suffix}",
    )


@api_bp.post("/plans/<int:plan_id>/upload")
@roles_required(*FLYERS)
@takes()
def plan_upload(plan_id: int) -> Any:
    """Upload one sortie to a vehicle and read it back; 502 with the link's message on failure,
    409 when the vehicle is armed (a flying vehicle's mission is never overwritten), 400 for an
    altitude out of limits or a connection string that does not parse."""
    from groundstation.flights import vehicle_endpoint
    from missions.formats import plan_from_dict
    from missions.link import UnsafePlan, VehicleArmed, connect

    data = request_data(form=False)
    check_fields(data, ("sortie", "connection"))
    row = _get(db(), RoutePlan, plan_id, "plan")
    index = _sortie_index(row, data.get("sortie"))
    url = str(data.get("connection") or "").strip()
    if not url:
        raise ValidationError(
            _l("give the vehicle's connection string, e.g. tcp:192.168.1.10:5760")
        )
    vehicle_endpoint(url)  # a typo is a 400 before any link is tried
    mission = plan_from_dict(row.missions[index], source=f"plan {plan_id}")
    timeout = float(current_app.config.get("LINK_TIMEOUT_S", 15.0))
    try:
        with connect(url, timeout=timeout) as vehicle:
            vehicle.upload(mission)
            lists = vehicle.verify(mission)
    except (VehicleArmed, UnsafePlan, MissionError) as exc:
        status = (
            409 if isinstance(exc, VehicleArmed) else 400 if isinstance(exc, UnsafePlan) else 502
        )
        return json_error(
            _l(
                "upload of plan %(id)s sortie %(sortie)d to %(url)s failed: %(detail)s",
                id=plan_id,
                sortie=index + 1,
                url=url,
                detail=exc,
            ),
            status,
        )
    return jsonify(
        {
            "ok": True,
            "plan_id": plan_id,
            "sortie": index + 1,
            "connection": url,
            "verified": {
                "mission": len(lists.mission),
                "fence": len(lists.fence),
                "rally": len(lists.rally),
            },
        }
    )


@api_bp.get("/no-fly")
@roles_required(*ROLES)
@takes()
def no_fly_list() -> Any:
    rows = db().scalars(select(NoFlyLayer).order_by(NoFlyLayer.name))
    return jsonify([{"id": r.id, "name": r.name, "zones": r.zones} for r in rows])


@api_bp.get("/no-fly/<int:layer_id>.geojson")
@roles_required(*ROLES)
@takes()
def no_fly_geojson(layer_id: int) -> Any:
    row = _get(db(), NoFlyLayer, layer_id, "no-fly layer")
    return jsonify(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": row.geometry, "properties": {"name": row.name}}
            ],
        }
    )


#: The longest no-fly layer name (its column's length).
NO_FLY_NAME_LENGTH: int = NoFlyLayer.__table__.c.name.type.length


@api_bp.post("/no-fly")
@roles_required(*PLANNERS)
@takes()
def no_fly_import() -> Any:
    """Import a no-fly layer (GeoJSON/KML/KMZ/zipped Shapefile) under a name."""
    from gis.io import read_features_bytes, read_no_fly

    check_fields(request.form, ("name",), files=("file",))
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        raise ValidationError(_l("upload the no-fly layer as multipart field 'file'"))
    name = parse_text(request.form.get("name", "").strip(), field="name", limit=NO_FLY_NAME_LENGTH)
    if not name:  # the file's own name, cut to fit
        stem = Path(upload_file.filename).stem.strip()[:NO_FLY_NAME_LENGTH]
        name = check_text(stem, field=_l("the file name"))
    limit = current_app.config["MAX_GRID_FILE_BYTES"]
    data = read_limited(upload_file, limit, what=_l("no-fly file"))
    file_name = Path(upload_file.filename).name
    try:  # messages name the file, as a grid import's do
        zones = read_no_fly(read_features_bytes(data, file_name), origin=file_name)
    except GisError as exc:
        raise ValidationError(
            _l(
                "no-fly file %(name)s cannot be read: %(detail)s",
                name=repr(upload_file.filename),
                detail=exc,
            )
        ) from None
    if not zones:
        raise ValidationError(
            _l("no-fly file %(name)s holds no zones", name=repr(upload_file.filename))
        )
    session = db()
    row = session.scalar(select(NoFlyLayer).where(NoFlyLayer.name == name))
    if row is None:
        row = NoFlyLayer(name=name, created_by=current_actor().name)
        session.add(row)
    row.geometry = mapping(MultiPolygon(zones))
    row.zones = len(zones)
    session.commit()
    return jsonify({"id": row.id, "name": row.name, "zones": row.zones}), 201
