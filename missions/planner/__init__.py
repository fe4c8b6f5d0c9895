"""Coverage planning: grid polygons -> survey routes split into battery-sized sorties.

``plan(grids, settings)`` is the one entry. It runs the stages in a local metric frame (one verb
each, swappable through :class:`Stages`): decompose -> swaths -> order -> path -> sorties, every
choice scored by the one objective (:class:`~missions.planner.objective.FlightTimeModel`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from gis.crs import LocalFrame
from gis.grids import Grid
from gis.messages import Message, msg
from missions.errors import PlanningError
from missions.planner._geometry import is_convex, polygons_of
from missions.planner.corridor import (
    CorridorBendError,
    check_corridor,
    corridor_polygon,
    corridor_swaths,
)
from missions.planner.coverage import coverage, outside_length_m, photo_count, photo_poses
from missions.planner.decompose import Boustrophedon, Decomposer, merge_cells, partitions
from missions.planner.objective import FlightTimeModel, polyline_length
from missions.planner.order import GreedyTwoOpt, Orderer, Visit, order_points, oriented_strips
from missions.planner.path import (
    FlownStrip,
    Router,
    SurveyPath,
    build_path,
    first_photo_headings,
)
from missions.planner.result import GridResult, Plan, Sortie
from missions.planner.settings import PROFILES, PlanSettings
from missions.planner.sorties import BatterySplitter, SortieRoute, Splitter
from missions.planner.swaths import (
    CellSwaths,
    EdgeAwareSwaths,
    best_swaths,
    candidate_angles,
    ranked_swaths,
)

__all__ = [
    "plan",
    "plan_region",
    "Stages",
    "PlanSettings",
    "PROFILES",
    "Plan",
    "GridResult",
    "Sortie",
    "FlightTimeModel",
    "default_home",
]


@dataclass(frozen=True, slots=True)
class Stages:
    """The swappable stages; ``None`` means the default built from the settings."""

    decomposer: Decomposer = field(default_factory=Boustrophedon)
    orderer: Orderer = field(default_factory=GreedyTwoOpt)
    splitter: Splitter | None = None
    swaths: EdgeAwareSwaths | None = None
    merge: bool = True


def _swath_generator(settings: PlanSettings) -> EdgeAwareSwaths:
    return EdgeAwareSwaths(
        spacing_m=settings.line_spacing_m,
        footprint_across_m=settings.footprint_m[0],
        footprint_along_m=settings.footprint_m[1],
        trigger_distance_m=settings.trigger_distance_m,
        end_margin_m=settings.edge_margin_m,
        objective=settings.objective,
    )


def _sequence_time_s(
    blocks: Sequence[CellSwaths],
    orderer: Orderer,
    objective: FlightTimeModel,
    router: Router,
    *,
    start: np.ndarray | None = None,
    end: np.ndarray | None = None,
) -> float:
    """Seconds to fly blocks in the orderer's order with straight connectors (for comparisons),
    from ``start`` and on to ``end`` when given."""
    visits = orderer.order(blocks, router=router, objective=objective, start=start, end=end)
    pts = [
        s for v in visits for s in oriented_strips(blocks[v.block], reverse=v.reverse, flip=v.flip)
    ]
    if pts and start is not None:
        pts.insert(0, np.asarray(start, dtype=float).reshape(1, 2))
    if pts and end is not None:
        pts.append(np.asarray(end, dtype=float).reshape(1, 2))
    return objective.path_s(np.concatenate(pts)) if pts else 0.0


def plan_region(
    region: BaseGeometry,
    *,
    generator: EdgeAwareSwaths,
    decomposer: Decomposer | None = None,
    merge: bool = True,
    max_directions: int = 4,
    router: Router | None = None,
    orderer: Orderer | None = None,
    start: np.ndarray | None = None,
    end: np.ndarray | None = None,
    score: Callable[[Sequence[CellSwaths]], float] | None = None,
) -> list[CellSwaths]:
    """Cells and strips for an area in local metres (holes and no-fly zones already removed).

    Convex parts are one cell at their best angle. Other parts are decomposed along a few
    directions (the best single-cell angle and the longest edges) and cells are merged greedily
    where flying them as one looks cheaper (scored with a quick ordering). The alternatives -- the
    whole part, and per direction the cells as cut and as merged -- are then timed by the
    objective with ``orderer`` (the plan's ordering stage) and the cheapest wins, so merging is
    kept only where it really pays; ``start``/``end`` (where the flight comes from and goes on
    to) make that timing the one the plan will fly; ``score`` replaces it (e.g. the time of the
    sorties a longer-than-one-battery area needs). With a
    ``router`` holding no-fly zones, a cell may only be flown at an angle whose strips keep clear
    of them: a keep-out inside a field is flown around (never over, as an ordinary hole may be).
    """
    decomposer = decomposer or Boustrophedon()
    objective = generator.objective
    quick = GreedyTwoOpt(max_passes=0, max_starts=3)
    exact_orderer = orderer or GreedyTwoOpt()
    clear_router = Router()
    cache: dict[bytes, CellSwaths | None] = {}
    allowed = router.keeps_clear if router is not None and router.has_zones else None

    def swaths_of(cell: Polygon, *, direction: float | None = None) -> CellSwaths | None:
        key = cell.wkb
        if key not in cache:
            angles = None
            if direction is not None:
                angles = np.unique(np.append(candidate_angles(cell), round(direction % 180.0, 2)))
            cache[key] = best_swaths(cell, generator, angles=angles, allowed=allowed)
        return cache[key]

    def cost(cells: Sequence[Polygon]) -> float:
        blocks = [swaths_of(c) for c in cells]
        if any(b is None for b in blocks):
            return float("inf")
        return _sequence_time_s(blocks, quick, objective, clear_router)

    def exact_cost(blocks: Sequence[CellSwaths | None]) -> float:
        if any(b is None for b in blocks):
            return float("inf")
        if score is not None:
            return score(blocks)
        return _sequence_time_s(
            blocks, exact_orderer, objective, clear_router, start=start, end=end
        )

    result: list[CellSwaths] = []
    for part in polygons_of(region):
        whole = swaths_of(part)
        if whole is not None and is_convex(part, tolerance=1e-3):
            if score is not None:  # the sorties' cost may favour another of the best angles
                # every candidate angle is timed exactly; the fastest few are scored in full
                layouts = ranked_swaths(part, generator, allowed=allowed, keep=1000)[:6]
                whole = min(layouts, key=lambda b: exact_cost([b]))
            result.append(whole)
            continue
        simple = part.simplify(min(1.0, generator.spacing_m / 50))
        if not isinstance(simple, Polygon) or simple.is_empty:
            simple = part
        directions = [whole.angle_deg] if whole is not None else []
        edges = np.asarray(simple.exterior.coords)
        seg = np.diff(edges, axis=0)
        for k in np.argsort(-np.hypot(seg[:, 0], seg[:, 1])):
            angle = float(np.degrees(np.arctan2(seg[k, 1], seg[k, 0])) % 180.0)
            if all(min(abs(angle - d) % 180, 180 - abs(angle - d) % 180) > 5 for d in directions):
                directions.append(angle)
            if len(directions) >= max_directions:
                break
        alternatives: list[list[Polygon]] = [[part]]
        for direction in directions:
            try:
                cells = [
                    c for c in decomposer.decompose(simple, direction_deg=direction) if c.area > 1.0
                ]
                if not partitions(cells, simple):
                    continue  # cells that overlap or miss area (numerical trouble): not trusted
                for c in cells:
                    swaths_of(c, direction=direction)  # the cut direction is always a candidate
                alternatives.append(cells)
                if merge and len(cells) > 1:
                    merged = merge_cells(cells, cost)
                    if len(merged) < len(cells):
                        alternatives.append(merged)
            except shapely.errors.GEOSException:
                continue  # robustness: fall back to the other directions or the whole part
        best_cells, best_cost = [part], float("inf")
        for cells in alternatives:  # in order, so ties keep the simpler (earlier) alternative
            total = exact_cost([swaths_of(c) for c in cells])
            if total < best_cost - 1e-6:
                best_cost, best_cells = total, cells
        for cell in best_cells:
            # no layout keeps clear of the zones (numerical corner cases): fly the best one
            # anyway; the path stage clips its strips at the zones and routes around them
            swaths = swaths_of(cell)
            result.append(swaths if swaths is not None else best_swaths(cell, generator))
    return result


def default_home(grid: Grid) -> tuple[float, float]:
    """The first grid's centroid when it lies inside, else the grid's point nearest its centroid."""
    geometry = grid.geometry
    centroid = geometry.centroid
    point = centroid if geometry.contains(centroid) else nearest_points(geometry, centroid)[0]
    return (point.x, point.y)


def _bearing(angle_deg: float) -> float:
    return (90.0 - angle_deg) % 180.0


@dataclass
class _GridWork:
    grid: Grid
    local: BaseGeometry  # the area to cover, local metres
    flyable: BaseGeometry  # the area minus no-fly keep-out
    blocks: list[CellSwaths]
    corridor: bool


def plan(
    grids: Sequence[Grid],
    settings: PlanSettings,
    *,
    no_fly: Sequence[Polygon | MultiPolygon] = (),
    home: tuple[float, float] | None = None,
    stages: Stages | None = None,
) -> Plan:
    """Plan survey flights over grids (WGS84) photographing every point at the settings' overlap.

    ``home`` is (lon, lat) of take-off and landing, shared by all grids (default: see
    :func:`default_home`). Grids are ordered for one pilot and chained into sorties from home.
    Raises :class:`~missions.errors.PlanningError` naming the grid when it cannot be planned; a
    grid that no-fly zones cover whole is reported before a home inside a zone (the default home
    lies in the first grid), and a home given inside a zone along with it. A geometry operation
    that fails (a GEOS exception) is reported that way too, never as a traceback.
    """
    if not grids:
        raise PlanningError("no grids to plan")
    try:
        return _plan(grids, settings, no_fly=no_fly, home=home, stages=stages)
    except shapely.errors.GEOSException as exc:
        raise PlanningError(_geometry_failed([g.grid_id for g in grids], exc)) from None


def _plan(
    grids: Sequence[Grid],
    settings: PlanSettings,
    *,
    no_fly: Sequence[Polygon | MultiPolygon],
    home: tuple[float, float] | None,
    stages: Stages | None,
) -> Plan:
    stages = stages or Stages()
    generator = stages.swaths or _swath_generator(settings)
    objective = settings.objective
    for grid in grids:
        _check_grid(grid, settings)
    home_ll = tuple(map(float, home)) if home is not None else default_home(grids[0])
    if len(home_ll) != 2 or not (-180 <= home_ll[0] <= 180 and -90 <= home_ll[1] <= 90):
        raise PlanningError(msg("home %(home)r is not a (lon, lat) in degrees", home=home))
    everything = shapely.union_all([g.geometry.envelope for g in grids] + [Point(home_ll)])
    _check_antimeridian(everything)
    frame = LocalFrame.around(everything)
    local = [frame.to_local(g.geometry) for g in grids]
    # the areas to cover; a corridor's polygon is made once, for the photo count, the grid's
    # area and its strips' cell
    areas: list[BaseGeometry] = []
    for grid, shape in zip(grids, local, strict=True):
        area = shape
        if isinstance(shape, LineString):
            width = float(settings.corridor_width_m)
            with _about(grid.grid_id):
                check_corridor(shape, width_m=width)
            with _geometry_of(grid.grid_id):
                area = corridor_polygon(shape, width_m=width)
        areas.append(area)
    _check_workload(areas, settings, [g.grid_id for g in grids])
    home_xy = np.array(frame.forward(*home_ll), dtype=float)
    no_fly, zones = nearby_no_fly(no_fly, frame.to_local(everything), frame)
    router = Router(zones, margin_m=settings.nofly_margin_m)
    # grids are cut, transits routed and home checked against one keep-out: the zones grown by
    # the margin the pilot set (and the messages state)
    keepout = router.keep_out
    home_blocked = bool(router.inside(home_xy).any())
    home_problem = msg(
        "home (%(lat)s, %(lon)s) lies within %(margin)s m of a no-fly zone",
        lat=f"{home_ll[1]:.6f}",
        lon=f"{home_ll[0]:.6f}",
        margin=f"{settings.nofly_margin_m:g}",
    )
    try:
        # a grid the zones cover whole is the problem to report, not the default home inside it
        work = []
        for g, shape, area in zip(grids, local, areas, strict=True):
            with _geometry_of(g.grid_id):
                work.append(_grid_area(g, shape, area, keepout, generator, settings, router))
    except PlanningError as exc:
        if home_blocked and home is not None:  # a home the pilot chose: both need fixing
            raise PlanningError(
                msg("%(grid)s; and %(home)s", grid=exc, home=home_problem)
            ) from None
        raise
    if home_blocked and home is None:  # the default home fell in a zone: take flyable ground
        spot = work[0].flyable.representative_point()
        home_xy = np.array([spot.x, spot.y], dtype=float)
        home_ll = tuple(float(v) for v in frame.inverse(spot.x, spot.y))
        home_blocked = bool(router.inside(home_xy).any())
    if home_blocked:
        raise PlanningError(home_problem)
    # cells are chosen knowing where the flight comes from and goes on to (as _order will fly it)
    reps = np.array([w.flyable.representative_point().coords[0] for w in work])
    grid_order = order_points(reps, start=home_xy)
    splitter = stages.splitter or BatterySplitter(
        usable_s=settings.usable_flight_s, max_distance_m=settings.max_distance_m
    )
    for pos, k in enumerate(grid_order):
        if work[k].blocks:
            continue
        start = reps[grid_order[pos - 1]] if pos > 0 else home_xy
        end = reps[grid_order[pos + 1]] if pos + 1 < len(grid_order) else home_xy
        score = None
        if _survey_estimate_s(work[k], settings) > 0.8 * settings.usable_flight_s:
            # longer than a battery: the splits into sorties are part of the cost of a layout
            def score(blocks, w=work[k], splitter=splitter):
                return _sorties_s(w, blocks, home_xy, stages.orderer, splitter, router, settings)

        work[k].blocks = _grid_blocks(
            work[k], generator, stages, router, start=start, end=end, score=score
        )
    visits = _order(work, reps, grid_order, home_xy, stages.orderer, objective, router)
    flown: list[FlownStrip] = []
    cell_index = 0
    for w in work:
        flown.extend(
            _flown_strips(
                w.grid.grid_id, w.blocks, visits[w.grid.grid_id], router, cell_offset=cell_index
            )
        )
        cell_index += len(w.blocks)
    by_grid_order = {gid: k for k, gid in enumerate(visits)}
    flown.sort(key=lambda s: by_grid_order[s.grid_id])  # stable: keeps the within-grid order
    path = build_path(flown, router, lead_in_m=settings.lead_in_m)
    routes = splitter.split(
        path, home=home_xy, router=router, objective=objective, altitude_m=settings.altitude_m
    )
    sorties = tuple(_sortie(k, r, path, frame, settings, home_ll) for k, r in enumerate(routes))
    first = first_photo_headings(
        path, home=home_xy, router=router, sortie_starts=[r.first_strip for r in routes]
    )
    results = []
    for w in work:
        with _geometry_of(w.grid.grid_id):
            results.append(_grid_result(w, path, routes, frame, settings, first))
    return Plan(
        settings=settings,
        grids=tuple(results),
        sorties=sorties,
        home=home_ll,
        no_fly=tuple(no_fly),
    )


#: No-fly zones one plan takes: routing around them grows with the cube of their corners.
MAX_NO_FLY_ZONES = 40
#: Most photos one plan may need (about 100 km² at 75/70 % and 100 m with a Phantom 4 Pro):
#: overlaps near 100 % or a camera seeing centimetres would otherwise plan for hours.
MAX_PLAN_PHOTOS = 200_000
#: Zones farther than this from the grids, home and the zones kept cannot bend a route.
NO_FLY_REACH_M = 2000.0


def nearby_no_fly(
    zones: Sequence[Polygon | MultiPolygon], area: BaseGeometry, frame: LocalFrame
) -> tuple[list[Polygon | MultiPolygon], list[Polygon | MultiPolygon]]:
    """The zones (WGS84) within :data:`NO_FLY_REACH_M` of ``area`` (local metres: grids and
    home) and of the zones so kept (a detour around one zone may pass the next), in their input
    order, and the same zones in local metres; a :class:`PlanningError` when more than
    :data:`MAX_NO_FLY_ZONES` remain. A layer of a whole province's zones is fine: only the few
    near the flight reach the router."""
    if not zones:
        return [], []
    tree = shapely.STRtree(list(zones))
    kept: list[int] = []
    metres: dict[int, Polygon | MultiPolygon] = {}  # each kept zone converted once
    reach = area
    while True:
        # the reach in metres, as a WGS84 box for the index (a few metres of curvature are
        # nothing against the 2 km reach)
        local = shapely.box(*reach.buffer(NO_FLY_REACH_M).bounds)
        found = sorted(tree.query(frame.to_wgs84(local), predicate="intersects").tolist())
        if len(found) > MAX_NO_FLY_ZONES:
            raise PlanningError(
                msg(
                    "%(count)d no-fly zones lie within %(km)s km of this plan; the planner takes "
                    "at most %(max)d: give only the zones around the area",
                    count=len(found),
                    km=f"{NO_FLY_REACH_M / 1000:g}",
                    max=MAX_NO_FLY_ZONES,
                )
            )
        if found == kept:
            return [zones[k] for k in kept], [metres[k] for k in kept]
        kept = found
        for k in kept:
            if k not in metres:
                metres[k] = frame.to_local(zones[k])
        reach = shapely.union_all([area, *(metres[k] for k in kept)])


def _check_grid(grid: Grid, settings: PlanSettings) -> None:
    geometry = grid.geometry
    if geometry is None or geometry.is_empty:
        raise PlanningError(msg("grid %(grid)s: empty geometry", grid=grid.grid_id))
    if isinstance(geometry, LineString | MultiLineString):
        if settings.corridor_width_m is None:
            raise PlanningError(
                msg(
                    "grid %(grid)s: a line can only be flown as a corridor; set a corridor width",
                    grid=grid.grid_id,
                )
            )
        if isinstance(geometry, MultiLineString):
            raise PlanningError(
                msg(
                    "grid %(grid)s: a corridor needs one centre line, got several",
                    grid=grid.grid_id,
                )
            )
        if not geometry.is_simple:
            raise PlanningError(
                msg(
                    "grid %(grid)s: the corridor's centre line crosses or touches itself; a "
                    "corridor follows a line that never meets itself",
                    grid=grid.grid_id,
                )
            )
    elif not isinstance(geometry, Polygon | MultiPolygon):
        raise PlanningError(
            msg("grid %(grid)s: cannot plan a %(kind)s", grid=grid.grid_id, kind=geometry.geom_type)
        )
    elif not geometry.is_valid:
        raise PlanningError(
            msg(
                "grid %(grid)s: invalid polygon (%(reason)s)",
                grid=grid.grid_id,
                reason=shapely.is_valid_reason(geometry),
            )
        )


def _grid_area(
    grid: Grid,
    local: BaseGeometry,
    area: BaseGeometry,
    keepout: BaseGeometry | None,
    generator: EdgeAwareSwaths,
    settings: PlanSettings,
    router: Router,
) -> _GridWork:
    """The grid's area and flyable part (``local``: its shape in plan metres, ``area``: the
    area it covers, a corridor's polygon for a line); a clear corridor comes with its block."""
    if isinstance(local, LineString):
        try:
            block = corridor_swaths(
                local,
                polygon=area,
                width_m=float(settings.corridor_width_m),
                spacing_m=generator.spacing_m,
                footprint_across_m=generator.footprint_across_m,
                footprint_along_m=generator.footprint_along_m,
                trigger_distance_m=generator.trigger_distance_m,
                end_margin_m=generator.end_margin_m,
                objective=generator.objective,
            )
        except CorridorBendError:
            block = None  # bends tighter than half the width: the corridor is an area
        if block is not None and router.keeps_clear(block):
            return _GridWork(grid, area, area, [block], corridor=True)
        # a corridor through a no-fly zone, or too bent to fly along, is planned as an area
        local = area
    flyable = local.difference(keepout) if keepout is not None else local
    if flyable.is_empty:
        raise PlanningError(_nothing_left(grid.grid_id))
    return _GridWork(grid, local, flyable, [], corridor=False)


def _grid_blocks(
    w: _GridWork,
    generator: EdgeAwareSwaths,
    stages: Stages,
    router: Router,
    *,
    start: np.ndarray,
    end: np.ndarray,
    score: Callable[[Sequence[CellSwaths]], float] | None = None,
) -> list[CellSwaths]:
    """The grid's cells and strips, flown from ``start`` on to ``end``."""
    try:
        blocks = plan_region(
            w.flyable,
            generator=generator,
            decomposer=stages.decomposer,
            merge=stages.merge,
            router=router,
            orderer=stages.orderer,
            start=start,
            end=end,
            score=score,
        )
    except shapely.errors.GEOSException as exc:
        raise PlanningError(_geometry_failed([w.grid.grid_id], exc)) from None
    if not blocks:
        raise PlanningError(_nothing_left(w.grid.grid_id))
    return blocks


def _survey_estimate_s(w: _GridWork, settings: PlanSettings) -> float:
    """The no-turn lower bound of the grid's survey time: area / (spacing · speed)."""
    return float(w.flyable.area) / (settings.line_spacing_m * settings.speed_mps)


def _flown_strips(
    grid_id: str,
    blocks: Sequence[CellSwaths],
    visits: Sequence[Visit],
    router: Router,
    *,
    cell_offset: int = 0,
) -> list[FlownStrip]:
    """The blocks' strips as flown in the visits' order, cells numbered from ``cell_offset``.

    A strip reaching into a no-fly margin (a slanted zone edge) is cut around it.
    """
    return [
        FlownStrip(points=piece, grid_id=grid_id, cell=cell_offset + v.block)
        for v in visits
        for pts in oriented_strips(blocks[v.block], reverse=v.reverse, flip=v.flip)
        for piece in router.clip(pts)
    ]


def _sorties_s(
    w: _GridWork,
    blocks: Sequence[CellSwaths],
    home: np.ndarray,
    orderer: Orderer,
    splitter: Splitter,
    router: Router,
    settings: PlanSettings,
) -> float:
    """Total seconds of the sorties flying these blocks alone from and back to home."""
    objective = settings.objective
    try:
        visits = orderer.order(blocks, router=router, objective=objective, start=home, end=home)
        flown = _flown_strips(w.grid.grid_id, blocks, visits, router)
        routes = splitter.split(
            build_path(flown, router, lead_in_m=settings.lead_in_m),
            home=home,
            router=router,
            objective=objective,
            altitude_m=settings.altitude_m,
        )
    except PlanningError:
        return float("inf")  # this layout cannot be flown; plan() reports it if all fail
    return float(sum(r.time_s for r in routes))


def _order(
    work: Sequence[_GridWork],
    reps: np.ndarray,
    grid_order: Sequence[int],
    home: np.ndarray,
    orderer: Orderer,
    objective: FlightTimeModel,
    router: Router,
) -> dict[str, list]:
    """Every grid's visits in ``grid_order`` (of the grids' representative points ``reps``)."""
    visits: dict[str, list] = {}
    current = home
    for pos, k in enumerate(grid_order):
        w = work[k]
        end = reps[grid_order[pos + 1]] if pos + 1 < len(grid_order) else home
        try:
            chosen = orderer.order(
                w.blocks, router=router, objective=objective, start=current, end=end
            )
        except PlanningError as exc:
            raise PlanningError(
                msg("grid %(grid)s: %(detail)s", grid=w.grid.grid_id, detail=exc)
            ) from None
        visits[w.grid.grid_id] = chosen
        last = chosen[-1]
        current = oriented_strips(w.blocks[last.block], reverse=last.reverse, flip=last.flip)[-1][
            -1
        ]
    return visits


def _check_workload(
    areas: Sequence[BaseGeometry], settings: PlanSettings, grid_ids: Sequence[str]
) -> None:
    """Refuse, before any planning, settings that need more than MAX_PLAN_PHOTOS photos,
    naming the grid that needs the most.

    ``areas`` are the grids' areas in plan metres (a corridor's: its polygon), ``grid_ids``
    their ids.
    """
    per_photo = settings.line_spacing_m * settings.trigger_distance_m
    photos = [a.area / per_photo for a in areas]
    total = sum(photos)
    if total <= MAX_PLAN_PHOTOS:
        return
    most = max(range(len(photos)), key=photos.__getitem__)
    values = {
        "grid": grid_ids[most],
        "photos": f"{photos[most]:,.0f}",
        "spacing": f"{settings.line_spacing_m:.3g}",
        "trigger": f"{settings.trigger_distance_m:.3g}",
        "max": f"{MAX_PLAN_PHOTOS:,}",
    }
    if len(areas) == 1:
        raise PlanningError(
            msg(
                "grid %(grid)s: would need about %(photos)s photos (lines %(spacing)s m apart, "
                "a photo every %(trigger)s m); a plan may take at most %(max)s: lower the "
                "overlaps or fly higher",
                **values,
            )
        )
    raise PlanningError(
        msg(
            "grid %(grid)s: would need about %(photos)s photos, and the %(count)d grids "
            "together %(total)s (lines %(spacing)s m apart, a photo every %(trigger)s m); a "
            "plan may take at most %(max)s: lower the overlaps, fly higher or plan fewer grids "
            "at once",
            count=len(areas),
            total=f"{total:,.0f}",
            **values,
        )
    )


def _check_antimeridian(everything: BaseGeometry) -> None:
    """Refuse grids and home (WGS84) on both sides of longitude 180°: no local frame holds them."""
    west, _, east, _ = everything.bounds
    if west < -180.0 or east > 180.0 or east - west > 180.0:
        raise PlanningError(
            msg(
                "the grids and home lie across longitude 180° (the antimeridian), with "
                "longitudes from %(west)s to %(east)s; plans across the antimeridian are not "
                "supported",
                west=f"{west:g}",
                east=f"{east:g}",
            )
        )


@contextmanager
def _about(grid_id: str) -> Iterator[None]:
    """A PlanningError raised inside, naming the grid."""
    try:
        yield
    except PlanningError as exc:
        raise PlanningError(msg("grid %(grid)s: %(detail)s", grid=grid_id, detail=exc)) from None


@contextmanager
def _geometry_of(grid_id: str) -> Iterator[None]:
    """A GEOS exception inside (a geometry operation that failed) as a PlanningError naming the
    grid, not a traceback."""
    try:
        yield
    except shapely.errors.GEOSException as exc:
        raise PlanningError(_geometry_failed([grid_id], exc)) from None


def _geometry_failed(grid_ids: Sequence[str], exc: Exception) -> Message:
    if len(grid_ids) == 1:
        return msg(
            "grid %(grid)s: geometry failed while planning: %(detail)s",
            grid=grid_ids[0],
            detail=str(exc),
        )
    return msg(
        "grids %(grids)s: geometry failed while planning: %(detail)s",
        grids=", ".join(grid_ids),
        detail=str(exc),
    )


def _nothing_left(grid_id: str) -> Message:
    return msg("grid %(grid)s: nothing left to fly outside the no-fly zones", grid=grid_id)


def _sortie(
    index: int,
    route: SortieRoute,
    path: SurveyPath,
    frame: LocalFrame,
    settings: PlanSettings,
    home_ll: tuple[float, float],
) -> Sortie:
    lon, lat = frame.inverse(route.waypoints[:, 0], route.waypoints[:, 1])
    alt = float(settings.altitude_m)
    waypoints = tuple(
        (float(x), float(y), alt, bool(c))
        for x, y, c in zip(np.atleast_1d(lon), np.atleast_1d(lat), route.camera_on, strict=True)
    )
    photos = sum(
        _photos(path.strips[k].points, settings.trigger_distance_m)
        for k in range(route.first_strip, route.last_strip + 1)
    )
    return Sortie(
        index=index,
        waypoints=waypoints,
        route_length_m=route.length_m,
        flight_time_s=route.time_s,
        photos=photos,
        grid_ids=route.grid_ids,
        home=home_ll,
    )


def _photos(points: np.ndarray, trigger: float) -> int:
    return photo_count(polyline_length(points), trigger)


def _grid_result(
    w: _GridWork,
    path: SurveyPath,
    routes: Sequence[SortieRoute],
    frame: LocalFrame,
    settings: PlanSettings,
    first: np.ndarray,
) -> GridResult:
    gid = w.grid.grid_id
    idx = [k for k, s in enumerate(path.strips) if s.grid_id == gid]
    sub = SurveyPath(
        strips=tuple(path.strips[k] for k in idx),
        connectors=tuple(path.connectors[k] for k in idx[:-1]),
    )
    route = sub.polyline()
    objective = settings.objective
    centres, headings = photo_poses([s.points for s in sub.strips], settings.trigger_distance_m)
    # each strip's first photo faces the way the vehicle arrived (see first_photo_headings)
    counts = [_photos(s.points, settings.trigger_distance_m) for s in sub.strips]
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    headings = headings.copy()
    headings[firsts] = first[idx]
    cov = coverage(
        w.flyable,
        centres,
        headings,
        footprint_m=settings.footprint_m,
        required=settings.design_multiplicity,
    )
    strips_ll = tuple(
        frame.to_wgs84(LineString(s.points))
        if len(s.points) > 1
        else frame.to_wgs84(LineString([s.points[0], s.points[0]]))
        for s in sub.strips
    )
    return GridResult(
        grid_id=gid,
        area_m2=float(w.flyable.area),
        grid_area_m2=float(w.local.area),
        cells=tuple(frame.to_wgs84(b.cell) for b in w.blocks),
        angles_deg=tuple(
            _bearing(b.angle_deg) if not w.corridor else (90 - b.angle_deg) % 360 for b in w.blocks
        ),
        strips=strips_ll,
        route_length_m=polyline_length(route),
        flight_time_s=objective.path_s(route),
        photos=sum(_photos(s.points, settings.trigger_distance_m) for s in sub.strips),
        turns=objective.turns(route),
        coverage_once=cov.once,
        coverage_design=cov.design,
        outside_m=outside_length_m(route, w.local),
        sorties=tuple(k for k, r in enumerate(routes) if gid in r.grid_ids),
        corridor=w.corridor,
    )
