"""What the path finders return: the profile along a path and the path's record.

:class:`Profile` holds the values along a path, ready to plot; :class:`PathResult` is the
outcome of every path finder (greedy or constrained DSS, Bezier, the straight line): the
beads, the segment maxima against the threshold, the normalized geodesic lengths and an
honest status, ``"connected"`` or ``"not connected within limits"`` — never
"disconnected", since a search that stops at a limit proves nothing about the level set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..params import Params

__all__ = ["CONNECTED", "NOT_CONNECTED", "PathResult", "Profile", "path_result"]

#: the status of a path whose every segment stays at or below the threshold
CONNECTED = "connected"
#: the status of a search that stopped at a limit (not a proof of disconnection)
NOT_CONNECTED = "not connected within limits"


@dataclass(frozen=True)
class Profile:
    """Values along a path, ready to plot.

    The path coordinate ``s`` puts bead ``i`` of a string at ``s = i`` (so segment ``i`` is
    ``s ∈ [i, i + 1]``); for a single curve (linear interpolation, Bezier) ``s = t ∈ [0, 1]``.
    ``distance`` is the Euclidean length travelled along the path from ``θ_A`` divided by
    ``‖θ_A − θ_B‖`` (so the last entry is the normalized geodesic length).

    Attributes:
        s: ``(M,)`` path coordinate of each evaluated point.
        distance: ``(M,)`` normalized distance travelled along the path.
        loss: ``(M,)`` the training loss at each point.
        measure: ``(M,)`` the thresholded quantity (e.g. test error) when it differs from the
            loss, else ``None``.
        bead_s: ``(E,)`` path coordinates of the beads (for a curve: its two endpoints).
        bead_distance: ``(E,)`` normalized distance travelled to each bead.
        bead_loss: ``(E,)`` loss at the beads.
        bead_measure: ``(E,)`` measure at the beads, or ``None``.
        measure_name: what ``values`` holds (``"loss"`` when there is no separate measure).
    """

    s: Tensor
    distance: Tensor
    loss: Tensor
    measure: Tensor | None
    bead_s: Tensor
    bead_distance: Tensor
    bead_loss: Tensor
    bead_measure: Tensor | None = None
    measure_name: str = "loss"

    @property
    def values(self) -> Tensor:
        """The thresholded quantity along the path: ``measure`` if given, else ``loss``."""
        return self.loss if self.measure is None else self.measure

    @property
    def bead_values(self) -> Tensor:
        """The thresholded quantity at the beads."""
        return self.bead_loss if self.bead_measure is None else self.bead_measure

    _ARRAYS = (
        "s",
        "distance",
        "loss",
        "measure",
        "bead_s",
        "bead_distance",
        "bead_loss",
        "bead_measure",
    )

    def to_arrays(self, prefix: str = "profile.") -> dict[str, Any]:
        """The tensors as CPU numpy arrays keyed ``prefix + field`` (for a run store)."""
        out: dict[str, Any] = {}
        for name in self._ARRAYS:
            value = getattr(self, name)
            if value is not None:
                out[prefix + name] = value.detach().cpu().numpy()
        return out

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, Any], measure_name: str = "loss", prefix: str = "profile."
    ) -> Profile:
        """Inverse of :meth:`to_arrays` (missing optional fields become ``None``)."""
        fields = {
            n: torch.as_tensor(arrays[prefix + n]) if prefix + n in arrays else None
            for n in cls._ARRAYS
        }
        return cls(**fields, measure_name=measure_name)


@dataclass(frozen=True)
class PathResult:
    """Outcome of a path finder (greedy or constrained DSS, Bezier, or the straight line).

    ``connected`` is ``True`` when every segment's interpolated maximum (on the grid) is at
    most the threshold. ``False`` means only that no path was found *within the limits*;
    ``status`` then reads ``"not connected within limits"`` and ``reason`` names the limit.
    Nothing here ever claims that the level set is disconnected.

    Attributes:
        method: ``"dss"``, ``"dss-constrained"``, ``"bezier"`` or ``"linear"``.
        threshold: the level ``L0`` of the level set ``Ω(L0) = {θ : F(θ) ≤ L0}``.
        beads: stacked params ``(E, ...)``: the string from ``θ_A`` (index 0) to ``θ_B``
            (index ``E − 1``). For ``"bezier"`` these are the control points
            ``(θ_A, θ_control, θ_B)``, which do not all lie on the curve.
        segment_max: ``(S,)`` maximum of the thresholded quantity along each segment,
            on the grid (``S = E − 1``; ``S = 1`` for a Bezier curve).
        segment_argmax: ``(S,)`` the ``t ∈ [0, 1]`` where each maximum sits.
        length: normalized geodesic length ``Σ_i ‖θ_i − θ_{i+1}‖ / ‖θ_A − θ_B‖`` over all
            parameters (``≥ 1``; for a curve, the length of its fine polyline).
        length_weights: the same over weights only (tensors with ≥ 2 dimensions), the
            quantity of Freeman & Bruna's figures; ``nan`` if the params have no weights.
        connected: whether every segment maximum is ``≤ threshold``.
        status: ``"connected"`` or ``"not connected within limits"``.
        reason: for ``status != "connected"``, the limit that stopped the search.
        profile: the thresholded quantity and the loss along the whole path.
        steps: optimiser steps spent (all beads together).
        depth: recursion depth (greedy DSS) or insertion rounds (constrained DSS) reached.
        measure_name: the name of the thresholded quantity.
        log: one record per event (bead inserted, round finished, limit hit).
    """

    method: str
    threshold: float
    beads: Params
    segment_max: Tensor
    segment_argmax: Tensor
    length: float
    length_weights: float
    connected: bool
    status: str
    reason: str | None
    profile: Profile
    steps: int = 0
    depth: int = 0
    measure_name: str = "loss"
    log: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def bead_count(self) -> int:
        """Inner beads of the string (``E − 2``; for Bezier, its one control point)."""
        return int(next(iter(self.beads.values())).shape[0]) - 2

    @property
    def max_value(self) -> float:
        """The largest value of the thresholded quantity along the whole path."""
        return float(self.segment_max.max())

    def summary(self) -> dict[str, Any]:
        """Plain-Python scalars for a summary table or a run store."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "measure": self.measure_name,
            "status": self.status,
            "connected": self.connected,
            "reason": self.reason,
            "bead_count": self.bead_count,
            "max_value": self.max_value,
            "length": self.length,
            "length_weights": self.length_weights,
            "steps": self.steps,
            "depth": self.depth,
        }


def path_result(
    method: str,
    threshold: float,
    beads: Mapping[str, Tensor],
    segment_max: Tensor,
    segment_argmax: Tensor,
    lengths: tuple[Tensor, Tensor | None],
    profile: Profile,
    reason: str | None,
    **extra: Any,
) -> PathResult:
    """A :class:`PathResult` from its segment maxima: connected iff all are ``≤ threshold``.

    Args:
        method, threshold, beads, segment_max, segment_argmax, profile: the fields.
        lengths: ``(cum_all, cum_weights)`` of
            :func:`~landscape.connect.string.normalized_lengths` (their last entries are the
            lengths; ``cum_weights`` ``None`` gives ``nan``).
        reason: why the search stopped, used when the path is not connected (default
            ``"segment above threshold"``).
        **extra: ``steps``, ``depth``, ``log`` (a list of records).
    """
    cum_all, cum_w = lengths
    connected = bool((segment_max <= threshold).all())
    if "log" in extra:
        extra["log"] = tuple(extra["log"])
    return PathResult(
        method=method,
        threshold=threshold,
        beads=dict(beads),
        segment_max=segment_max,
        segment_argmax=segment_argmax,
        length=float(cum_all[-1]),
        length_weights=float(cum_w[-1]) if cum_w is not None else math.nan,
        connected=connected,
        status=CONNECTED if connected else NOT_CONNECTED,
        reason=None if connected else (reason or "segment above threshold"),
        profile=profile,
        measure_name=profile.measure_name,
        **extra,
    )
