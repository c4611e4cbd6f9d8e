"""Native tile batches (fxtrain/ops/_native.py): the direct kernels' parts (and the 2x2
pool's BP) run by worker threads without Python give the bits of the Python-job path,
with any worker count, with workers that spin or sleep, interleaved with Python jobs,
and from two calling threads at once."""
import threading

import numpy as np
import pytest

import fxtrain.ops as O
from fxtrain.numerics import QFormat, requantize
from fxtrain.ops import _threads
from fxtrain.ops import conv as conv_mod
from fxtrain.ops import conv_wu as wu_mod

FMT = QFormat(16, 6)


def _case(seed: int = 3, n: int = 7):
    rng = np.random.default_rng(seed)
    a = rng.integers(-(1 << 15), 1 << 15, (n, 5, 9, 9)).astype(np.int16)
    w = rng.integers(-(1 << 12), 1 << 12, (6, 5, 3, 3)).astype(np.int16)
    e = rng.integers(-(1 << 15), 1 << 15, (n, 6, 9, 9)).astype(np.int16)
    mask = (rng.random((n, 5, 9, 9)) < 0.5).astype(np.uint8)
    return a, w, e, mask


def _native(a, w, e, mask):
    """The three kernels of a training step on the native path (int16 operands)."""
    y, m, n_fp, acc_fp = O.conv2d_fp_requant_relu(a, w, 21, FMT, "half_up", pad=1, acc_bits=64,
                                                  acc_stats=True)
    d, n_bp, acc_bp = O.conv2d_bp_requant_mask(e, w, (9, 9), mask, 21, FMT, "half_up", pad=1,
                                               acc_bits=48, acc_stats=True)
    g = O.conv2d_wu(e, a, 3, 1, 1, acc_bits=64, groups=1)
    arg = (e[:, :5, :4, :4] & 3).astype(np.uint8)  # a 2x2 pool's argmax of an 8x8 input
    u = O.maxpool_bp_mask(a[:, :, :4, :4], arg, (8, 8), 2, mask[:, :, :8, :8])
    return y, m, d, g, u, (n_fp, acc_fp, n_bp, acc_bp)


def _python(a, w, e, mask):
    """The same results from the Python-job paths: the unfused accumulators (no
    requantization in the kernel) and WU on int32 copies of the operands."""
    y, n_fp = requantize(O.conv2d_fp(a, w, 1, 1, 64), 21, FMT, "half_up", stats=True)
    y, m = O.relu_fp(y, "ge")
    d, n_bp = requantize(O.conv2d_bp(e, w, (9, 9), 1, 1, 48), 21, FMT, "half_up", stats=True)
    d = O.relu_bp(d, mask)
    g = O.conv2d_wu(e.astype(np.int32), a.astype(np.int32), 3, 1, 1, acc_bits=64)
    _, acc_fp = O.conv2d_fp(a, w, 1, 1, 64, stats=True)
    _, acc_bp = O.conv2d_bp(e, w, (9, 9), 1, 1, 48, stats=True)
    arg = (e[:, :5, :4, :4] & 3).astype(np.uint8)
    u = np.zeros((len(a), 5, 8, 8), dtype=np.int16)  # the scatter by its definition
    for ky in range(2):
        for kx in range(2):
            u[:, :, ky::2, kx::2] = np.where(arg == 2 * ky + kx, a[:, :, :4, :4], 0)
    u *= mask[:, :, :8, :8] != 0
    return y, m, d, g, u, (n_fp, acc_fp, n_bp, acc_bp)


def _same(got, want):
    for x, y in zip(got[:5], want[:5]):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    assert got[5] == want[5]


def _use_runner(monkeypatch, workers: int, spin_us: str):
    monkeypatch.setenv("FXTRAIN_OPS_THREADS", str(workers))
    monkeypatch.setenv("FXTRAIN_OPS_SPIN_US", spin_us)
    runner = _threads._TileRunner()
    monkeypatch.setattr(conv_mod, "RUNNER", runner)
    monkeypatch.setattr(wu_mod, "RUNNER", runner)
    return runner


@pytest.mark.parametrize("spin_us", ["0", "500"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_native_parts_equal_the_python_jobs(monkeypatch, workers, spin_us):
    case = _case()
    want = _python(*case)
    _use_runner(monkeypatch, workers, spin_us)
    for _ in range(5):  # several generations: sleeping workers are woken, each part runs once
        _same(_native(*case), want)


def test_native_batches_interleave_with_python_jobs(monkeypatch):
    case = _case(n=5)
    want = _python(*case)
    runner = _use_runner(monkeypatch, 3, "0")
    for i in range(20):
        _same(_native(*case), want)
        parts = runner.run(lambda part: [v * 2 for v in part], list(range(i % 4 + 1)),
                           uses_blas=False)
        assert sorted(v for p in parts for v in p) == [2 * v for v in range(i % 4 + 1)]


def test_two_calling_threads_at_once_get_their_own_results():
    cases = [_case(seed=s) for s in (11, 12)]
    want = [_python(*c) for c in cases]
    got: list = [None, None]
    errors: list = []

    def call(i):
        try:
            for _ in range(10):  # one of the two runs inline whenever the other holds the runner
                got[i] = _native(*cases[i])
                _same(got[i], want[i])
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for i in range(2):
        _same(got[i], want[i])
