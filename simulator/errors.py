"""The root of every error raised by :mod:`simulator`."""

__all__ = ["SimulatorError"]


class SimulatorError(Exception):
    """Base class of all errors raised by the simulator package."""
