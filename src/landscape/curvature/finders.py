"""Every critical-point finder by name, and one entry point that runs any of them.

Two families (Dauphin et al. 2014; Frye et al. 2019):

* :mod:`.newton` — Krylov / Newton-type methods that drive ``‖∇L‖`` to a threshold and are
  attracted to critical points of any index near the start (``newton_mr``,
  ``damped_newton``, ``gradient_norm_lbfgs``), and ``saddle_free_newton``, which is repelled
  by saddles and finds minima;
* :mod:`.following` — ``eigenvector_following``, the direct method for a chosen index
  (dense Hessians, small models).

Every finder stops when ``‖∇L‖ ≤ grad_tol`` and reports the norm *actually reached* at the
returned parameters (computed there over the whole dataset); ``converged`` is true only if
that norm is below ``grad_tol``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Literal

from torch import Tensor

from .._errors import LandscapeError, check_choice
from ..functional import Data
from ._finder import CriticalPointResult
from .following import eigenvector_following
from .newton import damped_newton, gradient_norm_lbfgs, newton_mr, saddle_free_newton
from .operator import PureLoss

__all__ = ["FINDERS", "Method", "find_critical_point"]

Method = Literal[
    "newton_mr",
    "damped_newton",
    "saddle_free_newton",
    "gradient_norm_lbfgs",
    "eigenvector_following",
]

#: the finders by name, for configs and the CLI
FINDERS = {
    "newton_mr": newton_mr,
    "damped_newton": damped_newton,
    "saddle_free_newton": saddle_free_newton,
    "gradient_norm_lbfgs": gradient_norm_lbfgs,
    "eigenvector_following": eigenvector_following,
}


def find_critical_point(
    loss: PureLoss,
    params: Mapping[str, Tensor],
    data: Data | None = None,
    method: Method = "damped_newton",
    **options: object,
) -> CriticalPointResult:
    """Run the finder ``method`` (a key of :data:`FINDERS`) with its keyword ``options``.

    ``damped_newton`` (the default: the most robust in our tests on small networks),
    ``newton_mr`` and ``gradient_norm_lbfgs`` find critical points of any index near the
    start; ``saddle_free_newton`` finds minima; ``eigenvector_following`` aims at a
    ``target_index``. Starts that end at a minimum of ``‖∇L‖`` that is not critical are
    common on networks (Frye et al. 2019): they come back with ``converged=False``.

    Raises:
        LandscapeError: unknown ``method`` or an option the method does not take.
    """
    check_choice("method", method, FINDERS)
    finder = FINDERS[method]
    allowed = [
        name
        for name, par in inspect.signature(finder).parameters.items()
        if par.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise LandscapeError(
            f"method={method!r} does not take option(s) {unknown}; allowed: {sorted(allowed)}"
        )
    return finder(loss, params, data, **options)
