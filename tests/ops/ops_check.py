"""``check_op(name, *args, **kwargs)``: run an engine op and its reference twin on the same
arguments and require the same bits, shapes and dtypes (tuples compared item by item)."""
from __future__ import annotations

import numpy as np

import reference.ops as R
from fxtrain.ops.table import OPS


def assert_same(got, want, where: str = "result") -> None:
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
        return
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), f"{where}: engine gave {type(got).__name__}"
        assert got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} != {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=where)
        return
    assert type(got) is type(want) and got == want, f"{where}: {got!r} != {want!r}"


def check_op(name: str, *args, **kwargs):
    """Engine op ``name`` == its reference twin on these arguments; returns the result."""
    spec = OPS[name]
    got = spec.fn(*args, **kwargs)
    assert_same(got, getattr(R, spec.ref)(*args, **kwargs), name)
    return got
