"""Stochastic rounding: bounded, reproducible, order-independent and unbiased.

R(i) = lowbias32((key + i) mod 2**32) depends only on (key, i), so hardware that
evaluates elements in any order, or in tiles, reproduces the engine bit for bit.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fxtrain.numerics import QFormat, requantize
from fxtrain.testing import strategies as fst

from numerics_helpers import INT64_MAX, INT64_MIN, ints, no_overflow_range, rq

M32 = 2**32


def _x(data, s, shape=None):
    lo, hi = no_overflow_range(s)
    return data.draw(fst.int64_arrays(shape=shape, min_value=lo, max_value=hi))


@given(st.data(), fst.shifts(min_shift=1), fst.keys())
def test_result_is_floor_or_floor_plus_one(data, s, key):
    x = _x(data, s)
    y, n = rq(x, s, "stochastic", key=key)
    assert n == 0
    for xi, v in zip(ints(x), y):
        a = xi >> s
        assert v == a if xi % 2**s == 0 else v in (a, a + 1)


@given(st.data(), fst.shifts(), fst.keys(), fst.overflow_modes(), st.integers(2, 32))
def test_reproducible_for_key_and_index(data, s, key, overflow, w):
    x = data.draw(fst.int64_arrays())
    first = requantize(x, s, QFormat(w, 0), "stochastic", overflow, key=key)
    again = requantize(x.copy(), s, QFormat(w, 0), "stochastic", overflow, key=key)
    explicit = requantize(x, s, QFormat(w, 0), "stochastic", overflow, key=key,
                          index=np.arange(x.size, dtype=np.int64).reshape(x.shape))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, explicit)


@given(st.data(), fst.shifts(min_shift=1), fst.keys())
def test_shuffled_evaluation_order_with_explicit_index(data, s, key):
    """Evaluating a permutation of the elements, each with its own index, gives the same bits."""
    x = data.draw(fst.int64_arrays(shape=st.integers(1, 40)))
    perm = np.array(data.draw(st.permutations(range(x.size))), dtype=np.int64)
    fmt = QFormat(16, 0)
    whole = requantize(x, s, fmt, "stochastic", key=key)
    shuffled = requantize(x[perm], s, fmt, "stochastic", key=key, index=perm)
    np.testing.assert_array_equal(shuffled, whole[perm])


@given(st.data(), fst.shifts(min_shift=1), fst.keys())
def test_tiled_evaluation_with_key_offset(data, s, key):
    """A tile starting at flat offset o, evaluated with key + o and local indices, matches."""
    x = data.draw(fst.int64_arrays(shape=st.integers(1, 40)))
    cuts = sorted(set(data.draw(st.lists(st.integers(0, x.size), max_size=4))) | {0, x.size})
    fmt = QFormat(16, 0)
    whole = requantize(x, s, fmt, "stochastic", key=key)
    tiles = [requantize(x[o:e], s, fmt, "stochastic", key=(key + o) % M32)
             for o, e in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(np.concatenate(tiles), whole)


@given(st.data(), fst.keys())
def test_index_is_row_major_in_nd_arrays(data, key):
    x = data.draw(fst.int64_arrays(shape=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))))
    fmt = QFormat(16, 0)
    np.testing.assert_array_equal(
        requantize(x, 7, fmt, "stochastic", key=key).ravel(),
        requantize(x.ravel(), 7, fmt, "stochastic", key=key),
    )
    # a transposed view is evaluated in the view's own row-major order
    xt = x.transpose(2, 0, 1)
    np.testing.assert_array_equal(
        requantize(xt, 7, fmt, "stochastic", key=key),
        requantize(np.ascontiguousarray(xt), 7, fmt, "stochastic", key=key),
    )


@given(fst.int64_arrays(), fst.shifts(max_shift=0), fst.keys(), fst.keys())
def test_no_dropped_bits_means_no_randomness(x, s, key1, key2):
    a = requantize(x, s, QFormat(32, 0), "stochastic", "wrap", key=key1)
    b = requantize(x, s, QFormat(32, 0), "stochastic", "wrap", key=key2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, requantize(x, s, QFormat(32, 0), "floor", "wrap"))


def test_different_keys_give_different_roundings():
    x = np.full(256, 1, dtype=np.int64)  # 1/2 at s = 1: each element is a coin flip
    a = requantize(x, 1, QFormat(8, 0), "stochastic", key=1)
    b = requantize(x, 1, QFormat(8, 0), "stochastic", key=2)
    assert (a != b).any()


def _bias_bound(s: int, n: int) -> tuple[float, int]:
    """Allowed |mean error| in input LSBs, as (statistical part, deterministic part).

    Per element, e = v * 2**s - x = -r + 2**s * B with B ~ Bernoulli(p), so
    Var(e) = 4**s * p * (1 - p) <= 4**s / 4 and sigma(mean of n) <= 2**s / (2 * sqrt(n)).
    For s <= 32, u is uniform on [0, 2**s) when R is, so p = r / 2**s exactly and the
    mean error is 0. For s > 32, u = R * 2**(s-32) only takes multiples of
    2**(s-32): p = floor(r / 2**(s-32)) / 2**32, a bias in (-2**(s-32), 0]. We allow
    6 sigma (a false alarm below 1e-8 per case if R behaves like uniform draws).
    """
    return 6 * 2**s / (2 * math.sqrt(n)), (2 ** (s - 32) if s > 32 else 0)


@pytest.mark.parametrize("s", [1, 3, 8, 16, 24, 31, 32, 33, 48, 63, 64])
@pytest.mark.parametrize("key", [0, 0x2545F491, 2**32 - 1000])
def test_unbiased(s, key):
    """Mean of (v * 2**s - x) over n = 2**16 indices stays within the bound above."""
    n = 2**16
    step = 2**s
    stat, det = _bias_bound(s, n)
    for frac in (1 / 3, 1 / 2, 0.9):  # residues r / 2**s
        r = max(1, int(frac * step))
        # x = a * 2**s + r with a negative a where int64 allows: checks the sign handling too
        x0 = next(a * step + r for a in (-5, -1, 0) if INT64_MIN <= a * step + r <= INT64_MAX)
        y = requantize(np.full(n, x0, dtype=np.int64), s, QFormat(32, 0), "stochastic", key=key)
        total_error = int(y.sum(dtype=np.int64)) * step - n * x0  # exact
        assert abs(total_error) <= n * (stat + det), (s, key, x0, total_error / n)


def test_unbiased_bound_detects_floor():
    """The bound above is tight enough to catch a 1/3-ulp systematic error."""
    s, n = 8, 2**16
    x = np.full(n, 85, dtype=np.int64)  # 85/256 ~ 1/3
    y, _ = rq(x, s, "floor")
    stat, det = _bias_bound(s, n)
    assert abs(sum(y) * 2**s - n * 85) > n * (stat + det)


@settings(max_examples=30)
@given(st.integers(1, 32), fst.keys(), st.integers(0, INT64_MAX))
def test_probability_of_rounding_up_is_the_residue(s, key, seed):
    """P(up) = r / 2**s: the count of ups over n consecutive indices is Binomial(n, p).

    p can sit next to 0 or 1, where a normal approximation (k sigma) is far too tight,
    so the bound is Bernstein's: P(|S - np| >= t) <= 2 exp(-t**2 / (2 (var + t/3))),
    solved for t at a false-alarm probability of 1e-9.
    """
    n = 4096
    step = 2**s
    r = seed % step
    x = np.full(n, r - 3 * step, dtype=np.int64)
    y, _ = rq(x, s, "stochastic", key=key)
    ups = sum(v - (-3) for v in y)
    p = r / step
    big_l = math.log(2 / 1e-9)
    t = big_l / 3 + math.sqrt((big_l / 3) ** 2 + 2 * big_l * n * p * (1 - p))
    assert abs(ups - n * p) <= t


@pytest.mark.parallel
def test_parallel_kernel_matches_single_thread():
    """The multi-threaded loop gives the same bits and the same overflow count."""
    import numba

    rng = np.random.default_rng(7)
    x = rng.integers(-(2**40), 2**40, size=1_000_003, dtype=np.int64)
    fmt = QFormat(16, 0)
    got = requantize(x, 20, fmt, "stochastic", "saturate", key=12345, stats=True)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        want = requantize(x, 20, fmt, "stochastic", "saturate", key=12345, stats=True)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1] > 0


def test_known_answer_words_from_the_contract():
    """docs/numerics.md 5.2, written out by hand: key 0 gives R(0) = 0, R(1) = 0x688990c0,
    R(2) = 0xd1132181, so at s = 1 (u = the top bit of R) [0.5, 0.5, 0.5] rounds to
    [0, 0, 1]; element 1 at s = 32 rounds up iff r >= 2**32 - 0x688990c0 = 0x97766f40, at
    s = 40 iff r >= 0x97766f4000 (u zero-padded below). A shifted index, a different key
    derivation or a misaligned u changes these words."""
    from fxtrain.numerics import QFormat, requantize

    q = QFormat(32, 0)
    np.testing.assert_array_equal(requantize(np.array([1, 1, 1]), 1, QFormat(16, 0), "stochastic", key=0),
                                  [0, 0, 1])
    for s, edge in ((32, 0x97766F40), (40, 0x97766F4000)):
        x = np.array([0, edge, edge - 1, (3 << s) + edge - 1, (3 << s) + edge])
        got = requantize(x, s, QFormat(32, 0), "stochastic", key=0, index=np.array([0, 1, 1, 1, 1]))
        np.testing.assert_array_equal(got, [0, 1, 0, 3, 4], err_msg=f"s={s}")
    # key 5 at index 0 draws R = lowbias32(5); the same word as key 0 at index 5
    x = np.full(6, 0x7FFFFFFF, dtype=np.int64)
    a = requantize(x, 32, q, "stochastic", key=0)
    b = requantize(x[:1], 32, q, "stochastic", key=5)
    assert a[5] == b[0]
