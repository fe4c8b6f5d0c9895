"""Translatable error messages: English templates and values, rendered by whoever shows them.

gis and missions know no languages; the ground station looks a :class:`Message`'s template up in
its catalogue (``translations/update.py`` extracts every ``msg(...)``) and shows it in its
reader's language, while ``str()`` gives the English text everywhere else (CLI, logs, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Message", "counted", "msg"]


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


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """A count and its noun in English, for CLI output and logs: ``1 photo``, ``3 photos``
    (``plural`` defaults to ``singular + "s"``). The ground station translates its own counts
    with ``ngettext``.

    >>> counted(1, "rally point"), counted(0, "sortie"), counted(2, "entry", "entries")
    ('1 rally point', '0 sorties', '2 entries')
    """
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count} {noun}"
