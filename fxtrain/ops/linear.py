"""Fully connected layer in fixed point: FP, BP and WU accumulators.

- FP ``acc[n,o] = sum_i a[n,i] * w[o,i]`` (+ ``bias[o] << bias_shift``)
- BP ``e_in[n,i] = sum_o e[n,o] * w[o,i]``   (the transposed weight read)
- WU ``g[o,i] = sum_n e[n,o] * a[n,i]``

Exact products, exact sums wrapped to ``acc_bits`` (default 32; 64 keeps them exact),
int64 results; the caller requantizes. A flattened conv activation [N, C, H, W] enters as [N, C*H*W] in row-major
(c, h, w) order, i.e. ``a.reshape(N, -1)``.
"""
from __future__ import annotations

import numpy as np

from numba import njit

from ..numerics import acc_matmul
from . import _conv_kernels as CK
from ._validate import acc_bits_arg, bias_terms, fits_int16, int_array


# 16-bit operands (every training step): exact int64 sums of int32 products, in place of
# float64 GEMM whose operand conversions and temporaries cost more than these small
# products (cnn1x: 40 x 10 x 1024); then one wrap to acc_bits that counts what did not fit.
@njit(cache=True, nogil=True)
def _dot64(x, y, out):
    """out[i, j] = sum_q x[i, q] * y[j, q], exact (int64; int16 operands)."""
    for i in range(x.shape[0]):
        xi = x[i]
        for j in range(y.shape[0]):
            yj = y[j]
            s = np.int64(0)
            for q in range(x.shape[1]):
                s += np.int64(np.int32(xi[q]) * np.int32(yj[q]))
            out[i, j] = s


@njit(cache=True, nogil=True)
def _axpy64(x, y, out):
    """out[i, :] = sum_k x[k, i] * y[k, :], exact (int64; int16 operands; x [K, I], y [K, J])."""
    for i in range(x.shape[1]):
        row = out[i]
        row[:] = 0
        for k in range(x.shape[0]):
            v = np.int32(x[k, i])
            yk = y[k]
            for j in range(y.shape[1]):
                row[j] += np.int64(v * np.int32(yk[j]))


def _small(a: np.ndarray, b: np.ndarray) -> bool:
    return fits_int16(a) and fits_int16(b)


def _finish(acc: np.ndarray, acc_bits: int, stats: bool):
    """Wrap exact int64 sums in place to acc_bits; with ``stats`` also the count of
    elements that did not fit."""
    acc = np.ascontiguousarray(acc, dtype=np.int64)
    n = CK.wrap_count(acc.reshape(-1), acc_bits)
    return (acc, int(n)) if stats else acc


def linear_fp(a, w, acc_bits: int = 32, bias=None, bias_shift: int = 0, stats: bool = False):
    """Forward accumulators int64 [N, O] from ``a`` [N, I] and ``w`` [O, I], the exact sums
    wrapped to ``acc_bits`` (``stats=True``: ``(acc, n)``, n the elements whose exact sum,
    held in 64 bits, did not fit acc_bits).

    Example: a = [[1, 2]], w = [[3, 4], [-1, 0]], bias = [1, 0], bias_shift = 2
    -> [[1*3 + 2*4 + 4, -1]] = [[15, -1]].
    """
    acc_bits = acc_bits_arg(acc_bits)
    a = int_array(a, "a", 2)
    w = int_array(w, "w", 2)
    if a.shape[1] != w.shape[1]:
        raise ValueError(f"a has {a.shape[1]} inputs per row but w expects {w.shape[1]} "
                         f"(a {a.shape}, w {w.shape})")
    b = bias_terms(bias, bias_shift, w.shape[0], acc_bits)
    if _small(a, w):
        r = np.empty((a.shape[0], w.shape[0]), dtype=np.int64)
        _dot64(np.ascontiguousarray(a), np.ascontiguousarray(w), r)
    else:  # mod 2**64 sum
        r = acc_matmul(a, w.T, 64)
    return _finish(r + b[None, :], acc_bits, stats)


def linear_bp(e, w, acc_bits: int = 32, stats: bool = False):
    """Input-gradient accumulators int64 [N, I] from ``e`` [N, O] and ``w`` [O, I]
    (``stats`` as in :func:`linear_fp`)."""
    acc_bits = acc_bits_arg(acc_bits)
    e = int_array(e, "e", 2)
    w = int_array(w, "w", 2)
    if e.shape[1] != w.shape[0]:
        raise ValueError(f"e has {e.shape[1]} outputs per row but w has {w.shape[0]} "
                         f"(e {e.shape}, w {w.shape})")
    if _small(e, w):
        r = np.empty((e.shape[0], w.shape[1]), dtype=np.int64)
        _axpy64(np.ascontiguousarray(e.T), np.ascontiguousarray(w), r)
    else:
        r = acc_matmul(e, w, 64)
    return _finish(r, acc_bits, stats)


def linear_wu(e, a, acc_bits: int = 32, stats: bool = False):
    """Weight-gradient accumulators int64 [O, I] from ``e`` [N, O] and ``a`` [N, I]
    (``stats`` as in :func:`linear_fp`)."""
    acc_bits = acc_bits_arg(acc_bits)
    e = int_array(e, "e", 2)
    a = int_array(a, "a", 2)
    if e.shape[0] != a.shape[0]:
        raise ValueError(f"e has batch {e.shape[0]} but a has batch {a.shape[0]}")
    if _small(e, a):
        r = np.empty((e.shape[1], a.shape[1]), dtype=np.int64)
        _axpy64(np.ascontiguousarray(e), np.ascontiguousarray(a), r)
    else:
        r = acc_matmul(e.T, a, 64)
    return _finish(r, acc_bits, stats)
