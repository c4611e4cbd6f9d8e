"""Overflow helpers on plain int64 arrays: two's-complement wrap and saturation."""
from __future__ import annotations

import numpy as np

from .formats import _is_int


def _bits_ok(bits: int) -> int:
    if not _is_int(bits) or not 2 <= int(bits) <= 64:
        raise ValueError(f"bits must be an integer in [2, 64], got {bits!r}")
    return int(bits)


def _int64(x, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "iu" or a.dtype == np.uint64:
        raise TypeError(f"{what} takes integer arrays up to int64, got dtype {a.dtype}")
    return a.astype(np.int64)


def wrap(x, bits: int) -> np.ndarray:
    """``((x + 2**(bits-1)) mod 2**bits) - 2**(bits-1)`` elementwise, as int64.

    Example: wrap(32768, 16) == -32768, wrap(-32769, 16) == 32767.
    """
    bits = _bits_ok(bits)
    a = _int64(x, "wrap")
    if bits == 64:
        return a
    u = a.view(np.uint64) & np.uint64((1 << bits) - 1)
    sign = (u >> np.uint64(bits - 1)) & np.uint64(1)
    # the subtraction is meant mod 2**64 (bits = 63: sign << 63 is -2**63); numpy warns
    # about that on 0-d operands, whose arithmetic runs as scalars
    with np.errstate(over="ignore"):
        return u.view(np.int64) - (sign.view(np.int64) << np.int64(bits))


def saturate(x, bits: int) -> np.ndarray:
    """Clamp to ``[-2**(bits-1), 2**(bits-1) - 1]`` elementwise, as int64."""
    bits = _bits_ok(bits)
    a = _int64(x, "saturate")
    hi = (1 << (bits - 1)) - 1
    return np.clip(a, -hi - 1, hi)
