"""Exact input transforms: zero padding, pixel scaling, fixed-point inputs, +-1 targets.

Pixels are scaled by 1/256 (not 1/255) on purpose: ``p / 256`` has at most 8 fraction bits,
so it is exact in float64 and in any fixed-point format with >= 8 fraction bits, and an
input tensor carries no rounding error at all. The range is ``[0, 255/256]``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import numpy as np

from .dataset import Dataset

T = TypeVar("T", np.ndarray, Dataset)


def _pad_amounts(have: int, size: int, axis: str) -> tuple[int, int]:
    if have > size:
        raise ValueError(f"cannot pad {axis}={have} down to {size}; pad_to only grows images")
    before = (size - have) // 2
    return before, size - have - before


def pad_to(x: T, size: int = 32) -> T:
    """Zero-pad the last two axes (H, W) to ``size`` x ``size``, centred.

    ``before = (size - H) // 2`` rows go on top and the rest below (same for columns), so
    28 -> 32 adds 2 on each side and an odd excess puts the extra pixel after: 29 -> 32
    adds 1 before and 2 after. Values are copied unchanged; dtype is kept. Accepts an
    array with ndim >= 2 or a :class:`Dataset` (returns a Dataset with padded ``x``).
    ValueError if H or W already exceeds ``size``.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"pad_to size must be a positive int, got {size!r}")
    if isinstance(x, Dataset):
        return replace(x, x=pad_to(x.x, size))
    a = np.asarray(x)
    if a.ndim < 2:
        raise ValueError(f"pad_to needs an array with ndim >= 2 (..., H, W), got ndim={a.ndim}")
    top, bottom = _pad_amounts(a.shape[-2], int(size), "H")
    left, right = _pad_amounts(a.shape[-1], int(size), "W")
    widths = [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(a, widths, mode="constant", constant_values=0)


def _check_pixels(x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.uint8:
        raise TypeError(f"pixel arrays must be uint8 (codes 0..255), got {a.dtype}")
    return a


def to_unit_float(x) -> np.ndarray:
    """uint8 pixel codes -> float64 ``p / 256`` in ``[0, 255/256]``; exact (e.g. 255 -> 0.99609375)."""
    return _check_pixels(x).astype(np.float64) / 256.0


def to_fixed(x, frac_bits: int = 15, width: int = 16) -> np.ndarray:
    """uint8 pixel codes -> integers ``q = p * 2**(frac_bits - 8)`` of value ``p / 256``.

    Exact: the same values as :func:`to_unit_float` in format ``Q(width, frac_bits)``.
    Needs ``frac_bits >= 8`` (fewer bits would have to round; use the numerics quantizer
    for that) and ``255 * 2**(frac_bits - 8) <= 2**(width-1) - 1``; e.g. Q16.15 (the fpl19
    input format) maps 255 -> 32640 and 1 -> 128. Returns int8/int16/int32 storage for
    width <= 8 / <= 16 / <= 32.
    """
    for nm, v in (("frac_bits", frac_bits), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{nm} must be an int, got {v!r}")
    if not 2 <= width <= 32:
        raise ValueError(f"width must be in [2, 32], got {width}")
    if frac_bits < 8:
        raise ValueError(
            f"to_fixed needs frac_bits >= 8 to be exact (p/256 has 8 fraction bits), got {frac_bits}"
        )
    shift = int(frac_bits) - 8
    if 255 << shift > 2 ** (width - 1) - 1:
        raise ValueError(
            f"pixel 255/256 does not fit Q({width},{frac_bits}): 255 << {shift} = {255 << shift} "
            f"> {2 ** (width - 1) - 1}"
        )
    dtype = np.int8 if width <= 8 else np.int16 if width <= 16 else np.int32
    return (_check_pixels(x).astype(np.int32) << shift).astype(dtype)


def one_hot_pm1(y, k: int) -> np.ndarray:
    """Targets for squared hinge: int8 ``[N, k]`` with +1 at column ``y[n]`` and -1 elsewhere.

    ``y`` is an integer array ``[N]`` with values in ``[0, k)`` (ValueError naming the
    offending range otherwise). Example: ``one_hot_pm1([2, 0], 3) == [[-1, -1, 1], [1, -1, -1]]``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    a = np.asarray(y)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"labels must be a 1-D integer array, got dtype={a.dtype} ndim={a.ndim}")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got range [{int(a.min())}, {int(a.max())}]")
    out = np.full((a.shape[0], int(k)), -1, dtype=np.int8)
    out[np.arange(a.shape[0]), a.astype(np.int64)] = 1
    return out
