"""ReLU in fixed point, with the 1-bit derivative mask stored for BP.

``rule="ge"`` (FPL'19, the default): mask = x >= 0; ``rule="gt"``: mask = x > 0. Both
give the same ``y`` (x = 0 maps to 0 either way); they differ only in whether BP passes
the gradient of an exactly-zero pre-activation. Worked example: x = [-2, 0, 3] ->
y = [0, 0, 3]; mask "ge" = [0, 1, 1], "gt" = [0, 0, 1].
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._validate import int_array, out_array, same_shape

RELU_RULES = ("ge", "gt")


@njit(cache=True, nogil=True)
def _relu_fp(x, strict, y, m):
    for i in range(x.size):
        v = x[i]
        keep = v > 0 if strict else v >= 0
        m[i] = 1 if keep else 0
        y[i] = v if keep else 0


@njit(cache=True, nogil=True)
def _relu_bp(e, m, out):
    for i in range(e.size):
        out[i] = e[i] * np.int64(m[i] != 0)  # branchless: vectorizes


def relu_fp(x, rule: str = "ge", out: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, mask): y = x * mask in x's dtype, mask uint8 (1 = gradient passes).

    ``out`` = (y, mask) preallocated C-contiguous arrays of x's shape and those dtypes
    (written and returned; lets a caller reuse buffers across training steps)."""
    x = int_array(x, "x")
    if rule not in RELU_RULES:
        raise ValueError(f"unknown ReLU rule {rule!r}; expected one of {RELU_RULES}")
    flat = np.ascontiguousarray(x).reshape(-1)
    if out is None:
        y, m = np.empty(x.shape, dtype=x.dtype), np.empty(x.shape, dtype=np.uint8)
    else:
        y, m = out_array(out[0], x.shape, x.dtype, "out[0]"), out_array(out[1], x.shape, np.uint8, "out[1]")
    _relu_fp(flat, rule == "gt", y.reshape(-1), m.reshape(-1))
    return y, m


def relu_bp(e, mask, out: np.ndarray | None = None) -> np.ndarray:
    """``e`` where mask != 0, else 0, in e's dtype (mask from relu_fp: uint8 or bool);
    ``out``: optional preallocated C-contiguous result (may be ``e`` itself)."""
    e = int_array(e, "e")
    m = np.asarray(mask)
    if m.dtype != np.uint8 and m.dtype != np.bool_:
        raise TypeError(f"mask must be uint8 (from relu_fp) or bool, got dtype {m.dtype}")
    same_shape(e, m, "e", "mask")
    out = np.empty(e.shape, dtype=e.dtype) if out is None else out_array(out, e.shape, e.dtype, "out")
    _relu_bp(np.ascontiguousarray(e).reshape(-1), np.ascontiguousarray(m).reshape(-1).view(np.uint8),
             out.reshape(-1))
    return out
