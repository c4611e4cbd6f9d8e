"""The threaded kernels (tensors >= 2**15 elements) give the serial kernels' bits and counts.

Most tests use small arrays, which take the serial kernels; here a large tensor is
compared with the same elements evaluated in serial-sized tiles (stochastic tiles use
key + offset), so both compiled variants are held to each other, overflow counts included.
"""
import itertools

import numpy as np
import pytest

from fxtrain.numerics import OVERFLOW_MODES, ROUNDING_MODES, QFormat, quantize, requantize

from numerics_helpers import INT64_MAX, INT64_MIN

N = 3 * 2**15 + 5  # above the threading threshold; tiles of 2**13 stay below it
TILE = 2**13
M32 = 2**32

pytestmark = pytest.mark.parallel


def _large_ints(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(-(2**40), 2**40, size=N, dtype=np.int64)
    x[::97] = INT64_MIN
    x[1::97] = INT64_MAX
    x[2::97] = 2**19 + 2**18  # a tie at s = 20
    return x


@pytest.mark.parametrize("rounding, overflow", itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
def test_requantize_threaded_equals_tiled_serial(rounding, overflow):
    x = _large_ints()
    fmt = QFormat(16, 0)
    key = M32 - 5000  # key + i wraps inside the tensor
    for s in (20, -3):
        whole, n_whole = requantize(x, s, fmt, rounding, overflow, key=key, stats=True)
        parts = [requantize(x[o:o + TILE], s, fmt, rounding, overflow, key=(key + o) % M32, stats=True)
                 for o in range(0, N, TILE)]
        np.testing.assert_array_equal(whole, np.concatenate([p[0] for p in parts]))
        assert n_whole == sum(p[1] for p in parts) > 0


@pytest.mark.parametrize("rounding, overflow",
                         itertools.product(ROUNDING_MODES[:-1], OVERFLOW_MODES))
def test_quantize_threaded_equals_tiled_serial(rounding, overflow):
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 300.0, N)
    x[::89] = 127.99609375 + 2**-9  # a tie of Q16.8 near the top
    fmt = QFormat(16, 8)
    whole, n_whole = quantize(x, fmt, rounding, overflow, stats=True)
    parts = [quantize(x[o:o + TILE], fmt, rounding, overflow, stats=True) for o in range(0, N, TILE)]
    np.testing.assert_array_equal(whole, np.concatenate([p[0] for p in parts]))
    assert n_whole == sum(p[1] for p in parts) > 0


def test_explicit_index_on_the_threaded_path():
    x = _large_ints(2)
    perm = np.random.default_rng(3).permutation(N).astype(np.int64)
    fmt = QFormat(16, 0)
    whole = requantize(x, 20, fmt, "stochastic", key=77)
    np.testing.assert_array_equal(requantize(x[perm], 20, fmt, "stochastic", key=77, index=perm), whole[perm])
