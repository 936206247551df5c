"""Exceptions raised for user errors.

Every error a user can cause (a bad argument, a bad config value, a file that is not what
it should be) is a :class:`LandscapeError`. Its message is one line that names what was
received, what is allowed and, where it helps, how to fix it. The CLI prints that line and
exits non-zero; tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CheckpointError", "ConfigError", "DataError", "LandscapeError", "check_choice"]


class LandscapeError(ValueError):
    """A user error: bad input, bad option, bad file. The message is one line."""


class ConfigError(LandscapeError):
    """A configuration file or override has an unknown key or a bad value."""


class DataError(LandscapeError):
    """A dataset could not be loaded or does not have the expected form."""


class CheckpointError(LandscapeError):
    """A file is not a valid landscape checkpoint, or does not match its model."""


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
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise LandscapeError(f"{name}={value!r} is not a known option; allowed: {options}")
