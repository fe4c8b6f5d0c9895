"""Typed link errors: each a :class:`missions.errors.LinkError` whose message names the step."""

from __future__ import annotations

from gis.messages import Message
from missions.errors import LinkError

__all__ = [
    "ArmRefused",
    "CommandRefused",
    "ConnectionStringError",
    "FlightAborted",
    "LinkConnectError",
    "LinkError",
    "LinkLost",
    "LinkTimeout",
    "MissionTransferError",
    "PreflightError",
    "Step",
    "UnsafePlan",
    "VehicleArmed",
    "VerifyError",
]

#: The step an error names: plain text, or a translatable :class:`~gis.messages.Message` (the
#: ground station shows it in its reader's language; ``str()`` gives English).
Step = str | Message


class ConnectionStringError(LinkError):
    """A connection string cannot be parsed (unknown scheme, missing port, bad baud rate)."""


class LinkConnectError(LinkError):
    """The transport cannot be opened (refused TCP connection, busy serial port, bad address)."""


class LinkLost(LinkConnectError):
    """An open link dropped: the vehicle (or a relay on the way) closed the TCP connection, or
    the transport failed. The vehicle flies on; :meth:`~missions.link.vehicle.Vehicle.reconnect`
    opens the link again."""


class LinkTimeout(LinkError):
    """The vehicle did not answer within the step's timeout, after every retry."""


class MissionTransferError(LinkError):
    """The vehicle refused a mission, fence or rally transfer with a MAV_MISSION_RESULT code."""

    def __init__(self, message: str | Message, *, result: int) -> None:
        super().__init__(message)
        self.result = result


class VerifyError(LinkError):
    """The list read back differs from the plan; the message names the first differing item."""

    def __init__(self, message: str | Message, *, index: int | None) -> None:
        super().__init__(message)
        self.index = index


class UnsafePlan(LinkError):
    """A plan refused before anything is sent: e.g. a waypoint altitude outside the planner's
    limits; the message names the item."""


class VehicleArmed(LinkError):
    """An upload refused because the vehicle is armed: a flying vehicle's mission and fence are
    never overwritten."""


class CommandRefused(LinkError):
    """A COMMAND_LONG was answered with a result other than ACCEPTED."""

    def __init__(
        self, message: str | Message, *, result: int, status_texts: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.result = result
        self.status_texts = status_texts


class ArmRefused(CommandRefused):
    """The vehicle refused to arm; ``status_texts`` carries its PreArm reasons."""


class PreflightError(LinkError):
    """A pre-flight check failed; the message lists every failed check."""

    def __init__(self, message: str | Message, *, failed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.failed = failed


class FlightAborted(LinkError):
    """The flight ended early: a failsafe, a disarm in the air, a vehicle that rebooted in
    flight, or a timeout while flying."""

    def __init__(self, message: str | Message, *, result: object = None) -> None:
        super().__init__(message)
        self.result = result
