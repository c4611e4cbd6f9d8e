"""The tile runner: same bits with any worker count, usable again after a fork."""
import multiprocessing as mp
import os

import numpy as np
import pytest

import fxtrain.ops as O
from fxtrain.ops import _threads
from fxtrain.ops import conv as conv_mod


def _conv_all(a, w, e):
    return (O.conv2d_fp(a, w, 1, 1), O.conv2d_bp(e, w, a.shape[2:], 1, 1),
            O.conv2d_wu(e, a, 3, 1, 1), O.conv2d_bp(e[:, :, ::2, ::2], w, a.shape[2:], 2, 1))


def _case():
    rng = np.random.default_rng(7)
    a = rng.integers(-(1 << 15), 1 << 15, (6, 3, 8, 8)).astype(np.int16)
    w = rng.integers(-(1 << 15), 1 << 15, (4, 3, 3, 3)).astype(np.int16)
    e = rng.integers(-(1 << 15), 1 << 15, (6, 4, 8, 8)).astype(np.int16)
    return a, w, e


def test_worker_count_does_not_change_bits(monkeypatch):
    monkeypatch.setattr(conv_mod, "TILE_ELEMS", 1)
    a, w, e = _case()
    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(_threads.RUNNER, "workers", workers)
        results.append(_conv_all(a, w, e))
    for other in results[1:]:
        for x, y in zip(results[0], other):
            np.testing.assert_array_equal(x, y)


def _child(q):
    a, w, e = _case()
    q.put([r.tobytes() for r in _conv_all(a, w, e)])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_runner_works_in_a_forked_child(monkeypatch):
    monkeypatch.setattr(conv_mod, "TILE_ELEMS", 1)
    a, w, e = _case()
    here = [r.tobytes() for r in _conv_all(a, w, e)]  # the parent's pool now exists
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,), daemon=True)
    p.start()
    got = q.get(timeout=60)  # a child stuck on the parent's dead pool never answers
    p.join(timeout=60)
    assert got == here


def test_bad_thread_count_is_refused(monkeypatch):
    monkeypatch.setenv("FXTRAIN_OPS_THREADS", "0")
    with pytest.raises(ValueError, match="FXTRAIN_OPS_THREADS"):
        _threads._worker_count()
    monkeypatch.setenv("FXTRAIN_OPS_THREADS", "two")
    with pytest.raises(ValueError, match="FXTRAIN_OPS_THREADS"):
        _threads._worker_count()
    monkeypatch.setenv("FXTRAIN_OPS_THREADS", "256")
    with pytest.raises(ValueError, match="at most 255"):
        _threads._worker_count()


def _fresh_runner(monkeypatch, workers: int, spin_us: str = "500"):
    monkeypatch.setenv("FXTRAIN_OPS_THREADS", str(workers))
    monkeypatch.setenv("FXTRAIN_OPS_SPIN_US", spin_us)
    return _threads._TileRunner()


@pytest.mark.parametrize("spin_us", ["0", "500"])
def test_parts_come_back_in_order_from_every_thread(monkeypatch, spin_us):
    import threading

    runner = _fresh_runner(monkeypatch, 3, spin_us)
    for _ in range(50):  # many hand-offs: each generation runs each part exactly once
        out = runner.run(lambda part: (list(part), threading.get_ident()), list(range(7)),
                         uses_blas=False)
        assert [p for p, _ in out] == [[0, 3, 6], [1, 4], [2, 5]]
        assert out[0][1] == threading.get_ident()  # the caller runs the first part
        assert len({t for _, t in out}) == 3


def test_an_exception_in_a_worker_part_reaches_the_caller(monkeypatch):
    runner = _fresh_runner(monkeypatch, 2)
    finished = []

    def job(part):
        if part[0] == 1:
            raise ZeroDivisionError("part one")
        finished.append(part)
        return part

    with pytest.raises(ZeroDivisionError, match="part one"):
        runner.run(job, [0, 1, 2, 3], uses_blas=False)
    assert finished == [[0, 2]]
    assert runner.run(lambda p: sum(p), [0, 1, 2, 3], uses_blas=False) == [2, 4]  # still usable


def test_fewer_tiles_than_workers_and_a_shrinking_worker_count(monkeypatch):
    runner = _fresh_runner(monkeypatch, 3)
    assert runner.run(lambda p: p, [5, 6], uses_blas=False) == [[5], [6]]
    assert runner.run(lambda p: p, [1, 2, 3], uses_blas=False) == [[1], [2], [3]]
    runner.workers = 2  # the third thread stays idle and must not run a part
    for _ in range(20):
        assert runner.run(lambda p: p, [1, 2, 3], uses_blas=False) == [[1, 3], [2]]


def test_bad_spin_time_is_refused(monkeypatch):
    for bad in ("-1", "soon"):
        monkeypatch.setenv("FXTRAIN_OPS_SPIN_US", bad)
        with pytest.raises(ValueError, match="FXTRAIN_OPS_SPIN_US"):
            _threads._spin_us()


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_shared_jobs_take_every_item_exactly_once(monkeypatch, workers):
    from fxtrain.ops import _atomic

    runner = _fresh_runner(monkeypatch, workers)
    for items in (1, 2, 37):
        taken = np.zeros(1, dtype=np.int64)

        def job():
            got = []
            while (t := _atomic.add(taken, 0, 1)) < items:
                got.append(t)
            return got

        parts = runner.share(job, items)
        assert len(parts) == min(workers, items)
        assert sorted(t for part in parts for t in part) == list(range(items))
