"""Level-set connectivity: paths between trained models and what they climb over.

Freeman & Bruna (2017) ask whether the level sets ``Ω(λ) = {θ : F(θ) ≤ λ}`` of a network's
loss are connected, and how curved they are; this package is their measuring instrument
and its relatives:

* :func:`interpolate` — the loss along the straight segment, and its barrier (both the
  ``max − max(ends)`` and Ainsworth et al.'s ``max − mean(ends)`` forms);
* :func:`dss` — greedy Dynamic String Sampling (Freeman & Bruna, Algorithm 1);
* :func:`dss_constrained` — the breadth-first variant, the whole string trained as one
  batched step with a spring term or the equidistant-hyperplane constraint;
* :func:`bezier` — a quadratic Bezier curve with a trained control point (Garipov et al.
  2018);
* :func:`weight_matching` — permutation alignment of MLPs (Ainsworth et al. 2022), and
  :func:`align_and_interpolate` for the barrier before and after.

Every path finder takes the objective the path descends — a pure ``loss(params, batch)``
(e.g. ``FunctionalModel(model).loss``) with its data, or an
:class:`~landscape.evaluate.Evaluator` that holds data, chunking, device and dtype — two
params dicts and a threshold ``L0``; ``measure`` (a function on the same data or an
Evaluator of its own, e.g. the test error) puts the threshold on another quantity. Each
returns a :class:`PathResult` (:mod:`.records`); :func:`find_path` picks one by name. A
search that fails within its limits reports ``"not connected within limits"``, never
"disconnected".

Modules: :mod:`.records` (what is returned), :mod:`.string` (segment scans, lengths and
the batched bead descent shared by the string methods), :mod:`.interpolate`, :mod:`.dss`,
:mod:`.bezier`, :mod:`.align`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from .._errors import LandscapeError, check_choice
from ..evaluate import Evaluator, PureFn
from ..functional import Data
from .align import (
    Alignment,
    AlignmentReport,
    align_and_interpolate,
    permute_mlp,
    weight_matching,
)
from .bezier import bezier, bezier_points
from .dss import dss, dss_constrained
from .interpolate import Interpolation, interpolate, linear_path
from .records import CONNECTED, NOT_CONNECTED, PathResult, Profile

__all__ = [
    "CONNECTED",
    "METHODS",
    "NOT_CONNECTED",
    "Alignment",
    "AlignmentReport",
    "Interpolation",
    "PathResult",
    "Profile",
    "align_and_interpolate",
    "bezier",
    "bezier_points",
    "dss",
    "dss_constrained",
    "find_path",
    "interpolate",
    "linear_path",
    "permute_mlp",
    "weight_matching",
]

#: path finders by name: ``dss`` (greedy), ``dss-constrained``, ``bezier``, ``linear``
METHODS: dict[str, Callable[..., PathResult]] = {
    "dss": dss,
    "dss-constrained": dss_constrained,
    "bezier": bezier,
    "linear": linear_path,
}


def find_path(
    loss: Evaluator | PureFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data | None = None,
    threshold: float | None = None,
    method: str = "dss",
    **options: Any,
) -> PathResult:
    """Connect ``θ_A`` and ``θ_B`` below ``threshold`` with the path finder ``method``.

    Args:
        loss: a pure ``loss(params, batch) -> scalar`` with its ``data``, or an
            :class:`~landscape.evaluate.Evaluator` (then leave ``data`` out).
        a, b: the endpoints (params of one model each).
        data: training data for a pure ``loss``.
        threshold: the level ``L0``.
        method: ``"dss"``, ``"dss-constrained"``, ``"bezier"`` or ``"linear"``.
        **options: keyword options of that method, ``measure`` included (see :func:`dss`,
            :func:`dss_constrained`, :func:`bezier`, :func:`linear_path`).

    Returns:
        :class:`PathResult`.

    Raises:
        LandscapeError: an unknown method or an option that method does not take, and
            whatever the method itself rejects.
    """
    check_choice("method", method, METHODS)
    fn = METHODS[method]
    accepted = [
        name
        for name in inspect.signature(fn).parameters
        if name not in ("loss", "a", "b", "data", "threshold")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise LandscapeError(
            f"method={method!r} does not take option(s) {unknown}; it takes {accepted}"
        )
    return fn(loss, a, b, data, threshold, **options)
