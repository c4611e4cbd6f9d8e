"""2-D convolution weight gradient (WU) in fixed point, for one batch or per group.

``g[o, c, ky, kx] = sum_{n, y, x} e[n, o, y, x] * a[n, c, yS+ky-P, xS+kx-P]`` (docs/ops.md),
every sum exact, then wrapped to ``acc_bits``. ``groups`` splits the batch into equal
consecutive groups, each summed and wrapped on its own: the per-group weight gradients
``G_g`` of an on-chip batch (docs/training.md), formed in one pass over the workers
instead of one call per group (each call hands work to the threads once, and a hand-off
costs about 0.1 ms on a 2-core VM).

Two exact ways, chosen per call (the bits do not depend on the choice): stride 1 and
16-bit operands take :func:`._direct_wu.wu_tile_exact` (int16 multiply-adds in certified
int32 runs, added into int64); everything else float64 GEMMs whose partial sums stay
below 2**53, or :func:`._gemm.exact_matmul` for wide operands.
"""
from __future__ import annotations

import numpy as np

from . import _conv_kernels as CK
from . import _direct as D
from . import _direct_wu as W
from . import _native as N
from ._gemm import F64_EXACT, exact_matmul, operand_dtype
from ._threads import RUNNER
from ._validate import acc_bits_arg, fits_int16, int_arg, int_array, max_abs
from .conv import (_columns, _geometry, _grad_rows, _im2col_into, _result, _Scratch, _tiles,
                   part_buffer)


def _wu_tiles(n: int, groups: int, per: int, workers: int) -> list[tuple[int, int, int]]:
    """(group, n0, n1) runs of images of about ``per`` images, none across a group
    boundary, group by group; their number a multiple of the workers where the images
    allow (20 images of an 8x8 layer: 4 tiles of 5, where 3 tiles of 7, 7 and 6 left one
    of two workers 13 images and the other 7)."""
    gs = n // groups
    count = min(n, workers * -(-n // (workers * per)))
    per_group = max(1, -(-count // groups))
    per = -(-gs // per_group)
    return [(g, g * gs + i, min((g + 1) * gs, g * gs + i + per))
            for g in range(groups) for i in range(0, gs, per)]


def _wu_direct(e, a, k, p, groups) -> np.ndarray:
    """Exact WU sums at stride 1 for 16-bit operands, int64 [groups, O, C*K*K]:
    :func:`._direct_wu.wu_tiles` over tiles of images (a tile's gradient rows stay in
    L1), each certified tile or image one int32 pass added into int64; images that cannot
    be certified are summed in float64 (exact) and added. The workers take tiles from a
    shared counter, in order, so a worker's tiles of one group come before its next
    group's."""
    n, o = e.shape[:2]
    c, h, wd = a.shape[1:]
    g, offs = D.geometry(h, wd, k, p, c, False)
    o_pad = -(-o // D.ROWS) * D.ROWS
    per = max(1, min(n, W.WU_MAX_IMAGES, W.WU_TILE_BYTES // (2 * D.ROWS * g.q_len)))
    tiles = _wu_tiles(n, groups, per, RUNNER.workers)
    per = max(n1 - n0 for _, n0, n1 in tiles)
    plan = np.array(tiles, dtype=np.int64).reshape(-1, 3)
    taken = np.zeros(1, dtype=np.int64)  # the next tile to take

    def buffers(t: int) -> tuple:
        return (part_buffer(t, "wu.e", per * o_pad * g.q_len, np.int16),
                part_buffer(t, "wu.a", per * c * g.plane, np.int16),
                part_buffer(t, "wu.g32", o_pad * offs.size, np.int32).reshape(o_pad, offs.size),
                np.zeros((groups, o_pad, offs.size), dtype=np.int64),  # returned: not scratch
                np.zeros(1, dtype=np.int64), part_buffer(t, "wu.el1", per * o, np.int64),
                part_buffer(t, "wu.amx", per * c, np.int64), np.empty(per, dtype=np.int64),
                np.empty(n, dtype=np.int64), np.zeros(1, dtype=np.int64))

    if e.dtype == np.int16 and a.dtype == np.int16:  # the workers' parts without Python
        held: list = []

        def build(nparts: int, slots: np.ndarray) -> None:
            N.wu_slots(slots, e, a, plan, taken, offs, p, g.wp, g.plane, g.q_len)
            held[:] = [buffers(t) for t in range(nparts)]
            for t, b in enumerate(held):
                N.wu_part_slots(slots, t, *b)

        RUNNER.native(build, len(tiles))
        parts = [(b[3], b[8][:b[9][0]].tolist()) for b in held]
    else:
        def job():
            ebuf, abuf, g32, g64, pending, el1, amx, bad, bads, _ = buffers(0)
            nb = W.wu_tiles(e, a, plan, taken, offs, p, g.wp, g.plane, g.q_len, ebuf, abuf, g32,
                            g64, pending, el1, amx, bad, bads)
            return g64, bads[:nb].tolist()

        parts = RUNNER.share(job, len(tiles))
    total = sum(part[0] for part in parts)[:, :o, :c * k * k]
    bads = sorted(i for part in parts for i in part[1])
    gs = n // groups
    for grp in sorted({i // gs for i in bads}):
        idx = np.array([i for i in bads if i // gs == grp])
        total[grp] += _wu_exact(e[idx], a[idx], k, 1, p, g.ho, g.wo)
    return np.ascontiguousarray(total)


def _wu_exact(e, a, k, s, p, ho, wo) -> np.ndarray:
    """Exact WU sums int64 [O, C*K*K] by float64 GEMM (or exact_matmul for wide operands)."""
    n, o = e.shape[:2]
    kdim, npix = a.shape[1] * k * k, ho * wo
    emax, amax = max_abs(e), max_abs(a)
    if emax * amax * n * npix >= F64_EXACT:
        dt = operand_dtype(emax, amax)
        r = exact_matmul(_grad_rows(e, dt), _columns(a, k, s, p, ho, wo, dt).T, emax, amax)
        out = np.empty((o, kdim), dtype=np.int64)
        CK.wrap_matrix(r, 64, out)
        return out

    def job(tiles) -> np.ndarray:
        g = np.zeros((o, kdim), dtype=np.float64)  # every partial sum < 2**53: exact
        scratch = _Scratch()
        for n0, n1 in tiles:
            m = (n1 - n0) * npix
            rows = scratch.get("rows", o, m)
            CK.nchw_to_rows(e[n0:n1], rows)
            cols = scratch.get("cols", kdim, m)
            _im2col_into(a[n0:n1], k, s, p, ho, wo, cols)
            g += rows @ cols.T
        return g

    out = np.empty((o, kdim), dtype=np.int64)
    CK.wrap_matrix(sum(RUNNER.run(job, _tiles(n, kdim * npix))), 64, out)
    return out


def conv2d_wu(e, a, k: int, stride: int = 1, pad: int = 0, acc_bits: int = 32,
              stats: bool = False, groups: int = 1):
    """Weight-gradient accumulators, int64 [O, C, K, K], wrapped to ``acc_bits``
    (``stats`` as in :func:`fxtrain.ops.conv2d_fp`).

    Sums over the whole batch of ``e`` [N, O, Ho, Wo] and ``a`` [N, C, H, W]. With
    ``groups`` = G > 1 (G must divide N): int64 [G, O, C, K, K], entry g the sum over
    images g*N/G .. (g+1)*N/G - 1 wrapped on its own, i.e. ``conv2d_wu(e[sl], a[sl], ...)``
    for each group's slice, and ``stats`` counts the elements of all groups together.
    """
    acc_bits = acc_bits_arg(acc_bits)
    e = np.ascontiguousarray(int_array(e, "e", 4))
    a = np.ascontiguousarray(int_array(a, "a", 4))
    k = int_arg(k, "k", 1)
    groups = int_arg(groups, "groups", 1)
    n, o, ho, wo = e.shape
    na, c, h, wd = a.shape
    if na != n:
        raise ValueError(f"e has batch {n} but a has batch {na}")
    if n % groups:
        raise ValueError(f"groups={groups} does not divide the batch of {n} images")
    s, p, ho_x, wo_x = _geometry(h, wd, k, stride, pad)
    if (ho, wo) != (ho_x, wo_x):
        raise ValueError(f"e is {ho}x{wo} but a {h}x{wd} with K={k}, stride={s}, pad={p} "
                         f"gives {ho_x}x{wo_x}")
    if s == 1 and fits_int16(e) and fits_int16(a):
        out = _wu_direct(e, a, k, p, groups)
    else:
        gs = n // groups
        out = np.stack([_wu_exact(e[i * gs:(i + 1) * gs], a[i * gs:(i + 1) * gs], k, s, p, ho, wo)
                        for i in range(groups)])
    n_acc = CK.wrap_count(out.reshape(-1), acc_bits)
    shape = (o, c, k, k) if groups == 1 else (groups, o, c, k, k)
    return _result(out.reshape(shape), n_acc, stats)
