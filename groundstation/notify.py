"""Pluggable notifiers for dispatch and escalation: a log notifier and a webhook notifier.

Every delivery attempt is written to the notifier log (the ``notifications`` table), so a failed
webhook is visible and never rolls back the ticket change that caused it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from groundstation.errors import ConfigError
from groundstation.models import Notification

__all__ = [
    "Message",
    "Notifier",
    "LogNotifier",
    "WebhookNotifier",
    "NotifierHub",
    "build_notifiers",
]

log = logging.getLogger("gridpatrol.notify")


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: what happened to which ticket, in words and as data."""

    event: str  # "dispatched" | "escalated" | ...
    ticket_id: int
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    """Sends one message; raises on failure."""

    name: str

    def send(self, message: Message) -> None: ...


class LogNotifier:
    """Writes messages to the ``gridpatrol.notify`` logger."""

    name = "log"

    def send(self, message: Message) -> None:
        log.info("ticket %s %s: %s", message.ticket_id, message.event, message.text)


class WebhookNotifier:
    """POSTs each message as JSON to a URL (e.g. a DingTalk/WeCom robot relay)."""

    name = "webhook"

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, opener: Callable[..., Any] | None = None
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"WEBHOOK_URL {url!r}: must be an http(s) URL")
        self.url = url
        self.timeout_s = timeout_s
        self._open = opener or urllib.request.urlopen

    def send(self, message: Message) -> None:
        body = json.dumps(asdict(message), ensure_ascii=False, default=str).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        with self._open(request, timeout=self.timeout_s) as response:
            status = getattr(response, "status", 200)
            if status >= 400:
                raise OSError(f"webhook {self.url} answered HTTP {status}")


class NotifierHub:
    """Delivers messages through every configured notifier and logs each attempt."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = tuple(notifiers)

    def deliver(self, session: Session, messages: Sequence[Message]) -> None:
        for message in messages:
            for notifier in self.notifiers:
                error = None
                try:
                    notifier.send(message)
                except Exception as exc:  # a notifier must never break a ticket change
                    error = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "notifier %s failed for ticket %s: %s",
                        notifier.name,
                        message.ticket_id,
                        error,
                    )
                session.add(
                    Notification(
                        channel=notifier.name,
                        event=message.event,
                        ticket_id=message.ticket_id,
                        payload={"text": message.text, **message.data},
                        ok=error is None,
                        error=error,
                    )
                )
        session.commit()


def build_notifiers(
    names: str, *, webhook_url: str | None = None, webhook_timeout_s: float = 5.0
) -> NotifierHub:
    """A hub from the NOTIFIERS setting, e.g. ``"log,webhook"``."""
    notifiers: list[Notifier] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name == "log":
            notifiers.append(LogNotifier())
        elif name == "webhook":
            if not webhook_url:
                raise ConfigError("NOTIFIERS includes webhook but WEBHOOK_URL is not set")
            notifiers.append(WebhookNotifier(webhook_url, timeout_s=webhook_timeout_s))
        else:
            raise ConfigError(f"NOTIFIERS: unknown notifier {name!r} (known: log, webhook)")
    return NotifierHub(notifiers)
