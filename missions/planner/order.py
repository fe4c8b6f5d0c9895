"""Order: cells (each a block of strips) -> visiting order and entry corner, minimising transit.

A generalised TSP: each block can be flown four ways (start at its first or last strip, first
strip forwards or backwards), which fixes where it is entered and left and with which heading.
For a fixed block order the best variants follow exactly by dynamic programming over the four
states, so the search moves only the order: nearest-neighbour construction, then 2-opt (segment
reversal) and or-opt (move one block) until no move lowers the objective.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from missions.planner.objective import FlightTimeModel
from missions.planner.path import Router
from missions.planner.swaths import CellSwaths

__all__ = ["Visit", "Orderer", "GreedyTwoOpt", "oriented_strips", "order_points"]

VARIANTS = ((False, False), (False, True), (True, False), (True, True))


@dataclass(frozen=True, slots=True)
class Visit:
    """Fly ``block``; ``reverse``: strips in reverse across order; ``flip``: first one backwards."""

    block: int
    reverse: bool = False
    flip: bool = False


def oriented_strips(swaths: CellSwaths, *, reverse: bool, flip: bool) -> list[np.ndarray]:
    """The block's strips as flown for a variant: alternating directions, boustrophedon."""
    strips = list(swaths.strips[::-1] if reverse else swaths.strips)
    return [s.array[::-1] if (k % 2 == 0) == flip else s.array for k, s in enumerate(strips)]


def _ends(swaths: CellSwaths, reverse: bool, flip: bool) -> tuple[np.ndarray, ...]:
    strips = oriented_strips(swaths, reverse=reverse, flip=flip)
    axis = np.array([np.cos(np.radians(swaths.angle_deg)), np.sin(np.radians(swaths.angle_deg))])

    def heading(arr: np.ndarray, first: bool, index: int) -> np.ndarray:
        seg = arr[1] - arr[0] if first else arr[-1] - arr[-2]
        if np.hypot(*seg) > 1e-9:
            return seg / np.hypot(*seg)
        sign = -1.0 if (index % 2 == 0) == flip else 1.0
        return axis * sign

    first, last = strips[0], strips[-1]
    return first[0], heading(first, True, 0), last[-1], heading(last, False, len(strips) - 1)


class Orderer(Protocol):
    """Stage 3: choose the visiting order and variant of every block."""

    def order(
        self,
        blocks: Sequence[CellSwaths],
        *,
        router: Router,
        objective: FlightTimeModel,
        start: np.ndarray | None = None,
        end: np.ndarray | None = None,
    ) -> list[Visit]: ...


def _transit_s(
    objective: FlightTimeModel,
    dist: np.ndarray,
    src: np.ndarray,
    src_heading: np.ndarray | None,
    dst: np.ndarray,
    dst_heading: np.ndarray | None,
) -> np.ndarray:
    """(len(src), len(dst)) seconds: distance at cruise speed plus turns out of and into strips."""
    vec = dst[None, :, :] - src[:, None, :]
    norm = np.hypot(vec[..., 0], vec[..., 1])
    cost = np.where(np.isfinite(dist), dist / objective.speed_mps, np.inf)
    if src_heading is not None and dst_heading is not None:
        same = objective.turn_between_s(
            np.broadcast_to(src_heading[:, None, :], vec.shape),
            np.broadcast_to(dst_heading[None, :, :], vec.shape),
        )
    else:
        same = np.zeros(vec.shape[:2])
    turn = np.zeros(vec.shape[:2])
    if src_heading is not None:
        turn = turn + objective.turn_between_s(
            np.broadcast_to(src_heading[:, None, :], vec.shape), vec
        )
    if dst_heading is not None:
        turn = turn + objective.turn_between_s(
            vec, np.broadcast_to(dst_heading[None, :, :], vec.shape)
        )
    return cost + np.where(norm < 1e-6, same, turn)


@dataclass(frozen=True, slots=True)
class GreedyTwoOpt:
    """Nearest neighbour + 2-opt + or-opt over block order, variants chosen exactly by DP."""

    max_passes: int = 30
    max_starts: int = 8

    def order(
        self,
        blocks: Sequence[CellSwaths],
        *,
        router: Router,
        objective: FlightTimeModel,
        start: np.ndarray | None = None,
        end: np.ndarray | None = None,
    ) -> list[Visit]:
        k = len(blocks)
        if k == 0:
            return []
        ends = [_ends(b, r, f) for b in blocks for r, f in VARIANTS]
        entry = np.array([e[0] for e in ends])
        entry_h = np.array([e[1] for e in ends])
        exit_ = np.array([e[2] for e in ends])
        exit_h = np.array([e[3] for e in ends])
        between = _transit_s(
            objective, router.distances(exit_, entry), exit_, exit_h, entry, entry_h
        ).reshape(k, 4, k, 4)
        first = np.zeros((k, 4))
        if start is not None:
            s = np.asarray(start, dtype=float).reshape(1, 2)
            first = _transit_s(objective, router.distances(s, entry), s, None, entry, entry_h)
            first = first.reshape(k, 4)
        last = np.zeros((k, 4))
        if end is not None:
            e = np.asarray(end, dtype=float).reshape(1, 2)
            last = _transit_s(objective, router.distances(exit_, e), exit_, exit_h, e, None)
            last = last.reshape(k, 4)

        # plain nested lists: the 4x4 DP steps are far faster in Python than as tiny numpy calls
        between_l = between.tolist()
        first_l, last_l = first.tolist(), last.tolist()
        four = range(4)

        def evaluate(perm: Sequence[int]) -> tuple[float, list[int]]:
            value = list(first_l[perm[0]])
            back = []
            for a, b in itertools.pairwise(perm):
                rows = between_l[a]
                new, arg = [], []
                for v in four:
                    best_u, best_c = 0, value[0] + rows[0][b][v]
                    for u in (1, 2, 3):
                        c = value[u] + rows[u][b][v]
                        if c < best_c:
                            best_u, best_c = u, c
                    new.append(best_c)
                    arg.append(best_u)
                back.append(arg)
                value = new
            end_costs = last_l[perm[-1]]
            totals = [value[v] + end_costs[v] for v in four]
            v = min(four, key=totals.__getitem__)
            variants = [v]
            for arg in reversed(back):
                variants.append(arg[variants[-1]])
            return totals[v], variants[::-1]

        def nearest(first_block: int) -> list[int]:
            perm = [first_block]
            left = set(range(k)) - {first_block}
            _, variants = evaluate(perm)
            while left:
                cur, var = perm[-1], variants[-1]
                cand = sorted(left)
                nxt = cand[int(between[cur, var, cand, :].min(axis=1).argmin())]
                perm.append(nxt)
                left.discard(nxt)
                variants.append(int(between[cur, var, nxt, :].argmin()))
            return perm

        if start is not None:
            seeds = [int(first.min(axis=1).argmin())]
        else:
            seeds = list(range(min(k, self.max_starts)))
        best_total, best_perm = np.inf, [0]
        for seed in seeds:
            perm = self._improve(nearest(seed), evaluate)
            total, _ = evaluate(perm)
            if total < best_total:
                best_total, best_perm = total, perm
        _, variants = evaluate(best_perm)
        return [Visit(b, *VARIANTS[v]) for b, v in zip(best_perm, variants, strict=True)]

    def _improve(self, perm: list[int], evaluate) -> list[int]:
        best, _ = evaluate(perm)
        k = len(perm)
        if k < 2:
            return perm
        for _ in range(self.max_passes):
            improved = False
            for i in range(k - 1):
                for j in range(i + 1, k):
                    trial = perm[:i] + perm[i : j + 1][::-1] + perm[j + 1 :]
                    total, _ = evaluate(trial)
                    if total < best - 1e-9:
                        best, perm, improved = total, trial, True
            for i in range(k):
                for j in range(k):
                    if i == j:
                        continue
                    rest = perm[:i] + perm[i + 1 :]
                    trial = [*rest[:j], perm[i], *rest[j:]]
                    total, _ = evaluate(trial)
                    if total < best - 1e-9:
                        best, perm, improved = total, trial, True
            if not improved:
                break
        return perm


def order_points(points: np.ndarray, *, start: np.ndarray, passes: int = 50) -> list[int]:
    """Visit order of many points as a closed tour from and back to ``start`` (NN + 2-opt).

    Used to order whole grids by their representative points; vectorised over candidate moves.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    n = len(pts)
    if n <= 1:
        return list(range(n))
    left = np.ones(n, dtype=bool)
    cur = np.asarray(start, dtype=float)
    tour = []
    for _ in range(n):
        d = np.hypot(*(pts - cur).T)
        d[~left] = np.inf
        i = int(d.argmin())
        tour.append(i)
        left[i] = False
        cur = pts[i]
    route = np.concatenate(
        [np.asarray(start, dtype=float)[None], pts[tour], np.asarray(start)[None]]
    )
    order = np.array(tour)
    for _ in range(passes):
        improved = False
        for i in range(1, n):
            a, b = route[i - 1], route[i]
            c, d = route[i + 1 :][:-1], route[i + 2 :]
            if not len(d):
                break
            delta = (
                np.hypot(*(a - c).T)
                + np.hypot(*(b - d).T)
                - np.hypot(*(a - b))
                - np.hypot(*(c - d).T)
            )
            j = int(delta.argmin())
            if delta[j] < -1e-9:
                jj = i + 1 + j  # reverse route[i .. jj]
                route[i : jj + 1] = route[i : jj + 1][::-1].copy()
                order[i - 1 : jj] = order[i - 1 : jj][::-1].copy()
                improved = True
        if not improved:
            break
    return order.tolist()
