"""Requantization, quantization from float, and dequantization (docs/numerics.md).

Rounding modes, one line each (x = a * 2**s + r, 0 <= r < 2**s, half = 2**(s-1)):

- ``floor``:      a                                  (toward -inf; an arithmetic shift)
- ``trunc``:      toward zero
- ``half_up``:    a + (r >= half)                    (ties toward +inf; the hardware carry-in)
- ``half_even``:  nearest, ties to the even result   (numpy's rint)
- ``half_away``:  nearest, ties away from zero       (C's round)
- ``stochastic``: floor((x + u) / 2**s), u = top s bits of R(i) = lowbias32((key + i) mod 2**32)

Worked ties at s = 1 (x/2): x = 5 (2.5) gives floor 2, trunc 2, half_up 3, half_even 2,
half_away 3; x = -5 (-2.5) gives floor -3, trunc -2, half_up -2, half_even -2, half_away -3.

Overflow: ``saturate`` clamps to [min_int, max_int]; ``wrap`` keeps the low w bits
(two's complement). An element *overflowed* iff the result differs from the exact
rounded value.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from .formats import QFormat, _is_int, overflow_code, rounding_code

_INT_KINDS = "iu"
_SHIFT_LIMIT = 64


def _check_format(fmt: QFormat) -> QFormat:
    if not isinstance(fmt, QFormat):
        raise TypeError(f"expected a QFormat, got {type(fmt).__name__}")
    return fmt


def _as_int_array(x, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in _INT_KINDS or a.dtype == np.uint64:
        raise TypeError(
            f"{what} takes signed integer arrays (int8..int64) or uint8..uint32, got dtype {a.dtype}"
            + ("; use quantize() for floats" if a.dtype.kind == "f" else "")
        )
    if not a.dtype.isnative:
        # numba types only native byte order; the values, not the bytes, are the input
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def requant_params(f_src, fmt: QFormat, rounding: str, overflow: str,
                   key: int | None) -> tuple[int, int, int]:
    """Checked ``(shift s = f_src - fmt.f, rounding code, overflow code)`` of a
    :func:`requantize` call; raises the same errors requantize does."""
    fmt = _check_format(fmt)
    if not _is_int(f_src):
        raise TypeError(f"f_src must be an integer, got {f_src!r}")
    s = int(f_src) - fmt.f
    if not -_SHIFT_LIMIT <= s <= _SHIFT_LIMIT:
        raise ValueError(f"shift f_src - f = {f_src} - {fmt.f} = {s} is outside [-64, 64]")
    mode = rounding_code(rounding)
    ovf = overflow_code(overflow)
    if mode == K.STOCHASTIC:
        if key is None:
            raise ValueError("stochastic rounding needs a key (a uint32, e.g. from sr_key())")
        if not _is_int(key) or not 0 <= int(key) <= 0xFFFFFFFF:
            raise ValueError(f"stochastic key must be an integer in [0, 2**32), got {key!r}")
    return s, mode, ovf


def requantize(
    x,
    f_src: int,
    fmt: QFormat,
    rounding: str,
    overflow: str = "saturate",
    key: int | None = None,
    stats: bool = False,
    index=None,
):
    """Re-express integers holding ``x * 2**-f_src`` in ``fmt`` (docs/numerics.md, "Requantize").

    Shift ``s = f_src - fmt.f`` in [-64, 64]; s <= 0 is an exact left shift, s > 0 rounds
    by ``rounding``; then ``overflow`` fits the result to ``fmt.w`` bits. Exact for every
    int64 input and shift (no floating point anywhere).

    ``stochastic`` needs a uint32 ``key``; element ``i`` (row-major flat index, or
    ``index[i]`` when an integer ``index`` array of x's shape is given) draws
    ``R(i) = lowbias32((key + i) mod 2**32)`` and adds its top s bits (s > 32: shifted up,
    zeros below) before the floor shift.

    Returns an array of ``fmt.dtype`` and x's shape, or ``(y, n_overflowed)`` with
    ``stats=True``.
    """
    a = _as_int_array(x, "requantize")
    s, mode, ovf = requant_params(f_src, fmt, rounding, overflow, key)
    has_index = index is not None
    if has_index:
        idx = np.asarray(index)
        if idx.dtype.kind not in _INT_KINDS:
            raise TypeError(f"index must be an integer array, got dtype {idx.dtype}")
        if idx.shape != a.shape:
            raise ValueError(f"index shape {idx.shape} does not match x shape {a.shape}")
        idx = np.ascontiguousarray(idx, dtype=np.int64).ravel()
    else:
        idx = np.zeros(1, dtype=np.int64)
    flat = np.ascontiguousarray(a).ravel()
    out = np.empty(flat.size, dtype=fmt.dtype)
    n_over = K.requant_kernel(
        flat, out, np.int64(s), np.int64(mode), np.int64(ovf), np.int64(fmt.w),
        np.int64(key or 0), idx, has_index,
    )
    y = out.reshape(a.shape)
    return (y, int(n_over)) if stats else y


def quantize(x_float, fmt: QFormat, rounding: str = "half_even", overflow: str = "saturate",
             stats: bool = False):
    """Quantize real values to ``fmt``: round(x * 2**f) exactly, then fit to w bits.

    The scaling is exact (each float64 is m * 2**e with an integer m), so the only
    rounding is the one asked for: deterministic modes only (``stochastic`` belongs to
    :func:`requantize`, which has a key). Integer inputs go through
    ``requantize(x, 0, fmt, ...)`` and stay exact beyond 2**53.

    NaN raises ValueError naming how many elements are NaN. +-inf saturate to
    max_int/min_int (counted as overflow); under ``wrap`` they raise ValueError.
    Returns ``fmt.dtype`` of x's shape, or ``(y, n_overflowed)`` with ``stats=True``.
    """
    fmt = _check_format(fmt)
    mode = rounding_code(rounding)
    ovf = overflow_code(overflow)
    if mode == K.STOCHASTIC:
        raise ValueError(
            "quantize() has no stochastic mode: quantize to a finer fraction, then "
            "requantize(..., rounding='stochastic', key=...)"
        )
    a = np.asarray(x_float)
    if a.dtype.kind in _INT_KINDS:
        if a.dtype == np.uint64:
            raise TypeError("quantize: uint64 is not supported (float64 would round above 2**53); "
                            "convert to int64 or use requantize")
        return requantize(a, 0, fmt, rounding, overflow, stats=stats)
    if a.dtype.kind != "f":
        raise TypeError(f"quantize takes real numbers, got dtype {a.dtype}")
    shape = a.shape  # ascontiguousarray turns 0-d into 1-d
    a = np.ascontiguousarray(a, dtype=np.float64)
    n_nan = int(np.count_nonzero(np.isnan(a)))
    if n_nan:
        raise ValueError(f"quantize: {n_nan} of {a.size} elements are NaN")
    if ovf == K.WRAP:
        n_inf = int(np.count_nonzero(np.isinf(a)))
        if n_inf:
            raise ValueError(f"quantize: {n_inf} of {a.size} elements are infinite; "
                             "wrap has no value for them (use overflow='saturate')")
    flat = a.ravel()
    out = np.empty(flat.size, dtype=fmt.dtype)
    n_over = K.quantize_kernel(flat, out, np.int64(fmt.f), np.int64(mode), np.int64(ovf),
                               np.int64(fmt.w))
    y = out.reshape(shape)
    return (y, int(n_over)) if stats else y


def dequantize(q, fmt: QFormat) -> np.ndarray:
    """Real values ``q * 2**-f`` as float64 (exact: |q| < 2**32 fits the 53-bit mantissa)."""
    fmt = _check_format(fmt)
    a = _as_int_array(q, "dequantize")
    return np.ldexp(a.astype(np.float64), -fmt.f)
