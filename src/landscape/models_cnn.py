"""Batch normalisation with frozen statistics, for the small CNNs of :mod:`landscape.models`.

``landscape`` evaluates and trains models functionally (``torch.func.functional_call``
under ``vmap``), which never writes the running statistics of a batch-norm layer. The
layer is therefore used as the eval-mode ``nn.BatchNorm2d`` it is: ``γ ⊙ (x − μ)/√(σ² + ε)
+ β`` with fixed ``μ = 0``, ``σ² = 1`` (the initial running statistics), i.e. a learned
per-channel scale and shift, so the landscape is a function of the parameters alone and
does not depend on how data is chunked. The statistics are non-persistent buffers: a
checkpoint holds the parameters ``weight`` (γ) and ``bias`` (β) only.
"""

from __future__ import annotations

from torch import nn

__all__ = ["FrozenBatchNorm2d"]


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose running statistics are not saved with the parameters."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, getattr(self, name), persistent=False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # skip BatchNorm's compatibility step, which would add the (unsaved) batch counter
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)
