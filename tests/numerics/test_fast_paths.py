"""The specialised hot-path loops (fxtrain/numerics/_fast.py) and the general kernel
give the same bits and counts: requantize() uses the former for shifts 1..62, so the
differential tests against the oracle cover them, and this pins the general kernel
(used for index=, s <= 0, s > 62, stochastic s > 32) to them on the shared range."""
import numpy as np
import pytest

from fxtrain.numerics import QFormat
from fxtrain.numerics import _fast as FAST
from fxtrain.numerics import _kernels as K

NO_INDEX = np.zeros(1, np.int64)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
@pytest.mark.parametrize("mode", range(6))
def test_fast_loops_equal_general_kernel(dtype, mode):
    rng = np.random.default_rng(mode)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, 4000, dtype=dtype, endpoint=True)
    x[:6] = [info.min, info.max, 0, -1, 1, info.min + 1]
    for s in (1, 2, 7, 8, 16, 31, 32, 33, 47, 62):
        if mode == K.STOCHASTIC and s > 32:
            continue
        for ovf in (K.SATURATE, K.WRAP):
            for w in (2, 9, 16, 32):
                fast = np.empty(x.size, QFormat(w, 0).dtype)
                slow = np.empty_like(fast)
                args = (x, fast, np.int64(s), np.int64(ovf), np.int64(w))
                n_fast = (FAST.DETERMINISTIC[mode](*args) if mode < K.STOCHASTIC
                          else FAST.stochastic_loop(*args, np.int64(0xFFFFFF00)))
                n_slow = K.requant_serial(x, slow, np.int64(s), np.int64(mode), np.int64(ovf),
                                          np.int64(w), np.int64(0xFFFFFF00), NO_INDEX, False)
                np.testing.assert_array_equal(fast, slow, err_msg=f"s={s} ovf={ovf} w={w}")
                assert n_fast == n_slow
