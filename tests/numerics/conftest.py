"""Shared set-up of the numerics tests.

- Makes the repository's top-level ``reference`` package (the slow oracle) importable:
  ``reference/`` is not installed (pyproject installs fxtrain and hwgen only) and pytest
  puts only test folders on sys.path.
- Runs each test with one numba thread. These tests make tens of thousands of calls on
  tiny arrays; on a loaded 2-core machine every parallel launch waits for a second
  thread to be scheduled (measured ~12 ms per call vs ~9 us single-threaded). The
  kernels' code is the same either way; tests marked ``parallel`` keep all threads to
  cover the multi-threaded path (the overflow-count reduction) on large arrays.
"""
import sys
from pathlib import Path

import numba
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_configure(config):
    config.addinivalue_line("markers", "parallel: run with numba's default thread count")


@pytest.fixture(autouse=True)
def _one_numba_thread(request):
    if request.node.get_closest_marker("parallel"):
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
