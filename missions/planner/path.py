"""Path: ordered strips -> one flyable polyline; transits routed around no-fly zones.

Transits that would cross a no-fly zone follow the shortest path on a visibility graph whose nodes
are the vertices of the no-fly polygons buffered a little beyond ``margin_m`` (a segment is
blocked when it comes within ``margin_m`` of a zone, so routes keep at least that distance, the
margin the pilot set and the messages state). Distances between many points at once are
min-plus products over all-pairs node distances, so the ordering stage can ask for whole matrices
without a Python loop per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from gis.messages import msg
from missions.errors import PlanningError
from missions.planner._geometry import polygons_of

if TYPE_CHECKING:
    from missions.planner.swaths import CellSwaths

__all__ = [
    "Router",
    "FlownStrip",
    "SurveyPath",
    "build_path",
    "with_lead_in",
    "first_photo_headings",
    "MIN_LEAD_IN_M",
]

#: The shortest lead-in after which a strip's first photo counts as aligned with the strip: a
#: 90° turn at ArduCopter's default yaw slew (ATC_SLEW_YAW, 60°/s) takes 1.5 s, about 3 m from
#: rest at WPNAV_ACCEL 2.5 m/s², and the camera-on waypoint counts as reached within
#: WPNAV_RADIUS (2 m) of it.
MIN_LEAD_IN_M = 5.0

#: Segments per quarter circle of the blocking buffer, and the least ratio of its chords'
#: distance to its vertices': GEOS draws a corner's arc with chords of up to 1.5 × 90° /
#: quad_segs, which cut in to the cosine of half that. The blocker is widened by 1 / _CHORD so it
#: holds the whole margin everywhere.
_QUAD_SEGS = 16
_CHORD = float(np.cos(0.75 * np.pi / (2 * _QUAD_SEGS)))
#: Graph nodes lie on the zones buffered by this many margins, at quad_segs=2 (chords cut in to
#: cos 33.75° ≈ 0.83 of the radius), simplified by _NODE_SIMPLIFY margins:
#: 0.83 × 1.25 − 0.02 ≈ 1.02 > 1 / _CHORD, so neighbouring nodes see each other past the blocker.
_NODE_RING = 1.25
_NODE_SIMPLIFY = 0.02
#: Metres between the blocker and the line strips are cut at or nodes lie on.
_CLEARANCE_M = 0.05


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
        # buffers are polygons whose vertices lie on the true offset curve and whose chords cut
        # inside it by a factor cos(half the step angle): the blocker is widened by that factor so
        # that its chords, not just its vertices, keep the whole margin
        blocker = shapely.union_all(
            [z.buffer(self.margin_m / _CHORD, quad_segs=_QUAD_SEGS) for z in zones]
        )
        shapely.prepare(blocker)
        self._blocker = blocker
        # strips are cut just outside the blocker (the same widening once more), so the cut ends
        # can be routed from: a point on the blocker's own boundary has no clear segment anywhere
        clip_m = self.margin_m / _CHORD**2 + _CLEARANCE_M
        self._clipper = shapely.union_all([z.buffer(clip_m, quad_segs=_QUAD_SEGS) for z in zones])
        # graph nodes on a coarse ring far enough out that the segments between neighbouring
        # nodes clear the blocker (see _NODE_RING)
        ring_m = _NODE_RING * self.margin_m + _CLEARANCE_M
        rings = [
            z.buffer(ring_m, quad_segs=2).simplify(_NODE_SIMPLIFY * self.margin_m) for z in zones
        ]
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
    def keep_out(self) -> BaseGeometry | None:
        """Where the vehicle may not fly: the zones grown by ``margin_m`` (None without zones)."""
        return self._blocker  # type: ignore[return-value]

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
    """A strip as flown: oriented camera-on points (local metres), its grid and its cell.

    ``entry`` is where the vehicle joins the strip's line before its first photo (see
    :func:`with_lead_in`); ``None`` when it flies straight to the strip's start.
    """

    points: np.ndarray
    grid_id: str
    cell: int
    entry: np.ndarray | None = None

    @property
    def flown_points(self) -> np.ndarray:
        """The strip's waypoints as flown: the lead-in's entry point (camera off), then points."""
        if self.entry is None:
            return self.points
        return np.concatenate([self.entry[None], self.points])


@dataclass(frozen=True, slots=True)
class SurveyPath:
    """Strips in flying order and the routed connector before each one after the first."""

    strips: tuple[FlownStrip, ...]
    connectors: tuple[np.ndarray, ...]  # connectors[k] joins strips[k] to strips[k + 1]

    def polyline(self) -> np.ndarray:
        """The whole survey route from the first strip's entry to the last strip's end."""
        parts = []
        for k, strip in enumerate(self.strips):
            parts.append(strip.flown_points)
            if k < len(self.connectors):
                parts.append(self.connectors[k][1:-1])
        return np.concatenate(parts) if parts else np.zeros((0, 2))


def with_lead_in(
    strips: Sequence[FlownStrip], router: Router, lead_in_m: float
) -> list[FlownStrip]:
    """The strips with an entry point ``lead_in_m`` before each start, on the strip's line.

    A multicopter turns its heading (and a fixed camera with it) at a limited rate and moves off
    before the turn is done: a photo at the very start of a strip entered from a turn is rotated
    against the strip and leaves gaps at the side overlap. Joining the strip's line ahead of its
    start, camera off, gives the turn that distance to finish before the first photo. A lead-in
    that would come too close to a no-fly zone is shortened to the part that keeps clear.
    """
    if lead_in_m <= 0:
        return list(strips)
    out = []
    for strip in strips:
        pts = strip.points
        step = pts[1:] - pts[:-1] if len(pts) > 1 else np.zeros((0, 2))
        lengths = np.hypot(step[:, 0], step[:, 1]) if len(step) else np.zeros(0)
        moving = np.nonzero(lengths > 1e-9)[0]
        if not len(moving):  # a single point has no direction to lead in along
            out.append(strip)
            continue
        back = -step[moving[0]] / lengths[moving[0]]
        entry = None
        for fraction in (1.0, 0.5, 0.25):
            candidate = pts[0] + back * lead_in_m * fraction
            if not router.blocked(candidate, pts[0])[0]:
                entry = candidate
                break
        out.append(FlownStrip(points=pts, grid_id=strip.grid_id, cell=strip.cell, entry=entry))
    return out


def build_path(
    strips: Sequence[FlownStrip], router: Router, *, lead_in_m: float = 0.0
) -> SurveyPath:
    """Join oriented strips with straight connectors, routed around no-fly zones where needed,
    each strip entered ``lead_in_m`` before its start (:func:`with_lead_in`)."""
    strips = with_lead_in(strips, router, lead_in_m)
    connectors = []
    for k in range(len(strips) - 1):
        a, b = strips[k].points[-1], strips[k + 1].flown_points[0]
        what = msg("grid %(grid)s", grid=strips[k + 1].grid_id)
        connectors.append(router.route(a, b, what=what))
    return SurveyPath(strips=tuple(strips), connectors=tuple(connectors))


def first_photo_headings(
    path: SurveyPath, *, home: np.ndarray, router: Router, sortie_starts: Sequence[int]
) -> np.ndarray:
    """(len(path.strips), 2) unit headings of each strip's first photo as it is flown.

    The camera turns with the vehicle, which photographs a strip's start still facing the way it
    came (it moves off before its turn is done): the heading of the last leg into the start, or
    into the entry when the lead-in is shorter than :data:`MIN_LEAD_IN_M`. Strips at
    ``sortie_starts`` are reached from ``home``. Coverage counted with these headings promises
    only what the flight delivers.
    """
    out = np.zeros((len(path.strips), 2))
    starts = set(sortie_starts)
    for k, strip in enumerate(path.strips):
        start = strip.points[0]
        if strip.entry is not None and np.hypot(*(start - strip.entry)) >= MIN_LEAD_IN_M - 1e-9:
            before = strip.entry
        else:
            joined = strip.flown_points[0]
            if k == 0 or k in starts:
                leg = router.route(np.asarray(home, dtype=float), joined)
            else:
                leg = path.connectors[k - 1]
            before = leg[-2] if len(leg) >= 2 else joined
            if strip.entry is not None:
                start = strip.entry
        d = start - before
        norm = float(np.hypot(*d))
        if norm <= 1e-9:  # no leg in (a strip starting where the last ended): along the strip
            pts = strip.flown_points
            d = pts[-1] - pts[0] if len(pts) > 1 else np.array([1.0, 0.0])
            norm = float(np.hypot(*d)) or 1.0
        out[k] = d / norm
    return out
