"""k x k max-pooling with stride k and a stored argmax (FP), and its gradient scatter (BP).

Windows tile the input from the top-left; trailing rows/cols beyond (H//k)*k and
(W//k)*k are dropped (FP ignores them, BP leaves them 0). Inside a window the argmax is
``ky*k + kx`` of the *first* maximum in row-major order (ties go to the earliest).
Worked tie: window [[5, 7], [7, 2]] -> max 7, argmax 1 (ky=0, kx=1), not 2.
"""
from __future__ import annotations

import numpy as np

from . import _native as N
from ._pool_kernels import _pool2_bp, _pool2_fp, _pool_bp, _pool_fp  # noqa: F401 (tests use them)
from ._threads import RUNNER
from ._validate import hw_arg, int_arg, int_array, out_array

K_MAX = 16  # argmax ky*k + kx must fit a uint8


_NO_MASK = np.zeros((1, 1, 2, 2), dtype=np.uint8)


def _scatter2(e, arg, out, mask, use_mask: bool) -> None:
    """:func:`._pool_kernels._pool2_bp`, its images shared by the worker threads when
    the arrays allow a native batch (int16 e and out, C-contiguous; the scatter ran on
    one thread: 0.6 ms for cnn1x's first pool)."""
    arrays = (e, arg, out, mask)
    if e.dtype == np.int16 and out.dtype == np.int16 and all(a.flags.c_contiguous for a in arrays):
        taken = np.zeros(1, dtype=np.int64)
        RUNNER.native(lambda n, slots: N.pool_slots(slots, e, arg, out, mask, use_mask, taken),
                      e.shape[0])
    else:
        _pool2_bp(e, arg, out, mask, use_mask)


def _k_arg(k) -> int:
    return int_arg(k, "k", 1, K_MAX)


def maxpool_fp(a, k: int, out: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y [N, C, H//k, W//k] in a's dtype, argmax uint8 of the same shape); 1 <= k <= 16.
    ``out`` = (y, argmax): optional preallocated C-contiguous results."""
    a = int_array(a, "a", 4)
    k = _k_arg(k)
    n, c, h, w = a.shape
    if h < k or w < k:
        raise ValueError(f"maxpool window {k}x{k} is larger than the input {h}x{w}")
    shape = (n, c, h // k, w // k)
    if out is None:
        y, arg = np.empty(shape, dtype=a.dtype), np.empty(shape, dtype=np.uint8)
    else:
        y, arg = out_array(out[0], shape, a.dtype, "out[0]"), out_array(out[1], shape, np.uint8, "out[1]")
    (_pool2_fp(a, y, arg) if k == 2 else _pool_fp(np.ascontiguousarray(a), k, y, arg))
    return y, arg


def maxpool_bp(e, argmax, in_hw, k: int, out: np.ndarray | None = None) -> np.ndarray:
    """Scatter ``e`` [N, C, H//k, W//k] to the argmax positions of an [N, C, H, W] zero
    tensor in e's dtype (dropped trailing rows/cols stay 0); ``out``: optional
    preallocated C-contiguous result (overwritten entirely)."""
    e = int_array(e, "e", 4)
    k = _k_arg(k)
    arg = np.asarray(argmax)
    if arg.dtype != np.uint8:
        raise TypeError(f"argmax must be uint8 (from maxpool_fp), got dtype {arg.dtype}")
    if arg.shape != e.shape:
        raise ValueError(f"argmax shape {arg.shape} does not match e shape {e.shape}")
    h, w = hw_arg(in_hw)
    n, c, ho, wo = e.shape
    if (ho, wo) != (h // k, w // k):
        raise ValueError(f"e is {ho}x{wo} but pooling {h}x{w} by {k} gives {h // k}x{w // k}")
    if arg.size and int(arg.max()) >= k * k:
        raise ValueError(f"argmax holds {int(arg.max())}, not a position in a {k}x{k} window")
    if out is not None:
        out = out_array(out, (n, c, h, w), e.dtype, "out")
    if k == 2 and h % 2 == 0 and w % 2 == 0:
        out = np.empty((n, c, h, w), dtype=e.dtype) if out is None else out
        _scatter2(e, arg, out, _NO_MASK, False)
        return out
    if out is None:
        out = np.zeros((n, c, h, w), dtype=e.dtype)
    else:
        out[...] = 0
    _pool_bp(np.ascontiguousarray(e), np.ascontiguousarray(arg), k, out)
    return out


def maxpool_bp_mask(e, argmax, in_hw, k: int, mask, out: np.ndarray | None = None) -> np.ndarray:
    """``relu_bp(maxpool_bp(e, argmax, in_hw, k), mask)``: the pool's BP and the BP of the
    ReLU before it in one pass (``mask`` uint8 [N, C, H, W] from relu_fp); the same words.
    ``out`` as in :func:`maxpool_bp`."""
    m = np.asarray(mask)
    if m.dtype != np.uint8:
        raise TypeError(f"mask must be uint8 (from relu_fp), got dtype {m.dtype}")
    e = int_array(e, "e", 4)
    h, w = hw_arg(in_hw)
    if m.shape != (e.shape[0], e.shape[1], h, w):
        raise ValueError(f"mask shape {m.shape} does not match the pooled input "
                         f"{(e.shape[0], e.shape[1], h, w)}")
    if _k_arg(k) == 2 and h % 2 == 0 and w % 2 == 0 and np.asarray(argmax).dtype == np.uint8 \
            and np.asarray(argmax).shape == e.shape and e.shape[2:] == (h // 2, w // 2):
        arg = np.asarray(argmax)
        if arg.size and int(arg.max()) >= 4:
            raise ValueError(f"argmax holds {int(arg.max())}, not a position in a 2x2 window")
        out = (np.empty((*e.shape[:2], h, w), dtype=e.dtype) if out is None
               else out_array(out, (*e.shape[:2], h, w), e.dtype, "out"))
        _scatter2(e, arg, out, np.ascontiguousarray(m), True)
        return out
    from .activation import relu_bp

    y = maxpool_bp(e, argmax, in_hw, k, out=out)
    return relu_bp(y, m, out=y)
