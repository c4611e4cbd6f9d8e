"""quantize / dequantize against exact rational arithmetic (fractions.Fraction).

The expected code is computed here from the contract's rounding rules applied to the
exact rational x * 2**f, independently of both the engine and the reference oracle.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fxtrain.numerics import QFormat, dequantize, quantize
from fxtrain.testing import strategies as fst

from numerics_helpers import DETERMINISTIC, FEWER, INT64_MAX, INT64_MIN, clamp, ints, wrap_int

deterministic = fst.rounding_modes(deterministic_only=True)


def round_fraction(q: Fraction, rounding: str) -> int:
    """The contract's deterministic rounding of an exact rational to an integer."""
    a = math.floor(q)
    r = q - a  # 0 <= r < 1
    if r == 0 or rounding == "floor":
        return a
    if rounding == "trunc":
        return a + 1 if q < 0 else a
    if r != Fraction(1, 2):
        return a + 1 if r > Fraction(1, 2) else a
    return {"half_up": a + 1, "half_even": a + (a % 2), "half_away": a + 1 if q > 0 else a}[rounding]


def expected(x, fmt: QFormat, rounding: str, overflow: str):
    fit = clamp if overflow == "saturate" else wrap_int
    exact = [round_fraction(Fraction(v) * Fraction(2) ** fmt.f, rounding) for v in np.ravel(x).tolist()]
    y = [fit(v, fmt.w) for v in exact]
    return y, sum(a != b for a, b in zip(y, exact))


def _floats_for(fmt: QFormat) -> st.SearchStrategy[float]:
    """Any finite float64, plus exact ties and near-ties of fmt's grid and its range edges."""
    ties = st.integers(-(2**52), 2**52).map(lambda a: math.ldexp(2 * a + 1, -fmt.f - 1))
    grid = st.integers(-(2**53) + 1, 2**53 - 1).map(lambda a: math.ldexp(a, -fmt.f))
    edges = st.sampled_from([fmt.min_value, fmt.max_value, fmt.max_value + fmt.lsb / 2,
                             fmt.min_value - fmt.lsb / 2, fmt.lsb / 2, -fmt.lsb / 2, 0.0, -0.0,
                             5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308])
    near = ties.map(lambda v: math.nextafter(v, math.inf)) | ties.map(lambda v: math.nextafter(v, -math.inf))
    return st.one_of(edges, ties, near, grid, st.floats(allow_nan=False, allow_infinity=False))


@given(st.data(), fst.formats(), deterministic, fst.overflow_modes())
def test_quantize_is_exact_rational_rounding(data, fmt, rounding, overflow):
    x = data.draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6),
                             elements=_floats_for(fmt)))
    y, n = quantize(x, fmt, rounding, overflow, stats=True)
    want, n_want = expected(x, fmt, rounding, overflow)
    assert ints(y) == want and n == n_want
    assert y.shape == x.shape and y.dtype == fmt.dtype


@FEWER
@given(st.data(), fst.formats(), deterministic, fst.overflow_modes())
def test_quantize_integers_exactly_beyond_2_to_53(data, fmt, rounding, overflow):
    """Integer input is not routed through float64: 2**53 + 1 stays 2**53 + 1."""
    x = data.draw(fst.int64_arrays())
    y, n = quantize(x, fmt, rounding, overflow, stats=True)
    want, n_want = expected([int(v) for v in ints(x)], fmt, rounding, overflow)
    assert ints(y) == want and n == n_want


def test_quantize_worked_examples():
    fmt = QFormat(8, 1)  # steps of 1/2
    x = np.array([1.25, -1.25, 1.75, 0.25, -0.25, 100.0, -100.0])
    assert ints(quantize(x, fmt, "floor")) == [2, -3, 3, 0, -1, 127, -128]
    assert ints(quantize(x, fmt, "trunc")) == [2, -2, 3, 0, 0, 127, -128]
    assert ints(quantize(x, fmt, "half_up")) == [3, -2, 4, 1, 0, 127, -128]
    assert ints(quantize(x, fmt, "half_even")) == [2, -2, 4, 0, 0, 127, -128]
    assert ints(quantize(x, fmt, "half_away")) == [3, -3, 4, 1, -1, 127, -128]
    assert ints(quantize(x, fmt, "floor", "wrap")) == [2, -3, 3, 0, -1, -56, 56]


def test_quantize_tiny_values_keep_their_sign():
    """|x * 2**f| far below one LSB: only the sign and the mode decide (0 or -1)."""
    fmt = QFormat(16, -64)
    x = np.array([5e-324, -5e-324, 1e-300, -1e-300, 1.0, -1.0])
    assert ints(quantize(x, fmt, "floor")) == [0, -1, 0, -1, 0, -1]
    for mode in ("trunc", "half_up", "half_even", "half_away"):
        assert ints(quantize(x, fmt, mode)) == [0] * 6


def test_quantize_infinities_saturate_and_count():
    fmt = QFormat(16, 8)
    y, n = quantize(np.array([np.inf, -np.inf, 1.0]), fmt, "half_even", "saturate", stats=True)
    assert ints(y) == [32767, -32768, 256] and n == 2


@given(st.data(), fst.formats(), deterministic)
def test_dequantize_is_exact_and_quantize_inverts_it(data, fmt, rounding):
    q = data.draw(fst.fixed_arrays(fmt))
    x = dequantize(q, fmt)
    assert x.dtype == np.float64 and x.shape == q.shape
    assert [Fraction(v) for v in x.ravel().tolist()] == [Fraction(v) * Fraction(2) ** -fmt.f for v in ints(q)]
    np.testing.assert_array_equal(quantize(x, fmt, rounding), q)


@pytest.mark.parametrize("rounding", DETERMINISTIC)
def test_python_scalars_and_lists(rounding):
    fmt = QFormat(8, 2)
    assert ints(quantize(0.375, fmt, rounding)) == expected([0.375], fmt, rounding, "saturate")[0]
    assert ints(quantize([0.375, -0.625], fmt, rounding)) == expected([0.375, -0.625], fmt, rounding,
                                                                        "saturate")[0]


def test_quantize_uint64_is_exact_or_refused():
    x = np.array([2**64 - 1], dtype=np.uint64)
    fmt = QFormat(32, -64)  # value (2**64 - 1) * 2**-64, just below 1
    try:
        y = quantize(x, fmt, "floor")
    except TypeError:
        return
    assert ints(y) == [0]  # floor((2**64 - 1) / 2**64); float64 rounds x up to 2**64 -> 1


def test_int64_extremes_through_quantize():
    fmt = QFormat(32, -32)
    x = np.array([INT64_MIN, INT64_MAX, 2**53 + 1], dtype=np.int64)
    assert ints(quantize(x, fmt, "half_even", "wrap")) == expected(
        [INT64_MIN, INT64_MAX, 2**53 + 1], fmt, "half_even", "wrap")[0]
