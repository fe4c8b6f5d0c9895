"""Shared plans for the plan-file tests: one GridPatrol-style survey and one QGC-authored file."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from missions.items import (
    Command,
    FenceCircle,
    FencePolygon,
    Frame,
    MissionItem,
    MissionPlan,
)

HOME = (30.2592211, 120.1301853, 12.5)  # West Lake, Hangzhou; altitude AMSL


def _waypoint(lat: float, lon: float, alt: float = 60.0) -> MissionItem:
    return MissionItem(
        command=Command.NAV_WAYPOINT,
        frame=Frame.GLOBAL_RELATIVE_ALT,
        params=(0.0, 0.0, 0.0, math.nan),
        lat=lat,
        lon=lon,
        alt=alt,
    )


def _do(command: int, *params: float) -> MissionItem:
    padded = (*params, 0.0, 0.0, 0.0, 0.0)[:4]
    return MissionItem(command=command, frame=Frame.MISSION, params=padded)  # type: ignore[arg-type]


def survey_plan() -> MissionPlan:
    """Take off, fly to the first line, trigger every 25 m over three legs, stop, return."""
    return MissionPlan(
        items=(
            MissionItem(command=Command.NAV_TAKEOFF, params=(0.0, 0.0, 0.0, math.nan), alt=40.0),
            _do(Command.DO_CHANGE_SPEED, 1.0, 10.0, -1.0, 0.0),
            _waypoint(30.26012345678901, 120.13123456789012),
            _do(Command.DO_SET_CAM_TRIGG_DIST, 25.0, 0.0, 1.0),
            _waypoint(30.26512345678901, 120.13123456789012),
            _waypoint(30.26512345678901, 120.13623456789012),
            _waypoint(30.26012345678901, 120.13623456789012),
            _do(Command.DO_SET_CAM_TRIGG_DIST, 0.0),
            # An AMSL waypoint: 72.5 m AMSL is 60 m above home.
            MissionItem(
                command=Command.NAV_WAYPOINT,
                frame=Frame.GLOBAL,
                params=(0.0, 0.0, 0.0, math.nan),
                lat=30.2581,
                lon=120.1333,
                alt=72.5,
            ),
            MissionItem(command=Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION),
        ),
        home=HOME,
        fence_polygons=(
            FencePolygon(
                points=((30.255, 120.127), (30.270, 120.127), (30.270, 120.140), (30.255, 120.140)),
                inclusion=True,
            ),
            FencePolygon(
                points=((30.262, 120.137), (30.264, 120.137), (30.264, 120.139)),
                inclusion=False,
            ),
        ),
        fence_circles=(FenceCircle(center=(30.2575, 120.1290), radius_m=80.0, inclusion=False),),
        rally_points=((30.2570, 120.1310, 30.0),),
        cruise_speed_mps=12.0,
        hover_speed_mps=4.0,
        name="西湖网格-01",
    )


@pytest.fixture
def plan() -> MissionPlan:
    return survey_plan()


def _qgc_simple(
    command: int,
    frame: int,
    params: list[float | None],
    jump_id: int,
    *,
    altitude_mode: int | None = 1,
) -> dict[str, Any]:
    """A SimpleItem the way QGroundControl 4.x writes it (extra altitude keys included)."""
    item: dict[str, Any] = {
        "autoContinue": True,
        "command": command,
        "doJumpId": jump_id,
        "frame": frame,
        "params": params,
        "type": "SimpleItem",
    }
    if altitude_mode is not None:
        item["AMSLAltAboveTerrain"] = None
        item["Altitude"] = params[6]
        item["AltitudeMode"] = altitude_mode
    return item


_SURVEY_ITEMS: list[dict[str, Any]] = [
    # What TransectStyleComplexItem::_save stores in "Items": MissionItem::save objects, whose
    # doJumpId is the sequence number. Two transects, trigger on at entry, off at exit.
    {"autoContinue": True, "command": 16, "doJumpId": 2, "frame": 3,
     "params": [0, 0, 0, None, 30.2601234, 120.1312345, 50], "type": "SimpleItem"},
    {"autoContinue": True, "command": 206, "doJumpId": 3, "frame": 2,
     "params": [18.75, 0, 1, 0, 0, 0, 0], "type": "SimpleItem"},
    {"autoContinue": True, "command": 16, "doJumpId": 4, "frame": 3,
     "params": [0, 0, 0, None, 30.2651234, 120.1312345, 50], "type": "SimpleItem"},
    {"autoContinue": True, "command": 16, "doJumpId": 5, "frame": 3,
     "params": [0, 0, 0, None, 30.2651234, 120.1317345, 50], "type": "SimpleItem"},
    {"autoContinue": True, "command": 16, "doJumpId": 6, "frame": 3,
     "params": [0, 0, 0, None, 30.2601234, 120.1317345, 50], "type": "SimpleItem"},
    {"autoContinue": True, "command": 206, "doJumpId": 7, "frame": 2,
     "params": [0, 0, 1, 0, 0, 0, 0], "type": "SimpleItem"},
]

_QGC_SURVEY_PLAN: dict[str, Any] = {
    "fileType": "Plan",
    "geoFence": {
        "circles": [
            {"circle": {"center": [30.2575, 120.129], "radius": 80.5}, "inclusion": False,
             "version": 1}
        ],
        "polygons": [
            {"inclusion": True, "polygon": [[30.255, 120.127], [30.27, 120.127], [30.27, 120.14],
                                             [30.255, 120.14]], "version": 1}
        ],
        "version": 2,
    },
    "groundStation": "QGroundControl",
    "mission": {
        "cruiseSpeed": 15,
        "firmwareType": 3,
        "globalPlanAltitudeMode": 1,
        "hoverSpeed": 5,
        "items": [
            _qgc_simple(22, 3, [0, 0, 0, None, 30.2592211, 120.1301853, 50], 1),
            {
                "TransectStyleComplexItem": {
                    "CameraCalc": {
                        "AdjustedFootprintFrontal": 75.0, "AdjustedFootprintSide": 112.5,
                        "CameraName": "DJI Phantom 4 Pro/Pro2", "DistanceMode": 1,
                        "DistanceToSurface": 50, "FixedOrientation": False, "FocalLength": 8.8,
                        "FrontalOverlap": 75, "ImageDensity": 1.37, "ImageHeight": 3648,
                        "ImageWidth": 5472, "Landscape": True, "MinTriggerInterval": 0,
                        "SensorHeight": 8.8, "SensorWidth": 13.2, "SideOverlap": 70,
                        "ValueSetIsDistance": True, "version": 2,
                    },
                    "CameraShots": 58,
                    "CameraTriggerInTurnAround": True,
                    "HoverAndCapture": False,
                    "Items": _SURVEY_ITEMS,
                    "Refly90Degrees": False,
                    "TurnAroundDistance": 10,
                    "VisualTransectPoints": [[30.2601234, 120.1312345], [30.2651234, 120.1312345],
                                             [30.2651234, 120.1317345], [30.2601234, 120.1317345]],
                    "version": 2,
                },
                "angle": 0,
                "complexItemType": "survey",
                "entryLocation": 0,
                "flyAlternateTransects": False,
                "polygon": [[30.26, 120.131], [30.266, 120.131], [30.266, 120.132],
                            [30.26, 120.132]],
                "splitConcavePolygons": False,
                "type": "ComplexItem",
                "version": 5,
            },
            _qgc_simple(20, 2, [0, 0, 0, 0, 0, 0, 0], 8, altitude_mode=None),
        ],
        "plannedHomePosition": [30.2592211, 120.1301853, 12.5],
        "vehicleType": 2,
        "version": 2,
    },
    "rallyPoints": {"points": [[30.257, 120.131, 30]], "version": 2},
    "version": 1,
}


def qgc_survey_plan() -> dict[str, Any]:
    """A fresh copy of a QGroundControl-written plan: take-off, a survey ComplexItem, RTL."""
    return copy.deepcopy(_QGC_SURVEY_PLAN)


@pytest.fixture
def qgc_survey() -> dict[str, Any]:
    return qgc_survey_plan()
