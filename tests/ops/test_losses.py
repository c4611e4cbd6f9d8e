"""Directed loss-gradient cases: the hinge boundary z*t == 1, target saturation, the
exp2 table and worked softmax rows, float metrics on exact inputs."""
import math

import numpy as np
import pytest

import fxtrain.ops as O
import reference.ops as R
from fxtrain.numerics import QFormat
from ops_check import check_op


def test_hinge_zeroes_exactly_from_z_t_equal_one():
    f = 8  # 1.0 == 256
    z = np.array([[256, 255, -256, -255, 257, -257]], np.int16)
    t = np.array([[1, 1, -1, -1, 1, -1]], np.int8)
    g = check_op("squared_hinge_grad", z, t, f, 16)
    assert g.tolist() == [[0, -1, 0, 1, 0, 0]]
    assert g.dtype == np.int16


def test_hinge_target_saturates_and_difference_wraps():
    # f_z = 15: +1 is not representable in Q16.15, t_q saturates to 32767 (-1 is -32768)
    z = np.array([32767, 100, -32768, 100], np.int16)
    t = np.array([1, 1, -1, -1], np.int8)
    g = check_op("squared_hinge_grad", z, t, 15, 16)
    assert g.tolist() == [0, 100 - 32767, 0, 100 + 32768 - 65536]


def test_mse_grad_wraps():
    g = check_op("mse_grad", np.array([-30000, 5], np.int16), np.array([32767, 5]), 16)
    assert g.tolist() == [-62767 + 65536, 0]


def test_exp2_table_entries():
    lut = O.EXP2_LUT
    assert lut.shape == (256,) and lut[0] == 1 << 30
    assert lut[128] == math.isqrt(1 << 59) + 1  # 2**29.5 = 759250124.994...
    assert all(lut[i] > lut[i + 1] for i in range(255)) and lut[255] > 1 << 29
    np.testing.assert_array_equal(lut, np.array(R.EXP2_LUT))  # float guess vs bisection


def test_softmax_worked_examples():
    g = check_op("softmax_xent_grad", np.array([[0, 0]]), np.array([0]), 0, QFormat(16, 15))
    assert g.tolist() == [[-16384, 16384]]
    # one class: p = 1 exactly, gradient 0
    assert check_op("softmax_xent_grad", np.array([[7]]), np.array([0]), 3, QFormat(16, 15)).item() == 0
    # a dominant wrong class: p = 1 = 2**15 saturates to 32767 in Q16.15
    g = check_op("softmax_xent_grad", np.array([[1 << 14, 0]], np.int16), np.array([1]), 8,
                 QFormat(16, 15))
    assert g.tolist() == [[32767, -32768]]


def test_softmax_equal_logits_are_uniform():
    for k in (3, 5, 10):
        p = check_op("softmax_q", np.full((2, k), -123, np.int16), 4, 15)
        assert (p == (2 * (1 << 15) + k) // (2 * k)).all()


def test_softmax_tracks_the_real_softmax():
    rng = np.random.default_rng(3)
    z = rng.integers(-(1 << 12), 1 << 12, size=(20, 10)).astype(np.int16)  # Q.10: [-4, 4)
    p = O.softmax_q(z, 10, 15) / 2.0**15
    zf = z / 2.0**10
    ref = np.exp(zf - zf.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    assert np.abs(p - ref).max() < 2e-3  # table step 2**(1/256) ~ 0.27 % of p


def test_float_metrics_on_exact_inputs():
    z = np.array([[128, -384]], np.int16)  # 0.5, -1.5 in Q.8
    t = np.array([[1, 1]], np.int8)
    assert O.squared_hinge_loss(z, t, 8) == 0.25 + 6.25
    assert O.mse_loss(z, np.array([[256, 256]]), 8) == (0.25 + 6.25) / 2
    assert O.softmax_xent_loss(np.array([[0, 0]]), np.array([1]), 4) == math.log(2)


@pytest.mark.parametrize("call,err,match", [
    (lambda: O.squared_hinge_grad(np.zeros(2, np.int16), np.array([1, 0]), 8), ValueError, "only"),
    (lambda: O.squared_hinge_grad(np.zeros(2, np.int16), np.ones(3, np.int8), 8), ValueError, "shape"),
    (lambda: O.squared_hinge_grad(np.zeros(2, np.int16), np.ones(2, np.int8), -1), ValueError, "f_z"),
    (lambda: O.mse_grad(np.zeros(2, np.int16), np.zeros(2), 16), TypeError, "float"),
    (lambda: O.softmax_xent_grad(np.zeros((2, 3), np.int16), np.array([0, 3]), 8, QFormat(16, 15)),
     ValueError, "labels"),
    (lambda: O.softmax_xent_grad(np.zeros((2, 3), np.int16), np.array([0, 1]), 8, QFormat(16, 32)),
     ValueError, "fraction"),
    (lambda: O.softmax_xent_grad(np.zeros((2, 3), np.int16), np.array([0, 1]), 8, 15),
     TypeError, "QFormat"),
    (lambda: O.softmax_q(np.array([[1 << 40]]), 8, 15), ValueError, "32-bit"),
])
def test_bad_arguments_are_refused(call, err, match):
    with pytest.raises(err, match=match):
        call()
