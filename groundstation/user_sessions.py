"""Browser sign-ins kept in the database: a session lasts while its :class:`UserSession` row does.

Signing in creates a row and puts a random token (256 bits) in the Flask session; the row keeps
only the token's SHA-256, so a copy of the table signs nobody in. A request's session is accepted
while its row exists, is not idle past the cookie's lifetime and its user is active. Signing out
deletes the row (a copied cookie dies with it); disable-user and reset-password delete every row
of the user, so enable-user brings none back. Expiry follows Flask's permanent session: a cookie
unused for ``PERMANENT_SESSION_LIFETIME`` ends (no absolute limit). ``last_seen_at`` is written at
most once per :data:`TOUCH_INTERVAL` per session, and each sign-in deletes at most
:data:`PRUNE_BATCH` expired rows, so the table holds about the live sessions and work per request
is bounded.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from groundstation.models import User, UserSession, utcnow

__all__ = ["PRUNE_BATCH", "TOUCH_INTERVAL", "UserSessions", "end_user_sessions"]

#: Expired rows one sign-in deletes at most.
PRUNE_BATCH = 100
#: ``last_seen_at`` is written at most this often per session (not on every request).
TOUCH_INTERVAL = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def end_user_sessions(session: Session, user_id: int) -> int:
    """Delete every session of user ``user_id`` (signed out everywhere); return how many.
    Does not commit: the caller commits it with the change that calls for it."""
    result = session.execute(
        delete(UserSession)
        .where(UserSession.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


@dataclass(frozen=True, kw_only=True)
class UserSessions:
    """Sessions that end after ``lifetime`` without use (Flask's ``PERMANENT_SESSION_LIFETIME``)."""

    lifetime: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UserSessions:
        lifetime = config["PERMANENT_SESSION_LIFETIME"]
        if not isinstance(lifetime, timedelta):  # Flask takes seconds too
            lifetime = timedelta(seconds=float(lifetime))
        return cls(lifetime=lifetime)

    def _cutoff(self, now: datetime) -> datetime:
        """Rows last seen at or before this are dead. The cookie may have been re-sent up to a
        :data:`TOUCH_INTERVAL` after ``last_seen_at`` was written, so that much is added."""
        return now - self.lifetime - TOUCH_INTERVAL

    def start(self, session: Session, user: User, *, now: datetime | None = None) -> str:
        """Record a new sign-in of ``user``, prune expired rows, commit ``session``; return the
        token for the Flask session (also set as ``user.session_token``)."""
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        session.add(
            UserSession(token_hash=_hash(token), user_id=user.id, created_at=now, last_seen_at=now)
        )
        self.prune(session, now=now)
        session.commit()
        user.session_token = token
        return token

    def resume(self, session: Session, token: str, *, now: datetime | None = None) -> User | None:
        """The user of the session with ``token`` while it lasts and they are active, else
        None. Notes the use (and commits ``session``) at most once per :data:`TOUCH_INTERVAL`."""
        if not isinstance(token, str) or not token:
            return None
        now = now or utcnow()
        found = session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == _hash(token))
        ).first()
        if found is None:
            return None
        row, user = found
        if not user.active or row.last_seen_at <= self._cutoff(now):
            return None
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            row.last_seen_at = now
            session.commit()
        user.session_token = token
        return user

    def end(self, session: Session, token: str) -> None:
        """Sign out the session with ``token`` (its cookie, and every copy, stops working);
        commits ``session``."""
        session.execute(
            delete(UserSession)
            .where(UserSession.token_hash == _hash(token))
            .execution_options(synchronize_session=False)
        )
        session.commit()

    def prune(self, session: Session, *, now: datetime | None = None) -> int:
        """Delete at most :data:`PRUNE_BATCH` expired rows, oldest first; return how many. Does
        not commit."""
        stale = (
            select(UserSession.id)
            .where(UserSession.last_seen_at <= self._cutoff(now or utcnow()))
            .order_by(UserSession.last_seen_at)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL: never wait on another pruner
        )
        result = session.execute(
            delete(UserSession)
            .where(UserSession.id.in_(stale))
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0
