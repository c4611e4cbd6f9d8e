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

**Exact sums in int32 lanes.** The microkernels multiply and add in int32, and the
kernels here make every sum exact anyway (docs/ops.md, "exact sums"): a sum whose terms
are bounded by ``sum |w| * max|x|`` below ``LIMIT = 2**31 - 1`` cannot leave int32, so

- FP/BP cut the reduction (pairs r = (c2, ky, kx)) into *chunks* whose bound, from the
  image's per-channel max |x| (found while packing it) and |w|, stays below LIMIT for
  every output channel; each chunk's int32 sums are added into int64 (one extra vector
  add per 4 x 16 block and chunk). cnn1x's FP sums reach 2**33 and need 2-5 chunks.
- WU certifies a tile of images by the sum over its images of
  ``max_{o,c} min(sum|e_o| * max|a_c|, max|e_o| * sum|a_c|)``: a certified tile runs as
  one int32 pass added into int64; otherwise each certified image on its own; an image
  that is not certified is returned to the caller (which sums it in float64, exactly).

The exact int64 sums are then wrapped to ``acc_bits`` and every element whose sum did not
fit is counted: the accumulator overflow count costs one compare per element. A sum no
chunking can certify (one pair of products of -2**15 * -2**15) makes the FP/BP kernels
return -1 and the caller takes the exact float64 path.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from ..numerics._fast import requant_flat
from ._conv_kernels import wrap_bits
from ._simd import QBLK, ROWS, madd_axpy_add64, madd_axpy_store64, madd_dot

#: largest magnitude an int32 partial sum may reach
LIMIT = (1 << 31) - 1


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
def _pack_pairs(x, n, p, wp, plane, buf, mx):
    """buf[((c//2) * plane + (i+p)*wp + j+p) * 2 + c % 2] = x[n, c, i, j], zeros elsewhere;
    ``mx[c] = max |x[n, c]|`` (int64, C rounded up to even; a missing odd channel is 0).

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
        m0 = np.int32(0)
        m1 = np.int32(0)
        for i in range(h):
            r0 = (i + p) * wp + p
            d = pl[r0:r0 + w]
            a0 = x[n, 2 * c2, i]
            if odd:
                a1 = x[n, 2 * c2 + 1, i]
                for j in range(w):
                    v0 = np.int32(a0[j])
                    v1 = np.int32(a1[j])
                    m0 = max(m0, abs(v0))
                    m1 = max(m1, abs(v1))
                    d[j] = (v0 & lo16) | (v1 << np.int32(16))
            else:
                for j in range(w):
                    v0 = np.int32(a0[j])
                    m0 = max(m0, abs(v0))
                    d[j] = v0 & lo16
            pl[r0 + w:r0 + wp] = 0  # right padding of row i, left padding of row i + 1
        pl[(h + p) * wp + p:] = 0
        mx[2 * c2] = m0
        mx[2 * c2 + 1] = m1


def weight_bounds(w2: np.ndarray, c: int, k: int) -> np.ndarray:
    """|w| as int64 [O_pad, C_even, K*K] (zero rows and channels where padded): with the
    image's channel max-abs it bounds each chunk of :func:`corr_tile_exact`."""
    o = w2.shape[0]
    out = np.zeros((_round_up(o, ROWS), 2 * ((c + 1) // 2), k * k), dtype=np.int64)
    out[:o, :c] = np.abs(w2.reshape(o, c, k * k).astype(np.int64))
    return out


@njit(cache=True, nogil=True)
def _chunks(wabs, mx, run, cuts):
    """Cut the pairs r = c2 * KK + t into chunks whose bound ``sum_{r in chunk}
    mx[2c2] |w[o, 2c2, t]| + mx[2c2+1] |w[o, 2c2+1, t]|`` stays <= LIMIT for every o.
    Writes the boundaries to ``cuts`` (cuts[0] = 0) and returns the number of chunks, or
    -1 when one pair alone exceeds LIMIT. ``run`` int64 [O_pad] is scratch."""
    o_pad, c_even, kk = wabs.shape
    run[:] = 0
    nchunk = 0
    cuts[0] = 0
    r = 0
    for c2 in range(c_even // 2):
        m0 = mx[2 * c2]
        m1 = mx[2 * c2 + 1]
        for t in range(kk):
            fits = True
            for o in range(o_pad):
                b = m0 * wabs[o, 2 * c2, t] + m1 * wabs[o, 2 * c2 + 1, t]
                if b > LIMIT:
                    return -1
                if run[o] + b > LIMIT:
                    fits = False
            if not fits:
                nchunk += 1
                cuts[nchunk] = r
                run[:] = 0
            for o in range(o_pad):
                run[o] += m0 * wabs[o, 2 * c2, t] + m1 * wabs[o, 2 * c2 + 1, t]
            r += 1
    nchunk += 1
    cuts[nchunk] = r
    return nchunk


@njit(cache=True, nogil=True, inline="always")
def _accumulate(x, n, w32, wabs, offs, p, wp, plane, q_len, xbuf, mx, run, cuts, obuf):
    """obuf[o * q_len + q] = exact int64 sum_r w[o, r] * window(q) of image n; returns the
    number of chunks (-1: not certifiable, obuf untouched)."""
    o_pad, nr = w32.shape
    wflat = w32.reshape(-1)
    _pack_pairs(x, n, p, wp, plane, xbuf, mx)
    nchunk = _chunks(wabs, mx, run, cuts)
    if nchunk < 0:
        return nchunk
    for q0 in range(0, q_len, QBLK):
        for i0 in range(0, o_pad, ROWS):
            ob = i0 * q_len + q0
            r1 = cuts[1]
            madd_axpy_store64(wflat, i0 * nr, nr, xbuf, 2 * q0, offs[:r1], r1, obuf, ob, q_len)
            for ci in range(1, nchunk):
                r0, r1 = cuts[ci], cuts[ci + 1]
                madd_axpy_add64(wflat, i0 * nr + r0, nr, xbuf, 2 * q0, offs[r0:r1], r1 - r0,
                                obuf, ob, q_len)
    return nchunk


@njit(cache=True, nogil=True)
def corr_tile_exact(x, n0, n1, w32, wabs, offs, p, wp, plane, q_len, bias, acc_bits,
                    xbuf, mx, run, cuts, obuf, out):
    """out[n, o, y, x] = wrap(bias[o] + sum_r w[o, r] * window, acc_bits) for images
    n0..n1-1, the sum exact; returns the number of elements whose exact value did not fit
    acc_bits, or -1 if an image's sums cannot be certified (``out`` then incomplete).

    ``xbuf`` int16 of (C+1)//2 * plane * 2, ``mx`` int64 of C rounded up to even,
    ``run`` int64 of O_pad, ``cuts`` int64 of nr + 1, ``obuf`` int64 of O_pad * q_len.
    """
    o_out, ho, wo = out.shape[1], out.shape[2], out.shape[3]
    count = 0
    for n in range(n0, n1):
        if _accumulate(x, n, w32, wabs, offs, p, wp, plane, q_len, xbuf, mx, run, cuts, obuf) < 0:
            return -1
        for o in range(o_out):
            b = bias[o]
            for y in range(ho):
                src = o * q_len + y * wp
                for xx in range(wo):
                    v = obuf[src + xx] + b
                    t = wrap_bits(v, acc_bits)
                    count += np.int64(t != v)
                    out[n, o, y, xx] = t
    return count


@njit(cache=True, nogil=True)
def corr_tile_exact_requant(x, n0, n1, w32, wabs, offs, p, wp, plane, q_len, bias, acc_bits,
                            s, mode, ovf, w, key, xbuf, mx, run, cuts, obuf, vbuf, out):
    """:func:`corr_tile_exact` followed by requantize(acc, s, mode, ovf, w, key) per element,
    the stochastic index being the element's row-major index in ``out`` [N, O, Ho, Wo];
    writes ``out`` (the format's storage dtype). Returns (requantize overflows,
    accumulator overflows), or (-1, -1) if an image cannot be certified.
    ``vbuf`` int64 of O * Ho * Wo: one image's wrapped accumulators, requantized by the
    same loops as :func:`fxtrain.numerics.requantize` (key advanced to the image's start)."""
    o_out, ho, wo = out.shape[1], out.shape[2], out.shape[3]
    size = o_out * ho * wo
    count = 0
    n_acc = 0
    for n in range(n0, n1):
        if _accumulate(x, n, w32, wabs, offs, p, wp, plane, q_len, xbuf, mx, run, cuts, obuf) < 0:
            return -1, -1
        for o in range(o_out):
            b = bias[o]
            for y in range(ho):
                src = o * q_len + y * wp
                dst = (o * ho + y) * wo
                if acc_bits >= 64:  # exact: |sum| < 2**63 for 16-bit operands
                    for xx in range(wo):
                        vbuf[dst + xx] = obuf[src + xx] + b
                else:
                    for xx in range(wo):
                        v = obuf[src + xx] + b
                        t = wrap_bits(v, acc_bits)
                        n_acc += np.int64(t != v)
                        vbuf[dst + xx] = t
        k = (key + n * size) & 0xFFFFFFFF
        count += requant_flat(vbuf, out[n].reshape(-1), s, mode, ovf, w, k)
    return count, n_acc


@njit(cache=True, nogil=True, inline="always")
def _plane_stats(src, mx, l1, i):
    m = np.int64(0)
    t = np.int64(0)
    for y in range(src.shape[0]):
        for xx in range(src.shape[1]):
            v = abs(np.int64(src[y, xx]))
            m = max(m, v)
            t += v
    mx[i] = m
    l1[i] = t


@njit(cache=True, nogil=True)
def wu_tile_exact(e, a, n0, n1, offs, p, wp, plane, q_len, ebuf, abuf, g32, g64,
                  emx, el1, amx, al1, bad):
    """g64[o, r] += exact sum over images n0..n1-1 of e[n, o] . a[n, column r].

    ``g32`` int32 and ``g64`` int64 [O_pad, len(offs)]; ``ebuf`` int16 of
    (n1-n0) * O_pad * q_len, ``abuf`` int16 of (n1-n0) * C * plane; ``emx``/``el1`` int64
    [(n1-n0) * O], ``amx``/``al1`` [(n1-n0) * C] scratch. Images whose sums cannot be
    certified are skipped and written to ``bad``; returns how many.
    """
    o_out, ho, wo = e.shape[1], e.shape[2], e.shape[3]
    c_in, h, w = a.shape[1], a.shape[2], a.shape[3]
    o_pad, ncol = g32.shape
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
            _plane_stats(e[n0 + t, o], emx, el1, t * o_out + o)
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
            _plane_stats(a[n0 + t, c], amx, al1, t * c_in + c)
    # per-image bound: every partial sum of g[o, c, .] is at most min(sum|e| max|a|, max|e| sum|a|)
    bound = np.zeros(nimg, dtype=np.int64)
    for t in range(nimg):
        b = np.int64(0)
        for o in range(o_out):
            em, e1 = emx[t * o_out + o], el1[t * o_out + o]
            for c in range(c_in):
                b = max(b, min(e1 * amx[t * c_in + c], em * al1[t * c_in + c]))
        bound[t] = b
    gflat = g32.reshape(-1)
    total = np.int64(0)
    for t in range(nimg):
        total += bound[t]
    nbad = 0
    if total <= LIMIT:
        _wu_pass(ebuf, abuf, offs, q_len, o_pad * q_len, c_in * plane, 0, 0, nimg, g32, gflat, g64)
        return 0
    for t in range(nimg):
        if bound[t] > LIMIT:
            bad[nbad] = n0 + t
            nbad += 1
        else:
            _wu_pass(ebuf, abuf, offs, q_len, o_pad * q_len, c_in * plane,
                     t * o_pad * q_len, t * c_in * plane, 1, g32, gflat, g64)
    return nbad


@njit(cache=True, nogil=True, inline="always")
def _wu_pass(ebuf, abuf, offs, q_len, eimg, aimg, e0, a0, nimg, g32, gflat, g64):
    """One int32 pass of madd_dot over ``nimg`` buffered images from (e0, a0), certified
    exact, added into g64."""
    o_pad, ncol = g32.shape
    gflat[:] = 0
    for i0 in range(0, o_pad, ROWS):
        for j in range(0, ncol, 2):
            madd_dot(ebuf, e0 + i0 * q_len, q_len, eimg, abuf, a0 + offs[j], a0 + offs[j + 1],
                     aimg, nimg, q_len // QBLK, gflat, i0 * ncol + j, ncol)
    for i in range(o_pad):
        for j in range(ncol):
            g64[i, j] += g32[i, j]

#: bytes of gradient rows one WU kernel call streams (4 rows x images x q_len int16):
#: small enough to stay in L1 while every column of the tile passes by; and at most
#: WU_MAX_IMAGES images per tile, so the tile's activations stay in L2 (measured on the
#: 8x8 layers of cnn1x: 25 images per tile 2.7 ms, 6-10 images 2.1-2.2 ms)
WU_TILE_BYTES = 16384
WU_MAX_IMAGES = 8
