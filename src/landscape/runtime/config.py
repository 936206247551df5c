"""Configs: YAML files validated by pydantic, with command-line overrides.

Every experiment declares a pydantic model with ``extra="forbid"``; :func:`load_config`
reads a YAML file, applies ``key=value`` overrides (dotted keys for nested fields; values
parsed as YAML, so ``sizes=[25,50]`` and ``lr=1e-3`` work) and validates once. An unknown
key or a bad value is one line naming the key and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import ConfigError

__all__ = ["StrictModel", "load_config", "parse_overrides", "validate_config"]

C = TypeVar("C", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for experiment configs: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _describe_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    if e["type"] == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return f"{source}: unknown key '{loc}' (allowed: {allowed})"
    got = e.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{source}: {loc}: {e['msg']}{got_s}"


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

    Raises:
        ConfigError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
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
        data = yaml.safe_load(path.read_text()) or {}
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
        overrides: values from command-line flags (``None`` values are ignored).
        base: defaults to start from (e.g. an experiment's quick or full preset).
    """
    data: dict[str, Any] = dict(base or {})
    source = "config"
    if path is not None:
        data = _merge(data, read_yaml(path))
        source = str(path)
    if overrides:
        data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    return validate_config(model, data, source)
