"""A grid: one cell of a district's governance layer, with its id and WGS84 geometry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import LineString, MultiPolygon, Polygon

from gis.errors import FormatError
from gis.messages import msg

__all__ = [
    "GRID_ID_MARKUP",
    "GRID_ID_REFUSED",
    "Grid",
    "check_grid_id",
    "check_grid_ids",
    "shown_grid_id",
]


@dataclass(frozen=True, slots=True)
class Grid:
    """A grid in WGS84 (x = longitude, y = latitude) with the id grid workers know it by.

    Its geometry is the area to survey, or a LineString: the centre line of a corridor (a river
    or road flown along), which a plan needs a corridor width for.
    """

    grid_id: str
    geometry: Polygon | MultiPolygon | LineString
    properties: dict[str, Any] = field(default_factory=dict, compare=False)


#: Characters a grid id may not hold, besides markup and control characters: ids are path
#: segments of the ground station's /grids/<id> pages (/ \ ? # %) and comma-separated values of
#: its ticket filter (,). The rule lives here so that a plan refuses what the station would.
GRID_ID_REFUSED = frozenset("/\\?#%,")
#: Markup: maps show grid ids in HTML tooltips, KML previews in balloons.
GRID_ID_MARKUP = frozenset("<>&\"'`")


def shown_grid_id(grid_id: str) -> str:
    """A grid id for a message: quoted (so control characters show escaped), cut after 40
    characters."""
    return repr(grid_id if len(grid_id) <= 40 else grid_id[:40] + "…")


def check_grid_id(grid_id: str) -> None:
    """Refuse (:class:`~gis.errors.FormatError`) a grid id that cannot name a grid everywhere it
    is shown: one holding markup or control characters (terminals, HTML maps, KML), / \\ ? # %
    or , (web addresses, the ticket filter), or made of dots only (a path segment browsers
    drop)."""
    if any(c in GRID_ID_MARKUP or not c.isprintable() for c in grid_id):
        raise FormatError(
            msg(
                "grid id %(code)s holds markup or control characters (<>&\"'` ...); "
                "use letters, digits, - and _",
                code=shown_grid_id(grid_id),
            )
        )
    bad = sorted({c for c in grid_id if c in GRID_ID_REFUSED})
    if bad:
        raise FormatError(
            msg(
                "grid id %(code)s holds %(chars)s: grid ids name the grid's page and filters "
                "(/grids/<id>, ?grid=<id>), so they may not hold / \\ ? # %% or ,; use letters, "
                "digits, - and _",
                code=shown_grid_id(grid_id),
                chars=" ".join(repr(c) for c in bad),
            )
        )
    if not grid_id.strip("."):
        raise FormatError(
            msg(
                "grid id %(code)s is made of dots only, which web addresses drop; use letters, "
                "digits, - and _",
                code=shown_grid_id(grid_id),
            )
        )


def check_grid_ids(grid_ids: Iterable[str]) -> None:
    """:func:`check_grid_id` for each id, and refuse ids that differ only in case ("a" and
    "A"): the ground station finds grids ignoring case, so they would be one grid there."""
    folded: dict[str, str] = {}
    for grid_id in grid_ids:
        check_grid_id(grid_id)
        other = folded.setdefault(grid_id.casefold(), grid_id)
        if other != grid_id:
            raise FormatError(
                msg(
                    "grid ids %(code)s and %(other)s differ only in case; grid ids must differ "
                    "in more than case (the ground station finds grids ignoring case)",
                    code=shown_grid_id(grid_id),
                    other=shown_grid_id(other),
                )
            )
