"""Engine == reference oracle, bit for bit, on every rounding x overflow mode.

``reference/numerics.py`` is an independent plain-Python-int implementation of
docs/numerics.md; a disagreement means one of the two misreads the contract.
Overflow counts are compared too.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference.numerics as ref
from fxtrain import numerics as fx
from fxtrain.numerics import QFormat
from fxtrain.testing import strategies as fst

from numerics_helpers import FEWER, INT64_MAX, INT64_MIN, ints

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32]


def _check_requantize(x, f_src, fmt, rounding, overflow, key=None, index=None):
    got, n_got = fx.requantize(x, f_src, fmt, rounding, overflow, key=key, stats=True, index=index)
    want, n_want = ref.requantize(x, f_src, fmt.w, fmt.f, rounding, overflow, key=key, index=index)
    assert got.dtype == fmt.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert n_got == n_want


def test_the_oracle_implements_the_same_contract_version():
    assert ref.CONTRACT_VERSION == fx.CONTRACT_VERSION
    assert ref.ROUNDING_MODES == fx.ROUNDING_MODES and ref.OVERFLOW_MODES == fx.OVERFLOW_MODES
    assert ref.ROLES == fx.ROLES


@given(st.data(), fst.formats(), fst.shifts(), fst.rounding_modes(), fst.overflow_modes(), fst.keys(),
       st.sampled_from(INT_DTYPES))
def test_requantize_matches_reference(data, fmt, s, rounding, overflow, key, dtype):
    info = np.iinfo(dtype)
    x = data.draw(fst.int64_arrays(min_value=int(info.min), max_value=int(info.max))).astype(dtype)
    _check_requantize(x, fmt.f + s, fmt, rounding, overflow, key=key)


@given(st.data(), fst.formats(), fst.shifts(min_shift=-2), fst.overflow_modes(), fst.keys())
def test_stochastic_with_explicit_index_matches_reference(data, fmt, s, overflow, key):
    x = data.draw(fst.int64_arrays())
    # any int64 index, negatives included: the word is lowbias32((key + i) mod 2**32)
    index = data.draw(hnp.arrays(np.int64, x.shape, elements=st.integers(INT64_MIN, INT64_MAX)))
    _check_requantize(x, fmt.f + s, fmt, "stochastic", overflow, key=key, index=index)


def test_every_shift_on_int64_extremes():
    """All shifts -64..64, every mode, both overflows, three widths, on int64's corners."""
    x = np.array([INT64_MIN, INT64_MIN + 1, -(2**62), -(2**32) - 1, -(2**31), -3, -2, -1, 0, 1, 2, 3,
                  2**31, 2**32 + 2**31, 2**62, INT64_MAX - 1, INT64_MAX], dtype=np.int64)
    for s, rounding, overflow, w in itertools.product(range(-64, 65), fx.ROUNDING_MODES,
                                                       fx.OVERFLOW_MODES, (2, 16, 32)):
        _check_requantize(x, s, QFormat(w, 0), rounding, overflow, key=0xFFFFFFF0)


@pytest.mark.parametrize("w", [2, 3, 8])
def test_every_int8_value_at_small_shifts(w):
    """Exhaustive over the 256 int8 codes, shifts -9..9 (every tie pattern of a byte)."""
    x = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
    for s, rounding, overflow in itertools.product(range(-9, 10), fx.ROUNDING_MODES, fx.OVERFLOW_MODES):
        _check_requantize(x, s, QFormat(w, 0), rounding, overflow, key=12345)


@given(st.data(), fst.formats(), fst.rounding_modes(deterministic_only=True), fst.overflow_modes())
def test_quantize_matches_reference(data, fmt, rounding, overflow):
    x = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6),
                             elements=st.floats(allow_nan=False, allow_infinity=(overflow == "saturate"))
                             | st.integers(-(2**60), 2**60).map(lambda a: a * 2.0 ** -(fmt.f + 1))))
    got, n_got = fx.quantize(x, fmt, rounding, overflow, stats=True)
    want, n_want = ref.quantize(x, fmt.w, fmt.f, rounding, overflow)
    np.testing.assert_array_equal(got, want)
    assert n_got == n_want


@FEWER
@given(fst.int64_arrays(), st.integers(2, 64))
def test_wrap_and_saturate_match_reference(x, bits):
    np.testing.assert_array_equal(fx.wrap(x, bits), ref.wrap(x, bits))
    np.testing.assert_array_equal(fx.saturate(x, bits), ref.saturate(x, bits))


@FEWER
@given(fst.int64_arrays(), st.integers(2, 64))
def test_acc_sum_matches_reference(x, bits):
    assert int(fx.acc_sum(x, acc_bits=bits)) == ref.acc_sum(x, bits)


@FEWER
@given(st.data(), st.integers(2, 64), st.sampled_from([(-(2**15), 2**15 - 1), (-(2**30), 2**30),
                                                       (INT64_MIN + 1, INT64_MAX)]))
def test_acc_matmul_matches_reference(data, bits, bounds):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = data.draw(fst.int64_arrays(shape=(n, k), min_value=bounds[0], max_value=bounds[1]))
    b = data.draw(fst.int64_arrays(shape=(k, m), min_value=bounds[0], max_value=bounds[1]))
    np.testing.assert_array_equal(fx.acc_matmul(a, b, acc_bits=bits), ref.acc_matmul(a, b, bits))


@FEWER
@given(hnp.arrays(np.uint32, st.integers(0, 32), elements=st.integers(0, 2**32 - 1)))
def test_lowbias32_matches_reference(x):
    assert ints(fx.lowbias32(x)) == [ref.lowbias32(int(v)) for v in x.tolist()]


@FEWER
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.sampled_from(fx.ROLES))
def test_sr_key_matches_reference(seed, step, layer, role):
    assert fx.sr_key(seed, step, layer, role) == ref.sr_key(seed, step, layer, role)
