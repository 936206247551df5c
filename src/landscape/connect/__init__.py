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

Every path finder takes a pure ``loss(params, batch)`` (e.g.
``FunctionalModel(model).loss``), two params dicts, data and a threshold ``L0``, and
returns a :class:`PathResult`; :func:`find_path` picks one by name. A search that fails
within its limits reports ``"not connected within limits"``, never "disconnected".
"""

from __future__ import annotations

from ._common import CONNECTED, NOT_CONNECTED, PathResult, Profile, classification_error
from ._dispatch import METHODS, find_path
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
    "classification_error",
    "dss",
    "dss_constrained",
    "find_path",
    "interpolate",
    "linear_path",
    "permute_mlp",
    "weight_matching",
]
