"""Typed link errors: each a :class:`missions.errors.LinkError` whose message names the step."""

from __future__ import annotations

from gis.messages import Message, msg
from missions.errors import LinkError

__all__ = [
    "ArmRefused",
    "CommandRefused",
    "ConnectionStringError",
    "FlightAborted",
    "Interrupted",
    "LinkConnectError",
    "LinkError",
    "LinkLost",
    "LinkTimeout",
    "MissionTransferError",
    "PreflightError",
    "Step",
    "StoppedAgain",
    "stop_reason",
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
    flight, a timeout while flying, or the operator's stop (:class:`Interrupted`)."""

    def __init__(self, message: str | Message, *, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class Interrupted(KeyboardInterrupt):
    """The operator stopped a command from outside: Ctrl-C, or a stop signal (SIGTERM from
    ``timeout`` or systemd, SIGHUP from a closed SSH session). A KeyboardInterrupt, so that it
    ends every wait as Ctrl-C does and no ``except Exception`` swallows it; ``reason`` says what
    happened in words (``interrupted (Ctrl-C)``, ``stopped by signal SIGTERM``)."""

    def __init__(self, reason: Message, *, signal_name: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.signal_name = signal_name

    def __str__(self) -> str:
        return str(self.reason)

    @classmethod
    def by_signal(cls, signal_name: str) -> Interrupted:
        """The stop that signal ``signal_name`` (``SIGINT``, ``SIGTERM``, ...) means."""
        return cls(stop_reason(signal_name), signal_name=signal_name)


def stop_reason(signal_name: str) -> Message:
    """What a stop signal means, in words: ``interrupted (Ctrl-C)`` for SIGINT, else
    ``stopped by signal SIGTERM`` (a Python exception name says nothing to a pilot)."""
    if signal_name == "SIGINT":
        return msg("interrupted (Ctrl-C)")
    return msg("stopped by signal %(signal)s", signal=signal_name)


class StoppedAgain(Interrupted):
    """A second stop came while the first was being handled (the vehicle being told to
    return, the log written): the command exits at once without waiting for the vehicle."""
