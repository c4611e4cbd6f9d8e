"""Shared set-up of the ops tests.

- Makes the repository's top-level ``reference`` package (the oracle) importable; it is
  not installed, and pytest puts only test folders on sys.path.
- Runs each test with one numba thread: the ops call fxtrain.numerics' parallel kernels
  (requantize, int64 matmul) on tiny arrays thousands of times, and on a loaded 2-core
  machine each parallel launch waits ~10 ms for a second thread. The ops' own kernels
  are serial; the convolution tile threads are covered by tests/ops/test_threads.py.
"""
import sys
from pathlib import Path

import numba
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@pytest.fixture(autouse=True)
def _one_numba_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)
