"""Softmax cross-entropy gradient ``p - onehot`` with an integer exp2-table softmax.

Every step is integer arithmetic with a stated rounding, so hardware (a 256-entry ROM,
a multiplier, shifters and one divider) reproduces it bit for bit. Per row of logits
``z`` [N, K] in Q(., f_z) (|z| < 2**31):

1. ``d_k = max(z) - z_k >= 0``                                   (exact)
2. ``t_k = d_k * LOG2E_Q16``, LOG2E_Q16 = 94548 = round(log2(e) * 2**16): the exponent
   magnitude in base 2 with fraction f_z + 16 (t < 2**49, exact in int64).
3. ``u_k = round_half_up(t_k * 2**-(f_z + 8))``, i.e. to EXP_FRAC = 8 fraction bits
   (a left shift when f_z + 8 <= 0), then ``u_k = min(u_k, U_MAX)``, U_MAX = 31 * 256.
4. ``e_k = EXP2_LUT[u_k % 256] >> (u_k // 256)`` (floor), EXP2_LUT[j] = the integer
   nearest to 2**(30 - j/256), j = 0..255 (no ties exist; LUT[0] = 2**30,
   LUT[128] = 759250125, LUT[255] = 538326517). e_k = 2**30 * 2**(-u_k/256) to
   within the table's rounding, and u_k >= U_MAX gives 0.
5. ``S = sum_k e_k`` (>= 2**30: the maximum has u = 0).
6. ``p_k = floor((e_k * 2**(f_out+1) + S) / (2*S))`` = round_half_up(e_k * 2**f_out / S),
   the probability in Q(., f_out), 0 <= f_out <= 31, so p_k lies in [0, 2**f_out].
7. ``g_k = saturate_w(p_k - (2**f_out if k == label else 0))`` in fmt_out = Q(w, f_out).

Worked example (f_z = 0, fmt_out = Q16.15): z = [0, 0], label 0 -> u = [0, 0],
e = [2**30, 2**30], S = 2**31, p = [16384, 16384], g = [-16384, 16384].
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..numerics import QFormat
from ._validate import bounded, int_arg, int_array

LOG2E_Q16 = 94548
EXP_FRAC = 8
LUT_BITS = 30
U_MAX = (LUT_BITS + 1) << EXP_FRAC
F_OUT_MAX = 31


def _lut_entry(j: int) -> int:
    """The integer q nearest to x = 2**(30 - j/256): (2q-1)**256 < 2**(7936-j) < (2q+1)**256,
    checked in exact integers after a float64 first guess."""
    q = round(2.0 ** (LUT_BITS - j / 256))
    target = 1 << (256 * (LUT_BITS + 1) - j)
    while (2 * q + 1) ** 256 <= target:
        q += 1
    while (2 * q - 1) ** 256 >= target:
        q -= 1
    return q


EXP2_LUT = np.array([_lut_entry(j) for j in range(1 << EXP_FRAC)], dtype=np.int64)
EXP2_LUT.setflags(write=False)


@njit(cache=True, inline="always")
def _exponent_index(d, s):
    """u = min(round_half_up(d * LOG2E_Q16 * 2**-s), U_MAX) for d >= 0, any int s."""
    t = d * np.int64(LOG2E_Q16)
    if t == 0:
        return np.int64(0)
    if s <= 0:
        if -s >= 13:  # t >= 1 shifted by 13 already exceeds U_MAX = 7936
            return np.int64(U_MAX)
        u = t << np.int64(-s)
    elif s >= 62:  # t < 2**49 < 2**(s-1): rounds to 0
        return np.int64(0)
    else:
        u = (t + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)
    return min(u, np.int64(U_MAX))


@njit(cache=True, nogil=True)
def _softmax_rows(z, s, f_out, lut, p):
    n, k = z.shape
    for r in range(n):
        m = np.int64(z[r, 0])
        for c in range(1, k):
            m = max(m, np.int64(z[r, c]))
        total = np.int64(0)
        for c in range(k):
            u = _exponent_index(m - np.int64(z[r, c]), s)
            e = lut[u & np.int64(255)] >> (u >> np.int64(EXP_FRAC))
            p[r, c] = e
            total += e
        for c in range(k):
            p[r, c] = ((p[r, c] << np.int64(f_out + 1)) + total) // (np.int64(2) * total)


def _softmax_checked(z, f_z, f_out) -> np.ndarray:
    z = bounded(int_array(z, "z", 2), "z", 32)
    if z.shape[1] < 1:
        raise ValueError(f"z must have at least one class per row, got shape {z.shape}")
    f_z = int_arg(f_z, "f_z", -64, 64)
    f_out = int_arg(f_out, "f_out", 0, F_OUT_MAX)
    p = np.empty(z.shape, dtype=np.int64)
    _softmax_rows(np.ascontiguousarray(z), np.int64(f_z + 16 - EXP_FRAC), np.int64(f_out),
                  EXP2_LUT, p)
    return p


def softmax_q(z, f_z: int, f_out: int) -> np.ndarray:
    """Integer softmax of logits z [N, K] in Q(., f_z): int64 p in Q(., f_out), steps 1-6."""
    return _softmax_checked(z, f_z, f_out)


def softmax_xent_grad(z, labels, f_z: int, fmt_out: QFormat) -> np.ndarray:
    """``p - onehot(labels)`` in ``fmt_out`` (saturated), storage dtype of fmt_out.

    ``labels`` [N] are class indices in [0, K); fmt_out.f must lie in [0, 31].
    """
    if not isinstance(fmt_out, QFormat):
        raise TypeError(f"fmt_out must be a QFormat, got {type(fmt_out).__name__}")
    z = int_array(z, "z", 2)
    lab = int_array(labels, "labels", 1)
    n, k = z.shape
    if lab.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match z {z.shape}, got {lab.shape}")
    if lab.size and (int(lab.min()) < 0 or int(lab.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got range [{int(lab.min())}, {int(lab.max())}]")
    if not 0 <= fmt_out.f <= F_OUT_MAX:
        raise ValueError(f"fmt_out {fmt_out} needs a fraction in [0, {F_OUT_MAX}] to hold p in [0, 1]")
    p = _softmax_checked(z, f_z, fmt_out.f)
    p[np.arange(n), lab] -= np.int64(1) << np.int64(fmt_out.f)
    return np.clip(p, fmt_out.min_int, fmt_out.max_int).astype(fmt_out.dtype)


__all__ = ["EXP2_LUT", "EXP_FRAC", "LOG2E_Q16", "LUT_BITS", "U_MAX", "softmax_q",
           "softmax_xent_grad"]
