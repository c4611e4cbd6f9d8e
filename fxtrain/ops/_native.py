"""Tile batches that the worker threads run without Python: the hand-off of the direct
convolution kernels (FP, BP and WU of the 16-bit path) and of the 2 x 2 pooling BP.

Why: a worker that runs a Python job needs the GIL, and on this project's 2-core VM
taking it from the calling thread cost 100-150 us per batch (the caller holds it until
it enters its own kernel; then the wake-up, the worker's Python set-up and numba's
argument unboxing), about 1/10 of a typical convolution call, and one step hands out
17 batches. Here a batch is a flat int64 *slot* array: a kind, then every argument of
the kernel, arrays as (address, shape...) and scalars as themselves. A worker thread
spins in :func:`serve`, a compiled loop, and on a new generation of a native kind runs
its part from the slots at once (:func:`run_part`), never taking the GIL; it returns
to Python only for a Python job, to sleep, or to wake a caller that sleeps.

The arrays behind the addresses must outlive the batch: the caller keeps them until
every part has finished (:meth:`._threads._TileRunner.native`). Every part takes its
work from a shared atomic counter, as the Python jobs do, so one part alone (a nested
or concurrent call run inline) does all of it. Same kernels, same bits.

Slot layout of every kind (``_COMMON`` entries, then ``_PER`` per part ``t``, from
``_COMMON + t * _PER``): see :func:`corr_slots`, :func:`wu_slots` and
:func:`pool_slots`, which write them, and :func:`_corr_part`, :func:`_wu_part` and
:func:`_pool_part`, which read them in the same order.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.extending import intrinsic

from ._atomic import atomic_add, atomic_load, spin_while
from ._direct import corr_tile_exact_requant
from ._direct_wu import wu_tiles
from ._pool_kernels import pool2_bp_images

#: batch kinds: a Python job (the runner's ``_batch``), or a native kernel
PYTHON, CORR, WU, POOL_BP = 0, 1, 2, 3
#: why :func:`serve` returned to Python
SLEEP, RUN_PYTHON, NOTIFY = 0, 1, 2
#: state slots shared with fxtrain/ops/_threads.py: the generation (its low byte the
#: number of parts), the parts still running, and whether the caller sleeps on them
GEN, LEFT, WAITING = 0, 1, 2
PARTS_MASK = 0xFF
#: common and per-part slot counts (room for every kind), and the most parts a batch has
_COMMON, _PER = 48, 24
MAX_PARTS = 8
SLOTS = _COMMON + MAX_PARTS * _PER


@intrinsic
def _voidptr(typingctx, addr):
    """An int64 address as a ``void *`` (what :func:`numba.carray` takes)."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _a1(s, i, dt):
    return carray(_voidptr(s[i]), (s[i + 1],), dt)


@njit(cache=True, nogil=True, inline="always")
def _a2(s, i, dt):
    return carray(_voidptr(s[i]), (s[i + 1], s[i + 2]), dt)


@njit(cache=True, nogil=True, inline="always")
def _a3(s, i, dt):
    return carray(_voidptr(s[i]), (s[i + 1], s[i + 2], s[i + 3]), dt)


@njit(cache=True, nogil=True, inline="always")
def _a4(s, i, dt):
    return carray(_voidptr(s[i]), (s[i + 1], s[i + 2], s[i + 3], s[i + 4]), dt)


@njit(cache=True, nogil=True, inline="always")
def _put(s, i, a):
    """Array ``a`` at slot i as (address, shape...); returns the next slot. Compiled:
    numpy's ``a.ctypes.data`` costs about 3 us an array from Python."""
    s[i] = a.ctypes.data
    i += 1
    for d in a.shape:
        s[i] = d
        i += 1
    return i


@njit(cache=True, nogil=True, inline="always")
def _nums4(s, i, a, b, c, d):
    s[i], s[i + 1], s[i + 2], s[i + 3] = a, b, c, d
    return i + 4


@njit(cache=True, nogil=True)
def corr_slots(s, x, images, taken, w32, offs, p, wp, plane, q_len, bias, acc_bits, sh, mode,
               ovf, w, key, post, cuts, one_pass, out, mask):
    """Write the common slots of a :func:`._direct.corr_tile_exact_requant` batch into
    ``s`` (x and out int16, mask uint8 4-D, (sh, mode, ovf, w, key) the requantization);
    then :func:`corr_part_slots` for each part."""
    s[0] = CORR
    i = _put(s, 1, x)
    for arr in (images, taken):
        i = _put(s, i, arr)
    i = _put(s, i, w32)
    i = _put(s, i, offs)
    i = _nums4(s, i, p, wp, plane, q_len)
    i = _put(s, i, bias)
    i = _nums4(s, i, acc_bits, sh, mode, ovf)
    s[i], s[i + 1], s[i + 2] = w, key, post
    i += 3
    i = _put(s, i, cuts)
    s[i] = one_pass
    i = _put(s, i + 1, out)
    return _put(s, i, mask)  # 42: the layout _corr_part reads


@njit(cache=True, nogil=True)
def corr_part_slots(s, t, xbuf, obuf32, obuf, vbuf, orange, res):
    """Part ``t``'s scratch (``orange`` [O, 2] set to the empty range) and its result
    ``res`` int64 [2] (count, n_acc), zeroed."""
    i = _COMMON + t * _PER
    i = _put(s, i, xbuf)
    i = _put(s, i, obuf32)
    i = _put(s, i, obuf)
    i = _put(s, i, vbuf)
    for o in range(orange.shape[0]):
        orange[o, 0] = np.iinfo(np.int64).max
        orange[o, 1] = np.iinfo(np.int64).min
    i = _put(s, i, orange)
    res[:] = 0
    return _put(s, i, res)


@njit(cache=True, nogil=True)
def _corr_part(s, t):
    x = _a4(s, 1, np.int16)
    images, taken = _a1(s, 6, np.int64), _a1(s, 8, np.int64)
    w32, offs = _a2(s, 10, np.int32), _a1(s, 13, np.int64)
    p, wp, plane, q_len = s[15], s[16], s[17], s[18]
    bias = _a1(s, 19, np.int64)
    acc_bits, sh, mode, ovf, w, key, post = s[21], s[22], s[23], s[24], s[25], s[26], s[27]
    cuts, one_pass = _a2(s, 28, np.int64), s[31] != 0
    out, mask = _a4(s, 32, np.int16), _a4(s, 37, np.uint8)
    b = _COMMON + t * _PER
    xbuf, obuf32 = _a1(s, b, np.int16), _a1(s, b + 2, np.int32)
    obuf, vbuf = _a1(s, b + 4, np.int64), _a1(s, b + 6, np.int64)
    orange, res = _a2(s, b + 8, np.int64), _a1(s, b + 11, np.int64)
    count, n_acc = corr_tile_exact_requant(x, images, taken, w32, offs, p, wp, plane, q_len, bias,
                                           acc_bits, sh, mode, ovf, w, key, post, xbuf, cuts,
                                           one_pass, obuf32, obuf, vbuf, out, mask, orange)
    res[0], res[1] = count, n_acc


@njit(cache=True, nogil=True)
def wu_slots(s, e, a, plan, taken, offs, p, wp, plane, q_len):
    """Write the common slots of a :func:`._direct_wu.wu_tiles` batch into ``s`` (e and a
    int16 4-D); then :func:`wu_part_slots` for each part."""
    s[0] = WU
    i = _put(s, 1, e)
    i = _put(s, i, a)
    i = _put(s, i, plan)
    i = _put(s, i, taken)
    i = _put(s, i, offs)
    return _nums4(s, i, p, wp, plane, q_len)  # 22: the layout _wu_part reads


@njit(cache=True, nogil=True)
def wu_part_slots(s, t, ebuf, abuf, g32, g64, pending, el1, amx, bad, bads, res):
    """Part ``t``'s scratch and outputs; ``res`` int64 [1] receives how many images went
    to ``bads`` (room for every image)."""
    i = _COMMON + t * _PER
    i = _put(s, i, ebuf)
    i = _put(s, i, abuf)
    i = _put(s, i, g32)
    i = _put(s, i, g64)
    for arr in (pending, el1, amx, bad, bads, res):
        i = _put(s, i, arr)
    return i


@njit(cache=True, nogil=True)
def _wu_part(s, t):
    e, a = _a4(s, 1, np.int16), _a4(s, 6, np.int16)
    plan, taken, offs = _a2(s, 11, np.int64), _a1(s, 14, np.int64), _a1(s, 16, np.int64)
    p, wp, plane, q_len = s[18], s[19], s[20], s[21]
    b = _COMMON + t * _PER
    ebuf, abuf = _a1(s, b, np.int16), _a1(s, b + 2, np.int16)
    g32, g64 = _a2(s, b + 4, np.int32), _a3(s, b + 7, np.int64)
    pending, el1, amx = _a1(s, b + 11, np.int64), _a1(s, b + 13, np.int64), _a1(s, b + 15, np.int64)
    bad, bads, res = _a1(s, b + 17, np.int64), _a1(s, b + 19, np.int64), _a1(s, b + 21, np.int64)
    res[0] = wu_tiles(e, a, plan, taken, offs, p, wp, plane, q_len, ebuf, abuf, g32, g64, pending,
                      el1, amx, bad, bads)


@njit(cache=True, nogil=True)
def pool_slots(s, e, arg, out, mask, use_mask, taken):
    """The slots of a :func:`._pool_kernels.pool2_bp_images` batch (e and out int16, arg
    and mask uint8, all 4-D); its parts need nothing of their own."""
    s[0] = POOL_BP
    i = _put(s, 1, e)
    i = _put(s, i, arg)
    i = _put(s, i, out)
    i = _put(s, i, mask)
    s[i] = use_mask
    return _put(s, i + 1, taken)  # 24: the layout _pool_part reads


@njit(cache=True, nogil=True)
def _pool_part(s):
    pool2_bp_images(_a4(s, 1, np.int16), _a4(s, 6, np.uint8), _a4(s, 11, np.int16),
                    _a4(s, 16, np.uint8), s[21] != 0, _a1(s, 22, np.int64))


@njit(cache=True, nogil=True)
def run_part(s, t) -> None:
    """Part ``t`` of the native batch described by slots ``s``."""
    if s[0] == CORR:
        _corr_part(s, t)
    elif s[0] == WU:
        _wu_part(s, t)
    elif s[0] == POOL_BP:
        _pool_part(s)


@njit(cache=True, nogil=True)
def serve(state, slots, idx, gen, iters):
    """Worker ``idx``'s loop between Python jobs: spin up to ``iters`` polls for a
    generation after ``gen``; run part ``idx`` of each native batch it has a part in and
    mark it done. Returns (the last generation seen, why): SLEEP (the spin ran out),
    RUN_PYTHON (a Python job: the caller's ``_batch`` holds it) or NOTIFY (this part
    finished the batch while the caller sleeps on it)."""
    while True:
        g = spin_while(state, GEN, gen, iters)
        if g == gen:
            return gen, SLEEP
        gen = g
        if idx >= (g & PARTS_MASK):
            continue
        if slots[0] == PYTHON:
            return gen, RUN_PYTHON
        run_part(slots, idx)
        if atomic_add(state, LEFT, -1) == 1 and atomic_load(state, WAITING) != 0:
            return gen, NOTIFY
