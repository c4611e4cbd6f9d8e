"""The stride-1 int16 convolution path (fxtrain/ops/_direct.py + _simd.py) against the
oracle and against the exact int64/float64 path: geometry edges of its flat padded grid
(odd channel counts, output channels not a multiple of 4, kernel sizes 1..4, padding
beyond K - 1, outputs narrower than one 16-position block), 32-bit wrap of the pair
sums, and WU tiles spanning several images."""
import numpy as np
import pytest

import fxtrain.ops as O
from fxtrain.numerics import wrap
from fxtrain.ops import _direct as D
from ops_check import check_op

rng = np.random.default_rng(20261124)


def r16(*shape, lo=-(1 << 15), hi=1 << 15):
    return rng.integers(lo, hi, size=shape).astype(np.int16)


@pytest.mark.parametrize("n,c,o,h,w,k,p", [
    (1, 1, 1, 1, 1, 1, 0),     # one pixel, one channel: a single padded block
    (2, 3, 5, 5, 7, 3, 1),     # odd C (a zero pair half), O % 4 != 0
    (1, 2, 4, 4, 3, 2, 0),     # even kernel, no padding
    (2, 1, 3, 3, 3, 4, 3),     # K = 4, P = K - 1: the widest border
    (1, 4, 2, 3, 5, 3, 4),     # P > K - 1 (BP goes to the scatter path, FP/WU direct)
    (3, 5, 6, 9, 2, 1, 1),     # 1x1 kernel with padding: zero border outputs
])
def test_direct_matches_oracle(n, c, o, h, w, k, p):
    a, wt = r16(n, c, h, w), r16(o, c, k, k)
    ho, wo = h + 2 * p - k + 1, w + 2 * p - k + 1
    e = r16(n, o, ho, wo)
    bias = rng.integers(-(1 << 20), 1 << 20, size=o)
    assert check_op("conv2d_fp", a, wt, 1, p, bias=bias, bias_shift=5).shape == (n, o, ho, wo)
    check_op("conv2d_bp", e, wt, (h, w), 1, p)
    check_op("conv2d_wu", e, a, k, 1, p)
    for bits in (17, 24):
        check_op("conv2d_fp", a, wt, 1, p, acc_bits=bits)
        check_op("conv2d_wu", e, a, k, 1, p, acc_bits=bits)


def test_pair_sums_wrap_like_int32():
    # every product (-2**15)**2 = 2**30: a channel pair sums to 2**31, which vpmaddwd
    # wraps to -2**31; 5 channels x 9 taps = 45 * 2**30 = 11 * 2**32 + 2**30
    a = np.full((1, 5, 3, 3), -(1 << 15), np.int16)
    wt = np.full((4, 5, 3, 3), -(1 << 15), np.int16)
    got = check_op("conv2d_fp", a, wt, 1, 1)
    assert got[0, 0, 1, 1] == (45 << 30) - (11 << 32)
    check_op("conv2d_wu", np.full((1, 4, 3, 3), -(1 << 15), np.int16), a, 3, 1, 1)


def test_direct_equals_exact_path_on_training_shapes():
    # cnn1x-like shapes, several images per WU tile and per worker; the exact reference
    # is the same op at acc_bits=64 (float64/int64 path), wrapped to 32 bits
    for (n, c, o, h) in [(6, 3, 16, 32), (9, 16, 32, 16), (41, 32, 8, 8)]:
        a, wt = r16(n, c, h, h), r16(o, c, 3, 3)
        e = r16(n, o, h, h)
        np.testing.assert_array_equal(O.conv2d_fp(a, wt, 1, 1),
                                      wrap(O.conv2d_fp(a.astype(np.int64), wt, 1, 1, acc_bits=64), 32))
        np.testing.assert_array_equal(O.conv2d_bp(e, wt, (h, h), 1, 1),
                                      wrap(O.conv2d_bp(e, wt, (h, h), 1, 1, acc_bits=64), 32))
        np.testing.assert_array_equal(O.conv2d_wu(e, a, 3, 1, 1),
                                      wrap(O.conv2d_wu(e, a, 3, 1, 1, acc_bits=64), 32))


def test_int64_arrays_with_int16_values_take_the_same_path():
    a, wt = r16(2, 3, 6, 6, lo=-9, hi=9), r16(4, 3, 3, 3)
    np.testing.assert_array_equal(O.conv2d_fp(a.astype(np.int64), wt.astype(np.int32), 1, 1),
                                  O.conv2d_fp(a, wt, 1, 1))


def test_grid_reads_stay_inside_the_plane():
    # the largest offset plus the last computed position must stay inside one plane
    for h, w, k, p in [(1, 1, 1, 0), (5, 7, 3, 1), (3, 3, 4, 3), (8, 8, 3, 1), (2, 30, 2, 0)]:
        g = D.Grid(h, w, k, p)
        assert g.q_len % 16 == 0 and g.q_len >= g.ho * g.wp
        assert (g.q_len - 1) + (k - 1) * g.wp + (k - 1) < g.plane


def test_linear_int32_path_equals_exact_path():
    # 16-bit operands with acc_bits <= 32 take int32 wrapping kernels; compare with the
    # exact int64/float64 path (acc_bits=64) wrapped, including the 32-bit wrap itself
    for n, i, o in [(1, 1, 1), (3, 7, 5), (40, 1024, 10)]:
        a, w, e = r16(n, i), r16(o, i), r16(n, o)
        bias = rng.integers(-(1 << 40), 1 << 40, size=o)
        for bits in (32, 19):
            np.testing.assert_array_equal(
                O.linear_fp(a, w, bits, bias=bias, bias_shift=2),
                wrap(O.linear_fp(a.astype(np.int64), w, 64, bias=bias, bias_shift=2), bits))
            np.testing.assert_array_equal(O.linear_bp(e, w, bits), wrap(O.linear_bp(e, w, 64), bits))
            np.testing.assert_array_equal(O.linear_wu(e, a, bits), wrap(O.linear_wu(e, a, 64), bits))
