"""landscape: see and measure the optimization landscape of neural networks.

Parameters are ``dict[str, Tensor]`` (:mod:`landscape.params`); any ``nn.Module`` becomes a
pure ``loss(params, batch)`` through :class:`landscape.functional.FunctionalModel`.
Sub-packages: :mod:`landscape.spinglass`, :mod:`landscape.curvature`,
:mod:`landscape.connect`, :mod:`landscape.surface`, :mod:`landscape.experiments`,
:mod:`landscape.runtime`, :mod:`landscape.plots`.
"""

from __future__ import annotations

from . import checkpoint, data, functional, models, params
from ._errors import CheckpointError, ConfigError, DataError, LandscapeError
from .functional import FunctionalModel, dataset_mean, evaluate_points
from .models import CNNSpec, MLPSpec, build
from .params import Params

__version__ = "0.1.0"

__all__ = [
    "CNNSpec",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "FunctionalModel",
    "LandscapeError",
    "MLPSpec",
    "Params",
    "__version__",
    "build",
    "checkpoint",
    "data",
    "dataset_mean",
    "evaluate_points",
    "functional",
    "models",
    "params",
]
