"""The root of every error raised by :mod:`groundstation`."""

__all__ = [
    "GroundStationError",
    "ConfigError",
    "StorageError",
    "NotMigratedError",
    "NotFoundError",
    "ValidationError",
    "TooLargeError",
    "TransitionError",
    "StaleError",
    "PermissionDenied",
    "JobError",
    "IngestError",
]


class GroundStationError(Exception):
    """Base class of all errors raised by the groundstation package."""


class ConfigError(GroundStationError):
    """The configuration (data dir, DATABASE_URL, REDIS_URL, a setting) is unusable."""


class StorageError(GroundStationError):
    """The database cannot be reached, migrated or written."""


class NotMigratedError(StorageError):
    """The database schema is older than this program: run `gridpatrol db upgrade`."""


class NotFoundError(GroundStationError):
    """An id (ticket, finding, grid, user, flight) names nothing stored."""


class ValidationError(GroundStationError):
    """Input is malformed or out of range; nothing was stored."""


class TooLargeError(ValidationError):
    """An uploaded file is larger than its configured limit; nothing was stored."""


class TransitionError(GroundStationError):
    """A ticket cannot move from its current state by the requested action."""


class StaleError(TransitionError):
    """Another user changed the record since the acting user read it; nothing was changed."""


class PermissionDenied(GroundStationError):
    """The acting user's role (or department) may not do this."""


class JobError(GroundStationError):
    """A background job could not be queued, run or found."""


class IngestError(GroundStationError):
    """A flight's photos cannot be registered or classified."""
