"""The stride-1 int16 convolution path (fxtrain/ops/_direct.py + _simd.py) against the
oracle and against float64 sums (exact below 2**53, independent code): geometry edges of
its flat padded grid (odd channel counts, output channels not a multiple of 4, kernel
sizes 1..4, padding beyond K - 1, outputs narrower than one 16-position block), exact
sums past 2**31 (certified int32 chunks added in int64, per block of output channels),
the pairs no chunk can certify (float64 fallback), WU images that cannot be certified,
and WU tiles spanning several images."""
import numpy as np
import pytest

import fxtrain.ops as O
from fxtrain.nn import float_ops as F
from fxtrain.numerics import QFormat, wrap
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


def _f64_fp(a, w):
    return F.conv2d_fp(a.astype(float), w.astype(float), 1, 1).astype(np.int64)


def _f64_wu(e, a):
    return F.conv2d_wu(e.astype(float), a.astype(float), 3, 1, 1).astype(np.int64)


def _f64_bp(e, w, hw):
    return F.conv2d_bp(e.astype(float), w.astype(float), hw, 1, 1).astype(np.int64)


@pytest.mark.parametrize("bits", [32, 48, 64])
def test_direct_equals_float64_sums_on_training_shapes(bits):
    # cnn1x-like shapes, several images per WU tile and per worker, values over the whole
    # 16-bit range (FP and BP sums far past 2**31); the exact sums come from float64
    # (every partial sum < 2**53), wrapped and counted here
    for (n, c, o, h) in [(6, 3, 16, 32), (9, 16, 32, 16), (41, 32, 8, 8)]:
        a, wt = r16(n, c, h, h), r16(o, c, 3, 3)
        e = r16(n, o, h, h, lo=-300, hi=300)
        for got, exact in ((O.conv2d_fp(a, wt, 1, 1, bits, stats=True), _f64_fp(a, wt)),
                           (O.conv2d_bp(e, wt, (h, h), 1, 1, bits, stats=True), _f64_bp(e, wt, (h, h))),
                           (O.conv2d_wu(e, a, 3, 1, 1, bits, stats=True), _f64_wu(e, a))):
            np.testing.assert_array_equal(got[0], wrap(exact, bits))
            assert got[1] == int(np.count_nonzero(wrap(exact, bits) != exact))
        # 16-bit operands: 32-bit sums overflow here, 48-bit ones never do
        assert (O.conv2d_fp(a, wt, 1, 1, bits, stats=True)[1] > 0) == (bits == 32)


def test_chunk_plans_follow_the_operand_ranges():
    """Small operands: one chunk per block (the plain int32 pass); ReLU-like inputs near
    2**15 with 16-bit weights: several chunks, longer where a block's weights are small;
    every plan's chunks are certified (checked by recomputing their bounds)."""
    a = r16(4, 16, 8, 8, lo=0, hi=1 << 15)
    wt = r16(8, 16, 3, 3)
    wt[4:] //= 64  # the second block of 4 rows: much smaller weights
    cuts = D.plan_chunks(a, wt.reshape(8, -1), 16, 3)
    assert cuts[0, 0] > cuts[1, 0] >= 1, cuts[:, 0]
    lo, hi = a.min(axis=(0, 2, 3)).astype(np.int64), a.max(axis=(0, 2, 3)).astype(np.int64)
    lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
    w3 = wt.reshape(8, 8, 2, 9).astype(np.int64)  # [o, c2, pair half, t]
    for b in range(2):
        bounds = cuts[b, 1:cuts[b, 0] + 2]
        for r0, r1 in zip(bounds[:-1], bounds[1:]):
            for o in range(4 * b, 4 * b + 4):
                up = dn = 0
                for r in range(r0, r1):
                    c2, t = divmod(int(r), 9)
                    for j in range(2):
                        c = 2 * c2 + j
                        p = (int(w3[o, c2, j, t]) * int(lo[c]), int(w3[o, c2, j, t]) * int(hi[c]))
                        up, dn = up + max(p), dn + min(p)
                assert up <= 2**31 - 1 and dn >= -(2**31 - 1)
    small = D.plan_chunks(a // 256, wt.reshape(8, -1), 16, 3)
    assert (small[:, 0] == 1).all()
    np.testing.assert_array_equal(O.conv2d_fp(a, wt, 1, 1, 64), _f64_fp(a, wt))


def test_row_test_agrees_with_the_chunk_scan():
    """plan_chunks' per-row shortcut (_rows_fit) says "one chunk" exactly where
    chunk_cuts finds one chunk in every block: weights scaled across the boundary."""
    rng = np.random.default_rng(5)
    seen = set()
    for trial in range(60):
        c, kk, o = int(rng.integers(1, 9)), int(rng.choice([1, 4, 9])), int(rng.integers(1, 10))
        w2 = (rng.integers(-(1 << 15), 1 << 15, (o, c * kk)) >> int(rng.integers(0, 8)))
        w2 = w2.astype(np.int16)
        lo = np.zeros(2 * ((c + 1) // 2), np.int64)
        hi = np.zeros_like(lo)
        lo[:c] = -rng.integers(0, 1 << 15, c) * int(rng.integers(0, 2))
        hi[:c] = rng.integers(0, 1 << 15, c)
        cuts = np.zeros((-(-o // 4), lo.size // 2 * kk + 3), np.int64)
        ok = D.chunk_cuts(w2, c, kk, lo, hi, cuts)
        fits = bool(D._rows_fit(w2, c, kk, lo, hi))
        assert fits == (ok and bool((cuts[:, 0] == 1).all()))
        seen.add(fits)
    assert seen == {True, False}


def test_uncertifiable_pairs_take_the_float64_path():
    # (-2**15)**2 twice in one channel pair is 2**31: no chunk can hold it in int32
    a = np.full((1, 2, 3, 3), -(1 << 15), np.int16)
    wt = np.full((4, 2, 3, 3), -(1 << 15), np.int16)
    assert D.plan_chunks(a, wt.reshape(4, -1), 2, 3) is None
    got, n = O.conv2d_fp(a, wt, 1, 1, 64, stats=True)
    assert got[0, 0, 1, 1] == 18 << 30 and n == 0
    y, _, n_acc = O.conv2d_fp_requant(a, wt, 30, QFormat(16, 0), "half_up", pad=1, acc_bits=32,
                                      acc_stats=True)
    assert n_acc == int(np.count_nonzero(_f64_fp(a, wt) >= 2**31)) > 0


def test_wu_images_that_cannot_be_certified_are_summed_exactly():
    # images 1 and 3 carry full-range gradients (sum|e| * max|a| far past 2**31): they
    # leave the int32 pass and are summed in float64; the others stay on it
    n, c, o, h = 5, 3, 4, 16
    a = r16(n, c, h, h)
    e = r16(n, o, h, h, lo=-4, hi=4)
    e[[1, 3]] = r16(2, o, h, h)
    for bits in (32, 64):
        got, cnt = O.conv2d_wu(e, a, 3, 1, 1, bits, stats=True)
        exact = _f64_wu(e, a)
        np.testing.assert_array_equal(got, wrap(exact, bits))
        assert cnt == int(np.count_nonzero(wrap(exact, bits) != exact))


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


def test_linear_int64_path_equals_exact_path():
    # 16-bit operands take the int64 numba kernels; int64-typed operands with wider values
    # take acc_matmul (float64 chunks): compare wrapped, including the 32-bit wrap itself,
    # on sums that do lie between 2**31 and 2**32 (a 33-bit wrap would keep them, a 32-bit
    # one must not) and at 33 bits
    for n, i, o in [(1, 1, 1), (3, 7, 5), (40, 1024, 10)]:
        a, w, e = r16(n, i), r16(o, i), r16(n, o)
        bias = rng.integers(-(1 << 40), 1 << 40, size=o)
        exact = (a.astype(float) @ w.T.astype(float)).astype(np.int64)  # exact: < 2**53
        np.testing.assert_array_equal(O.linear_fp(a, w, 64), exact)
        if i == 1024:
            assert (np.abs(exact) >= 1 << 31).any() and (np.abs(exact) < 1 << 32).any()
        for bits in (32, 33, 19):
            np.testing.assert_array_equal(
                O.linear_fp(a, w, bits, bias=bias, bias_shift=2),
                wrap(O.linear_fp(a.astype(np.int64), w, 64, bias=bias, bias_shift=2), bits))
            np.testing.assert_array_equal(O.linear_fp(a, w, bits), wrap(exact, bits))
            np.testing.assert_array_equal(O.linear_bp(e, w, bits), wrap(O.linear_bp(e, w, 64), bits))
            np.testing.assert_array_equal(O.linear_wu(e, a, bits), wrap(O.linear_wu(e, a, 64), bits))


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("n,groups,h", [(40, 2, 8), (12, 3, 16), (7, 7, 5)])
def test_wu_groups_equal_one_call_per_group(monkeypatch, workers, n, groups, h):
    # one call for every group (tiles taken by the workers from a shared counter, never
    # across a group boundary) == a call per group's slice, words and overflow counts
    from fxtrain.ops import _threads
    monkeypatch.setattr(_threads.RUNNER, "workers", workers)
    rng = np.random.default_rng(n + groups)
    e = rng.integers(-(1 << 15), 1 << 15, (n, 6, h, h)).astype(np.int16)
    a = rng.integers(-(1 << 15), 1 << 15, (n, 5, h, h)).astype(np.int16)
    got, n_acc = O.conv2d_wu(e, a, 3, 1, 1, acc_bits=32, stats=True, groups=groups)
    gs = n // groups
    want = [O.conv2d_wu(e[i * gs:(i + 1) * gs], a[i * gs:(i + 1) * gs], 3, 1, 1, acc_bits=32,
                        stats=True) for i in range(groups)]
    assert got.shape == (groups, 6, 5, 3, 3)
    for i, (w, _) in enumerate(want):
        np.testing.assert_array_equal(got[i], w)
    assert n_acc == sum(c for _, c in want) > 0


def test_wu_groups_must_divide_the_batch():
    z = np.zeros((4, 2, 3, 3), np.int16)
    with pytest.raises(ValueError, match="groups=3 does not divide the batch of 4"):
        O.conv2d_wu(z, z, 3, 1, 1, groups=3)
