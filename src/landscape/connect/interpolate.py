"""Linear interpolation between two models: the loss profile and the barrier.

The straight segment ``θ(t) = (1 − t) θ_A + t θ_B`` is the first thing to look at between
two trained models (Goodfellow, Vinyals & Saxe 2015, *Qualitatively characterizing neural
network optimization problems*). All ``T`` points of the grid go through the loss in one
batched pass (``vmap`` over the stacked points, :func:`landscape.functional.evaluate_points`).

Two barrier heights are reported:

* ``barrier = max_t L(θ(t)) − max(L(θ_A), L(θ_B))``: how far the path climbs above the
  higher endpoint (the maximum includes the endpoints, so it is ``≥ 0``; ``0`` means the
  segment stays in the level set of the worse endpoint).
* ``barrier_mean = max_t L(θ(t)) − ½ (L(θ_A) + L(θ_B))``: the form of Ainsworth, Hayase &
  Srinivasa 2022 (*Git Re-Basin*), also used by Frankle et al. 2020 for linear mode
  connectivity; never below ``barrier``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from .._errors import LandscapeError
from .._validate import check_endpoints, check_int, check_positive
from ..evaluate import Evaluator, PureFn, objective_and_measure
from ..functional import Data
from ..params import lerp, stack
from .records import PathResult, Profile, path_result
from .string import normalized_lengths, values_at

__all__ = ["Interpolation", "interpolate", "linear_path"]


@dataclass(frozen=True)
class Interpolation:
    """Loss (and measure) along the straight segment from ``θ_A`` to ``θ_B``.

    Attributes:
        t: ``(T,)`` interpolation coefficients (``t = 0`` is ``θ_A``, ``t = 1`` is ``θ_B``).
        loss: ``(T,)`` dataset-mean loss at ``θ(t)``.
        measure: ``(T,)`` dataset-mean measure (e.g. test error) at ``θ(t)``, or ``None``.
        loss_a, loss_b: the loss at the endpoints.
        barrier: ``max_{t∈[0,1]} L(θ(t)) − max(L_A, L_B)`` over the grid.
        barrier_mean: ``max_{t∈[0,1]} L(θ(t)) − ½ (L_A + L_B)`` (Ainsworth et al. 2022).
        argmax_t: where the maximum over ``t ∈ [0, 1]`` sits.
        measure_a, measure_b, measure_barrier, measure_barrier_mean: the same for the
            measure (``nan`` without one).
        measure_name: name of the measure (``"loss"`` without one).
    """

    t: Tensor
    loss: Tensor
    measure: Tensor | None
    loss_a: float
    loss_b: float
    barrier: float
    barrier_mean: float
    argmax_t: float
    measure_a: float = math.nan
    measure_b: float = math.nan
    measure_barrier: float = math.nan
    measure_barrier_mean: float = math.nan
    measure_name: str = "loss"

    def summary(self) -> dict[str, float | str]:
        """Plain-Python scalars for a table or a run store."""
        return {
            "loss_a": self.loss_a,
            "loss_b": self.loss_b,
            "max_loss": float(self._inside(self.loss).max()),
            "barrier": self.barrier,
            "barrier_mean": self.barrier_mean,
            "argmax_t": self.argmax_t,
            "measure": self.measure_name,
            "measure_barrier": self.measure_barrier,
            "measure_barrier_mean": self.measure_barrier_mean,
        }

    def _inside(self, values: Tensor) -> Tensor:
        return values[(self.t >= 0) & (self.t <= 1)]


def _barriers(t: Tensor, values: Tensor, end_a: float, end_b: float) -> tuple[float, float, float]:
    inside = (t >= 0) & (t <= 1)
    v = values[inside]
    i = int(torch.argmax(v))
    peak = max(float(v[i]), end_a, end_b)
    return peak - max(end_a, end_b), peak - 0.5 * (end_a + end_b), float(t[inside][i])


def interpolate(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    grid: int = 51,
    t_range: tuple[float, float] = (0.0, 1.0),
    measure: Evaluator | PureFn | None = None,
) -> Interpolation:
    """Loss profile along ``θ(t) = (1 − t) θ_A + t θ_B``, all ``t`` in one batched pass.

    Args:
        loss: a pure ``loss(params, batch) -> scalar`` (e.g. ``FunctionalModel(m).loss``)
            with its ``data``, or an :class:`~landscape.evaluate.Evaluator` that holds its
            data, chunking (``chunk_size``, ``points_chunk``), device and dtype (then leave
            ``data`` out). With ``dtype=torch.float64`` the endpoints are cast first; a
            :class:`~landscape.functional.FunctionalModel` casts its buffers (batch-norm
            statistics) with them, so that works for any model.
        a, b: the two endpoints (params of one model each; not modified).
        data: ``(x, y)`` tensors or an iterable of such batches; the loss is its mean.
        grid: number of ``t`` values, evenly spaced over ``t_range`` (at least 2).
        t_range: ``(t_min, t_max)``; go beyond ``[0, 1]`` to see past the endpoints. The
            barriers only use points with ``0 ≤ t ≤ 1`` and the endpoints themselves.
        measure: a second quantity to profile: a pure function evaluated on the loss's data
            (e.g. :func:`~landscape.evaluate.error_rate`), an
            :class:`~landscape.evaluate.Evaluator` with its own data (e.g. the test split),
            or ``None``.

    Returns:
        :class:`Interpolation`.

    Raises:
        LandscapeError: endpoints from different architectures, a bad grid or range, an
            ``nn.Module`` given as ``loss`` or ``measure`` (wrap it in ``FunctionalModel``).

    Example:
        >>> import torch
        >>> f = lambda p, batch: (p["w"] ** 2).sum()
        >>> r = interpolate(f, {"w": torch.tensor([-1.0])}, {"w": torch.tensor([1.0])},
        ...                 (torch.zeros(1, 1), torch.zeros(1, 1)), grid=5)
        >>> r.barrier, r.barrier_mean
        (0.0, 0.0)
    """
    objective, measure = objective_and_measure(loss, data, measure)
    check_endpoints(a, b)
    grid = check_int("grid", grid, 2)
    lo, hi = (float(v) for v in t_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise LandscapeError(f"t_range must be (t_min, t_max) with t_min < t_max, got {t_range!r}")
    if lo > 0.0 or hi < 1.0:
        raise LandscapeError(f"t_range must contain [0, 1] (the segment itself), got {t_range!r}")
    a, b = objective.prepare(a), objective.prepare(b)
    first = next(iter(a.values()))
    t = torch.linspace(lo, hi, grid, dtype=first.dtype, device=first.device)
    loss_t, measure_t = values_at(objective, measure, lerp(a, b, t))
    ends_loss, ends_measure = values_at(objective, measure, stack([a, b]))
    la, lb = float(ends_loss[0]), float(ends_loss[1])
    barrier, barrier_mean, arg = _barriers(t, loss_t, la, lb)
    extra = {}
    if measure_t is not None:
        ma, mb = float(ends_measure[0]), float(ends_measure[1])
        mbar, mbar_mean, _ = _barriers(t, measure_t, ma, mb)
        extra = {
            "measure_a": ma,
            "measure_b": mb,
            "measure_barrier": mbar,
            "measure_barrier_mean": mbar_mean,
        }
    return Interpolation(
        t=t,
        loss=loss_t,
        measure=measure_t,
        loss_a=la,
        loss_b=lb,
        barrier=barrier,
        barrier_mean=barrier_mean,
        argmax_t=arg,
        measure_name=measure.name,
        **extra,
    )


def linear_path(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    threshold: float | None = None,
    grid: int = 51,
    measure: Evaluator | PureFn | None = None,
) -> PathResult:
    """The straight segment as a :class:`PathResult` (no beads; length 1), for comparison.

    ``connected`` says whether the segment stays in the level set ``Ω(threshold)`` of the
    measure (default: the loss). Arguments as in :func:`interpolate`.

    Raises:
        LandscapeError: ``threshold ≤ 0``, endpoints from different architectures.
    """
    check_endpoints(a, b, distinct=True)
    threshold = check_positive("threshold", threshold)
    objective, measure = objective_and_measure(loss, data, measure)
    r = interpolate(objective, a, b, grid=grid, measure=measure)
    beads = stack([objective.prepare(a), objective.prepare(b)])
    values = r.loss if r.measure is None else r.measure
    ends_measure = [r.measure_a, r.measure_b] if r.measure is not None else [r.loss_a, r.loss_b]
    peak, idx = values.max(dim=0)
    profile = Profile(
        s=r.t,
        distance=r.t.clone(),
        loss=r.loss,
        measure=r.measure,
        bead_s=r.t.new_tensor([0.0, 1.0]),
        bead_distance=r.t.new_tensor([0.0, 1.0]),
        bead_loss=r.t.new_tensor([r.loss_a, r.loss_b]),
        bead_measure=r.t.new_tensor(ends_measure) if r.measure is not None else None,
        measure_name=r.measure_name,
    )
    return path_result(
        "linear",
        threshold,
        beads,
        peak.reshape(1),
        r.t[idx].reshape(1),
        normalized_lengths(beads),
        profile,
        "the straight segment rises above the threshold",
    )
