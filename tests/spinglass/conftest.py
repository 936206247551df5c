"""Shared settings for the spin-glass tests.

The tests work on small tensors (``Λ ≤ 100``), where one intra-op thread is fastest, and
where two OpenMP threads on a loaded 2-core machine can be 20× slower (threads spin at
barriers while the other is descheduled). This overrides the suite-wide ``_few_threads``
fixture of ``tests/conftest.py`` for this folder: each test runs with one thread and the
previous setting is restored afterwards. Module-scoped fixtures, which run before it, use
:func:`one_thread` themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(1)``; restore the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _few_threads() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="session")
def single_thread():
    """The :func:`one_thread` context manager, for module-scoped fixtures."""
    return one_thread
