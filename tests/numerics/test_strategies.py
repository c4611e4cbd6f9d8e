"""fxtrain.testing.strategies: values stay in range and the corners really turn up."""
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from fxtrain.numerics import OVERFLOW_MODES, ROUNDING_MODES, QFormat
from fxtrain.testing import strategies as fst

from numerics_helpers import FEW, INT64_MAX, INT64_MIN  # FEW: checking a strategy needs few examples

FIND = settings(database=None, max_examples=2000)  # find() may need more than the ci profile allows


@FEW
@given(fst.formats(min_w=4, max_w=12, min_f=-3, max_f=20))
def test_formats_respect_bounds(fmt):
    assert isinstance(fmt, QFormat)
    assert 4 <= fmt.w <= 12 and -3 <= fmt.f <= 20


@FEW
@given(st.data())
def test_fixed_arrays_hold_codes_of_their_format(data):
    fmt = data.draw(fst.formats())
    a = data.draw(fst.fixed_arrays(fmt))
    assert a.dtype == fmt.dtype
    if a.size:
        assert fmt.min_int <= int(a.min()) and int(a.max()) <= fmt.max_int


@FEW
@given(fst.fixed_arrays(QFormat(12, 3), shape=(2, 3), dtype=np.int64))
def test_fixed_arrays_shape_and_dtype_arguments(a):
    assert a.shape == (2, 3) and a.dtype == np.int64
    assert -2048 <= int(a.min()) and int(a.max()) <= 2047


@pytest.mark.parametrize("target", [-32768, -32767, -1, 0, 1, 32766, 32767])
def test_fixed_arrays_reach_every_corner(target):
    find(fst.fixed_arrays(QFormat(16, 8), shape=4), lambda a: bool((a == target).any()), settings=FIND)


def test_fixed_arrays_draw_ties():
    # 0b1_1000_0000 style values: low s bits exactly 100..0 for some s >= 2
    def has_tie(a):
        return any(v % 4 == 2 or v % 8 == 4 or v % 16 == 8 for v in a.tolist() if v)
    find(fst.fixed_arrays(QFormat(16, 8), shape=3), has_tie, settings=FIND)


def test_fixed_arrays_reject_a_dtype_too_narrow():
    with pytest.raises(ValueError, match="cannot hold every code of Q16.8"):
        fst.fixed_arrays(QFormat(16, 8), dtype=np.int8)


@FEW
@given(fst.int64_arrays(shape=st.just((5,)), min_value=-100, max_value=7))
def test_int64_arrays_bounds(a):
    assert a.dtype == np.int64 and a.shape == (5,)
    assert -100 <= int(a.min()) and int(a.max()) <= 7


@pytest.mark.parametrize("target", [INT64_MIN, INT64_MAX, 0, -1])
def test_int64_arrays_reach_extremes(target):
    find(fst.int64_arrays(shape=2), lambda a: bool((a == target).any()), settings=FIND)


@FEW
@given(fst.shifts(min_shift=-5, max_shift=40))
def test_shifts_bounds(s):
    assert -5 <= s <= 40


@pytest.mark.parametrize("target", [-64, 0, 32, 33, 64])
def test_shifts_reach_boundaries(target):
    find(fst.shifts(), lambda s: s == target, settings=FIND)


@FEW
@given(fst.rounding_modes(deterministic_only=True), fst.rounding_modes(), fst.overflow_modes())
def test_mode_names(det, any_mode, ovf):
    assert det in ROUNDING_MODES and det != "stochastic"
    assert any_mode in ROUNDING_MODES and ovf in OVERFLOW_MODES


def test_rounding_modes_include_stochastic_by_default():
    find(fst.rounding_modes(), lambda m: m == "stochastic", settings=FIND)


@FEW
@given(fst.keys())
def test_keys_are_uint32(k):
    assert isinstance(k, int) and 0 <= k < 2**32


def test_keys_reach_the_top():
    find(fst.keys(), lambda k: k == 2**32 - 1, settings=FIND)


@FEW
@given(st.data())
def test_tie_values_are_ties(data):
    s = data.draw(st.integers(1, 64))
    x = data.draw(fst.tie_values(s))
    assert INT64_MIN <= x <= INT64_MAX
    assert x % 2**s == 2 ** (s - 1)


@FEW
@given(fst.tie_values(1, -10, 10))
def test_tie_values_bounds(x):
    assert -10 <= x <= 10 and x % 2 == 1


def test_tie_values_worked_example():
    # at s = 4, 24 = 0b1_1000 is 1.5 and -8 is -0.5; both must be reachable
    find(fst.tie_values(4, -100, 100), lambda x: x == 24, settings=FIND)
    find(fst.tie_values(4, -100, 100), lambda x: x == -8, settings=FIND)


@pytest.mark.parametrize("call, message", [
    (lambda: fst.formats(min_w=20, max_w=10), "empty format bounds"),
    (lambda: fst.shifts(min_shift=70), "empty shift range"),
    (lambda: fst.tie_values(0), "1 <= s <= 64"),
    (lambda: fst.tie_values(8, 1, 100), "no tie at shift 8"),
    (lambda: fst.int64_arrays(min_value=5, max_value=4), "min_value <= max_value"),
    (lambda: fst.fixed_arrays((16, 8)), "needs a QFormat"),
])
def test_strategy_arguments_are_checked(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
