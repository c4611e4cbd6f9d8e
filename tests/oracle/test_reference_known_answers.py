"""Known answers for the oracle in reference/, computed by hand or by independent means.

Every expected value here was worked out from docs/numerics.md by hand (the tie tables,
the u thresholds, the wrap/saturate edges) or with a separate implementation (numpy
uint32 arithmetic for lowbias32), never by running the oracle and pasting its output.
"""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference as R

ROOT = Path(__file__).resolve().parents[2]
MODES = ("floor", "trunc", "half_up", "half_even", "half_away")

# (x, s) -> (floor, trunc, half_up, half_even, half_away), worked by hand from the contract.
TIES = {
    (1, 1): (0, 0, 1, 0, 1), (-1, 1): (-1, 0, 0, 0, -1),
    (3, 1): (1, 1, 2, 2, 2), (-3, 1): (-2, -1, -1, -2, -2),
    (5, 1): (2, 2, 3, 2, 3), (-5, 1): (-3, -2, -2, -2, -3),
    (7, 1): (3, 3, 4, 4, 4), (-7, 1): (-4, -3, -3, -4, -4),
    (2, 2): (0, 0, 1, 0, 1), (-2, 2): (-1, 0, 0, 0, -1),
    (6, 2): (1, 1, 2, 2, 2), (-6, 2): (-2, -1, -1, -2, -2),
    (10, 2): (2, 2, 3, 2, 3), (-10, 2): (-3, -2, -2, -2, -3),
    (5, 2): (1, 1, 1, 1, 1), (-5, 2): (-2, -1, -1, -1, -1),
    (7, 2): (1, 1, 2, 2, 2), (-7, 2): (-2, -1, -2, -2, -2),
    (0, 5): (0, 0, 0, 0, 0), (-32, 5): (-1, -1, -1, -1, -1),
}


@pytest.mark.parametrize("x,s", sorted(TIES))
def test_tie_table(x, s):
    got = tuple(R.round_shift(x, s, m) for m in MODES)
    assert got == TIES[(x, s)]


def test_tie_table_through_requantize():
    for i, mode in enumerate(MODES):
        for s in (1, 2):
            xs = [x for (x, ss) in sorted(TIES) if ss == s]
            y, n = R.requantize(np.array(xs, dtype=np.int64), s, 16, 0, mode)
            np.testing.assert_array_equal(y, [TIES[(x, s)][i] for x in xs])
            assert y.dtype == np.int64 and n == 0


def _doc_table(title: str) -> dict:
    """Rows x -> (floor..half_away) of a tie table in docs/numerics.md."""
    text = (ROOT / "docs" / "numerics.md").read_text()
    block = text.split(title, 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in block.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[int(cells[0])] = tuple(int(c) for c in cells[-5:])
    return rows


@pytest.mark.parametrize("title,s", [("**Worked ties, `s = 1`**", 1),
                                     ("**Worked ties and near-ties, `s = 2`**", 2)])
def test_docs_tables_match_hand_values(title, s):
    rows = _doc_table(title)
    assert len(rows) >= 8
    for x, expected in rows.items():
        assert TIES[(x, s)] == expected, f"docs row x={x}"


def test_left_shift_is_exact_in_every_mode():
    for mode in R.ROUNDING_MODES:
        assert R.round_shift(-3, -2, mode) == -12
        assert R.round_shift(5, 0, mode) == 5
    assert R.round_shift(1, -64, "half_even") == 18446744073709551616


def test_requantize_left_shift_overflow():
    y, n = R.requantize([1, -1, 300], 0, 8, 2, "floor", "saturate")
    np.testing.assert_array_equal(y, [4, -4, 127])
    assert n == 1
    y, n = R.requantize([1, -1, 300], 0, 8, 2, "floor", "wrap")  # 1200 = 4*256 + 176
    np.testing.assert_array_equal(y, [4, -4, -80])
    assert n == 1


# ---------------------------------------------------------------- lowbias32 / sr_key

def _lowbias32_np(x: np.ndarray) -> np.ndarray:
    """A second implementation: numpy uint32 arithmetic, which wraps by itself."""
    v = x.astype(np.uint32)
    v ^= v >> np.uint32(16)
    v *= np.uint32(0x7FEB352D)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x846CA68B)
    v ^= v >> np.uint32(16)
    return v


def test_lowbias32_known_answers():
    assert R.lowbias32(0) == 0
    assert R.lowbias32(1) == 0x688990C0
    assert R.lowbias32(2) == 0xD1132181
    assert R.lowbias32(0xFFFFFFFF) == 0x6768824A


def test_lowbias32_matches_uint32_arithmetic():
    xs = np.concatenate([np.arange(4096), np.arange(2**32 - 4096, 2**32),
                         np.random.default_rng(7).integers(0, 2**32, 4096)]).astype(np.uint64)
    expected = _lowbias32_np(xs)
    got = [R.lowbias32(int(x)) for x in xs]
    np.testing.assert_array_equal(np.array(got, dtype=np.uint64), expected.astype(np.uint64))
    assert len(set(got[:8192])) == 8192  # a bijection: distinct inputs, distinct words


@pytest.mark.parametrize("bad", [-1, 2**32, 1.0, True, None])
def test_lowbias32_rejects_non_words(bad):
    with pytest.raises(ValueError):
        R.lowbias32(bad)


def test_sr_key_known_answers():
    salt = 0x9E3779B9
    assert R.sr_key(salt, 0, 0, "activation") == 0          # every hash input is 0
    assert R.sr_key(salt, 0, 0, "weight") == 0x688990C0     # lowbias32(1)
    assert R.sr_key(salt ^ 1, 0x688990C0, 0, "weight") == 0x688990C0  # 1 -> R(1), ^R(1) -> 0


def test_sr_key_matches_uint32_chain():
    for seed, step, layer in [(0, 0, 0), (1, 2, 3), (2**32 - 1, 123456, 7), (42, 2**32 - 1, 0)]:
        for role_id, role in enumerate(R.ROLES):
            k = _lowbias32_np(np.array([seed ^ 0x9E3779B9]))
            for part in (step, layer, role_id):
                k = _lowbias32_np(k ^ np.uint32(part))
            assert R.sr_key(seed, step, layer, role) == int(k[0])


def test_roles_and_version():
    # 1.1: accumulator widths per layer and phase, fpl19 conv sums exact (docs/numerics.md)
    assert R.CONTRACT_VERSION == "1.1"
    from fxtrain.numerics import CONTRACT_VERSION

    assert CONTRACT_VERSION == R.CONTRACT_VERSION
    assert R.ROLES == ("activation", "weight", "bias", "local_gradient", "weight_gradient",
                       "momentum", "update", "constant")


@pytest.mark.parametrize("args", [(-1, 0, 0, "weight"), (0, 2**32, 0, "weight"),
                                  (0, 0, 1.5, "weight"), (True, 0, 0, "weight"),
                                  (0, 0, 0, "weights"), (0, 0, 0, 1)])
def test_sr_key_rejects_bad_input(args):
    with pytest.raises(ValueError):
        R.sr_key(*args)


# ---------------------------------------------------------------- stochastic rounding

W1, W2 = 0x688990C0, 0xD1132181  # lowbias32(1), lowbias32(2)


def test_u_construction():
    assert R.stochastic_addend(W1, 1) == 0 and R.stochastic_addend(W2, 1) == 1
    assert R.stochastic_addend(W1, 8) == 0x68 and R.stochastic_addend(W2, 8) == 0xD1
    assert R.stochastic_addend(W1, 32) == 0x688990C0
    assert R.stochastic_addend(W1, 40) == 0x688990C000
    assert R.stochastic_addend(W1, 64) == 0x688990C000000000


@pytest.mark.parametrize("s,threshold", [(32, 0x97766F40), (40, 0x97766F4000),
                                         (64, 0x97766F4000000000)])
def test_stochastic_threshold(s, threshold):
    # x = 3 * 2**s + r: rounds up to 4 iff r + u >= 2**s iff r >= 2**s - u = threshold
    base = 3 * 2**s
    assert R.round_shift(base + threshold, s, "stochastic", W1) == 4
    assert R.round_shift(base + threshold - 1, s, "stochastic", W1) == 3
    assert R.round_shift(-base + threshold, s, "stochastic", W1) == -2
    assert R.round_shift(-base + threshold - 1, s, "stochastic", W1) == -3


def test_stochastic_s1_with_key_zero():
    # key 0: R(0) = 0, R(1) = W1 (top bit 0), R(2) = W2 (top bit 1)
    y, _ = R.requantize([1, 1, 1], 1, 16, 0, "stochastic", key=0)
    np.testing.assert_array_equal(y, [0, 0, 1])
    y, _ = R.requantize([-1, -1, -1], 1, 16, 0, "stochastic", key=0)
    np.testing.assert_array_equal(y, [-1, -1, 0])
    # key 2**32 - 1: the counter wraps, i = 1, 2, 3 hash 0, 1, 2; only W2 has its top bit set
    y, _ = R.requantize([[1, 1], [1, 1]], 1, 16, 0, "stochastic", key=2**32 - 1)
    np.testing.assert_array_equal(y, [[0, 0], [0, 1]])


def test_stochastic_s64_int64_extremes():
    assert R.round_shift(-1, 64, "stochastic", 0) == -1
    assert R.round_shift(-1, 64, "stochastic", 1) == 0
    assert R.round_shift(2**63 - 1, 64, "stochastic", W2) == 1  # u = W2 * 2**32 >= 2**63 + 1
    assert R.round_shift(2**63 - 1, 64, "stochastic", W1) == 0


def test_stochastic_extreme_words():
    for s in range(1, 33):
        for x in (-(2**s) - 1, -1, 0, 1, 2**s + 1, 7 * 2**s):
            assert R.round_shift(x, s, "stochastic", 0) == x // 2**s
            assert R.round_shift(x, s, "stochastic", 2**32 - 1) == -((-x) // 2**s)  # ceil


@given(x=st.integers(-(2**70), 2**70), s=st.integers(1, 64), word=st.integers(0, 2**32 - 1))
def test_stochastic_is_floor_or_floor_plus_one(x, s, word):
    lo = x // 2**s
    v = R.round_shift(x, s, "stochastic", word)
    assert v in (lo, lo + 1)
    assert v == lo + (1 if x % 2**s + R.stochastic_addend(word, s) >= 2**s else 0)


def test_tiles_with_key_offset_and_explicit_index():
    x = np.arange(-50, 50, dtype=np.int64).reshape(4, 25) * 37
    key = 0xFFFFFFF0  # the counter wraps past 2**32 inside the tensor
    whole, _ = R.requantize(x, 6, 16, 0, "stochastic", key=key)
    flat, _ = R.requantize(x.ravel(), 6, 16, 0, "stochastic", key=key)
    np.testing.assert_array_equal(whole.ravel(), flat)  # row-major flat index
    for o in (1, 13, 60):
        tile, _ = R.requantize(x.ravel()[o:], 6, 16, 0, "stochastic", key=(key + o) % 2**32)
        np.testing.assert_array_equal(tile, flat[o:])
    part, _ = R.requantize(x[1:3, 5:9], 6, 16, 0, "stochastic", key=key,
                           index=np.arange(100).reshape(4, 25)[1:3, 5:9])
    np.testing.assert_array_equal(part, whole[1:3, 5:9])


def test_stochastic_needs_key_even_for_left_shift():
    with pytest.raises(ValueError, match="key"):
        R.requantize([1, 2], 0, 16, 0, "stochastic")
    with pytest.raises(ValueError, match="key"):
        R.requantize([1, 2], 0, 16, 3, "stochastic")
    y, _ = R.requantize([1, -2], 0, 16, 3, "stochastic", key=5)
    np.testing.assert_array_equal(y, [8, -16])


# ---------------------------------------------------------------- overflow

def test_saturate_wrap_edges_16():
    xs = [32767, 32768, -32768, -32769, 65536, -65537, 40000]
    np.testing.assert_array_equal(R.saturate(xs, 16), [32767, 32767, -32768, -32768, 32767, -32768, 32767])
    np.testing.assert_array_equal(R.wrap(xs, 16), [32767, -32768, -32768, 32767, 0, -1, -25536])
    assert R.overflow(65536, 16, "wrap") == (0, True)
    assert R.overflow(32767, 16, "saturate") == (32767, False)


def test_saturate_wrap_two_bits():
    xs = [-3, -2, -1, 0, 1, 2, 3, 4]
    np.testing.assert_array_equal(R.wrap(xs, 2), [1, -2, -1, 0, 1, -2, -1, 0])
    np.testing.assert_array_equal(R.saturate(xs, 2), [-2, -2, -1, 0, 1, 1, 1, 1])


def test_wrap_64_bits_on_python_ints():
    np.testing.assert_array_equal(R.wrap([2**63, -(2**63) - 1, 2**64 + 5], 64),
                                  [-(2**63), 2**63 - 1, 5])
    np.testing.assert_array_equal(R.saturate([2**70], 64), [2**63 - 1])


@pytest.mark.parametrize("bits", [1, 65, 16.0])
def test_overflow_helpers_reject_bits(bits):
    with pytest.raises(ValueError):
        R.wrap([1], bits)


# ---------------------------------------------------------------- quantize

@pytest.mark.parametrize("mode,expected", [
    ("floor", [0, 1, -3, 2, 3, -4]), ("trunc", [0, 1, -2, 2, 3, -3]),
    ("half_up", [1, 2, -2, 3, 4, -3]), ("half_even", [0, 2, -2, 2, 4, -4]),
    ("half_away", [1, 2, -3, 3, 4, -4]),
])
def test_quantize_ties(mode, expected):
    y, n = R.quantize([0.5, 1.5, -2.5, 2.5, 3.5, -3.5], 8, 0, mode)
    np.testing.assert_array_equal(y, expected)
    assert n == 0


def test_quantize_scaling_is_exact():
    # 3.5 * 2**40 at f = -40 is the tie 3.5; -0.0 is 0; 2**-1074 (subnormal) at f = 64 is 2**-1010
    y, _ = R.quantize([3.5 * 2.0**40, -3.5 * 2.0**40], 8, -40, "half_even")
    np.testing.assert_array_equal(y, [4, -4])
    tiny = 5e-324
    assert R.quantize([tiny, -tiny, -0.0], 8, 64, "floor")[0].tolist() == [0, -1, 0]
    assert R.quantize([tiny, -tiny], 8, 64, "trunc")[0].tolist() == [0, 0]
    assert R.quantize([tiny, -tiny], 8, 64, "half_away")[0].tolist() == [0, 0]
    above = float(np.nextafter(0.5, 1.0))  # 0.5 + 2**-53: not a tie
    assert R.quantize([above, -above], 8, 0, "half_even")[0].tolist() == [1, -1]
    assert R.quantize([7, 0.75], 8, -1, "half_even")[0].tolist() == [4, 0]  # 3.5, 0.375


def test_quantize_overflow_and_infinities():
    y, n = R.quantize([1.0, -1.0, 1e300, float("inf"), float("-inf")], 16, 15)
    np.testing.assert_array_equal(y, [32767, -32768, 32767, 32767, -32768])
    assert n == 4
    y, n = R.quantize([1.0, 0.5], 16, 15, "floor", "wrap")
    np.testing.assert_array_equal(y, [-32768, 16384])
    assert n == 1
    with pytest.raises(ValueError, match="2 of 3 elements are infinite"):
        R.quantize([float("inf"), 0.0, float("-inf")], 16, 15, overflow="wrap")


def test_quantize_nan_and_stochastic_rejected():
    with pytest.raises(ValueError, match="2 of 3 elements are NaN"):
        R.quantize([float("nan"), 1.0, float("nan")], 16, 8)
    with pytest.raises(ValueError, match="stochastic"):
        R.quantize([0.5], 16, 8, "stochastic")


def test_quantize_agrees_with_round_shift():
    # two derivations inside the oracle: Fraction rounding vs divmod by 2**s
    for s in range(1, 6):
        for x in range(-70, 71):
            for mode in MODES:
                q, _ = R.quantize([float(x)], 32, -s, mode)
                assert q[0] == R.round_shift(x, s, mode), (x, s, mode)


# ---------------------------------------------------------------- validation and accumulators

@pytest.mark.parametrize("call,err", [
    (lambda: R.requantize([1], 0, 1, 0, "floor"), ValueError),         # w < 2
    (lambda: R.requantize([1], 0, 33, 0, "floor"), ValueError),        # w > 32
    (lambda: R.requantize([1], 0, 16, 65, "floor"), ValueError),       # f > 64
    (lambda: R.requantize([1], 100, 16, 0, "floor"), ValueError),      # s > 64
    (lambda: R.requantize([1], 0, 16, 0, "round"), ValueError),
    (lambda: R.requantize([1], 0, 16, 0, "floor", "clip"), ValueError),
    (lambda: R.requantize([1.5], 0, 16, 0, "floor"), TypeError),
    (lambda: R.requantize(np.array([True]), 0, 16, 0, "floor"), TypeError),
    (lambda: R.requantize([1, 2], 1, 16, 0, "stochastic", key=0, index=[0]), ValueError),
    (lambda: R.requantize([1], 1, 16, 0, "stochastic", key=2**32), ValueError),
])
def test_requantize_rejects_bad_input(call, err):
    with pytest.raises(err):
        call()


def test_acc_sum_wraps():
    assert R.acc_sum([2**31 - 1, 1]) == -(2**31)
    assert R.acc_sum([30000, 30000], acc_bits=16) == -5536
    assert R.acc_sum(np.full((3, 4), 2**30, dtype=np.int64)) == 0  # 12 * 2**30 = 3 * 2**32


def test_acc_matmul_small():
    a, b = [[1, 2], [3, 4]], [[5, 6], [7, 8]]
    np.testing.assert_array_equal(R.acc_matmul(a, b), [[19, 22], [43, 50]])
    np.testing.assert_array_equal(R.acc_matmul(a, b, acc_bits=4), [[3, 6], [-5, 2]])


def test_oracle_never_imports_the_engine():
    code = ("import sys, reference; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('fxtrain', 'numba')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    src = (ROOT / "reference" / "numerics.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(fxtrain|numba)", src, re.M)
