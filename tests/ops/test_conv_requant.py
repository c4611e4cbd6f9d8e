"""conv2d_fp_requant / conv2d_bp_requant == requantize(conv2d_fp / conv2d_bp) bit for bit,
with the same overflow count, for every rounding and overflow mode, shifts of both signs,
narrow accumulators, and the fallback paths; and a training step that uses them (no
record) equals one that keeps the accumulators (record given)."""
import numpy as np
import pytest

import fxtrain.ops as O
from fxtrain.models import cnn1x
from fxtrain.numerics import QFormat, requantize
from fxtrain.numerics.formats import OVERFLOW_MODES, ROUNDING_MODES
from fxtrain.presets import fpl19, sr16

rng = np.random.default_rng(7)


def r16(*shape):
    return rng.integers(-(1 << 15), 1 << 15, size=shape).astype(np.int16)


def _same(got, want):
    (y, n), (y2, n2) = got, want
    assert y.dtype == y2.dtype and y.shape == y2.shape
    np.testing.assert_array_equal(y, y2)
    assert n == n2


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
def test_fused_equals_requantize_of_accumulators(rounding, overflow):
    for trial in range(6):
        k = int(rng.integers(1, 4))
        p = int(rng.integers(0, k))
        n, c, o = int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 7))
        h, w = int(rng.integers(max(1, k - 2 * p), 9)), int(rng.integers(max(1, k - 2 * p), 9))
        a, wt = r16(n, c, h, w), r16(o, c, k, k)
        e = r16(n, o, h + 2 * p - k + 1, w + 2 * p - k + 1)
        fmt = QFormat(int(rng.choice([8, 16, 24])), int(rng.integers(-4, 20)))
        f_src = int(rng.integers(-8, 48))  # negative, zero and large shifts (stochastic s > 32)
        key, bits = int(rng.integers(0, 1 << 32)), int(rng.choice([32, 20]))
        kw = dict(key=key, pad=p, acc_bits=bits)
        _same(O.conv2d_fp_requant(a, wt, f_src, fmt, rounding, overflow, **kw),
              requantize(O.conv2d_fp(a, wt, 1, p, bits), f_src, fmt, rounding, overflow,
                         key=key, stats=True))
        _same(O.conv2d_bp_requant(e, wt, (h, w), f_src, fmt, rounding, overflow, **kw),
              requantize(O.conv2d_bp(e, wt, (h, w), 1, p, bits), f_src, fmt, rounding, overflow,
                         key=key, stats=True))


def test_fallback_paths_agree():
    # stride 2 and 33-bit accumulators do not take the fused kernel
    a, wt = r16(2, 3, 7, 7), r16(4, 3, 3, 3)
    fmt = QFormat(16, 4)
    for stride, bits in ((2, 32), (1, 33)):
        _same(O.conv2d_fp_requant(a, wt, 20, fmt, "half_up", "wrap", stride=stride, pad=1, acc_bits=bits),
              requantize(O.conv2d_fp(a, wt, stride, 1, bits), 20, fmt, "half_up", "wrap", stats=True))


def test_fused_bad_arguments_raise_like_requantize():
    a, wt = r16(1, 2, 4, 4), r16(3, 2, 3, 3)
    with pytest.raises(ValueError, match="stochastic rounding needs a key"):
        O.conv2d_fp_requant(a, wt, 20, QFormat(16, 4), "stochastic", pad=1)
    with pytest.raises(ValueError, match="outside \\[-64, 64\\]"):
        O.conv2d_fp_requant(a, wt, 100, QFormat(16, 4), "floor", pad=1)
    with pytest.raises(ValueError, match="input channels"):
        O.conv2d_fp_requant(a, r16(3, 5, 3, 3), 20, QFormat(16, 4), "floor", pad=1)


@pytest.mark.parametrize("preset", ["fpl19", "sr16"])
def test_training_step_fused_equals_recorded(preset):
    x = np.floor(np.random.default_rng(3).random((4, 3, 32, 32)) * 256) / 256
    y = np.arange(4) % 10
    recipe = fpl19(batch=4) if preset == "fpl19" else sr16(batch=4, calib=(x, y))
    fused, kept = cnn1x(recipe=recipe, seed=1), cnn1x(recipe=recipe, seed=1)
    xq = fused.quantize_input(x)
    for _ in range(2):
        m1 = fused.train_step(xq, y)
        m2 = kept.train_step(xq, y, record={})
        assert m1 == m2
    for k, v in fused.params.items():
        np.testing.assert_array_equal(v, kept.params[k], err_msg=k)
