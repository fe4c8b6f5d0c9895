"""The ticket state machine (the case archive, 一哨一档) and the class → department/deadline table.

The core is pure: :data:`TRANSITIONS` says, for each action, which states it leaves, which state it
reaches and which roles may take it; :func:`check_transition` applies that table to one actor.
The functions below it do the storing: every change writes a :class:`TicketEvent` (who, when, why)
in the same commit, and returns the notifications to deliver after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal

from flask_babel.speaklater import LazyString
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from groundstation import workcal
from groundstation.errors import (
    NotFoundError,
    PermissionDenied,
    StaleError,
    TransitionError,
    ValidationError,
)
from groundstation.i18n import (
    ACTION_NAMES,
    DEADLINE_UNITS,
    LABEL_NAMES,
    ROLE_NAMES,
    STATE_NAMES,
    lazy_names,
    lazy_text,
)
from groundstation.i18n import lazy_message as _l
from groundstation.models import (
    MAX_ID,
    TICKET_LABELS,
    ClassRule,
    Department,
    Finding,
    Ticket,
    TicketEvent,
    utcnow,
)
from groundstation.notify import Message
from groundstation.sightings import review_object
from groundstation.text import is_blank, strip_blank
from groundstation.workcal import UNITS, Deadline, WorkCalendar

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "UNDISPATCHED_STATES",
    "RELABEL",
    "Actor",
    "Transition",
    "ReviewSync",
    "SYSTEM",
    "check_transition",
    "available_actions",
    "review_effect",
    "escalation_level_due",
    "open_ticket",
    "open_ticket_for_finding",
    "plan_review",
    "apply_review",
    "record_event",
    "rule_deadline",
    "transition",
    "escalate_overdue",
    "deadline_problem",
    "once_assigned_to",
    "shown_time",
    "update_rule",
]

STATES: tuple[str, ...] = (
    "new",
    "confirmed",
    "dispatched",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "rejected",
    "reopened",
)
#: States in which a department's clock runs (dispatch starts it; resolve stops it).
ACTIVE_STATES: frozenset[str] = frozenset({"dispatched", "in_progress"})
TERMINAL_STATES: frozenset[str] = frozenset({"closed", "rejected"})
#: States in which the review of a case's finding may still reject or reclassify it.
UNDISPATCHED_STATES: frozenset[str] = frozenset({"new", "confirmed"})
#: The case-archive action of a class change in review (data: ``from_label``, ``to_label``).
RELABEL = "relabel"
#: What a ticket decision means for its finding (see :func:`_primary_to_review` for when it
#: applies): confirm and reopen (the case is real after all) confirm it, reject rejects it.
_REVIEW_OF = {"confirm": True, "reopen": True, "reject": False}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a signed-in user, an API key's user or the system (escalation job)."""

    name: str
    role: str
    department_id: int | None = None
    user_id: int | None = None


SYSTEM = Actor(name="system", role="system")


@dataclass(frozen=True, slots=True)
class Transition:
    """One action of the state machine."""

    action: str
    sources: frozenset[str]
    target: str | None  # None: the ticket stays in the state it is in (extend)
    roles: frozenset[str]
    own_department: bool = False  # department users may act only on their department's tickets
    needs_reason: bool = False
    needs_evidence: bool = False

    def leads_to(self, state: str) -> str:
        """The state a ticket in ``state`` reaches by this action."""
        return state if self.target is None else self.target


@dataclass(frozen=True, slots=True)
class ReviewSync:
    """What a review of its pending finding does to a ticket (:func:`plan_review`)."""

    ticket: Ticket
    finding_id: int
    action: str | None  # "confirm", "reject" or None: no transition
    label: str | None  # the ticket's new class, None: unchanged


def _t(
    action: str, sources: set[str], target: str | None, roles: set[str], **kw: bool
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), **kw)


_SUP = {"supervisor", "admin"}
_DEPT = {"department", "admin"}

#: The whole workflow: 立案 → 派遣 → 处置 → 反馈 → 核查 → 结案, plus reject, return and reopen,
#: and the supervisor's hold on a dispatched case: recall it from the department (撤回, to
#: dispatch it elsewhere) or extend its deadline (延期), each with a reason.
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("confirm", {"new"}, "confirmed", _SUP),
        _t("reject", {"new", "confirmed"}, "rejected", _SUP, needs_reason=True),
        _t("dispatch", {"confirmed", "reopened"}, "dispatched", _SUP),
        _t("return", {"dispatched"}, "confirmed", _DEPT, own_department=True, needs_reason=True),
        _t("start", {"dispatched"}, "in_progress", _DEPT, own_department=True),
        _t("resolve", {"in_progress"}, "resolved", _DEPT, own_department=True, needs_evidence=True),
        _t("verify", {"resolved"}, "verified", {"supervisor", "pilot", "admin"}),
        _t("close", {"verified"}, "closed", _SUP),
        _t("recall", {"dispatched", "in_progress"}, "confirmed", _SUP, needs_reason=True),
        _t("extend", {"dispatched", "in_progress"}, None, _SUP, needs_reason=True),
        _t(
            "reopen",
            {"resolved", "verified", "closed", "rejected"},
            "reopened",
            _SUP,
            needs_reason=True,
        ),
    )
}


def check_transition(
    state: str, action: str, actor: Actor, *, ticket_department_id: int | None
) -> Transition:
    """The transition ``action`` from ``state`` if ``actor`` may take it; raise otherwise."""
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise ValidationError(
            _l(
                "unknown action %(value)s (known: %(known)s)",
                value=repr(action),
                known=", ".join(TRANSITIONS),
            )
        )
    if actor.role not in rule.roles:
        raise PermissionDenied(
            _l(
                "role %(role)s may not %(action)s a ticket (allowed: %(allowed)s)",
                role=lazy_names(ROLE_NAMES, actor.role, quote=True),
                action=lazy_names(ACTION_NAMES, action),
                allowed=lazy_names(ROLE_NAMES, *sorted(rule.roles)),
            )
        )
    if (
        rule.own_department
        and actor.role == "department"
        and (actor.department_id is None or actor.department_id != ticket_department_id)
    ):
        raise PermissionDenied(
            _l(
                "user %(name)s may act only on their own department's tickets",
                name=repr(actor.name),
            )
        )
    if state not in rule.sources:
        raise TransitionError(
            _l(
                "cannot %(action)s a ticket that is %(state)s (only from: %(sources)s)",
                action=lazy_names(ACTION_NAMES, action),
                state=lazy_names(STATE_NAMES, state),
                sources=lazy_names(STATE_NAMES, *sorted(rule.sources)),
            )
        )
    return rule


def available_actions(state: str, actor: Actor, *, ticket_department_id: int | None) -> list[str]:
    """The actions ``actor`` may take now, in workflow order."""
    actions = []
    for action in TRANSITIONS:
        try:
            check_transition(state, action, actor, ticket_department_id=ticket_department_id)
        except (PermissionDenied, TransitionError):
            continue
        actions.append(action)
    return actions


def review_effect(
    state: str,
    label: str,
    *,
    confirmed: bool,
    reviewed_label: str,
    ticket_id: int | None = None,
    finding_id: int | None = None,
) -> tuple[str | None, str | None]:
    """What a review decision on its pending finding does to a ticket in ``state`` of class
    ``label``: the action it takes (``"confirm"``, ``"reject"`` or None) and its new class (None:
    unchanged). A confirmation files a new ticket and leaves a later one as it is; a rejection
    or a new class reaches a ticket only before dispatch, else TransitionError (naming the
    ticket and the finding when given).

    >>> review_effect("new", "straw_burning", confirmed=True, reviewed_label="illegal_fishing")
    ('confirm', 'illegal_fishing')
    >>> review_effect("dispatched", "straw_burning", confirmed=True, reviewed_label="straw_burning")
    (None, None)
    """
    relabel = reviewed_label if confirmed and reviewed_label != label else None
    if confirmed and relabel is None:
        return ("confirm" if state == "new" else None), None
    if state == "rejected" and not confirmed:
        return None, None
    if state not in UNDISPATCHED_STATES:
        raise TransitionError(
            _l(
                "finding %(finding)s: ticket %(id)s is already %(state)s, so a review can no "
                "longer %(action)s it (only while it is %(sources)s)",
                finding=finding_id,
                id=ticket_id,
                state=lazy_names(STATE_NAMES, state),
                action=lazy_names(ACTION_NAMES, RELABEL if confirmed else "reject"),
                sources=lazy_names(STATE_NAMES, *sorted(UNDISPATCHED_STATES)),
            )
        )
    if confirmed:
        return ("confirm" if state == "new" else None), relabel
    return "reject", None


def escalation_level_due(
    *, deadline: datetime | None, level: int, now: datetime, repeat_hours: float = 24.0
) -> int | None:
    """The escalation level an overdue ticket should be at, if higher than ``level``.

    Level 1 (督办) once the deadline passes, one more level (催办) for every further
    ``repeat_hours`` overdue.
    """
    if deadline is None or now <= deadline:
        return None
    due = 1 + int((now - deadline) / timedelta(hours=repeat_hours))
    return due if due > level else None


# -- storing ---------------------------------------------------------------------------------


def _record(
    session: Session,
    ticket: Ticket,
    action: str,
    from_state: str | None,
    actor: Actor,
    *,
    reason: str = "",
    data: dict[str, Any] | None = None,
    now: datetime,
) -> TicketEvent:
    event = TicketEvent(
        ticket=ticket,
        action=action,
        from_state=from_state,
        to_state=ticket.state,
        actor=actor.name,
        actor_role=actor.role,
        at=now,
        reason=reason,
        data=data or {},
    )
    session.add(event)
    ticket.updated_at = now
    return event


def record_event(
    session: Session,
    ticket: Ticket,
    action: str,
    actor: Actor,
    *,
    reason: str = "",
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> TicketEvent:
    """A case-archive entry that changes no state (a check, a note); not committed."""
    return _record(
        session, ticket, action, ticket.state, actor, reason=reason, data=data, now=now or utcnow()
    )


def _rule(session: Session, label: str) -> ClassRule:
    rule = session.get(ClassRule, label)
    if rule is None:
        raise NotFoundError(
            _l("no dispatch rule for class %(label)s: an admin must add one", label=repr(label))
        )
    return rule


def rule_deadline(rule: ClassRule) -> Deadline:
    """The event-table row's deadline as a :class:`~groundstation.workcal.Deadline`; a row
    stored before the rules were what they are now is a ValidationError saying what to fix."""
    problem = deadline_problem(rule.deadline_amount, rule.deadline_unit)
    if problem is not None:
        raise ValidationError(
            _l(
                "the dispatch table's deadline for %(label)s is invalid (%(detail)s): an admin "
                "must correct it on the dispatch table page, or give this dispatch a deadline "
                "of its own",
                label=lazy_names(LABEL_NAMES, rule.label, quote=True),
                detail=problem,
            )
        )
    return Deadline(rule.deadline_amount, rule.deadline_unit)


def open_ticket(
    session: Session,
    *,
    label: str,
    actor: Actor,
    lat: float | None = None,
    lon: float | None = None,
    description: str = "",
    grid_id: int | None = None,
    source: str = "ui",
    address: str | None = None,
    media_url: str | None = None,
    reporter: dict[str, Any] | None = None,
    finding: Finding | None = None,
    now: datetime | None = None,
) -> Ticket:
    """A new ticket in state ``new`` with its first archive entry (not committed)."""
    now = now or utcnow()
    if label not in TICKET_LABELS:
        raise ValidationError(
            _l(
                "class %(label)s cannot become a ticket (one of: %(known)s)",
                label=repr(label),
                known=", ".join(TICKET_LABELS),
            )
        )
    if (lat is not None and not -90 <= lat <= 90) or (lon is not None and not -180 <= lon <= 180):
        raise ValidationError(
            _l("position (%(lat)s, %(lon)s) is outside WGS84 lat/long", lat=lat, lon=lon)
        )
    ticket = Ticket(
        label=label,
        state="new",
        lat=lat,
        lon=lon,
        description=description,
        grid_id=grid_id,
        source=source,
        address=address,
        media_url=media_url,
        reporter=reporter or {},
        finding=finding,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
        evidence=[],
        escalation_level=0,
    )
    session.add(ticket)
    _record(session, ticket, "open", None, actor, data={"source": source}, now=now)
    return ticket


def open_ticket_for_finding(
    session: Session,
    finding: Finding,
    actor: Actor,
    *,
    confirmed: bool = True,
    reason: str = "",
    now: datetime | None = None,
) -> Ticket:
    """A reviewer decided ``finding``: open its case and file it (new → confirmed), or, for a
    false alarm, close it as rejected (new → rejected): the archive keeps the decision and the
    case can be reopened from its page. The review note is the reason. A ticket the finding
    already has is returned as it is."""
    now = now or utcnow()
    existing = session.scalar(select(Ticket).where(Ticket.finding_id == finding.id))
    if existing is not None:
        return existing
    ticket = open_ticket(
        session,
        # a false alarm's case keeps the class it was reported as
        label=finding.final_label if finding.final_label in TICKET_LABELS else finding.label,
        actor=actor,
        lat=finding.lat,
        lon=finding.lon,
        grid_id=finding.grid_id,
        source="drone",
        finding=finding,
        now=now,
    )
    action = "confirm" if confirmed else "reject"
    check_transition("new", action, actor, ticket_department_id=None)
    ticket.state = TRANSITIONS[action].leads_to("new")
    _record(
        session,
        ticket,
        action,
        "new",
        actor,
        reason=reason,
        data={
            "finding_id": finding.id,
            "review": "confirmed" if confirmed else "rejected",
            "source": "review",
        },
        now=now,
    )
    return ticket


def plan_review(
    ticket: Ticket, actor: Actor, *, finding_id: int, confirmed: bool, label: str
) -> ReviewSync:
    """What confirming (as class ``label``) or rejecting ``ticket``'s pending finding does to the
    ticket (:func:`review_effect`); raise, changing nothing, if ``actor`` may not do it."""
    action, new_label = review_effect(
        ticket.state,
        ticket.label,
        confirmed=confirmed,
        reviewed_label=label,
        ticket_id=ticket.id,
        finding_id=finding_id,
    )
    if action is not None:
        check_transition(ticket.state, action, actor, ticket_department_id=ticket.department_id)
    return ReviewSync(ticket, finding_id, action, new_label)


def apply_review(
    session: Session, sync: ReviewSync, actor: Actor, *, note: str = "", now: datetime | None = None
) -> None:
    """Carry a planned review decision to its ticket (not committed): a new class first (its
    ``relabel`` archive entry holds both classes), then the transition with the review note as
    the reason (the archive entry's data says it came from the review, so a rejection needs no
    stored English reason)."""
    now = now or utcnow()
    ticket, note = sync.ticket, strip_blank(note)
    if sync.label is not None:
        data = {"finding_id": sync.finding_id, "from_label": ticket.label, "to_label": sync.label}
        ticket.label = sync.label
        reason = note if sync.action is None else ""
        _record(session, ticket, RELABEL, ticket.state, actor, reason=reason, data=data, now=now)
    if sync.action is not None:
        rule = TRANSITIONS[sync.action]
        reason = note
        review = "confirmed" if sync.action == "confirm" else "rejected"
        from_state = ticket.state
        _claim(session, ticket, from_state, rule.leads_to(from_state), deadline=ticket.deadline)
        _record(
            session,
            ticket,
            sync.action,
            from_state,
            actor,
            reason=reason,
            data={"finding_id": sync.finding_id, "review": review, "source": "review"},
            now=now,
        )
    session.flush()


def _primary_to_review(session: Session, ticket: Ticket, action: str) -> Finding | None:
    """The object (primary finding) behind ``ticket`` whose review ``action`` changes: pending,
    or decided the other way (a rejected case reopened, a confirmed one rejected)."""
    if action not in _REVIEW_OF or ticket.finding_id is None:
        return None
    finding = session.get(Finding, ticket.finding_id)
    if finding is not None and finding.sighting_of is not None:
        finding = session.get(Finding, finding.sighting_of)
    if finding is None:
        return None
    if finding.review_status == "pending":
        return finding
    # a decided finding changes only when a rejected case is reopened (real after all); a
    # confirmed finding's case may be rejected for other reasons (a duplicate, not ours)
    return finding if action == "reopen" and finding.review_status == "rejected" else None


def transition(
    session: Session,
    ticket: Ticket,
    action: str,
    actor: Actor,
    *,
    reason: str = "",
    department_id: int | None = None,
    deadline: datetime | None = None,
    evidence: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
    calendar: WorkCalendar | None = None,
) -> tuple[TicketEvent, list[Message]]:
    """Apply ``action`` to ``ticket`` as ``actor`` (uncommitted); raise if illegal, change nothing.

    A dispatch without an explicit ``deadline`` gets the class rule's, counted on ``calendar``
    (default: office hours in Beijing time, no holidays); an extension needs the new, later
    ``deadline``. Where the case leaves its department (return, recall, reject) or gets a new
    deadline (dispatch, extend), its escalation (督办) starts again from none. Confirming or
    rejecting a ticket whose finding awaits review reviews it too, and reopening a case
    rejected as a false alarm confirms its finding (confirmed as the ticket's class or rejected
    as background, its sightings alike: a reopened false alarm's next sightings count as seen),
    the reason as the review note.
    Returns the archive entry and the notifications to deliver once the caller has committed.
    """
    now = now or utcnow()
    rule = check_transition(ticket.state, action, actor, ticket_department_id=ticket.department_id)
    if ticket.id is None:
        session.flush()
    read_deadline = ticket.deadline  # as this user saw it: the claim below compares it
    reason = strip_blank(reason or "")  # a reason of invisible characters says nothing
    if rule.needs_reason and not reason:
        raise ValidationError(
            _l(
                "%(action)s needs a reason (why) for the case archive",
                action=lazy_names(ACTION_NAMES, action),
            )
        )
    evidence = [dict(e) for e in evidence]
    if rule.needs_evidence and not any(_has_evidence(e) for e in evidence):
        raise ValidationError(_l("resolve needs evidence: a note or a photo of the result"))
    data: dict[str, Any] = {}
    messages: list[Message] = []
    tz = (calendar or WorkCalendar()).tz
    if action == "dispatch":
        class_rule = _rule(session, ticket.label)
        dept_id = department_id if department_id is not None else class_rule.department_id
        department = session.get(Department, dept_id)
        if department is None:
            raise NotFoundError(_l("department %(id)s does not exist", id=dept_id))
        if deadline is None:
            deadline = (calendar or WorkCalendar()).due(now, rule_deadline(class_rule))
            deadline = deadline.astimezone(tz).replace(microsecond=0)
        else:
            deadline = _new_deadline(deadline, now=now, tz=tz)
        ticket.department_id = department.id
        ticket.deadline = deadline
        ticket.escalation_level = 0
        ticket.escalated_at = None
        data = {
            "department_id": department.id,
            "department": department.name,
            "deadline": deadline.isoformat(),
        }
        messages.append(
            Message(
                "dispatched",
                ticket.id,
                f"ticket {ticket.id} ({ticket.label}) dispatched to "
                f"{department.name}, due {deadline.isoformat()}",
                data,
            )
        )
    elif action in ("return", "recall"):
        department = _department(session, ticket)
        data = {"department_id": ticket.department_id}
        if action == "recall":
            data["department"] = department.name if department else None
            if ticket.deadline is not None:
                data["deadline"] = ticket.deadline.astimezone(tz).isoformat()
            messages.append(
                Message(
                    "recalled",
                    ticket.id,
                    f"ticket {ticket.id} ({ticket.label}) recalled from "
                    f"{data['department']} by {actor.name}: {reason}",
                    {"department_id": ticket.department_id, "department": data["department"]},
                )
            )
        data.update(_clear_escalation(ticket))
        ticket.department_id = None
        ticket.deadline = None
    elif action == "extend":
        if deadline is None:
            raise ValidationError(_l("extend needs the new deadline"))
        deadline = _new_deadline(deadline, now=now, tz=tz)
        if ticket.deadline is not None and deadline <= ticket.deadline:
            raise ValidationError(
                _l(
                    "the new deadline %(deadline)s is not later than the current one (%(current)s)",
                    deadline=shown_time(deadline, tz),
                    current=shown_time(ticket.deadline, tz),
                )
            )
        department = _department(session, ticket)
        data = {
            "department_id": ticket.department_id,
            "department": department.name if department else None,
            "deadline": deadline.isoformat(),
            "previous_deadline": ticket.deadline.astimezone(tz).isoformat()
            if ticket.deadline is not None
            else None,
        }
        data.update(_clear_escalation(ticket))
        ticket.deadline = deadline
        messages.append(
            Message(
                "deadline_extended",
                ticket.id,
                f"ticket {ticket.id} ({ticket.label}) at {data['department']}: deadline "
                f"extended to {deadline.isoformat()}: {reason}",
                {k: data[k] for k in ("department_id", "department", "deadline")},
            )
        )
    elif action == "reject":
        data = _clear_escalation(ticket)  # a case returned while overdue, then rejected
    elif action == "reopen" and ticket.deadline is not None:
        # the old deadline belongs to the work done; the next dispatch sets a new one
        data = {"deadline": ticket.deadline.isoformat()}
        ticket.deadline = None
    elif action == "resolve":
        ticket.evidence = [*ticket.evidence, *evidence]
        data = {"evidence": evidence}
    finding = _primary_to_review(session, ticket, action)
    from_state = ticket.state
    _claim(session, ticket, from_state, rule.leads_to(from_state), deadline=read_deadline, tz=tz)
    if finding is not None:
        confirmed = _REVIEW_OF[action]
        sightings = session.scalars(select(Finding).where(Finding.sighting_of == finding.id))
        review_object(
            finding,
            list(sightings),
            confirmed=confirmed,
            label=ticket.label,
            by=actor.name,
            at=now,
            note=reason,
        )
        data = {**data, "finding_id": finding.id, "review": finding.review_status}
    event = _record(session, ticket, action, from_state, actor, reason=reason, data=data, now=now)
    session.flush()
    return event, messages


def _has_evidence(entry: dict[str, Any]) -> bool:
    """Whether an evidence entry holds a note that shows something (not only spaces or
    invisible characters) or a photo."""
    return not is_blank(str(entry.get("note") or "")) or bool(entry.get("photo"))


def _new_deadline(deadline: datetime, *, now: datetime, tz: tzinfo) -> datetime:
    """A deadline a supervisor gives (dispatch, extend), checked: with a zone and in the future;
    returned in whole seconds in the office's time zone ``tz`` (archive, notifications)."""
    if deadline.tzinfo is None:
        raise ValidationError(_l("deadline needs a timezone, e.g. 2025-06-01T18:00:00+08:00"))
    if deadline <= now:
        raise ValidationError(
            _l("deadline %(deadline)s is not in the future", deadline=shown_time(deadline, tz))
        )
    return deadline.astimezone(tz).replace(microsecond=0)


def shown_time(moment: datetime, tz: tzinfo) -> str:
    """A moment as people read it in messages: ``2026-11-25 18:00`` in the office's time zone
    ``tz`` (seconds only when there are some, so two times that differ by seconds differ)."""
    local = moment.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def once_assigned_to(ticket: Ticket, department_id: int | None) -> bool:
    """Whether the case archive shows ``ticket`` at department ``department_id`` (dispatched
    to it, returned or recalled from it, escalated or extended there): a department that held
    the case, even if it was recalled, returned or dispatched elsewhere since, as against one
    that never saw it."""
    return department_id is not None and any(
        (event.data or {}).get("department_id") == department_id for event in ticket.events
    )


def _department(session: Session, ticket: Ticket) -> Department | None:
    return session.get(Department, ticket.department_id) if ticket.department_id else None


def _clear_escalation(ticket: Ticket) -> dict[str, Any]:
    """Reset the ticket's escalation (督办) level; the archive data of the level it had, if any."""
    level = ticket.escalation_level
    ticket.escalation_level = 0
    ticket.escalated_at = None
    return {"escalation_level": level} if level else {}


def _claim(
    session: Session,
    ticket: Ticket,
    from_state: str,
    target: str,
    *,
    deadline: datetime | None,
    tz: tzinfo | None = None,
) -> None:
    """Move ``ticket`` to ``target`` only if the database still has it in ``from_state`` with
    the ``deadline`` the acting user read: of two users acting on the same ticket at once, the
    second gets a StaleError, not a lost update. The deadline counts as well as the state
    because an extension keeps the state: two extensions at once would otherwise both pass
    (each archived with the same previous deadline, each notified, the later commit winning
    even with the earlier deadline). Runs before the caller's own changes reach the database
    (no autoflush), so it compares with what others committed, never with this change."""
    same_deadline = Ticket.deadline.is_(None) if deadline is None else Ticket.deadline == deadline
    with session.no_autoflush:
        moved = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket.id, Ticket.state == from_state, same_deadline)
            .values(state=target)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved == 1:
            ticket.state = target
            return
        now_state, now_deadline = session.execute(
            select(Ticket.state, Ticket.deadline).where(Ticket.id == ticket.id)
        ).one()
    if now_state == from_state and now_deadline is not None:
        # same state, another deadline: an extension (or a new dispatch) came first
        raise StaleError(
            _l(
                "ticket %(id)s changed meanwhile: its deadline is now %(deadline)s; reload it "
                "and decide again",
                id=ticket.id,
                deadline=shown_time(now_deadline, tz or WorkCalendar().tz),
            )
        )
    raise StaleError(
        _l(
            "ticket %(id)s changed meanwhile: it is no longer %(state)s; reload it",
            id=ticket.id,
            state=lazy_names(STATE_NAMES, from_state),
        )
    )


def escalate_overdue(
    session: Session, *, now: datetime | None = None, repeat_hours: float = 24.0
) -> list[Message]:
    """Raise the escalation level of every overdue active ticket and archive it (commits)."""
    now = now or utcnow()
    messages: list[Message] = []
    query = (
        select(Ticket)
        .where(Ticket.state.in_(ACTIVE_STATES), Ticket.deadline.is_not(None), Ticket.deadline < now)
        .order_by(Ticket.id)
    )
    for ticket in session.scalars(query):
        level = escalation_level_due(
            deadline=ticket.deadline,
            level=ticket.escalation_level,
            now=now,
            repeat_hours=repeat_hours,
        )
        if level is None:
            continue
        ticket.escalation_level = level
        ticket.escalated_at = now
        overdue_h = (now - ticket.deadline).total_seconds() / 3600 if ticket.deadline else 0.0
        data = {
            "level": level,
            "overdue_hours": round(overdue_h, 2),
            "department_id": ticket.department_id,
        }
        _record(
            session,
            ticket,
            "escalate",
            ticket.state,
            SYSTEM,
            data=data,
            now=now,
        )
        messages.append(
            Message(
                "escalated",
                ticket.id,
                f"ticket {ticket.id} ({ticket.label}) overdue by "
                f"{overdue_h:.1f} h, escalation level {level}",
                data,
            )
        )
    session.commit()
    return messages


def deadline_problem(amount: float, unit: str, *, display: bool = False) -> LazyString | None:
    """:func:`groundstation.workcal.deadline_problem` in the reader's language (the units by
    their display names in other languages than English, and in English too with ``display``:
    a page's message), or None when the deadline is valid."""
    problem = workcal.deadline_problem(amount, unit)
    if problem is None:
        return None
    values = dict(problem.values)
    if "units" in values:
        values["units"] = lazy_names(DEADLINE_UNITS, *UNITS, quote=True, display=display)
    if "unit" in values and unit in UNITS:
        values["unit"] = lazy_names(DEADLINE_UNITS, unit, quote=True, display=display)
    return lazy_text(replace(problem, values=values))


def update_rule(
    session: Session,
    label: str,
    actor: Actor,
    *,
    department_id: int | None = None,
    deadline_amount: float | None = None,
    deadline_unit: str | None = None,
    name: str | None = None,
    filing_standard: str | None = None,
    closing_standard: str | None = None,
    now: datetime | None = None,
    display_names: bool = False,
) -> ClassRule:
    """Edit one event-table row (admins only; not committed). Everything is checked before
    anything changes: a refused edit leaves the row as it was. Refusals name the class and
    the deadline's unit by their keys in English, by their display names in other languages
    and, with ``display_names`` (the dispatch table page), in English too."""
    if actor.role != "admin":
        raise PermissionDenied(
            _l(
                "role %(role)s may not edit the dispatch table (admin only)",
                role=lazy_names(ROLE_NAMES, actor.role, quote=True),
            )
        )
    rule = _rule(session, label)
    shown = lazy_names(LABEL_NAMES, label, display=display_names)
    if department_id is not None and (
        not 0 < department_id <= MAX_ID or session.get(Department, department_id) is None
    ):
        raise NotFoundError(_l("department %(id)s does not exist", id=department_id))
    new_deadline = deadline_amount is not None or deadline_unit is not None
    amount = rule.deadline_amount if deadline_amount is None else deadline_amount
    unit = deadline_unit or rule.deadline_unit
    if new_deadline:
        problem = deadline_problem(amount, unit, display=display_names)
        if problem is not None:
            raise ValidationError(
                _l("rule %(label)s: invalid deadline: %(detail)s", label=shown, detail=problem)
            )
    if name is not None:
        name = strip_blank(name)
        if not name:  # the class's Open311 service_name: never blank
            raise ValidationError(
                _l(
                    "rule %(label)s: the name may not be blank (it names the class to citizens "
                    "and city systems, as the Open311 service_name)",
                    label=shown,
                )
            )
    filing_standard = _standard(shown, "filing", filing_standard)
    closing_standard = _standard(shown, "closing", closing_standard)
    if department_id is not None:
        rule.department_id = department_id
    if new_deadline:
        rule.deadline_amount, rule.deadline_unit = float(amount), unit
    if name is not None:
        rule.name = name
    if filing_standard is not None:
        rule.filing_standard = filing_standard
    if closing_standard is not None:
        rule.closing_standard = closing_standard
    rule.updated_at = now or utcnow()
    rule.updated_by = actor.name
    return rule


def _standard(
    label: LazyString, which: Literal["filing", "closing"], text: str | None
) -> str | None:
    """A filing or closing standard (``which``) as stored: without invisible ends; None (not
    changed) stays None; blank is refused (naming the rule's class ``label``), as supervisors
    and departments decide by it."""
    if text is None:
        return None
    text = strip_blank(text)
    if text:
        return text
    if which == "filing":
        raise ValidationError(
            _l(
                "rule %(label)s: the filing standard may not be blank (it says when a finding "
                "is filed as a case)",
                label=label,
            )
        )
    raise ValidationError(
        _l(
            "rule %(label)s: the closing standard may not be blank (it says when a case may be "
            "closed)",
            label=label,
        )
    )
