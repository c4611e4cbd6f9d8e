"""Accumulators: acc_sum / acc_matmul == wrap(exact Python-int sum), in any order or tiling.

Exact sums are computed with Python ints (numpy object arrays), never with int64 or
float64, so a silent int64 or float rounding in the engine cannot hide.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fxtrain.numerics import acc_matmul, acc_sum, saturate, wrap
from fxtrain.testing import strategies as fst

from numerics_helpers import FEW, FEWER, INT64_MAX, INT64_MIN, clamp, ints, wrap_int

acc_bits = st.one_of(st.sampled_from([32, 64, 2, 48]), st.integers(2, 64))


def _exact_matmul(a, b):
    return np.asarray(a).astype(object) @ np.asarray(b).astype(object)


def _wrap_all(m, bits):
    return np.array([[wrap_int(int(v), bits) for v in row] for row in m], dtype=np.int64).reshape(m.shape)


@given(fst.int64_arrays(), acc_bits)
def test_acc_sum_is_wrapped_exact_sum(x, bits):
    assert int(acc_sum(x, acc_bits=bits)) == wrap_int(sum(ints(x)), bits)


@given(hnp.arrays(np.int16, st.tuples(st.integers(1, 6), st.integers(1, 6))), st.integers(0, 1), acc_bits)
def test_acc_sum_along_an_axis(x, axis, bits):
    got = acc_sum(x, axis=axis, acc_bits=bits)
    cols = x.T if axis == 0 else x
    assert ints(got) == [wrap_int(sum(ints(c)), bits) for c in cols]


@given(st.data(), acc_bits)
def test_acc_sum_order_and_tiling_independent(data, bits):
    """Shuffling, or summing tiles into wrapped partial sums, gives the same bits."""
    x = data.draw(fst.int64_arrays(shape=st.integers(1, 60)))
    whole = int(acc_sum(x, acc_bits=bits))
    perm = data.draw(st.permutations(range(x.size)))
    assert int(acc_sum(x[np.array(perm, dtype=np.int64)], acc_bits=bits)) == whole
    cuts = sorted(set(data.draw(st.lists(st.integers(0, x.size), max_size=5))) | {0, x.size})
    partial = np.array([acc_sum(x[o:e], acc_bits=bits) for o, e in zip(cuts, cuts[1:])], dtype=np.int64)
    assert int(acc_sum(partial, acc_bits=bits)) == whole


def _operands(data, lo, hi, max_k=12):
    n, k, m = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, max_k)), data.draw(st.integers(1, 5)))
    a = data.draw(fst.int64_arrays(shape=(n, k), min_value=lo, max_value=hi))
    b = data.draw(fst.int64_arrays(shape=(k, m), min_value=lo, max_value=hi))
    return a, b


@FEWER
@given(st.data(), acc_bits)
def test_acc_matmul_16bit_operands(data, bits):
    """16x16-bit products: the float64 GEMM path."""
    a, b = _operands(data, -(2**15), 2**15 - 1)
    want = _wrap_all(_exact_matmul(a, b), bits)
    np.testing.assert_array_equal(acc_matmul(a.astype(np.int16), b.astype(np.int16), acc_bits=bits), want)


@FEW
@given(st.integers(1, 4), st.integers(32, 300), st.integers(1, 4), st.integers(0, 2**32 - 1), acc_bits)
def test_acc_matmul_chunked_inner_dimension(n, k, m, seed, bits):
    """24-bit operands: products up to 2**48, so the inner dimension is summed in chunks.

    The bulk comes from a seeded numpy generator (drawing 10**3 elements through
    hypothesis is slow); the extremes are planted.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(-(2**24), 2**24, size=(n, k), endpoint=True)
    b = rng.integers(-(2**24), 2**24, size=(k, m), endpoint=True)
    a[0, : k // 2] = -(2**24)
    b[: k // 2, 0] = -(2**24)
    want = _wrap_all(_exact_matmul(a, b), bits)
    np.testing.assert_array_equal(acc_matmul(a, b, acc_bits=bits), want)


@FEW
@given(st.data(), acc_bits)
def test_acc_matmul_int64_fallback_for_wide_operands(data, bits):
    """Operands too wide for exact float64 take the int64 path (INT64_MIN included)."""
    a, b = _operands(data, INT64_MIN, INT64_MAX)
    want = _wrap_all(_exact_matmul(a, b), bits)
    np.testing.assert_array_equal(acc_matmul(a, b, acc_bits=bits), want)


@pytest.mark.parametrize("a, b", [
    ([[INT64_MIN, 1]], [[1], [1]]),  # exact -2**63 + 1 wraps to 1 at 32 bits; engine gave 0
    ([[INT64_MIN, 3]], [[3], [5]]),  # exact wraps to 15; engine gave 0
])
def test_acc_matmul_with_int64_min(a, b):
    a, b = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    for bits in (32, 64):
        np.testing.assert_array_equal(acc_matmul(a, b, acc_bits=bits), _wrap_all(_exact_matmul(a, b), bits))


def test_acc_matmul_path_boundaries():
    """Each path at its edge: 2**26 (float, chunks of 1 term), 2**27 (int64), 2**53."""
    for v in (2**26, 2**27, 2**53 - 1, 2**53, INT64_MIN + 1):
        a = np.array([[v, v, -3], [1, -1, v]], dtype=np.int64)
        b = np.array([[v, 1], [v, v], [7, -(2**20)]], dtype=np.int64)
        for bits in (32, 64):
            np.testing.assert_array_equal(acc_matmul(a, b, acc_bits=bits), _wrap_all(_exact_matmul(a, b), bits))


def test_acc_matmul_long_inner_dimension():
    """K = 3000 terms of 2**30 (one float64 GEMM, ~2**41.5, wrapped to 32 bits), then of
    ~2**48 (chunks of 31 terms, summed in int64)."""
    k = 3000
    a = np.full((2, k), -(2**15), dtype=np.int64)
    b = np.full((k, 3), -(2**15), dtype=np.int64)
    np.testing.assert_array_equal(acc_matmul(a, b), _wrap_all(_exact_matmul(a, b), 32))
    a = np.full((1, k), 2**24 - 1, dtype=np.int64)
    b = np.full((k, 1), 2**24 - 3, dtype=np.int64)
    np.testing.assert_array_equal(acc_matmul(a, b, acc_bits=64), _wrap_all(_exact_matmul(a, b), 64))


def test_acc_matmul_empty_and_zero():
    np.testing.assert_array_equal(acc_matmul(np.zeros((2, 0), np.int64), np.zeros((0, 3), np.int64)),
                                  np.zeros((2, 3), np.int64))
    np.testing.assert_array_equal(acc_matmul(np.zeros((2, 4), np.int16), np.ones((4, 1), np.int16)),
                                  np.zeros((2, 1), np.int64))


@FEWER
@given(st.data(), acc_bits)
def test_acc_matmul_tiled_inner_dimension(data, bits):
    """Splitting K into tiles and adding wrapped partial products gives the same bits."""
    a, b = _operands(data, -(2**15), 2**15 - 1, max_k=20)
    k = a.shape[1]
    cut = data.draw(st.integers(0, k))
    parts = acc_matmul(a[:, :cut], b[:cut], acc_bits=bits) + acc_matmul(a[:, cut:], b[cut:], acc_bits=bits)
    np.testing.assert_array_equal(wrap(parts, bits), acc_matmul(a, b, acc_bits=bits))


@given(fst.int64_arrays(), st.integers(2, 64))
def test_wrap_and_saturate_helpers(x, bits):
    assert ints(wrap(x, bits)) == [wrap_int(v, bits) for v in ints(x)]
    assert ints(saturate(x, bits)) == [clamp(v, bits) for v in ints(x)]
    assert wrap(x, bits).dtype == saturate(x, bits).dtype == np.int64


def test_wrap_worked_examples():
    assert ints(wrap(np.array([32768, -32769, 65535, 2**40 + 5]), 16)) == [-32768, 32767, -1, 5]
    assert ints(saturate(np.array([32768, -32769, 5]), 16)) == [32767, -32768, 5]


@pytest.mark.parametrize("call, exc, message", [
    (lambda: acc_sum(np.array([1.0, 2.0])), TypeError, "float64"),
    (lambda: acc_sum(np.array([1], np.uint64)), TypeError, "uint64"),
    (lambda: acc_sum(np.array([1]), acc_bits=65), ValueError, "bits must be an integer in \\[2, 64\\], got 65"),
    (lambda: acc_sum(np.array([1]), acc_bits=1), ValueError, "got 1"),
    (lambda: acc_matmul(np.ones((2, 3), np.int16), np.ones((2, 3), np.int16)), ValueError, "not aligned"),
    (lambda: acc_matmul(np.ones(3, np.int16), np.ones(3, np.int16)), ValueError, "not aligned"),
    (lambda: acc_matmul(np.ones((2, 2)), np.ones((2, 2))), TypeError, "float64"),
    (lambda: wrap(np.array([1]), 0), ValueError, "got 0"),
    (lambda: saturate(np.array([True]), 8), TypeError, "bool"),
])
def test_bad_accumulator_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
