"""Numba kernels around the convolution GEMMs: im2col, col2im and layout changes.

Column matrix layout (shared by FP, BP and WU): row ``r = (c*K + ky)*K + kx``, column
``q = (n*Ho + y)*Wo + x``; ``cols[r, q] = a[n, c, y*S + ky - P, x*S + kx - P]`` or 0
outside the input (zero padding). Element conversions use ``np.int64(v)``, exact for the
float64 results of :mod:`._gemm` (integers below 2**53) and for int64 ones.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_U1 = np.uint64(1)
_U0 = np.uint64(0)


@njit(cache=True, inline="always")
def wrap_bits(v, bits):
    """Two's-complement wrap of int64 ``v`` to ``bits`` (2..64) bits."""
    if bits >= 64:
        return v
    m = (_U1 << np.uint64(bits)) - _U1
    t = np.uint64(v) & m
    if (t >> np.uint64(bits - 1)) != _U0:
        return np.int64(t) - (np.int64(1) << np.int64(bits))
    return np.int64(t)


@njit(cache=True, parallel=True)
def im2col(a, k, s, p, ho, wo, out):
    """Fill ``out`` [C*K*K, N*Ho*Wo] with the zero-padded windows of ``a`` [N, C, H, W]."""
    n_img, c_in, h, w = a.shape
    npix = ho * wo
    for r in prange(c_in * k * k):
        c = r // (k * k)
        ky = (r // k) % k
        kx = r % k
        for n in range(n_img):
            for y in range(ho):
                i = y * s + ky - p
                q0 = n * npix + y * wo
                if i < 0 or i >= h:
                    for x in range(wo):
                        out[r, q0 + x] = 0
                    continue
                for x in range(wo):
                    j = x * s + kx - p
                    if 0 <= j < w:
                        out[r, q0 + x] = a[n, c, i, j]
                    else:
                        out[r, q0 + x] = 0


@njit(cache=True, parallel=True)
def nchw_to_rows(e, out):
    """``out[o, (n*Ho + y)*Wo + x] = e[n, o, y, x]``: gradients as GEMM rows."""
    n_img, c, h, w = e.shape
    npix = h * w
    for o in prange(c):
        for n in range(n_img):
            for y in range(h):
                for x in range(w):
                    out[o, n * npix + y * w + x] = e[n, o, y, x]


@njit(cache=True, parallel=True)
def rows_to_nchw(r, bias, acc_bits, out):
    """``out[n, o, y, x] = wrap(r[o, (n*Ho + y)*Wo + x] + bias[o])`` (bias already wrapped)."""
    n_img, c, h, w = out.shape
    npix = h * w
    for t in prange(n_img * c):
        n = t // c
        o = t % c
        b = bias[o]
        for y in range(h):
            for x in range(w):
                v = np.int64(r[o, n * npix + y * w + x]) + b
                out[n, o, y, x] = wrap_bits(v, acc_bits)


@njit(cache=True, parallel=True)
def col2im(d, k, s, p, ho, wo, acc_bits, out):
    """Scatter-add ``d`` [C*K*K, N*Ho*Wo] into ``out`` [N, C, H, W] (zeroed), then wrap.

    Each (n, c) plane is owned by one iteration, so the adds never race; positions no
    window reaches (the tail rows/cols when (H + 2P - K) % S != 0) stay 0. int64 adds
    wrap mod 2**64, which is exact mod 2**acc_bits.
    """
    n_img, c_in, h, w = out.shape
    npix = ho * wo
    for t in prange(n_img * c_in):
        n = t // c_in
        c = t % c_in
        for ky in range(k):
            for kx in range(k):
                r = (c * k + ky) * k + kx
                for y in range(ho):
                    i = y * s + ky - p
                    if i < 0 or i >= h:
                        continue
                    q0 = n * npix + y * wo
                    for x in range(wo):
                        j = x * s + kx - p
                        if 0 <= j < w:
                            out[n, c, i, j] += np.int64(d[r, q0 + x])
        for i in range(h):
            for j in range(w):
                out[n, c, i, j] = wrap_bits(out[n, c, i, j], acc_bits)


@njit(cache=True, parallel=True)
def wrap_matrix(r, acc_bits, out):
    """``out = wrap(int64(r), acc_bits)`` elementwise for a 2-D ``r``."""
    m, n = r.shape
    for i in prange(m):
        for j in range(n):
            out[i, j] = wrap_bits(np.int64(r[i, j]), acc_bits)
