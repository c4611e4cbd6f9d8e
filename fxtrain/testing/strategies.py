"""Hypothesis strategies for fixed-point verification.

Import these in your own tests (of RTL, of a C model, of a new kernel) to draw the
inputs that break fixed-point code: word extremes, zero, +-1, exact ties, every shift
from -64 to 64, both overflow modes and every rounding mode. Every strategy is biased
toward those corners but still covers its whole range.

Example, checking a hardware model of the Q32 -> Q16 output stage against fxtrain::

    from hypothesis import given
    from fxtrain.numerics import QFormat, requantize
    from fxtrain.testing import strategies as fst

    @given(fst.fixed_arrays(QFormat(32, 16)), fst.rounding_modes(deterministic_only=True),
           fst.overflow_modes())
    def test_output_stage(acc, rounding, overflow):
        want = requantize(acc, 16, QFormat(16, 8), rounding, overflow)
        assert (my_rtl_model(acc, rounding, overflow) == want).all()

Requires ``hypothesis`` (the ``test`` extra).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fxtrain.numerics.formats import F_LIMIT, OVERFLOW_MODES, ROUNDING_MODES, W_MAX, W_MIN, QFormat

__all__ = [
    "fixed_arrays", "formats", "int64_arrays", "json_values", "keys", "mutated_bytes",
    "mutated_json", "overflow_modes", "rounding_modes", "shifts", "tie_values",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT32_MAX = 2**32 - 1
SHIFT_LIMIT = 64

ShapeArg = int | Sequence[int] | st.SearchStrategy


def _default_shapes() -> st.SearchStrategy:
    # 0-d and empty arrays are legal inputs and a classic source of bugs, so they stay in
    return hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=8)


def _shape_strategy(shape: ShapeArg | None) -> st.SearchStrategy:
    if shape is None:
        return _default_shapes()
    if isinstance(shape, st.SearchStrategy):
        return shape
    if isinstance(shape, (int, np.integer)):
        return st.just((int(shape),))
    return st.just(tuple(int(n) for n in shape))


def _ties_in(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in [lo, hi] whose low s bits are 100..0 for some s >= 1 (ties at shift s).

    One integer draw per element (s is taken from the drawn value's own low bits), which
    keeps large arrays cheap to generate.
    """
    top = max(1, (max(abs(lo), abs(hi))).bit_length())

    def make(v: int) -> int:
        s = 1 + (v >> 1) % top  # bit 0 is overwritten below, so it cannot steer s
        tie = ((v >> s) << s) + (1 << (s - 1))
        return tie if lo <= tie <= hi else v

    return st.integers(lo, hi).map(make)


def _biased_integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in [lo, hi], with the corners and ties drawn far more often than chance."""
    corners = sorted({v for v in (lo, lo + 1, -1, 0, 1, hi - 1, hi) if lo <= v <= hi})
    return st.one_of(
        st.sampled_from(corners),
        _ties_in(lo, hi),
        st.integers(lo, hi),
    )


def formats(min_w: int = W_MIN, max_w: int = W_MAX, min_f: int = -F_LIMIT,
            max_f: int = F_LIMIT) -> st.SearchStrategy[QFormat]:
    """Valid :class:`QFormat` values with ``min_w <= w <= max_w`` and ``min_f <= f <= max_f``.

    The bounds are clipped to what QFormat allows (w in [2, 32], f in [-64, 64]);
    shrinks toward small w and f = 0.

    >>> from hypothesis import given
    >>> @given(formats(max_w=16, min_f=0, max_f=15))
    ... def test_lsb_is_power_of_two(fmt):
    ...     assert fmt.lsb == 2.0 ** -fmt.f
    """
    lo_w, hi_w = max(W_MIN, min_w), min(W_MAX, max_w)
    lo_f, hi_f = max(-F_LIMIT, min_f), min(F_LIMIT, max_f)
    if lo_w > hi_w or lo_f > hi_f:
        raise ValueError(f"empty format bounds: w in [{min_w}, {max_w}], f in [{min_f}, {max_f}]")
    return st.builds(QFormat, st.integers(lo_w, hi_w), st.integers(lo_f, hi_f))


def fixed_arrays(fmt: QFormat, shape: ShapeArg | None = None,
                 dtype=None) -> st.SearchStrategy[np.ndarray]:
    """Integer arrays whose elements are codes of ``fmt``: ``[fmt.min_int, fmt.max_int]``.

    Elements are biased toward min_int, min_int + 1, -1, 0, 1, max_int - 1, max_int and
    ties (values whose low s bits are ``100..0``, which round differently in every half
    mode once shifted right by s). ``shape`` is an int, a tuple, or a strategy of tuples
    (default: 0 to 3 dimensions of 0 to 8 elements, including 0-d and empty arrays).
    ``dtype`` defaults to ``fmt.dtype``; any wider integer dtype may be asked for.

    >>> from fxtrain.numerics import QFormat
    >>> q = fixed_arrays(QFormat(16, 8), shape=(4, 4))  # int16 4x4 arrays
    >>> # e.g. array([[-32768, 0, 32767, 384], ...]); 384 = 0b1_1000_0000 is a tie at s = 8
    """
    if not isinstance(fmt, QFormat):
        raise TypeError(f"fixed_arrays needs a QFormat, got {type(fmt).__name__}")
    dt = np.dtype(fmt.dtype if dtype is None else dtype)
    if dt.kind != "i" or np.iinfo(dt).min > fmt.min_int or np.iinfo(dt).max < fmt.max_int:
        raise ValueError(f"dtype {dt} cannot hold every code of {fmt}")
    return hnp.arrays(dt, _shape_strategy(shape), elements=_biased_integers(fmt.min_int, fmt.max_int))


def int64_arrays(shape: ShapeArg | None = None, min_value: int = INT64_MIN,
                 max_value: int = INT64_MAX) -> st.SearchStrategy[np.ndarray]:
    """int64 arrays over ``[min_value, max_value]`` (default: all of int64).

    Biased like :func:`fixed_arrays`: the bounds, their neighbours, -1, 0, 1 and ties at
    every shift up to 63 turn up in most examples, so the shifts and the carries that
    only misbehave at the edge of 64 bits get exercised.

    >>> a = int64_arrays(shape=8)  # e.g. array([-9223372036854775808, 0, 1, ...])
    """
    if not INT64_MIN <= min_value <= max_value <= INT64_MAX:
        raise ValueError(f"need INT64_MIN <= min_value <= max_value <= INT64_MAX, got "
                         f"[{min_value}, {max_value}]")
    return hnp.arrays(np.int64, _shape_strategy(shape), elements=_biased_integers(min_value, max_value))


def shifts(min_shift: int = -SHIFT_LIMIT, max_shift: int = SHIFT_LIMIT) -> st.SearchStrategy[int]:
    """Shifts ``s = f_src - f_dst`` in ``[min_shift, max_shift]`` (within [-64, 64]).

    Biased toward the places where shift code breaks: 0, +-1, the 32-bit boundary
    (31, 32, 33, where the stochastic addend changes form) and 63, 64.

    >>> s = shifts(min_shift=1)  # right shifts only: 1..64, often 1, 32, 63, 64
    """
    lo, hi = max(-SHIFT_LIMIT, min_shift), min(SHIFT_LIMIT, max_shift)
    if lo > hi:
        raise ValueError(f"empty shift range [{min_shift}, {max_shift}]")
    special = [v for v in (0, 1, -1, 8, 16, 31, 32, 33, 63, 64, -31, -32, -63, -64) if lo <= v <= hi]
    body = st.integers(lo, hi)
    return st.one_of(st.sampled_from(special), body) if special else body


def rounding_modes(deterministic_only: bool = False) -> st.SearchStrategy[str]:
    """Rounding mode names of ``fxtrain.numerics.ROUNDING_MODES``.

    ``deterministic_only=True`` leaves out ``"stochastic"`` (which needs a key), e.g. for
    :func:`fxtrain.numerics.quantize`.

    >>> r = rounding_modes(deterministic_only=True)  # floor, trunc, half_up, half_even, half_away
    """
    modes = tuple(m for m in ROUNDING_MODES if not (deterministic_only and m == "stochastic"))
    return st.sampled_from(modes)


def overflow_modes() -> st.SearchStrategy[str]:
    """Overflow mode names: ``"saturate"`` or ``"wrap"``."""
    return st.sampled_from(OVERFLOW_MODES)


def keys() -> st.SearchStrategy[int]:
    """Stochastic-rounding keys: Python ints in ``[0, 2**32)``.

    Biased toward 0 and the top of the range (2**32 - 1, 2**32 - 2, ...) where
    ``key + i`` wraps mod 2**32 inside a small tensor.

    >>> k = keys()  # e.g. 0, 4294967295, 4294967291, 123456789
    """
    return st.one_of(
        st.sampled_from([0, 1, UINT32_MAX]),
        st.integers(UINT32_MAX - 64, UINT32_MAX),
        st.integers(0, UINT32_MAX),
    )


def tie_values(s: int, min_value: int = INT64_MIN,
               max_value: int = INT64_MAX) -> st.SearchStrategy[int]:
    """Integers exactly half an output LSB away from two results after a right shift by ``s``.

    Each drawn ``x`` satisfies ``x mod 2**s == 2**(s-1)`` (1 <= s <= 64) and
    ``min_value <= x <= max_value``: ``x * 2**-s`` ends in ``.5``. Worked example at
    s = 1: x = 5 is 2.5, x = -5 is -2.5; at s = 4: x = 24 is 1.5 (0b1_1000).

    >>> from hypothesis import given
    >>> @given(tie_values(4, -1000, 1000))
    ... def test_is_tie(x):
    ...     assert x % 16 == 8
    """
    if not 1 <= s <= SHIFT_LIMIT:
        raise ValueError(f"tie_values needs a right shift 1 <= s <= 64, got {s}")
    step, half = 1 << s, 1 << (s - 1)
    # x = a * 2**s + half; the a that keep x in [min_value, max_value]
    a_lo = -((half - min_value) // step)  # ceil((min_value - half) / step)
    a_hi = (max_value - half) // step
    if a_lo > a_hi:
        raise ValueError(f"no tie at shift {s} lies in [{min_value}, {max_value}]")
    corners = sorted({a for a in (a_lo, a_hi, -1, 0, 1) if a_lo <= a <= a_hi})
    return st.one_of(st.sampled_from(corners), st.integers(a_lo, a_hi)).map(lambda a: a * step + half)


# ------------------------------------------------------------------ file fuzzing

_EDITS = ("flip", "set", "insert", "delete", "truncate", "duplicate", "splice")


@st.composite
def mutated_bytes(draw, seeds: Sequence[bytes], max_edits: int = 6, head: int = 64):
    """One of ``seeds`` with up to ``max_edits`` byte edits (bit flip, overwrite, insert,
    delete, truncate, duplicate a run, splice in random bytes), or random bytes one time in
    ten. Positions favour the first ``head`` and last ``head`` bytes, where headers and zip
    directories live, so that mutations reach parsing rather than pixel values."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=256))
    buf = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, max_edits))):
        if not buf:
            buf.extend(draw(st.binary(min_size=1, max_size=8)))
            continue
        n = len(buf)
        region = draw(st.sampled_from(("head", "tail", "any")))
        if region == "head":
            pos = draw(st.integers(0, min(head, n) - 1))
        elif region == "tail":
            pos = draw(st.integers(max(0, n - head), n - 1))
        else:
            pos = draw(st.integers(0, n - 1))
        op = draw(st.sampled_from(_EDITS))
        if op == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[pos] = draw(st.sampled_from((0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255)))))
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[pos:pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del buf[pos:]
        elif op == "duplicate":
            buf[pos:pos] = buf[pos:pos + draw(st.integers(1, 64))]
        else:
            buf[pos:pos + draw(st.integers(0, 8))] = draw(st.binary(max_size=8))
    return bytes(buf)


def json_values(max_leaves: int = 6):
    """Any JSON value, biased to what breaks readers: wrong types, null, huge and negative
    numbers, empty containers, strings that look like formats."""
    leaves = st.one_of(
        st.none(), st.booleans(),
        st.sampled_from((0, -1, 1, 2**31, -2**63, 2**64, 10**30)), st.integers(),
        st.sampled_from((0.5, -0.0, 1e308, float("inf"), float("nan"))),
        st.sampled_from(("", "Q16.15", "Q0.0", "Q99.1", "half_up", "stochastic", "wrap", "fp", "..")),
        st.text(max_size=8),
    )
    return st.recursive(leaves, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), kids, max_size=3)),
                        max_leaves=max_leaves)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_json(draw, doc, max_edits: int = 3):
    """``doc`` (a JSON document) with up to ``max_edits`` structural edits: a value
    replaced by :func:`json_values`, a key deleted, or an element duplicated. Returns the
    edited document (a deep copy; ``doc`` is not changed)."""
    import copy

    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(json_values())
            continue
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(("replace", "delete", "duplicate")))
        if op == "replace":
            parent[path[-1]] = draw(json_values())
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        else:
            parent[str(path[-1]) + "_"] = copy.deepcopy(parent[path[-1]])
    return doc
