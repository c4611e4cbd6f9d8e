"""Exact integer matrix products on float64 BLAS, for the convolution kernels.

float64 holds every integer below 2**53 exactly, and a GEMM whose every partial sum
stays below 2**53 in magnitude is exact whatever order BLAS sums in. With operands
bounded by ``amax`` and ``bmax`` and an inner dimension ``kdim``, any partial sum is at
most ``amax * bmax * kdim``; when that can reach 2**53 the inner dimension is cut into
chunks that each stay below it and the chunk results are added in int64 (exact mod
2**64, which is all a <= 64-bit accumulator keeps). Operands too wide for float64 go to
the int64 kernel of :func:`fxtrain.numerics.acc_matmul`. This is acc_matmul's rule;
the convolutions call it here so that im2col can write float64 directly and the bounds
come from the small input tensors instead of a pass over the large column matrix.
"""
from __future__ import annotations

import numpy as np

from ..numerics import acc_matmul

F64_EXACT = 1 << 53


def operand_dtype(amax: int, bmax: int) -> np.dtype:
    """float64 when the product of two elements is exact in float64, else int64."""
    if amax * bmax < F64_EXACT:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def exact_matmul(a: np.ndarray, b: np.ndarray, amax: int, bmax: int) -> np.ndarray:
    """``a @ b`` exactly: a float64 array of exact integers, or int64 (mod 2**64).

    ``a`` and ``b`` must have the dtype :func:`operand_dtype` gave for (amax, bmax),
    with |a| <= amax and |b| <= bmax. Consumers convert elements with ``int64(x)``,
    which is exact in both cases.
    """
    kdim = a.shape[1]
    prod = amax * bmax
    if prod == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=np.float64)
    if a.dtype == np.int64:
        return acc_matmul(a, b, 64)
    chunk = (F64_EXACT - 1) // prod
    if chunk >= kdim:
        return a @ b
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for k0 in range(0, kdim, chunk):
        out += (a[:, k0:k0 + chunk] @ b[k0:k0 + chunk]).astype(np.int64)
    return out
