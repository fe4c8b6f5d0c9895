"""SQLAlchemy 2 typed models: users, grids, flights, photos, findings, tickets and the job table.

Times are stored as UTC and always come back timezone-aware (SQLite keeps no zone). The schema is
owned by the Alembic migrations in ``groundstation/migrations``; a test checks they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "LABELS",
    "TICKET_LABELS",
    "ROLES",
    "MAX_ID",
    "MIN_DATETIME",
    "MAX_DATETIME",
    "utcnow",
    "UTCDateTime",
    "Base",
    "Department",
    "User",
    "ApiKey",
    "SignInFailure",
    "UserSession",
    "ClassRule",
    "Grid",
    "Flight",
    "Photo",
    "Finding",
    "Ticket",
    "TicketEvent",
    "Job",
    "Notification",
    "NoFlyLayer",
    "RoutePlan",
    "FlightSession",
    "Orthomosaic",
]

#: Classifier labels (vision's agreed list); every label but background can become a ticket.
LABELS: tuple[str, ...] = ("illegal_construction", "straw_burning", "illegal_fishing", "background")
TICKET_LABELS: tuple[str, ...] = LABELS[:3]
ROLES: tuple[str, ...] = ("pilot", "supervisor", "department", "admin")

#: The largest value an ``Integer`` column (every id, foreign key and count) holds: PostgreSQL's
#: ``integer`` is signed 32-bit. A larger id names no row; binding it would overflow the driver.
MAX_ID = 2**31 - 1
#: The earliest and latest instants a ``UTCDateTime`` column takes: Python's datetime range less
#: a day at each end, so the same instant can be shown in any timezone without overflowing.
MIN_DATETIME = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
MAX_DATETIME = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and read back timezone-aware on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone")
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"datetime {value!r} is outside the years 1 to 9999 in UTC") from None
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can diff and drop on every backend."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Department(Base):
    """A responsible unit (责任单位) tickets are dispatched to."""

    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(200))


class User(Base):
    """A person who signs in; department users are bound to exactly one department."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    department: Mapped[Department | None] = relationship()

    # Flask-Login's user protocol, spelled out so the model does not import Flask.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    #: The sign-in token this instance was loaded or signed in with (not a column: the
    #: ``user_sessions`` table keeps only its hash; see ``groundstation.user_sessions``).
    session_token = None

    def get_id(self) -> str:
        """What the Flask session keeps: the token of this sign-in's :class:`UserSession`."""
        if not self.session_token:
            raise RuntimeError("sign users in through groundstation.user_sessions (no token)")
        return self.session_token


class ApiKey(Base):
    """A key for Open311 clients and scripts; only its SHA-256 is stored. A name belongs to one
    key that is not revoked: a revoked key's row stays (its record) while a new key takes its
    name, so a city system's key is replaced under the name its tickets are filed by."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index(
            "uq_api_keys_name_active",
            "name",
            unique=True,
            sqlite_where=text("revoked = 0"),
            postgresql_where=text("revoked = false"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user: Mapped[User | None] = relationship()


class UserSession(Base):
    """One browser sign-in: the cookie holds a random token, this row its SHA-256. The session
    lasts while the row does: signing out deletes it, disabling the user or resetting their
    password deletes all of theirs, and rows idle longer than the cookie's lifetime are pruned."""

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # written at most once a minute per session (groundstation.user_sessions.TOUCH_INTERVAL)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SignInFailure(Base):
    """A wrong sign-in, per case-folded user name (known or not) and client address: enough of
    them within ``LOGIN_LOCKOUT_S`` lock that pair (``groundstation.signin_locks``)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_pair", "username", "address", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # the form takes 80 characters; case folding may triple them ("ΐ" folds to three)
    username: Mapped[str] = mapped_column(String(240))
    address: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ClassRule(Base):
    """One event-table row: class → responsible unit, filing and closing standards, deadline."""

    __tablename__ = "class_rules"
    label: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    # the column keeps its first name; since 0006 it holds an amount in ``deadline_unit``
    deadline_amount: Mapped[float] = mapped_column("deadline_hours", Float)
    deadline_unit: Mapped[str] = mapped_column(String(12), default="hours", server_default="hours")
    filing_standard: Mapped[str] = mapped_column(Text, default="")
    closing_standard: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(120))
    department: Mapped[Department] = relationship()


class Grid(Base):
    """A governance grid: its code, WGS84 GeoJSON geometry and bounding box."""

    __tablename__ = "grids"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Flight(Base):
    """The photos of one flight (a folder or a flight log), waiting for or done with ingest."""

    __tablename__ = "flights"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="registered")
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the camera that took the photos (gis.camera.Camera.to_dict()): photos may be stored
    # smaller than the sensor, so their GSD needs the camera, not just the image size
    camera: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # photos not of the camera's image size, found at registration (``{"size": [w, h],
    # "photos": n}``, the most common such size): their GSD is unknown (migration 0014)
    odd_size: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    photos: Mapped[list[Photo]] = relationship(back_populates="flight", order_by="Photo.id")


class Photo(Base):
    """One geotagged photo; ``status`` turns to done in the same commit as its findings."""

    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("flight_id", "path", name="uq_photos_flight_path"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    relative_altitude_m: Mapped[float | None] = mapped_column(Float)
    yaw_deg: Mapped[float | None] = mapped_column(Float)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    #: The name the photo was sent under when its file is stored under another, safe one (an
    #: upload named 航拍_001.jpg is stored as 001-<hash>.jpg); None: the file's own name.
    original_name: Mapped[str | None] = mapped_column(Text)
    #: SHA-256 (hex) of the file as registered: the same photo sent again is found by it; None
    #: for photos registered before it was kept.
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    flight: Mapped[Flight] = relationship(back_populates="photos")

    @property
    def display_name(self) -> str:
        """The photo's name as its owner knows it: the name it was sent under, else its file's."""
        return self.original_name or PurePath(self.path).name


class Finding(Base):
    """What the classifier flagged in a photo, and what a supervisor decided about it."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    label: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    box_px: Mapped[list[float]] = mapped_column(JSON)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    polygon: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    crop_path: Mapped[str | None] = mapped_column(Text)
    review_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reviewed_label: Mapped[str | None] = mapped_column(String(40))
    reviewed_by: Mapped[str | None] = mapped_column(String(120))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    # another photo's view of the object whose primary finding this is (None: a primary);
    # see groundstation.sightings
    sighting_of: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    photo: Mapped[Photo] = relationship()
    grid: Mapped[Grid | None] = relationship()

    @hybrid_property
    def final_label(self) -> str:
        """The class as reviewed: the reviewer's label when there is one (``background`` for a
        rejected false alarm), else the classifier's; the class every page shows. In SQL the
        same expression, so filters and counts by class agree with what the pages show."""
        return self.reviewed_label or self.label

    @final_label.inplace.expression
    @classmethod
    def _final_label_expression(cls) -> Any:
        return func.coalesce(cls.reviewed_label, cls.label)


class Ticket(Base):
    """A case (案件): one finding or one Open311 request run through the ticket state machine."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"), unique=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    label: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(20), default="drone")
    reporter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finding: Mapped[Finding | None] = relationship()
    grid: Mapped[Grid | None] = relationship()
    department: Mapped[Department | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )

    @hybrid_property
    def final_label(self) -> str:
        """The class as reviewed, by the review page's rule (:attr:`Finding.final_label`): its
        finding's reviewed label when there is one (``background`` for a false alarm rejected
        in review, whose ticket keeps the class it was reported as in ``label``), else
        ``label``. The class the ticket pages show and the ticket list filters by."""
        reviewed = self.finding.reviewed_label if self.finding is not None else None
        return reviewed or self.label

    @final_label.inplace.expression
    @classmethod
    def _final_label_expression(cls) -> Any:
        reviewed = (
            select(Finding.reviewed_label).where(Finding.id == cls.finding_id).scalar_subquery()
        )
        return func.coalesce(reviewed, cls.label)


class TicketEvent(Base):
    """One entry of the case archive (一哨一档): who did what to a ticket, when and why."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Job(Base):
    """A durable background job; a running job whose lease expires is picked up again."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notification(Base):
    """The notifier log: every dispatch/escalation message and whether each channel delivered it."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    event: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoFlyLayer(Base):
    """An imported no-fly layer (禁飞区): WGS84 GeoJSON MultiPolygon the planner keeps out of."""

    __tablename__ = "no_fly_layers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    zones: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoutePlan(Base):
    """A saved survey plan: its parameters, summary, map layers and one mission per sortie."""

    __tablename__ = "route_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    grid_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: What the pilot was warned of when the plan was made (``PlanWarning.to_json()`` each);
    #: NULL for plans saved before warnings were stored.
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    layers: Mapped[dict[str, Any]] = mapped_column(JSON)
    missions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlightSession(Base):
    """One flight flown from the flights page: link, state, log and the photos' flight."""

    __tablename__ = "flight_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("route_plans.id"), index=True)
    sortie: Mapped[int] = mapped_column(Integer, default=0)
    connection: Mapped[str] = mapped_column(String(200))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="starting")
    grid_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    area_m2: Mapped[float | None] = mapped_column(Float)
    flight_id: Mapped[int | None] = mapped_column(ForeignKey("flights.id"))
    log_dir: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    landed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the serve process running the session (host:pid:random) and when it last said so: every
    # process keeps one session per vehicle by them (see groundstation.flights.FlightHub)
    alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runner: Mapped[str | None] = mapped_column(String(120))
    plan: Mapped[RoutePlan | None] = relationship()


class Orthomosaic(Base):
    """An uploaded GeoTIFF orthomosaic and its web preview (EPSG:4326 PNG) for the maps."""

    __tablename__ = "orthomosaics"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    band_count: Mapped[int] = mapped_column(Integer)
    crs: Mapped[str] = mapped_column(Text)
    # the preview's WGS84 box (west, south, east, north), i.e. the L.imageOverlay bounds
    west: Mapped[float] = mapped_column(Float)
    south: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)
    preview_path: Mapped[str] = mapped_column(Text)
    preview_width: Mapped[int] = mapped_column(Integer)
    preview_height: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
