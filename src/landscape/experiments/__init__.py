"""Experiments (reproduced papers) and tools, run by one lifecycle and listed in one registry.

Each module under :mod:`.papers` (reproductions) and :mod:`.tools` (demo, diagnostics) is a
pydantic ``Config`` plus ``tasks(config)``, ``reduce(config, results)`` and
``figures(config, results, summary)``; :func:`execute` records, resumes, saves and persists
(:mod:`.lifecycle`); :data:`EXPERIMENTS` is the registry the CLI is generated from; presets
live in ``landscape/configs/<name>/{quick,full}.yaml``.
"""

from ._base import ExperimentConfig, build_config, preset
from .lifecycle import CheckpointArtifact, Result, Summary
from .lifecycle import execute as _execute_module
from .lifecycle import replay as _replay_module
from .registry import EXPERIMENTS, get_experiment, papers, tools

__all__ = [
    "EXPERIMENTS",
    "CheckpointArtifact",
    "ExperimentConfig",
    "Result",
    "Summary",
    "build_config",
    "execute",
    "get_experiment",
    "papers",
    "preset",
    "replay",
    "tools",
]


def execute(name, config, store, executor, resume=True, on_start=None) -> Result:
    """Run (or resume) experiment ``name`` (see :func:`.lifecycle.execute`)."""
    return _execute_module(get_experiment(name), config, store, executor, resume, on_start)


def replay(name, store, run_id):
    """Reduce and draw a recorded run of ``name`` again (see :func:`.lifecycle.replay`)."""
    return _replay_module(get_experiment(name), store, run_id)
