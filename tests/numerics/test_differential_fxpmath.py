"""Engine == fxpmath 0.4.x on the rounding and overflow modes the two libraries share.

Mapping, read from fxpmath 0.4.10's source (``Fxp._round``, ``Config._rounding_aliases``,
``Fxp._overflow_action``) and checked bit for bit below. fxpmath quantizes a float ``x``
into ``Fxp(x, signed=True, n_word=w, n_frac=f, rounding=..., overflow=...)`` by rounding
the float64 ``x * 2**f`` and then fitting it to w bits:

=============  =======================================================================
fxtrain        fxpmath ``rounding`` (aliases)
=============  =======================================================================
floor          ``'floor'`` = ``'bit_trunc'`` (``'down'``, ``'roundTowardNegative'``, ``'SC_TRN'``)
trunc          ``'trunc'`` = ``'fix'`` (``'to_zero'``, ``'roundTowardZero'``, ``'SC_TRN_ZERO'``);
               fxpmath's default
half_up        ``'nearest_posinf'`` (``'SC_RND'``, ``'roundTiesToPositive'``)
half_even      ``'around'`` (``'nearest_even'``, ``'roundTiesToEven'``, ``'SC_RND_CONV'``)
half_away      ``'nearest_away'`` (``'SC_RND_INF'``, ``'roundTiesToAway'``)
stochastic     none
(none)         ``'ceil'``, ``'nearest_neginf'``, ``'nearest_zero'``
=============  =======================================================================

Overflow: fxpmath ``'saturate'`` (clip) == fxtrain ``saturate``; ``'wrap'`` (keep the low
``n_word`` bits, sign-extend) == fxtrain ``wrap``.

Where fxpmath stops being exact (so the comparison stays inside it): the scaling
``x * 2**f`` is float64, exact unless it overflows or underflows; inputs with
``|x| >= 2**64`` take an object-dtype path that skips rounding; and ``wrap`` converts the
rounded float to int64, undefined beyond 2**63. The strategies below keep ``|x| < 2**62``
and ``|x * 2**f| < 2**62``, and floats on a grid fine enough that the scaling is exact.
Requantizing integers is compared through fxpmath's float path (``x * 2**-f_src``, exact
for the int32 accumulators drawn here).
"""
import math

import numpy as np
import pytest
from fxpmath import Fxp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fxtrain.numerics import QFormat, quantize, requantize
from fxtrain.testing import strategies as fst

from numerics_helpers import FEWER

#: fxtrain rounding mode -> every fxpmath rounding name that means the same thing
FXPMATH_ROUNDING = {
    "floor": ("floor", "bit_trunc", "down", "roundTowardNegative", "SC_TRN"),
    "trunc": ("trunc", "fix", "to_zero", "roundTowardZero", "SC_TRN_ZERO"),
    "half_up": ("nearest_posinf", "SC_RND", "roundTiesToPositive"),
    "half_even": ("around", "nearest_even", "roundTiesToEven", "SC_RND_CONV"),
    "half_away": ("nearest_away", "SC_RND_INF", "roundTiesToAway"),
}
PAIRS = [(mode, name) for mode, names in FXPMATH_ROUNDING.items() for name in names]


def fxp_codes(x: np.ndarray, fmt: QFormat, rounding: str, overflow: str) -> np.ndarray:
    return np.asarray(Fxp(x, True, fmt.w, fmt.f, rounding=rounding, overflow=overflow).val)


def _values(fmt: QFormat) -> st.SearchStrategy[float]:
    """Floats with |x| < 2**62 and |x * 2**f| < 2**62, many on or next to fmt's ties."""
    limit = 2.0 ** min(62, 62 - fmt.f)
    # k * 2**-(f + 2): multiples of a quarter LSB, so ties and quarter points are common
    grid = st.integers(-(2**50), 2**50).map(lambda k: math.ldexp(k, -fmt.f - 2))
    free = st.floats(-limit, limit, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return (grid | free).filter(lambda v: abs(v) < limit)


@pytest.mark.parametrize("mode, name", PAIRS)
def test_mapping_on_the_worked_ties(mode, name):
    """Ties (x/2 for x = 5, -5, 7, -7, 1, -1) and quarter points through both libraries."""
    x = np.array([2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.25, -1.25, 1.75, -1.75])
    fmt = QFormat(8, 0)
    np.testing.assert_array_equal(quantize(x, fmt, mode), fxp_codes(x, fmt, name, "saturate"))


@pytest.mark.parametrize("name", ["ceil", "nearest_neginf", "nearest_zero"])
def test_unshared_fxpmath_modes_really_differ(name):
    """The three fxpmath modes left out of the mapping match none of fxtrain's modes."""
    x = np.array([2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.25, -1.25, 1.75, -1.75])
    fmt = QFormat(8, 0)
    theirs = fxp_codes(x, fmt, name, "saturate")
    for mode in FXPMATH_ROUNDING:
        assert (quantize(x, fmt, mode) != theirs).any()


@given(st.data(), fst.formats(min_f=-32, max_f=32), st.sampled_from(PAIRS), fst.overflow_modes())
def test_quantize_matches_fxpmath(data, fmt, pair, overflow):
    mode, name = pair
    x = data.draw(hnp.arrays(np.float64, st.integers(1, 12), elements=_values(fmt)))
    np.testing.assert_array_equal(quantize(x, fmt, mode, overflow), fxp_codes(x, fmt, name, overflow))


@FEWER
@given(st.data(), st.integers(0, 24), st.integers(2, 32), st.sampled_from(list(FXPMATH_ROUNDING)),
       fst.overflow_modes())
def test_requantize_int32_accumulators_matches_fxpmath(data, shift, w, mode, overflow):
    """The benchmark's job: int32 accumulators (fraction f_src) to Q(w, f_src - shift)."""
    acc = data.draw(fst.fixed_arrays(QFormat(32, 0), shape=st.integers(1, 12)))
    f_src = 16
    fmt = QFormat(w, f_src - shift)
    ours = requantize(acc, f_src, fmt, mode, overflow)
    theirs = fxp_codes(acc.astype(np.float64) * 2.0**-f_src, fmt, FXPMATH_ROUNDING[mode][0], overflow)
    np.testing.assert_array_equal(ours, theirs)
