"""Complexity of the spherical H-spin glass (Auffinger, Ben Arous & Černý 2013).

For the pure spherical ``p``-spin glass with ``p = H ≥ 2`` (the model of
:mod:`landscape.spinglass.hamiltonian`), let ``Crt_{Λ,k}(u)`` be the number of critical points
of index ``k`` with ``L/Λ ≤ u``. Auffinger, Ben Arous & Černý (*Random Matrices and
Complexity of Spin Glasses*, CPAM 66, 2013, Theorems 2.5 and 2.8; used by Choromanska et
al. 2015, Theorem 3.2) prove

.. math::

    \\lim_{Λ→∞} \\frac{1}{Λ} \\log \\mathbb{E}\\, Crt_{Λ,k}(u) = Θ_{k,H}(u),

    Θ_{k,H}(u) = \\begin{cases}
        \\tfrac12 \\log(H-1) − \\tfrac{H-2}{4(H-1)} u^2 − (k+1) I_1(u), & u ≤ −E_∞, \\\\
        \\tfrac12 \\log(H-1) − \\tfrac{H-2}{H}, & u ≥ −E_∞,
    \\end{cases}

with ``E_∞ = 2\\sqrt{(H-1)/H}`` and the large-deviation rate of the largest eigenvalue of
a GOE matrix (semicircle on ``[−E_∞, E_∞]``)

.. math::

    I_1(u) = −\\frac{u}{E_∞^2}\\sqrt{u^2 − E_∞^2}
             − \\log\\big(−u + \\sqrt{u^2 − E_∞^2}\\big) + \\log E_∞, \\qquad u ≤ −E_∞ .

For all critical points, whatever their index,

.. math::

    Θ_H(u) = \\begin{cases}
        \\tfrac12 \\log(H-1) − \\tfrac{H-2}{4(H-1)} u^2 − I_1(u), & u ≤ −E_∞, \\\\
        \\tfrac12 \\log(H-1) − \\tfrac{H-2}{4(H-1)} u^2, & −E_∞ ≤ u ≤ 0, \\\\
        \\tfrac12 \\log(H-1), & u ≥ 0 .
    \\end{cases}

``I_1(−E_∞) = 0`` and ``(H−2)/(4(H−1)) E_∞² = (H−2)/H``, so both are continuous; both are
nondecreasing. For ``H ≥ 3`` each ``Θ_{k,H}`` is positive at ``−E_∞`` and has one zero below
it, at ``u = −E_k(H)``: below ``−E_k`` there are (in expectation) no critical points of
index ``k``, and ``E_0(H) > E_1(H) > … > E_∞(H)`` — the layered structure of low critical
values. For ``H = 2`` (a quadratic form on the sphere: its critical points are the ``Λ``
eigenvectors) everything collapses, ``E_k(2) = E_∞(2) = √2``.

Everything here is NumPy float64 and vectorised over ``u``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .._errors import LandscapeError

__all__ = ["complexity", "e_inf", "goe_rate", "threshold", "thresholds"]


def _check_H(H: int) -> None:
    if isinstance(H, bool) or not isinstance(H, int | np.integer) or H < 2:
        raise LandscapeError(f"H (interaction order) must be an integer >= 2, got {H!r}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise LandscapeError(f"k (index) must be an integer >= 0, got {k!r}")


def e_inf(H: int) -> float:
    """``E_∞(H) = 2√((H−1)/H)``: minus the energy below which local minima dominate.

    Example:
        >>> round(e_inf(3), 6)
        1.632993
        >>> e_inf(2) == math.sqrt(2)
        True
    """
    _check_H(H)
    return 2.0 * math.sqrt((H - 1) / H)


def goe_rate(u: ArrayLike, H: int) -> np.ndarray:
    """The rate ``I_1(u)`` (see the module docstring); 0 for ``u ≥ −E_∞``.

    Positive and decreasing for ``u < −E_∞`` (``I_1'(u) = −2√(u² − E_∞²)/E_∞²``).
    """
    _check_H(H)
    u = np.asarray(u, dtype=np.float64)
    e = e_inf(H)
    below = u < -e
    ub = np.where(below, u, -2.0 * e)  # a safe value where the formula is not used
    root = np.sqrt(ub * ub - e * e)
    value = -ub / (e * e) * root - np.log(-ub + root) + math.log(e)
    return np.where(below, value, 0.0)


def complexity(u: ArrayLike, H: int, k: int | None = None) -> np.ndarray:
    """``Θ_{k,H}(u)`` for index ``k``, or the total complexity ``Θ_H(u)`` when ``k is None``.

    Args:
        u: normalised energies ``L/Λ`` (any shape).
        H: interaction order ``≥ 2``.
        k: index ``≥ 0``, or ``None`` for all critical points.

    Returns:
        Float64 array shaped like ``u``.

    Raises:
        LandscapeError: ``H < 2`` or ``k < 0``.

    Example:
        >>> c = 0.5 * math.log(2) - 1 / 3  # Θ_{k,3} above −E_∞, for every k
        >>> bool(np.isclose(complexity(-1.0, 3, k=0), c))
        True
        >>> bool(np.isclose(complexity(1.0, 3), 0.5 * math.log(2)))
        True
        >>> complexity([-3.0, -1.0], 2, k=0).round(4).tolist()
        [-2.5843, 0.0]
    """
    _check_H(H)
    if k is not None:
        _check_k(k)
    u = np.asarray(u, dtype=np.float64)
    e = e_inf(H)
    base = 0.5 * math.log(H - 1)
    quad = (H - 2) / (4 * (H - 1)) * u * u
    rate = goe_rate(u, H)
    if k is None:
        return np.where(u >= 0, base, base - quad - rate)
    return np.where(u <= -e, base - quad - (k + 1) * rate, base - (H - 2) / H)


def threshold(H: int, k: int) -> float:
    """``E_k(H)``: the zero ``u = −E_k`` of ``Θ_{k,H}`` below ``−E_∞``, by Brent's method.

    Returns ``E_∞(H) = √2`` for ``H = 2``, where ``Θ_{k,2} < 0`` below ``−√2`` and ``= 0`` above.

    Raises:
        LandscapeError: ``H < 2`` or ``k < 0``.

    Example:
        >>> round(threshold(3, 0), 4), round(e_inf(3), 4)
        (1.657, 1.633)
    """
    _check_H(H)
    _check_k(k)
    e = e_inf(H)
    if H == 2:
        return e

    def f(u: float) -> float:
        return float(complexity(u, H, k))

    lo = -2.0 * e
    while f(lo) > 0:  # Θ → −∞ as u → −∞; widen the bracket until it changes sign
        lo *= 2.0
    return -brentq(f, lo, -e, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)


def thresholds(H: int, k_max: int) -> np.ndarray:
    """``[E_0(H), E_1(H), …, E_{k_max}(H)]`` (float64, decreasing toward ``E_∞(H)``)."""
    _check_k(k_max)
    return np.array([threshold(H, k) for k in range(k_max + 1)])
