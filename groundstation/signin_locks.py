"""Sign-in locks: failed sign-ins per (case-folded user name, client address), kept in the
database, so every `serve` process and host on it shares them and a restart forgets none.

What is guaranteed: an attempt is counted as a failure *before* its password is checked, in a
transaction serialised per pair (a PostgreSQL advisory lock; SQLite's write lock), and forgotten
only when the password proves right. So however many requests arrive at once, from however many
processes, at most ``limit`` passwords of one pair are checked within any ``window_s`` seconds
(given hosts whose clocks agree). An attempt whose process dies before the check stays a failure.
The table holds about one window's failures: each counted attempt deletes its pair's expired rows
and at most :data:`PRUNE_BATCH` expired rows of other pairs, so work per request is bounded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from groundstation.models import SignInFailure, utcnow

__all__ = ["PRUNE_BATCH", "Attempt", "Cleared", "UserLock", "SignInLocks"]

#: Expired failures of other pairs one counted attempt deletes at most.
PRUNE_BATCH = 100

_NAME_LENGTH = SignInFailure.__table__.c.username.type.length
_ADDRESS_LENGTH = SignInFailure.__table__.c.address.type.length


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt: counted as failure ``failure_id`` until its password proves right, or
    refused (``failure_id`` None) while its pair is locked, until ``retry_at``."""

    failure_id: int | None
    retry_at: datetime | None = None

    @property
    def refused(self) -> bool:
        return self.failure_id is None


@dataclass(frozen=True)
class Cleared:
    """What clearing a user's failures removed: the addresses they came from, and how many of
    those were locked."""

    addresses: int
    locked: int


@dataclass(frozen=True)
class UserLock:
    """A user name locked from ``addresses`` client addresses, the last of them until ``until``."""

    addresses: int
    until: datetime


def _pair(name: str, address: str) -> tuple[str, str]:
    return name.casefold()[:_NAME_LENGTH], address[:_ADDRESS_LENGTH]


def _of_pair(name: str, address: str) -> ColumnElement[bool]:
    return (SignInFailure.username == name) & (SignInFailure.address == address)


@dataclass(frozen=True, kw_only=True)
class SignInLocks:
    """The lockout rule: ``limit`` failures of one pair within ``window_s`` seconds lock that
    pair until the oldest of them is ``window_s`` old."""

    limit: int
    window_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SignInLocks:
        """The rule of ``LOGIN_MAX_FAILURES`` and ``LOGIN_LOCKOUT_S``."""
        return cls(
            limit=int(config["LOGIN_MAX_FAILURES"]), window_s=float(config["LOGIN_LOCKOUT_S"])
        )

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_s)

    def attempt(
        self, session: Session, name: str, address: str, *, now: datetime | None = None
    ) -> Attempt:
        """Refuse the pair while it is locked; else count this attempt as a failure. Commits
        ``session`` (use one of its own: the lock is held only to the commit)."""
        now = now or utcnow()
        cutoff = now - self.window
        name, address = _pair(name, address)
        if session.get_bind().dialect.name == "postgresql":
            digest = hashlib.blake2b(f"{name}\0{address}".encode(), digest_size=8).digest()
            key = int.from_bytes(digest, "big", signed=True)
            session.execute(select(func.pg_advisory_xact_lock(key)))
        # on SQLite this delete, a write, takes the database's write lock until the commit
        session.execute(
            delete(SignInFailure)
            .where(_of_pair(name, address), SignInFailure.at <= cutoff)
            .execution_options(synchronize_session=False)
        )
        recent = session.scalars(
            select(SignInFailure.at)
            .where(_of_pair(name, address), SignInFailure.at > cutoff)
            .order_by(SignInFailure.at.desc())
            .limit(max(self.limit, 1))
        ).all()
        if len(recent) >= self.limit:
            session.commit()
            # locked until the limit-th newest failure leaves the window
            return Attempt(None, (recent[-1] if recent else now) + self.window)
        failure = SignInFailure(username=name, address=address, at=now)
        session.add(failure)
        stale = (
            select(SignInFailure.id)
            .where(SignInFailure.at <= cutoff)
            .order_by(SignInFailure.at)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL: never wait on another pruner
        )
        session.execute(
            delete(SignInFailure)
            .where(SignInFailure.id.in_(stale))
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return Attempt(failure.id)

    def succeeded(self, session: Session, name: str, address: str) -> None:
        """A right password: forget every failure of the pair."""
        name, address = _pair(name, address)
        session.execute(delete(SignInFailure).where(_of_pair(name, address)))
        session.commit()

    def withdraw(self, session: Session, attempt: Attempt) -> None:
        """Forget one counted attempt that was no wrong password (a disabled user's right one)."""
        if attempt.failure_id is not None:
            session.execute(delete(SignInFailure).where(SignInFailure.id == attempt.failure_id))
            session.commit()

    def locked_users(
        self, session: Session, names: Iterable[str], *, now: datetime | None = None
    ) -> dict[str, UserLock]:
        """Which of ``names`` are locked now, from any address, keyed by the name as given."""
        now = now or utcnow()
        folded = {name.casefold()[:_NAME_LENGTH]: name for name in names}
        counts: dict[tuple[str, str], list[datetime]] = {}
        for name, address, at in session.execute(
            select(SignInFailure.username, SignInFailure.address, SignInFailure.at)
            .where(SignInFailure.username.in_(folded), SignInFailure.at > now - self.window)
            .order_by(SignInFailure.at.desc())
        ):
            counts.setdefault((name, address), []).append(at)
        locks: dict[str, UserLock] = {}
        for (name, _address), times in counts.items():
            if len(times) < max(self.limit, 1):
                continue
            until = times[max(self.limit, 1) - 1] + self.window
            before = locks.get(folded[name])
            locks[folded[name]] = UserLock(
                addresses=(before.addresses if before else 0) + 1,
                until=max(until, before.until) if before else until,
            )
        return locks

    def clear_user(self, session: Session, name: str, *, now: datetime | None = None) -> Cleared:
        """Forget every failure of user ``name``, from every address (an administrator's
        unlock); commits ``session``."""
        now = now or utcnow()
        locked = self.locked_users(session, [name], now=now).get(name)
        folded = name.casefold()[:_NAME_LENGTH]
        addresses = session.scalar(
            select(func.count(func.distinct(SignInFailure.address))).where(
                SignInFailure.username == folded, SignInFailure.at > now - self.window
            )
        )
        session.execute(delete(SignInFailure).where(SignInFailure.username == folded))
        session.commit()
        return Cleared(addresses=addresses or 0, locked=locked.addresses if locked else 0)
