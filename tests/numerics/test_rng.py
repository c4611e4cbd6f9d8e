"""lowbias32 and sr_key: known answers, bijectivity, determinism, distinctness, ranges."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fxtrain.numerics import ROLES, lowbias32, sr_key

M32 = 0xFFFFFFFF

# Computed independently in plain Python ints from the published definition
# (x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16, mod 2**32).
KNOWN = {0: 0, 1: 0x688990C0, 2: 0xD1132181, 0xFFFFFFFF: 0x6768824A}


def _inverse(y: int) -> int:
    """Inverse of lowbias32: undo each step in reverse, with the multiplicative inverses."""
    y ^= y >> 16
    y = (y * pow(0x846CA68B, -1, 2**32)) & M32
    y ^= (y >> 15) ^ (y >> 30)  # inverse of x ^= x >> 15 on 32 bits
    y = (y * pow(0x7FEB352D, -1, 2**32)) & M32
    y ^= y >> 16
    return y


@pytest.mark.parametrize("x, want", sorted(KNOWN.items()))
def test_known_answers(x, want):
    assert int(lowbias32(np.uint32(x))) == want
    assert _inverse(want) == x


def test_shape_and_dtype():
    out = lowbias32(np.arange(12, dtype=np.int64).reshape(3, 4))
    assert out.shape == (3, 4) and out.dtype == np.uint32
    assert lowbias32(np.uint32(1)).shape == ()


@given(hnp.arrays(np.uint32, st.integers(0, 64), elements=st.integers(0, M32)))
def test_inverse_recovers_the_input(x):
    """A left inverse on every sampled word proves injectivity there (so no collisions)."""
    y = lowbias32(x)
    assert [_inverse(int(v)) for v in y.tolist()] == x.tolist()


def test_bijective_on_a_dense_sample():
    """2**18 consecutive words and the top 2**18 words map to 2**19 distinct words."""
    base = np.arange(2**18, dtype=np.uint64)
    x = np.concatenate([base, base + np.uint64(2**32 - 2**18)]).astype(np.uint32)
    assert np.unique(lowbias32(x)).size == x.size


def test_top_bits_are_balanced_on_consecutive_counters():
    """Stochastic rounding uses the top bits of R(i) for consecutive i: each is ~1/2."""
    y = lowbias32(np.arange(2**16, dtype=np.uint32)).astype(np.uint64)
    for bit in range(24, 32):
        ones = int(((y >> np.uint64(bit)) & np.uint64(1)).sum())
        assert abs(ones - 2**15) <= 6 * 128  # 6 sigma of Binomial(2**16, 1/2)


def test_sr_key_is_a_deterministic_uint32():
    k = sr_key(1, 2, 3, "weight")
    assert isinstance(k, int) and 0 <= k <= M32
    assert sr_key(1, 2, 3, "weight") == k


def test_sr_key_follows_the_contract_derivation():
    """k = h(h(h(h(seed ^ 0x9E3779B9) ^ step) ^ layer) ^ role_id), h = lowbias32 -- the
    oracle's (plain Python ints), so a mutant of the engine's hash cannot also move the
    expectation; plus the contract's literal key words (docs/numerics.md 5.4)."""
    from reference.numerics import lowbias32 as h

    for seed, step, layer, role in [(0, 0, 0, "activation"), (M32, M32, M32, "constant"),
                                    (12345, 7, 3, "momentum")]:
        k = h(h(h(h(seed ^ 0x9E3779B9) ^ step) ^ layer) ^ ROLES.index(role))
        assert sr_key(seed, step, layer, role) == k
    assert sr_key(0x9E3779B9, 0, 0, "activation") == 0
    assert sr_key(0x9E3779B9, 0, 0, "weight") == 0x688990C0
    assert sr_key(0, 0, 0, "activation") == 0x41F39E5E
    assert sr_key(0, 0, 0, "weight") == 0x2B4B55BB


def test_sr_key_distinct_over_a_grid():
    keys = [sr_key(seed, step, layer, role)
            for seed, step, layer, role in itertools.product(range(4), range(4), range(4), ROLES)]
    assert len(set(keys)) == len(keys) == 512


@given(st.integers(0, M32), st.integers(0, M32), st.integers(0, M32), st.sampled_from(ROLES))
def test_sr_key_changes_with_every_field(seed, step, layer, role):
    k = sr_key(seed, step, layer, role)
    assert sr_key(seed ^ 1, step, layer, role) != k
    assert sr_key(seed, step ^ 1, layer, role) != k
    assert sr_key(seed, step, layer ^ 1, role) != k
    other = ROLES[(ROLES.index(role) + 1) % len(ROLES)]
    assert sr_key(seed, step, layer, other) != k


def test_roles_order_is_the_contract():
    assert ROLES == ("activation", "weight", "bias", "local_gradient", "weight_gradient",
                     "momentum", "update", "constant")


@pytest.mark.parametrize("args, message", [
    ((-1, 0, 0, "weight"), "seed=-1"),
    ((2**32, 0, 0, "weight"), "seed=4294967296"),
    ((0, -5, 0, "weight"), "step=-5"),
    ((0, 0, 2**32, "weight"), "layer=4294967296"),
    ((0, 1.0, 0, "weight"), "step=1.0"),
    ((True, 0, 0, "weight"), "seed=True"),
    ((0, 0, 0, "weights"), "unknown role 'weights'"),
])
def test_sr_key_rejects_bad_fields(args, message):
    with pytest.raises(ValueError, match=message):
        sr_key(*args)


@pytest.mark.parametrize("x, exc, message", [
    (np.array([-1]), ValueError, r"\[0, 2\*\*32\)"),
    (np.array([2**32], dtype=np.int64), ValueError, r"\[0, 2\*\*32\)"),
    (np.array([1.5]), TypeError, "float64"),
])
def test_lowbias32_rejects_bad_words(x, exc, message):
    with pytest.raises(exc, match=message):
        lowbias32(x)
