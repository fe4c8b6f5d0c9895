"""Planner output -> mission items: one :class:`~missions.items.MissionPlan` per sortie.

Each mission: NAV_TAKEOFF to survey height, DO_CHANGE_SPEED, then the sortie's waypoints with
DO_SET_CAM_TRIGG_DIST(trigger distance, trigger once now) after the waypoint where a camera-on
leg starts and DO_SET_CAM_TRIGG_DIST(0) after the waypoint where it ends, triggering once more
there when the last distance photo fell short of the end (``coverage.closing_photo``; ArduPilot
runs DO items once the preceding NAV item is reached), and RETURN_TO_LAUNCH. The geofence
includes the hull of the sortie's grids, route and home buffered by the fence margin and excludes
every no-fly zone; home is the one rally point. Positions are GLOBAL_RELATIVE_ALT (height above
home).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon

from gis.crs import LocalFrame
from missions.errors import PlanningError
from missions.items import Command, FencePolygon, Frame, MissionItem, MissionPlan
from missions.planner._geometry import polygons_of
from missions.planner.coverage import closing_photo
from missions.planner.result import Plan

__all__ = ["build_mission", "build_missions"]

_NAN = math.nan


def _camera_off(photo: bool) -> MissionItem:
    """Stops distance triggering (after the waypoint where a camera-on leg ends), with one last
    photo there if ``photo``."""
    return MissionItem(
        command=Command.DO_SET_CAM_TRIGG_DIST,
        frame=Frame.MISSION,
        params=(0.0, 0.0, 1.0 if photo else 0.0, 0.0),
    )


def _fence_polygon(polygon: Polygon, inclusion: bool) -> FencePolygon:
    coords = np.asarray(polygon.exterior.coords)[:-1]
    return FencePolygon(
        points=tuple((float(lat), float(lon)) for lon, lat in coords), inclusion=inclusion
    )


def build_mission(plan: Plan, sortie_index: int, *, home_alt_amsl: float = 0.0) -> MissionPlan:
    """The mission, fence and rally lists that fly one sortie of a plan."""
    if not 0 <= sortie_index < len(plan.sorties):
        raise PlanningError(
            f"sortie {sortie_index} does not exist; the plan has {len(plan.sorties)} sortie(s)"
        )
    sortie = plan.sorties[sortie_index]
    settings = plan.settings
    alt = float(settings.altitude_m)
    home_lon, home_lat = sortie.home
    items: list[MissionItem] = [
        MissionItem(
            command=Command.NAV_TAKEOFF,
            frame=Frame.GLOBAL_RELATIVE_ALT,
            params=(0.0, 0.0, 0.0, _NAN),
            lat=home_lat,
            lon=home_lon,
            alt=alt,
        ),
        MissionItem(
            command=Command.DO_CHANGE_SPEED,
            frame=Frame.MISSION,
            params=(1.0, float(settings.speed_mps), -1.0, 0.0),
        ),
    ]
    frame = LocalFrame(home_lon, home_lat)
    trigger = float(settings.trigger_distance_m)
    camera_on = False
    leg_m = 0.0  # metres flown since the camera was switched on
    previous = None
    for lon, lat, alt_rel, on in sortie.waypoints:
        here = np.array(frame.forward(lon, lat), dtype=float)
        if camera_on:
            leg_m += float(np.hypot(*(here - previous)))
        previous = here
        items.append(
            MissionItem(
                command=Command.NAV_WAYPOINT,
                frame=Frame.GLOBAL_RELATIVE_ALT,
                params=(0.0, 0.0, 0.0, _NAN),
                lat=lat,
                lon=lon,
                alt=alt_rel,
            )
        )
        if on and not camera_on:
            items.append(
                MissionItem(
                    command=Command.DO_SET_CAM_TRIGG_DIST,
                    frame=Frame.MISSION,
                    params=(trigger, 0.0, 1.0, 0.0),
                )
            )
            leg_m = 0.0
        elif camera_on and not on:
            items.append(_camera_off(closing_photo(leg_m, trigger)))
        camera_on = on
    if camera_on:
        items.append(_camera_off(closing_photo(leg_m, trigger)))
    items.append(MissionItem(command=Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION))

    grids = [g for g in plan.grids if g.grid_id in sortie.grid_ids]
    shapes = [frame.to_local(c) for g in grids for c in g.cells]
    route = [(lon, lat) for lon, lat, _, _ in sortie.waypoints] + [(home_lon, home_lat)]
    shapes.append(frame.to_local(MultiPoint(route)))
    hull = shapely.union_all(shapes).convex_hull
    if not isinstance(hull, Polygon):  # a point or a line: give it some area
        hull = hull.buffer(1.0)
    inclusion = hull.buffer(settings.fence_margin_m, quad_segs=2).simplify(1.0)
    fences = [_fence_polygon(frame.to_wgs84(inclusion), True)]
    for zone in plan.no_fly:
        for part in polygons_of(zone, min_area=0.0):
            fences.append(_fence_polygon(part, False))
    return MissionPlan(
        items=tuple(items),
        home=(home_lat, home_lon, float(home_alt_amsl)),
        fence_polygons=tuple(fences),
        rally_points=((home_lat, home_lon, alt),),
        cruise_speed_mps=float(settings.speed_mps),
        hover_speed_mps=min(5.0, float(settings.speed_mps)),
        name=f"s{sortie_index + 1}",
    )


def build_missions(plan: Plan, *, home_alt_amsl: float = 0.0) -> list[MissionPlan]:
    """One mission per sortie, in flying order."""
    return [build_mission(plan, k, home_alt_amsl=home_alt_amsl) for k in range(len(plan.sorties))]
