"""The root of every error raised by :mod:`missions`."""

__all__ = ["MissionError", "PlanningError", "PlanFileError", "LinkError"]


class MissionError(Exception):
    """Base class of all errors raised by the missions package."""


class PlanningError(MissionError):
    """A route cannot be planned (unreachable cell, impossible settings, battery too small)."""


class PlanFileError(MissionError):
    """A plan file cannot be read or written."""


class LinkError(MissionError):
    """A MAVLink exchange with a vehicle failed; the message names the step."""
