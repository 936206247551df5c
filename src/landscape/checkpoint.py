"""Checkpoints: ``{spec, params, meta}`` in one file, loaded with ``weights_only=True``.

A landscape checkpoint is a ``torch.save``'d dict with a format tag, the model's
JSON spec (or ``None`` for a user's own module), its parameters and free-form JSON
metadata. Loading never unpickles code, and rejects with one clear line a file that is not
a landscape checkpoint, tensors that are missing, unexpected or mis-shaped for the spec,
and non-finite weights.
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

from ._errors import CheckpointError
from .models import CNNSpec, MLPSpec, build, spec_from_dict
from .params import Params

__all__ = ["FORMAT", "Checkpoint", "load", "save"]

FORMAT = "landscape-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """What a checkpoint holds. ``spec`` is ``None`` for a user's own architecture."""

    params: Params
    spec: MLPSpec | CNNSpec | None = None
    meta: dict = field(default_factory=dict)

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
        module.load_state_dict(self.params, strict=True)
        return module


def save(
    path: str | os.PathLike,
    params: Params | nn.Module,
    spec: MLPSpec | CNNSpec | None = None,
    meta: dict | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename).

    Args:
        path: destination file.
        params: a params dict, or a module (its named parameters are copied).
        spec: the architecture; omit for a user's own module.
        meta: JSON-serialisable metadata (losses, seed, training settings…).
    """
    if isinstance(params, nn.Module):
        params = {k: v for k, v in params.named_parameters()}
    meta = dict(meta or {})
    try:
        json.dumps(meta)
    except TypeError as err:
        raise CheckpointError(f"checkpoint meta must be JSON-serialisable: {err}") from None
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "spec": None if spec is None else spec.model_dump(mode="json"),
        "params": {k: v.detach().cpu().clone() for k, v in params.items()},
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


def _expected_shapes(spec: MLPSpec | CNNSpec | None, model: nn.Module | None) -> dict | None:
    if model is not None:
        return {k: tuple(v.shape) for k, v in model.named_parameters()}
    if spec is not None:
        return {k: tuple(v.shape) for k, v in build(spec).named_parameters()}
    return None


def load(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    map_location: str | torch.device = "cpu",
    allow_nonfinite: bool = False,
) -> Checkpoint:
    """Read and validate a checkpoint.

    Args:
        path: the file.
        model: for a checkpoint of your own architecture, the module whose parameter names
            and shapes the file must match (it is not modified).
        map_location: device for the tensors.
        allow_nonfinite: accept NaN/inf weights (e.g. to inspect a diverged run).

    Raises:
        CheckpointError: missing file, not a landscape checkpoint, missing/extra/mis-shaped
            tensors, or non-finite weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
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
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, this landscape reads "
            f"up to {VERSION}; upgrade landscape"
        )
    params = payload.get("params")
    if (
        not isinstance(params, dict)
        or not params
        or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in params.items())
    ):
        raise CheckpointError(
            f"{path}: 'params' must be a non-empty dict of name → tensor; "
            "write the file with landscape.checkpoint.save"
        )
    spec = None
    if payload.get("spec") is not None:
        try:
            spec = spec_from_dict(payload["spec"])
        except Exception as err:
            raise CheckpointError(f"{path}: {err}") from None
    expected = _expected_shapes(spec, model)
    if expected is not None:
        missing = [k for k in expected if k not in params]
        extra = [k for k in params if k not in expected]
        if missing or extra:
            raise CheckpointError(
                f"{path}: tensors do not match the model: missing {missing}, unexpected {extra}"
            )
        for k, shape in expected.items():
            if tuple(params[k].shape) != shape:
                raise CheckpointError(
                    f"{path}: tensor {k!r} has shape {tuple(params[k].shape)}, "
                    f"the model expects {shape}"
                )
        params = {k: params[k] for k in expected}
    if not allow_nonfinite:
        bad = [
            k for k, v in params.items() if v.is_floating_point() and not torch.isfinite(v).all()
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
    return Checkpoint(params=params, spec=spec, meta=meta)
