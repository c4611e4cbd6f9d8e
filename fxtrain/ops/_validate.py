"""Argument checks shared by the op kernels: every bad input is refused with a message
naming the argument and what was expected, before any kernel runs."""
from __future__ import annotations

import numpy as np

from ..numerics import wrap
from ..numerics.formats import _is_int


def int_array(x, name: str, ndim: int | None = None) -> np.ndarray:
    """``x`` as a numpy integer array (int8..int64, uint8..uint32); bool/float/uint64 refused."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu" or a.dtype == np.uint64:
        raise TypeError(f"{name} must be an integer array (int8..int64 or uint8..uint32), "
                        f"got dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def int_arg(v, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """A Python/numpy integer (not bool) within [lo, hi], as a Python int."""
    if not _is_int(v):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ValueError(f"{name}={v} is outside [{lo_s}, {hi_s}]")
    return v


def acc_bits_arg(acc_bits) -> int:
    return int_arg(acc_bits, "acc_bits", 2, 64)


def same_shape(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{na} shape {a.shape} does not match {nb} shape {b.shape}")


def max_abs(a: np.ndarray) -> int:
    """Largest |element| as a Python int (exact for int64 min)."""
    if a.size == 0:
        return 0
    return max(abs(int(a.max())), abs(int(a.min())))


def fits_int16(a: np.ndarray) -> bool:
    """Every element lies in [-2**15, 2**15 - 1] (int8/int16/uint8 arrays always do)."""
    if a.dtype in (np.int8, np.int16, np.uint8) or a.size == 0:
        return True
    return int(a.min()) >= -(1 << 15) and int(a.max()) < 1 << 15


def bounded(a: np.ndarray, name: str, bits: int) -> np.ndarray:
    """Refuse elements outside the signed ``bits``-bit range (keeps int64 products exact)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        raise ValueError(f"{name} holds values in [{int(a.min())}, {int(a.max())}], outside the "
                         f"signed {bits}-bit range [{lo}, {hi}] this op needs for exact int64 products")
    return a


def bias_terms(bias, bias_shift, o: int, acc_bits: int) -> np.ndarray:
    """``bias << bias_shift`` wrapped to acc_bits (exact mod 2**acc_bits), int64 [O]; zeros
    when ``bias`` is None."""
    if bias is None:
        return np.zeros(o, dtype=np.int64)
    sh = int_arg(bias_shift, "bias_shift")
    if sh < 0:
        raise ValueError(f"bias_shift must be >= 0 (the bias is aligned to f_a + f_w by a left "
                         f"shift), got {sh}")
    b = int_array(bias, "bias", 1)
    if b.shape != (o,):
        raise ValueError(f"bias must have shape ({o},) to match the {o} output channels, "
                         f"got {b.shape}")
    if sh >= 64:  # a multiple of 2**64 is 0 mod 2**acc_bits
        return np.zeros(o, dtype=np.int64)
    shifted = (b.astype(np.int64).view(np.uint64) << np.uint64(sh)).view(np.int64)  # mod 2**64
    return wrap(shifted, acc_bits)


def out_array(out, shape: tuple, dtype, name: str) -> np.ndarray:
    """A caller-supplied result buffer: a C-contiguous ndarray of exactly this shape and
    dtype (else ValueError naming what differs)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != np.dtype(dtype) or not out.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype)} array of shape "
                         f"{tuple(shape)}, got {out.dtype} {out.shape}"
                         + ("" if out.flags.c_contiguous else " (not C-contiguous)"))
    return out


def hw_arg(in_hw) -> tuple[int, int]:
    """An input's spatial size (H, W), both >= 1."""
    try:
        h, w = in_hw
    except (TypeError, ValueError):
        raise ValueError(f"in_hw must be the input's (H, W), got {in_hw!r}") from None
    return int_arg(h, "in_hw[0]", 1), int_arg(w, "in_hw[1]", 1)
