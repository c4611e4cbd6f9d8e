"""Convolution FP and BP followed by requantization, fused where the kernels allow it.

``conv2d_fp_requant(a, w, f_src, fmt, rounding, ...)`` returns exactly
``requantize(conv2d_fp(a, w, stride, pad, acc_bits, bias, bias_shift), f_src, fmt,
rounding, overflow, key=key, stats=True)`` -- the same words and the same overflow count --
and ``conv2d_bp_requant`` likewise for :func:`~fxtrain.ops.conv.conv2d_bp`. On the
stride-1 16-bit path (every training step of the model zoo) the exact sums are wrapped to
``acc_bits`` (counting the elements that did not fit) and requantized in the kernel's epilogue, element by element with the same
rule as :func:`fxtrain.numerics.requantize` (the stochastic index is the element's
row-major index in the [N, O, Ho, Wo] result), so the int64 accumulator tensor -- 4x the
size of the result -- is never written or read back. Other cases run the two steps.

A network uses these when it does not keep the accumulators (no vector capture, no
accumulator-overflow count).
"""
from __future__ import annotations

import numpy as np

from ..numerics import QFormat, requantize
from ..numerics.requant import requant_params
from . import _direct as D
from .activation import RELU_RULES, relu_bp, relu_fp
from ._validate import out_array, same_shape
from .conv import (bp_args, bp_as_correlation, conv2d_bp, conv2d_fp, correlate_direct,
                   direct_ok, fp_args)


def _fused(x, w2, k, s, p, ho, wo, bias, acc_bits, f_src, fmt, rounding, overflow, key, out,
           post=(D.POST_NONE, None), bounds=None):
    """(y, n, n_acc) from the direct kernel's epilogue (then ``post`` = (mode, mask)), or
    None when some sum cannot be certified for it (then the caller runs the steps)."""
    sh, mode, ovf = requant_params(f_src, fmt, rounding, overflow, key)
    shape = (x.shape[0], w2.shape[0], ho, wo)
    out = np.empty(shape, dtype=fmt.dtype) if out is None else out_array(out, shape, fmt.dtype, "out")
    rq = (np.int64(sh), np.int64(mode), np.int64(ovf), np.int64(fmt.w), np.int64(key or 0))
    n, n_acc = correlate_direct(x, w2, k, p, bias, acc_bits, out, rq, (np.int64(post[0]), post[1]),
                                bounds)
    if n < 0:
        return None
    return out, int(n), int(n_acc)


def _two_steps(acc_and_count, f_src, fmt, rounding, overflow, key, acc_stats):
    acc, n_acc = acc_and_count
    y, n = requantize(acc, f_src, fmt, rounding, overflow, key=key, stats=True)
    return (y, n, n_acc) if acc_stats else (y, n)


def conv2d_fp_requant(a, w, f_src: int, fmt: QFormat, rounding: str, overflow: str = "saturate",
                      key: int | None = None, stride: int = 1, pad: int = 0, acc_bits: int = 32,
                      bias=None, bias_shift: int = 0, out: np.ndarray | None = None,
                      acc_stats: bool = False, _bounds: dict | None = None) -> tuple:
    """``(y, n_overflowed)`` = requantize(conv2d_fp(...), f_src, fmt, rounding, overflow,
    key=key, stats=True): y in ``fmt.dtype`` [N, O, Ho, Wo]. Same argument checks and
    errors as the two calls. ``out``: optional preallocated C-contiguous result, used on
    the fused path (elsewhere a new array is returned). ``acc_stats=True`` returns
    ``(y, n_overflowed, n_acc)`` with conv2d_fp's accumulator overflow count. ``_bounds``:
    see :func:`conv2d_fp_requant_relu`."""
    args = fp_args(a, w, stride, pad, acc_bits, bias, bias_shift)
    x, w2, k, s = args[:4]
    if direct_ok(x, w2, s):
        r = _fused(*args, f_src, fmt, rounding, overflow, key, out, bounds=_bounds)
        if r is not None:
            return r if acc_stats else r[:2]
    acc = conv2d_fp(a, w, stride, pad, acc_bits, bias, bias_shift, stats=True)
    return _two_steps(acc, f_src, fmt, rounding, overflow, key, acc_stats)


def conv2d_bp_requant(e, w, in_hw, f_src: int, fmt: QFormat, rounding: str,
                      overflow: str = "saturate", key: int | None = None, stride: int = 1,
                      pad: int = 0, acc_bits: int = 32, out: np.ndarray | None = None,
                      acc_stats: bool = False, _bounds: dict | None = None) -> tuple:
    """``(e_in, n_overflowed)`` = requantize(conv2d_bp(...), f_src, fmt, rounding, overflow,
    key=key, stats=True): e_in in ``fmt.dtype`` [N, C, H, W]; ``out`` and ``acc_stats``
    as in :func:`conv2d_fp_requant`."""
    e_, w_, h, wd, k, s, p, bits = bp_args(e, w, in_hw, stride, pad, acc_bits)
    if s == 1 and p <= k - 1:
        args = bp_as_correlation(e_, w_, h, wd, k, p, bits)
        if direct_ok(args[0], args[1], 1):
            r = _fused(*args, f_src, fmt, rounding, overflow, key, out, bounds=_bounds)
            if r is not None:
                return r if acc_stats else r[:2]
    acc = conv2d_bp(e, w, in_hw, stride, pad, acc_bits, stats=True)
    return _two_steps(acc, f_src, fmt, rounding, overflow, key, acc_stats)


def conv2d_fp_requant_relu(a, w, f_src: int, fmt: QFormat, rounding: str, overflow: str = "saturate",
                           key: int | None = None, stride: int = 1, pad: int = 0, acc_bits: int = 32,
                           rule: str = "ge", acc_stats: bool = False, out: tuple | None = None,
                           _bounds: dict | None = None) -> tuple:
    """A convolution layer's forward pass and its ReLU: ``(y, mask, n_overflowed[, n_acc])``
    where ``(pre, n_overflowed[, n_acc]) = conv2d_fp_requant(a, w, ...)`` and
    ``(y, mask) = relu_fp(pre, rule)``; the same words, mask and counts, the ReLU applied
    in the kernel's epilogue on the fused path. ``out`` = (y, mask) preallocated as in
    :func:`fxtrain.ops.relu_fp`. ``_bounds`` (the network's, internal): a dict whose
    ``"in"`` holds per-channel (lo, hi) known to contain ``a``; ``"out"`` receives y's
    (unset off the fused path). A wrong ``"in"`` gives wrong sums: only pass what a
    previous call wrote to ``"out"``, through ReLU, pooling or their BP."""
    if rule not in RELU_RULES:
        raise ValueError(f"unknown ReLU rule {rule!r}; expected one of {RELU_RULES}")
    args = fp_args(a, w, stride, pad, acc_bits)
    x, w2, k, s = args[:4]
    shape = (x.shape[0], w2.shape[0], args[5], args[6])
    if direct_ok(x, w2, s):
        y = None if out is None else out_array(out[0], shape, fmt.dtype, "out[0]")
        m = (np.empty(shape, np.uint8) if out is None else out_array(out[1], shape, np.uint8, "out[1]"))
        post = D.POST_RELU_GT if rule == "gt" else D.POST_RELU_GE
        r = _fused(*args, f_src, fmt, rounding, overflow, key, y, (post, m), _bounds)
        if r is not None:
            return (r[0], m) + (r[1:] if acc_stats else r[1:2])
    pre, *counts = conv2d_fp_requant(a, w, f_src, fmt, rounding, overflow, key, stride, pad,
                                     acc_bits, acc_stats=acc_stats)
    return relu_fp(pre, rule, out=out) + tuple(counts)


def conv2d_bp_requant_mask(e, w, in_hw, mask, f_src: int, fmt: QFormat, rounding: str,
                           overflow: str = "saturate", key: int | None = None, stride: int = 1,
                           pad: int = 0, acc_bits: int = 32, acc_stats: bool = False,
                           out: np.ndarray | None = None, _bounds: dict | None = None) -> tuple:
    """A convolution's backward pass through the ReLU before it:
    ``(relu_bp(e_in, mask), n_overflowed[, n_acc])`` with ``(e_in, n_overflowed[, n_acc])
    = conv2d_bp_requant(e, w, in_hw, ...)``; counts as conv2d_bp_requant's (taken before
    the mask). ``mask``: the ReLU's uint8 mask, shaped like e_in; ``_bounds`` as in
    :func:`conv2d_fp_requant_relu` (for ``e`` and the result)."""
    e_, w_, h, wd, k, s, p, bits = bp_args(e, w, in_hw, stride, pad, acc_bits)
    m = np.asarray(mask)
    if m.dtype != np.uint8:
        raise TypeError(f"mask must be uint8 (from relu_fp), got dtype {m.dtype}")
    same_shape(m, np.empty((e_.shape[0], w_.shape[1], h, wd), np.uint8), "mask", "e_in")
    if s == 1 and p <= k - 1:
        args = bp_as_correlation(e_, w_, h, wd, k, p, bits)
        if direct_ok(args[0], args[1], 1):
            r = _fused(*args, f_src, fmt, rounding, overflow, key, out,
                       (D.POST_MASK, np.ascontiguousarray(m)), _bounds)
            if r is not None:
                return r if acc_stats else r[:2]
    e_in, *counts = conv2d_bp_requant(e, w, in_hw, f_src, fmt, rounding, overflow, key, stride,
                                      pad, acc_bits, acc_stats=acc_stats)
    return (relu_bp(e_in, m, out=out),) + tuple(counts)
