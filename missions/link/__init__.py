"""The MAVLink link to vehicles: the only place (besides the simulator) that speaks pymavlink.

Most callers need only :func:`connect` and the verbs of :class:`Vehicle`, or :func:`fly` for a
whole sortie::

    with connect("tcp:127.0.0.1:5760") as vehicle:
        vehicle.upload(plan)
        vehicle.verify(plan)
        result = fly(vehicle, plan, log_dir="flight-logs/2024-05-01")
"""

from missions.link.connection import Endpoint, Link, open_link, parse_connection_string
from missions.link.errors import (
    ArmRefused,
    CommandRefused,
    ConnectionStringError,
    FlightAborted,
    LinkConnectError,
    LinkError,
    LinkTimeout,
    MissionTransferError,
    PreflightError,
    UnsafePlan,
    VehicleArmed,
    VerifyError,
)
from missions.link.flight import FlightResult, fly
from missions.link.telemetry import CameraEvent, FlightLog, Telemetry
from missions.link.transfer import TransferSettings, VehicleLists, compare_items
from missions.link.vehicle import Vehicle, VehicleSettings, connect

__all__ = [
    "ArmRefused",
    "CameraEvent",
    "CommandRefused",
    "ConnectionStringError",
    "Endpoint",
    "FlightAborted",
    "FlightLog",
    "FlightResult",
    "Link",
    "LinkConnectError",
    "LinkError",
    "LinkTimeout",
    "MissionTransferError",
    "PreflightError",
    "Telemetry",
    "TransferSettings",
    "UnsafePlan",
    "Vehicle",
    "VehicleArmed",
    "VehicleLists",
    "VehicleSettings",
    "VerifyError",
    "compare_items",
    "connect",
    "fly",
    "open_link",
    "parse_connection_string",
]
