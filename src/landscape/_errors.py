"""Exceptions raised for user errors.

Every error a user can cause (a bad argument, a bad config value, a file that is not what
it should be) is a :class:`LandscapeError`. Its message is one line that names what was
received, what is allowed and, where it helps, how to fix it. The CLI prints that line and
exits non-zero; tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "LandscapeError",
    "check_choice",
    "printable",
    "short",
]

#: the longest echo of a user's value in a message
SHORT = 80


class LandscapeError(ValueError):
    """A user error: bad input, bad option, bad file. The message is one line."""


class ConfigError(LandscapeError):
    """A configuration file or override has an unknown key or a bad value."""


class DataError(LandscapeError):
    """A dataset could not be loaded or does not have the expected form."""


class CheckpointError(LandscapeError):
    """A file is not a valid landscape checkpoint, or does not match its model."""


def short(value: object, limit: int = SHORT) -> str:
    """A bounded ``repr`` of a user's value, for messages: at most ``limit`` characters.

    Built with :mod:`reprlib` limits (a few items of a container, a few levels deep), so a
    huge or deeply shared value (a YAML alias bomb, a 100 000-character string) costs no
    more than a short one, and the result is one line.
    """
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxdict, r.maxlist, r.maxtuple, r.maxset = 3, 6, 6, 6, 6
    r.maxstring, r.maxother, r.maxlong = max(limit, 8), max(limit, 8), max(limit, 8)
    text = " ".join(r.repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: object) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``, ``\\x0a``).

    What a user wrote — a path, a config value, a note — is printed as it is, on its line,
    never as terminal control sequences (an ANSI escape in a file name must not recolour
    the screen, a newline in it must not start a line that looks like landscape's).
    """
    out = []
    for ch in str(text):
        code = ord(ch)
        if not (code < 32 or 127 <= code < 160):
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}")
    return "".join(out)


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    """Raise a one-line :class:`LandscapeError` if ``value`` is not one of ``allowed``.

    Args:
        name: the argument's name, as the user wrote it.
        value: the value received.
        allowed: the values that are accepted.

    Raises:
        LandscapeError: ``value`` is not in ``allowed``.
    """
    allowed = list(allowed)
    try:
        known = value in allowed
    except TypeError:  # an unhashable value where the choices are a dict's keys
        known = False
    if not known:
        options = ", ".join(repr(a) for a in allowed)
        raise LandscapeError(f"{name}={short(value)} is not a known option; allowed: {options}")
