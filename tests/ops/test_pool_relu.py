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
