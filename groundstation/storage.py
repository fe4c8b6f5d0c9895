"""The database seam: engine, sessions, Alembic upgrades, the migrated-or-refuse check, seeds.

SQLite (the embedded default) gets WAL, foreign keys and a busy timeout so web threads and job
threads share one file; PostgreSQL is used as is. Policy: the embedded SQLite default is upgraded on
first start; any other database must be upgraded explicitly (`gridpatrol db upgrade`), and the app
refuses to run against an unmigrated one with a message that says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from groundstation.errors import NotMigratedError, StorageError
from groundstation.models import ClassRule, Department

__all__ = [
    "Storage",
    "DEFAULT_DEPARTMENTS",
    "DEFAULT_RULES",
    "seed_defaults",
    "redact_url",
    "normalise_url",
]

#: Responsible units seeded on first upgrade; an admin edits them afterwards.
DEFAULT_DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("urban_management", "城市管理综合行政执法局"),
    ("ecology_environment", "生态环境局"),
    ("agriculture_fisheries", "农业农村局（渔政）"),
)

#: The event table (like 数字城管's): label, name, department code, deadline (amount, unit; see
#: groundstation.workcal), filing and closing standards. A field fire is an emergency: its clock
#: runs around the clock; a building case runs in working days.
DEFAULT_RULES: tuple[tuple[str, str, str, tuple[float, str], str, str], ...] = (
    (
        "illegal_construction",
        "违法建设",
        "urban_management",
        (7.0, "work_days"),
        "未取得规划许可正在施工或已建成的建（构）筑物",
        "已拆除或补办许可，现场复核无违建",
    ),
    (
        "straw_burning",
        "秸秆焚烧",
        "ecology_environment",
        (4.0, "hours"),
        "露天焚烧秸秆，可见明火、烟雾或新鲜过火面",
        "明火熄灭、无复燃，过火地块已清理",
    ),
    (
        "illegal_fishing",
        "违法捕捞",
        "agriculture_fisheries",
        (48.0, "hours"),
        "禁渔区或禁渔期内捕捞，设置地笼、网箱等禁用渔具",
        "渔具已清除，现场复核无捕捞",
    ),
)


def normalise_url(url: str) -> str:
    """``url`` as SQLAlchemy takes it: the ``postgres://`` form (Heroku's, libpq's) names
    PostgreSQL with the psycopg driver (``postgresql+psycopg://``), ``postgres+DRIVER://``
    is ``postgresql+DRIVER://``; any other URL is returned as given."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    backend, plus, driver = scheme.partition("+")
    if backend.lower() != "postgres":
        return url
    return f"postgresql+{driver if plus else 'psycopg'}://{rest}"


def redact_url(url: str) -> str:
    """The database URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _mask_password(url: str) -> str:
    """``url`` with anything between ``user:`` and ``@`` hidden, for a URL SQLAlchemy cannot
    parse (so :func:`redact_url` cannot either)."""
    return re.sub(r"(://[^/@:]*:).*@", r"\1***@", url)


def _reason(exc: BaseException) -> str:
    """The driver's own words for a database error on one line, without SQLAlchemy's wrapping
    ("(psycopg.OperationalError)", "(Background on this error at: https://sqlalche.me/...)")."""
    text = str(getattr(exc, "orig", None) or exc)
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "; ".join(line for line in lines if line) or type(exc).__name__


def _unreachable(url: str, exc: BaseException) -> StorageError:
    """One line for a database that cannot be connected to: missing, or the server unreachable."""
    reason = _reason(exc)
    shown = redact_url(url)
    if missing := re.search(r'database "([^"]*)" does not exist', reason):
        return StorageError(
            f"database {shown} does not exist (create it, e.g. createdb {missing[1]}, "
            "or correct DATABASE_URL)"
        )
    return StorageError(f"database {shown}: cannot connect ({reason})")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # SQLite's own lower() folds ASCII only; the grid filters compare lower(code) with Python's
    # lower(), as PostgreSQL does for any letter ("ＡＢ-01", "Übung-1")
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def seed_defaults(session: Session) -> None:
    """Insert the default departments and event table rows that are missing (idempotent)."""
    departments = {d.code: d for d in session.scalars(select(Department))}
    for code, name in DEFAULT_DEPARTMENTS:
        if code not in departments:
            departments[code] = Department(code=code, name=name)
            session.add(departments[code])
    session.flush()
    existing = set(session.scalars(select(ClassRule.label)))
    for label, name, dept, (amount, unit), filing, closing in DEFAULT_RULES:
        if label not in existing:
            session.add(
                ClassRule(
                    label=label,
                    name=name,
                    department_id=departments[dept].id,
                    deadline_amount=amount,
                    deadline_unit=unit,
                    filing_standard=filing,
                    closing_standard=closing,
                    updated_by="seed",
                )
            )
    session.commit()


class Storage:
    """One database: an engine, a session factory and its migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        url = normalise_url(url)
        self.url = url
        try:
            parsed = make_url(url)
        except (SQLAlchemyError, ValueError) as exc:  # its message repeats the URL and password
            raise StorageError(
                f"DATABASE_URL {_mask_password(url)!r} is not a database URL (expected "
                "dialect://user:password@host:port/database, e.g. "
                "postgresql://gridpatrol@127.0.0.1:5432/gridpatrol, or sqlite:///path.db)"
            ) from exc
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=60)
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:  # unknown dialect or missing driver
            raise StorageError(
                f"DATABASE_URL {redact_url(url)}: cannot use this database ({_reason(exc)})"
            ) from exc
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back on error and always closes."""
        session = self.sessionmaker()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # -- migrations --------------------------------------------------------------------------
    def _alembic_config(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", "groundstation:migrations")
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None, "groundstation/migrations has no revisions"
        return head

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise _unreachable(self.url, exc) from exc

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` and, at the head, seed the default rows."""
        self._migrate(command.upgrade, revision, "upgrade")
        if revision in ("head", self.head_revision()):  # the models describe the head only
            with self.session() as session:
                seed_defaults(session)

    def downgrade(self, revision: str) -> None:
        """Undo the migrations above ``revision`` (rolling a release back)."""
        self._migrate(command.downgrade, revision, "downgrade")

    def _migrate(self, step: Callable[..., None], revision: str, verb: str) -> None:
        """Run Alembic's ``step`` to ``revision`` in one transaction; failures as StorageError."""
        cfg = self._alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                step(cfg, revision)
        except SQLAlchemyError as exc:
            raise StorageError(
                f"database {redact_url(self.url)}: {verb} failed ({_reason(exc)})"
            ) from exc

    def check_migrated(self) -> None:
        """Raise :class:`NotMigratedError` unless the schema is at the head revision."""
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise NotMigratedError(
                f"database {redact_url(self.url)} is at revision {current or 'none (empty)'}, "
                f"this program needs {head}: run `gridpatrol db upgrade` first"
            )

    def dispose(self) -> None:
        self.engine.dispose()
