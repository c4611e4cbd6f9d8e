"""Run the convolutions' image tiles on a few threads.

Why: the per-tile GEMMs are small, so OpenBLAS's own threads gain nothing on them
(measured on 2 cores: 8.5 ms for cnn1x conv1 FP either way), while two tiles at a time,
each on one core, take 4.4 ms; the int32 kernels of the 16-bit path scale the same way.
The numba kernels release the GIL (``nogil``) and so does numpy's matmul, so plain
threads suffice. Results are bit-identical whatever the thread count: tiles write
disjoint outputs, and partial sums are exact integers.

The calling thread runs the first part itself and ``workers - 1`` long-lived threads
run the others. Between jobs a worker first *spins* (polls an atomic generation counter
without the GIL, :mod:`._atomic`) for ``FXTRAIN_OPS_SPIN_US`` microseconds (default
500; 0 turns it off), then sleeps on a condition variable; the caller likewise spins,
then sleeps, while it waits for the last part. Why: one cnn1x training step hands out
17 tile batches a few hundred microseconds apart, and waking a sleeping thread cost
40-120 us per hand-off on this project's 2-core VM (a ThreadPoolExecutor round trip:
59 us median); spinning made the whole fpl19 step 7-9% faster (docs/benchmarks.md).
The spin is skipped when there are more workers than CPUs this process may use, where
a spinning thread would take a core from a working one. A worker spins inside
:func:`._native.serve`, which runs *native* batches (:meth:`_TileRunner.native`: the
16-bit direct kernels, their arguments in a slot array) without ever taking the GIL,
and returns to Python for Python jobs, to sleep, or to wake a caller that sleeps.

For jobs that call BLAS, BLAS is set to one thread only while the tile batch runs, then
restored (a process-wide setting of numpy's bundled OpenBLAS, found by its exported
symbols; with any other BLAS such jobs run on the calling thread only). The int32 jobs
of the 16-bit path call no BLAS and leave its setting alone. ``FXTRAIN_OPS_THREADS``
(an integer 1..255) overrides the worker count, which defaults to the CPUs this process
may use, at most 4.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
import time
from typing import Callable, Sequence

import numpy as np

from . import _atomic
from . import _native as N

_MAX_DEFAULT = 4
_SPIN_US_DEFAULT = 500


def _env_int(name: str, least: int) -> int | None:
    """Environment variable ``name`` as an integer >= ``least``, None when unset."""
    env = os.environ.get(name)
    if env is None:
        return None
    try:
        v = int(env)
    except ValueError:
        v = least - 1
    if v < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {env!r}")
    return v


def _worker_count() -> int:
    n = _env_int("FXTRAIN_OPS_THREADS", 1)
    if n is not None and n > N.PARTS_MASK:  # the generation counter holds the part count
        raise ValueError(f"FXTRAIN_OPS_THREADS must be at most {N.PARTS_MASK}, got {n}")
    return n if n is not None else max(1, min(_MAX_DEFAULT, _cpus()))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _spin_us() -> int:
    us = _env_int("FXTRAIN_OPS_SPIN_US", 0)
    return _SPIN_US_DEFAULT if us is None else us


def _spin_iterations(us: int) -> int:
    """Polls of :func:`._atomic.spin_while` that take about ``us`` microseconds here: the
    fastest of a few timed runs (one run, preempted, once gave a tenth of the true count)."""
    if us == 0:
        return 0
    probe = np.zeros(1, dtype=np.int64)
    _atomic.spin_while(probe, 0, 0, 16)  # compiled (or loaded) before timing
    per_poll = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        _atomic.spin_while(probe, 0, 0, 1000)
        per_poll = min(per_poll, (time.perf_counter() - t) / 1000)
    return max(1, int(us * 1e-6 / max(per_poll, 1e-10)))


def _openblas_controls():
    """(get, set) of numpy's bundled OpenBLAS thread count, or None if not found."""
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", "_64_", ""):
            getter = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
            setter = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
            if getter is not None and setter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                return getter, setter
    return None


#: state slots: the job generation (bumped once per tile batch; its low byte the number of
#: parts), the parts still running, whether the caller sleeps waiting for them
_GEN, _LEFT, _WAITING = N.GEN, N.LEFT, N.WAITING


class _TileRunner:
    def __init__(self) -> None:
        self.workers = _worker_count()
        self._blas = _openblas_controls()
        self._spin_us = _spin_us()
        self._reset()

    def _reset(self) -> None:
        # a forked child inherits neither the threads nor a usable lock state
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._done = threading.Condition()
        self._state = np.zeros(3, dtype=np.int64)
        self._slots = np.zeros(N.SLOTS, dtype=np.int64)  # the current batch, if native
        self._threads: list[threading.Thread] = []
        # (generation, job, parts, results) of the current tile batch, one attribute so
        # that a worker reads a consistent batch whatever generation it last saw
        self._batch: tuple = (0, None, [], [])
        self._iters: int | None = None
        self._ncpu = _cpus()

    def _spin(self, idx: int = 0) -> int:
        """Polls thread ``idx`` spins before sleeping: 0 when workers outnumber the CPUs,
        or for a thread left over from a larger worker count."""
        if self._iters is None:
            self._iters = _spin_iterations(self._spin_us)
        return self._iters if idx < self.workers <= self._ncpu else 0

    def _start(self, n: int) -> None:
        while len(self._threads) < n - 1:
            t = threading.Thread(target=self._serve, args=(len(self._threads) + 1,), daemon=True,
                                 name=f"fxtrain-ops_{len(self._threads) + 1}")
            self._threads.append(t)
            t.start()

    def _serve(self, idx: int) -> None:
        """A worker: wait for a new generation, run part ``idx`` of it (if it has one):
        native batches inside :func:`._native.serve` without the GIL, Python jobs here.
        Each generation runs at most once: a worker that slept through batches it had no
        part in jumps to the newest one."""
        state, slots, gen = self._state, self._slots, 0
        while True:
            gen, why = N.serve(state, slots, idx, gen, self._spin(idx))
            if why == N.SLEEP:
                with self._wake:
                    while state[_GEN] == gen:
                        self._wake.wait()
                continue
            if why == N.NOTIFY:
                with self._done:
                    self._done.notify_all()
                continue
            _, job, parts, results = self._batch
            try:
                results[idx] = job(parts[idx])
            except BaseException as exc:  # handed to the caller, which raises it
                results[idx] = _Failed(exc)
            if _atomic.add(state, _LEFT, -1) == 1:
                with self._done:
                    self._done.notify_all()

    def _wait_parts(self) -> None:
        """Return once every other part of the batch has finished: spin, then sleep."""
        state, iters = self._state, self._spin()
        left = int(state[_LEFT])
        while left:
            left = _atomic.spin_while(state, _LEFT, left, iters)
            if left:
                with self._done:
                    # a native part that finishes the batch wakes us only if it sees this
                    _atomic.add(state, _WAITING, 1)
                    if state[_LEFT]:
                        self._done.wait(0.01)
                    _atomic.add(state, _WAITING, -1)
                left = int(state[_LEFT])

    def run(self, job: Callable[[Sequence], object], tiles: Sequence,
            uses_blas: bool = True) -> list:
        """``[job(part) for part in parts]``: tiles dealt round-robin into one part per
        worker, the first run by the calling thread. Parts run concurrently unless the
        job calls BLAS and BLAS cannot be held to one thread meanwhile. An exception in
        any part is raised here once every part has finished."""
        if self._pid != os.getpid():
            self._reset()
        n = min(self.workers, len(tiles))
        if uses_blas and self._blas is None:
            n = 1
        if n <= 1 or not self._lock.acquire(blocking=False):  # nested or concurrent: inline
            return [job(tiles)]
        try:
            self._start(n)
            if uses_blas:
                get, set_ = self._blas
                before = get()
                set_(1)
            try:
                results = self._dispatch(job, [tiles[i::n] for i in range(n)])
            finally:
                if uses_blas:
                    set_(before)
        finally:
            self._lock.release()
        for r in results:
            if isinstance(r, _Failed):
                raise r.exc
        return results

    def share(self, job: Callable[[], object], items: int) -> list:
        """``[job() on each of min(workers, items) threads]``, the calling thread first,
        for jobs that take their ``items`` from a shared counter
        (:func:`._atomic.atomic_add`): a thread that starts late, or runs on a busier
        core, then simply takes fewer. The jobs call no BLAS. Exceptions as in
        :meth:`run`."""
        return self.run(lambda _: job(), [None] * max(1, items), uses_blas=False)

    def native(self, build: Callable[[int, np.ndarray], None], items: int) -> int:
        """Run a native batch (:mod:`._native`) of ``items`` shared-counter items on up to
        ``workers`` threads, the calling thread first: ``build(n, slots)`` writes the
        slots of n parts (the caller keeps their arrays alive). Returns n. Nested or
        concurrent calls run part 0 alone, inline; at most ``_native.MAX_PARTS`` parts."""
        if self._pid != os.getpid():
            self._reset()
        n = min(self.workers, max(1, items), N.MAX_PARTS)
        if n <= 1 or not self._lock.acquire(blocking=False):
            slots = np.zeros(N.SLOTS, dtype=np.int64)
            build(1, slots)
            N.run_part(slots, 0)
            return 1
        try:
            self._start(n)
            build(n, self._slots)
            self._go(n, (None, None, [], []))
            try:
                N.run_part(self._slots, 0)
            finally:
                self._wait_parts()
        finally:
            self._lock.release()
        return n

    def _go(self, n: int, batch: tuple) -> None:
        """Publish a batch of ``n`` parts (a native one's slots already written; ``batch``
        becomes ``_batch`` with the new generation) and wake the workers."""
        state = self._state
        old = int(state[_GEN])
        gen = ((old >> 8) + 1) << 8 | n
        self._batch = (gen,) + batch[1:]
        _atomic.add(state, _LEFT, n - 1)
        _atomic.add(state, _GEN, gen - old)
        with self._wake:
            self._wake.notify_all()

    def _dispatch(self, job, parts: list) -> list:
        results = [None] * len(parts)
        self._slots[0] = N.PYTHON
        self._go(len(parts), (None, job, parts, results))
        try:
            results[0] = job(parts[0])
        except BaseException as exc:
            results[0] = _Failed(exc)
        finally:
            self._wait_parts()  # the other parts still write into shared outputs
        return results


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


RUNNER = _TileRunner()
