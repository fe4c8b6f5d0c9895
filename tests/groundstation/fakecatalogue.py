"""A catalogue overlay for language tests: extra translations on top of the real catalogue, so a
test can check that a new message is looked up (and rendered in the reader's language) before
its translation is in ``translations/zh``."""

from __future__ import annotations

from collections.abc import Mapping

import flask_babel
import pytest
from babel import support

__all__ = ["FakeCatalogue", "overlay_catalogue"]


class FakeCatalogue(support.NullTranslations):
    """``extra`` (msgid: translation) first, then the catalogue flask-babel loaded."""

    def __init__(self, extra: Mapping[str, str], fallback: support.NullTranslations) -> None:
        super().__init__()
        self.extra = dict(extra)
        self.add_fallback(fallback)

    def gettext(self, message: str) -> str:
        if message in self.extra:
            return self.extra[message]
        return super().gettext(message)

    ugettext = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """``extra`` keyed by the singular msgid: one form for every count, as Chinese has."""
        if singular in self.extra:
            return self.extra[singular]
        return super().ngettext(singular, plural, n)

    ungettext = ngettext


def overlay_catalogue(
    monkeypatch: pytest.MonkeyPatch, extra: Mapping[str, str], *, language: str = "zh"
) -> None:
    """Readers of ``language`` get ``extra`` before the real catalogue; others only the latter."""
    real = flask_babel.Domain.get_translations

    def get_translations(self: flask_babel.Domain) -> support.NullTranslations:
        locale = flask_babel.get_locale()
        if locale is None or locale.language != language:
            return real(self)
        return FakeCatalogue(extra, real(self))

    monkeypatch.setattr(flask_babel.Domain, "get_translations", get_translations)
