"""Translatable error messages: English templates and values, rendered by whoever shows them.

gis and missions know no languages; the ground station looks a :class:`Message`'s template up in
its catalogue (``translations/update.py`` extracts every ``msg(...)``) and shows it in its
reader's language, while ``str()`` gives the English text everywhere else (CLI, logs, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Message", "msg"]


@dataclass(frozen=True, slots=True)
class Message:
    """An English template with ``%(name)s`` placeholders and their values (Messages too)."""

    template: str
    values: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template % self.values if self.values else self.template


def msg(template: str, /, **values: Any) -> Message:
    """A :class:`Message`; raise errors with it: ``raise FormatError(msg("%(x)s: ...", x=x))``."""
    return Message(template, values)
