"""Configs: YAML files validated by pydantic, with command-line overrides.

Every experiment declares a pydantic model with ``extra="forbid"``; :func:`load_config`
reads a YAML file, applies ``key=value`` overrides (dotted keys for nested fields; values
parsed as YAML, so ``sizes=[25,50]`` and ``lr=1e-3`` work; ``key=null`` sets ``None``) and
validates once. An unknown key, a bad value or an override without a value is one line
naming the key and what is allowed. Float fields must be finite (``inf``/``nan`` are
rejected).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import ConfigError

__all__ = ["NULL", "StrictModel", "load_config", "parse_overrides", "validate_config"]

C = TypeVar("C", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for experiment configs: unknown keys are errors, assignments are validated,
    float fields must be finite (``inf`` and ``nan`` are rejected)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class _Null:
    """An explicit ``key=null`` override (``None`` in overrides means "not given")."""

    def __repr__(self) -> str:
        return "null"


#: what :func:`parse_overrides` puts for ``key=null``; :func:`load_config` turns it into None
NULL = _Null()


def _loc(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    e = err.errors()[0]
    loc = _loc(e["loc"])
    if e["type"] == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return f"{source}: unknown key '{loc}' (allowed: {allowed})"
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "finite_number":
        msg = "must be a finite number (inf and nan are not allowed)"
    got = e.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {_short(got)})"
    where = f"{loc}: " if loc else ""
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return " ".join(f"{source}: {where}{msg}{got_s}{more}".split())


def validate_config(model: type[C], data: Mapping[str, Any], source: str = "config") -> C:
    """Validate a dict into ``model``.

    Raises:
        ConfigError: one line naming the bad key and what is allowed.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_describe_error(err, model, source)) from None


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["a=1", "b.c=[1,2]"]`` into a nested dict; values are YAML scalars/lists.

    ``key=null`` (or ``~``) sets the value to ``None`` (the :data:`NULL` marker until
    :func:`load_config` applies it).

    Raises:
        ConfigError: an item without ``=``, an empty key, or an empty value.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"override {item!r} has no key; write key=value, e.g. lr=0.1")
        if not raw.strip():
            raise ConfigError(
                f"override {item!r} has no value; write {key}=VALUE "
                f"(or {key}=null to clear an optional setting)"
            )
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if value is None:
            value = NULL
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping.

    Raises:
        ConfigError: missing file, YAML syntax error, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not a YAML text file (byte 0x{err.object[err.start]:02x} at offset "
            f"{err.start} is not UTF-8); --config takes a YAML file of key: value lines"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    if "\x00" in text:
        raise ConfigError(
            f"{path} is not a YAML text file (it contains NUL bytes); "
            "--config takes a YAML file of key: value lines"
        )
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}:{where} is not valid YAML ({getattr(err, 'problem', err)})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping of key: value, got {type(data).__name__}"
        )
    return data


def load_config(
    model: type[C],
    path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
) -> C:
    """Build a validated config: ``base`` ← YAML file ← overrides (later wins).

    Args:
        model: the pydantic config class.
        path: optional YAML file.
        overrides: values from command-line flags (``None`` values are ignored; the
            :data:`NULL` marker from ``key=null`` sets ``None``).
        base: defaults to start from (e.g. an experiment's quick or full preset).
    """
    data: dict[str, Any] = dict(base or {})
    source = "config"
    if path is not None:
        data = _merge(data, read_yaml(path))
        source = str(path)
    if overrides:
        data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
        data = _unmark(data)
    return validate_config(model, data, source)


def _unmark(value: Any) -> Any:
    if value is NULL:
        return None
    if isinstance(value, dict):
        return {k: _unmark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unmark(v) for v in value]
    return value
