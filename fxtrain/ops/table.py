"""The one list of ops: each engine kernel, the name of its twin in ``reference.ops`` and a
hypothesis strategy of small random arguments (shapes, strides, paddings, formats,
rounding modes, value regimes from tiny to 62-bit).

tests/ops/test_differential.py runs every entry against its twin bit for bit; RTL
testbenches may draw from the same strategies. Needs hypothesis (the ``test`` extra),
which is why ``fxtrain.ops`` does not import this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from ..numerics import OVERFLOW_MODES, ROUNDING_MODES, QFormat
from . import (conv2d_bp, conv2d_bp_requant, conv2d_bp_requant_mask, conv2d_fp, conv2d_fp_requant,
               conv2d_fp_requant_relu, conv2d_wu, fpl19_accumulate,
               fpl19_apply, fpl19_decay, fpl19_step, linear_bp, linear_fp, linear_wu, maxpool_bp,
               maxpool_bp_mask, maxpool_fp, mse_grad, relu_bp, relu_fp, sgd_momentum, softmax_q, softmax_xent_grad,
               squared_hinge_grad)


@dataclass(frozen=True)
class OpSpec:
    """An engine op, its oracle twin's name in reference.ops, and its argument strategy
    (a strategy of ``(args, kwargs)``). ``max_examples`` caps slow oracles."""

    name: str
    fn: Callable
    ref: str
    args: st.SearchStrategy
    max_examples: int | None = None


# value regimes: (dtype, low, high) drawn uniformly; "edge" picks from the extremes
_REGIMES = {
    "tiny": (np.int16, -3, 3),
    "w16": (np.int16, -(1 << 15), (1 << 15) - 1),
    "edge16": (np.int16, None, None),
    # magnitudes 2**14..2**15: sums of three or more products cross 2**31 (accumulator
    # overflow drawn on purpose, not left to chance)
    "big16": (np.int16, 1 << 14, (1 << 15) - 1),
    "w32": (np.int32, -(1 << 31), (1 << 31) - 1),
    "wide": (np.int64, -(1 << 62), 1 << 62),
}
_EDGE16 = np.array([-(1 << 15), -(1 << 15) + 1, -1, 0, 1, (1 << 15) - 1], dtype=np.int16)


@st.composite
def int_tensor(draw, shape, regimes=("tiny", "w16", "edge16", "big16", "w32", "wide")):
    """An integer array of ``shape`` in one drawn value regime (seeded numpy fill)."""
    regime = draw(st.sampled_from(regimes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype, lo, hi = _REGIMES[regime]
    if lo is None:
        return rng.choice(_EDGE16, size=shape)
    if regime == "big16":
        mag = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)
        return (mag * rng.choice(np.array([-1, 1]), size=shape)).astype(dtype)
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64).astype(dtype)


_NARROW = ("tiny", "w16", "edge16", "big16")
# the usual hardware widths (32, a DSP48's 48, exact 64) and narrow/odd ones
_acc_bits = st.sampled_from([32, 48, 64, 16, 24, 33])


@st.composite
def _conv_geometry(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, 2))
    lo = max(1, k - 2 * p)
    h, w = draw(st.integers(lo, lo + 6)), draw(st.integers(lo, lo + 6))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5))  # >= 4: the 4-row SIMD blocks
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    return n, c, o, h, w, k, s, p, ho, wo


@st.composite
def _conv_fp_args(draw):
    n, c, o, h, w, k, s, p, _, _ = draw(_conv_geometry())
    kw = {"stride": s, "pad": p, "acc_bits": draw(_acc_bits), "stats": draw(st.booleans())}
    if draw(st.booleans()):
        kw["bias"] = draw(int_tensor((o,)))
        kw["bias_shift"] = draw(st.integers(0, 70))
    return (draw(int_tensor((n, c, h, w))), draw(int_tensor((o, c, k, k)))), kw


@st.composite
def _conv_bp_args(draw):
    n, c, o, h, w, k, s, p, ho, wo = draw(_conv_geometry())
    return ((draw(int_tensor((n, o, ho, wo))), draw(int_tensor((o, c, k, k))), (h, w)),
            {"stride": s, "pad": p, "acc_bits": draw(_acc_bits), "stats": draw(st.booleans())})


@st.composite
def _conv_wu_args(draw):
    n, c, o, h, w, k, s, p, ho, wo = draw(_conv_geometry())
    kw = {"stride": s, "pad": p, "acc_bits": draw(_acc_bits), "stats": draw(st.booleans())}
    groups = draw(st.sampled_from([1, 1, 2, 3]))  # per-group sums, each wrapped on its own
    if groups > 1:
        n, kw["groups"] = n * groups, groups
    return (draw(int_tensor((n, o, ho, wo))), draw(int_tensor((n, c, h, w))), k), kw


@st.composite
def _linear_args(draw, which):
    n, i, o = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
    kw = {"acc_bits": draw(_acc_bits), "stats": draw(st.booleans())}
    if which == "fp":
        if draw(st.booleans()):
            kw["bias"], kw["bias_shift"] = draw(int_tensor((o,))), draw(st.integers(0, 40))
        return (draw(int_tensor((n, i))), draw(int_tensor((o, i)))), kw
    if which == "bp":
        return (draw(int_tensor((n, o))), draw(int_tensor((o, i)))), kw
    return (draw(int_tensor((n, o))), draw(int_tensor((n, i)))), kw


_small_shape = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@st.composite
def _relu_fp_args(draw):
    return (draw(int_tensor(draw(_small_shape))),), {"rule": draw(st.sampled_from(["ge", "gt"]))}


@st.composite
def _relu_bp_args(draw):
    shape = draw(_small_shape)
    mask = draw(int_tensor(shape, ("tiny",))) > 0
    return (draw(int_tensor(shape)), mask.astype(draw(st.sampled_from([np.uint8, np.bool_])))), {}


@st.composite
def _pool_shape(draw):
    k = draw(st.integers(1, 4))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(k, 3 * k + 2)), draw(st.integers(k, 3 * k + 2))
    return n, c, h, w, k


@st.composite
def _maxpool_fp_args(draw):
    n, c, h, w, k = draw(_pool_shape())
    return (draw(int_tensor((n, c, h, w))), k), {}


@st.composite
def _maxpool_bp_args(draw):
    n, c, h, w, k = draw(_pool_shape())
    shape = (n, c, h // k, w // k)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arg = rng.integers(0, k * k, size=shape).astype(np.uint8)
    return (draw(int_tensor(shape)), arg, (h, w), k), {}


@st.composite
def _maxpool_bp_mask_args(draw):
    (e, arg, (h, w), k), _ = draw(_maxpool_bp_args())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (e, arg, (h, w), k, rng.integers(0, 2, size=(e.shape[0], e.shape[1], h, w)).astype(np.uint8)), {}


@st.composite
def _logits(draw, regimes=_NARROW + ("w32",)):
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 10)))
    return draw(int_tensor(shape, regimes))


@st.composite
def _hinge_args(draw):
    f_z = draw(st.integers(0, 40))
    z = draw(_logits())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.choice(np.array([-1, 1], dtype=np.int8), size=z.shape)
    if draw(st.booleans()) and f_z < 31:  # the z*t == 1 boundary and its neighbours
        z = (t.astype(np.int64) << f_z) + rng.integers(-1, 2, size=z.shape)
    return (z, t, f_z, draw(st.sampled_from([8, 16, 16, 32]))), {}


@st.composite
def _mse_args(draw):
    z = draw(_logits(_NARROW + ("w32", "wide")))
    return (z, draw(int_tensor(z.shape)), draw(st.sampled_from([8, 16, 16, 32]))), {}


@st.composite
def _softmax_args(draw, grad):
    z = draw(_logits())
    f_z = draw(st.integers(-12, 40))
    if not grad:
        return (z, f_z, draw(st.integers(0, 31))), {}
    labels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, z.shape[1], z.shape[0])
    fmt = QFormat(draw(st.sampled_from([8, 16, 16, 32])), draw(st.integers(0, 31)))
    return (z, labels, f_z, fmt), {}


@st.composite
def _update_mode(draw):
    rounding = draw(st.sampled_from(["half_up", "half_up"] + list(ROUNDING_MODES)))
    return {"rounding": rounding, "overflow": draw(st.sampled_from(OVERFLOW_MODES)),
            "key": draw(st.integers(0, 2**32 - 1)), "w": draw(st.sampled_from([16, 16, 8, 24]))}


_frac = st.integers(-4, 24)
_q16 = st.integers(-(1 << 15), (1 << 15) - 1)


@st.composite
def _fpl19_args(draw, which):
    shape = draw(_small_shape)
    kw = draw(_update_mode())
    a, b = draw(int_tensor(shape, _NARROW)), draw(int_tensor(shape, _NARROW + ("w32",)))
    if which == "decay":
        return (a, draw(_q16), draw(_frac)), kw
    return (a, b, draw(_q16), draw(_frac), draw(_frac), draw(_frac)), kw


@st.composite
def _sgd_args(draw):
    shape = draw(_small_shape)
    w, v, g = (draw(int_tensor(shape, _NARROW)) for _ in range(3))
    mode = draw(_update_mode())
    kw = {"f_m": draw(st.integers(0, 16)), "rounding": mode["rounding"],
          "overflow": mode["overflow"], "key_v": mode["key"],
          "key_w": draw(st.integers(0, 2**32 - 1)), "bits": mode["w"]}
    fr = st.integers(0, 20)
    return (w, v, g, draw(_q16), draw(_q16), draw(fr), draw(fr), draw(fr), draw(fr)), kw


@st.composite
def _requant_tail(draw):
    """(f_src, fmt, rounding, overflow, key) of a fused conv + requantize."""
    fmt = QFormat(draw(st.sampled_from([8, 16, 16, 24])), draw(st.integers(-4, 20)))
    return (draw(st.integers(-8, 48)), fmt, draw(st.sampled_from(ROUNDING_MODES)),
            draw(st.sampled_from(OVERFLOW_MODES)), draw(st.integers(0, 2**32 - 1)))


@st.composite
def _conv_requant_args(draw, which):
    (args, kw) = draw(_conv_fp_args() if which == "fp" else _conv_bp_args())
    f_src, fmt, rounding, overflow, key = draw(_requant_tail())
    kw["acc_stats"] = kw.pop("stats")
    return (*args, f_src, fmt, rounding), {**kw, "overflow": overflow, "key": key}


@st.composite
def _conv_relu_args(draw):
    (args, kw) = draw(_conv_requant_args("fp"))
    kw.pop("bias", None), kw.pop("bias_shift", None)
    return args, {**kw, "rule": draw(st.sampled_from(["ge", "gt"]))}


@st.composite
def _conv_mask_args(draw):
    (args, kw) = draw(_conv_requant_args("bp"))
    e, w, (h, wd) = args[:3]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.integers(0, 2, size=(e.shape[0], w.shape[1], h, wd)).astype(np.uint8)
    return (e, w, (h, wd), mask) + tuple(args[3:]), kw


@st.composite
def _fpl19_step_args(draw):
    shape = draw(_small_shape)
    # 16-bit words: the network's dtypes (each other width is one more compilation)
    W, V = (draw(int_tensor(shape, _NARROW)) for _ in range(2))
    grads = [draw(int_tensor(shape, _NARROW)) for _ in range(draw(st.integers(0, 3)))]
    modes = [(draw(st.sampled_from(["half_up", "stochastic"] + list(ROUNDING_MODES))),
              draw(st.sampled_from(OVERFLOW_MODES)), 16) for _ in range(2)]
    return ((W, V, grads, draw(_q16), draw(_q16), draw(_q16), *(draw(_frac) for _ in range(5)), *modes,
             draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))), {})


TABLE: tuple[OpSpec, ...] = (
    OpSpec("conv2d_fp", conv2d_fp, "conv2d_fp", _conv_fp_args(), 60),
    OpSpec("conv2d_bp", conv2d_bp, "conv2d_bp", _conv_bp_args(), 60),
    OpSpec("conv2d_wu", conv2d_wu, "conv2d_wu", _conv_wu_args(), 60),
    OpSpec("linear_fp", linear_fp, "linear_fp", _linear_args("fp")),
    OpSpec("linear_bp", linear_bp, "linear_bp", _linear_args("bp")),
    OpSpec("linear_wu", linear_wu, "linear_wu", _linear_args("wu")),
    OpSpec("relu_fp", relu_fp, "relu_fp", _relu_fp_args()),
    OpSpec("relu_bp", relu_bp, "relu_bp", _relu_bp_args()),
    OpSpec("maxpool_fp", maxpool_fp, "maxpool_fp", _maxpool_fp_args()),
    OpSpec("maxpool_bp", maxpool_bp, "maxpool_bp", _maxpool_bp_args()),
    OpSpec("squared_hinge_grad", squared_hinge_grad, "squared_hinge_grad", _hinge_args()),
    OpSpec("mse_grad", mse_grad, "mse_grad", _mse_args()),
    OpSpec("softmax_q", softmax_q, "softmax_q", _softmax_args(False)),
    OpSpec("softmax_xent_grad", softmax_xent_grad, "softmax_xent_grad", _softmax_args(True)),
    OpSpec("fpl19_accumulate", fpl19_accumulate, "fpl19_accumulate", _fpl19_args("accumulate")),
    OpSpec("fpl19_apply", fpl19_apply, "fpl19_apply", _fpl19_args("apply")),
    OpSpec("fpl19_decay", fpl19_decay, "fpl19_decay", _fpl19_args("decay")),
    OpSpec("sgd_momentum", sgd_momentum, "sgd_momentum", _sgd_args()),
    # fused chains of the ops above (the engine's fast paths); twins are the chains
    OpSpec("conv2d_fp_requant", conv2d_fp_requant, "conv2d_fp_requant", _conv_requant_args("fp"), 60),
    OpSpec("conv2d_bp_requant", conv2d_bp_requant, "conv2d_bp_requant", _conv_requant_args("bp"), 60),
    OpSpec("conv2d_fp_requant_relu", conv2d_fp_requant_relu, "conv2d_fp_requant_relu",
           _conv_relu_args(), 60),
    OpSpec("conv2d_bp_requant_mask", conv2d_bp_requant_mask, "conv2d_bp_requant_mask",
           _conv_mask_args(), 60),
    OpSpec("fpl19_step", fpl19_step, "fpl19_step", _fpl19_step_args()),
    OpSpec("maxpool_bp_mask", maxpool_bp_mask, "maxpool_bp_mask", _maxpool_bp_mask_args()),
)

OPS: dict[str, OpSpec] = {spec.name: spec for spec in TABLE}
