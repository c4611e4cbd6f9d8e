"""2-D convolution in fixed point: forward (FP), input gradient (BP), weight gradient (WU;
its entry point and kernels are in :mod:`.conv_wu`).

Correlation form, square kernel K, stride S, zero padding P (docs/ops.md):

- FP  ``acc[n,o,y,x] = sum_{c,ky,kx} a[n,c,yS+ky-P, xS+kx-P] * w[o,c,ky,kx]``
  (+ ``bias[o] << bias_shift``), Ho = (H + 2P - K)//S + 1, Wo likewise.
- BP  ``e_in[n,c,i,j] = sum over (o,ky,kx) with i+P-ky = yS, j+P-kx = xS of
  e[n,o,y,x] * w[o,c,ky,kx]`` (0 <= y < Ho, 0 <= x < Wo). When (H + 2P - K) % S != 0
  the last input rows/cols no window reaches get only what they receive (possibly 0).
- WU  ``g[o,c,ky,kx] = sum_{n,y,x} e[n,o,y,x] * a[n,c,yS+ky-P, xS+kx-P]``.

Out-of-range input positions read as 0. Products are exact and every sum is formed
*exactly*, then wrapped to ``acc_bits`` (two's complement, 2..64; 64 keeps every sum of
16-bit products exact), returned as int64; ``stats=True`` also returns how many
elements' exact sums did not fit ``acc_bits`` (the accumulator overflow count, always
available at the cost of one compare per element). The caller requantizes
(fxtrain.numerics.requantize). Exact sums make the summation order irrelevant (BP at
stride 1 is the correlation with w transposed and flipped; other strides scatter with
col2im), and there are three exact ways to compute them, chosen per call:

- stride 1, 16-bit operands (all of training): the direct kernels of :mod:`._direct`,
  int16 multiply-adds in int32 lanes, cut into chunks that are certified not to leave
  int32 and added into int64;
- every partial sum provably below 2**53: float64 im2col + BLAS GEMM;
- wider operands: one untiled product through :func:`._gemm.exact_matmul` (chunked
  float64 or int64).

The float64 path cuts the batch into tiles of whole images whose column matrix fits
~1 MiB (still in cache when the GEMM reads it); tiles and images run on a few threads
(:mod:`._threads`).
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Callable

import numpy as np

from . import _conv_kernels as CK
from . import _direct as D
from . import _native as N
from ._gemm import F64_EXACT, exact_matmul, operand_dtype
from ._threads import RUNNER
from ._validate import acc_bits_arg, bias_terms, fits_int16, hw_arg, int_arg, int_array, max_abs


#: float64 elements of one tile's column matrix (1 MiB); tests shrink it to force tiling
TILE_ELEMS = 1 << 17


def _geometry(h: int, w: int, k: int, stride, pad) -> tuple[int, int, int, int]:
    s = int_arg(stride, "stride", 1)
    p = int_arg(pad, "pad", 0)
    if h + 2 * p < k or w + 2 * p < k:
        raise ValueError(f"kernel {k}x{k} does not fit the padded input {h + 2 * p}x{w + 2 * p} "
                         f"(H={h}, W={w}, pad={p})")
    return s, p, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def _weights(w) -> np.ndarray:
    w = int_array(w, "w", 4)
    if w.shape[2] != w.shape[3] or w.shape[2] < 1:
        raise ValueError(f"w must be [O, C, K, K] with a square kernel, got shape {w.shape}")
    return w


_LOCAL = threading.local()
_NO_MASK = np.zeros((1, 1, 1, 1), dtype=np.uint8)


def _buffer(name: str, size: int, dtype) -> np.ndarray:
    """A flat scratch array of at least ``size`` elements kept per thread across calls:
    buffers of 128 KiB and more come from mmap, and fresh pages cost a fault each on first
    touch; two workers faulting at once serialize on the kernel's memory map lock
    (measured: the direct kernels' int64 buffers halved their 2-thread speed-up)."""
    bufs = _LOCAL.__dict__.setdefault("bufs", {})
    buf = bufs.get(name)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = bufs[name] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size]


#: scratch of the worker threads' parts of native batches, by (part, name): only the
#: thread holding the tile runner's lock hands those parts out, so one set serves all
_PART_BUFS: dict = {}


def part_buffer(t: int, name: str, size: int, dtype) -> np.ndarray:
    """:func:`_buffer` for part ``t`` of a tile batch: the calling thread's own for part
    0 (the part a nested or concurrent call runs inline), the workers' set otherwise."""
    if t == 0:
        return _buffer(name, size, dtype)
    buf = _PART_BUFS.get((t, name))
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = _PART_BUFS[(t, name)] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size]


def part_set(t: int, key: tuple, make: Callable[[], tuple]) -> tuple:
    """Part ``t``'s tuple of scratch arrays for one call shape ``key``, made once by
    ``make`` and kept (with :func:`part_buffer`'s sharing rule): the lookups and slicing
    of a convolution call's buffers cost about 10 us a part on the serial path. At most
    64 shapes per part are kept."""
    sets = (_LOCAL.__dict__.setdefault("sets", {}) if t == 0
            else _PART_SETS.setdefault(t, {}))
    got = sets.get(key)
    if got is None:
        if len(sets) >= 64:
            sets.clear()
        got = sets[key] = make()
    return got


_PART_SETS: dict = {}


def _tiles(n: int, per_image: int):
    """(n0, n1) ranges of whole images, each holding about TILE_ELEMS column elements."""
    t = max(1, min(n, TILE_ELEMS // max(1, per_image)))
    return [(n0, min(n, n0 + t)) for n0 in range(0, n, t)]


class _Scratch:
    """Reusable flat float64 buffers handed out as contiguous 2-D views: fresh large
    allocations per tile would page-fault on first touch, which costs as much as im2col."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, rows: int, cols: int, dtype=np.float64) -> np.ndarray:
        buf = self._bufs.get(name)
        if buf is None or buf.size < rows * cols or buf.dtype != dtype:
            buf = self._bufs[name] = np.empty(rows * cols, dtype=dtype)
        return buf[:rows * cols].reshape(rows, cols)


def _im2col_into(a: np.ndarray, k: int, s: int, p: int, ho: int, wo: int, out: np.ndarray) -> None:
    if s == 1 and ho == a.shape[2] and wo == a.shape[3]:
        CK.im2col_same(a, k, p, out)
    else:
        CK.im2col(a, k, s, p, ho, wo, out)


def _columns(a: np.ndarray, k: int, s: int, p: int, ho: int, wo: int, dtype) -> np.ndarray:
    n, c = a.shape[:2]
    cols = np.empty((c * k * k, n * ho * wo), dtype=dtype)
    _im2col_into(a, k, s, p, ho, wo, cols)
    return cols


def _grad_rows(e: np.ndarray, dtype) -> np.ndarray:
    n, o, ho, wo = e.shape
    rows = np.empty((o, n * ho * wo), dtype=dtype)
    CK.nchw_to_rows(e, rows)
    return rows


def _correlate(x: np.ndarray, w2: np.ndarray, k: int, s: int, p: int, ho: int, wo: int,
               bias: np.ndarray, acc_bits: int) -> tuple[np.ndarray, int]:
    """(wrap(bias[o] + sum_r w2[o, r] * cols(x)[r, q], acc_bits) as int64 [N, O, Ho, Wo],
    accumulator overflow count), the sums exact before the wrap; x contiguous."""
    n = x.shape[0]
    o = w2.shape[0]
    out = np.empty((n, o, ho, wo), dtype=np.int64)
    if direct_ok(x, w2, s):
        count = correlate_direct(x, w2, k, p, bias, acc_bits, out)
        if count >= 0:
            return out, count
    _correlate_exact(x, w2, k, s, p, ho, wo, bias, out)
    return out, int(CK.wrap_count(out.reshape(-1), acc_bits))


def _correlate_exact(x, w2, k, s, p, ho, wo, bias, out) -> None:
    """out = bias[o] + sum_r w2[o, r] * cols(x)[r, q], exact int64 (float64 or int64 GEMM)."""
    n = x.shape[0]
    o, kdim = w2.shape
    npix = ho * wo
    xmax, wmax = max_abs(x), max_abs(w2)
    if xmax * wmax * kdim >= F64_EXACT:  # wide operands: one exact product, untiled
        dt = operand_dtype(wmax, xmax)
        r = exact_matmul(w2.astype(dt), _columns(x, k, s, p, ho, wo, dt), wmax, xmax)
        CK.rows_to_nchw(r, bias, 64, out)
        return
    wf = w2.astype(np.float64)

    def job(tiles) -> None:
        scratch = _Scratch()
        for n0, n1 in tiles:
            m = (n1 - n0) * npix
            cols = scratch.get("cols", kdim, m)
            _im2col_into(x[n0:n1], k, s, p, ho, wo, cols)
            r = np.matmul(wf, cols, out=scratch.get("r", o, m))
            CK.rows_to_nchw(r, bias, 64, out[n0:n1])

    RUNNER.run(job, _tiles(n, kdim * npix))


@lru_cache(maxsize=64)
def _images(n: int) -> np.ndarray:
    """0..n-1 as int64, the image list of every direct FP/BP call (shared: never written;
    not flagged read-only, which numba would compile as another array type)."""
    return np.arange(n, dtype=np.int64)


def direct_ok(x: np.ndarray, w2: np.ndarray, s: int) -> bool:
    """Whether :func:`correlate_direct` applies: stride 1 and 16-bit values."""
    return s == 1 and fits_int16(x) and fits_int16(w2)


def correlate_direct(x, w2, k, p, bias, acc_bits, out, rq=None, post=(0, None), bounds=None):
    """Stride 1, 16-bit operands: :func:`._direct.corr_tile_exact`, one image at a time,
    each worker taking the next image left (:meth:`._threads._TileRunner.share`; with
    ``rq`` and int16 x and out a native batch, :meth:`._threads._TileRunner.native`). Fills
    ``out``: int64 accumulators wrapped to acc_bits (returns the accumulator overflow
    count), or with ``rq = (s, mode, ovf, w, key)`` the requantized words
    (:func:`._direct.corr_tile_exact_requant`; returns (requantize overflows, accumulator
    overflows)), then ``post = (mode, mask)`` of
    :func:`._direct.corr_tile_exact_requant`. Returns -1 (or (-1, -1)) when some sum cannot
    be certified (:func:`._direct.plan_chunks`): the caller then takes the float64 path.
    ``bounds`` (with ``rq``; a dict or None): ``bounds["in"]`` = per-channel (lo, hi) known
    to contain x, used instead of a pass over x; ``bounds["out"]`` receives the result's
    per-channel (lo, hi) (the next layer's ``bounds["in"]``)."""
    n, c, h, wd = x.shape
    planned = D.prepare(x, w2, c, k, None if bounds is None else bounds.get("in"))
    if planned is None:
        return (-1, -1) if rq is not None else -1
    cuts, w32, one_pass = planned
    g, offs = D.geometry(h, wd, k, p, c, True)

    images = _images(n)
    taken = np.zeros(1, dtype=np.int64)  # the next image to take (:func:`._direct.corr_tile_exact`)
    size = w32.shape[0] * g.q_len
    mask = post[1] if post[1] is not None else _NO_MASK
    orows = 0 if bounds is None else out.shape[1]

    def buffers(t: int) -> tuple:
        """Part t's (xbuf, obuf32, obuf, vbuf, orange, result) for this call's sizes."""
        sizes = ((c + 1) // 2 * g.plane * 2, size if one_pass else 0, 0 if one_pass else size,
                 0 if rq is None else out[0].size, orows)
        return part_set(t, ("fp", sizes), lambda: (
            part_buffer(t, "fp.x", sizes[0], np.int16),
            part_buffer(t, "fp.o32", sizes[1], np.int32),
            part_buffer(t, "fp.o64", sizes[2], np.int64),
            part_buffer(t, "fp.v", sizes[3], np.int64),
            np.empty((orows, 2), dtype=np.int64), np.empty(2, dtype=np.int64)))

    if (rq is not None and x.dtype == np.int16 and out.dtype == np.int16 and bias.dtype == np.int64
            and all(a.flags.c_contiguous for a in (x, out, mask, bias))):
        # the workers run their parts without Python (:mod:`._native`)
        held: list = []

        def build(nparts: int, slots: np.ndarray) -> None:
            N.corr_slots(slots, x, images, taken, w32, offs, p, g.wp, g.plane, g.q_len, bias,
                         acc_bits, *rq, post[0], cuts, one_pass, out, mask)
            held[:] = [buffers(t) for t in range(nparts)]
            for t, b in enumerate(held):
                N.corr_part_slots(slots, t, *b)

        RUNNER.native(build, n)
        parts = [(int(b[5][0]), int(b[5][1]), b[4]) for b in held]
    else:
        def job():
            xbuf, obuf32, obuf, vbuf, orange, _ = buffers(0)
            orange[:, 0], orange[:, 1] = np.iinfo(np.int64).max, np.iinfo(np.int64).min
            if rq is None:
                n_acc = D.corr_tile_exact(x, images, taken, w32, offs, p, g.wp, g.plane, g.q_len,
                                          bias, acc_bits, xbuf, cuts, one_pass, obuf32, obuf, out)
                return 0, n_acc, orange
            count, n_acc = D.corr_tile_exact_requant(x, images, taken, w32, offs, p, g.wp,
                                                     g.plane, g.q_len, bias, acc_bits, *rq,
                                                     post[0], xbuf, cuts, one_pass, obuf32,
                                                     obuf, vbuf, out, mask, orange)
            return count, n_acc, orange

        parts = RUNNER.share(job, n)
    count, n_acc = sum(r[0] for r in parts), sum(r[1] for r in parts)
    if bounds is not None and rq is not None:
        lo, hi = parts[0][2][:, 0].copy(), parts[0][2][:, 1].copy()
        for r in parts[1:]:
            np.minimum(lo, r[2][:, 0], out=lo)
            np.maximum(hi, r[2][:, 1], out=hi)
        bounds["out"] = (lo, hi)
    return (count, n_acc) if rq is not None else n_acc


def _result(acc: np.ndarray, n_acc: int, stats: bool):
    return (acc, int(n_acc)) if stats else acc


def conv2d_fp(a, w, stride: int = 1, pad: int = 0, acc_bits: int = 32, bias=None,
              bias_shift: int = 0, stats: bool = False):
    """Forward accumulators, int64 [N, O, Ho, Wo], wrapped to ``acc_bits``
    (``stats=True``: ``(acc, n)``, n the elements whose exact sum did not fit).

    ``a`` [N, C, H, W] and ``w`` [O, C, K, K] are integer arrays (any int dtype up to
    int64). ``bias`` [O] (optional) enters as ``bias << bias_shift``, bias_shift >= 0,
    i.e. aligned to the product fraction f_a + f_w. Example: a = 1s of shape
    [1,1,3,3], w = 1s of [1,1,3,3], pad=1 -> acc[0,0] = [[4,6,4],[6,9,6],[4,6,4]].
    """
    return _result(*_correlate(*fp_args(a, w, stride, pad, acc_bits, bias, bias_shift)), stats)


def fp_args(a, w, stride, pad, acc_bits, bias=None, bias_shift=0) -> tuple:
    """Checked arguments of :func:`conv2d_fp` as ``_correlate``'s
    (a, w2, k, s, p, ho, wo, bias_terms, acc_bits)."""
    acc_bits = acc_bits_arg(acc_bits)
    a = np.ascontiguousarray(int_array(a, "a", 4))
    w = _weights(w)
    n, c, h, wd = a.shape
    o, cw, k, _ = w.shape
    if cw != c:
        raise ValueError(f"w has {cw} input channels but a has {c} (a {a.shape}, w {w.shape})")
    s, p, ho, wo = _geometry(h, wd, k, stride, pad)
    b = bias_terms(bias, bias_shift, o, acc_bits)
    return a, w.reshape(o, c * k * k), k, s, p, ho, wo, b, acc_bits


def conv2d_bp(e, w, in_hw, stride: int = 1, pad: int = 0, acc_bits: int = 32,
              stats: bool = False):
    """Input-gradient accumulators, int64 [N, C, H, W], wrapped to ``acc_bits``
    (``stats`` as in :func:`conv2d_fp`).

    ``e`` [N, O, Ho, Wo] must have the FP output size of an input of size ``in_hw``
    = (H, W). Computed as the transposed GEMM ``w^T e`` then col2im (scatter-add),
    which equals the module formula's sum over the (o, ky, kx) that reach (i, j); for
    stride 1 (and P <= K-1) as the equivalent correlation with the flipped weights.
    """
    e, w, h, wd, k, s, p, acc_bits = bp_args(e, w, in_hw, stride, pad, acc_bits)
    n, o, ho, wo = e.shape
    c = w.shape[1]
    if s == 1 and p <= k - 1:
        return _result(*_correlate(*bp_as_correlation(e, w, h, wd, k, p, acc_bits)), stats)
    emax, wmax = max_abs(e), max_abs(w)
    kdim = c * k * k
    out = np.zeros((n, c, h, wd), dtype=np.int64)
    if emax * wmax * o >= F64_EXACT:
        dt = operand_dtype(wmax, emax)
        wt = np.ascontiguousarray(w.reshape(o, kdim).T).astype(dt)
        CK.col2im(exact_matmul(wt, _grad_rows(e, dt), wmax, emax), k, s, p, ho, wo, 64, out)
        return _result(out, CK.wrap_count(out.reshape(-1), acc_bits), stats)
    wt = np.ascontiguousarray(w.reshape(o, kdim).T, dtype=np.float64)

    def job(tiles) -> None:
        scratch = _Scratch()
        for n0, n1 in tiles:
            m = (n1 - n0) * ho * wo
            rows = scratch.get("rows", o, m)
            CK.nchw_to_rows(e[n0:n1], rows)
            d = np.matmul(wt, rows, out=scratch.get("d", kdim, m))
            CK.col2im(d, k, s, p, ho, wo, 64, out[n0:n1])

    RUNNER.run(job, _tiles(n, kdim * ho * wo))
    return _result(out, CK.wrap_count(out.reshape(-1), acc_bits), stats)


def bp_args(e, w, in_hw, stride, pad, acc_bits) -> tuple:
    """Checked arguments of :func:`conv2d_bp`: (e, w, H, W, k, s, p, acc_bits)."""
    acc_bits = acc_bits_arg(acc_bits)
    e = np.ascontiguousarray(int_array(e, "e", 4))
    w = _weights(w)
    h, wd = hw_arg(in_hw)
    n, o, ho, wo = e.shape
    ow, c, k, _ = w.shape
    if ow != o:
        raise ValueError(f"w has {ow} output channels but e has {o} (e {e.shape}, w {w.shape})")
    s, p, ho_x, wo_x = _geometry(h, wd, k, stride, pad)
    if (ho, wo) != (ho_x, wo_x):
        raise ValueError(f"e is {ho}x{wo} but an input of {h}x{wd} with K={k}, stride={s}, "
                         f"pad={p} gives {ho_x}x{wo_x}")
    return e, w, h, wd, k, s, p, acc_bits


def bp_as_correlation(e, w, h, wd, k, p, acc_bits) -> tuple:
    """Stride-1 BP (P <= K-1) as ``_correlate`` arguments: a correlation of e with w
    transposed and flipped 180 degrees, padded by K-1-P (for i in [0, H) the term
    (o, ky, kx) reads e[.., i + P - ky, ..])."""
    o, c = w.shape[:2]
    wf = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]).reshape(c, o * k * k)
    return e, wf, k, 1, k - 1 - p, h, wd, np.zeros(c, dtype=np.int64), acc_bits
