r"""Configs: YAML files validated by pydantic, with command-line overrides.

Every experiment declares a pydantic model with ``extra="forbid"``; :func:`load_config`
reads a YAML file, applies ``key=value`` overrides (dotted keys for nested fields; values
parsed as YAML, so ``sizes=[25,50]`` and ``lr=1e-3`` work; ``key=null`` sets ``None``) and
validates once. An unknown key, a bad value or an override without a value is one line
naming the key and what is allowed. Float fields must be finite (``inf``/``nan`` are
rejected).

Typing is strict where a slip would go unnoticed: a boolean is never taken for a number
(``k_max=true`` is an error, not 1; nor is ``3.0`` or ``"3"`` taken for an integer), a
YAML mapping may not repeat a key, and the same key may not be given twice (in two
``--set`` options, or by a flag and a ``--set``). Input is bounded before it is used: a
config file over :data:`MAX_CONFIG_BYTES` is refused unread, and a config that expands
(through YAML aliases) to more than :data:`MAX_CONFIG_VALUES` values, or nests deeper than
:data:`MAX_CONFIG_DEPTH`, is refused before validation; messages echo at most a short
``repr`` of a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .._errors import ConfigError, short

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_VALUES",
    "NULL",
    "StrictModel",
    "load_config",
    "merge_flags",
    "parse_overrides",
    "validate_config",
]

#: the largest config file read (1 MiB: a config is settings, not data)
MAX_CONFIG_BYTES = 1 << 20
#: the most values (scalars, list items, mapping entries) a config may hold once expanded
MAX_CONFIG_VALUES = 100_000
#: the deepest nesting of lists and mappings in a config
MAX_CONFIG_DEPTH = 32

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


def _clip(text: str, limit: int = 60) -> str:
    """A key as the user wrote it, cut to ``limit`` characters (a key can be any length)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_size(data: Any, source: str, limit: int = MAX_CONFIG_VALUES) -> None:
    """Refuse a config holding more than ``limit`` values once aliases are expanded.

    Counts every value it visits (a shared list counts each time it is reached, as
    validation would walk it) and stops at the limit, so a YAML alias bomb costs
    ``limit`` steps, not its expanded size.

    Raises:
        ConfigError: more than ``limit`` values.
    """
    stack, count = [(data, 0)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limit:
            raise ConfigError(
                f"{source}: the config holds more than {limit:,} values (once YAML aliases "
                "are expanded); a config is a few settings — check the file"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"{source}: a value is nested more than {MAX_CONFIG_DEPTH} levels deep; a "
                "config is a few settings — check the file"
            )
        if isinstance(node, dict):
            stack.extend((k, depth + 1) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1) for v in node)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that repeats a key (it keeps the last)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            if key in seen:
                raise ConfigError(
                    f"key {short(key)} is given twice (lines {seen[key] + 1} and "
                    f"{key_node.start_mark.line + 1}); keep one"
                )
            seen[key] = key_node.start_mark.line
        except TypeError:  # an unhashable key: the constructor below says so
            pass
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _load_yaml(text: str) -> Any:
    """YAML through the strict loader; a value too deep or a number too long is a
    :class:`ConfigError` (not a ``RecursionError`` or Python's integer-digits limit)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except RecursionError:
        raise ConfigError(
            f"the value is nested too deeply (more than {MAX_CONFIG_DEPTH} levels are allowed)"
        ) from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"a value cannot be read: {short(str(err), 120)}") from None


def _coerced(raw: Any, value: Any, where: str) -> tuple[str, str] | None:
    """Where the input was coerced into another kind of number: ``(place, what it was)``.

    pydantic's lax mode takes ``true`` for ``1``, and ``3.0`` or ``"3"`` for the integer 3;
    a config should not. (A string for a float stays accepted: YAML 1.1 reads ``1e-3`` as
    one.)
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(raw, bool):
        return (where, "a boolean (true/false)") if number else None
    if isinstance(value, int) and not isinstance(value, bool):
        if isinstance(raw, float):
            return where, f"a float ({raw!r})"
        if isinstance(raw, str):
            return where, f"a string ({short(raw, 30)})"
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if isinstance(value, BaseModel):
                sub = getattr(value, str(k), None)
            elif isinstance(value, Mapping):
                sub = value.get(k)
            else:
                return None
            found = _coerced(v, sub, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(raw, list | tuple) and isinstance(value, list | tuple):
        if len(raw) == len(value):
            for i, (r, v) in enumerate(zip(raw, value, strict=True)):
                found = _coerced(r, v, f"{where}[{i}]")
                if found:
                    return found
    return None


def _describe_error(err: ValidationError, model: type[BaseModel], source: str) -> str:
    e = err.errors()[0]
    loc = _loc(e["loc"])
    loc = _clip(loc)
    if e["type"] == "extra_forbidden":
        allowed = ", ".join(model.model_fields)
        return f"{source}: unknown key '{loc}' (allowed: {allowed})"
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "finite_number":
        msg = "must be a finite number (inf and nan are not allowed)"
    got = e.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {short(got)})"
    where = f"{loc}: " if loc else ""
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return " ".join(f"{source}: {where}{msg}{got_s}{more}".split())


def validate_config(model: type[C], data: Mapping[str, Any], source: str = "config") -> C:
    """Validate a dict into ``model``.

    Raises:
        ConfigError: one line naming the bad key and what is allowed.
    """
    _check_size(data, source)
    try:
        config = model.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_describe_error(err, model, source)) from None
    found = _coerced(dict(data), config, "")
    if found:
        where, what = found
        kind = "an integer" if "boolean" not in what else "a number"
        raise ConfigError(f"{source}: {where} must be {kind}, got {what}; write the number itself")
    return config


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["a=1", "b.c=[1,2]"]`` into a nested dict; values are YAML scalars/lists.

    ``key=null`` (or ``~``) sets the value to ``None`` (the :data:`NULL` marker until
    :func:`load_config` applies it).

    Raises:
        ConfigError: an item without ``=``, an empty key, an empty value, or a key given
            twice.
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {short(item)} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"override {short(item)} has no key; write key=value, e.g. lr=0.1")
        if not raw.strip():
            raise ConfigError(
                f"override {short(item)} has no value; write {short(key, 40)}=VALUE "
                f"(or {short(key, 40)}=null to clear an optional setting)"
            )
        try:
            value = _load_yaml(raw)
        except yaml.YAMLError:
            value = raw
        except ConfigError as err:
            raise ConfigError(f"--set {_clip(key)}: {err}") from None
        _check_size(value, f"--set {short(key, 40)}")
        if value is None:
            value = NULL
        node = out
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set gives {'.'.join(parts[: i + 1])} twice; keep one")
        if parts[-1] in node:
            raise ConfigError(f"--set gives {_clip(key)} twice; keep one")
        node[parts[-1]] = value
    return out


def merge_flags(overrides: Mapping[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    """``--set`` overrides and a command's own flags together (flags of ``None``: not given).

    Raises:
        ConfigError: a key given both ways (``--H 4 --set H=7``).
    """
    merged = dict(overrides)
    for k, v in flags.items():
        if v is None:
            continue
        if k in merged:
            raise ConfigError(
                f"{k} is given twice: by its flag (--{k.replace('_', '-')} {short(v, 40)}) "
                f"and by --set {k}={short(merged[k], 40)}; keep one"
            )
        merged[k] = v
    return merged


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
    from .._validate import check_file

    path = check_file(path, "config file", max_bytes=MAX_CONFIG_BYTES, exc=ConfigError)
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
        data = _load_yaml(text) or {}
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
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
    _check_size(data, str(path))
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
