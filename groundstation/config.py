"""Ground-station configuration: defaults, the data dir, DATABASE_URL and REDIS_URL.

Precedence for every setting: explicit overrides (tests, CLI options) > environment > defaults.
The data dir is ``--data-dir``, else ``GRIDPATROL_DATA_DIR``, else a per-user data dir; it holds the
SQLite database (unless ``DATABASE_URL`` names another), photos, crops, evidence and the secret key.
"""

from __future__ import annotations

import math
import os
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import platformdirs

from groundstation.errors import ConfigError
from groundstation.workcal import WorkCalendar, parse_dates, parse_periods

__all__ = [
    "DEFAULTS",
    "REDIS_SCHEMES",
    "resolve_data_dir",
    "build_config",
    "check_redis_url",
    "redacted_url",
    "work_calendar",
]

#: Defaults for every setting the app reads (immutable, like Flask's ``default_config``).
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "DATABASE_URL": None,  # None: SQLite file <data dir>/gridpatrol.sqlite3
        "REDIS_URL": None,  # None: durable in-process worker threads; set: Celery on Redis
        "AUTO_MIGRATE": None,  # None: migrate on start only for the embedded SQLite default
        "JOB_WORKERS": 2,  # in-process worker threads started by create_app (0: none)
        "JOB_LEASE_S": 120.0,  # a running job whose lease expired is picked up again
        "JOB_POLL_S": 0.5,
        "CELERY_VISIBILITY_TIMEOUT_S": 600,  # Redis redelivers a dead worker's job after this
        "CELERY_RESTORE_INTERVAL_S": 10,
        "CELERY_QUEUE": "gridpatrol",
        # server folders the API may ingest from, a list (env: joined by os.pathsep, like PATH);
        # None: <data dir>/photos, where uploads go
        "PHOTO_ROOTS": None,
        "ESCALATION_INTERVAL_S": 300.0,  # how often the overdue-ticket job is queued (0: never)
        "CLASSIFIER": None,  # "module:factory" making a classify_image() object; None: vision
        "NOTIFIERS": "log",  # comma-separated: log, webhook, wecom, dingtalk
        # a failed webhook/robot notice is sent again by a job this many times (0: never), the
        # first retry after NOTIFY_RETRY_S seconds and each next one after 4 times as long
        "NOTIFY_RETRIES": 3,
        "NOTIFY_RETRY_S": 30.0,
        "WEBHOOK_URL": None,
        "WEBHOOK_TIMEOUT_S": 5.0,  # every HTTP notifier (webhook and the chat robots)
        "WECOM_WEBHOOK_URL": None,  # 企业微信群机器人: .../cgi-bin/webhook/send?key=KEY
        "DINGTALK_WEBHOOK_URL": None,  # 钉钉自定义机器人: .../robot/send?access_token=TOKEN
        "DINGTALK_SECRET": None,  # the robot's 加签 secret (SEC...); None: unsigned
        "PUBLIC_BASE_URL": None,  # e.g. https://gp.example.gov.cn; chat messages link tickets
        "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,  # whole request
        "MAX_IMAGE_BYTES": 25 * 1024 * 1024,  # one uploaded photo / evidence image
        "MAX_IMAGE_PIXELS": 64_000_000,  # its pixels, read from the header before decoding
        "MAX_GRID_FILE_BYTES": 20 * 1024 * 1024,
        "MAX_ORTHOMOSAIC_BYTES": 2 * 1024**3,  # one uploaded GeoTIFF orthomosaic
        "MAX_ORTHOMOSAIC_PIXELS": 400_000_000,  # its declared pixels (see groundstation.imagery)
        "TIMEZONE": "Asia/Shanghai",
        # the working calendar deadlines count on (groundstation.workcal): office periods, and
        # public holidays / make-up working days (调休) as ISO dates or ranges A..B, comma-separated
        "WORK_PERIODS": "08:30-12:00,13:30-17:30",
        "WORK_HOLIDAYS": "",
        "WORK_MAKEUP_DAYS": "",
        "BABEL_DEFAULT_LOCALE": "zh",
        "LANGUAGES": ("zh", "en"),
        "WTF_CSRF_TIME_LIMIT": None,  # token valid for the session
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,  # set (env 1) when the station is served over HTTPS
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),  # a session unused this long ends
        "LOGIN_MAX_FAILURES": 5,  # failed sign-ins per user name and address ...
        "LOGIN_LOCKOUT_S": 900.0,  # ... within this many seconds lock that pair this long
        # reverse proxies (HTTPS terminators) in front of the station whose X-Forwarded-For/
        # -Proto/-Host it trusts: 0 takes the peer address as the client's (never trust a
        # header a client can forge); 1 behind one nginx, so sign-in locks go by real address
        "PROXY_HOPS": 0,
        "OPEN311_JURISDICTION": "gridpatrol",
        "OPEN311_MAX_REQUESTS_PER_HOUR": 500,  # service requests one api_key may file an hour
        # True: Open311 requests are readable without an api_key, GeoReport's public fields only
        "OPEN311_PUBLIC_READS": False,
    }
)


def _positive_int(value: str) -> int:
    """A size limit (bytes or pixels) from the environment: a whole number above 0."""
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError("not a whole number of bytes or pixels (e.g. 1000000)") from None
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def _flag(value: str) -> bool:
    """A yes/no setting from the environment: 1/true/yes/on or 0/false/no/off."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a yes/no value: 1/true/yes/on or 0/false/no/off")


def _count(value: str, *, what: str, example: int = 1, minimum: int = 0) -> int:
    """A count from the environment: a whole number, ``minimum`` or more."""
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"not a whole number of {what} (e.g. {example})") from None
    if number < minimum:
        raise ValueError(f"must be a whole number of {what}, {minimum} or more")
    return number


def _seconds(value: str, *, example: float, zero: str | None = None) -> float:
    """A duration from the environment: a number of seconds above 0, or 0 too when ``zero``
    says what 0 means (e.g. "never")."""
    try:
        number = float(value.strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"not a number of seconds (e.g. {example:g})")
    if zero is not None and number < 0:
        raise ValueError(f"must be a number of seconds, 0 or more (0: {zero})")
    if zero is None and number <= 0:
        raise ValueError("must be a number of seconds above 0")
    return number


_ENV_KEYS: dict[str, Callable[[str], Any]] = {
    "DATABASE_URL": str,
    "REDIS_URL": str,
    "WEBHOOK_URL": str,
    "WECOM_WEBHOOK_URL": str,
    "DINGTALK_WEBHOOK_URL": str,
    "DINGTALK_SECRET": str,
    "PUBLIC_BASE_URL": str,
    "NOTIFIERS": str,
    "NOTIFY_RETRIES": lambda value: _count(value, what="retries", example=3),
    "NOTIFY_RETRY_S": lambda value: _seconds(value, example=30),
    "CLASSIFIER": str,
    "PHOTO_ROOTS": lambda value: [p.strip() for p in value.split(os.pathsep) if p.strip()],
    "JOB_WORKERS": lambda value: _count(value, what="worker threads", example=2),
    "JOB_LEASE_S": lambda value: _seconds(value, example=120),
    "ESCALATION_INTERVAL_S": lambda value: _seconds(value, example=300, zero="never"),
    "OPEN311_MAX_REQUESTS_PER_HOUR": lambda value: _count(
        value, what="requests an hour", example=500
    ),
    "OPEN311_PUBLIC_READS": _flag,
    "CELERY_QUEUE": str,
    "CELERY_VISIBILITY_TIMEOUT_S": lambda value: _count(
        value, what="seconds", example=600, minimum=1
    ),
    "CELERY_RESTORE_INTERVAL_S": lambda value: _count(value, what="seconds", example=10, minimum=1),
    "TIMEZONE": str,
    "WORK_PERIODS": str,
    "WORK_HOLIDAYS": str,
    "WORK_MAKEUP_DAYS": str,
    "SESSION_COOKIE_SECURE": _flag,
    "LOGIN_MAX_FAILURES": lambda value: _count(value, what="failed sign-ins", example=5, minimum=1),
    "LOGIN_LOCKOUT_S": lambda value: _seconds(value, example=900),
    "PROXY_HOPS": lambda value: _count(value, what="proxies in front of the station"),
    "MAX_CONTENT_LENGTH": _positive_int,
    "MAX_IMAGE_BYTES": _positive_int,
    "MAX_IMAGE_PIXELS": _positive_int,
    "MAX_GRID_FILE_BYTES": _positive_int,
    "MAX_ORTHOMOSAIC_BYTES": _positive_int,
    "MAX_ORTHOMOSAIC_PIXELS": _positive_int,
}


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The data dir: the explicit one, else ``GRIDPATROL_DATA_DIR``, else the per-user data dir."""
    env = os.environ if environ is None else environ
    if data_dir is not None:
        path = Path(data_dir)
    elif env.get("GRIDPATROL_DATA_DIR"):
        path = Path(env["GRIDPATROL_DATA_DIR"])
    else:
        path = Path(platformdirs.user_data_dir("gridpatrol", appauthor=False))
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"data dir {path}: cannot create it ({exc})") from exc
    return path


def _secret_key(data_dir: Path, env: Mapping[str, str]) -> str:
    """``GRIDPATROL_SECRET_KEY``, else a random key kept in ``<data dir>/secret_key`` (0600).

    Processes starting together on a shared data dir all get the same, complete key: it is
    written to a private temporary file that is then linked into place (atomic, first one wins).
    """
    if env.get("GRIDPATROL_SECRET_KEY"):
        return env["GRIDPATROL_SECRET_KEY"]
    path = data_dir / "secret_key"
    try:
        if not path.exists():
            tmp = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process linked its key first: use that one
            finally:
                tmp.unlink()
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"secret key {path}: {exc}") from exc
    if not key:
        raise ConfigError(f"secret key {path} is empty: delete it or set GRIDPATROL_SECRET_KEY")
    return key


def build_config(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The full settings dict for :func:`groundstation.app.create_app`."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    config: dict[str, Any] = dict(DEFAULTS)
    for key, kind in _ENV_KEYS.items():
        if env.get(key):
            try:
                config[key] = kind(env[key])
            except ValueError as exc:
                raise ConfigError(f"environment {key}={env[key]!r}: {exc}") from exc
    root = resolve_data_dir(overrides.pop("DATA_DIR", data_dir), environ=env)
    config["DATA_DIR"] = str(root)
    config.update(overrides)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{root / 'gridpatrol.sqlite3'}"
        embedded = True
    else:
        embedded = False
    if config["AUTO_MIGRATE"] is None:
        config["AUTO_MIGRATE"] = embedded
    if config.get("REDIS_URL"):
        check_redis_url(config["REDIS_URL"])
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _secret_key(root, env)
    for sub in ("photos", "crops", "evidence", "uploads", "logs"):
        (root / sub).mkdir(exist_ok=True)
    return config


#: The URL schemes REDIS_URL may use: plain Redis and Redis over TLS.
REDIS_SCHEMES: tuple[str, ...] = ("redis", "rediss")


def redacted_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages and logs."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def check_redis_url(url: str) -> None:
    """A clear :class:`ConfigError` unless ``url`` reads ``redis://[:password@]host[:port][/db]``
    (``rediss://`` for TLS)."""
    expected = "expected redis://host:port/db, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS)"
    shown = repr(redacted_url(url))
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port  # a port that is no number (or out of range) raises here
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL {shown}: {exc}; {expected}") from None
    if parts.scheme not in REDIS_SCHEMES:
        scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ConfigError(f"REDIS_URL {shown}: {scheme}; {expected}")
    if not parts.hostname:
        raise ConfigError(f"REDIS_URL {shown}: no host; {expected}")
    if port == 0:
        raise ConfigError(f"REDIS_URL {shown}: port 0; {expected}")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(f"REDIS_URL {shown}: database {db!r} is not a number; {expected}")


def work_calendar(config: Mapping[str, Any]) -> WorkCalendar:
    """The working calendar the settings describe; a clear :class:`ConfigError` if they are bad."""

    def dates(key: str) -> frozenset:
        value = config.get(key) or ()
        items = value.split(",") if isinstance(value, str) else value
        return parse_dates(i for i in items if str(i).strip())

    try:
        return WorkCalendar(
            timezone=config["TIMEZONE"],
            periods=parse_periods(config["WORK_PERIODS"]),
            holidays=dates("WORK_HOLIDAYS"),
            workdays=dates("WORK_MAKEUP_DAYS"),
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"working calendar: {exc}") from None
