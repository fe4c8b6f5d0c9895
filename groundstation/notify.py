"""Pluggable notifiers for dispatch and escalation: a log notifier, a webhook notifier and the group
robots of WeCom (企业微信) and DingTalk (钉钉).

Every delivery attempt is written to the notifier log (the ``notifications`` table), so a failed
webhook is visible and never rolls back the ticket change that caused it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from groundstation.errors import ConfigError
from groundstation.models import ClassRule, Notification, Ticket

__all__ = [
    "Message",
    "Notifier",
    "LogNotifier",
    "WebhookNotifier",
    "WeComNotifier",
    "DingTalkNotifier",
    "NotifierHub",
    "chat_markdown",
    "build_notifiers",
    "notifiers_from_config",
]

log = logging.getLogger("gridpatrol.notify")


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: what happened to which ticket, in words and as data.

    ``ticket`` holds the ticket's facts at delivery time (``class_name``, ``grid``, ``department``,
    ``deadline``), filled in by :class:`NotifierHub` for the chat robots.
    """

    event: str  # "dispatched" | "escalated" | ...
    ticket_id: int
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    ticket: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    """Sends one message; raises on failure."""

    name: str

    def send(self, message: Message) -> None: ...


class LogNotifier:
    """Writes messages to the ``gridpatrol.notify`` logger."""

    name = "log"

    def send(self, message: Message) -> None:
        log.info("ticket %s %s: %s", message.ticket_id, message.event, message.text)


def _post_json(
    opener: Callable[..., Any], url: str, payload: Any, *, timeout_s: float
) -> tuple[int, bytes]:
    """POST ``payload`` as UTF-8 JSON; the HTTP status and the body of the answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False, default=str).encode(),
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    with opener(request, timeout=timeout_s) as response:
        return getattr(response, "status", 200), response.read()


def _check_url(setting: str, url: str, *, show: bool = True) -> None:
    if not url.startswith(("http://", "https://")):
        shown = f" {url!r}" if show else ""
        raise ConfigError(f"{setting}{shown}: must be an http(s) URL")


class WebhookNotifier:
    """POSTs each message as JSON to a URL (e.g. a DingTalk/WeCom robot relay)."""

    name = "webhook"

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, opener: Callable[..., Any] | None = None
    ) -> None:
        _check_url("WEBHOOK_URL", url)
        self.url = url
        self.timeout_s = timeout_s
        self._open = opener or urllib.request.urlopen

    def send(self, message: Message) -> None:
        payload = {
            "event": message.event,
            "ticket_id": message.ticket_id,
            "text": message.text,
            "data": message.data,
        }
        status, _ = _post_json(self._open, self.url, payload, timeout_s=self.timeout_s)
        if status >= 400:
            raise OSError(f"webhook {self.url} answered HTTP {status}")


# -- work-chat robots ----------------------------------------------------------------------------

_EVENT_NAMES = {"dispatched": "派遣", "escalated": "督办"}
_MARKDOWN_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]~"} | {"<": "＜", ">": "＞", "\r": " ", "\n": " "}
)


def _md(text: Any) -> str:
    """User text made inert in robot markdown: one line, no markup, no <font>/<@user> tags."""
    return str(text).translate(_MARKDOWN_SPECIAL)


def _local_time(value: Any, tz: ZoneInfo) -> str | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return None
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def chat_markdown(
    message: Message, *, timezone: ZoneInfo, public_base_url: str | None = None
) -> tuple[str, list[str]]:
    """A short Simplified Chinese title (plain text) and markdown lines for a chat robot."""
    facts, data = message.ticket, message.data
    event = _EVENT_NAMES.get(message.event, message.event)
    if message.event == "escalated" and data.get("level") is not None:
        event = f"{event}（第{data['level']}级）"
    class_name = facts.get("class_name")
    title = f"【{event}】案件 {message.ticket_id}" + (f" {class_name}" if class_name else "")
    lines = [f"### {_md(title)}"]
    if facts.get("grid"):
        lines.append(f"> 网格：{_md(facts['grid'])}")
    department = facts.get("department") or data.get("department")
    if department:
        lines.append(f"> 责任部门：{_md(department)}")
    deadline = _local_time(facts.get("deadline") or data.get("deadline"), timezone)
    if deadline:
        lines.append(f"> 处置时限：{_md(deadline)}")
    if message.event == "escalated" and data.get("overdue_hours") is not None:
        lines.append(f"> 已超时：{float(data['overdue_hours']):.1f} 小时")
    if public_base_url:
        lines.append(f"[查看案件]({public_base_url.rstrip('/')}/tickets/{message.ticket_id})")
    return title, lines


class _ChatRobot:
    """A group robot's webhook: POST a markdown message, fail on an errcode other than 0."""

    name = ""
    setting = ""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        timezone: str = "Asia/Shanghai",
        public_base_url: str | None = None,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        _check_url(self.setting, url, show=False)  # the URL carries the robot's key: not shown
        if public_base_url:
            _check_url("PUBLIC_BASE_URL", public_base_url)
        try:
            self.timezone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"TIMEZONE {timezone!r}: {exc}") from None
        self.url = url
        self.timeout_s = timeout_s
        self.public_base_url = public_base_url or None
        self._open = opener or urllib.request.urlopen

    def payload(self, message: Message) -> dict[str, Any]:
        raise NotImplementedError

    def send_url(self) -> str:
        return self.url

    def send(self, message: Message) -> None:
        status, body = _post_json(
            self._open, self.send_url(), self.payload(message), timeout_s=self.timeout_s
        )
        if status >= 400:
            raise OSError(f"{self.name} robot answered HTTP {status}")
        try:
            answer = json.loads(body)
        except ValueError:
            raise OSError(f"{self.name} robot answered HTTP {status} without JSON") from None
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if errcode != 0:
            errmsg = answer.get("errmsg") if isinstance(answer, dict) else None
            raise OSError(f"{self.name} robot answered errcode {errcode}: {errmsg}")

    def _markdown(self, message: Message) -> tuple[str, list[str]]:
        return chat_markdown(message, timezone=self.timezone, public_base_url=self.public_base_url)


class WeComNotifier(_ChatRobot):
    """A WeCom group robot (企业微信群机器人): ``.../cgi-bin/webhook/send?key=KEY``."""

    name = "wecom"
    setting = "WECOM_WEBHOOK_URL"

    def payload(self, message: Message) -> dict[str, Any]:
        _, lines = self._markdown(message)
        return {"msgtype": "markdown", "markdown": {"content": "\n".join(lines)}}


class DingTalkNotifier(_ChatRobot):
    """A DingTalk custom robot (钉钉自定义机器人): ``.../robot/send?access_token=TOKEN``, signed
    (加签) when it has a ``secret``."""

    name = "dingtalk"
    setting = "DINGTALK_WEBHOOK_URL"

    def __init__(self, url: str, *, secret: str | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self.secret = secret or None

    def send_url(self) -> str:
        if not self.secret:
            return self.url
        timestamp = str(round(time.time() * 1000))
        digest = hmac.new(
            self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256
        ).digest()
        sign = urllib.parse.quote_plus(base64.b64encode(digest))
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}timestamp={timestamp}&sign={sign}"

    def payload(self, message: Message) -> dict[str, Any]:
        title, lines = self._markdown(message)
        # DingTalk's markdown needs a blank line to break a line
        return {"msgtype": "markdown", "markdown": {"title": title, "text": "\n\n".join(lines)}}


# -- delivery ------------------------------------------------------------------------------------


def _ticket_facts(session: Session, ticket_id: int) -> dict[str, Any]:
    """What the chat robots show of a ticket: class name, grid code, department, deadline."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return {}
    rule = session.get(ClassRule, ticket.label)
    return {
        "class_name": rule.name if rule else ticket.label,
        "grid": ticket.grid.code if ticket.grid else None,
        "department": ticket.department.name if ticket.department else None,
        "deadline": ticket.deadline,
    }


class NotifierHub:
    """Delivers messages through every configured notifier and logs each attempt."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = tuple(notifiers)

    def deliver(self, session: Session, messages: Sequence[Message]) -> None:
        for message in messages:
            if any(isinstance(n, _ChatRobot) for n in self.notifiers):
                try:
                    message = replace(message, ticket=_ticket_facts(session, message.ticket_id))
                except Exception as exc:  # the robots then send what the message itself says
                    log.warning("ticket %s: no facts for chat robots: %s", message.ticket_id, exc)
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


_KNOWN = ("log", "webhook", "wecom", "dingtalk")


def build_notifiers(
    names: str,
    *,
    webhook_url: str | None = None,
    webhook_timeout_s: float = 5.0,
    wecom_url: str | None = None,
    dingtalk_url: str | None = None,
    dingtalk_secret: str | None = None,
    public_base_url: str | None = None,
    timezone: str = "Asia/Shanghai",
) -> NotifierHub:
    """A hub from the NOTIFIERS setting, e.g. ``"log,webhook"`` or ``"log,wecom,dingtalk"``."""
    robot = {
        "timeout_s": webhook_timeout_s,
        "timezone": timezone,
        "public_base_url": public_base_url,
    }
    notifiers: list[Notifier] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name == "log":
            notifiers.append(LogNotifier())
        elif name == "webhook":
            if not webhook_url:
                raise ConfigError("NOTIFIERS includes webhook but WEBHOOK_URL is not set")
            notifiers.append(WebhookNotifier(webhook_url, timeout_s=webhook_timeout_s))
        elif name == "wecom":
            if not wecom_url:
                raise ConfigError("NOTIFIERS includes wecom but WECOM_WEBHOOK_URL is not set")
            notifiers.append(WeComNotifier(wecom_url, **robot))
        elif name == "dingtalk":
            if not dingtalk_url:
                raise ConfigError("NOTIFIERS includes dingtalk but DINGTALK_WEBHOOK_URL is not set")
            notifiers.append(DingTalkNotifier(dingtalk_url, secret=dingtalk_secret, **robot))
        else:
            raise ConfigError(f"NOTIFIERS: unknown notifier {name!r} (known: {', '.join(_KNOWN)})")
    return NotifierHub(notifiers)


def notifiers_from_config(config: Mapping[str, Any]) -> NotifierHub:
    """The hub the settings ask for (``NOTIFIERS`` and the settings of each notifier)."""
    return build_notifiers(
        config.get("NOTIFIERS") or "log",
        webhook_url=config.get("WEBHOOK_URL"),
        webhook_timeout_s=float(config.get("WEBHOOK_TIMEOUT_S", 5.0)),
        wecom_url=config.get("WECOM_WEBHOOK_URL"),
        dingtalk_url=config.get("DINGTALK_WEBHOOK_URL"),
        dingtalk_secret=config.get("DINGTALK_SECRET"),
        public_base_url=config.get("PUBLIC_BASE_URL"),
        timezone=config.get("TIMEZONE") or "Asia/Shanghai",
    )
