"""Path: ordered strips -> one flyable polyline; transits routed around no-fly zones.

Transits that would cross a no-fly zone follow the shortest path on a visibility graph whose nodes
are the vertices of the no-fly polygons buffered by ``margin_m`` (a segment is blocked when it comes
within ``margin_m / 2`` of a zone, so routes keep at least that distance). Distances between many
points at once are min-plus products over all-pairs node distances, so the ordering stage can ask
for whole matrices without a Python loop per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import Polygon

from gis.messages import msg
from missions.errors import PlanningError
from missions.planner._geometry import polygons_of

if TYPE_CHECKING:
    from missions.planner.swaths import CellSwaths

__all__ = ["Router", "FlownStrip", "SurveyPath", "build_path"]


def _segments(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """LineStrings from a[i] to b[i] (same shapes, (..., 2))."""
    coords = np.stack([a, b], axis=-2).reshape(-1, 2, 2)
    return shapely.linestrings(coords)


@dataclass
class Router:
    """Shortest transits between local points that keep clear of no-fly zones."""

    no_fly: Sequence[Polygon] = ()
    margin_m: float = 20.0
    _blocker: object = field(init=False, repr=False, default=None)
    _clipper: object = field(init=False, repr=False, default=None)
    _nodes: np.ndarray = field(init=False, repr=False, default_factory=lambda: np.zeros((0, 2)))
    _dist: np.ndarray = field(init=False, repr=False, default_factory=lambda: np.zeros((0, 0)))
    _next: np.ndarray = field(init=False, repr=False, default_factory=lambda: np.zeros((0, 0), int))

    def __post_init__(self) -> None:
        zones = [p for z in self.no_fly for p in polygons_of(z)]
        if not zones:
            return
        blocker = shapely.union_all([z.buffer(self.margin_m / 2.0) for z in zones])
        shapely.prepare(blocker)
        self._blocker = blocker
        # strips are cut further out than the blocking distance, so the cut ends can be routed
        # from (a point on the blocker's own boundary would have no clear segment to anywhere)
        clip_m = max(0.75 * self.margin_m, self.margin_m / 2.0 + 1e-3)
        self._clipper = shapely.union_all([z.buffer(clip_m) for z in zones])
        rings = [z.buffer(self.margin_m, quad_segs=2).simplify(self.margin_m * 0.1) for z in zones]
        nodes = np.concatenate(
            [shapely.get_coordinates(r.exterior)[:-1] for r in rings if isinstance(r, Polygon)]
        )
        inside = shapely.intersects(blocker, shapely.points(nodes))
        nodes = nodes[~inside]
        self._nodes = nodes
        n = len(nodes)
        ii, jj = np.triu_indices(n, 1)
        dist = np.full((n, n), np.inf)
        np.fill_diagonal(dist, 0.0)
        if len(ii):
            clear = ~shapely.intersects(blocker, _segments(nodes[ii], nodes[jj]))
            lengths = np.hypot(*(nodes[ii] - nodes[jj]).T)
            dist[ii[clear], jj[clear]] = lengths[clear]
            dist[jj[clear], ii[clear]] = lengths[clear]
        nxt = np.where(np.isfinite(dist), np.arange(n)[None, :], -1)
        for k in range(n):
            alt = dist[:, k, None] + dist[None, k, :]
            better = alt < dist
            dist = np.where(better, alt, dist)
            nxt = np.where(better, nxt[:, k, None], nxt)
        self._dist, self._next = dist, nxt

    @property
    def has_zones(self) -> bool:
        return self._blocker is not None

    def blocked(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether each straight segment a[i]→b[i] comes too close to a no-fly zone."""
        a = np.asarray(a, dtype=float).reshape(-1, 2)
        b = np.asarray(b, dtype=float).reshape(-1, 2)
        if not self.has_zones:
            return np.zeros(len(a), dtype=bool)
        return shapely.intersects(self._blocker, _segments(a, b))

    def keeps_clear(self, swaths: CellSwaths) -> bool:
        """Whether every strip of a block keeps clear of the zones (always, without zones)."""
        if not self.has_zones:
            return True
        return not any(self.blocked(s.array[:-1], s.array[1:]).any() for s in swaths.strips)

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Whether points lie within the keep-clear distance of a zone."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        if not self.has_zones:
            return np.zeros(len(pts), dtype=bool)
        return shapely.intersects(self._blocker, shapely.points(pts))

    def clip(self, points: np.ndarray) -> list[np.ndarray]:
        """The pieces of a polyline that keep clear of the zones, in order along it."""
        pts = np.asarray(points, dtype=float)
        if not self.has_zones:
            return [pts]
        if len(pts) < 2 or (np.hypot(*(pts[-1] - pts[0])) < 1e-9 and len(pts) == 2):
            return [] if self.inside(pts[:1])[0] else [pts]
        line = shapely.linestrings(pts)
        if not shapely.intersects(self._blocker, line):
            return [pts]
        rest = shapely.difference(line, self._clipper)
        pieces = [g for g in getattr(rest, "geoms", [rest]) if not g.is_empty and g.length > 0]
        along = [shapely.line_locate_point(line, shapely.points(g.coords[0])) for g in pieces]
        out = []
        for _, g in sorted(zip(along, pieces, strict=True), key=lambda t: t[0]):
            arr = np.asarray(g.coords, dtype=float)
            start = shapely.line_locate_point(line, shapely.points(arr[0]))
            end = shapely.line_locate_point(line, shapely.points(arr[-1]))
            out.append(arr if start <= end else arr[::-1])
        return out

    def _to_nodes(self, points: np.ndarray) -> np.ndarray:
        """(P, N) straight distances from points to visible nodes (inf when blocked)."""
        p = np.repeat(points, len(self._nodes), axis=0)
        q = np.tile(self._nodes, (len(points), 1))
        d = np.hypot(*(p - q).T)
        d[shapely.intersects(self._blocker, _segments(p, q))] = np.inf
        return d.reshape(len(points), len(self._nodes))

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(len(a), len(b)) matrix of transit lengths (inf when no route exists)."""
        a = np.asarray(a, dtype=float).reshape(-1, 2)
        b = np.asarray(b, dtype=float).reshape(-1, 2)
        direct = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
        if not self.has_zones or not len(a) or not len(b):
            return direct
        aa = np.repeat(a, len(b), axis=0)
        bb = np.tile(b, (len(a), 1))
        blocked = self.blocked(aa, bb).reshape(len(a), len(b))
        if not blocked.any() or not len(self._nodes):
            return np.where(blocked, np.inf, direct)
        rows = np.nonzero(blocked.any(axis=1))[0]
        cols = np.nonzero(blocked.any(axis=0))[0]
        from_a = self._to_nodes(a[rows])  # (R, N)
        to_b = self._to_nodes(b[cols]).T  # (N, C)
        via = (from_a[:, :, None] + self._dist[None, :, :]).min(axis=1)  # (R, N)
        routed = (via[:, :, None] + to_b[None, :, :]).min(axis=1)  # (R, C)
        out = direct.copy()
        sub = out[np.ix_(rows, cols)]
        out[np.ix_(rows, cols)] = np.where(blocked[np.ix_(rows, cols)], routed, sub)
        return out

    def route(self, a: np.ndarray, b: np.ndarray, *, what: object = None) -> np.ndarray:
        """The polyline (K, 2) of the shortest transit from a to b, both included."""
        a = np.asarray(a, dtype=float).reshape(2)
        b = np.asarray(b, dtype=float).reshape(2)
        if not self.blocked(a, b)[0]:
            return np.stack([a, b])
        if len(self._nodes):
            from_a = self._to_nodes(a[None])[0]
            to_b = self._to_nodes(b[None])[0]
            total = from_a[:, None] + self._dist + to_b[None, :]
            i, j = np.unravel_index(np.argmin(total), total.shape)
            if np.isfinite(total[i, j]):
                chain = [int(i)]
                while chain[-1] != j:
                    chain.append(int(self._next[chain[-1], j]))
                return np.concatenate([a[None], self._nodes[chain], b[None]])
        raise PlanningError(
            msg(
                "%(what)s: no route from (%(ax)s, %(ay)s) to (%(bx)s, %(by)s) m keeps clear of the "
                "no-fly zones",
                what=msg("transit") if what is None else what,
                ax=f"{a[0]:.0f}",
                ay=f"{a[1]:.0f}",
                bx=f"{b[0]:.0f}",
                by=f"{b[1]:.0f}",
            )
        )


@dataclass(frozen=True, slots=True)
class FlownStrip:
    """A strip as flown: oriented points (local metres), its grid and its cell."""

    points: np.ndarray
    grid_id: str
    cell: int


@dataclass(frozen=True, slots=True)
class SurveyPath:
    """Strips in flying order and the routed connector before each one after the first."""

    strips: tuple[FlownStrip, ...]
    connectors: tuple[np.ndarray, ...]  # connectors[k] joins strips[k] to strips[k + 1]

    def polyline(self) -> np.ndarray:
        """The whole survey route from the first strip's start to the last strip's end."""
        parts = []
        for k, strip in enumerate(self.strips):
            parts.append(strip.points)
            if k < len(self.connectors):
                parts.append(self.connectors[k][1:-1])
        return np.concatenate(parts) if parts else np.zeros((0, 2))


def build_path(strips: Sequence[FlownStrip], router: Router) -> SurveyPath:
    """Join oriented strips with straight connectors, routed around no-fly zones where needed."""
    connectors = []
    for k in range(len(strips) - 1):
        a, b = strips[k].points[-1], strips[k + 1].points[0]
        what = msg("grid %(grid)s", grid=strips[k + 1].grid_id)
        connectors.append(router.route(a, b, what=what))
    return SurveyPath(strips=tuple(strips), connectors=tuple(connectors))
