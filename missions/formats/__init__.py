"""Plan files: QGroundControl ``.plan``, Mission Planner ``.waypoints``, KML and GeoJSON previews.

:func:`save_mission` and :func:`load_mission` pick the format from the file suffix; the modules
hold the format details. Every failure (unknown suffix, unreadable or malformed file) raises
:class:`~missions.errors.PlanFileError` naming the file and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry

from missions.errors import PlanFileError
from missions.formats.geojson import plan_to_geojson, write_geojson
from missions.formats.kml import plan_to_kml, write_kml
from missions.formats.qgc_plan import plan_from_dict, plan_to_dict, read_plan, write_plan
from missions.formats.waypoints import (
    read_waypoints,
    write_fence_waypoints,
    write_rally_waypoints,
    write_waypoints,
)
from missions.items import MissionPlan

__all__ = [
    "LOADABLE_SUFFIXES",
    "SAVABLE_SUFFIXES",
    "load_mission",
    "plan_from_dict",
    "plan_to_dict",
    "plan_to_geojson",
    "plan_to_kml",
    "read_plan",
    "read_waypoints",
    "save_mission",
    "write_fence_waypoints",
    "write_geojson",
    "write_kml",
    "write_plan",
    "write_rally_waypoints",
    "write_waypoints",
]

Extra = Sequence[tuple[BaseGeometry, Mapping[str, Any]]]

_LOADERS: dict[str, Callable[[Path], MissionPlan]] = {
    ".plan": read_plan,
    ".waypoints": read_waypoints,
}
_SAVERS: dict[str, Callable[[Path, MissionPlan, Extra], None]] = {
    ".plan": lambda path, plan, extra: write_plan(path, plan),
    ".waypoints": lambda path, plan, extra: write_waypoints(path, plan),
    ".kml": lambda path, plan, extra: write_kml(path, plan, extra=extra),
    ".geojson": lambda path, plan, extra: write_geojson(path, plan, extra=extra),
}
LOADABLE_SUFFIXES = tuple(_LOADERS)
SAVABLE_SUFFIXES = tuple(_SAVERS)


def save_mission(path: str | os.PathLike[str], plan: MissionPlan, *, extra: Extra = ()) -> Path:
    """Write ``plan`` in the format named by the suffix; ``extra`` is drawn by previews only."""
    path = Path(path)
    saver = _SAVERS.get(path.suffix.lower())
    if saver is None:
        raise PlanFileError(
            f"{path}: cannot save a mission as {_describe(path.suffix)}; "
            f"use one of {', '.join(SAVABLE_SUFFIXES)}"
        )
    saver(path, plan, extra)
    return path


def load_mission(path: str | os.PathLike[str]) -> MissionPlan:
    """Read a ``.plan`` or ``.waypoints`` file into a :class:`MissionPlan`."""
    path = Path(path)
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        preview = suffix in _SAVERS
        why = "is a preview, saved but never read" if preview else "is not a mission format"
        raise PlanFileError(
            f"{path}: cannot load a mission from {_describe(suffix)}: it {why}; "
            f"use one of {', '.join(LOADABLE_SUFFIXES)}"
        )
    return loader(path)


def _describe(suffix: str) -> str:
    return repr(suffix) if suffix else "a file without a suffix"
