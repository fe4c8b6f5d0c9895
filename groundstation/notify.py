"""Pluggable notifiers for dispatch and escalation: a log notifier, a webhook notifier and the group
robots of WeCom (企业微信) and DingTalk (钉钉).

Every delivery attempt is written to the notifier log (the ``notifications`` table), so a failed
webhook is visible and never rolls back the ticket change that caused it. A failed notice is sent
again by a ``notify`` job (:func:`redeliver_job`, run by the app's job queue: worker threads or
Celery) ``NOTIFY_RETRIES`` times, backing off; each row's ``payload["delivery"]`` says which
attempt it was (``attempt`` of ``attempts``, ``retry_of``: the first attempt's row; on a first
attempt, ``notice``: a key shared by the message's first rows on every channel) and, when it
failed, why (``reason``: see :func:`failure_reason`).

A notice belongs to the assignment it was sent for (:func:`current_notice_ids`): once the case
is recalled, returned or dispatched again, a retry still pending for the old assignment is
logged as cancelled (``cancelled``) instead of being sent, and :func:`undelivered` lists only
the current assignment's notices that no attempt delivered, for the ticket page's warning.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from groundstation.errors import ConfigError
from groundstation.i18n import span_unit
from groundstation.models import ClassRule, Department, Job, Notification, Ticket

if TYPE_CHECKING:
    from groundstation.jobs import JobContext, JobQueue

__all__ = [
    "Message",
    "Notifier",
    "LogNotifier",
    "WebhookNotifier",
    "WeComNotifier",
    "DingTalkNotifier",
    "NotifierHub",
    "DeliveryError",
    "Undelivered",
    "chat_markdown",
    "build_notifiers",
    "notifiers_from_config",
    "failure_reason",
    "delivery_of",
    "notice_department_id",
    "current_notice_ids",
    "undelivered",
    "undelivered_notices",
    "redeliver_job",
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


class DeliveryError(OSError):
    """A channel answered, but did not take the message; ``reason`` says how (see
    :func:`failure_reason`)."""

    def __init__(self, text: str, **reason: Any) -> None:
        super().__init__(text)
        self.reason = reason


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
            raise DeliveryError(
                f"webhook {self.url} answered HTTP {status}", code="http", status=status
            )


# -- work-chat robots ----------------------------------------------------------------------------

_EVENT_NAMES = {
    "dispatched": "派遣",
    "escalated": "督办",
    "recalled": "撤回",
    "deadline_extended": "延期",
}
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
        lines.append(f"> 已超时：{_zh_span(float(data['overdue_hours']))}")
    if public_base_url:
        lines.append(f"[查看案件]({public_base_url.rstrip('/')}/tickets/{message.ticket_id})")
    return title, lines


_ZH_UNITS = {"minutes": "{:.0f} 分钟", "hours": "{:.1f} 小时", "days": "{:.1f} 天"}


def _zh_span(hours: float) -> str:
    """A span for a Chinese chat group, in the unit the pages use (:func:`span_unit`)."""
    unit, amount = span_unit(hours)
    return _ZH_UNITS[unit].format(amount)


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
            raise DeliveryError(
                f"{self.name} robot answered HTTP {status}", code="http", status=status
            )
        try:
            answer = json.loads(body)
        except ValueError:
            raise DeliveryError(
                f"{self.name} robot answered HTTP {status} without JSON", code="answer"
            ) from None
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if errcode != 0:
            errmsg = answer.get("errmsg") if isinstance(answer, dict) else None
            raise DeliveryError(
                f"{self.name} robot answered errcode {errcode}: {errmsg}",
                code="refused",
                errcode=errcode,
            )

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


def failure_reason(exc: BaseException) -> dict[str, Any]:
    """Why a send failed, as data for the notifier log: ``{"code": ...}`` with ``timeout`` (no
    answer in time), ``unreachable`` (no connection), ``http`` (and ``status``), ``refused`` (a
    robot's ``errcode``), ``answer`` (not what a robot answers), ``config`` or ``error``."""
    if isinstance(exc, DeliveryError):
        return dict(exc.reason)
    if isinstance(exc, urllib.error.HTTPError):
        return {"code": "http", "status": exc.code}
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return {"code": "timeout"}
    if isinstance(exc, ConfigError):
        return {"code": "config"}
    if isinstance(exc, OSError):  # refused, reset, no route, DNS, TLS
        return {"code": "unreachable"}
    return {"code": "error"}


def delivery_of(row: Notification) -> dict[str, Any]:
    """A log row's delivery facts: ``attempt``, ``attempts``, ``retry_of`` and, for a failure,
    ``reason`` (rows written before retries existed: attempt 1 of 1)."""
    facts = (row.payload or {}).get("delivery")
    facts = facts if isinstance(facts, dict) else {}
    return {"attempt": 1, "attempts": 1, "retry_of": None, **facts}


class _Unconfigured:
    """A channel a notice was first sent on that the settings no longer have."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, message: Message) -> None:
        raise ConfigError(f"notifier {self.name!r} is no longer in NOTIFIERS")


class NotifierHub:
    """Delivers messages through every configured notifier and logs each attempt; a failed
    attempt is tried again ``retries`` times by ``notify`` jobs, the first ``retry_s`` seconds
    later and each next one after four times as long. With a ``queue``, each retry job is
    announced to it when stored (Celery then runs it at its time, not at the next sweep)."""

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        retries: int = 0,
        retry_s: float = 30.0,
        queue: JobQueue | None = None,
    ) -> None:
        self.notifiers = tuple(notifiers)
        self.retries = max(0, retries)
        self.retry_s = max(0.0, retry_s)
        self.queue = queue

    def retry_delay_s(self, attempt: int) -> float:
        """Seconds from failed attempt ``attempt`` (1: the first send) to the next one."""
        return self.retry_s * 4 ** (attempt - 1)

    def notifier(self, name: str) -> Notifier | None:
        """The configured notifier called ``name``, if any."""
        return next((n for n in self.notifiers if n.name == name), None)

    def deliver(self, session: Session, messages: Sequence[Message]) -> None:
        """Send every message on every channel, log each attempt and queue a retry of each
        failed one (in the same commit), announced to the queue once committed."""
        from groundstation.jobs import schedule_job

        retries: list[Job] = []
        for message in messages:
            message = self._with_facts(session, message)
            notice = uuid.uuid4().hex  # ties this message's rows on every channel together
            for notifier in self.notifiers:
                row = self.attempt(
                    session, notifier, message, attempt=1, attempts=1 + self.retries, notice=notice
                )
                if not row.ok and self.retries:
                    session.flush()  # the row's id, for the job
                    job = schedule_job(
                        session,
                        "notify",
                        {"notification_id": row.id},
                        after_s=self.retry_delay_s(1),
                        max_attempts=self.retries,
                    )
                    retries.append(job)
        session.commit()
        if self.queue is not None:
            for job in retries:
                self.queue.announce(job.id, countdown=self.retry_delay_s(1))

    def _with_facts(self, session: Session, message: Message) -> Message:
        """The message with the ticket's facts, when a chat robot will show them."""
        if any(isinstance(n, _ChatRobot) for n in self.notifiers):
            try:
                return replace(message, ticket=_ticket_facts(session, message.ticket_id))
            except Exception as exc:  # the robots then send what the message itself says
                log.warning("ticket %s: no facts for chat robots: %s", message.ticket_id, exc)
        return message

    def attempt(
        self,
        session: Session,
        notifier: Notifier,
        message: Message,
        *,
        attempt: int,
        attempts: int,
        retry_of: int | None = None,
        notice: str | None = None,
    ) -> Notification:
        """Send ``message`` once through ``notifier`` and add the log row saying how it went;
        ``notice`` is the key of the message's first send on every channel."""
        delivery: dict[str, Any] = {"attempt": attempt, "attempts": attempts, "retry_of": retry_of}
        if notice is not None:
            delivery["notice"] = notice
        error = None
        try:
            notifier.send(message)
        except Exception as exc:  # a notifier must never break a ticket change
            error = f"{type(exc).__name__}: {exc}"
            delivery["reason"] = failure_reason(exc)
            log.warning(
                "notifier %s failed for ticket %s (attempt %s of %s): %s",
                notifier.name,
                message.ticket_id,
                attempt,
                attempts,
                error,
            )
        facts = {  # as they were when the notice was first sent: a retry says the same
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in message.ticket.items()
        }
        row = Notification(
            channel=notifier.name,
            event=message.event,
            ticket_id=message.ticket_id,
            payload={
                "text": message.text,
                **message.data,
                "delivery": delivery,
                **({"ticket": facts} if facts else {}),
            },
            ok=error is None,
            error=error,
        )
        session.add(row)
        return row

    def cancel(
        self, session: Session, first: Notification, *, attempt: int, attempts: int
    ) -> Notification:
        """Log that retry ``attempt`` of the notice whose first row is ``first`` was not sent:
        the assignment it was about has ended (see :func:`current_notice_ids`)."""
        ticket = session.get(Ticket, first.ticket_id) if first.ticket_id is not None else None
        was, now = notice_department_id(first), ticket.department_id if ticket else None
        row = Notification(
            channel=first.channel,
            event=first.event,
            ticket_id=first.ticket_id,
            payload={
                **{k: v for k, v in (first.payload or {}).items() if k != "delivery"},
                "delivery": {
                    "attempt": attempt,
                    "attempts": attempts,
                    "retry_of": first.id,
                    "cancelled": True,
                    "reason": {"code": "reassigned"},
                },
            },
            ok=False,
            error=(
                f"not sent: ticket {first.ticket_id} is no longer in the assignment this notice "
                f"was about (department {was}): it was recalled, returned or dispatched again "
                f"since, and is now with {f'department {now}' if now else 'no department'}"
            ),
        )
        session.add(row)
        log.info(
            "notifier %s: retry %s of %s for ticket %s: %s",
            first.channel,
            attempt,
            attempts,
            first.ticket_id,
            row.error,
        )
        return row


def redeliver_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The ``notify`` job: send a failed notice again on its channel, logging the attempt;
    while it fails, :class:`~groundstation.jobs.RetryLater` backs off until the job's attempts
    are spent."""
    from groundstation.jobs import RetryLater

    hub = notifiers_from_config(ctx.config)
    attempt, attempts = ctx.attempt + 1, ctx.max_attempts + 1  # the first send was attempt 1
    with ctx.storage.session() as session:
        first = session.get(Notification, int(payload["notification_id"]))
        if first is None:
            return {"delivered": False}
        if not _still_current(session, first):  # the case has moved on: logged, not sent
            hub.cancel(session, first, attempt=attempt, attempts=attempts)
            session.commit()
            return {"delivered": False, "attempt": attempt, "cancelled": True}
        stored = first.payload or {}
        data = {k: v for k, v in stored.items() if k not in ("text", "delivery", "ticket")}
        facts = stored.get("ticket")
        message = Message(
            event=first.event,
            ticket_id=first.ticket_id,
            text=str(stored.get("text", "")),
            data=data,
            ticket=dict(facts) if isinstance(facts, dict) else {},
        )
        notifier = hub.notifier(first.channel)
        if notifier is None:  # nothing to retry on: this attempt is the last
            notifier, attempt = _Unconfigured(first.channel), attempts
        row = hub.attempt(
            session,
            notifier,
            # the facts of the first send (the case may have moved on since: a recall, another
            # department); only a row logged before facts were kept reads them now
            message if message.ticket else hub._with_facts(session, message),
            attempt=attempt,
            attempts=attempts,
            retry_of=first.id,
        )
        session.commit()
        ok, error = row.ok, row.error
    if not ok and attempt < attempts:
        raise RetryLater(error or "not delivered", after_s=hub.retry_delay_s(attempt))
    return {"delivered": ok, "attempt": attempt}


# -- notices and the case's assignment ------------------------------------------------------------

#: The notice that ends an assignment: sent to the department the case was recalled from.
_ENDS_ASSIGNMENT = "recalled"
#: The notice that starts one.
_STARTS_ASSIGNMENT = "dispatched"


def notice_department_id(row: Notification) -> int | None:
    """The department a notice was sent about (``department_id`` of its data), if it says."""
    value = (row.payload or {}).get("department_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _chains(rows: Iterable[Notification]) -> dict[int, list[Notification]]:
    """One ticket's log rows (oldest first) by notice: the first attempt's row id → its rows."""
    chains: dict[int, list[Notification]] = {}
    for row in rows:
        chains.setdefault(delivery_of(row)["retry_of"] or row.id, []).append(row)
    return chains


def current_notice_ids(rows: Iterable[Notification], *, held_by: int | None) -> set[int]:
    """Of one ticket's log rows (oldest first), the first rows of the notices about the case's
    current assignment, ``held_by`` being the department that holds it now (None: none).

    An assignment starts with a dispatch notice; the notices sent since are current while the
    department they were about still holds the case, except the recall notice, which is about
    the department that just lost it: current until the case is dispatched again."""
    firsts = sorted((chain[0] for chain in _chains(rows).values()), key=lambda r: r.id)
    start = _assignment_start(firsts)
    return {
        first.id for first in firsts if first.id >= start and _about_holder(first, held_by=held_by)
    }


def _assignment_start(firsts: list[Notification]) -> int:
    """The id of the first of the latest dispatch notice's first rows (one per channel), of one
    ticket's first rows sorted by id; 0 when there is none."""
    dispatches = [r for r in firsts if r.event == _STARTS_ASSIGNMENT]
    if not dispatches:
        return 0
    latest = dispatches[-1]
    notice = delivery_of(latest).get("notice")
    if notice is not None:
        return min(r.id for r in dispatches if delivery_of(r).get("notice") == notice)
    # logged before notices had a key: the same message's rows on other channels just before it
    start, channels, said = latest.id, {latest.channel}, _said(latest)
    for row in reversed(firsts[: firsts.index(latest)]):
        if row.event != _STARTS_ASSIGNMENT or row.channel in channels or _said(row) != said:
            break
        start = row.id
        channels.add(row.channel)
    return start


def _said(row: Notification) -> dict[str, Any]:
    """What a log row's message said (its payload without the delivery facts)."""
    return {k: v for k, v in (row.payload or {}).items() if k != "delivery"}


def _about_holder(first: Notification, *, held_by: int | None) -> bool:
    """Whether a notice of the current assignment still concerns ``held_by``, the department
    holding the case now: the recall notice while none does, any other notice while the
    department it was about does (one that names no department: always)."""
    if first.event == _ENDS_ASSIGNMENT:
        return held_by is None
    department = notice_department_id(first)
    return department is None or department == held_by


def _ticket_rows(session: Session, ticket_id: int) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.ticket_id == ticket_id)
            .order_by(Notification.id)
        )
    )


def _still_current(session: Session, first: Notification) -> bool:
    """Whether the notice whose first row is ``first`` is about its case's current assignment
    (a notice about no ticket always is; one about a deleted ticket is not)."""
    if first.ticket_id is None:
        return True
    ticket = session.get(Ticket, first.ticket_id)
    if ticket is None:
        return False
    rows = _ticket_rows(session, ticket.id)
    return first.id in current_notice_ids(rows, held_by=ticket.department_id)


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A notice about a ticket that no attempt delivered: its channel and event, the department
    it was about (id and name, None when it does not say), how many attempts were made, and the
    last one's error and reason."""

    channel: str
    event: str
    attempts: int
    error: str
    reason: dict[str, Any]
    at: datetime | None
    department_id: int | None = None
    department: str | None = None


def undelivered_notices(
    rows: Iterable[Notification], *, held_by: int | None, names: Mapping[int, str] | None = None
) -> list[Undelivered]:
    """Of one ticket's log rows (oldest first), the notices about its current assignment
    (:func:`current_notice_ids`, ``held_by`` holding the case now) whose last attempt failed
    and that will not be tried again; per channel and event, only the latest notice counts.
    ``names`` gives department names by id (else the name the notice was sent with)."""
    rows = list(rows)
    current = current_notice_ids(rows, held_by=held_by)
    latest: dict[tuple[str, str], list[Notification]] = {}
    for first_id, chain in sorted(_chains(rows).items()):
        if first_id in current:
            latest[(chain[0].channel, chain[0].event)] = chain
    out = []
    for chain in latest.values():
        first, last = chain[0], chain[-1]
        facts = delivery_of(last)
        if any(r.ok for r in chain) or facts["attempt"] < facts["attempts"]:
            continue  # delivered, or still being tried
        department_id = notice_department_id(first)
        out.append(
            Undelivered(
                channel=last.channel,
                event=last.event,
                attempts=int(facts["attempt"]),
                error=last.error or "",
                reason=dict(facts.get("reason") or {"code": "error"}),
                at=last.created_at,
                department_id=department_id,
                department=_department_name(first, department_id, names or {}),
            )
        )
    return out


def _department_name(
    first: Notification, department_id: int | None, names: Mapping[int, str]
) -> str | None:
    """The name of the department a notice was about: as it is called now, else as the notice
    called it when sent (the department since deleted), else None."""
    if department_id is not None and department_id in names:
        return names[department_id]
    sent = (first.payload or {}).get("department")
    return sent if isinstance(sent, str) and sent else None


def undelivered(session: Session, ticket_id: int) -> list[Undelivered]:
    """The ticket's notices about its current assignment that no attempt delivered
    (:func:`undelivered_notices`), with their departments' names as they are now."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return []
    names = {i: name for i, name in session.execute(select(Department.id, Department.name))}
    return undelivered_notices(
        _ticket_rows(session, ticket_id), held_by=ticket.department_id, names=names
    )


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
    retries: int = 0,
    retry_s: float = 30.0,
    queue: JobQueue | None = None,
) -> NotifierHub:
    """A hub from the NOTIFIERS setting, e.g. ``"log,webhook"`` or ``"log,wecom,dingtalk"``; a
    failed notice is tried again ``retries`` times, each retry job announced to ``queue`` (see
    :class:`NotifierHub`)."""
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
    return NotifierHub(notifiers, retries=retries, retry_s=retry_s, queue=queue)


def notifiers_from_config(
    config: Mapping[str, Any], *, queue: JobQueue | None = None
) -> NotifierHub:
    """The hub the settings ask for (``NOTIFIERS`` and the settings of each notifier); its
    retry jobs are announced to ``queue``, the app's or worker's job queue."""
    return build_notifiers(
        config.get("NOTIFIERS") or "log",
        webhook_url=config.get("WEBHOOK_URL"),
        webhook_timeout_s=float(config.get("WEBHOOK_TIMEOUT_S", 5.0)),
        wecom_url=config.get("WECOM_WEBHOOK_URL"),
        dingtalk_url=config.get("DINGTALK_WEBHOOK_URL"),
        dingtalk_secret=config.get("DINGTALK_SECRET"),
        public_base_url=config.get("PUBLIC_BASE_URL"),
        timezone=config.get("TIMEZONE") or "Asia/Shanghai",
        retries=int(config.get("NOTIFY_RETRIES", 0)),
        retry_s=float(config.get("NOTIFY_RETRY_S", 30.0)),
        queue=queue,
    )
