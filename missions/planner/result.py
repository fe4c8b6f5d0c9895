"""What a plan returns: per-grid results, sorties in WGS84, and a plain-dict summary."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from pyproj import Geod
from shapely.geometry import LineString, Polygon

from missions.planner.settings import PlanSettings

__all__ = [
    "GridResult",
    "Sortie",
    "Plan",
    "MIN_COVERAGE_ONCE_PCT",
    "low_coverage",
    "shown_pct",
]

#: The share of a grid's flyable area (percent) a plan should photograph at least once; a grid
#: planned below it (a self-touching corridor, slivers left between cells) is warned of.
MIN_COVERAGE_ONCE_PCT = 99.5
_GEOD = Geod(ellps="WGS84")


def low_coverage(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The grids of a :meth:`Plan.summary` photographed at least once on less than
    :data:`MIN_COVERAGE_ONCE_PCT` of their flyable area."""
    return [g for g in summary["grids"] if g["coverage_once_pct"] < MIN_COVERAGE_ONCE_PCT]


def shown_pct(pct: float, limit: float = MIN_COVERAGE_ONCE_PCT) -> str:
    """A percentage to one decimal as a warning against ``limit`` shows it: rounded down when
    below the limit, so that it never reads as the limit itself (99.49 is "99.4", not "99.5").

    >>> shown_pct(99.49), shown_pct(99.3), shown_pct(99.96, limit=100)
    ('99.4', '99.3', '99.9')
    """
    if pct >= limit:
        return f"{pct:.1f}"
    return str(Decimal(repr(float(pct))).quantize(Decimal("0.1"), rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class GridResult:
    """One grid's survey: cells and strips (WGS84) and the figures of its part of the route.

    ``grid_area_m2`` is the whole grid; ``area_m2`` the part that may be flown and is planned
    (the grid minus no-fly zones and their margin); ``no_fly_excluded_m2`` of the grid is left
    out of the plan (photos may catch its edge, but nothing is flown to see it).
    ``coverage_once``/``coverage_design`` are fractions of ``area_m2``, not of the whole grid.
    ``route_length_m``/``flight_time_s`` run from the grid's first strip to its last (transits
    from home and other grids excluded).
    """

    grid_id: str
    area_m2: float  # flyable: the grid minus no-fly zones and their margin
    grid_area_m2: float  # the whole grid (a corridor: its polygon)
    cells: tuple[Polygon, ...]
    angles_deg: tuple[float, ...]  # strip bearing per cell, degrees clockwise from north
    strips: tuple[LineString, ...]  # camera-on lines in flying order
    route_length_m: float
    flight_time_s: float
    photos: int
    turns: int
    coverage_once: float
    coverage_design: float
    outside_m: float
    sorties: tuple[int, ...]
    corridor: bool = False

    @property
    def no_fly_excluded_m2(self) -> float:
        """Area of the grid left out of the plan by no-fly zones and their margin."""
        return max(0.0, self.grid_area_m2 - self.area_m2)

    @property
    def no_fly_excluded_fraction(self) -> float:
        """Share of the grid left out by no-fly zones (0 for an empty grid)."""
        return self.no_fly_excluded_m2 / self.grid_area_m2 if self.grid_area_m2 > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Sortie:
    """One flight from and back to home.

    ``waypoints`` are (lon, lat, altitude above home, camera_on) flown after take-off and before
    the return to launch; camera_on means the leg leaving that waypoint is photographed.
    """

    index: int
    waypoints: tuple[tuple[float, float, float, bool], ...]
    route_length_m: float  # home → waypoints → home
    flight_time_s: float  # including climb and descent
    photos: int
    grid_ids: tuple[str, ...]
    home: tuple[float, float]  # lon, lat

    @property
    def farthest_m(self) -> float:
        """How far from home (geodesic metres) the sortie goes: at a waypoint, since the
        straight legs between them are never farther. A vehicle's circular fence
        (FENCE_RADIUS) must reach this far."""
        if not self.waypoints:
            return 0.0
        lons = [w[0] for w in self.waypoints]
        lats = [w[1] for w in self.waypoints]
        n = len(lons)
        _, _, distances = _GEOD.inv([self.home[0]] * n, [self.home[1]] * n, lons, lats)
        return float(max(distances))


@dataclass(frozen=True, slots=True)
class Plan:
    """A planned survey of one or many grids."""

    settings: PlanSettings
    grids: tuple[GridResult, ...]
    sorties: tuple[Sortie, ...]
    home: tuple[float, float]  # lon, lat
    no_fly: tuple[Polygon, ...] = ()

    @property
    def flight_time_s(self) -> float:
        return sum(s.flight_time_s for s in self.sorties)

    @property
    def route_length_m(self) -> float:
        return sum(s.route_length_m for s in self.sorties)

    @property
    def photos(self) -> int:
        return sum(s.photos for s in self.sorties)

    def summary(self) -> dict[str, Any]:
        """Plain dicts (JSON-ready) for a table: settings, per grid, per sortie and totals.

        Per grid (and in the totals): ``grid_area_m2`` is the whole grid, ``no_fly_excluded_m2``
        and ``no_fly_excluded_pct`` the part of it no-fly zones and their margin leave out, and
        ``area_m2`` the rest, the part planned; ``coverage_once_pct`` and
        ``coverage_design_pct`` are percentages of ``area_m2``, not of the whole grid. Per
        sortie, ``farthest_m`` is how far from home it goes (for the vehicle's fence).
        """
        s = self.settings
        across, along = s.footprint_m
        common = {
            "gsd_cm": round(s.gsd_m * 100, 3),
            "footprint_m": [round(across, 2), round(along, 2)],
            "line_spacing_m": round(s.line_spacing_m, 2),
        }
        grids = [
            {
                "grid_id": g.grid_id,
                "area_m2": round(g.area_m2, 1),
                "grid_area_m2": round(g.grid_area_m2, 1),
                "no_fly_excluded_m2": round(g.no_fly_excluded_m2, 1),
                "no_fly_excluded_pct": round(g.no_fly_excluded_fraction * 100, 2),
                "cells": len(g.cells),
                "angles_deg": [round(a, 1) for a in g.angles_deg],
                "strips": len(g.strips),
                "route_length_m": round(g.route_length_m, 1),
                "flight_time_s": round(g.flight_time_s, 1),
                "photos": g.photos,
                "turns": g.turns,
                **common,
                "coverage_once_pct": round(g.coverage_once * 100, 2),
                "coverage_design_pct": round(g.coverage_design * 100, 2),
                "outside_m": round(g.outside_m, 1),
                "sorties": [f"s{i + 1}" for i in g.sorties],
                "corridor": g.corridor,
            }
            for g in self.grids
        ]
        sorties = [
            {
                "sortie": f"s{o.index + 1}",
                "index": o.index,
                "grid_ids": list(o.grid_ids),
                "route_length_m": round(o.route_length_m, 1),
                "flight_time_s": round(o.flight_time_s, 1),
                "photos": o.photos,
                "waypoints": len(o.waypoints),
                "farthest_m": round(o.farthest_m, 1),
                **common,
            }
            for o in self.sorties
        ]
        grid_area = sum(g.grid_area_m2 for g in self.grids)
        excluded = sum(g.no_fly_excluded_m2 for g in self.grids)
        return {
            "settings": {
                "profile": s.profile,
                "camera": s.camera.name,
                "altitude_m": round(s.altitude_m, 2),
                **common,
                "trigger_distance_m": round(s.trigger_distance_m, 2),
                "front_overlap_pct": round(s.front_overlap * 100, 1),
                "side_overlap_pct": round(s.side_overlap * 100, 1),
                "design_multiplicity": s.design_multiplicity,
                "speed_mps": s.speed_mps,
                "battery_minutes": s.battery_minutes,
                "battery_reserve_pct": round(s.battery_reserve * 100, 1),
                "nofly_margin_m": s.nofly_margin_m,
                "lead_in_m": s.lead_in_m,
            },
            "home": {"lon": self.home[0], "lat": self.home[1]},
            "grids": grids,
            "sorties": sorties,
            "totals": {
                "grids": len(self.grids),
                "sorties": len(self.sorties),
                "route_length_m": round(self.route_length_m, 1),
                "flight_time_s": round(self.flight_time_s, 1),
                "photos": self.photos,
                "area_m2": round(sum(g.area_m2 for g in self.grids), 1),
                "grid_area_m2": round(grid_area, 1),
                "no_fly_excluded_m2": round(excluded, 1),
                "no_fly_excluded_pct": round(excluded / grid_area * 100, 2) if grid_area else 0.0,
            },
        }
