"""Loss-surface slices: directions (filter-normalised, PCA, Hessian, three-model) and grids.

Li, Xu, Taylor, Studer & Goldstein 2018, *Visualizing the Loss Landscape of Neural Nets*.

* :mod:`.directions` — :func:`random_directions` (Gaussian, normalised ``filter`` /
  ``layer`` / ``model`` / ``none``, optionally orthogonalised), :func:`pca_directions` of a
  training trajectory, :func:`hessian_directions`, :func:`three_model_plane`.
* :mod:`.grid` — :func:`line`, :func:`plane` and :func:`zoom` returning :class:`Surface`
  records, evaluated in vmapped blocks with the first layer factored;
  :func:`project_trajectory`; ``directions.pt`` via :func:`save_directions` /
  :func:`load_directions`.

Example:
    >>> import torch
    >>> from landscape import FunctionalModel, MLPSpec, build
    >>> fm = FunctionalModel(build(MLPSpec(in_features=4, widths=(5,), out_features=3), seed=0))
    >>> x, y = torch.randn(20, 4, generator=torch.Generator().manual_seed(0)), torch.arange(20) % 3
    >>> d = random_directions(fm.params(), k=2, seed=0)
    >>> s = plane(fm, fm.params(), d, (x, y), alphas=[-1.0, 0.0, 1.0])
    >>> s.loss.shape, bool(abs(s.loss[1, 1] - float(fm.loss(fm.params(), (x, y)))) < 1e-6)
    ((3, 3), True)
"""

from .directions import (
    NORMALIZATIONS,
    Directions,
    hessian_directions,
    load_trajectory,
    normalize_direction,
    pca_directions,
    random_directions,
    three_model_plane,
)
from .grid import (
    BN_MODES,
    LOOP_WORK,
    Projection,
    Surface,
    evaluate_coefficients,
    line,
    load_directions,
    plane,
    project_trajectory,
    recompute_bn_buffers,
    save_directions,
    zoom,
)

__all__ = [
    "BN_MODES",
    "LOOP_WORK",
    "NORMALIZATIONS",
    "Directions",
    "Projection",
    "Surface",
    "evaluate_coefficients",
    "hessian_directions",
    "line",
    "load_directions",
    "load_trajectory",
    "normalize_direction",
    "pca_directions",
    "plane",
    "project_trajectory",
    "random_directions",
    "recompute_bn_buffers",
    "save_directions",
    "three_model_plane",
    "zoom",
]
