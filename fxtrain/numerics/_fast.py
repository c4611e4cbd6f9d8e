"""Specialised requantization loops for the hot case: right shifts 1..62, no explicit
index. Same bits as the general kernel in _kernels.py (tests/numerics/test_parallel.py
and the differential tests check both paths); they exist for speed only.

Each rounding mode gets its own compiled loop (the mode is a literal inside it, so the
loop body has no mode branches and LLVM vectorizes it); the loops run on one thread:
on a shared 2-core machine waking a second thread cost more than it saved.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import (FLOOR, HALF_AWAY, HALF_EVEN, HALF_UP, SATURATE, TRUNC, lowbias32_u64,
                       requant_serial)

_I1 = np.int64(1)
_M32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _loop(x, out, s, ovf, w, mode):
    hi = (_I1 << np.int64(w - 1)) - _I1
    lo = -hi - _I1
    span = _I1 << np.int64(w)
    mask = (_I1 << s) - _I1
    half = _I1 << (s - _I1)
    count = 0
    for i in range(x.size):
        xi = np.int64(x[i])
        a = xi >> s
        r = xi & mask
        if mode == FLOOR:
            v = a
        elif mode == TRUNC:
            # add 2**s - 1 to negatives before the floor shift; a negative plus a positive
            # cannot overflow int64
            v = (xi + ((xi >> np.int64(63)) & mask)) >> s
        elif mode == HALF_UP:
            v = a + np.int64(r >= half)
        elif mode == HALF_EVEN:
            v = a + np.int64((r > half) | ((r == half) & ((a & _I1) == _I1)))
        else:  # HALF_AWAY: ties up for x >= 0 (r >= half), down for x < 0 (r >= half + 1)
            v = a + np.int64(r >= half - (xi >> np.int64(63)))
        o = (v > hi) | (v < lo)
        count += np.int64(o)
        if ovf == SATURATE:
            v = min(max(v, lo), hi)
        else:
            v = ((v - lo) & (span - _I1)) + lo
        out[i] = v
    return count


@njit(cache=True)
def floor_loop(x, out, s, ovf, w):
    return _loop(x, out, s, ovf, w, FLOOR)


@njit(cache=True)
def trunc_loop(x, out, s, ovf, w):
    return _loop(x, out, s, ovf, w, TRUNC)


@njit(cache=True)
def half_up_loop(x, out, s, ovf, w):
    return _loop(x, out, s, ovf, w, HALF_UP)


@njit(cache=True)
def half_even_loop(x, out, s, ovf, w):
    return _loop(x, out, s, ovf, w, HALF_EVEN)


@njit(cache=True)
def half_away_loop(x, out, s, ovf, w):
    return _loop(x, out, s, ovf, w, HALF_AWAY)


@njit(cache=True)
def stochastic_loop(x, out, s, ovf, w, key):
    """s in 1..32: u = R(i) >> (32 - s), carry when r + u >= 2**s."""
    hi = (_I1 << np.int64(w - 1)) - _I1
    lo = -hi - _I1
    span = _I1 << np.int64(w)
    mask = (_I1 << s) - _I1
    down = np.uint64(32 - s)
    k = np.uint64(key)
    count = 0
    for i in range(x.size):
        xi = np.int64(x[i])
        u = np.int64(lowbias32_u64((k + np.uint64(i)) & _M32) >> down)
        v = (xi >> s) + (((xi & mask) + u) >> s)
        o = (v > hi) | (v < lo)
        count += np.int64(o)
        if ovf == SATURATE:
            v = min(max(v, lo), hi)
        else:
            v = ((v - lo) & (span - _I1)) + lo
        out[i] = v
    return count


DETERMINISTIC = (floor_loop, trunc_loop, half_up_loop, half_even_loop, half_away_loop)


_NO_INDEX = np.zeros(1, dtype=np.int64)


@njit(cache=True)
def requant_flat(x, out, s, mode, ovf, w, key):
    """``out[i] = requantize(x[i])`` for a 1-D ``x`` (element index i, no explicit index
    array): the same choice of loop as :func:`._kernels.requant_kernel`, callable from
    compiled code (the convolution epilogues of fxtrain/ops/_direct.py)."""
    if 1 <= s <= 62:
        if mode == FLOOR:
            return floor_loop(x, out, s, ovf, w)
        if mode == TRUNC:
            return trunc_loop(x, out, s, ovf, w)
        if mode == HALF_UP:
            return half_up_loop(x, out, s, ovf, w)
        if mode == HALF_EVEN:
            return half_even_loop(x, out, s, ovf, w)
        if mode == HALF_AWAY:
            return half_away_loop(x, out, s, ovf, w)
        if s <= 32:
            return stochastic_loop(x, out, s, ovf, w, key)
    return requant_serial(x, out, s, mode, ovf, w, key, _NO_INDEX, False)
