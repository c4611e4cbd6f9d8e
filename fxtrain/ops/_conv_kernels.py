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


@njit(cache=True, nogil=True)
def dot_rows_i32(x, y, out):
    """``out[i, j] = sum_q x[i, q] * y[j, q]`` mod 2**32 (int32 wrapping arithmetic).

    Exact modulo 2**32 for int16/int32 operands, hence exact for any accumulator of at
    most 32 bits. Four rows of ``x`` share each pass over a row of ``y``; the reduction
    over q is an int32 SIMD loop (faster than float64 GEMM for these shapes).
    """
    m, nq = x.shape
    n = y.shape[0]
    m4 = m - m % 4
    for i0 in range(0, m4, 4):
        x0 = x[i0]
        x1 = x[i0 + 1]
        x2 = x[i0 + 2]
        x3 = x[i0 + 3]
        for j in range(n):
            yj = y[j]
            s0 = np.int32(0)
            s1 = np.int32(0)
            s2 = np.int32(0)
            s3 = np.int32(0)
            for q in range(nq):
                v = np.int32(yj[q])
                s0 = np.int32(s0 + np.int32(np.int32(x0[q]) * v))
                s1 = np.int32(s1 + np.int32(np.int32(x1[q]) * v))
                s2 = np.int32(s2 + np.int32(np.int32(x2[q]) * v))
                s3 = np.int32(s3 + np.int32(np.int32(x3[q]) * v))
            out[i0, j] = s0
            out[i0 + 1, j] = s1
            out[i0 + 2, j] = s2
            out[i0 + 3, j] = s3
    for i in range(m4, m):
        xi = x[i]
        for j in range(n):
            yj = y[j]
            s = np.int32(0)
            for q in range(nq):
                s = np.int32(s + np.int32(np.int32(xi[q]) * np.int32(yj[q])))
            out[i, j] = s


@njit(cache=True, nogil=True)
def gemm_i32(w, cols, out):
    """``out[o, q] = sum_r w[o, r] * cols[r, q]`` mod 2**32 (int32 wrapping arithmetic).

    Four output rows are updated per pass over a row of ``cols`` (a SIMD axpy over q).
    ``out`` may have more columns than ``cols`` (row padding against 4 KiB aliasing);
    only the first ``cols.shape[1]`` are written. It must be C-contiguous: a strided
    view defeats vectorization (measured 5x slower).
    """
    m, nr = w.shape
    nq = cols.shape[1]
    m4 = m - m % 4
    for i0 in range(0, m4, 4):
        a0 = out[i0]
        a1 = out[i0 + 1]
        a2 = out[i0 + 2]
        a3 = out[i0 + 3]
        for q in range(nq):
            a0[q] = 0
            a1[q] = 0
            a2[q] = 0
            a3[q] = 0
        for r in range(nr):
            w0 = np.int32(w[i0, r])
            w1 = np.int32(w[i0 + 1, r])
            w2 = np.int32(w[i0 + 2, r])
            w3 = np.int32(w[i0 + 3, r])
            c = cols[r]
            for q in range(nq):
                v = np.int32(c[q])
                a0[q] = np.int32(a0[q] + np.int32(w0 * v))
                a1[q] = np.int32(a1[q] + np.int32(w1 * v))
                a2[q] = np.int32(a2[q] + np.int32(w2 * v))
                a3[q] = np.int32(a3[q] + np.int32(w3 * v))
    for i in range(m4, m):
        acc = out[i]
        for q in range(nq):
            acc[q] = 0
        for r in range(nr):
            wv = np.int32(w[i, r])
            c = cols[r]
            for q in range(nq):
                acc[q] = np.int32(acc[q] + np.int32(wv * np.int32(c[q])))
