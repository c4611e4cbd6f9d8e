"""Counter-based random words for stochastic rounding.

The random word for element ``i`` of a tensor whose key is ``key`` is

    R(i) = lowbias32((key + i) mod 2**32)

so it depends only on (key, i): hardware may evaluate elements in any order, tile or
unroll, and reproduce the same bits (a tile starting at flat index ``o`` may use
``key + o`` and local indices). Keys come from :func:`sr_key`.
"""
from __future__ import annotations

import numpy as np

from .formats import _is_int

#: Tensor roles, in the order of their ids in :func:`sr_key`.
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

_M32 = 0xFFFFFFFF
_SEED_SALT = 0x9E3779B9


def lowbias32(x) -> np.ndarray:
    """Chris Wellons' lowbias32 hash on uint32 words, all arithmetic mod 2**32.

    ``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``.
    A bijection on [0, 2**32). Known answers: 0 -> 0, 1 -> 0x688990c0,
    2 -> 0xd1132181, 0xffffffff -> 0x6768824a. Accepts any integer array-like
    with values in [0, 2**32); returns uint32 of the same shape.
    """
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"lowbias32 takes unsigned 32-bit integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > _M32):
        raise ValueError("lowbias32 inputs must lie in [0, 2**32)")
    v = np.array(a, dtype=np.uint32, ndmin=1)  # ndmin: numpy array ops wrap silently, scalars warn
    v ^= v >> np.uint32(16)
    v *= np.uint32(0x7FEB352D)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x846CA68B)
    v ^= v >> np.uint32(16)
    return v.reshape(a.shape)


def _lowbias32_int(x: int) -> int:
    # plain Python ints: numpy scalars cost ~15 us per hash, and keys are made per tensor
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def sr_key(seed: int, step: int, layer: int, role: str) -> int:
    """Stochastic-rounding key of one tensor: a uint32 from (seed, step, layer, role).

    All of seed, step, layer are integers in [0, 2**32); ``role`` is one of
    :data:`ROLES` with id = its position. With ``^`` xor and all arithmetic mod 2**32::

        k = lowbias32(seed ^ 0x9E3779B9)
        k = lowbias32(k ^ step)
        k = lowbias32(k ^ layer)
        k = lowbias32(k ^ role_id)

    Chaining a bijective hash keeps distinct (seed, step, layer, role) tuples on
    well-mixed keys; hardware needs only the hash it already has for rounding.
    """
    for name, v in (("seed", seed), ("step", step), ("layer", layer)):
        if not _is_int(v) or not 0 <= int(v) <= _M32:
            raise ValueError(f"sr_key: {name}={v!r} must be an integer in [0, 2**32)")
    if role not in ROLES:
        raise ValueError(f"sr_key: unknown role {role!r}; expected one of {ROLES}")
    k = _lowbias32_int(int(seed) ^ _SEED_SALT)
    k = _lowbias32_int(k ^ int(step))
    k = _lowbias32_int(k ^ int(layer))
    return _lowbias32_int(k ^ ROLES.index(role))
