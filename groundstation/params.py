"""Query parameters: which ones each page and API address takes, stated in one place.

Every view that reads the query string names the parameters it takes (:func:`takes`, or
:func:`unknown_parameters` for a list page that shows what it can); ``lang``, the language
switch, is taken everywhere. A parameter an address does not take is refused, never ignored:
``?limit=10`` on an address that pages with ``page_size`` would otherwise return a list the
reader did not ask for. The refusal is a :class:`ParameterError` (400) naming the parameter and
the ones the address takes: JSON on the API, the error page for an export, and a banner on
the list pages (tickets, review, dashboard), which answer 400 and still show what they can.
The values are read by the views' own parsers (:func:`groundstation.blueprints.api.parse_int`,
``ticket_query``, ``finding_query``, ``dashboard_from_args``), whose errors name the parameter
and what it accepts, and are answered the same way. Request bodies are held to the same rule:
:func:`check_fields` refuses JSON or form fields an endpoint does not take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar

from flask import request
from flask_babel import lazy_ngettext

from groundstation.errors import ValidationError
from groundstation.i18n import lazy_message as _l

__all__ = [
    "ALWAYS",
    "ParameterError",
    "unknown_parameters",
    "unknown_parameter_error",
    "check_parameters",
    "takes",
    "shown_value",
    "offered_language",
    "check_language",
    "language_error",
    "check_fields",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Parameters every address takes: the language of the answer (pages and API alike).
ALWAYS: tuple[str, ...] = ("lang",)
#: How much of a parameter's name or value a message repeats.
SHOWN_LENGTH = 60


class ParameterError(ValidationError):
    """A query parameter the address does not take, or a value it cannot use (400); the
    message names the parameter and what the address accepts."""


def shown_value(text: str) -> str:
    """A name or value from the address as a message repeats it: quoted, cut to 60 characters."""
    return repr(text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 1] + "…")


def unknown_parameters(args: Any, accepted: Iterable[str]) -> list[str]:
    """The names in the query ``args`` (a MultiDict) that are neither in ``accepted`` nor in
    :data:`ALWAYS`, each once, in the order given."""
    known = {*accepted, *ALWAYS}
    return list(dict.fromkeys(name for name in args if name not in known))


def unknown_parameter_error(names: Sequence[str], accepted: Sequence[str]) -> ParameterError:
    """The refusal of ``names`` (one or several), listing the parameters the address takes."""
    takes_ = ", ".join([*accepted, *ALWAYS])
    if len(names) == 1:
        return ParameterError(
            _l(
                "unknown query parameter %(name)s; this address takes %(known)s",
                name=shown_value(names[0]),
                known=takes_,
            )
        )
    return ParameterError(
        _l(
            "unknown query parameters %(names)s; this address takes %(known)s",
            names=", ".join(shown_value(n) for n in names),
            known=takes_,
        )
    )


def check_parameters(args: Any, accepted: Sequence[str]) -> None:
    """Raise a :class:`ParameterError` for the names in ``args`` the address does not take."""
    unknown = unknown_parameters(args, accepted)
    if unknown:
        raise unknown_parameter_error(unknown, accepted)


def takes(*accepted: str) -> Callable[[F], F]:
    """Declare the query parameters a view takes (besides :data:`ALWAYS`): a request with any
    other is refused with a 400 naming it, before the view runs."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            check_parameters(request.args, accepted)
            return view(*args, **kwargs)

        wrapped.query_parameters = accepted  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def offered_language(value: str, languages: Sequence[str]) -> str | None:
    """The language of ``languages`` that ``?lang=value`` asks for: a code as offered (``zh``,
    ``en``) or with a region (``zh-CN``, ``zh_CN``, ``en-US``), any case; None otherwise."""
    code = value.strip().replace("_", "-").lower()
    for lang in languages:
        if code == lang.lower() or code.startswith(lang.lower() + "-"):
            return lang
    return None


def check_language(args: Any, languages: Sequence[str]) -> None:
    """Refuse a ``lang`` the station does not offer (400 naming ``lang`` and the languages it
    offers), rather than answer in another language than the one asked for. An empty ``lang``
    asks for none (the reader's usual language)."""
    for value in args.getlist("lang"):
        if value.strip() and offered_language(value, languages) is None:
            raise language_error(value, languages)


def language_error(value: str, languages: Sequence[str]) -> ParameterError:
    """The 400 for a language the station does not offer, naming ``lang`` and those it does."""
    return ParameterError(
        _l(
            "lang %(value)s is not a language this station offers; lang takes %(known)s",
            value=shown_value(value),
            known=", ".join(languages),
        )
    )


def check_fields(
    data: Mapping[str, Any],
    accepted: Sequence[str],
    *,
    files: Sequence[str] = (),
    csrf: bool = True,
) -> None:
    """Refuse (400) body fields an endpoint does not take, naming them and those it takes,
    rather than ignore them: ``data`` is the JSON object or form, ``accepted`` its fields,
    ``files`` the multipart file fields. A form may carry its CSRF token unless ``csrf`` is
    false (an address exempt from CSRF, such as Open311's)."""
    known = {*accepted, *files} | ({"csrf_token"} if csrf and not request.is_json else set())
    given = [*data, *(() if request.is_json else request.files)]
    unknown = list(dict.fromkeys(name for name in given if name not in known))
    if unknown and not (accepted or files):
        raise ValidationError(
            lazy_ngettext(
                "unknown field %(names)s; this address takes no fields",
                "unknown fields %(names)s; this address takes no fields",
                len(unknown),
                names=", ".join(shown_value(name) for name in unknown),
            )
        )
    if unknown:
        raise ValidationError(
            lazy_ngettext(
                "unknown field %(names)s; this address takes %(known)s",
                "unknown fields %(names)s; this address takes %(known)s",
                len(unknown),
                names=", ".join(shown_value(name) for name in unknown),
                known=", ".join([*accepted, *files]),
            )
        )
