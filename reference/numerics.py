"""The numerics contract (docs/numerics.md), one element at a time in plain Python ints.

This is the slow oracle the engine is checked against. It is written from the contract
text, not from the engine: rounding is floor division with ``divmod`` on unbounded
Python integers, quantization from float goes through exact ``fractions.Fraction``
values, and numpy is used only to walk shapes. It must never import ``fxtrain``.

Requantization of an integer ``x`` (value ``x * 2**-f_src``) to ``Q(w, f_dst)``, with
shift ``s = f_src - f_dst``:

* step 1, rounding, gives an exact integer ``v``. For ``s <= 0``, ``v = x * 2**-s``.
  For ``s > 0`` write ``x = a * 2**s + r`` with ``0 <= r < 2**s`` and ``half = 2**(s-1)``;
  each mode adds 0 or 1 to ``a``. Ties at ``s = 1``: x = 5 (2.5) -> floor 2, trunc 2,
  half_up 3, half_even 2, half_away 3; x = -5 (-2.5) -> -3, -2, -2, -2, -3.
* step 2, overflow, fits ``v`` to ``w`` bits by ``saturate`` or ``wrap``; the element
  *overflowed* iff the result differs from ``v``.
"""
from __future__ import annotations

from fractions import Fraction
from math import isinf, isnan

import numpy as np

CONTRACT_VERSION = "1.1"

ROUNDING_MODES = ("floor", "trunc", "half_up", "half_even", "half_away", "stochastic")
DETERMINISTIC_MODES = ROUNDING_MODES[:-1]
OVERFLOW_MODES = ("saturate", "wrap")

#: Tensor roles; a role's id in sr_key is its position here.
ROLES = (
    "activation",
    "weight",
    "bias",
    "local_gradient",
    "weight_gradient",
    "momentum",
    "update",
    "constant",
)

WORD = 2**32  # the generator works on 32-bit words
SEED_SALT = 0x9E3779B9
W_MIN, W_MAX = 2, 32
F_LIMIT = 64  # |f| <= 64 and |s| <= 64


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _need_int(v: object, name: str, lo: int, hi: int) -> int:
    """``v`` as a Python int in [lo, hi] (inclusive), else ValueError naming ``name``."""
    if not _is_int(v) or not lo <= int(v) <= hi:
        raise ValueError(f"{name}={v!r} must be an integer in [{lo}, {hi}]")
    return int(v)


# ---------------------------------------------------------------- random words

def lowbias32(x: int) -> int:
    """Wellons' lowbias32 hash of one 32-bit word; every operation reduced mod 2**32.

    lowbias32(0) == 0, lowbias32(1) == 0x688990c0, lowbias32(2) == 0xd1132181,
    lowbias32(0xffffffff) == 0x6768824a.
    """
    x = _need_int(x, "lowbias32 input", 0, WORD - 1)
    x = x ^ (x // 2**16)
    x = (x * 0x7FEB352D) % WORD
    x = x ^ (x // 2**15)
    x = (x * 0x846CA68B) % WORD
    x = x ^ (x // 2**16)
    return x


def sr_key(seed: int, step: int, layer: int, role: str) -> int:
    """The 32-bit stochastic-rounding key of one tensor (docs/numerics.md, "sr_key")."""
    seed = _need_int(seed, "seed", 0, WORD - 1)
    step = _need_int(step, "step", 0, WORD - 1)
    layer = _need_int(layer, "layer", 0, WORD - 1)
    if role not in ROLES:
        raise ValueError(f"role={role!r} is not one of {ROLES}")
    k = lowbias32(seed ^ SEED_SALT)
    k = lowbias32(k ^ step)
    k = lowbias32(k ^ layer)
    k = lowbias32(k ^ ROLES.index(role))
    return k


def random_word(key: int, i: int) -> int:
    """R(i) = lowbias32((key + i) mod 2**32): the word of element ``i`` of a keyed tensor."""
    return lowbias32((key + i) % WORD)


def stochastic_addend(rand_word: int, s: int) -> int:
    """``u``: the top ``s`` bits of the 32-bit word; for s > 32 the word followed by zeros."""
    if s <= 32:
        return rand_word // 2 ** (32 - s)
    return rand_word * 2 ** (s - 32)


# ---------------------------------------------------------------- step 1: rounding

def round_rational(n: int, d: int, rounding: str) -> int:
    """A deterministic rounding of the rational ``n / d`` (``d > 0``) to an integer.

    Used by quantize on the exact value of a float; deliberately phrased for any
    denominator (midpoint test ``2r`` vs ``d``) rather than copied from round_shift,
    so the tests can hold the two derivations against each other.
    """
    if rounding not in DETERMINISTIC_MODES:
        raise ValueError(f"rounding={rounding!r} is not one of {DETERMINISTIC_MODES}")
    a, r = divmod(n, d)
    if r == 0 or rounding == "floor":
        return a
    if rounding == "trunc":
        return a + 1 if n < 0 else a
    if 2 * r > d:  # above the midpoint: every nearest mode rounds up
        return a + 1
    if 2 * r < d:
        return a
    # an exact tie
    if rounding == "half_up":
        return a + 1
    if rounding == "half_even":
        return a + 1 if a % 2 == 1 else a
    # half_away
    return a + 1 if n >= 0 else a


def round_shift(x: int, s: int, rounding: str, rand_word: int | None = None) -> int:
    """Step 1 of requantize: the exact integer ``v`` for ``x * 2**-s`` under ``rounding``.

    ``s <= 0`` is the exact left shift ``x * 2**-s`` (no rounding, no random word used).
    For ``s > 0`` this is the contract's table, line by line. ``stochastic`` needs the
    element's 32-bit ``rand_word`` R and returns floor((x + u) / 2**s).
    """
    if not _is_int(x) or not _is_int(s):
        raise TypeError(f"round_shift needs integers, got x={x!r}, s={s!r}")
    x, s = int(x), int(s)
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding={rounding!r} is not one of {ROUNDING_MODES}")
    if s <= 0:
        return x * 2 ** (-s)
    a, r = divmod(x, 2**s)  # x = a * 2**s + r, 0 <= r < 2**s
    half = 2 ** (s - 1)
    if rounding == "floor":
        return a
    if rounding == "trunc":
        return a + 1 if (r != 0 and x < 0) else a
    if rounding == "half_up":
        return a + 1 if r >= half else a
    if rounding == "half_even":
        return a + 1 if (r > half or (r == half and a % 2 == 1)) else a
    if rounding == "half_away":
        if x >= 0:
            return a + 1 if r >= half else a
        return a + 1 if r > half else a
    # stochastic
    if rand_word is None:
        raise ValueError("stochastic rounding needs the element's 32-bit random word")
    u = stochastic_addend(_need_int(rand_word, "rand_word", 0, WORD - 1), s)
    return (x + u) // 2**s


# ---------------------------------------------------------------- step 2: overflow

def overflow(v: int, w: int, mode: str) -> tuple[int, bool]:
    """Fit the exact integer ``v`` to ``w`` signed bits; return (y, y != v)."""
    w = _need_int(w, "bits", 2, 64)
    lo, hi = -(2 ** (w - 1)), 2 ** (w - 1) - 1
    if mode == "saturate":
        y = min(max(v, lo), hi)
    elif mode == "wrap":
        y = (v + 2 ** (w - 1)) % 2**w - 2 ** (w - 1)
    else:
        raise ValueError(f"overflow={mode!r} is not one of {OVERFLOW_MODES}")
    return y, y != v


_overflow = overflow  # requantize/quantize take a parameter named ``overflow``


def _elementwise(x, fn, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=object)
    out = np.empty(arr.shape, dtype=np.int64)
    for pos in np.ndindex(arr.shape):
        e = arr[pos]
        if not _is_int(e):
            raise TypeError(f"{what} takes integers, got {e!r} ({type(e).__name__})")
        out[pos] = fn(int(e))
    return out


def wrap(x, bits: int) -> np.ndarray:
    """``((x + 2**(bits-1)) mod 2**bits) - 2**(bits-1)`` elementwise (2 <= bits <= 64), int64."""
    _need_int(bits, "bits", 2, 64)
    return _elementwise(x, lambda e: overflow(e, bits, "wrap")[0], "wrap")


def saturate(x, bits: int) -> np.ndarray:
    """Clamp to ``[-2**(bits-1), 2**(bits-1) - 1]`` elementwise (2 <= bits <= 64), int64."""
    _need_int(bits, "bits", 2, 64)
    return _elementwise(x, lambda e: overflow(e, bits, "saturate")[0], "saturate")


# ---------------------------------------------------------------- requantize / quantize

def _check_format(w: int, f: int) -> None:
    _need_int(w, "w", W_MIN, W_MAX)
    _need_int(f, "f", -F_LIMIT, F_LIMIT)


def _integer_elements(x) -> np.ndarray:
    """x as an object array of its elements, refusing bools and non-integers."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "iuO":
        raise TypeError(f"requantize takes integers, got an array of dtype {x.dtype}")
    arr = np.asarray(x, dtype=object)
    for pos in np.ndindex(arr.shape):
        if not _is_int(arr[pos]):
            raise TypeError(f"requantize takes integers, got {arr[pos]!r} at {pos}")
    return arr


def requantize(x, f_src: int, w: int, f_dst: int, rounding: str, overflow: str = "saturate",
               key: int | None = None, index=None) -> tuple[np.ndarray, int]:
    """Requantize integers holding ``x * 2**-f_src`` to ``Q(w, f_dst)``, element by element.

    Returns (int64 array of x's shape, number of elements that overflowed).
    ``stochastic`` needs a 32-bit ``key``; element ``i`` (row-major flat position, or
    ``index[pos]`` when an integer ``index`` of x's shape is given) uses
    R = lowbias32((key + i) mod 2**32), also when s <= 0 where R is not needed.
    """
    _check_format(w, f_dst)
    if not _is_int(f_src):
        raise TypeError(f"f_src must be an integer, got {f_src!r}")
    s = int(f_src) - int(f_dst)
    if not -F_LIMIT <= s <= F_LIMIT:
        raise ValueError(f"shift s = f_src - f_dst = {s} is outside [-64, 64]")
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding={rounding!r} is not one of {ROUNDING_MODES}")
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"overflow={overflow!r} is not one of {OVERFLOW_MODES}")
    stochastic = rounding == "stochastic"
    if stochastic:
        if key is None:
            raise ValueError("stochastic rounding needs a key (an integer in [0, 2**32))")
        key = _need_int(key, "key", 0, WORD - 1)
    arr = _integer_elements(x)
    idx = None
    if index is not None:
        idx = np.asarray(index, dtype=object)
        if idx.shape != arr.shape:
            raise ValueError(f"index shape {idx.shape} does not match x shape {arr.shape}")
    out = np.empty(arr.shape, dtype=np.int64)
    n_over = 0
    for flat, pos in enumerate(np.ndindex(arr.shape)):
        word = None
        if stochastic:
            i = flat if idx is None else idx[pos]
            if not _is_int(i):
                raise TypeError(f"index must hold integers, got {i!r} at {pos}")
            word = random_word(key, int(i))
        v = round_shift(int(arr[pos]), s, rounding, word)
        y, over = _overflow(v, w, overflow)
        out[pos] = y
        n_over += over
    return out, n_over


def quantize(x_float, w: int, f: int, rounding: str = "half_even",
             overflow: str = "saturate") -> tuple[np.ndarray, int]:
    """Quantize real numbers to ``Q(w, f)``: round the exact rational ``x * 2**f``, then fit.

    Deterministic modes only. NaN anywhere -> ValueError with the count; +-inf become
    max_int/min_int under saturate (counted as overflowed) and a ValueError under wrap.
    Returns (int64 array of x's shape, number of elements that overflowed).
    """
    _check_format(w, f)
    if rounding == "stochastic":
        raise ValueError("quantize has no stochastic mode: quantize to a finer fraction, "
                         "then requantize with rounding='stochastic' and a key")
    if rounding not in DETERMINISTIC_MODES:
        raise ValueError(f"rounding={rounding!r} is not one of {DETERMINISTIC_MODES}")
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"overflow={overflow!r} is not one of {OVERFLOW_MODES}")
    arr = np.asarray(x_float, dtype=object)
    values = {}
    for pos in np.ndindex(arr.shape):
        e = arr[pos]
        if isinstance(e, (bool, np.bool_)) or not isinstance(e, (int, float, np.integer, np.floating)):
            raise TypeError(f"quantize takes real numbers, got {e!r} at {pos}")
        values[pos] = int(e) if _is_int(e) else float(e)
    n_nan = sum(1 for v in values.values() if isinstance(v, float) and isnan(v))
    if n_nan:
        raise ValueError(f"quantize: {n_nan} of {arr.size} elements are NaN")
    n_inf = sum(1 for v in values.values() if isinstance(v, float) and isinf(v))
    if n_inf and overflow == "wrap":
        raise ValueError(f"quantize: {n_inf} of {arr.size} elements are infinite; "
                         "wrap has no value for them")
    lo, hi = -(2 ** (w - 1)), 2 ** (w - 1) - 1
    out = np.empty(arr.shape, dtype=np.int64)
    n_over = 0
    for pos, v in values.items():
        if isinstance(v, float) and isinf(v):
            out[pos] = hi if v > 0 else lo
            n_over += 1
            continue
        scaled = Fraction(v) * Fraction(2) ** f  # exact: a float is an integer times a power of 2
        exact = round_rational(scaled.numerator, scaled.denominator, rounding)
        y, over = _overflow(exact, w, overflow)
        out[pos] = y
        n_over += over
    return out, n_over


# ---------------------------------------------------------------- accumulators

def acc_sum(values, acc_bits: int = 32) -> int:
    """The exact integer sum of all elements, wrapped to ``acc_bits`` (2..64) two's complement."""
    _need_int(acc_bits, "acc_bits", 2, 64)
    total = 0
    for e in np.asarray(values, dtype=object).flat:
        if not _is_int(e):
            raise TypeError(f"acc_sum takes integers, got {e!r}")
        total += int(e)
    return _overflow(total, acc_bits, "wrap")[0]


def acc_matmul(a, b, acc_bits: int = 32) -> np.ndarray:
    """``wrap(a @ b, acc_bits)`` for 2-D integer operands, each dot product summed exactly."""
    _need_int(acc_bits, "acc_bits", 2, 64)
    a_ = np.asarray(a, dtype=object)
    b_ = np.asarray(b, dtype=object)
    if a_.ndim != 2 or b_.ndim != 2 or a_.shape[1] != b_.shape[0]:
        raise ValueError(f"acc_matmul: shapes {a_.shape} and {b_.shape} are not aligned 2-D operands")
    out = np.empty((a_.shape[0], b_.shape[1]), dtype=np.int64)
    for m in range(a_.shape[0]):
        for n in range(b_.shape[1]):
            out[m, n] = acc_sum([int(a_[m, k]) * int(b_[k, n]) for k in range(a_.shape[1])], acc_bits)
    return out
