"""Accumulators: exact integer sums wrapped to ``acc_bits`` (two's complement).

Wrapping is the ring homomorphism Z -> Z/2**acc_bits, so the wrapped sum equals the
wrap of any regrouping of wrapped partial sums: every summation order, tiling and
unrolling in hardware yields the same bits. An int64 sum that itself wraps mod 2**64
is therefore exact mod 2**acc_bits for any acc_bits <= 64, and float64 GEMM is exact
while every partial sum stays below 2**53 in magnitude.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from .overflow import _int64, wrap

_F64_EXACT = 1 << 53


def acc_sum(x, axis=None, acc_bits: int = 32) -> np.ndarray:
    """Exact sum of integers along ``axis``, wrapped to ``acc_bits`` (2..64), as int64."""
    a = _int64(x, "acc_sum")
    return wrap(np.sum(a, axis=axis, dtype=np.int64), acc_bits)


def acc_matmul(a, b, acc_bits: int = 32) -> np.ndarray:
    """``wrap(a @ b, acc_bits)`` for integer 2-D arrays, exact, as int64.

    Uses float64 GEMM in chunks of the inner dimension short enough that every partial
    sum stays below 2**53 (for 16x16-bit operands one chunk covers K < 2**23 terms);
    falls back to an int64 numba loop for operands too wide for that.
    """
    a = _int64(a, "acc_matmul")
    b = _int64(b, "acc_matmul")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"acc_matmul: shapes {a.shape} and {b.shape} are not aligned 2-D operands")
    kdim = a.shape[1]
    # Python ints: np.abs(INT64_MIN) overflows back to INT64_MIN
    amax = max(-int(a.min()), int(a.max())) if a.size else 0
    bmax = max(-int(b.min()), int(b.max())) if b.size else 0
    prod = amax * bmax
    if prod == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    chunk = (_F64_EXACT - 1) // prod
    if chunk < 1 or max(amax, bmax) >= _F64_EXACT:
        return wrap(K.matmul_i64(a, b), acc_bits)
    af = a.astype(np.float64)
    bf = b.astype(np.float64)
    if chunk >= kdim:
        return wrap((af @ bf).astype(np.int64), acc_bits)
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for k0 in range(0, kdim, chunk):
        out += (af[:, k0:k0 + chunk] @ bf[k0:k0 + chunk]).astype(np.int64)
    return wrap(out, acc_bits)
