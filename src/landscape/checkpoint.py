"""Checkpoints: ``{spec, params, buffers, meta}`` in one file, loaded with ``weights_only=True``.

A landscape checkpoint is a ``torch.save``'d dict with a format tag, the model's
JSON spec (or ``None`` for a user's own module), its whole ``state_dict`` — the parameters
(frozen ones included) and the buffers (BatchNorm's ``running_mean``, ``running_var``,
``num_batches_tracked`` …) — and free-form JSON metadata. Loading never unpickles code, and
rejects with one clear line a file that is not a landscape checkpoint, tensors that are
missing, unexpected or mis-shaped for the model, and non-finite weights.

Version 1 files (written before buffers were saved) hold parameters only; they load as
before, and are refused for a model that has buffers, since its statistics are not there.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ._errors import CheckpointError, short
from ._validate import check_file
from .models import CNNSpec, MLPSpec, build, spec_from_dict
from .params import Params

__all__ = ["FORMAT", "Checkpoint", "load", "save"]

FORMAT = "landscape-checkpoint"
VERSION = 2


@dataclass
class Checkpoint:
    """What a checkpoint holds. ``spec`` is ``None`` for a user's own architecture.

    Attributes:
        params: the model's parameters (frozen ones included), in the module's order.
        spec: the architecture, or ``None``.
        meta: JSON metadata.
        buffers: the rest of the ``state_dict`` (BatchNorm statistics …); empty for a
            model without buffers and for version 1 files.
    """

    params: Params
    spec: MLPSpec | CNNSpec | None = None
    meta: dict = field(default_factory=dict)
    buffers: dict[str, Tensor] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Tensor]:
        """Parameters and buffers together, for ``module.load_state_dict(ck.state_dict())``."""
        return {**self.params, **self.buffers}

    def build(self, device: str | torch.device = "cpu") -> nn.Module:
        """A fresh module with these parameters (needs a spec)."""
        if self.spec is None:
            raise CheckpointError(
                "this checkpoint has no model spec; load it with load(path, model=your_module)"
            )
        not_float = [k for k, v in self.params.items() if not v.is_floating_point()]
        if not_float:
            dtypes = sorted({str(self.params[k].dtype).removeprefix("torch.") for k in not_float})
            raise CheckpointError(
                f"cannot build the model: tensors {not_float[:3]} have dtype "
                f"{', '.join(dtypes)}, not floating point; save float32 or float64 parameters"
            )
        module = build(self.spec, dtype=next(iter(self.params.values())).dtype, device=device)
        module.load_state_dict(self.state_dict(), strict=True)
        return module


def _split_module(module: nn.Module) -> tuple[Params, dict[str, Tensor]]:
    """A module's ``state_dict`` as ``(parameters, buffers)``, each in the module's order."""
    names = {k for k, _ in module.named_parameters(remove_duplicate=False)}
    state = module.state_dict()
    extra = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if extra:
        raise CheckpointError(
            f"the module's state_dict holds entries that are not tensors: {_names(extra)} "
            "(extra state from get_extra_state?); a weights-only checkpoint stores tensors "
            "only — save a dict of its tensors, and the extra state beside it"
        )
    params = {k: v for k, v in state.items() if k in names}
    buffers = {k: v for k, v in state.items() if k not in names}
    return params, buffers


def save(
    path: str | os.PathLike,
    params: Params | nn.Module,
    spec: MLPSpec | CNNSpec | None = None,
    meta: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename).

    Args:
        path: destination file.
        params: a module — its whole ``state_dict`` is saved: every parameter (frozen ones
            too) and every persistent buffer (BatchNorm statistics) — or a params dict
            (with ``spec``, tensors that are buffers of the spec's model are kept as
            buffers).
        spec: the architecture; omit for a user's own module.
        meta: JSON-serialisable metadata (losses, seed, training settings…).

    Raises:
        CheckpointError: ``params`` is neither a module nor a dict of name → tensor, or
            ``meta`` is not JSON-serialisable.
    """
    if isinstance(params, nn.Module):
        params, buffers = _split_module(params)
    else:
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in params.items()
        ):
            raise CheckpointError(
                "checkpoint.save takes an nn.Module or a dict of name -> Tensor, got "
                f"{type(params).__name__}"
            )
        buffers = {}
        if spec is not None:
            _, spec_buffers = _split_module(build(spec))
            buffers = {k: v for k, v in params.items() if k in spec_buffers}
            params = {k: v for k, v in params.items() if k not in spec_buffers}
    meta = dict(meta or {})
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint meta must be JSON-serialisable: {err}") from None
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "spec": None if spec is None else spec.model_dump(mode="json"),
        "params": {k: v.detach().cpu().clone() for k, v in params.items()},
        "buffers": {k: v.detach().cpu().clone() for k, v in buffers.items()},
        "meta": meta,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _expected(
    spec: MLPSpec | CNNSpec | None, model: nn.Module | None
) -> tuple[dict[str, tuple], set[str]] | None:
    """The model's ``state_dict`` shapes and its parameter names (``None``: nothing to check)."""
    if model is None and spec is not None:
        model = build(spec)
    if model is None:
        return None
    params, buffers = _split_module(model)
    shapes = {k: tuple(v.shape) for k, v in {**params, **buffers}.items()}
    return shapes, set(params)


def _names(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return f"[{shown}{', …' if len(keys) > limit else ''}] ({len(keys)})" if keys else "[]"


def _tensor_dict(path: Path, payload: dict, key: str, required: bool) -> dict[str, Tensor]:
    value = payload.get(key)
    if value is None and not required:
        return {}
    if (
        not isinstance(value, dict)
        or (required and not value)
        or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())
    ):
        what = "a non-empty dict" if required else "a dict"
        raise CheckpointError(
            f"{path}: {key!r} must be {what} of name → tensor; "
            "write the file with landscape.checkpoint.save"
        )
    return value


def load(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    map_location: str | torch.device = "cpu",
    allow_nonfinite: bool = False,
) -> Checkpoint:
    """Read and validate a checkpoint.

    Args:
        path: the file.
        model: for a checkpoint of your own architecture, the module whose ``state_dict``
            (parameter and buffer names and shapes) the file must match (it is not
            modified; load the result with ``model.load_state_dict(ck.state_dict())``).
        map_location: device for the tensors.
        allow_nonfinite: accept NaN/inf weights (e.g. to inspect a diverged run).

    Raises:
        CheckpointError: missing file, not a landscape checkpoint, missing/extra/mis-shaped
            tensors, or non-finite weights.
    """
    path = check_file(path, "checkpoint", exc=CheckpointError)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path} is not a landscape checkpoint (torch.load(weights_only=True) could not "
            f"read it: {type(err).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a landscape checkpoint (no '{FORMAT}' tag); "
            "write one with landscape.checkpoint.save"
        )
    version = payload.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {short(version)}, this landscape reads "
            f"up to {VERSION}; upgrade landscape"
        )
    params = _tensor_dict(path, payload, "params", required=True)
    buffers = _tensor_dict(path, payload, "buffers", required=False)
    spec = None
    if payload.get("spec") is not None:
        try:
            spec = spec_from_dict(payload["spec"])
        except Exception as err:
            raise CheckpointError(f"{path}: {err}") from None
    expected = _expected(spec, model)
    if expected is not None:
        shapes, param_names = expected
        found = {**params, **buffers}
        missing = [k for k in shapes if k not in found]
        extra = [k for k in found if k not in shapes]
        if missing and "buffers" not in payload and all(k not in param_names for k in missing):
            raise CheckpointError(
                f"{path} is a version-1 checkpoint (parameters only): it lacks the model's "
                f"buffers {_names(missing)}, so its BatchNorm statistics are lost; save the "
                "module again with landscape.checkpoint.save (it now keeps the whole state_dict)"
            )
        if missing or extra:
            raise CheckpointError(
                f"{path}: tensors do not match the model: missing {_names(missing)}, "
                f"unexpected {_names(extra)}"
            )
        for k, shape in shapes.items():
            if tuple(found[k].shape) != shape:
                raise CheckpointError(
                    f"{path}: tensor {k!r} has shape {tuple(found[k].shape)}, "
                    f"the model expects {shape}"
                )
        params = {k: found[k] for k in shapes if k in param_names}
        buffers = {k: found[k] for k in shapes if k not in param_names}
    if not allow_nonfinite:
        bad = [
            k
            for k, v in {**params, **buffers}.items()
            if v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            raise CheckpointError(
                f"{path}: non-finite values (NaN or inf) in {bad}; "
                "pass allow_nonfinite=True to inspect it anyway"
            )
    meta = payload.get("meta") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{path}: 'meta' must be a dict of JSON values, got {type(meta).__name__}"
        )
    return Checkpoint(params=params, spec=spec, meta=meta, buffers=buffers)
