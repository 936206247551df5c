"""One entry point for every path finder, chosen by name (what the CLI's ``--method`` needs)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from .._errors import LandscapeError, check_choice
from ..functional import Data
from ._common import LossFn, PathResult
from .bezier import bezier
from .dss import dss, dss_constrained
from .interpolate import linear_path

__all__ = ["METHODS", "find_path"]

#: path finders by name: ``dss`` (greedy), ``dss-constrained``, ``bezier``, ``linear``
METHODS: dict[str, Callable[..., PathResult]] = {
    "dss": dss,
    "dss-constrained": dss_constrained,
    "bezier": bezier,
    "linear": linear_path,
}


def find_path(
    loss: LossFn,
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    data: Data,
    threshold: float,
    method: str = "dss",
    **options: Any,
) -> PathResult:
    """Connect ``θ_A`` and ``θ_B`` below ``threshold`` with the path finder ``method``.

    Args:
        loss: pure ``loss(params, batch) -> scalar``.
        a, b: the endpoints (params of one model each).
        data: training data.
        threshold: the level ``L0``.
        method: ``"dss"``, ``"dss-constrained"``, ``"bezier"`` or ``"linear"``.
        **options: keyword options of that method (see :func:`~landscape.connect.dss`,
            :func:`~landscape.connect.dss_constrained`, :func:`~landscape.connect.bezier`,
            :func:`~landscape.connect.linear_path`).

    Returns:
        :class:`~landscape.connect.PathResult`.

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
