"""Stride-1 convolutions of int16 operands without im2col (the training hot path): FP and
BP here, WU in :mod:`._direct_wu` on the same grid.

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
- WU (:func:`._direct_wu.wu_tile_exact`): ``g[o, c, ky, kx] = sum_{n, q} e[n, o, q] *
  a[n, c, q + ky*Wp + kx]`` with ``e`` on the same flat grid (zero at discarded
  positions): a plain dot product of two contiguous runs, :func:`._simd.madd_dot`.

**Exact sums in int32 lanes.** The microkernels multiply and add in int32, and the
kernels here make every sum exact anyway (docs/ops.md, "exact sums"): a sum whose terms
are bounded by ``sum |w| * max|x|`` below ``LIMIT = 2**31 - 1`` cannot leave int32, so

- FP/BP cut the reduction (pairs r = (c2, ky, kx)) into *chunks* whose partial sums,
  bounded from the batch's per-channel input range and the signed weights, stay within
  +-LIMIT for every output channel (:func:`chunk_cuts`); each chunk's int32 sums are
  added into int64 (one extra vector add per 4 x 16 block and chunk). cnn1x's fpl19 FP
  sums reach 2**33 and take 1-6 chunks.
- WU certifies tiles of images from bounds on their sums (:mod:`._direct_wu`).

The exact int64 sums are then wrapped to ``acc_bits`` and every element whose sum did not
fit is counted: the accumulator overflow count costs one compare per element. A sum no
chunking can certify (one pair of products of -2**15 * -2**15) makes :func:`plan_chunks`
return None and the caller takes the exact float64 path.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from ..numerics._fast import requant_flat
from ._atomic import atomic_add
from ._conv_kernels import wrap_bits
from ._simd import QBLK, ROWS, madd_axpy, madd_axpy_add64, madd_axpy_store64

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
    out = np.empty((_round_up(o, ROWS), (c + 1) // 2 * k * k), dtype=np.int32)
    _pack(w2, c, k * k, out)
    return out


@njit(cache=True, nogil=True)
def _pack(w2, c, kk, out):
    """:func:`pack_weights` in one compiled pass (numpy's transpose of these small arrays
    took 120 us for a 64 x 64 x 3 x 3 layer, on the serial part of every FP and BP call)."""
    lo16 = np.int32(0xFFFF)
    out[:] = 0
    for o in range(w2.shape[0]):
        for c2 in range((c + 1) // 2):
            for t in range(kk):
                v = np.int32(w2[o, 2 * c2 * kk + t]) & lo16
                if 2 * c2 + 1 < c:
                    v |= np.int32(w2[o, (2 * c2 + 1) * kk + t]) << np.int32(16)
                out[o, c2 * kk + t] = v


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


@njit(cache=True, nogil=True)
def _plane_range(v):
    """(min, max) of a 1-D array, in its own dtype: a min/max reduction LLVM vectorizes
    (16 lanes of int16 on AVX2); converting each element first made it 6x slower."""
    mn = v[0]
    mx = v[0]
    for i in range(1, v.size):
        t = v[i]
        mn = t if t < mn else mn
        mx = t if t > mx else mx
    return mn, mx


@njit(cache=True, nogil=True)
def channel_ranges(x, lo, hi):
    """lo[c] = min(0, min x[:, c]), hi[c] = max(0, max x[:, c]) over the whole batch
    (int64; lo/hi have C rounded up to even entries, the missing odd channel 0)."""
    lo[:] = 0
    hi[:] = 0
    n_img, c_in = x.shape[0], x.shape[1]
    for n in range(n_img):
        for c in range(c_in):
            mn, mx = _plane_range(x[n, c].reshape(-1))
            lo[c] = min(lo[c], np.int64(mn))
            hi[c] = max(hi[c], np.int64(mx))


@njit(cache=True, nogil=True)
def chunk_cuts(w2, c, kk, lo, hi, cuts):
    """Cut the pairs r = c2 * KK + t of the reduction into chunks whose int32 sums cannot
    leave int32, per block of ROWS output rows; False when one pair alone can.

    ``w2`` [O, C*KK] (signed weights; rows past O and the odd channel past C count as
    zero), ``lo``/``hi`` the channels' input ranges (C rounded up to even). Pair r adds
    to row o a value in [dn, up] with ``up = sum over its two channels of max(w lo, w hi)
    >= 0`` and ``dn`` likewise with min, so every partial sum of a chunk lies in [sum of
    dn, sum of up]; a chunk ends before either passes +-LIMIT for a row of the block.
    ``cuts[b, 0]`` receives block b's number of chunks, ``cuts[b, 1:]`` its boundaries
    (0 first)."""
    o_out = w2.shape[0]
    c2n = (c + 1) // 2
    nr = c2n * kk
    up = np.zeros((ROWS, nr), dtype=np.int64)  # [k, r]: pair r's largest term in row k
    dn = np.zeros((ROWS, nr), dtype=np.int64)
    ru = np.zeros(ROWS, dtype=np.int64)
    rd = np.zeros(ROWS, dtype=np.int64)
    for b in range(cuts.shape[0]):
        for k in range(ROWS):
            row = b * ROWS + k
            for c2 in range(c2n):
                ca, cb = 2 * c2, 2 * c2 + 1
                for t in range(kk):
                    u = np.int64(0)
                    d = np.int64(0)
                    if row < o_out:
                        wa = np.int64(w2[row, ca * kk + t])
                        u, d = max(wa * lo[ca], wa * hi[ca]), min(wa * lo[ca], wa * hi[ca])
                        if cb < c:
                            wb = np.int64(w2[row, cb * kk + t])
                            u += max(wb * lo[cb], wb * hi[cb])
                            d += min(wb * lo[cb], wb * hi[cb])
                    if u > LIMIT or d < -LIMIT:
                        return False
                    up[k, c2 * kk + t] = u
                    dn[k, c2 * kk + t] = d
        ru[:] = 0
        rd[:] = 0
        nchunk = 0
        cuts[b, 1] = 0
        for r in range(nr):
            fits = True
            for k in range(ROWS):
                if ru[k] + up[k, r] > LIMIT or rd[k] + dn[k, r] < -LIMIT:
                    fits = False
            if not fits:
                nchunk += 1
                cuts[b, 1 + nchunk] = r
                ru[:] = 0
                rd[:] = 0
            for k in range(ROWS):
                ru[k] += up[k, r]
                rd[k] += dn[k, r]
        nchunk += 1
        cuts[b, 1 + nchunk] = nr
        cuts[b, 0] = nchunk
    return True


def plan_chunks(x: np.ndarray, w2: np.ndarray, c: int, k: int, x_range=None) -> np.ndarray | None:
    """The chunk boundaries of one call, per block of ROWS output channels, as int64
    [O_pad / ROWS, nr + 3] (``[b, 0]`` the count, ``[b, 1:]`` the boundaries), or None when
    some pair cannot be certified (only (-2**15)**2 twice: the caller takes the float64
    path). Channel c of the batch lies in [lo_c, hi_c] (lo_c <= 0 <= hi_c: padding is 0).

    First the cheap test: max |x| times the largest row sum of |w| <= LIMIT certifies one
    chunk everywhere (most BP calls and deep FP layers); then the same per row with the
    signed weights and per-channel ranges (:func:`_rows_fit`); otherwise
    :func:`chunk_cuts`.
    ``x_range`` = (lo, hi): per-channel bounds known to contain x (with 0), e.g. a
    producer kernel's output range, instead of a pass over x."""
    o = w2.shape[0]
    c_even = 2 * ((c + 1) // 2)
    o_pad = _round_up(o, ROWS)
    cuts = np.zeros((o_pad // ROWS, c_even // 2 * k * k + 3), dtype=np.int64)
    lo, hi = (_NO_RANGE, _NO_RANGE) if x_range is None else x_range
    ok = _plan(x, w2, c, k * k, x_range is not None, lo, hi, cuts)
    return cuts if ok else None


_NO_RANGE = np.zeros(1, dtype=np.int64)


def prepare(x: np.ndarray, w2: np.ndarray, c: int, k: int, x_range=None) -> tuple | None:
    """``(cuts, w32, one_pass)`` of one FP/BP call in one compiled call: the plan of
    :func:`plan_chunks` (None when it is None), :func:`pack_weights`, and whether every
    block is one chunk (the sums stay int32)."""
    o = w2.shape[0]
    c2n = (c + 1) // 2
    o_pad = _round_up(o, ROWS)
    cuts = np.zeros((o_pad // ROWS, c2n * k * k + 3), dtype=np.int64)
    w32 = np.empty((o_pad, c2n * k * k), dtype=np.int32)
    lo, hi = (_NO_RANGE, _NO_RANGE) if x_range is None else x_range
    r = _prepare(x, w2, c, k * k, x_range is not None, lo, hi, cuts, w32)
    return None if r == 0 else (cuts, w32, r == 2)


@njit(cache=True, nogil=True)
def _prepare(x, w2, c, kk, have_range, lo, hi, cuts, w32):
    """0 (uncertifiable), 1 (planned) or 2 (planned, one chunk everywhere)."""
    if not _plan(x, w2, c, kk, have_range, lo, hi, cuts):
        return 0
    _pack(w2, c, kk, w32)
    for b in range(cuts.shape[0]):
        if cuts[b, 0] != 1:
            return 1
    return 2


@njit(cache=True, nogil=True)
def _plan(x, w2, c, kk, have_range, rlo, rhi, cuts):
    """:func:`plan_chunks` in one compiled call (it runs for every FP and BP call)."""
    c_even = 2 * ((c + 1) // 2)
    lo = np.zeros(c_even, np.int64)
    hi = np.zeros(c_even, np.int64)
    if have_range:
        for i in range(c):
            lo[i] = min(rlo[i], 0)
            hi[i] = max(rhi[i], 0)
    else:
        channel_ranges(x, lo, hi)
    m = np.int64(0)
    for i in range(c_even):
        m = max(m, hi[i], -lo[i])
    nr = c_even // 2 * kk
    if m * _max_row_l1(w2) <= LIMIT or _rows_fit(w2, c, kk, lo, hi):
        for b in range(cuts.shape[0]):
            cuts[b, 0] = 1
            cuts[b, 2] = nr
        return True
    return chunk_cuts(w2, c, kk, lo, hi, cuts)


@njit(cache=True, nogil=True)
def _rows_fit(w2, c, kk, lo, hi):
    """Whether every row's whole sum is certified: sum over its columns of max(w lo, w hi)
    <= LIMIT and of min(w lo, w hi) >= -LIMIT, exactly :func:`chunk_cuts`' test for one
    chunk per block (its partial sums only grow towards these totals), at a fraction of
    its cost (measured on 64 x 576 weights: 135 us for chunk_cuts on every FP/BP call)."""
    for o in range(w2.shape[0]):
        u = np.int64(0)
        d = np.int64(0)
        for ch in range(c):
            lc, hc = lo[ch], hi[ch]
            for t in range(kk):
                wv = np.int64(w2[o, ch * kk + t])
                a, b = wv * lc, wv * hc
                u += max(a, b)
                d += min(a, b)
        if u > LIMIT or d < -LIMIT:
            return False
    return True


@njit(cache=True, nogil=True)
def _max_row_l1(w2):
    """max over rows of sum |w2[o, :]| (int64)."""
    best = np.int64(0)
    for o in range(w2.shape[0]):
        t = np.int64(0)
        for r in range(w2.shape[1]):
            t += abs(np.int64(w2[o, r]))
        best = max(best, t)
    return best


@njit(cache=True, nogil=True, inline="always")
def _accumulate(x, n, w32, offs, p, wp, plane, q_len, xbuf, cuts, one_pass, obuf32, obuf):
    """obuf[o * q_len + q] = exact int64 sum_r w[o, r] * window(q) of image n: per block of
    ROWS output channels one int32 pass per chunk of ``cuts`` (:func:`plan_chunks`),
    added into int64; a block of one chunk takes the plain int32 kernel. ``one_pass``
    (every block one chunk): the sums go to the int32 ``obuf32`` instead (half the memory
    traffic of int64)."""
    o_pad, nr = w32.shape
    wflat = w32.reshape(-1)
    _pack_pairs(x, n, p, wp, plane, xbuf)
    if one_pass:
        for q0 in range(0, q_len, QBLK):
            for i0 in range(0, o_pad, ROWS):
                madd_axpy(wflat, i0 * nr, nr, xbuf, 2 * q0, offs, nr, obuf32, i0 * q_len + q0,
                          q_len)
        return
    # chunk loop outside the position loop: each chunk's trip count repeats for every
    # position block (predictable branches), and the block's 4 rows of int64 sums stay in
    # L1 between chunks (measured on cnn1x conv1, 5 chunks: 1.15x one int32 pass, against
    # 1.36x for the chunk loop inside the microkernel)
    for b in range(o_pad // ROWS):
        i0 = b * ROWS
        nchunk = cuts[b, 0]
        for j in range(nchunk):
            r0, r1 = cuts[b, 1 + j], cuts[b, 2 + j]
            for q0 in range(0, q_len, QBLK):
                if j == 0:
                    madd_axpy_store64(wflat, i0 * nr + r0, nr, xbuf, 2 * q0, offs[r0:r1], r1 - r0,
                                      obuf, i0 * q_len + q0, q_len)
                else:
                    madd_axpy_add64(wflat, i0 * nr + r0, nr, xbuf, 2 * q0, offs[r0:r1], r1 - r0,
                                    obuf, i0 * q_len + q0, q_len)


@njit(cache=True, nogil=True, inline="always")
def _gather(buf, bias, q_len, wp, ho, wo, acc_bits, vbuf):
    """vbuf[(o * Ho + y) * Wo + x] = wrap(buf[o * q_len + y * wp + x] + bias[o], acc_bits)
    (the computed grid positions with x < Wo); returns how many did not fit. ``buf`` is
    the int32 or the int64 sum buffer: one compiled loop each, no per-element branch."""
    n_acc = 0
    for o in range(bias.size):
        b = bias[o]
        for y in range(ho):
            src = o * q_len + y * wp
            dst = (o * ho + y) * wo
            if acc_bits >= 64:  # exact: |sum| < 2**63 for 16-bit operands
                for xx in range(wo):
                    vbuf[dst + xx] = np.int64(buf[src + xx]) + b
            else:
                for xx in range(wo):
                    v = np.int64(buf[src + xx]) + b
                    t = wrap_bits(v, acc_bits)
                    n_acc += np.int64(t != v)
                    vbuf[dst + xx] = t
    return n_acc


@njit(cache=True, nogil=True, inline="always")
def _image_sums(x, n, w32, offs, p, wp, plane, q_len, bias, acc_bits, xbuf, cuts, one_pass,
                obuf32, obuf, ho, wo, vbuf):
    """Image n's wrapped exact sums into vbuf (row-major [O, Ho, Wo]); returns the
    accumulator overflow count."""
    _accumulate(x, n, w32, offs, p, wp, plane, q_len, xbuf, cuts, one_pass, obuf32, obuf)
    if one_pass:
        return _gather(obuf32, bias, q_len, wp, ho, wo, acc_bits, vbuf)
    return _gather(obuf, bias, q_len, wp, ho, wo, acc_bits, vbuf)


@njit(cache=True, nogil=True)
def corr_tile_exact(x, images, taken, w32, offs, p, wp, plane, q_len, bias, acc_bits,
                    xbuf, cuts, one_pass, obuf32, obuf, out):
    """out[n, o, y, x] = wrap(bias[o] + sum_r w[o, r] * window, acc_bits) for the images n
    listed in ``images`` (int64), the sum exact (``cuts`` from :func:`plan_chunks`);
    returns the number of elements whose exact value did not fit acc_bits. Every worker
    calls it with the same ``images`` and ``taken`` (int64 [1], 0 at the start): each
    takes the next image by an atomic increment of ``taken[0]`` until none is left, so the
    images spread over the workers as fast as each one goes (which ones a worker did
    changes no bit).

    ``xbuf`` int16 of (C+1)//2 * plane * 2, ``obuf`` int64 and ``obuf32`` int32 of
    O_pad * q_len (only the one :func:`_accumulate` fills needs its size).
    """
    ho, wo = out.shape[2], out.shape[3]
    count = 0
    while True:
        t = atomic_add(taken, 0, 1)
        if t >= images.size:
            break
        n = images[t]
        count += _image_sums(x, n, w32, offs, p, wp, plane, q_len, bias, acc_bits, xbuf, cuts,
                             one_pass, obuf32, obuf, ho, wo, out[n].reshape(-1))
    return count


#: what :func:`corr_tile_exact_requant` does after requantizing: nothing, ReLU "ge" or
#: "gt" (writing the mask), or multiply by a stored mask (a ReLU's BP)
POST_NONE, POST_RELU_GE, POST_RELU_GT, POST_MASK = 0, 1, 2, 3


@njit(cache=True, nogil=True, inline="always")
def _post(y, m, post):
    if post == POST_MASK:
        for i in range(y.size):
            y[i] = y[i] * (m[i] != 0)
    elif post != POST_NONE:
        strict = post == POST_RELU_GT
        for i in range(y.size):
            v = y[i]
            keep = v > 0 if strict else v >= 0
            m[i] = 1 if keep else 0
            y[i] = v if keep else 0


@njit(cache=True, nogil=True)
def corr_tile_exact_requant(x, images, taken, w32, offs, p, wp, plane, q_len, bias, acc_bits,
                            s, mode, ovf, w, key, post, xbuf, cuts, one_pass, obuf32, obuf, vbuf,
                            out, mask, orange):
    """:func:`corr_tile_exact` followed by requantize(acc, s, mode, ovf, w, key) per element,
    the stochastic index being the element's row-major index in ``out`` [N, O, Ho, Wo];
    writes ``out`` (the format's storage dtype), then applies ``post`` with ``mask``
    (uint8 of out's shape; unused for POST_NONE): the ReLU of fxtrain.ops.relu_fp
    (writing the mask) or relu_bp's mask multiply, while the image is in cache. Returns
    (requantize overflows, accumulator overflows), counted before ``post``. ``orange``
    int64 [O, 2] (or empty): the running min / max of each output channel's final words
    over the images done (the next layer's input range, see :func:`plan_chunks`).
    ``vbuf`` int64 of O * Ho * Wo: one image's wrapped accumulators, requantized by the
    same loops as :func:`fxtrain.numerics.requantize` (key advanced to the image's start)."""
    o_out, ho, wo = out.shape[1], out.shape[2], out.shape[3]
    size = o_out * ho * wo
    count = 0
    n_acc = 0
    while True:
        t = atomic_add(taken, 0, 1)
        if t >= images.size:
            break
        n = images[t]
        n_acc += _image_sums(x, n, w32, offs, p, wp, plane, q_len, bias, acc_bits, xbuf, cuts,
                             one_pass, obuf32, obuf, ho, wo, vbuf)
        k = (key + n * size) & 0xFFFFFFFF
        y = out[n].reshape(-1)
        count += requant_flat(vbuf, y, s, mode, ovf, w, k)
        if post != POST_NONE:
            _post(y, mask[n].reshape(-1), post)
        if orange.shape[0]:
            hw = ho * wo
            for o in range(o_out):
                mn, mx = _plane_range(y[o * hw:(o + 1) * hw])
                orange[o, 0] = min(orange[o, 0], np.int64(mn))
                orange[o, 1] = max(orange[o, 1], np.int64(mx))
    return count, n_acc
