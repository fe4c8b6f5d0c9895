"""The root of every error raised by :mod:`simulator`."""

__all__ = ["SimulatorError", "ParameterError", "WorldError", "SimulatorConfigError"]


class SimulatorError(Exception):
    """Base class of all errors raised by the simulator package."""


class ParameterError(SimulatorError):
    """A parameter name, value or parameter file is wrong."""


class WorldError(SimulatorError):
    """The world raster cannot be opened or rendered."""


class SimulatorConfigError(SimulatorError):
    """An option given to the simulator is invalid (home, connection string, wind, speed-up)."""
