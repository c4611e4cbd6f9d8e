"""Numba kernels behind `requantize` and `quantize`: one element per loop iteration,
parallel over elements, all integer arithmetic (no float in the integer path).

Every literal is a typed numpy scalar: numba types ``uint64 op int64`` as float64,
which would silently break exactness.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Mode codes: positions in formats.ROUNDING_MODES / OVERFLOW_MODES.
FLOOR, TRUNC, HALF_UP, HALF_EVEN, HALF_AWAY, STOCHASTIC = 0, 1, 2, 3, 4, 5
SATURATE, WRAP = 0, 1

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U15 = np.uint64(15)
_U16 = np.uint64(16)
_U32 = np.uint64(32)
_M32 = np.uint64(0xFFFFFFFF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_C1 = np.uint64(0x7FEB352D)
_C2 = np.uint64(0x846CA68B)
_I0 = np.int64(0)
_I1 = np.int64(1)


@njit(cache=True, inline="always")
def lowbias32_u64(x):
    """lowbias32 on a uint64 holding a 32-bit word; result < 2**32."""
    x = x & _M32
    x ^= x >> _U16
    x = (x * _C1) & _M32
    x ^= x >> _U15
    x = (x * _C2) & _M32
    x ^= x >> _U16
    return x


@njit(cache=True, inline="always")
def round_right(x, s, mode, rand):
    """Round int64 ``x * 2**-s`` to an integer, 1 <= s <= 64; ``rand`` is R(i) for stochastic."""
    if s >= 64:
        a = np.int64(-1) if x < 0 else _I0
        mask = _ALL
        r = np.uint64(x)  # x = -1 * 2**64 + r for negative x: r is x's two's-complement bits
    else:
        a = x >> s
        mask = (_U1 << np.uint64(s)) - _U1
        r = np.uint64(x) & mask
    half = _U1 << np.uint64(s - 1)
    if mode == FLOOR:
        inc = False
    elif mode == TRUNC:
        inc = r != _U0 and x < 0
    elif mode == HALF_UP:
        inc = r >= half
    elif mode == HALF_EVEN:
        inc = r > half or (r == half and (a & _I1) == _I1)
    elif mode == HALF_AWAY:
        inc = r >= half if x >= 0 else r > half
    else:
        if s <= 32:
            u = rand >> np.uint64(32 - s)
        else:
            u = rand << np.uint64(s - 32)
        # r + u >= 2**s, written so that nothing overflows 64 bits at s == 64
        inc = r != _U0 and u >= (mask - r) + _U1
    return a + _I1 if inc else a


@njit(cache=True, inline="always")
def wrap_bits(v, w):
    """Two's-complement wrap of int64 ``v`` to ``w`` bits (1 <= w <= 64)."""
    if w >= 64:
        return v
    m = (_U1 << np.uint64(w)) - _U1
    t = np.uint64(v) & m
    if t >> np.uint64(w - 1) != _U0:
        return np.int64(t) - (np.int64(1) << np.int64(w))
    return np.int64(t)


@njit(cache=True, inline="always")
def fit(v, w, ovf):
    """Overflow handling of an exact int64 to ``w`` bits: (result, overflowed)."""
    hi = (np.int64(1) << np.int64(w - 1)) - _I1
    lo = -hi - _I1
    if lo <= v <= hi:
        return v, 0
    if ovf == SATURATE:
        return (hi if v > hi else lo), 1
    return wrap_bits(v, w), 1


@njit(cache=True, inline="always")
def shift_left_fit(x, k, w, ovf):
    """Exact ``x * 2**k`` (k >= 1, possibly >= 64) fitted to ``w`` bits: (result, overflowed)."""
    hi = (np.int64(1) << np.int64(w - 1)) - _I1
    lo = -hi - _I1
    if x == 0:
        return _I0, 0
    if k >= 63:
        over = True
    elif x > 0:
        over = x > (hi >> np.int64(k))
    else:
        over = x < -((-lo) >> np.int64(k))
    if not over:
        return x << np.int64(k), 0
    if ovf == SATURATE:
        return (hi if x > 0 else lo), 1
    if k >= w:
        return _I0, 1
    return wrap_bits(np.int64(np.uint64(x) << np.uint64(k)), w), 1


@njit(cache=True, inline="always")
def requant_value(xi, s, mode, ovf, w, k, j):
    """One element of :func:`requantize`: ``(fit(round(xi * 2**-s)), overflowed)`` for
    int64 ``xi``, shift -64 <= s <= 64; ``k`` the uint64 key and ``j`` the element's uint64
    index (used by stochastic rounding only). Shared by the requantize loop and the
    convolution epilogues that requantize in place (fxtrain/ops/_direct.py)."""
    if s > 0:
        rand = _U0
        if mode == STOCHASTIC:
            rand = lowbias32_u64(k + j)
        return fit(round_right(xi, s, mode, rand), w, ovf)
    if s == 0:
        return fit(xi, w, ovf)
    return shift_left_fit(xi, -s, w, ovf)


def _requant_loop(x, out, s, mode, ovf, w, key, index, has_index):
    """out[i] = fit(round(x[i] * 2**-s)); returns the number of overflowed elements."""
    n = x.size
    count = 0
    k = np.uint64(key)
    for i in prange(n):
        j = np.uint64(index[i]) if has_index else np.uint64(i)
        v, o = requant_value(np.int64(x[i]), s, mode, ovf, w, k, j)
        out[i] = v
        count += o
    return count


def _quantize_loop(x, out, f, mode, ovf, w):
    """out[i] = fit(round(x[i] * 2**f)) for finite or infinite float64 x (no NaN)."""
    n = x.size
    count = 0
    for i in prange(n):
        xi = x[i]
        if math.isinf(xi):
            hi = (np.int64(1) << np.int64(w - 1)) - _I1
            v = hi if xi > 0 else -hi - _I1
            o = 1
        elif xi == 0.0:
            v, o = _I0, 0
        else:
            m, e = math.frexp(xi)  # xi = m * 2**e, 0.5 <= |m| < 1: m * 2**53 is an exact integer
            mi = np.int64(m * 9007199254740992.0)
            k = np.int64(e) - np.int64(53) + np.int64(f)
            if k >= 0:
                v, o = (shift_left_fit(mi, k, w, ovf) if k > 0 else fit(mi, w, ovf))
            else:
                s = -k
                if s > 60:
                    # |value| < 2**-8: only the sign matters for every deterministic mode, and
                    # +-1 at shift 60 rounds exactly like the true value does
                    mi = _I1 if mi > 0 else np.int64(-1)
                    s = np.int64(60)
                v, o = fit(round_right(mi, s, mode, _U0), w, ovf)
        out[i] = v
        count += o
    return count


# Each loop compiled twice: threads pay off on large tensors, but waking them costs
# more than the work on the many small tensors of a training step (constants, FC layers).
PARALLEL_MIN = 1 << 15
requant_serial = njit(cache=True)(_requant_loop)
requant_parallel = njit(cache=True, parallel=True)(_requant_loop)
quantize_serial = njit(cache=True)(_quantize_loop)
quantize_parallel = njit(cache=True, parallel=True)(_quantize_loop)


def requant_kernel(x, out, s, mode, ovf, w, key, index, has_index):
    """Specialised loop for the hot case, else serial or threaded :func:`_requant_loop`."""
    if not has_index and 1 <= s <= 62:
        from . import _fast

        if mode < STOCHASTIC:
            return _fast.DETERMINISTIC[mode](x, out, s, ovf, w)
        if s <= 32:
            return _fast.stochastic_loop(x, out, s, ovf, w, key)
    k = requant_parallel if x.size >= PARALLEL_MIN else requant_serial
    return k(x, out, s, mode, ovf, w, key, index, has_index)


def quantize_kernel(x, out, f, mode, ovf, w):
    """Serial or threaded :func:`_quantize_loop`, by size."""
    k = quantize_parallel if x.size >= PARALLEL_MIN else quantize_serial
    return k(x, out, f, mode, ovf, w)


@njit(cache=True, parallel=True)
def matmul_i64(a, b):
    """Exact int64 (mod 2**64) matrix product for operands too wide for float64 GEMM."""
    n, kdim = a.shape
    m = b.shape[1]
    out = np.zeros((n, m), dtype=np.int64)
    for i in prange(n):
        for kk in range(kdim):
            av = np.int64(a[i, kk])
            if av != 0:
                for j in range(m):
                    out[i, j] += av * np.int64(b[kk, j])
    return out
