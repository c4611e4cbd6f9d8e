"""Exact Python-int helpers shared by the numerics tests.

Nothing here rounds: the helpers only call the engine with a chosen shift and turn its
output into Python ints, or state the overflow rules of docs/numerics.md in unbounded
integers, so every property is checked in exact arithmetic.
"""
from __future__ import annotations

import numpy as np
from hypothesis import settings

from fxtrain.numerics import QFormat, requantize

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The numerics folder makes ~10**5 engine calls; tests that only restate a property the
# differential tests also cover run with a half or a quarter of the profile's examples
# (100 and 50 under `ci`), which keeps the folder inside its time budget.
FEWER = settings(max_examples=max(1, settings.default.max_examples // 2))
FEW = settings(max_examples=max(1, settings.default.max_examples // 4))

DETERMINISTIC = ("floor", "trunc", "half_up", "half_even", "half_away")
NEAREST = ("half_up", "half_even", "half_away")


def ints(a) -> list[int]:
    """Elements of an integer array, row-major, as Python ints."""
    return [int(v) for v in np.asarray(a).ravel().tolist()]


def rq(x, s: int, rounding: str, w: int = 32, overflow: str = "saturate", **kw):
    """Engine requantize by shift ``s`` into Q(w, 0): returns (list of ints, overflow count)."""
    y, n = requantize(x, s, QFormat(w, 0), rounding, overflow, stats=True, **kw)
    return ints(y), n


def no_overflow_range(s: int, w: int = 32) -> tuple[int, int]:
    """int64 bounds on x such that round(x * 2**-s) lies inside Q(w, 0) for every mode.

    For s > 0 the rounded value is floor(x / 2**s) or that plus one, so keeping
    floor(x / 2**s) in [min_int, max_int - 1] suffices; for s <= 0 x * 2**-s itself must fit.
    """
    lo_q, hi_q = -(2 ** (w - 1)), 2 ** (w - 1) - 2
    if s > 0:
        lo, hi = lo_q * 2**s, hi_q * 2**s + (2**s - 1)
    else:
        lo, hi = -((-lo_q) >> -s), hi_q >> -s
    return max(INT64_MIN, lo), min(INT64_MAX, hi)


def clamp(v: int, w: int) -> int:
    return min(max(v, -(2 ** (w - 1))), 2 ** (w - 1) - 1)


def wrap_int(v: int, w: int) -> int:
    return (v + 2 ** (w - 1)) % 2**w - 2 ** (w - 1)
