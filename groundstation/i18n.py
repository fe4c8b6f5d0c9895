"""Display names for labels, states, actions and roles (English msgids; zh in translations/)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

__all__ = [
    "LABEL_NAMES",
    "STATE_NAMES",
    "ACTION_NAMES",
    "ROLE_NAMES",
    "DEADLINE_UNITS",
    "template_names",
]

LABEL_NAMES = {
    "illegal_construction": _l("Illegal construction"),
    "straw_burning": _l("Straw burning"),
    "illegal_fishing": _l("Illegal fishing"),
    "background": _l("Background (false positive)"),
}
STATE_NAMES = {
    "new": _l("New"),
    "confirmed": _l("Filed"),
    "dispatched": _l("Dispatched"),
    "in_progress": _l("In progress"),
    "resolved": _l("Resolved"),
    "verified": _l("Verified"),
    "closed": _l("Closed"),
    "rejected": _l("Rejected"),
    "reopened": _l("Reopened"),
}
ACTION_NAMES = {
    "open": _l("Opened"),
    "confirm": _l("File"),
    "reject": _l("Reject"),
    "dispatch": _l("Dispatch"),
    "return": _l("Return to dispatcher"),
    "start": _l("Start handling"),
    "resolve": _l("Report resolved"),
    "verify": _l("Verify"),
    "close": _l("Close"),
    "reopen": _l("Reopen"),
    "escalate": _l("Escalated (overdue)"),
    "reflight_check": _l("Re-flight check"),
}
ROLE_NAMES = {
    "pilot": _l("Pilot"),
    "supervisor": _l("Supervisor"),
    "department": _l("Department"),
    "admin": _l("Administrator"),
    "system": _l("System"),
}

DEADLINE_UNITS = {
    "hours": _l("hours (around the clock)"),
    "work_hours": _l("working hours"),
    "work_days": _l("working days"),
}


def template_names() -> dict[str, dict[str, object]]:
    """Context for every template."""
    return {
        "LABEL_NAMES": LABEL_NAMES,
        "STATE_NAMES": STATE_NAMES,
        "ACTION_NAMES": ACTION_NAMES,
        "ROLE_NAMES": ROLE_NAMES,
        "DEADLINE_UNITS": DEADLINE_UNITS,
    }
