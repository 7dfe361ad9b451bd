"""How a setting is declared: its environment variable, parser, default and secrecy.

Each field of :class:`~kore_plaid_nb.settings.model.Settings` is declared once with
:func:`var`; loading, ``as_env()``, the masked ``repr`` and the secret values are all read
from these declarations (:func:`declared`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import SettingsError
from ..masking import mask

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")

# (text, variable name) -> value; the text is stripped and never empty (unset is the default)
Parser = Callable[[str, str], T]

_METADATA_KEY = "kore_plaid_var"


@dataclass(frozen=True)
class Var(Generic[T]):
    """One environment variable behind one field of the settings."""

    name: str
    parse: Parser[T]
    default: T
    secret: bool = False  # the whole value is a secret: masked, listed in secret_values
    secret_part: Callable[[T], str] | None = None  # the secret inside a value (a password)
    show: Callable[[T], object] | None = None  # what repr shows instead of the value
    free_port: bool = False  # unset: a free port, chosen once (kore_plaid_nb.ports)

    def read(self, text: str) -> T:
        """The value written as ``text``; unset (or parsing to nothing) is the default."""
        text = text.strip()
        value = self.parse(text, self.name) if text else None
        if value is None or value == "" or value == ():
            return self.default
        return value

    def shown(self, value: T) -> str:
        """The value as ``repr()`` shows it: secrets masked, lists comma-separated."""
        if self.secret:
            return repr(mask(as_text(value)))
        if self.show is not None:
            return repr(self.show(value))
        return repr(",".join(value) if isinstance(value, tuple) else value)

    def secret_in(self, value: T) -> str:
        """The secret this value holds (empty when none)."""
        if self.secret:
            return as_text(value or "")  # a list: comma-separated
        return self.secret_part(value) if self.secret_part is not None else ""


def var(
    name: str,
    parse: Parser[T],
    default: T,
    *,
    secret: bool = False,
    secret_part: Callable[[T], str] | None = None,
    show: Callable[[T], object] | None = None,
    free_port: bool = False,
) -> T:
    """Declare a settings field read from the environment variable ``name``."""
    spec = Var(name, parse, default, secret, secret_part, show, free_port)
    return field(default=default, metadata={_METADATA_KEY: spec})


def declared(
    settings_type: type[DataclassInstance],
) -> Iterator[tuple[Field[Any], Var[Any]]]:
    """Each field of ``settings_type`` that is read from the environment, with its spec."""
    for item in fields(settings_type):
        spec = item.metadata.get(_METADATA_KEY)
        if isinstance(spec, Var):
            yield item, spec


def as_text(value: object) -> str:
    """A value as an environment variable holds it (lists comma-separated)."""
    return ",".join(value) if isinstance(value, tuple) else str(value)


# -- parsers: (stripped, non-empty text, the variable's name) -> value --


def text(value: str, _name: str) -> str:
    return value


def lowered(value: str, _name: str) -> str:
    return value.lower()


def base_url(value: str, _name: str) -> str:
    """A URL without its trailing slash (``http://host/`` -> ``http://host``)."""
    return value.rstrip("/")


def split(value: str, _name: str = "") -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def lowered_list(value: str, name: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in split(value, name))


def uppered_list(value: str, name: str) -> tuple[str, ...]:
    return tuple(part.upper() for part in split(value, name))


def port(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(
            f"{name}={value!r} is not a number.", fix=f"Set {name} to a free TCP port."
        ) from None


def count(value: str, name: str) -> int:
    """A number of sessions a minute (0 turns the limit off)."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise SettingsError(
            f"{name}={value!r} is not a number of sessions a minute.",
            fix=f"Set {name} to a whole number (0 turns the limit off), or unset it.",
        )
    return number


FLAG_WORDS = {"1": 1, "true": 1, "yes": 1, "0": 0, "false": 0, "no": 0}


def flag(value: str, name: str) -> int:
    """A switch: 1 (``1``, ``true``, ``yes``) or 0 (``0``, ``false``, ``no``)."""
    try:
        return FLAG_WORDS[value.lower()]
    except KeyError:
        raise SettingsError(
            f"{name}={value!r} is neither on nor off.",
            fix=f"Set {name} to 0 or 1 (true/false and yes/no work too), or unset it.",
        ) from None


def days(value: str, name: str) -> int:
    """A number of days (at least 1)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise SettingsError(
            f"{name}={value!r} is not a number of days.",
            fix=f"Set {name} to a whole number of days (1 or more), or unset it.",
        )
    return number


def ngrok_domain_url(domain: str) -> str:
    """``https://<domain>`` for NGROK_DOMAIN, written with or without a scheme."""
    return "https://" + re.sub(r"^\w+://", "", domain.strip()).rstrip("/")
