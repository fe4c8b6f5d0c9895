"""Sorties: one survey path -> battery-sized flights from and back to home.

Splits fall between strips. With cumulative times along the path, a sortie covering strips i..j
costs vertical(alt) + to_home_transit(i) + path(i..j) + back_home_transit(j); dynamic programming
over j (vectorised over i) picks the splits that minimise the total under the usable battery time
(battery minutes × (1 − reserve)). Transits from and to home are routed around no-fly zones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gis.messages import msg
from missions.errors import PlanningError
from missions.planner.objective import FlightTimeModel, _dedupe, polyline_length
from missions.planner.path import Router, SurveyPath

__all__ = ["SortieRoute", "Splitter", "BatterySplitter", "sortie_time_s"]


@dataclass(frozen=True, slots=True)
class SortieRoute:
    """One flight in local metres: waypoints after take-off and before landing at home."""

    waypoints: np.ndarray  # (K, 2)
    camera_on: np.ndarray  # (K,) bool: the leg leaving waypoint k is photographed
    first_strip: int
    last_strip: int  # inclusive
    grid_ids: tuple[str, ...]
    time_s: float
    length_m: float


def sortie_time_s(
    home: np.ndarray, waypoints: np.ndarray, *, objective: FlightTimeModel, altitude_m: float
) -> tuple[float, float]:
    """(seconds, metres) of home → waypoints → home including climb and descent."""
    pts = np.concatenate([home[None], waypoints, home[None]])
    pts = _dedupe(pts)
    return objective.path_s(pts) + objective.vertical_s(altitude_m), polyline_length(pts)


class Splitter(Protocol):
    """Stage 5: cut a survey path into sorties from and to home."""

    def split(
        self,
        path: SurveyPath,
        *,
        home: np.ndarray,
        router: Router,
        objective: FlightTimeModel,
        altitude_m: float,
    ) -> list[SortieRoute]: ...


def _cumulative(path: SurveyPath, objective: FlightTimeModel) -> tuple[np.ndarray, np.ndarray]:
    """Time from the path's start to each strip's start and end (turns there excluded)."""
    starts, ends = [], []
    t = 0.0
    prev_dir = None
    for k, strip in enumerate(path.strips):
        pts = _dedupe(strip.flown_points)
        if prev_dir is not None and len(pts) >= 2:
            t += float(objective.turn_between_s(prev_dir, pts[1] - pts[0]))
        starts.append(t)
        t += objective.path_s(pts)
        ends.append(t)
        if len(pts) >= 2:
            prev_dir = pts[-1] - pts[-2]
        if k < len(path.connectors):
            con = _dedupe(path.connectors[k])
            if len(con) >= 2:
                if prev_dir is not None:
                    t += float(objective.turn_between_s(prev_dir, con[1] - con[0]))
                t += objective.path_s(con)
                prev_dir = con[-1] - con[-2]
    return np.asarray(starts), np.asarray(ends)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatterySplitter:
    """Split between strips to minimise total flight time within the usable battery time."""

    usable_s: float
    max_distance_m: float | None = None

    def split(
        self,
        path: SurveyPath,
        *,
        home: np.ndarray,
        router: Router,
        objective: FlightTimeModel,
        altitude_m: float,
    ) -> list[SortieRoute]:
        n = len(path.strips)
        if n == 0:
            return []
        home = np.asarray(home, dtype=float)
        self._check_distance(path, home)
        first = np.array([s.flown_points[0] for s in path.strips])
        last = np.array([s.points[-1] for s in path.strips])
        first_dir = np.array([_direction(s.flown_points, True) for s in path.strips])
        last_dir = np.array([_direction(s.points, False) for s in path.strips])
        to = router.distances(home, first)[0]
        back = router.distances(last, home)[:, 0]
        to_s = to / objective.speed_mps + objective.turn_between_s(first - home, first_dir)
        back_s = back / objective.speed_mps + objective.turn_between_s(last_dir, home - last)
        vertical = objective.vertical_s(altitude_m)
        starts, ends = _cumulative(path, objective)
        alone = vertical + to_s + (ends - starts) + back_s
        bad = np.nonzero(~(alone <= self.usable_s))[0]
        if len(bad):
            k = int(bad[0])
            raise PlanningError(
                msg(
                    "grid %(grid)s: a strip %(distance)s m from home needs %(needed)s s out and "
                    "back, more than one battery allows (%(usable)s s usable)",
                    grid=path.strips[k].grid_id,
                    distance=f"{np.hypot(*(first[k] - home)):.0f}",
                    needed=f"{alone[k]:.0f}",
                    usable=f"{self.usable_s:.0f}",
                )
            )
        budget = self.usable_s
        for _ in range(4):
            splits = self._dp(to_s, back_s, starts, ends, vertical, budget)
            routes = [
                self._route(path, i, j, home, router, objective, altitude_m) for i, j in splits
            ]
            worst = max(r.time_s for r in routes)
            if worst <= self.usable_s + 1e-6:
                return routes
            budget -= (worst - self.usable_s) * 1.05 + 1.0
        raise PlanningError(
            msg(
                "cannot split the route into sorties of at most %(seconds)s s (grid %(grid)s)",
                seconds=f"{self.usable_s:.0f}",
                grid=path.strips[0].grid_id,
            )
        )

    def _check_distance(self, path: SurveyPath, home: np.ndarray) -> None:
        if self.max_distance_m is None:
            return
        for strip in path.strips:
            far = np.hypot(*(strip.flown_points - home).T).max()
            if far > self.max_distance_m:
                raise PlanningError(
                    msg(
                        "grid %(grid)s: part of it lies %(distance)s m from home, beyond the "
                        "maximum distance of %(max)s m",
                        grid=strip.grid_id,
                        distance=f"{far:.0f}",
                        max=f"{self.max_distance_m:.0f}",
                    )
                )

    @staticmethod
    def _dp(to_s, back_s, starts, ends, vertical, budget) -> list[tuple[int, int]]:
        n = len(starts)
        best = np.full(n + 1, np.inf)
        best[0] = 0.0
        arg = np.zeros(n + 1, dtype=int)
        head = to_s - starts  # cost of opening a sortie at strip i, minus the cumulative offset
        for j in range(1, n + 1):
            cost = head[:j] + ends[j - 1] + back_s[j - 1] + vertical
            total = np.where(cost <= budget, best[:j] + cost, np.inf)
            k = int(total.argmin())
            best[j], arg[j] = total[k], k
        if not np.isfinite(best[n]):
            raise PlanningError("no split into sorties fits the battery")
        splits, j = [], n
        while j > 0:
            splits.append((int(arg[j]), j - 1))
            j = int(arg[j])
        return splits[::-1]

    @staticmethod
    def _route(
        path: SurveyPath,
        i: int,
        j: int,
        home: np.ndarray,
        router: Router,
        objective: FlightTimeModel,
        altitude_m: float,
    ) -> SortieRoute:
        pts: list[np.ndarray] = []
        cam: list[np.ndarray] = []
        what = msg("grid %(grid)s", grid=path.strips[i].grid_id)
        out = router.route(home, path.strips[i].flown_points[0], what=what)[1:-1]
        pts.append(out)
        cam.append(np.zeros(len(out), dtype=bool))
        for k in range(i, j + 1):
            strip = path.strips[k].flown_points
            pts.append(strip)
            flags = np.ones(len(strip), dtype=bool)
            flags[-1] = False
            if path.strips[k].entry is not None:
                flags[0] = False  # the lead-in is flown with the camera off
            cam.append(flags)
            if k < j:
                con = path.connectors[k][1:-1]
                pts.append(con)
                cam.append(np.zeros(len(con), dtype=bool))
        last = msg("grid %(grid)s", grid=path.strips[j].grid_id)
        ret = router.route(path.strips[j].points[-1], home, what=last)[1:-1]
        pts.append(ret)
        cam.append(np.zeros(len(ret), dtype=bool))
        waypoints = np.concatenate(pts)
        time_s, length = sortie_time_s(home, waypoints, objective=objective, altitude_m=altitude_m)
        grid_ids = tuple(dict.fromkeys(s.grid_id for s in path.strips[i : j + 1]))
        return SortieRoute(
            waypoints=waypoints,
            camera_on=np.concatenate(cam),
            first_strip=i,
            last_strip=j,
            grid_ids=grid_ids,
            time_s=time_s,
            length_m=length,
        )


def _direction(points: np.ndarray, first: bool) -> np.ndarray:
    pts = _dedupe(points)
    if len(pts) < 2:
        return np.zeros(2)
    return pts[1] - pts[0] if first else pts[-1] - pts[-2]
