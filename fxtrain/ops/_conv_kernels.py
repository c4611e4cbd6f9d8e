"""Numba kernels around the convolution GEMMs: im2col, col2im and layout changes.

Column matrix layout (shared by FP, BP and WU): row ``r = (c*K + ky)*K + kx``, column
``q = (n*Ho + y)*Wo + x``; ``cols[r, q] = a[n, c, y*S + ky - P, x*S + kx - P]`` or 0
outside the input (zero padding). Element conversions use ``np.int64(v)``, exact for the
float64 results of :mod:`._gemm` (integers below 2**53) and for int64 ones.

The kernels are serial on purpose: they run between BLAS calls, and OpenMP worker
threads spinning next to BLAS threads on a 2-core machine cost far more than they gain
(measured: up to 20x slower under load). The convolutions tile the batch instead, so
each tile's column matrix stays in cache.
"""
from __future__ import annotations

import numpy as np
from numba import njit

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


@njit(cache=True, nogil=True)
def wrap_count(x, bits):
    """Wrap the exact int64 sums of 1-D ``x`` in place to ``bits``; returns how many
    changed (the accumulator overflow count)."""
    n = 0
    if bits >= 64:
        return n
    for i in range(x.size):
        v = x[i]
        t = wrap_bits(v, bits)
        n += np.int64(t != v)
        x[i] = t
    return n


@njit(cache=True, inline="always")
def valid_range(kx, s, p, wo, w):
    """[x_lo, x_hi): the output columns x whose input column x*s + kx - p lies in [0, w)."""
    x_lo = 0
    if p - kx > 0:
        x_lo = (p - kx + s - 1) // s
    top = w - 1 + p - kx
    x_hi = min(wo, top // s + 1) if top >= 0 else 0
    return x_lo, max(x_lo, x_hi)


@njit(cache=True, nogil=True)
def im2col(a, k, s, p, ho, wo, out):
    """Fill ``out`` [C*K*K, N*Ho*Wo] with the zero-padded windows of ``a`` [N, C, H, W]."""
    n_img, c_in, h, w = a.shape
    npix = ho * wo
    for r in range(c_in * k * k):
        c = r // (k * k)
        ky = (r // k) % k
        kx = r % k
        x_lo, x_hi = valid_range(kx, s, p, wo, w)
        for n in range(n_img):
            for y in range(ho):
                i = y * s + ky - p
                q0 = n * npix + y * wo
                if i < 0 or i >= h:
                    for x in range(wo):
                        out[r, q0 + x] = 0
                    continue
                for x in range(x_lo):
                    out[r, q0 + x] = 0
                j0 = x_lo * s + kx - p
                for x in range(x_lo, x_hi):
                    out[r, q0 + x] = a[n, c, i, j0 + (x - x_lo) * s]
                for x in range(x_hi, wo):
                    out[r, q0 + x] = 0


@njit(cache=True, nogil=True)
def im2col_same(a, k, p, out):
    """im2col for stride 1 and 2P = K - 1 (output size = input size), as whole-plane copies.

    Row r of image n is the plane a[n, c] shifted by off = (ky-P)*W + (kx-P): one long
    contiguous copy, then the rows and columns the shift pulls from outside (or from the
    neighbouring row) are set to 0. Same result as :func:`im2col`, several times faster.
    """
    n_img, c_in, h, w = a.shape
    npix = h * w
    for r in range(c_in * k * k):
        c = r // (k * k)
        dy = (r // k) % k - p
        dx = r % k - p
        off = dy * w + dx
        y_lo, y_hi = max(0, -dy), min(h, h - dy)
        q_lo, q_hi = max(y_lo * w, -off), min(y_hi * w, npix - off)
        x_lo, x_hi = max(0, -dx), min(w, w - dx)
        for n in range(n_img):
            src = a[n, c].reshape(npix)
            dst = out[r, n * npix:(n + 1) * npix]
            for q in range(y_lo * w):
                dst[q] = 0
            d = dst[q_lo:q_hi]  # views: a plain indexed loop that LLVM vectorizes
            sv = src[q_lo + off:q_hi + off]
            for q in range(q_hi - q_lo):
                d[q] = sv[q]
            for q in range(y_hi * w, npix):
                dst[q] = 0
            if dx != 0:
                for y in range(y_lo, y_hi):
                    for x in range(x_lo):
                        dst[y * w + x] = 0
                    for x in range(x_hi, w):
                        dst[y * w + x] = 0


@njit(cache=True, nogil=True)
def nchw_to_rows(e, out):
    """``out[o, (n*Ho + y)*Wo + x] = e[n, o, y, x]``: gradients as GEMM rows."""
    n_img, c, h, w = e.shape
    npix = h * w
    for o in range(c):
        for n in range(n_img):
            for y in range(h):
                for x in range(w):
                    out[o, n * npix + y * w + x] = e[n, o, y, x]


@njit(cache=True, nogil=True)
def rows_to_nchw(r, bias, acc_bits, out):
    """``out[n, o, y, x] = wrap(r[o, (n*Ho + y)*Wo + x] + bias[o])`` (bias already wrapped)."""
    n_img, c, h, w = out.shape
    npix = h * w
    for t in range(n_img * c):
        n = t // c
        o = t % c
        b = bias[o]
        for y in range(h):
            for x in range(w):
                v = np.int64(r[o, n * npix + y * w + x]) + b
                out[n, o, y, x] = wrap_bits(v, acc_bits)


@njit(cache=True, nogil=True)
def col2im(d, k, s, p, ho, wo, acc_bits, out):
    """Scatter-add ``d`` [C*K*K, N*Ho*Wo] into ``out`` [N, C, H, W] (zeroed), then wrap.

    Positions no window reaches (the tail rows/cols when (H + 2P - K) % S != 0) stay 0.
    int64 adds wrap mod 2**64, which is exact mod 2**acc_bits.
    """
    n_img, c_in, h, w = out.shape
    npix = ho * wo
    for n in range(n_img):
        for c in range(c_in):
            for ky in range(k):
                for kx in range(k):
                    r = (c * k + ky) * k + kx
                    x_lo, x_hi = valid_range(kx, s, p, wo, w)
                    j0 = x_lo * s + kx - p
                    for y in range(ho):
                        i = y * s + ky - p
                        if i < 0 or i >= h:
                            continue
                        q0 = n * npix + y * wo
                        for x in range(x_lo, x_hi):
                            out[n, c, i, j0 + (x - x_lo) * s] += np.int64(d[r, q0 + x])
            for i in range(h):
                for j in range(w):
                    out[n, c, i, j] = wrap_bits(out[n, c, i, j], acc_bits)


@njit(cache=True, nogil=True)
def wrap_matrix(r, acc_bits, out):
    """``out = wrap(int64(r), acc_bits)`` elementwise for a 2-D ``r``."""
    m, n = r.shape
    for i in range(m):
        for j in range(n):
            out[i, j] = wrap_bits(np.int64(r[i, j]), acc_bits)
