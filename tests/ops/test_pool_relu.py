"""Directed max-pool and ReLU cases: tie rules, dropped tails, masks, argument errors."""
import numpy as np
import pytest

import fxtrain.ops as O
from ops_check import check_op


def test_maxpool_tie_goes_to_first_in_row_major_order():
    a = np.array([[[[5, 7], [7, 2]]]], np.int16)
    y, arg = check_op("maxpool_fp", a, 2)
    assert (y.item(), arg.item()) == (7, 1)


@pytest.mark.parametrize("window,idx", [
    ([[3, 3], [3, 3]], 0),
    ([[-4, -1], [-1, -1]], 1),
    ([[0, -1], [-2, 0]], 0),
    ([[1, 2, 2], [2, 0, 2], [2, 2, 2]], 1),
    ([[-9, -9, -9], [-9, -9, -9], [-9, -9, -8]], 8),
])
def test_maxpool_ties_and_argmax(window, idx):
    a = np.array([[window]], np.int32)
    y, arg = check_op("maxpool_fp", a, len(window))
    assert arg.item() == idx and y.item() == max(map(max, window))


def test_maxpool_drops_trailing_rows_and_bp_leaves_them_zero():
    a = np.arange(5 * 7, dtype=np.int16).reshape(1, 1, 5, 7)
    a[0, 0, 4, :] = 1000  # row 4 and column 6 lie beyond (H//2)*2 and (W//2)*2
    a[0, 0, :, 6] = 1000
    y, arg = check_op("maxpool_fp", a, 2)
    assert y.shape == (1, 1, 2, 3) and int(y.max()) < 1000
    assert (arg == 3).all()  # increasing ramp: bottom-right of each window
    g = check_op("maxpool_bp", y, arg, (5, 7), 2)
    assert g.shape == (1, 1, 5, 7) and not g[0, 0, 4].any() and not g[0, 0, :, 6].any()
    assert g[0, 0, 1, 1] == y[0, 0, 0, 0]


def test_maxpool_bp_keeps_dtype_and_scatters_each_window_once():
    e = np.array([[[[-3, 4]]]], np.int16)
    arg = np.array([[[[2, 1]]]], np.uint8)
    g = check_op("maxpool_bp", e, arg, (2, 4), 2)
    assert g.dtype == np.int16
    assert g[0, 0].tolist() == [[0, 0, 0, 4], [-3, 0, 0, 0]]


def test_relu_rules_differ_only_at_zero():
    x = np.array([-2, 0, 3], np.int16)
    y, m = check_op("relu_fp", x, "ge")
    assert y.tolist() == [0, 0, 3] and m.tolist() == [0, 1, 1] and m.dtype == np.uint8
    y, m = check_op("relu_fp", x, "gt")
    assert y.tolist() == [0, 0, 3] and m.tolist() == [0, 0, 1]
    assert check_op("relu_bp", np.array([5, 6, 7], np.int16), m).tolist() == [0, 0, 7]


@pytest.mark.parametrize("call,err,match", [
    (lambda: O.relu_fp(np.zeros(3, np.int16), "geq"), ValueError, "ReLU rule"),
    (lambda: O.relu_bp(np.zeros(3, np.int16), np.zeros(3, np.int16)), TypeError, "mask"),
    (lambda: O.relu_bp(np.zeros(3, np.int16), np.zeros(2, np.uint8)), ValueError, "shape"),
    (lambda: O.maxpool_fp(np.zeros((1, 1, 2, 2), np.int16), 3), ValueError, "larger"),
    (lambda: O.maxpool_fp(np.zeros((1, 1, 40, 40), np.int16), 17), ValueError, "k=17"),
    (lambda: O.maxpool_fp(np.zeros((2, 2), np.int16), 2), ValueError, "4-D"),
    (lambda: O.maxpool_bp(np.zeros((1, 1, 1, 1), np.int16), np.full((1, 1, 1, 1), 4, np.uint8),
                          (2, 2), 2), ValueError, "not a position"),
    (lambda: O.maxpool_bp(np.zeros((1, 1, 1, 1), np.int16), np.zeros((1, 1, 1, 1), np.int64),
                          (2, 2), 2), TypeError, "uint8"),
    (lambda: O.maxpool_bp(np.zeros((1, 1, 1, 1), np.int16), np.zeros((1, 1, 1, 1), np.uint8),
                          (4, 4), 2), ValueError, "gives 2x2"),
])
def test_bad_arguments_are_refused(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_maxpool_k2_fast_kernels_match_the_general_ones(dtype):
    # k = 2 has its own select-based kernels; values in [-2, 2] make ties frequent, and
    # the dtype extremes check the branch-free BP products
    from fxtrain.ops import pool as P
    rng = np.random.default_rng(11)
    info = np.iinfo(dtype)
    a = rng.integers(-2, 3, size=(3, 4, 8, 10)).astype(dtype)
    a[0, 0, 0, :4] = [info.min, info.max, info.max, info.min]
    a_view = np.asfortranarray(a)  # non-contiguous layouts too
    y, arg = O.maxpool_fp(a_view, 2)
    y_ref = np.empty_like(y)
    arg_ref = np.empty_like(arg)
    P._pool_fp(a, 2, y_ref, arg_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert arg[0, 0, 0, 0] == 1 and y[0, 0, 0, 0] == info.max
    e = rng.integers(info.min, info.max, size=y.shape, dtype=dtype, endpoint=True)
    g = O.maxpool_bp(e, arg, (8, 10), 2)
    g_ref = np.zeros_like(g)
    P._pool_bp(e, arg, 2, g_ref)
    np.testing.assert_array_equal(g, g_ref)
    assert g.dtype == dtype


def test_out_buffers_are_filled_and_checked():
    rng = np.random.default_rng(5)
    x = rng.integers(-9, 9, size=(2, 3, 4, 6)).astype(np.int16)
    y, m = O.relu_fp(x)
    yb, mb = np.full_like(y, 7), np.full_like(m, 7)
    y2, m2 = O.relu_fp(x, out=(yb, mb))
    assert y2 is yb and m2 is mb
    np.testing.assert_array_equal(yb, y)
    np.testing.assert_array_equal(mb, m)
    g = O.relu_bp(x, m, out=x.copy())
    np.testing.assert_array_equal(g, O.relu_bp(x, m))
    p, arg = O.maxpool_fp(x, 2)
    pb = (np.full_like(p, 7), np.full_like(arg, 7))
    assert O.maxpool_fp(x, 2, out=pb)[0] is pb[0]
    np.testing.assert_array_equal(pb[1], arg)
    for k, shape in ((2, (2, 3, 4, 6)), (3, (2, 3, 4, 6))):  # fast path and zeroing path
        p, arg = O.maxpool_fp(x, k)
        want = O.maxpool_bp(p, arg, (4, 6), k)
        got = O.maxpool_bp(p, arg, (4, 6), k, out=np.full(shape, 7, np.int16))
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="shape"):
        O.relu_bp(x, m, out=np.empty((2, 3), np.int16))
    with pytest.raises(ValueError, match="int16"):
        O.maxpool_bp(p, arg, (4, 6), 3, out=np.empty((2, 3, 4, 6), np.int32))
