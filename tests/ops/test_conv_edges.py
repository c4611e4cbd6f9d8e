"""Directed convolution and linear cases: geometry edges, accumulator wrap, tiling, wide
operands, bias alignment and argument errors. Each case also runs against the oracle."""
import numpy as np
import pytest

import fxtrain.ops as O
from fxtrain.ops import conv as conv_mod
from ops_check import check_op

rng = np.random.default_rng(12345)


def r16(*shape):
    return rng.integers(-(1 << 15), 1 << 15, size=shape).astype(np.int16)


def test_ones_known_answer():
    a = np.ones((1, 1, 3, 3), np.int16)
    w = np.ones((1, 1, 3, 3), np.int16)
    want = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    np.testing.assert_array_equal(check_op("conv2d_fp", a, w, 1, 1)[0, 0], want)
    np.testing.assert_array_equal(check_op("conv2d_bp", a, w, (3, 3), 1, 1)[0, 0], want)
    np.testing.assert_array_equal(check_op("conv2d_wu", a, a, 3, 1, 1)[0, 0], want)


@pytest.mark.parametrize("h,w,k,s,p", [
    (2, 2, 4, 1, 1),   # K > H, padding makes it fit: 1x1 output
    (1, 3, 3, 1, 1),   # a single input row
    (2, 2, 4, 2, 2),   # K > H, stride 2, pad 2
    (7, 5, 3, 2, 0),   # stride 2, odd sizes, every row covered
    (6, 6, 3, 2, 0),   # (H - K) % S != 0: the last row/col get nothing in BP
    (8, 7, 2, 3, 1),   # stride > K leaves gaps inside the input too
    (5, 5, 1, 1, 2),   # P > K - 1: BP takes the scatter path at stride 1
])
def test_geometry_edges_match_oracle(h, w, k, s, p):
    n, c, o = 2, 2, 3
    a, wt = r16(n, c, h, w), r16(o, c, k, k)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    e = r16(n, o, ho, wo)
    assert check_op("conv2d_fp", a, wt, s, p).shape == (n, o, ho, wo)
    check_op("conv2d_bp", e, wt, (h, w), s, p)
    check_op("conv2d_wu", e, a, k, s, p)


def test_bp_uncovered_tail_is_zero():
    # H = W = 6, K = 3, S = 2, P = 0: windows start at 0 and 2, cover 0..4; index 5 never read
    e = np.ones((1, 1, 2, 2), np.int16)
    w = np.ones((1, 1, 3, 3), np.int16)
    got = check_op("conv2d_bp", e, w, (6, 6), 2, 0)
    assert got[0, 0, 5].tolist() == [0] * 6 and got[0, 0, :, 5].tolist() == [0] * 6
    assert got[0, 0, 2, 2] == 4  # the overlap of all four windows


def test_accumulator_wraps_at_32_bits():
    # three products of (-2**15)**2 = 2**30 sum to 3 * 2**30 > 2**31 - 1
    a = np.full((1, 3, 1, 1), -(1 << 15), np.int16)
    w = np.full((1, 3, 1, 1), -(1 << 15), np.int16)
    assert check_op("conv2d_fp", a, w)[0, 0, 0, 0] == 3 * (1 << 30) - (1 << 32)
    assert check_op("conv2d_fp", a, w, acc_bits=64)[0, 0, 0, 0] == 3 * (1 << 30)
    assert check_op("linear_fp", a.reshape(1, 3), w.reshape(1, 3))[0, 0] == -(1 << 30)
    e = np.full((3, 1, 1, 1), -(1 << 15), np.int16)  # WU sums over the batch
    assert check_op("conv2d_wu", e, a[:, :1].repeat(3, 0), 1)[0, 0, 0, 0] == -(1 << 30)


def test_bias_aligned_by_shift():
    a = np.zeros((1, 1, 2, 2), np.int16)
    w = np.zeros((2, 1, 1, 1), np.int16)
    got = check_op("conv2d_fp", a, w, bias=np.array([3, -1], np.int16), bias_shift=4)
    assert got[0, :, 0, 0].tolist() == [48, -16]
    # 2**31 wraps to -2**31 in the 32-bit accumulator
    got = check_op("linear_fp", np.zeros((1, 1), np.int16), np.zeros((1, 1), np.int16),
                   bias=np.array([1]), bias_shift=31)
    assert got[0, 0] == -(1 << 31)


@pytest.mark.parametrize("acc_bits", [32, 20, 64])  # int32 SIMD kernels, and float64 GEMM
def test_many_tiles_on_threads_match_oracle(monkeypatch, acc_bits):
    monkeypatch.setattr(conv_mod, "TILE_ELEMS", 1)  # one image per tile
    n, c, o, h, k = 5, 6, 9, 6, 3  # 9 and 6 rows: full 4-row blocks plus a remainder
    a, w, e = r16(n, c, h, h), r16(o, c, k, k), r16(n, o, h, h)
    check_op("conv2d_fp", a, w, 1, 1, acc_bits)
    check_op("conv2d_bp", e, w, (h, h), 1, 1, acc_bits)
    check_op("conv2d_wu", e, a, k, 1, 1, acc_bits)
    e2 = r16(n, o, 3, 3)
    check_op("conv2d_bp", e2, w, (h, h), 2, 1, acc_bits)  # the scatter path, tiled
    a5 = r16(n, c, 7, 5)  # general im2col (not same-size), stride 2
    check_op("conv2d_fp", a5, w, 2, 0, acc_bits)
    check_op("conv2d_wu", r16(n, o, 3, 2), a5, k, 2, 0, acc_bits)


def test_wide_operands_take_the_exact_path():
    big = np.array([[[[1 << 40, -(1 << 40)], [3, (1 << 52) + 1]]]], np.int64)
    w = np.array([[[[(1 << 20) + 1]]]], np.int64)
    check_op("conv2d_fp", big, w, acc_bits=64)
    check_op("conv2d_bp", big, w, (2, 2), acc_bits=64)
    check_op("conv2d_wu", big, big, 1, acc_bits=64)


def test_inputs_are_not_modified():
    a, w = r16(1, 2, 4, 4), r16(3, 2, 3, 3)
    a0, w0 = a.copy(), w.copy()
    O.conv2d_fp(a, w, 1, 1)
    O.conv2d_bp(r16(1, 3, 4, 4), w, (4, 4), 1, 1)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("call,err,match", [
    (lambda: O.conv2d_fp(np.zeros((1, 2, 4, 4), np.int16), np.zeros((1, 3, 3, 3), np.int16)),
     ValueError, "input channels"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 4, 4), np.int16), np.zeros((1, 1, 3, 2), np.int16)),
     ValueError, "square"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3), np.int16)),
     TypeError, "integer array"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 2, 2), np.int16), np.zeros((1, 1, 3, 3), np.int16)),
     ValueError, "does not fit"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 4, 4), np.int16), np.zeros((1, 1, 3, 3), np.int16),
                         stride=0), ValueError, "stride"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 4, 4), np.int16), np.zeros((2, 1, 3, 3), np.int16),
                         bias=np.zeros(2, np.int16), bias_shift=-1), ValueError, "bias_shift"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 4, 4), np.int16), np.zeros((2, 1, 3, 3), np.int16),
                         bias=np.zeros(3, np.int16)), ValueError, "bias must have shape"),
    (lambda: O.conv2d_fp(np.zeros((1, 1, 4, 4), np.int16), np.zeros((1, 1, 3, 3), np.int16),
                         acc_bits=65), ValueError, "acc_bits"),
    (lambda: O.conv2d_bp(np.zeros((1, 1, 3, 3), np.int16), np.zeros((1, 1, 3, 3), np.int16),
                         (4, 4)), ValueError, "gives 2x2"),
    (lambda: O.conv2d_bp(np.zeros((1, 1, 2, 2), np.int16), np.zeros((1, 1, 3, 3), np.int16),
                         4), ValueError, "in_hw"),
    (lambda: O.conv2d_wu(np.zeros((2, 1, 2, 2), np.int16), np.zeros((1, 1, 4, 4), np.int16), 3),
     ValueError, "batch"),
    (lambda: O.linear_fp(np.zeros((1, 3), np.int16), np.zeros((2, 4), np.int16)),
     ValueError, "inputs per row"),
    (lambda: O.linear_bp(np.zeros((1, 3), np.int16), np.zeros((2, 4), np.int16)),
     ValueError, "outputs per row"),
    (lambda: O.linear_wu(np.zeros((1, 3), np.int16), np.zeros((2, 4), np.int16)),
     ValueError, "batch"),
    (lambda: O.linear_fp(np.zeros((1, 3), np.uint64), np.zeros((2, 3), np.int16)),
     TypeError, "uint64"),
])
def test_bad_arguments_are_refused(call, err, match):
    with pytest.raises(err, match=match):
        call()
