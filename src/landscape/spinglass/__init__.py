"""The spherical H-spin glass: Hamiltonian, optimisers, saddles, index and complexity theory.

The model of Choromanska et al. 2015 (*The Loss Surfaces of Multilayer Networks*) after
Auffinger, Ben Arous & Černý 2013: ``L(w) = Λ^{-(H-1)/2} Σ J_{i_1…i_H} w_{i_1}⋯w_{i_H}`` on
the sphere ``‖w‖² = Λ``, energies reported as ``L/Λ``.

* :mod:`~landscape.spinglass.hamiltonian`: :class:`SpinGlass` (energy, Euclidean and
  Riemannian gradient and Hessian, index) for one point or a batch of replicas.
* :mod:`~landscape.spinglass.optimize`: projected (stochastic) gradient descent,
  :func:`minimize` (descent, Newton polish, escape from saddles) and :func:`sample_minima`
  from random starts, :func:`find_saddles` by eigenvector following.
* :mod:`~landscape.spinglass.theory`: ``E_∞(H)``, the complexities ``Θ_{k,H}(u)`` and
  ``Θ_H(u)``, and the thresholds ``E_k(H)``.

Example:
    >>> import torch
    >>> from landscape import spinglass as sg
    >>> glass = sg.SpinGlass.random(n_spins=30, H=3, seed=0, dtype=torch.float64)
    >>> res = sg.sample_minima(glass, replicas=8, seed=1)
    >>> bool(res.converged.all()), res.index.tolist() == [0] * 8
    (True, True)
    >>> bool((res.energy > -sg.threshold(3, 0) - 0.1).all())
    True
"""

from __future__ import annotations

from .hamiltonian import (
    DISTRIBUTIONS,
    SpinGlass,
    couplings,
    random_sphere,
    retract,
    symmetrize,
    tangent_basis,
    tangent_project,
)
from .optimize import (
    CriticalPoints,
    find_saddles,
    gradient_descent,
    minimize,
    sample_minima,
    stochastic_gradient_descent,
)
from .theory import complexity, e_inf, goe_rate, threshold, thresholds

__all__ = [
    "DISTRIBUTIONS",
    "CriticalPoints",
    "SpinGlass",
    "complexity",
    "couplings",
    "e_inf",
    "find_saddles",
    "goe_rate",
    "gradient_descent",
    "minimize",
    "random_sphere",
    "retract",
    "sample_minima",
    "stochastic_gradient_descent",
    "symmetrize",
    "tangent_basis",
    "tangent_project",
    "threshold",
    "thresholds",
]
