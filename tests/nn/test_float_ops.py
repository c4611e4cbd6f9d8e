"""The float64 baseline kernels equal the integer kernels on small integers (no wrap, no
rounding, so the two must agree exactly) for every stride/padding the layers allow."""
import numpy as np
import pytest

from fxtrain import ops
from fxtrain.nn import float_ops as F


@pytest.mark.parametrize("stride, pad, k, h", [(1, 1, 3, 6), (1, 0, 3, 7), (2, 1, 3, 7), (2, 0, 2, 6),
                                                (1, 2, 3, 5), (3, 1, 3, 8)])
def test_conv_matches_integer_kernels(stride, pad, k, h):
    rng = np.random.default_rng(stride * 10 + pad + k + h)
    a = rng.integers(-50, 50, (2, 3, h, h))
    w = rng.integers(-50, 50, (4, 3, k, k))
    y = ops.conv2d_fp(a, w, stride, pad)
    np.testing.assert_array_equal(F.conv2d_fp(a.astype(float), w.astype(float), stride, pad), y)
    e = rng.integers(-50, 50, y.shape)
    np.testing.assert_array_equal(F.conv2d_bp(e.astype(float), w.astype(float), (h, h), stride, pad),
                                  ops.conv2d_bp(e, w, (h, h), stride, pad))
    np.testing.assert_array_equal(F.conv2d_wu(e.astype(float), a.astype(float), k, stride, pad),
                                  ops.conv2d_wu(e, a, k, stride, pad))


@pytest.mark.parametrize("k, h", [(2, 6), (2, 7), (3, 9)])
def test_pool_matches_integer_kernels(k, h):
    rng = np.random.default_rng(k * h)
    a = rng.integers(-3, 3, (2, 2, h, h))  # small range: many ties
    y, arg = ops.maxpool_fp(a, k)
    yf, argf = F.maxpool_fp(a.astype(float), k)
    np.testing.assert_array_equal(yf, y)
    np.testing.assert_array_equal(argf, arg)
    e = rng.integers(-9, 9, y.shape)
    np.testing.assert_array_equal(F.maxpool_bp(e.astype(float), arg, (h, h), k),
                                  ops.maxpool_bp(e, arg, (h, h), k))
