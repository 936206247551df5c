"""Reproduced experiments: one module each, with a pydantic ``Config`` and
``run(config, store, run_id, executor) -> Result``; presets in ``landscape/configs``."""

from ._base import (
    EXPERIMENTS,
    ExperimentConfig,
    Result,
    build_config,
    execute,
    get_experiment,
    preset,
)

__all__ = [
    "EXPERIMENTS",
    "ExperimentConfig",
    "Result",
    "build_config",
    "execute",
    "get_experiment",
    "preset",
]
