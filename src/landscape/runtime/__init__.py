"""Runtime: the run store, configs, executors and progress bars.

The science modules never import this package; experiments wire the two together.
"""

from .config import StrictModel, load_config, parse_overrides
from .executor import ProcessExecutor, SerialExecutor, make_executor, torch_threads
from .progress import progress_bar, set_quiet
from .store import DEFAULT_STORE, Run, RunHeldError, Store, config_hash, task_key
from .sweep import run_sweep

__all__ = [
    "DEFAULT_STORE",
    "ProcessExecutor",
    "Run",
    "RunHeldError",
    "SerialExecutor",
    "Store",
    "StrictModel",
    "config_hash",
    "load_config",
    "make_executor",
    "parse_overrides",
    "progress_bar",
    "run_sweep",
    "set_quiet",
    "task_key",
    "torch_threads",
]
