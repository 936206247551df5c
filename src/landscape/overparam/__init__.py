"""Over-parameterization: why bad minima become rare and why wide networks train.

Spurious minima and the topology of level sets:

* :mod:`.teacher` — the Gaussian-input ReLU teacher–student loss in closed form (arc-cosine
  kernel), its exact gradient and Hessian, batched over students.
* :mod:`.spurious` — Safran & Shamir's search for spurious local minima, batched over starts.
* :mod:`.controls` — deep linear and quadratic networks as controls; the constructive path.

Convergence of over-parameterized training:

* :mod:`.kernel` — the random-feature kernel K̄_Θ and the empirical NTK Gram matrix.
* :mod:`.kawaguchi` — Kawaguchi & Kaelbling's exponential-unit wrapper.
* :mod:`.auer` — one logistic neuron with exponentially many local minima.
"""

from __future__ import annotations

__all__: list[str] = []

# -- spurious minima and topology (teacher, spurious, controls) ------------------------------
from .spurious import SpuriousRecord, descend, match_families, spurious_minima
from .teacher import (
    arccos_kernel,
    relu_population_grad,
    relu_population_hessian,
    relu_population_loss,
)

__all__ += [
    "SpuriousRecord",
    "arccos_kernel",
    "descend",
    "match_families",
    "relu_population_grad",
    "relu_population_hessian",
    "relu_population_loss",
    "spurious_minima",
]

# -- convergence of over-parameterized training (kernel, kawaguchi, auer) ---------------------
from .auer import AUER_1D, NeuronMinima, auer_dataset, find_minima, neuron_model  # noqa: E402
from .kawaguchi import KawaguchiLoss  # noqa: E402
from .kernel import (  # noqa: E402
    KernelSpectrum,
    LazyTrajectory,
    SeminarNet,
    empirical_ntk,
    gradient_inequality,
    kernel_spectrum,
    lazy_descent,
    random_feature_kernel,
    second_derivative_magnitudes,
    seminar_gradient,
    seminar_init,
    seminar_ntk,
)

__all__ += [
    "AUER_1D",
    "KawaguchiLoss",
    "KernelSpectrum",
    "LazyTrajectory",
    "NeuronMinima",
    "SeminarNet",
    "auer_dataset",
    "empirical_ntk",
    "find_minima",
    "gradient_inequality",
    "kernel_spectrum",
    "lazy_descent",
    "neuron_model",
    "random_feature_kernel",
    "second_derivative_magnitudes",
    "seminar_gradient",
    "seminar_init",
    "seminar_ntk",
]
