"""Fixed-point formats and the names of the rounding and overflow modes.

`QFormat(w, f)` is a signed two's-complement word of `w` bits with `f` fraction bits:
the integer `q` stands for the real value `q * 2**-f`.

Exact ranges: ``2 <= w <= 32`` and ``-64 <= f <= 64``; ``q`` lies in
``[-2**(w-1), 2**(w-1) - 1]``. ``f`` may exceed ``w`` (all bits are fraction, the
value is tiny) or be negative (the LSB weighs more than one).

Example: ``Q16.15`` holds ``[-1, 1 - 2**-15]`` in steps of ``2**-15``;
``QFormat(16, 15).max_int == 32767``.

Compatibility guarantee: the bits any function of `fxtrain.numerics` produces for a
given input are fixed for a given ``CONTRACT_VERSION``; a change of bits bumps it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTRACT_VERSION = "1.1"

#: Rounding modes, in the order of their integer codes in the kernels.
ROUNDING_MODES = ("floor", "trunc", "half_up", "half_even", "half_away", "stochastic")
#: Overflow modes, in the order of their integer codes in the kernels.
OVERFLOW_MODES = ("saturate", "wrap")

W_MIN, W_MAX = 2, 32
F_LIMIT = 64


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class QFormat:
    """Signed two's-complement fixed-point format ``Q(w, f)``: value = q * 2**-f."""

    w: int
    f: int

    def __post_init__(self) -> None:
        if not _is_int(self.w) or not _is_int(self.f):
            raise ValueError(f"QFormat(w, f) needs integers, got w={self.w!r}, f={self.f!r}")
        if not W_MIN <= self.w <= W_MAX:
            raise ValueError(f"QFormat word length w={self.w} out of range [{W_MIN}, {W_MAX}]")
        if not -F_LIMIT <= self.f <= F_LIMIT:
            raise ValueError(f"QFormat fraction length f={self.f} out of range [-{F_LIMIT}, {F_LIMIT}]")
        object.__setattr__(self, "w", int(self.w))
        object.__setattr__(self, "f", int(self.f))

    @property
    def min_int(self) -> int:
        """Smallest code, ``-2**(w-1)``."""
        return -(1 << (self.w - 1))

    @property
    def max_int(self) -> int:
        """Largest code, ``2**(w-1) - 1``."""
        return (1 << (self.w - 1)) - 1

    @property
    def lsb(self) -> float:
        """Value of one unit in the last place, ``2**-f``."""
        return 2.0 ** -self.f

    @property
    def min_value(self) -> float:
        return self.min_int * self.lsb

    @property
    def max_value(self) -> float:
        return self.max_int * self.lsb

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype: int8 for w <= 8, int16 for w <= 16, else int32."""
        if self.w <= 8:
            return np.dtype(np.int8)
        if self.w <= 16:
            return np.dtype(np.int16)
        return np.dtype(np.int32)

    def __str__(self) -> str:
        return f"Q{self.w}.{self.f}"

    @classmethod
    def parse(cls, text: str) -> "QFormat":
        """Inverse of ``str``: ``QFormat.parse("Q16.8") == QFormat(16, 8)``; ``Q16.-3`` allowed."""
        t = text.strip()
        if not t.startswith("Q") or "." not in t:
            raise ValueError(f"cannot parse fixed-point format {text!r}: expected 'Q<w>.<f>'")
        w, _, f = t[1:].partition(".")
        try:
            return cls(int(w), int(f))
        except ValueError as exc:
            raise ValueError(f"cannot parse fixed-point format {text!r}: {exc}") from None


def rounding_code(rounding: str) -> int:
    """Kernel code of a rounding mode name; ValueError naming the valid modes."""
    try:
        return ROUNDING_MODES.index(rounding)
    except ValueError:
        raise ValueError(f"unknown rounding mode {rounding!r}; expected one of {ROUNDING_MODES}") from None


def overflow_code(overflow: str) -> int:
    """Kernel code of an overflow mode name; ValueError naming the valid modes."""
    try:
        return OVERFLOW_MODES.index(overflow)
    except ValueError:
        raise ValueError(f"unknown overflow mode {overflow!r}; expected one of {OVERFLOW_MODES}") from None
