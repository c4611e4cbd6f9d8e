"""Run the convolutions' image tiles on a few threads.

Why: the per-tile GEMMs are small, so OpenBLAS's own threads gain nothing on them
(measured on 2 cores: 8.5 ms for cnn1x conv1 FP either way), while two tiles at a time,
each on one core, take 4.4 ms; the int32 kernels of the 16-bit path scale the same way.
The numba kernels release the GIL (``nogil``) and so does numpy's matmul, so plain
threads suffice. Results are bit-identical whatever the thread count: tiles write
disjoint outputs, and partial sums are exact integers.

For jobs that call BLAS, BLAS is set to one thread only while the tile batch runs, then
restored (a process-wide setting of numpy's bundled OpenBLAS, found by its exported
symbols; with any other BLAS such jobs run on the calling thread only). The int32 jobs
of the 16-bit path call no BLAS and leave its setting alone. ``FXTRAIN_OPS_THREADS``
(an integer >= 1) overrides the worker count, which defaults to the CPUs this process
may use, at most 4.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

_MAX_DEFAULT = 4


def _worker_count() -> int:
    env = os.environ.get("FXTRAIN_OPS_THREADS")
    if env is not None:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"FXTRAIN_OPS_THREADS must be an integer >= 1, got {env!r}") from None
        if n < 1:
            raise ValueError(f"FXTRAIN_OPS_THREADS must be an integer >= 1, got {env!r}")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(_MAX_DEFAULT, cpus))


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


class _TileRunner:
    def __init__(self) -> None:
        self.workers = _worker_count()
        self._blas = _openblas_controls()
        self._reset()

    def _reset(self) -> None:
        # a forked child inherits neither the pool's threads nor a usable lock state
        self._pid = os.getpid()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[Sequence], object], tiles: Sequence,
            uses_blas: bool = True) -> list:
        """``[job(part) for part in parts]``: tiles dealt round-robin into one part per
        worker. Parts run concurrently unless the job calls BLAS and BLAS cannot be held
        to one thread meanwhile."""
        if self._pid != os.getpid():
            self._reset()
        n = min(self.workers, len(tiles))
        if uses_blas and self._blas is None:
            n = 1
        if n <= 1 or not self._lock.acquire(blocking=False):  # nested or concurrent: inline
            return [job(tiles)]
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fxtrain-ops")
            parts = [tiles[i::n] for i in range(n)]
            if not uses_blas:
                return list(self._pool.map(job, parts))
            get, set_ = self._blas
            before = get()
            set_(1)
            try:
                return list(self._pool.map(job, parts))
            finally:
                set_(before)
        finally:
            self._lock.release()


RUNNER = _TileRunner()
