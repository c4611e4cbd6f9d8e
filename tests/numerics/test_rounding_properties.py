"""Properties of requantize's deterministic rounding, checked in exact Python integers.

Each test states a mathematical fact about the contract's rounding (docs/numerics.md)
and holds the engine to it without re-implementing the engine: bounds are compared as
integers ``v * 2**s`` against ``x``, never through floats.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxtrain.numerics import QFormat, requantize
from fxtrain.testing import strategies as fst

from numerics_helpers import (
    DETERMINISTIC, FEWER, INT64_MAX, INT64_MIN, NEAREST, clamp, ints, no_overflow_range, rq, wrap_int,
)

deterministic = fst.rounding_modes(deterministic_only=True)


def _x_without_overflow(data, s, w=32, shape=None):
    lo, hi = no_overflow_range(s, w)
    return data.draw(fst.int64_arrays(shape=shape, min_value=lo, max_value=hi))


# ------------------------------------------------------------------ exactness

@given(fst.int64_arrays(), fst.shifts(max_shift=0), fst.rounding_modes(), fst.overflow_modes(),
       st.integers(2, 32), fst.keys())
def test_left_shift_is_exact_then_fitted(x, s, rounding, overflow, w, key):
    """s <= 0 drops no bits: y is the exact x * 2**-s fitted by the overflow rule, any mode."""
    y, n = rq(x, s, rounding, w, overflow, key=key)
    exact = [v * 2**-s for v in ints(x)]
    fit = clamp if overflow == "saturate" else wrap_int
    assert y == [fit(v, w) for v in exact]
    assert n == sum(a != b for a, b in zip(y, exact))


@given(st.data(), fst.shifts(min_shift=1), fst.rounding_modes(), fst.keys())
def test_multiples_of_the_step_are_exact(data, s, rounding, key):
    """x = q * 2**s has r = 0: every mode, stochastic included, returns q."""
    q = data.draw(fst.int64_arrays(min_value=max(-(2**31), -(2**63 >> s)),
                                   max_value=min(2**31 - 1, INT64_MAX >> s)))
    x = q * np.int64(2**s) if s < 63 else q << np.int64(s) if s == 63 else q  # q is 0 at s = 64
    y, n = rq(x, s, rounding, key=key)
    assert y == ints(q) and n == 0


# ------------------------------------------------------------------ error bounds

@given(st.data(), fst.shifts(min_shift=1), deterministic)
def test_error_bounds(data, s, rounding):
    """Before overflow: directed modes err by < 1 ulp in their direction, nearest by <= 1/2 ulp."""
    x = _x_without_overflow(data, s)
    y, n = rq(x, s, rounding)
    assert n == 0
    step = 2**s
    for xi, v in zip(ints(x), y):
        err = v * step - xi  # exact error in units of the input LSB
        if rounding == "floor":
            assert -step < err <= 0
        elif rounding == "trunc":
            assert abs(v * step) <= abs(xi) and abs(err) < step
            assert v == 0 or (v > 0) == (xi > 0)
        else:
            assert 2 * abs(err) <= step


@given(st.data(), st.integers(1, 64))
def test_tie_rules(data, s):
    """At an exact tie x = (a + 1/2) * 2**s each mode's tie rule decides."""
    lo, hi = no_overflow_range(s)
    x = data.draw(fst.tie_values(s, lo, hi))
    a = x >> s  # floor
    got = {m: rq([x], s, m)[0][0] for m in DETERMINISTIC}
    assert got["floor"] == a
    assert got["trunc"] == (a + 1 if x < 0 else a)
    assert got["half_up"] == a + 1
    assert got["half_even"] % 2 == 0 and got["half_even"] in (a, a + 1)
    assert got["half_away"] == (a + 1 if x >= 0 else a)


@pytest.mark.parametrize("x, s, expected", [
    # the contract's worked ties (docs/numerics.md), in mode order floor, trunc, half_up,
    # half_even, half_away
    (5, 1, (2, 2, 3, 2, 3)),
    (-5, 1, (-3, -2, -2, -2, -3)),
    (7, 1, (3, 3, 4, 4, 4)),
    (-1, 1, (-1, 0, 0, 0, -1)),
    (-(2**63), 64, (-1, 0, 0, 0, -1)),  # -0.5 at the widest shift
])
def test_worked_ties(x, s, expected):
    assert tuple(rq([x], s, m)[0][0] for m in DETERMINISTIC) == expected


@FEWER
@given(st.data(), fst.shifts(min_shift=1), deterministic)
def test_non_ties_round_to_nearest(data, s, rounding):
    """Off a tie, the three nearest modes agree; directed modes differ from them by <= 1."""
    x = _x_without_overflow(data, s)
    nearest = [rq(x, s, m)[0] for m in NEAREST]
    step = 2**s
    for i, xi in enumerate(ints(x)):
        if 2 * (xi % step) != step:
            assert nearest[0][i] == nearest[1][i] == nearest[2][i]


# ------------------------------------------------------------------ order

@given(fst.int64_arrays(shape=st.integers(2, 40)), fst.shifts(), deterministic, st.integers(2, 32))
def test_monotonic_including_saturation(x, s, rounding, w):
    """x1 <= x2 implies y1 <= y2 for every deterministic mode with saturate."""
    xs = np.sort(x)
    y, _ = rq(xs, s, rounding, w, "saturate")
    assert all(a <= b for a, b in zip(y, y[1:]))


@given(st.data(), fst.formats(), deterministic, fst.overflow_modes())
def test_idempotent_on_representable_values(data, fmt, rounding, overflow):
    """Codes of fmt requantized to fmt (s = 0) come back unchanged, with no overflow."""
    q = data.draw(fst.fixed_arrays(fmt))
    y, n = requantize(q, fmt.f, fmt, rounding, overflow, stats=True)
    np.testing.assert_array_equal(y, q)
    assert n == 0 and y.dtype == fmt.dtype


@given(st.data(), fst.shifts(), deterministic, fst.overflow_modes(), st.integers(2, 32))
def test_requantizing_a_result_again_is_a_no_op(data, s, rounding, overflow, w):
    x = data.draw(fst.int64_arrays())
    y = requantize(x, s, QFormat(w, 0), rounding, overflow)
    again = requantize(y, 0, QFormat(w, 0), rounding, overflow)
    np.testing.assert_array_equal(again, y)


# ------------------------------------------------------------------ composition

@given(st.data(), st.integers(1, 63), st.integers(1, 63), st.sampled_from(["floor", "trunc"]))
def test_directed_rounding_composes(data, s1, s2, rounding):
    """floor(floor(x, s1), s2) == floor(x, s1 + s2), and the same for trunc."""
    if s1 + s2 > 64:
        s2 = 64 - s1
    x = _x_without_overflow(data, s1)
    once, _ = rq(x, s1 + s2, rounding)
    mid, _ = rq(x, s1, rounding)
    twice, _ = rq(np.array(mid, dtype=np.int64), s2, rounding)
    assert twice == once


def _double_rounding_example(rounding):
    """First (s1, s2, x >= 0) where rounding by s1 bits then s2 bits differs from s1 + s2 at once.

    Found by search in exact integer arithmetic from the contract's definitions (not from
    the engine), so the pinned example cannot drift with the code under test.
    """
    def one_step(x, s):
        a, r = divmod(x, 2**s)
        half = 2 ** (s - 1)
        if rounding == "half_up":
            return a + (r >= half)
        return a + (r > half or (r == half and a % 2 == 1))  # half_even

    for s1 in range(1, 4):
        for s2 in range(1, 4):
            for x in range(64):
                once, twice = one_step(x, s1 + s2), one_step(one_step(x, s1), s2)
                if once != twice:
                    return s1, s2, x, once, twice
    raise AssertionError("no double-rounding example found")


@pytest.mark.parametrize("rounding, pinned", [
    # half_up: 1 at s = 2 is 0.25 -> 0 at once; in two steps 0.5 -> 1, then 0.5 -> 1
    ("half_up", (1, 1, 1, 0, 1)),
    # half_even: 5 = 0b101 at s = 3 is 0.625 -> 1 at once; in two steps 5/2 = 2.5 -> 2
    # (even), then 2/4 = 0.5 is a tie -> 0 (even). (With s2 = 1 a 1-bit first step is
    # harmless: an odd intermediate is exact, so no tie is manufactured.)
    ("half_even", (1, 2, 5, 1, 0)),
])
def test_double_rounding_of_half_modes_is_documented(rounding, pinned):
    """Two-step nearest rounding is not one-step rounding: pin the first counterexample."""
    s1, s2, x, once_expected, twice_expected = _double_rounding_example(rounding)
    assert (s1, s2, x, once_expected, twice_expected) == pinned
    once, _ = rq([x], s1 + s2, rounding)
    mid, _ = rq([x], s1, rounding)
    twice, _ = rq(mid, s2, rounding)
    assert once == [once_expected] and twice == [twice_expected]


@FEWER
@given(st.data(), st.integers(1, 32), st.integers(1, 31), st.sampled_from(NEAREST))
def test_double_rounding_errs_by_at_most_one(data, s1, s2, rounding):
    x = _x_without_overflow(data, s1)
    once, _ = rq(x, s1 + s2, rounding)
    mid, _ = rq(x, s1, rounding)
    twice, _ = rq(np.array(mid, dtype=np.int64), s2, rounding)
    assert all(abs(a - b) <= 1 for a, b in zip(once, twice))


# ------------------------------------------------------------------ overflow

@given(fst.int64_arrays(), fst.shifts(), fst.rounding_modes(), st.integers(2, 32), fst.keys())
def test_saturate_is_clamp_and_wrap_is_modular(x, s, rounding, w, key):
    """Both overflow modes fit the same exact v: saturate clamps it, wrap reduces it mod 2**w.

    v is recovered without trusting either mode: for s > 0 it is floor(x / 2**s) or one
    more (for every mode), and those two differ mod 2**w, so the wrapped result picks it.
    """
    y_sat, n_sat = rq(x, s, rounding, w, "saturate", key=key)
    y_wrap, n_wrap = rq(x, s, rounding, w, "wrap", key=key)
    exact = []
    for xi, yw in zip(ints(x), y_wrap):
        if s <= 0:
            v = xi * 2**-s
        else:
            a = xi >> s
            v = a if wrap_int(a, w) == yw else a + 1
        assert wrap_int(v, w) == yw
        exact.append(v)
    assert y_sat == [clamp(v, w) for v in exact]
    assert n_sat == sum(a != b for a, b in zip(y_sat, exact))
    assert n_wrap == sum(a != b for a, b in zip(y_wrap, exact))


@FEWER
@given(fst.int64_arrays(), fst.shifts(), deterministic, st.integers(2, 32))
def test_saturated_results_sit_on_the_rails(x, s, rounding, w):
    y, _ = rq(x, s, rounding, w, "saturate")
    wide, _ = rq(x, s, rounding, 32, "saturate") if w < 32 else (y, 0)
    for a, b in zip(y, wide):
        assert a == clamp(b, w)


# ------------------------------------------------------------------ symmetry

@given(st.data(), fst.shifts(min_shift=1), st.sampled_from(["trunc", "half_even", "half_away"]))
def test_symmetric_modes_commute_with_negation(data, s, rounding):
    lo, hi = no_overflow_range(s)
    x = data.draw(fst.int64_arrays(min_value=max(lo, -hi), max_value=hi))
    pos, _ = rq(x, s, rounding)
    neg, _ = rq(-x, s, rounding)
    assert neg == [-v for v in pos]


# ------------------------------------------------------------------ dtypes and shapes

@FEWER
@given(st.data(), st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32]),
       fst.shifts(), deterministic, fst.overflow_modes())
def test_every_integer_dtype_gives_the_int64_answer(data, dtype, s, rounding, overflow):
    info = np.iinfo(dtype)
    x = data.draw(fst.int64_arrays(min_value=int(info.min), max_value=int(info.max)))
    fmt = QFormat(16, 0)
    np.testing.assert_array_equal(
        requantize(x.astype(dtype), s, fmt, rounding, overflow),
        requantize(x, s, fmt, rounding, overflow),
    )


@given(fst.int64_arrays(), fst.formats(), deterministic)
def test_shape_and_dtype_follow_the_format(x, fmt, rounding):
    y = requantize(x, fmt.f, fmt, rounding)
    assert y.shape == x.shape and y.dtype == fmt.dtype


@settings(max_examples=20)
@given(fst.int64_arrays(shape=(3, 5)), deterministic)
def test_non_contiguous_input(x, rounding):
    fmt = QFormat(8, 0)
    np.testing.assert_array_equal(requantize(x.T, 4, fmt, rounding),
                                  requantize(np.ascontiguousarray(x.T), 4, fmt, rounding))


def test_extreme_int64_corner_values():
    """Shifts at the 64-bit edge on the int64 extremes, by hand from the definitions."""
    assert rq([INT64_MIN], 63, "floor")[0] == [-1]
    assert rq([INT64_MAX], 63, "floor")[0] == [0]
    assert rq([INT64_MAX], 63, "half_up")[0] == [1]  # (2**63 - 1) / 2**63 rounds to 1
    assert rq([INT64_MAX], 64, "half_up")[0] == [0]  # just below 1/2
    assert rq([INT64_MIN], 64, "floor")[0] == [-1]
    assert rq([INT64_MIN], 64, "trunc")[0] == [0]
    assert rq([INT64_MIN], 1, "floor", 32, "wrap")[0] == [wrap_int(-(2**62), 32)]
    assert rq([1], -64, "floor", 32, "saturate") == ([2**31 - 1], 1)
    assert rq([-1], -64, "floor", 32, "wrap") == ([0], 1)  # -2**64 wraps to 0
