"""Values the engine refuses up front, each with an error that names what is wrong."""
import numpy as np
import pytest

from fxtrain.nn.models import cnn1x, lenet
from fxtrain.nn.presets import PRESETS
from fxtrain.numerics import QFormat, requantize


@pytest.fixture(scope="module")
def net():
    return lenet(recipe=PRESETS["fpl19"](batch=4))


@pytest.fixture(scope="module")
def xq(net):
    return net.quantize_input(np.random.default_rng(0).random((4, 1, 28, 28)))


@pytest.mark.parametrize("labels, match", [
    (np.array([0.0, 1.0, 2.0, 3.0]), "integer class indices, got dtype float64"),
    (np.array([True, False, True, False]), "got dtype bool .bool labels would be read as a mask"),
    (np.array([[0, 1, 2, 3]]), r"shape \[4\], got \[1, 4\]"),
    (np.array([0, 1, 2]), r"shape \[4\], got \[3\]"),
    (np.array([0, 1, 2, 10]), r"labels must lie in \[0, 10\), got range \[0, 10\]"),
    (np.array([0, -1, 2, 3]), r"got range \[-1, 3\]"),
])
def test_bad_labels(net, xq, labels, match):
    step = net.step
    with pytest.raises(ValueError, match=match):
        net.train_step(xq, labels)
    assert net.step == step  # nothing was trained


def test_empty_batch(net, xq):
    with pytest.raises(ValueError, match="empty batch"):
        net.forward(xq[:0])


@pytest.mark.parametrize("k", [0, 1, -3])
def test_too_few_classes(k):
    for build in (lenet, cnn1x):
        with pytest.raises(ValueError, match=f"num_classes must be an integer >= 2, got {k}"):
            build(num_classes=k)


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -0.1, 0.0])
def test_recipe_lr_must_be_finite_and_positive(lr):
    with pytest.raises(ValueError, match="finite lr > 0"):
        PRESETS["fpl19"](lr=lr)


@pytest.mark.parametrize("dtype", [">i2", ">i4", ">i8", ">u2"])
@pytest.mark.parametrize("rounding", ["half_up", "half_even", "stochastic"])
def test_requantize_takes_big_endian_integers(dtype, rounding):
    x = np.arange(-300, 300, 7).astype(np.int64)
    if dtype.startswith(">u"):
        x = x - x.min()
    native = requantize(x.astype(np.dtype(dtype).newbyteorder("=")), 2, QFormat(8, 0), rounding, key=9)
    big = requantize(x.astype(dtype), 2, QFormat(8, 0), rounding, key=9)
    np.testing.assert_array_equal(big, native)
    assert not np.array_equal(native, 0)
