"""Stride-1 convolutions of int16 operands without im2col (the training hot path).

Each image is laid out once with its zero padding, row-major over the padded width
``Wp = W + 2P``: position ``pos = (i + P) * Wp + (j + P)`` holds input pixel (i, j). An
output pixel (y, x) is computed at the flat position ``q = y * Wp + x``; its window
element (ky, kx) is then simply ``pos = q + ky * Wp + kx``, so for a fixed (c, ky, kx)
16 consecutive output positions read 16 consecutive inputs. Positions with x >= Wo (the
padding columns) are computed too and discarded (6-25% extra work on cnn1x's 32..8
widths), and planes carry enough zero slack that no read leaves the buffer.

- FP/BP (:func:`corr_tile`): activations pair-interleaved over channels,
  ``xp[n, c // 2, pos, c % 2]``, so one 32-byte load holds two channels of 16
  positions and :func:`._simd.madd_axpy` multiplies it by a (w[o, c], w[o, c + 1]) pair.
- WU (:func:`wu_tile`): ``g[o, c, ky, kx] = sum_{n, q} e[n, o, q] * a[n, c, q + ky*Wp +
  kx]`` with ``e`` on the same flat grid (zero at discarded positions): a plain dot
  product of two contiguous runs, :func:`._simd.madd_dot`.

All sums are mod 2**32 in int32 (exact for acc_bits <= 32) and wrapped to ``acc_bits``
at the end, the same bits as every other path (tests/ops).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from ..numerics._fast import requant_flat
from ._conv_kernels import wrap_bits
from ._simd import QBLK, ROWS, madd_axpy, madd_dot


class Grid:
    """Flat-grid geometry of one stride-1 layer: ``q_len`` computed positions per output
    channel (Ho * Wp rounded up to QBLK), ``plane`` positions per input channel."""

    def __init__(self, h: int, w: int, k: int, p: int) -> None:
        self.k, self.p = k, p
        self.hp, self.wp = h + 2 * p, w + 2 * p
        self.ho, self.wo = self.hp - k + 1, self.wp - k + 1
        self.q_len = -(-self.ho * self.wp // QBLK) * QBLK
        self.plane = max(self.hp * self.wp, self.q_len + (k - 1) * (self.wp + 1))


@lru_cache(maxsize=256)
def geometry(h: int, w: int, k: int, p: int, c: int, pairs: bool) -> tuple:
    """(Grid, offsets) of one layer shape, cached (every step asks again): offsets from
    :func:`pair_offsets` (``pairs``, FP/BP) or :func:`plain_offsets` (WU), read-only."""
    g = Grid(h, w, k, p)
    offs = pair_offsets(c, k, g) if pairs else plain_offsets(c, k, g)
    offs.flags.writeable = False
    return g, offs


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def pack_weights(w2: np.ndarray, c: int, k: int) -> np.ndarray:
    """[O, C*K*K] weights -> int32 [O_pad, C2*K*K] pairs (channel 2c2 low, 2c2 + 1 high),
    O padded to a multiple of ROWS and C to even with zeros."""
    o = w2.shape[0]
    c2 = (c + 1) // 2
    wp = np.zeros((_round_up(o, ROWS), 2 * c2, k * k), dtype=np.int16)
    wp[:o, :c] = w2.reshape(o, c, k * k)
    # [O_pad, C2, 2, KK] -> [O_pad, C2, KK, 2]: each (c2, ky, kx) pair adjacent
    pairs = np.ascontiguousarray(wp.reshape(-1, c2, 2, k * k).transpose(0, 1, 3, 2))
    return pairs.view(np.int32).reshape(-1, c2 * k * k)


def pair_offsets(c: int, k: int, g: Grid) -> np.ndarray:
    """int16-element offset of (c2, ky, kx) in a pair-interleaved image (r-major order)."""
    c2 = np.arange((c + 1) // 2, dtype=np.int64)[:, None, None]
    ky = np.arange(k, dtype=np.int64)[None, :, None]
    kx = np.arange(k, dtype=np.int64)[None, None, :]
    return (2 * (c2 * g.plane + ky * g.wp + kx)).reshape(-1)


def plain_offsets(c: int, k: int, g: Grid) -> np.ndarray:
    """Offset of column (c, ky, kx) in a plain padded image, padded to an even count
    (the extra column repeats column 0; its result is dropped)."""
    cc = np.arange(c, dtype=np.int64)[:, None, None]
    ky = np.arange(k, dtype=np.int64)[None, :, None]
    kx = np.arange(k, dtype=np.int64)[None, None, :]
    offs = (cc * g.plane + ky * g.wp + kx).reshape(-1)
    return np.concatenate([offs, offs[:1]]) if offs.size % 2 else offs


@njit(cache=True, nogil=True)
def _pack_pairs(x, n, p, wp, plane, buf):
    """buf[((c//2) * plane + (i+p)*wp + j+p) * 2 + c % 2] = x[n, c, i, j], zeros elsewhere.

    Written as int32 words (channel 2c2 in the low half, 2c2 + 1 in the high half: the
    little-endian int16 order), and only the padding is zeroed, not the whole buffer.
    """
    c_in, h, w = x.shape[1], x.shape[2], x.shape[3]
    words = buf.view(np.int32)
    lo16 = np.int32(0xFFFF)
    for c2 in range((c_in + 1) // 2):
        pl = words[c2 * plane:(c2 + 1) * plane]
        pl[:p * wp + p] = 0
        odd = 2 * c2 + 1 < c_in
        for i in range(h):
            r0 = (i + p) * wp + p
            d = pl[r0:r0 + w]
            a0 = x[n, 2 * c2, i]
            if odd:
                a1 = x[n, 2 * c2 + 1, i]
                for j in range(w):
                    d[j] = (np.int32(a0[j]) & lo16) | (np.int32(a1[j]) << np.int32(16))
            else:
                for j in range(w):
                    d[j] = np.int32(a0[j]) & lo16
            pl[r0 + w:r0 + wp] = 0  # right padding of row i, left padding of row i + 1
        pl[(h + p) * wp + p:] = 0


@njit(cache=True, nogil=True, inline="always")
def _accumulate(x, n, w32, offs, p, wp, plane, q_len, xbuf, obuf):
    """obuf[o * q_len + q] = sum_r w[o, r] * window(q) of image n, mod 2**32."""
    o_pad, nr = w32.shape
    wflat = w32.reshape(-1)
    _pack_pairs(x, n, p, wp, plane, xbuf)
    for q0 in range(0, q_len, QBLK):
        for i0 in range(0, o_pad, ROWS):
            madd_axpy(wflat, i0 * nr, nr, xbuf, 2 * q0, offs, nr, obuf, i0 * q_len + q0, q_len)


@njit(cache=True, nogil=True)
def corr_tile(x, n0, n1, w32, offs, p, wp, plane, q_len, bias, acc_bits, xbuf, obuf, out):
    """out[n, o, y, x] = wrap(bias[o] + sum_r w[o, r] * window) for images n0..n1-1.

    ``xbuf`` int16 of (C+1)//2 * plane * 2 elements, ``obuf`` int32 of O_pad * q_len.
    """
    o_out, ho, wo = out.shape[1], out.shape[2], out.shape[3]
    for n in range(n0, n1):
        _accumulate(x, n, w32, offs, p, wp, plane, q_len, xbuf, obuf)
        for o in range(o_out):
            b = bias[o]
            for y in range(ho):
                src = o * q_len + y * wp
                for xx in range(wo):
                    out[n, o, y, xx] = wrap_bits(np.int64(obuf[src + xx]) + b, acc_bits)


@njit(cache=True, nogil=True)
def corr_tile_requant(x, n0, n1, w32, offs, p, wp, plane, q_len, bias, acc_bits,
                      s, mode, ovf, w, key, xbuf, obuf, vbuf, out):
    """:func:`corr_tile` followed by requantize(acc, s, mode, ovf, w, key) per element, the
    stochastic index being the element's row-major index in ``out`` [N, O, Ho, Wo];
    writes ``out`` (the format's storage dtype), returns the number of overflowed elements.
    ``vbuf`` int64 of O * Ho * Wo: one image's wrapped accumulators, requantized by the
    same loops as :func:`fxtrain.numerics.requantize` (key advanced to the image's start)."""
    o_out, ho, wo = out.shape[1], out.shape[2], out.shape[3]
    size = o_out * ho * wo
    count = 0
    for n in range(n0, n1):
        _accumulate(x, n, w32, offs, p, wp, plane, q_len, xbuf, obuf)
        for o in range(o_out):
            b = bias[o]
            for y in range(ho):
                src = o * q_len + y * wp
                dst = (o * ho + y) * wo
                if b == 0 and acc_bits == 32:  # int32 sums are already wrapped to 32 bits
                    vbuf[dst:dst + wo] = obuf[src:src + wo]
                else:
                    for xx in range(wo):
                        vbuf[dst + xx] = wrap_bits(np.int64(obuf[src + xx]) + b, acc_bits)
        k = (key + n * size) & 0xFFFFFFFF
        count += requant_flat(vbuf, out[n].reshape(-1), s, mode, ovf, w, k)
    return count


@njit(cache=True, nogil=True)
def wu_tile(e, a, n0, n1, offs, p, wp, plane, q_len, ebuf, abuf, g):
    """g[o, r] += sum over images n0..n1-1 of e[n, o] . a[n, column r] (mod 2**32).

    ``g`` int32 [O_pad, len(offs)]; ``ebuf`` int16 of (n1-n0) * O_pad * q_len,
    ``abuf`` int16 of (n1-n0) * C * plane.
    """
    o_out, ho, wo = e.shape[1], e.shape[2], e.shape[3]
    c_in, h, w = a.shape[1], a.shape[2], a.shape[3]
    o_pad, ncol = g.shape
    nimg = n1 - n0
    zero = np.int16(0)
    for t in range(nimg):
        for o in range(o_pad):
            row = ebuf[(t * o_pad + o) * q_len:(t * o_pad + o + 1) * q_len]
            if o >= o_out:
                row[:] = zero
                continue
            for y in range(ho):
                d = row[y * wp:y * wp + wo]
                s = e[n0 + t, o, y]
                for xx in range(wo):
                    d[xx] = s[xx]
                row[y * wp + wo:(y + 1) * wp] = zero
            row[ho * wp:] = zero
        for c in range(c_in):
            pl = abuf[(t * c_in + c) * plane:(t * c_in + c + 1) * plane]
            pl[:p * wp + p] = zero
            for i in range(h):
                d = pl[(i + p) * wp + p:(i + p) * wp + p + w]
                s = a[n0 + t, c, i]
                for j in range(w):
                    d[j] = s[j]
                pl[(i + p) * wp + p + w:(i + p + 1) * wp + p] = zero
            pl[(h + p) * wp + p:] = zero
    gflat = g.reshape(-1)
    for i0 in range(0, o_pad, ROWS):
        for j in range(0, ncol, 2):
            madd_dot(ebuf, i0 * q_len, q_len, o_pad * q_len, abuf, offs[j], offs[j + 1],
                     c_in * plane, nimg, q_len // QBLK, gflat, i0 * ncol + j, ncol)

#: bytes of gradient rows one WU kernel call streams (4 rows x images x q_len int16):
#: small enough to stay in L1 while every column of the tile passes by; and at most
#: WU_MAX_IMAGES images per tile, so the tile's activations stay in L2 (measured on the
#: 8x8 layers of cnn1x: 25 images per tile 2.7 ms, 6-10 images 2.1-2.2 ms)
WU_TILE_BYTES = 16384
WU_MAX_IMAGES = 8
