"""Stride-1 convolution weight gradients (WU) of int16 operands without im2col.

``g[o, c, ky, kx] = sum_{n, q} e[n, o, q] * a[n, c, q + ky*Wp + kx]``, with ``e`` laid
out on the flat grid of :mod:`._direct` (zero at the discarded positions) and ``a``
padded: a plain dot product of two contiguous runs, :func:`._simd.madd_dot`.

**Exact sums in int32 lanes.** A tile of images is certified by the sum over its images
of ``max_o sum|e_o| * max_c max|a_c|``: a certified tile runs as one int32 pass gathered
into an int32 buffer, which moves to int64 before the bounds gathered in it could pass
``LIMIT = 2**31 - 1``; otherwise each certified image on its own; an image that is not
certified is returned to the caller (which sums it in float64, exactly).

:func:`wu_tiles` is one worker's whole share of a call: it takes tiles from a shared
counter in a compiled loop, so a WU call costs each thread one call from Python, not
one per tile (about 15 us each, on a path the two threads share under the GIL).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._atomic import atomic_add
from ._direct import LIMIT, _plane_range
from ._simd import QBLK, ROWS, madd_dot

@njit(cache=True, nogil=True)
def _abs_sum(v):
    """sum |v| of a 1-D array as int64: int32 partial sums over runs of 2**16 elements
    (each below 2**31 for 16-bit values), a reduction LLVM vectorizes."""
    total = np.int64(0)
    for r0 in range(0, v.size, 1 << 16):
        part = np.int32(0)
        for i in range(r0, min(v.size, r0 + (1 << 16))):
            part += abs(np.int32(v[i]))
        total += part
    return total



@njit(cache=True, nogil=True)
def wu_tile_exact(e, a, n0, n1, offs, p, wp, plane, q_len, ebuf, abuf, g32, g64, pending,
                  el1, amx, bad):
    """g32 + g64 [o, r] += exact sum over images n0..n1-1 of e[n, o] . a[n, column r].

    ``g32`` int32 (zero at the start of a run of tiles) and ``g64`` int64
    [O_pad, len(offs)], ``pending`` int64 [1] (0 at the start): the certified int32 sums
    gather in g32 until :func:`wu_flush` (called here when needed, and by the caller after
    the last tile) moves them to g64. ``ebuf`` int16 of
    (n1-n0) * O_pad * q_len, ``abuf`` int16 of (n1-n0) * C * plane; ``el1`` int64
    [(n1-n0) * O] and ``amx`` [(n1-n0) * C] scratch (sum of |e| and max |a| per plane,
    each a vectorized pass over the plane just copied, still in cache). Images whose sums
    cannot be certified are skipped and written to ``bad``; returns how many.
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
                src = e[n0 + t, o, y]
                for xx in range(wo):
                    d[xx] = src[xx]
                row[y * wp + wo:(y + 1) * wp] = zero
            row[ho * wp:] = zero
            el1[t * o_out + o] = _abs_sum(e[n0 + t, o].reshape(-1))
        for c in range(c_in):
            pl = abuf[(t * c_in + c) * plane:(t * c_in + c + 1) * plane]
            pl[:p * wp + p] = zero
            for i in range(h):
                d = pl[(i + p) * wp + p:(i + p) * wp + p + w]
                src = a[n0 + t, c, i]
                for j in range(w):
                    d[j] = src[j]
                pl[(i + p) * wp + p + w:(i + p + 1) * wp + p] = zero
            pl[(h + p) * wp + p:] = zero
            mn, mx = _plane_range(a[n0 + t, c].reshape(-1))
            amx[t * c_in + c] = max(-np.int64(mn), np.int64(mx))
    # per-image bound: every partial sum of g[o, c, .] is at most sum|e_o| * max|a_c|
    # <= max_o sum|e_o| * max_c max|a_c| (local gradients are small and sparse, so the L1
    # side of e is the tight one); O + C work per image
    bound = np.zeros(nimg, dtype=np.int64)
    for t in range(nimg):
        e1, am = np.int64(0), np.int64(0)
        for o in range(o_out):
            e1 = max(e1, el1[t * o_out + o])
        for c in range(c_in):
            am = max(am, amx[t * c_in + c])
        bound[t] = e1 * am
    total = np.int64(0)
    for t in range(nimg):
        total += bound[t]
    nbad = 0
    if total <= LIMIT:
        _wu_pass(ebuf, abuf, offs, q_len, o_pad * q_len, c_in * plane, 0, 0, nimg, total, g32,
                 g64, pending)
        return 0
    for t in range(nimg):
        if bound[t] > LIMIT:
            bad[nbad] = n0 + t
            nbad += 1
        else:
            _wu_pass(ebuf, abuf, offs, q_len, o_pad * q_len, c_in * plane,
                     t * o_pad * q_len, t * c_in * plane, 1, bound[t], g32, g64, pending)
    return nbad


@njit(cache=True, nogil=True)
def wu_flush(g32, g64, pending):
    """g64 += g32, g32 = 0: the int32 sums gathered since the last flush (their bounds
    ``pending[0]`` add up to at most LIMIT, so each is exact) move to int64."""
    o_pad, ncol = g32.shape
    for i in range(o_pad):
        for j in range(ncol):
            g64[i, j] += g32[i, j]
            g32[i, j] = 0
    pending[0] = 0


@njit(cache=True, nogil=True, inline="always")
def _wu_pass(ebuf, abuf, offs, q_len, eimg, aimg, e0, a0, nimg, bound, g32, g64, pending):
    """One int32 pass of madd_dot over ``nimg`` buffered images from (e0, a0), whose sums
    are bounded by ``bound``, added to g32; g32 is first flushed into g64 when the bounds
    gathered in it would pass LIMIT (``pending[0]`` their running sum), so a flush comes
    every several tiles, not after each."""
    o_pad, ncol = g32.shape
    if pending[0] + bound > LIMIT:
        wu_flush(g32, g64, pending)
    pending[0] += bound
    gflat = g32.reshape(-1)
    for i0 in range(0, o_pad, ROWS):
        for j in range(0, ncol, 2):
            madd_dot(ebuf, e0 + i0 * q_len, q_len, eimg, abuf, a0 + offs[j], a0 + offs[j + 1],
                     aimg, nimg, q_len // QBLK, gflat, i0 * ncol + j, ncol)

#: bytes of gradient rows one WU kernel call streams (4 rows x images x q_len int16):
#: small enough to stay in L1 while every column of the tile passes by; and at most
#: WU_MAX_IMAGES images per tile, so the tile's activations stay in L2 (measured on the
#: 8x8 layers of cnn1x: 25 images per tile 2.7 ms, 6-10 images 2.1-2.2 ms)
WU_TILE_BYTES = 16384
WU_MAX_IMAGES = 8


@njit(cache=True, nogil=True)
def wu_tiles(e, a, tiles, taken, offs, p, wp, plane, q_len, ebuf, abuf, g32, g64, pending,
             el1, amx, bad, bads):
    """One worker's tiles of a WU call: while tiles are left, take the next one (an atomic
    increment of ``taken[0]``, 0 at the start; ``tiles`` int64 [T, 3] rows (group, n0,
    n1), a group's tiles consecutive) and add its sums to ``g64[group]`` by
    :func:`wu_tile_exact`; ``g32`` and ``pending`` are zeroed first, and flushed into the
    group's g64 before the next group and at the end. The images that could not be
    certified go to ``bads`` (int64, room for every image); returns how many. Which tiles
    a worker took changes no bit of the sum over the workers' g64."""
    o_pad = g32.shape[0]
    c_in = a.shape[1]
    g32[:] = 0
    pending[0] = 0
    current = -1
    nbad = 0
    while True:
        t = atomic_add(taken, 0, 1)
        if t >= tiles.shape[0]:
            break
        grp, n0, n1 = tiles[t, 0], tiles[t, 1], tiles[t, 2]
        if grp != current:  # the int32 sums so far belong to the previous group
            if current >= 0:
                wu_flush(g32, g64[current], pending)
            current = grp
        m = n1 - n0
        nb = wu_tile_exact(e, a, n0, n1, offs, p, wp, plane, q_len, ebuf[:m * o_pad * q_len],
                           abuf[:m * c_in * plane], g32, g64[grp], pending, el1, amx, bad)
        for i in range(nb):
            bads[nbad + i] = bad[i]
        nbad += nb
    if current >= 0:
        wu_flush(g32, g64[current], pending)
    return nbad
